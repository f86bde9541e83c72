// AccessTokens: bearer tokens and the roles they grant, read from a file the
// operator writes (hybridserve --auth_tokens=FILE).
//
//   # client      roles            token (≥ 16 characters, no spaces)
//   dashboard     read             3c1f0e6b2a9d4e57b8a1c2d3e4f50617
//   gateway       read,calibrate   9b8a7c6d5e4f30211223344556677889
//   ops           read,admin       0f1e2d3c4b5a69788796a5b4c3d2e1f0
//
//   absl::StatusOr<AccessTokens> tokens = AccessTokens::Load("/etc/hybridserve/tokens");
//   absl::StatusOr<std::string> who = tokens->Authorize("Bearer 3c1f…", Role::kRead);  // "dashboard"
//
// Roles: `read` (Predict, ListModels, GetModel), `calibrate` (Calibrate),
// `admin` (LoadModel, UnloadModel, SaveCheckpoint, Rollback). A role grants
// only its own RPCs: list every role a client needs.
//
// Secrets: no error message, log line or metric carries a token, only the
// client name of the line that matched (file errors name the file and line).
// Tokens are compared in time independent of where they differ.
//
// Thread-safety: immutable after Load; Authorize may be called concurrently.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace hybrid::server {

enum class Role : uint8_t { kRead = 1, kCalibrate = 2, kAdmin = 4 };

// "read", "calibrate", "admin".
const char* RoleName(Role role);

class AccessTokens {
 public:
  // INVALID_ARGUMENT naming `source` and the line for: a line without the
  // three fields, an unknown role, a token shorter than 16 characters, a
  // repeated client name or token, or a file with no token at all.
  static absl::StatusOr<AccessTokens> Parse(absl::string_view text, absl::string_view source);
  // UNAVAILABLE when the file cannot be read; otherwise as Parse.
  static absl::StatusOr<AccessTokens> Load(const std::string& path);

  // The client name for `authorization` (the request's "authorization"
  // header, "Bearer <token>"; empty when absent). UNAUTHENTICATED when it is
  // missing, malformed or matches no token; PERMISSION_DENIED naming the
  // client and the role when the token lacks `needed`.
  absl::StatusOr<std::string> Authorize(absl::string_view authorization, Role needed) const;

  size_t size() const { return clients_.size(); }

 private:
  struct Client {
    std::string name;
    std::string token;
    uint8_t roles = 0;  // Bits of Role.
  };
  std::vector<Client> clients_;
};

}  // namespace hybrid::server
