// Model and entity names: the character set and length every model name must have, checked
// once where a name enters the server (each RPC's decoding, the repository
// scan, a config's `name`), so that no other layer ever sees a name that could
// escape a folder, hide a NUL byte or grow a metric label.
//
//   if (absl::Status s = ValidateModelName(request.model(), "model"); !s.ok()) return s;
//
// A valid name has 1 to kMaxModelNameLength characters from A–Z a–z 0–9 _ . -
// and starts with a letter or a digit (so never "." or ".."). Entity names
// (a model's patients, assets, stations: they become file contents and log
// records, never paths or labels) have 1 to kMaxEntityNameLength characters,
// ':' allowed too ("ward3:bed12"). INVALID_ARGUMENT
// names the field and quotes the name C-escaped (a NUL byte shows as \x00).
// Pure; thread-safe.
#pragma once

#include <cstddef>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace hybrid::base {

inline constexpr size_t kMaxModelNameLength = 64;
inline constexpr size_t kMaxEntityNameLength = 128;

bool IsValidModelName(absl::string_view name);
absl::Status ValidateModelName(absl::string_view name, absl::string_view field);
absl::Status ValidateEntityName(absl::string_view name, absl::string_view field);

}  // namespace hybrid::base
