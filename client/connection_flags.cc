#include "client/connection_flags.h"

#include <cstdlib>
#include <string>

#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "base/file_contents.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50051", "hybridserve address");
ABSL_FLAG(double, timeout, 30.0, "Deadline of each unary call, seconds");
ABSL_FLAG(std::string, tls_ca, "", "PEM roots the server's certificate must chain to (turns on TLS)");
ABSL_FLAG(std::string, tls_cert, "", "PEM client certificate, for servers that require mutual TLS");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert");
ABSL_FLAG(std::string, token_file, "",
          "File whose first line is the bearer token (default: the HYBRIDSERVE_TOKEN environment variable)");

namespace hybrid::client {

absl::StatusOr<ClientOptions> ClientOptionsFromFlags() {
  ClientOptions options;
  options.target = absl::GetFlag(FLAGS_target);
  const double timeout = absl::GetFlag(FLAGS_timeout);
  if (!(timeout > 0)) return absl::InvalidArgumentError("--timeout must be > 0 seconds");
  options.timeout = absl::Seconds(timeout);
  options.tls_ca_file = absl::GetFlag(FLAGS_tls_ca);
  options.tls_cert_file = absl::GetFlag(FLAGS_tls_cert);
  options.tls_key_file = absl::GetFlag(FLAGS_tls_key);
  if (const std::string path = absl::GetFlag(FLAGS_token_file); !path.empty()) {
    absl::StatusOr<std::string> text = base::ReadFileContents(path);
    if (!text.ok()) return text.status();
    const std::string first_line = text->substr(0, text->find('\n'));
    options.token = std::string(absl::StripAsciiWhitespace(first_line));
    if (options.token.empty()) return absl::InvalidArgumentError(absl::StrCat("--token_file ", path, " is empty"));
  } else if (const char* token = std::getenv("HYBRIDSERVE_TOKEN"); token != nullptr) {
    options.token = std::string(absl::StripAsciiWhitespace(token));
  }
  return options;
}

}  // namespace hybrid::client
