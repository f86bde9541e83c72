// WriteFileAtomically: replaces a file so that readers and crashes see either
// the old contents or the new ones, never a mixture or a truncated file.
//
//   absl::Status s = WriteFileAtomically("repo/m/checkpoint.pt", bytes);
//
// Writes `<path>.tmp.<pid>` in the same folder, fsyncs it, renames it over
// `path` and fsyncs the folder, so the new contents survive power loss once
// this returns OK. UNAVAILABLE (naming the path and the OS error) when any step
// fails; the temporary file is removed then and `path` is unchanged.
// Thread-safe for distinct paths; concurrent writers of one path race (last
// rename wins, each result whole).
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace hybrid::base {

absl::Status WriteFileAtomically(const std::string& path, absl::string_view bytes);

// fsyncs a folder, making the creation, rename or deletion of its entries
// durable. UNAVAILABLE naming the folder.
absl::Status SyncFolder(const std::string& folder);

// Writes all of `bytes` to `fd`, retrying short writes and EINTR; false (errno
// set) on an error, after which part of `bytes` may have been written.
bool WriteAllBytes(int fd, absl::string_view bytes);

}  // namespace hybrid::base
