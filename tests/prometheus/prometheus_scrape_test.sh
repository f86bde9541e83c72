#!/usr/bin/env bash
# Debian's Prometheus on loopback scrapes a real hybridserve (after a short
# calibration stream) with the shipped rules: every recording and alert rule
# evaluates without error on real data, a recorded series equals what it is
# computed from in hybridserve's own scrape, and every query of the Grafana
# dashboard runs.
# Usage: prometheus_scrape_test.sh HYBRIDSERVE HYBRIDCTL SOURCE_DIR
set -euo pipefail
server_bin=$1 ctl=$2 src=$3
py=/usr/bin/python3
source "$src/tests/e2e/server_helpers.sh"
start_hybridserve "$server_bin" "$src/deploy/model_repository" --load_models=lorenz63
"$ctl" --target="127.0.0.1:$grpc_port" calibrate lorenz63 --synthetic=lorenz63 --observations=40 \
  --report_every=0 >"$work/calibrate.log" || fail "calibration stream"

# A free port for Prometheus's web API (the kernel picks it; Prometheus cannot report one it chose).
prom_port=$($py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$work/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $src/deploy/prometheus/rules/hybridserve.rules.yml
scrape_configs:
  - job_name: hybridserve
    static_configs:
      - targets: ["127.0.0.1:$metrics_port"]
YAML
run_in_background prometheus prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
  --web.listen-address="127.0.0.1:$prom_port"
api="http://127.0.0.1:$prom_port/api/v1"

# Query until the recorded coverage gap appears (a few scrapes and evaluations).
query() { curl -sf --get "$api/query" --data-urlencode "query=$1"; }
value() { $py -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")'; }
gap=""
for _ in $(seq 120); do
  gap=$(query 'hybrid:interval_coverage:gap{model="lorenz63"}' 2>/dev/null | value 2>/dev/null || true)
  [[ -n "$gap" ]] && break
  sleep 0.5
done
[[ -n "$gap" ]] || fail "no hybrid:interval_coverage:gap from Prometheus"

# The same quantity straight from hybridserve: coverage minus its target.
curl -sf "http://127.0.0.1:$metrics_port/metrics" >"$work/metrics.txt" || fail "scrape"
expected=$($py - "$work/metrics.txt" <<'PY'
import sys
v = {}
for line in open(sys.argv[1]):
    if line.startswith(("hybrid_interval_coverage_ratio{", "hybrid_interval_coverage_target_ratio{")) and 'model="lorenz63"' in line:
        v[line.split("{")[0]] = float(line.rsplit(" ", 1)[1])
print(v["hybrid_interval_coverage_ratio"] - v["hybrid_interval_coverage_target_ratio"])
PY
)
$py -c "import sys; sys.exit(0 if abs($gap - ($expected)) < 1e-9 else 1)" \
  || fail "recorded gap $gap != coverage - target $expected"

# Every rule has been evaluated (health leaves "unknown") and none reports an error.
check_rules() {
  curl -sf "$api/rules" >"$work/rules.json" || return 1
  $py - "$work/rules.json" <<'PY'
import json, sys
groups = json.load(open(sys.argv[1]))["data"]["groups"]
rules = [r for g in groups for r in g["rules"]]
bad = [(r["name"], r["health"], r.get("lastError")) for r in rules if r["health"] != "ok"]
print(f"{len(rules)} rules, not healthy: {bad}")
sys.exit(0 if len(rules) == 17 and not bad else 1)
PY
}
healthy=no
for _ in $(seq 20); do
  if check_rules >"$work/rules.log"; then healthy=yes; break; fi
  sleep 0.5
done
[[ $healthy == yes ]] || fail "rule health: $(cat "$work/rules.log")"
# Every query of the Grafana dashboard runs on this Prometheus; its core panels have data.
$py "$src/tests/grafana/dashboard_check.py" "$src" --prometheus="http://127.0.0.1:$prom_port" \
  --model=lorenz63 --param=rho >"$work/dashboard.log" 2>&1 || fail "dashboard queries: $(cat "$work/dashboard.log")"
# The scraped estimate is the one GetModel reports.
rho=$(query 'hybrid_parameter_value{model="lorenz63",param="rho"}' | value)
"$ctl" --target="127.0.0.1:$grpc_port" get lorenz63 | grep -q "rho *= $($py -c "print('%.6g' % $rho)")" \
  || fail "Prometheus rho $rho differs from GetModel"
cat "$work/dashboard.log"
echo "prometheus scrape test passed: coverage gap $gap, rho $rho"
