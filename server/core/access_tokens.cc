#include "server/core/access_tokens.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/enum_names.h"
#include "base/file_contents.h"

namespace hybrid::server {
namespace {

constexpr size_t kMinTokenLength = 16;

// Compares every byte whatever the first difference, so response time does
// not tell an attacker how much of a guessed token was right.
bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

constexpr base::EnumName<Role> kRoleNames[] = {
    {Role::kRead, "read"}, {Role::kCalibrate, "calibrate"}, {Role::kAdmin, "admin"}};

absl::StatusOr<uint8_t> ParseRoles(absl::string_view text) {
  uint8_t roles = 0;
  for (absl::string_view name : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    const std::optional<Role> role = base::ValueNamed(kRoleNames, name);
    if (!role) {
      return absl::InvalidArgumentError(absl::StrCat("unknown role '", name, "' (roles are ",
                                                     base::JoinedNames(kRoleNames, ", "), ", comma-separated)"));
    }
    roles |= static_cast<uint8_t>(*role);
  }
  if (roles == 0) return absl::InvalidArgumentError("no role given");
  return roles;
}

}  // namespace

const char* RoleName(Role role) { return base::NameOf(kRoleNames, role); }

absl::StatusOr<AccessTokens> AccessTokens::Parse(absl::string_view text, absl::string_view source) {
  AccessTokens tokens;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    const std::string where = absl::StrCat(source, ":", line_number, ": ");
    std::vector<absl::string_view> fields = absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (fields.size() != 3) {
      // The line may hold a token: say how many fields, never what they are.
      return absl::InvalidArgumentError(
          absl::StrCat(where, "expected 3 fields 'client roles token', found ", fields.size()));
    }
    Client client;
    client.name = std::string(fields[0]);
    absl::StatusOr<uint8_t> roles = ParseRoles(fields[1]);
    if (!roles.ok())
      return absl::InvalidArgumentError(absl::StrCat(where, "client '", client.name, "': ", roles.status().message()));
    client.roles = *roles;
    client.token = std::string(fields[2]);
    if (client.token.size() < kMinTokenLength) {
      return absl::InvalidArgumentError(absl::StrCat(where, "client '", client.name, "': token has ",
                                                     client.token.size(), " characters; at least ", kMinTokenLength,
                                                     " are required (e.g. openssl rand -hex 16)"));
    }
    for (const Client& other : tokens.clients_) {
      if (other.name == client.name) {
        return absl::InvalidArgumentError(absl::StrCat(where, "client '", client.name, "' is listed twice"));
      }
      if (other.token == client.token) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, "client '", client.name, "' has the same token as '", other.name, "'"));
      }
    }
    tokens.clients_.push_back(std::move(client));
  }
  if (tokens.clients_.empty()) return absl::InvalidArgumentError(absl::StrCat(source, ": no token is listed"));
  return tokens;
}

absl::StatusOr<AccessTokens> AccessTokens::Load(const std::string& path) {
  absl::StatusOr<std::string> text = base::ReadFileContents(path);
  if (!text.ok()) return text.status();
  return Parse(*text, path);
}

absl::StatusOr<std::string> AccessTokens::Authorize(absl::string_view authorization, Role needed) const {
  if (authorization.empty()) {
    return absl::UnauthenticatedError("missing credentials: send the header 'authorization: Bearer <token>'");
  }
  absl::string_view token = authorization;
  if (!absl::ConsumePrefix(&token, "Bearer ") && !absl::ConsumePrefix(&token, "bearer ")) {
    return absl::UnauthenticatedError("the authorization header must be 'Bearer <token>'");
  }
  token = absl::StripAsciiWhitespace(token);
  const Client* match = nullptr;
  for (const Client& client : clients_) {
    if (ConstantTimeEquals(client.token, token)) match = &client;
  }
  if (match == nullptr) return absl::UnauthenticatedError("the bearer token is not valid");
  if ((match->roles & static_cast<uint8_t>(needed)) == 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("client '", match->name, "' lacks the role '", RoleName(needed), "' this call needs"));
  }
  return match->name;
}

}  // namespace hybrid::server
