#!/usr/bin/env bash
# Runs one experiment binary in --smoke mode (seconds) and checks what it
# writes: results.json with every run scored by finite numbers, results.md,
# the plot drawn from them by experiments/plot.py, and the trained hybrid's
# model-repository entry, which a real hybridserve must load and serve.
#   experiment_smoke_test.sh BINARY SOURCE_DIR HYBRIDSERVE HYBRIDCTL [SERVED_PATTERN]
# SERVED_PATTERN: what `hybridctl get` of the served entry must show
# (default "(trained)": a trained physical parameter).
set -euo pipefail
binary=$1 source_dir=$2 server_bin=$3 ctl=$4 served_pattern=${5:-(trained)}
out=$(mktemp -d)
server_pid=""
cleanup() {
  [[ -n "$server_pid" ]] && kill -9 "$server_pid" 2>/dev/null || true
  rm -rf "$out"
}
trap cleanup EXIT
"$binary" --smoke --threads 1 --out "$out" >/dev/null 2>"$out/progress.log"
grep -q "it " "$out/progress.log" || { echo "no progress lines"; exit 1; }
grep -q "^| run" "$out/results.md" || { echo "results.md has no table"; exit 1; }
/usr/bin/python3 - "$out/results.json" <<'PY'
import json, math, sys
results = json.load(open(sys.argv[1]))
assert results["smoke"] is True
assert len(results["runs"]) >= 3, "physics, network and hybrid at least"
for run in results["runs"]:
    if "test" not in run:  # Calibration-method comparisons score rollouts, not intervals.
        for key in ("best_validation_mse", "seconds_per_epoch"):
            assert math.isfinite(run[key]), (run["name"], key, run[key])
        continue
    scores = run["test"]
    for key in ("rmse", "crps", "picp90", "picp90_conformal"):
        assert math.isfinite(scores[key]), (run["name"], key, scores[key])
    assert 0.0 <= scores["picp90"] <= 1.0
print("ok:", [r["name"] for r in results["runs"]])
PY
/usr/bin/python3 "$source_dir/experiments/plot.py" "$out" >/dev/null
test -s "$out/results.png" || { echo "no plot"; exit 1; }

# The exported hybrid, served by the real server from the files on disk.
entry=$(basename "$binary")_hybrid
test -s "$out/model_repository/$entry/checkpoint.pt" || { echo "no checkpoint for $entry"; exit 1; }
"$server_bin" --model_repository="$out/model_repository" --grpc_address=127.0.0.1:0 --metrics_address=127.0.0.1:0 \
  --ports_file="$out/ports" >"$out/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 300); do [[ -f "$out/ports" ]] && break; sleep 0.1; done
[[ -f "$out/ports" ]] || { echo "server did not start"; cat "$out/server.log"; exit 1; }
source "$out/ports"
"$ctl" --target="127.0.0.1:$grpc_port" get "$entry" >"$out/get.txt" || { cat "$out/server.log"; exit 1; }
grep -q 'checkpoint: "checkpoint.pt"' "$out/get.txt" || { echo "served config lacks its checkpoint"; exit 1; }
grep -qF -- "$served_pattern" "$out/get.txt" || { echo "served entry lacks '$served_pattern'"; cat "$out/get.txt"; exit 1; }
kill -TERM "$server_pid"
wait "$server_pid" || { echo "server did not stop cleanly"; exit 1; }
server_pid=""
