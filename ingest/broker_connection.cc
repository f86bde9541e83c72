#include "ingest/broker_connection.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace hybrid::ingest {
namespace {

using Clock = std::chrono::steady_clock;

int PollMs(absl::Duration d) { return static_cast<int>(std::clamp<int64_t>(absl::ToInt64Milliseconds(d), 0, 60000)); }

// OpenSSL's queued errors as one line, emptying the queue.
std::string OpenSslErrors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char text[256];
    ERR_error_string_n(e, text, sizeof text);
    absl::StrAppend(&out, out.empty() ? "" : "; ", text);
  }
  return out.empty() ? "no reason given" : out;
}

bool IsIpAddress(const std::string& name) {
  unsigned char address[16];
  return ::inet_pton(AF_INET, name.c_str(), address) == 1 || ::inet_pton(AF_INET6, name.c_str(), address) == 1;
}

}  // namespace

absl::StatusOr<std::shared_ptr<const TlsContext>> TlsContext::Create(TlsOptions options) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == nullptr) return absl::InternalError(absl::StrCat("TLS: ", OpenSslErrors()));
  std::shared_ptr<const TlsContext> out(new TlsContext(options, ctx));
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  // An encrypted key fails to load instead of OpenSSL asking on the terminal.
  SSL_CTX_set_default_passwd_cb(ctx, [](char*, int, int, void*) { return 0; });
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  if (options.ca_file.empty() ? SSL_CTX_set_default_verify_paths(ctx) != 1
                              : SSL_CTX_load_verify_locations(ctx, options.ca_file.c_str(), nullptr) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("TLS roots '",
                                                   options.ca_file.empty() ? "(system)" : options.ca_file,
                                                   "' cannot be loaded: ", OpenSslErrors()));
  }
  if (options.cert_file.empty() != options.key_file.empty()) {
    return absl::InvalidArgumentError("a TLS client certificate needs both its certificate and its key file");
  }
  if (!options.cert_file.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx, options.cert_file.c_str()) != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("TLS client certificate '", options.cert_file, "' cannot be loaded: ", OpenSslErrors()));
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, options.key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
      return absl::InvalidArgumentError(absl::StrCat("TLS key '", options.key_file,
                                                     "' cannot be loaded (unreadable, encrypted, or not the key of '",
                                                     options.cert_file, "'): ", OpenSslErrors()));
    }
  }
  return out;
}

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

absl::StatusOr<std::unique_ptr<BrokerConnection>> BrokerConnection::Open(const std::string& host, int port,
                                                                         std::shared_ptr<const TlsContext> tls,
                                                                         absl::Duration timeout) {
  const std::string where = absl::StrCat(host, ":", port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found); rc != 0) {
    return absl::UnavailableError(absl::StrCat("MQTT broker ", where, ": ", ::gai_strerror(rc)));
  }
  int connected = -1;
  std::string last_error = "no address";
  for (addrinfo* a = found; a != nullptr && connected < 0; a = a->ai_next) {
    const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    int rc = ::connect(fd, a->ai_addr, a->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      rc = ::poll(&p, 1, PollMs(timeout)) == 1 ? 0 : -1;
      int error = rc == 0 ? 0 : ETIMEDOUT;
      socklen_t size = sizeof error;
      if (rc == 0) ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size);
      if (error != 0) {
        errno = error;
        rc = -1;
      }
    }
    if (rc == 0) {
      connected = fd;
    } else {
      last_error = std::strerror(errno);
      ::close(fd);
    }
  }
  ::freeaddrinfo(found);
  if (connected < 0) return absl::UnavailableError(absl::StrCat("MQTT broker ", where, ": ", last_error));
  std::unique_ptr<BrokerConnection> out(new BrokerConnection(where, connected));
  if (tls) {
    out->tls_ = std::move(tls);
    out->ssl_ = SSL_new(out->tls_->native());
    const std::string& name = out->tls_->options().server_name.empty() ? host : out->tls_->options().server_name;
    if (out->ssl_ == nullptr || SSL_set_fd(out->ssl_, out->fd_) != 1) {
      return absl::InternalError(absl::StrCat("TLS to MQTT broker ", where, ": ", OpenSslErrors()));
    }
    X509_VERIFY_PARAM* verify = SSL_get0_param(out->ssl_);
    if (IsIpAddress(name)) {
      if (X509_VERIFY_PARAM_set1_ip_asc(verify, name.c_str()) != 1) {
        return absl::InvalidArgumentError(absl::StrCat("TLS: '", name, "' is not an IP address OpenSSL takes"));
      }
    } else if (SSL_set_tlsext_host_name(out->ssl_, name.c_str()) != 1 || SSL_set1_host(out->ssl_, name.c_str()) != 1) {
      return absl::InvalidArgumentError(absl::StrCat("TLS: '", name, "' is not a host name OpenSSL takes"));
    }
    if (absl::Status s = out->Handshake(timeout); !s.ok()) return s;
  }
  return out;
}

BrokerConnection::~BrokerConnection() {
  if (ssl_ != nullptr) {
    // close_notify once, without waiting for the broker's; not after a fatal error (OpenSSL forbids it).
    if (!fatal_ && SSL_is_init_finished(ssl_)) SSL_shutdown(ssl_);
    SSL_free(ssl_);
    ERR_clear_error();
  }
  ::close(fd_);
}

bool BrokerConnection::Wait(bool want_read, absl::Duration timeout) const {
  pollfd p{fd_, static_cast<short>(want_read ? POLLIN : POLLOUT), 0};
  int ready;
  do {
    ready = ::poll(&p, 1, PollMs(timeout));
  } while (ready < 0 && errno == EINTR);
  return ready != 0;  // A poll error too: the read or write after it says what is wrong.
}

absl::Status BrokerConnection::Lost(const std::string& what) const {
  return absl::UnavailableError(absl::StrCat("MQTT broker ", where_, ": ", what));
}

absl::Status BrokerConnection::Handshake(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    ERR_clear_error();
    const int rc = SSL_connect(ssl_);
    if (rc == 1) return absl::OkStatus();
    const int error = SSL_get_error(ssl_, rc);
    if ((error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) && absl::Now() < deadline) {
      Wait(error == SSL_ERROR_WANT_READ, std::min(deadline - absl::Now(), absl::Milliseconds(500)));
      continue;
    }
    if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
      return Lost(absl::StrCat("no TLS handshake within ", absl::FormatDuration(timeout)));
    }
    fatal_ = true;
    const long verified = SSL_get_verify_result(ssl_);
    if (verified != X509_V_OK) {
      return Lost(
          absl::StrCat("TLS: the broker's certificate is not trusted: ", X509_verify_cert_error_string(verified)));
    }
    return Lost(absl::StrCat("TLS handshake failed: ", OpenSslErrors()));
  }
}

absl::Status BrokerConnection::Write(absl::string_view bytes, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  size_t sent = 0;
  while (sent < bytes.size()) {
    bool want_read = false;
    if (ssl_ != nullptr) {
      ERR_clear_error();
      size_t n = 0;
      const int rc = SSL_write_ex(ssl_, bytes.data() + sent, bytes.size() - sent, &n);
      if (rc == 1) {
        sent += n;
        continue;
      }
      const int error = SSL_get_error(ssl_, rc);
      if (error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE) {
        fatal_ = true;
        return Lost(absl::StrCat("TLS write: ", OpenSslErrors()));
      }
      want_read = error == SSL_ERROR_WANT_READ;
    } else {
      const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n > 0) {
        sent += static_cast<size_t>(n);
        continue;
      }
      if (n == 0 || (errno != EAGAIN && errno != EINTR)) return Lost(absl::StrCat("send: ", std::strerror(errno)));
    }
    if (absl::Now() >= deadline) return Lost("the connection does not take data");
    Wait(want_read, std::min(deadline - absl::Now(), absl::Milliseconds(100)));
  }
  return absl::OkStatus();
}

absl::StatusOr<size_t> BrokerConnection::Read(char* buffer, size_t size, absl::Duration timeout) {
  // Decrypted bytes OpenSSL holds already do not make the socket readable;
  // a read that must write first (a key update, a renegotiation) waits to write.
  if (ssl_ == nullptr || SSL_pending(ssl_) == 0) {
    if (!Wait(/*want_read=*/!read_wants_write_, timeout)) return 0;
  }
  if (ssl_ != nullptr) {
    ERR_clear_error();
    errno = 0;
    size_t n = 0;
    const int rc = SSL_read_ex(ssl_, buffer, size, &n);
    read_wants_write_ = false;
    if (rc == 1) return n;
    switch (SSL_get_error(ssl_, rc)) {
      case SSL_ERROR_WANT_READ:  // Part of a record, or a post-handshake message: nothing for us yet.
        return 0;
      case SSL_ERROR_WANT_WRITE:
        read_wants_write_ = true;
        return 0;
      case SSL_ERROR_ZERO_RETURN:
        return Lost("the broker closed the connection");
      default:
        fatal_ = true;
        return Lost(
            absl::StrCat("TLS read: ", errno != 0 && ERR_peek_error() == 0 ? std::strerror(errno) : OpenSslErrors()));
    }
  }
  const ssize_t n = ::recv(fd_, buffer, size, 0);
  if (n == 0) return Lost("the broker closed the connection");
  if (n < 0) {
    if (errno == EAGAIN || errno == EINTR) return 0;
    return Lost(absl::StrCat("recv: ", std::strerror(errno)));
  }
  return static_cast<size_t>(n);
}

}  // namespace hybrid::ingest
