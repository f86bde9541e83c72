#include "base/model_name.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace hybrid::base {

bool IsValidModelName(absl::string_view name) {
  if (name.empty() || name.size() > kMaxModelNameLength || !absl::ascii_isalnum(name.front())) return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(c) && c != '_' && c != '.' && c != '-') return false;
  }
  return true;
}

absl::Status ValidateModelName(absl::string_view name, absl::string_view field) {
  if (name.empty()) return absl::InvalidArgumentError(absl::StrCat(field, " must be set"));
  if (IsValidModelName(name)) return absl::OkStatus();
  // Long names are cut: the message must stay short whatever the client sent.
  const absl::string_view shown = name.substr(0, kMaxModelNameLength + 8);
  return absl::InvalidArgumentError(
      absl::StrCat(field, " '", absl::CHexEscape(shown), shown.size() < name.size() ? "…" : "", "' (", name.size(),
                   " bytes) is not a model name: names have 1 to ", kMaxModelNameLength,
                   " characters from A-Z a-z 0-9 _ . - and start with a letter or digit"));
}

}  // namespace hybrid::base
