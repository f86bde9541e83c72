# Sourced by shell tests that drive a real hybridserve: a scratch folder,
# cleanup on exit (background processes killed), `fail`, and
#   start_hybridserve BINARY REPOSITORY [more flags]
# which starts it on loopback with OS-chosen ports and a fresh state folder,
# waits for its ports file and sets grpc_port and metrics_port.
work=$(mktemp -d)
background_pids=()
cleanup() {
  for p in "${background_pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  for log in "$work"/*.log; do
    [[ -f "$log" ]] && { echo "--- $log:" >&2; tail -20 "$log" >&2; }
  done
  exit 1
}
# Starts a background command whose output goes to $work/NAME.log.
run_in_background() {
  local name=$1
  shift
  "$@" >"$work/$name.log" 2>&1 &
  background_pids+=($!)
  disown
}
start_hybridserve() {
  local bin=$1 repo=$2
  shift 2
  run_in_background server "$bin" --model_repository="$repo" --state_dir="$work/state" \
    --grpc_address=127.0.0.1:0 --metrics_address=127.0.0.1:0 --ports_file="$work/ports" "$@"
  for _ in $(seq 300); do [[ -f "$work/ports" ]] && break; sleep 0.1; done
  [[ -f "$work/ports" ]] || fail "hybridserve did not start"
  source "$work/ports"
}
