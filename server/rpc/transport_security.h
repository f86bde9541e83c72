// The gRPC port's transport credentials from PEM files.
//
//   TlsFiles files;  // server/rpc/tls_files.h
//   files.cert = "tls.crt";
//   files.key = "tls.key";
//   files.client_ca = "ca.crt";
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
#include "server/rpc/tls_files.h"

namespace hybrid::server::rpc {

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentialsFor(const TlsFiles& files);

}  // namespace hybrid::server::rpc
