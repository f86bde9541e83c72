#!/usr/bin/env bash
# Security as an operator sets it up: hybridserve with mutual TLS and a tokens
# file, hybridctl with --tls_ca/--tls_cert/--tls_key and the token from
# --token_file or HYBRIDSERVE_TOKEN. The right role works, the wrong one is
# PERMISSION_DENIED, no certificate gets no connection, and no token appears
# in the server's output, the clients' output, /metrics or the status JSON.
# Usage: security_cli_test.sh HYBRIDSERVE HYBRIDCTL MODEL_REPOSITORY
set -euo pipefail
server_bin=$1 ctl=$2 repo=$3
source "$(dirname "$0")/server_helpers.sh"
"$(dirname "$0")/make_test_certs.sh" "$work/certs"
read_token=$(openssl rand -hex 16)
admin_token=$(openssl rand -hex 16)
printf '# client roles token\ndashboard read %s\nops read,admin %s\n' "$read_token" "$admin_token" >"$work/tokens"
printf '%s\n' "$read_token" >"$work/read.token"
chmod 600 "$work/tokens" "$work/read.token"

c=$work/certs
start_hybridserve "$server_bin" "$repo" --load_models=lorenz63 --auth_tokens="$work/tokens" \
  --tls_cert="$c/server.crt" --tls_key="$c/server.key" --tls_client_ca="$c/ca.crt"
grep -q "gRPC transport mutual TLS; bearer tokens from $work/tokens" "$work/server.log" \
  || fail "the server does not say how its port is protected"
tls=(--target="127.0.0.1:$grpc_port" --tls_ca="$c/ca.crt" --tls_cert="$c/client.crt" --tls_key="$c/client.key")

"$ctl" "${tls[@]}" --token_file="$work/read.token" models >"$work/models.out" 2>&1 || fail "read token: models"
grep -q "lorenz63.*READY" "$work/models.out" || fail "models output: $(cat "$work/models.out")"

if "$ctl" "${tls[@]}" --token_file="$work/read.token" checkpoint lorenz63 >"$work/denied.out" 2>&1; then
  fail "a read token checkpointed a model"
fi
grep -q "PERMISSION_DENIED.*client 'dashboard' lacks the role 'admin'" "$work/denied.out" \
  || fail "denied output: $(cat "$work/denied.out")"

HYBRIDSERVE_TOKEN=$admin_token "$ctl" "${tls[@]}" checkpoint lorenz63 >"$work/admin.out" 2>&1 \
  || fail "admin token from HYBRIDSERVE_TOKEN: $(cat "$work/admin.out")"

if "$ctl" "${tls[@]}" models >"$work/anonymous.out" 2>&1; then fail "no token listed the models"; fi
grep -q UNAUTHENTICATED "$work/anonymous.out" || fail "anonymous output: $(cat "$work/anonymous.out")"

if "$ctl" --target="127.0.0.1:$grpc_port" --tls_ca="$c/ca.crt" --token_file="$work/read.token" --timeout=3 \
  models >"$work/no_cert.out" 2>&1; then
  fail "a client without a certificate was served under mutual TLS"
fi
grep -q UNAVAILABLE "$work/no_cert.out" || fail "no-certificate output: $(cat "$work/no_cert.out")"

if "$ctl" "${tls[@]}" --token_file="$work/missing.token" models >"$work/missing.out" 2>&1; then
  fail "a missing token file was accepted"
fi
grep -q "missing.token" "$work/missing.out" || fail "missing token file output: $(cat "$work/missing.out")"

curl -sf "http://127.0.0.1:$metrics_port/metrics" >"$work/metrics.txt" || fail "scrape"
curl -sf "http://127.0.0.1:$metrics_port/api/v1/models" >"$work/models.json" || fail "status JSON"
grep -q 'hybrid_requests_total{code="PERMISSION_DENIED",model="",rpc="SaveCheckpoint"} 1' "$work/metrics.txt" \
  || fail "the refusal is not counted"
for token in "$read_token" "$admin_token"; do
  if grep -l "${token:0:12}" "$work"/*.log "$work"/*.out "$work/metrics.txt" "$work/models.json"; then
    fail "a token appears in the files above"
  fi
done
echo "PASS: mutual TLS, roles and token hygiene through hybridserve and hybridctl"
