#!/usr/bin/env bash
# `--help` of each binary lists every flag the binary defines (README.md says
# so): the flag names are read from the sources that define them, so a flag
# added anywhere is checked too. Before the fix, `hybridserve --help` printed
# "No flags matched" and `hybridctl --help` hid --target (defined in
# client/connection_flags.cc, not hybridctl.cc).
# Usage: help_flags_test.sh HYBRIDSERVE HYBRIDCTL HYBRIDLOAD HYBRIDBRIDGE SOURCE_DIR
set -euo pipefail
hybridserve=$1 hybridctl=$2 hybridload=$3 hybridbridge=$4 source=$5
failed=0

flags_of() {  # The ABSL_FLAG names defined in the given files.
  sed -n 's/^ABSL_FLAG([^,]*, *\([a-z0-9_]*\),.*/\1/p' "$@"
}

check() {  # check BINARY SOURCE...
  local binary=$1
  shift
  local help
  help=$("$binary" --help 2>&1 || true)
  local count=0
  for flag in $(flags_of "$@"); do
    count=$((count + 1))
    if ! grep -q -- "--$flag " <<<"$help"; then
      echo "FAIL: $(basename "$binary") --help does not list --$flag" >&2
      failed=1
    fi
  done
  if [[ $count -lt 3 ]]; then
    echo "FAIL: found only $count flags in $* (did the ABSL_FLAG pattern change?)" >&2
    failed=1
  fi
  if grep -q "No flags matched" <<<"$help"; then
    echo "FAIL: $(basename "$binary") --help says 'No flags matched'" >&2
    failed=1
  fi
  echo "$(basename "$binary") --help: checked $count flags"
}

check "$hybridserve" "$source/server/main.cc"
check "$hybridctl" "$source/client/hybridctl.cc" "$source/client/connection_flags.cc"
check "$hybridload" "$source/loadtest/hybridload.cc" "$source/client/connection_flags.cc"
check "$hybridbridge" "$source/ingest/hybridbridge.cc" "$source/client/connection_flags.cc"
usage=$("$hybridctl" --help 2>&1 || true)
grep -q -- "--target=HOST:PORT" <<<"$usage" || { echo "FAIL: hybridctl's usage does not say how to name the server" >&2; failed=1; }
exit $failed
