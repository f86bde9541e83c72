#include "ingest/dead_letters.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace hybrid::ingest {

DeadLetters::~DeadLetters() {
  if (file_) std::fclose(file_);
}

absl::Status DeadLetters::Add(const std::string& topic, const std::string& payload, const std::string& reason) {
  std::fprintf(stderr, "hybridbridge: dropped a message on '%s': %s\n", topic.c_str(), reason.c_str());
  if (path_.empty()) return absl::OkStatus();
  if (!file_ && !(file_ = std::fopen(path_.c_str(), "a"))) {
    return absl::UnavailableError(absl::StrCat("dead letters ", path_, ": ", std::strerror(errno)));
  }
  const nlohmann::json line = {
      {"unix_ms", absl::ToUnixMillis(absl::Now())}, {"topic", topic}, {"payload", payload}, {"reason", reason}};
  const std::string text = line.dump(-1, ' ', /*ensure_ascii=*/false, nlohmann::json::error_handler_t::replace) + "\n";
  if (std::fwrite(text.data(), 1, text.size(), file_) != text.size() || std::fflush(file_) != 0 ||
      ::fsync(::fileno(file_)) != 0) {
    const std::string error = std::strerror(errno);
    std::fclose(file_);
    file_ = nullptr;
    return absl::UnavailableError(absl::StrCat("dead letters ", path_, ": ", error));
  }
  return absl::OkStatus();
}

}  // namespace hybrid::ingest
