#!/usr/bin/env bash
# Smoke test of the real binaries as a user runs them: hybridserve on loopback
# with OS-chosen ports, then hybridctl (every command), hybridload and a
# Prometheus scrape against it, then a clean SIGTERM shutdown.
# Usage: cli_smoke_test.sh HYBRIDSERVE HYBRIDCTL HYBRIDLOAD MODEL_REPOSITORY
set -euo pipefail
server_bin=$1 ctl=$2 load=$3 repo=$4
work=$(mktemp -d)
server_pid=""
cleanup() {
  [[ -n "$server_pid" ]] && kill -9 "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; echo "--- server log:" >&2; cat "$work/server.log" >&2; exit 1; }

"$server_bin" --model_repository="$repo" --state_dir="$work/state" --grpc_address=127.0.0.1:0 --metrics_address=127.0.0.1:0 \
  --ports_file="$work/ports" >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 300); do [[ -f "$work/ports" ]] && break; sleep 0.1; done
[[ -f "$work/ports" ]] || fail "server did not start"
source "$work/ports"
target="127.0.0.1:$grpc_port"

"$ctl" --target="$target" health | grep -qx SERVING || fail "health"
"$ctl" --target="$target" models | grep -q '^lorenz63 *READY ' || fail "models"
"$ctl" --target="$target" get lorenz63 | grep -q 'rho' || fail "get"
"$ctl" --target="$target" predict lorenz63 --state=1,1,20 --horizon=0.3 --step=0.1 --levels=0.5,0.9 \
  | grep -q '^t=0.3 .*\[90%' || fail "predict"
"$ctl" --target="$target" predict lorenz63 --state=1,1,20 --horizon=0.2 --ensemble_size=2 \
  | grep -q 'version 0, 2 members' || fail "predict with 2 members"

set +e
"$ctl" --target="$target" get no_such_model 2>"$work/err"; rc=$?
set -e
[[ $rc -eq 1 ]] && grep -q NOT_FOUND "$work/err" || fail "unknown model: rc=$rc"
set +e
"$ctl" --target="$target" predict lorenz63 --state=1,2 2>"$work/err"; rc=$?
"$ctl" frobnicate 2>/dev/null; rc_usage=$?
set -e
[[ $rc -eq 1 ]] && grep -q 'initial_state' "$work/err" || fail "bad state: rc=$rc"
[[ $rc_usage -eq 2 ]] || fail "bad usage: rc=$rc_usage"

"$ctl" --target="$target" calibrate lorenz63 --synthetic=lorenz63 --observations=150 --report_every=50 \
  --max_rel_error=0.02 >"$work/calibrate.log" || { cat "$work/calibrate.log"; fail "synthetic calibration"; }
grep -q '150 accepted, 0 rejected' "$work/calibrate.log" || fail "calibration answers"

"$ctl" generate --out="$work/run.csv" --samples=801 --seed=5 | grep -q 'wrote 801' || fail "generate"
"$ctl" --target="$target" calibrate lorenz63 --from="$work/run.csv" --report_every=0 >"$work/csv.log" \
  || { cat "$work/csv.log"; fail "csv calibration"; }
grep -q '10 accepted, 0 rejected' "$work/csv.log" || { cat "$work/csv.log"; fail "csv answers"; }

# Predict only (Calibrate streams would move the version checked below; loadtest/report runs them).
for run in 1 2; do
  "$load" --target="$target" --duration=0.5 --baseline_seconds=0.2 --predict_clients=2 \
    --record="$work/last_load.json" >"$work/load$run.json" 2>"$work/load$run.err" || fail "hybridload run $run"
done
/usr/bin/python3 - "$work/load1.json" "$work/load2.json" <<'PY' || fail "hybridload output"
import json, sys
first, second = (json.load(open(p)) for p in sys.argv[1:])
for run in (first, second):
    assert run["predict"]["count"] > 0 and run["predict"]["errors"] == 0, run
    assert run["predict"]["p50_ms"] <= run["predict"]["p99_ms"] <= run["predict"]["max_ms"], run
    assert run["baseline_list_models"]["count"] > 0 and run["predict_over_baseline_p50"] > 0, run
assert "vs_last_run" not in first and "calibrate" not in first, first
ratio = second["vs_last_run"]["predict"]["per_second_ratio"]
assert abs(ratio - second["predict"]["per_second"] / first["predict"]["per_second"]) < 1e-9, second
PY
grep -q 'this run against the last one' "$work/load2.err" || fail "hybridload comparison on stderr"

curl -sf "http://127.0.0.1:$metrics_port/metrics" >"$work/metrics.txt" || fail "scrape"
grep -q '^hybrid_model_version{model="lorenz63"} 160$' "$work/metrics.txt" || fail "version metric"
grep -q '^hybrid_parameter_value{model="lorenz63",param="rho"} 2[78]\.' "$work/metrics.txt" || fail "rho metric"

# Repository control: checkpoint, roll back to the first checkpoint (served as
# a new version), unload and load a model.
"$ctl" --target="$target" checkpoint lorenz63 | grep -qx 'lorenz63 checkpointed at version 160' || fail "checkpoint"
first=$("$ctl" --target="$target" get lorenz63 | sed -n 's/.*rollback targets): \([0-9]*\),.*/\1/p')
[[ -n "$first" && "$first" -lt 160 ]] || fail "checkpoint list: '$first'"
"$ctl" --target="$target" rollback lorenz63 --version="$first" | grep -qx 'lorenz63 now serving version 161' \
  || fail "rollback"
"$ctl" --target="$target" unload lorenz96 | grep -qx 'lorenz96 unloaded (checkpointed)' || fail "unload"
"$ctl" --target="$target" models | grep -q '^lorenz96 *UNLOADED ' || fail "unloaded state"
set +e
"$ctl" --target="$target" predict lorenz96 --state=1 2>"$work/err"; rc=$?
"$ctl" --target="$target" rollback lorenz63 2>/dev/null; rc_usage=$?
set -e
[[ $rc -eq 1 ]] && grep -q UNAVAILABLE "$work/err" || fail "predict on an unloaded model: rc=$rc"
[[ $rc_usage -eq 2 ]] || fail "rollback without --version: rc=$rc_usage"
"$ctl" --target="$target" load lorenz96 | grep -q '^lorenz96 loaded at version ' || fail "load"

kill -TERM "$server_pid"
set +e
wait "$server_pid"; rc=$?
set -e
server_pid=""
[[ $rc -eq 0 ]] || fail "server exit status $rc"
grep -q 'hybridserve: stopped' "$work/server.log" || fail "no clean stop"
echo "cli smoke test passed"
