// The command-line flags every client binary (hybridctl, hybridload) shares to
// reach a server: --target, --timeout, --tls_ca, --tls_cert, --tls_key,
// --token_file. Linked into binaries only (flags live in binaries).
//
//   absl::ParseCommandLine(argc, argv);
//   absl::StatusOr<ClientOptions> options = ClientOptionsFromFlags();
//
// The bearer token comes from --token_file (its first line) or, without it,
// from the HYBRIDSERVE_TOKEN environment variable — never from a flag's value,
// which other users of the machine could read in the process list.
// INVALID_ARGUMENT naming the flag for a bad value; UNAVAILABLE when the token
// file cannot be read.
#pragma once

#include "absl/status/statusor.h"
#include "client/hybrid_client.h"

namespace hybrid::client {

absl::StatusOr<ClientOptions> ClientOptionsFromFlags();

}  // namespace hybrid::client
