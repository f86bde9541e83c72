#include "server/rpc/transport_security.h"

#include "base/file_contents.h"

namespace hybrid::server::rpc {

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentialsFor(const TlsFiles& files) {
  if (files.cert.empty() != files.key.empty()) {
    return absl::InvalidArgumentError("tls_cert and tls_key must be given together");
  }
  if (files.cert.empty()) {
    if (!files.client_ca.empty()) return absl::InvalidArgumentError("tls_client_ca needs tls_cert and tls_key");
    return grpc::InsecureServerCredentials();
  }
  absl::StatusOr<std::string> cert = base::ReadFileContents(files.cert);
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = base::ReadFileContents(files.key);
  if (!key.ok()) return key.status();
  grpc::SslServerCredentialsOptions options(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  options.pem_key_cert_pairs.push_back({*key, *cert});
  if (!files.client_ca.empty()) {
    absl::StatusOr<std::string> roots = base::ReadFileContents(files.client_ca);
    if (!roots.ok()) return roots.status();
    options.pem_root_certs = *roots;
    options.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(options);
}

}  // namespace hybrid::server::rpc
