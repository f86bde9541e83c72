// libFuzzer target: model config parsing (server/repository/model_config.h). Any text
// must parse to a config whose defaults and checks hold, or fail with
// INVALID_ARGUMENT naming the source — never a crash (ASan + UBSan via
// scripts/fuzz).
#include <cstddef>
#include <cstdint>
#include <string>

#include "server/repository/model_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<hybrid::v1::ModelConfig> config = hybrid::server::ParseModelConfig(text, "fuzz.pbtxt");
  if (!config.ok()) {
    if (config.status().code() != absl::StatusCode::kInvalidArgument) __builtin_trap();
    if (config.status().message().rfind("fuzz.pbtxt: ", 0) != 0) __builtin_trap();
    return 0;
  }
  // Accepted configs satisfy what the server relies on.
  if (config->ensemble_members() < 1 || config->limits().max_batch() < 1 ||
      config->durability().checkpoint_every() < 1 || config->calibration().queue_capacity() < 1) {
    __builtin_trap();
  }
  return 0;
}
