#!/usr/bin/env bash
# Writes throw-away certificates for the TLS tests into DIR (OpenSSL 3):
#   ca.crt            the test CA;  server.crt/.key  for localhost and 127.0.0.1, signed by it
#   client.crt/.key   a client certificate signed by the CA
#   rogue_ca.crt      another CA;   rogue_client.crt/.key  a client certificate it signed
# EC P-256 keys: generated in milliseconds.
set -euo pipefail
dir=$1
mkdir -p "$dir"
cd "$dir"
make_ca() {  # NAME
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=$1" \
    -keyout "$1.key" -out "$1.crt" 2>/dev/null
}
make_leaf() {  # NAME CA SUBJECT_ALT_NAMES
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$1" \
    -addext "subjectAltName=$3" -keyout "$1.key" -out "$1.csr" 2>/dev/null
  openssl x509 -req -in "$1.csr" -CA "$2.crt" -CAkey "$2.key" -CAcreateserial -days 2 \
    -copy_extensions copyall -out "$1.crt" 2>/dev/null
  rm "$1.csr"
}
make_ca ca
make_ca rogue_ca
make_leaf server ca "DNS:localhost,IP:127.0.0.1"
make_leaf client ca "DNS:hybrid-test-client"
make_leaf rogue_client rogue_ca "DNS:hybrid-test-client"
