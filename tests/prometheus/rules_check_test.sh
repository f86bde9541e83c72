#!/usr/bin/env bash
# deploy/prometheus is valid for Debian's Prometheus: the config and rules pass
# promtool's checks, and the rules' unit tests (rules_test.yml) pass.
# Usage: rules_check_test.sh SOURCE_DIR
set -euo pipefail
src=$1
promtool check config "$src/deploy/prometheus/prometheus.yml"
promtool check config "$src/deploy/prometheus/prometheus-compose.yml"  # deploy/compose.yaml's
promtool check rules "$src/deploy/prometheus/rules/hybridserve.rules.yml"
promtool test rules "$src/tests/prometheus/rules_test.yml"
