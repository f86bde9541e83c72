// The whole contents of a file, for the small files the server reads at once
// (configs, tokens, certificates, log segments).
//
//   absl::StatusOr<std::string> pem = ReadFileContents("/etc/hybridserve/tls.crt");
//
// UNAVAILABLE naming the path when the file cannot be opened or read.
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace hybrid::base {

absl::StatusOr<std::string> ReadFileContents(const std::string& path);

}  // namespace hybrid::base
