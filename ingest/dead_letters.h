// DeadLetters: the messages the bridge acknowledged without delivering them
// (not JSON, an unknown field, a report the server refused for good), one
// JSON object per line — {"unix_ms", "topic", "payload", "reason"} — appended
// and fsynced before the message is acknowledged, so every message the broker
// let go of is either in hybridserve or in this file.
//
//   DeadLetters letters("/var/lib/hybridbridge/dead-letters.jsonl");   // empty path: log only
//   absl::Status s = letters.Add(topic, payload, reason);   // UNAVAILABLE when it cannot be written
//
// A payload that is not valid UTF-8 is stored with its bytes replaced (U+FFFD).
// One thread; not thread-safe.
#pragma once

#include <cstdio>
#include <string>

#include "absl/status/status.h"

namespace hybrid::ingest {

class DeadLetters {
 public:
  explicit DeadLetters(std::string path) : path_(std::move(path)) {}
  ~DeadLetters();
  DeadLetters(const DeadLetters&) = delete;
  DeadLetters& operator=(const DeadLetters&) = delete;

  absl::Status Add(const std::string& topic, const std::string& payload, const std::string& reason);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
};

}  // namespace hybrid::ingest
