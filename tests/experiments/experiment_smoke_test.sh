#!/usr/bin/env bash
# Runs one experiment binary in --smoke mode (seconds) and checks what it
# writes: results.json with every run scored by finite numbers, results.md,
# and the plot drawn from them by experiments/plot.py.
#   experiment_smoke_test.sh BINARY SOURCE_DIR
set -euo pipefail
binary=$1
source_dir=$2
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$binary" --smoke --threads 1 --out "$out" >/dev/null 2>"$out/progress.log"
grep -q "it " "$out/progress.log" || { echo "no progress lines"; exit 1; }
grep -q "^| run" "$out/results.md" || { echo "results.md has no table"; exit 1; }
/usr/bin/python3 - "$out/results.json" <<'PY'
import json, math, sys
results = json.load(open(sys.argv[1]))
assert results["smoke"] is True
assert len(results["runs"]) >= 3, "physics, network and hybrid at least"
for run in results["runs"]:
    scores = run["test"]
    for key in ("rmse", "crps", "picp90", "picp90_conformal"):
        assert math.isfinite(scores[key]), (run["name"], key, scores[key])
    assert 0.0 <= scores["picp90"] <= 1.0
print("ok:", [r["name"] for r in results["runs"]])
PY
/usr/bin/python3 "$source_dir/experiments/plot.py" "$out" >/dev/null
test -s "$out/results.png" || { echo "no plot"; exit 1; }
