// BrokerConnection: the byte stream to an MQTT broker, plain TCP or TLS over
// it (OpenSSL), with a deadline on every call; MqttSubscriber speaks MQTT
// over it.
//
//   absl::StatusOr<std::shared_ptr<const TlsContext>> tls = TlsContext::Create(options);  // once, at start-up
//   absl::StatusOr<std::unique_ptr<BrokerConnection>> c = BrokerConnection::Open(host, port, tls->get(), timeout);
//   (*c)->Write(bytes, timeout);
//   absl::StatusOr<size_t> n = (*c)->Read(buffer, sizeof buffer, timeout);  // 0: nothing came in time
//
// TLS (1.2 or later) verifies the broker's certificate chain against
// TlsOptions.ca_file (empty: the system's roots) and the certificate's names
// against server_name (empty: the host dialled; an IP address is matched
// against the certificate's IP addresses). Verification cannot be turned off.
// With cert_file and key_file the client presents its certificate (brokers
// that require mutual TLS).
// Errors: TlsContext::Create is INVALID_ARGUMENT naming the file it cannot
// load (a configuration error: retrying will not help). Open, Write and Read
// are UNAVAILABLE naming the broker: it cannot be reached, the handshake or
// the verification failed (with OpenSSL's reason), or the connection was lost
// or closed. A TlsContext is immutable and may be shared between threads; a
// BrokerConnection has one user at a time.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

struct ssl_ctx_st;  // OpenSSL's SSL_CTX and SSL, kept out of this header.
struct ssl_st;

namespace hybrid::ingest {

struct TlsOptions {
  std::string ca_file;      // PEM roots the broker's certificate must chain to; empty: the system's.
  std::string cert_file;    // PEM client certificate (and chain), with key_file; empty: none.
  std::string key_file;     // PEM private key of cert_file.
  std::string server_name;  // Name the certificate must carry (and SNI); empty: the host dialled.
};

class TlsContext {
 public:
  static absl::StatusOr<std::shared_ptr<const TlsContext>> Create(TlsOptions options);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  const TlsOptions& options() const { return options_; }
  ssl_ctx_st* native() const { return ctx_; }

 private:
  TlsContext(TlsOptions options, ssl_ctx_st* ctx) : options_(std::move(options)), ctx_(ctx) {}
  const TlsOptions options_;
  ssl_ctx_st* const ctx_;
};

class BrokerConnection {
 public:
  // `tls` null: plain TCP. The connection holds on to `tls` while it lives.
  static absl::StatusOr<std::unique_ptr<BrokerConnection>> Open(const std::string& host, int port,
                                                                std::shared_ptr<const TlsContext> tls,
                                                                absl::Duration timeout);
  ~BrokerConnection();
  BrokerConnection(const BrokerConnection&) = delete;
  BrokerConnection& operator=(const BrokerConnection&) = delete;

  // All of `bytes`, or UNAVAILABLE when they cannot go within `timeout`.
  absl::Status Write(absl::string_view bytes, absl::Duration timeout);
  // Waits at most `timeout` for bytes and reads up to `size` of them.
  absl::StatusOr<size_t> Read(char* buffer, size_t size, absl::Duration timeout);

 private:
  BrokerConnection(std::string where, int fd) : where_(std::move(where)), fd_(fd) {}
  absl::Status Handshake(absl::Duration timeout);
  // Waits for the socket to be readable (want_read) or writable; false when `timeout` passed first.
  bool Wait(bool want_read, absl::Duration timeout) const;
  absl::Status Lost(const std::string& what) const;

  const std::string where_;  // host:port, for errors.
  int fd_;
  std::shared_ptr<const TlsContext> tls_;
  ssl_st* ssl_ = nullptr;
  bool fatal_ = false;             // A fatal TLS error happened: no close_notify then.
  bool read_wants_write_ = false;  // The last read needs the socket writable first.
};

}  // namespace hybrid::ingest
