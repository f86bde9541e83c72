// The gRPC port's transport credentials from PEM files.
//
//   TlsFiles files{.cert = "tls.crt", .key = "tls.key", .client_ca = "ca.crt"};
//   absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> creds = ServerCredentialsFor(files);
//
// No cert and key: plaintext (insecure) credentials. Cert and key: TLS.
// Cert, key and client_ca: mutual TLS — a client must present a certificate
// signed by client_ca, or the handshake fails (the client sees UNAVAILABLE).
// INVALID_ARGUMENT naming the option when only one of cert/key is given or
// client_ca comes without them; UNAVAILABLE naming the file when one cannot
// be read. Key contents are never put in a message.
#pragma once

#include <grpcpp/security/server_credentials.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace hybrid::server::rpc {

struct TlsFiles {
  std::string cert;       // Server certificate chain (PEM).
  std::string key;        // Its private key (PEM).
  std::string client_ca;  // Roots that client certificates must chain to; empty: no client certificates.
};

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentialsFor(const TlsFiles& files);

}  // namespace hybrid::server::rpc
