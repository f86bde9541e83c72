#!/usr/bin/env bash
# hybridctl's operator features against a real hybridserve: calibrate --from
# a CSV whose columns are shuffled and padded (--time_column/--state_columns)
# with a progress bar, watch (live loss, coverage and parameters, matching
# `get`), and predict --plot (a PNG drawn by gnuplot, checked for its size and
# the band and mean colours; a clear error without gnuplot).
# Usage: hybridctl_features_test.sh HYBRIDSERVE HYBRIDCTL MODEL_REPOSITORY
set -euo pipefail
server_bin=$1 ctl=$2 repo=$3
source "$(dirname "$0")/server_helpers.sh"
start_hybridserve "$server_bin" "$repo" --load_models=lorenz63
target=127.0.0.1:$grpc_port

"$ctl" generate --out="$work/run.csv" --samples=1601 --seed=3 >/dev/null || fail "generate"
awk -F, 'BEGIN { OFS = "," } NR == 1 { print "site", "z", "time", "x", "y"; next } { print "north", $4, $1, $2, $3 }' \
  "$work/run.csv" >"$work/shuffled.csv"
"$ctl" --target="$target" calibrate lorenz63 --from="$work/shuffled.csv" --time_column=time --state_columns=x,y,z \
  --progress=on --report_every=0 >"$work/calibrate.out" 2>"$work/progress.err" || fail "calibrate: $(cat "$work/progress.err")"
grep -q 'done: 20 observations answered, 20 accepted, 0 rejected' "$work/calibrate.out" \
  || fail "calibrate output: $(cat "$work/calibrate.out")"
tr '\r' '\n' <"$work/progress.err" | grep -q '^\[#*\] 100%  20/20 obs .*rho ' || fail "no final progress bar"
"$ctl" --target="$target" calibrate lorenz63 --from="$work/shuffled.csv" --state_columns=x,y,w 2>"$work/columns.err" \
  && fail "an unknown column was accepted"
grep -q "no column 'w' (columns: site, z, time, x, y)" "$work/columns.err" || fail "$(cat "$work/columns.err")"

"$ctl" --target="$target" watch lorenz63 --count=2 --interval=0.2 >"$work/watch.out" || fail "watch"
"$ctl" --target="$target" get lorenz63 >"$work/get.out" || fail "get"
rho=$(awk '$1 == "rho" { print $3 }' "$work/get.out")
[[ $(grep -c '^lorenz63  version 20  observations 20' "$work/watch.out") == 2 ]] || fail "watch frames: $(cat "$work/watch.out")"
grep -q '^  loss [0-9.e-]* *coverage [01]\.[0-9]* (target 0.90' "$work/watch.out" || fail "watch loss line"
grep -q "^  rho  *${rho} ±" "$work/watch.out" || fail "watch rho differs from get's ${rho}: $(cat "$work/watch.out")"

"$ctl" --target="$target" predict lorenz63 --state=1,1,20 --horizon=1 --step=0.05 --levels=0.5,0.9 \
  --plot="$work/forecast.png" >"$work/predict.out" || fail "predict --plot"
/usr/bin/python3 - "$work/forecast.png" <<'PY' || fail "forecast plot"
import sys
from PIL import Image
image = Image.open(sys.argv[1]).convert("RGB")
assert image.size == (900, 3 * 220 + 60), image.size
colours = image.getcolors(maxcolors=1 << 20)
count = {rgb: n for n, rgb in colours}
band, mean = count.get((0xc6, 0xdb, 0xef), 0), count.get((0x08, 0x30, 0x6b), 0)
assert band > 5000, f"90% band pixels: {band}"
assert mean > 500, f"mean line pixels: {mean}"
print(f"plot: 90% band {band} px, mean {mean} px")
PY
PATH=/nonexistent "$ctl" --target="$target" predict lorenz63 --state=1,1,20 --plot="$work/none.png" \
  >/dev/null 2>"$work/noplot.err" && fail "--plot without gnuplot succeeded"
grep -q "apt install gnuplot-nox" "$work/noplot.err" || fail "no gnuplot: $(cat "$work/noplot.err")"
echo "PASS: hybridctl --from columns + progress bar, watch, predict --plot"
