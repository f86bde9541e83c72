// The names of an enum's values as one table, read both ways, so that each
// enum's names have one home (what was a switch to a name and a chain of ifs
// back):
//
//   constexpr EnumName<Role> kRoleNames[] = {{Role::kRead, "read"}, {Role::kAdmin, "admin"}};
//   const char* name = NameOf(kRoleNames, Role::kAdmin);                   // "admin"
//   std::optional<Role> role = ValueNamed(kRoleNames, "read");             // Role::kRead
//   std::string known = JoinedNames(kRoleNames, ", ");                     // "read, admin"
//
// Header only, constexpr tables, no allocation except JoinedNames. Thread-safe.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace hybrid::base {

template <typename Enum>
struct EnumName {
  Enum value;
  const char* name;
};

// `unknown` for a value the table lacks (a cast from an out-of-range integer).
template <typename Enum, size_t N>
constexpr const char* NameOf(const EnumName<Enum> (&names)[N], Enum value, const char* unknown = "unknown") {
  for (const EnumName<Enum>& entry : names) {
    if (entry.value == value) return entry.name;
  }
  return unknown;
}

template <typename Enum, size_t N>
std::optional<Enum> ValueNamed(const EnumName<Enum> (&names)[N], absl::string_view name) {
  for (const EnumName<Enum>& entry : names) {
    if (name == entry.name) return entry.value;
  }
  return std::nullopt;
}

template <typename Enum, size_t N>
std::string JoinedNames(const EnumName<Enum> (&names)[N], absl::string_view separator) {
  std::string out;
  for (size_t i = 0; i < N; ++i) {
    if (i > 0) out.append(separator.data(), separator.size());
    out += names[i].name;
  }
  return out;
}

}  // namespace hybrid::base
