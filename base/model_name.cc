#include "base/model_name.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace hybrid::base {
namespace {

struct NameRules {
  size_t max_length;
  absl::string_view punctuation;  // Allowed besides letters and digits (never first).
  absl::string_view what;         // "model name"
};

constexpr NameRules kModelNames{kMaxModelNameLength, "_.-", "model name"};
constexpr NameRules kEntityNames{kMaxEntityNameLength, "_.-:", "entity name"};

bool Follows(absl::string_view name, const NameRules& rules) {
  if (name.empty() || name.size() > rules.max_length || !absl::ascii_isalnum(name.front())) return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(c) && rules.punctuation.find(c) == absl::string_view::npos) return false;
  }
  return true;
}

absl::Status Validate(absl::string_view name, absl::string_view field, const NameRules& rules) {
  if (name.empty()) return absl::InvalidArgumentError(absl::StrCat(field, " must be set"));
  if (Follows(name, rules)) return absl::OkStatus();
  // Long names are cut: the message must stay short whatever the client sent.
  const absl::string_view shown = name.substr(0, rules.max_length + 8);
  std::string allowed;
  for (char c : rules.punctuation) absl::StrAppend(&allowed, " ", std::string(1, c));
  return absl::InvalidArgumentError(
      absl::StrCat(field, " '", absl::CHexEscape(shown), shown.size() < name.size() ? "…" : "", "' (", name.size(),
                   " bytes) is not a ", rules.what, ": names have 1 to ", rules.max_length,
                   " characters from A-Z a-z 0-9", allowed, " and start with a letter or digit"));
}

}  // namespace

bool IsValidModelName(absl::string_view name) { return Follows(name, kModelNames); }

absl::Status ValidateModelName(absl::string_view name, absl::string_view field) {
  return Validate(name, field, kModelNames);
}

absl::Status ValidateEntityName(absl::string_view name, absl::string_view field) {
  return Validate(name, field, kEntityNames);
}

}  // namespace hybrid::base
