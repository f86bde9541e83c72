// TlsFiles: where the gRPC port's certificate, key and client roots are (PEM
// paths). Plain strings, so that code which configures a server needs no gRPC
// header; server/rpc/transport_security.h turns them into credentials.
#pragma once

#include <string>

namespace hybrid::server::rpc {

struct TlsFiles {
  std::string cert;       // Server certificate chain (PEM).
  std::string key;        // Its private key (PEM).
  std::string client_ca;  // Roots that client certificates must chain to; empty: no client certificates.
};

}  // namespace hybrid::server::rpc
