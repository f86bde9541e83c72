// ModelConfig handling: defaults, validation and translation to solver options.
//
//   absl::StatusOr<v1::ModelConfig> config = ParseModelConfig(text, "lorenz63");
//
// Validation errors are INVALID_ARGUMENT and name the config field.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "hybrid/v1/model_config.pb.h"

namespace hybrid::server {

// Parses text-format protobuf, fills defaults (documented in model_config.proto)
// and validates the numeric fields the solvers do not check themselves.
absl::StatusOr<v1::ModelConfig> ParseModelConfig(absl::string_view text, absl::string_view source);

// Fills zero-valued fields with their documented defaults.
void ApplyDefaults(v1::ModelConfig& config);

absl::Status ValidateModelConfig(const v1::ModelConfig& config);

// The TorchScript files a config names — they run inside the server — each
// with its field ("torchscript.file", "correction.torchscript_file") and the
// path as the config holds it: only the files the config uses.
struct ScriptFile {
  std::string field;
  std::string* path;
};
std::vector<ScriptFile> ScriptFiles(v1::ModelConfig& config);

// The `reference` value the config gives parameter `name`, if any.
std::optional<double> ParameterReference(const v1::ModelConfig& config, absl::string_view name);

}  // namespace hybrid::server
