#include "server/repository/model_export.h"

#include <google/protobuf/text_format.h>

#include <cmath>
#include <filesystem>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/atomic_file.h"
#include "base/file_contents.h"
#include "server/repository/model_config.h"
#include "server/repository/model_spec.h"
#include "solvers/hybrid/trained_weights.h"

namespace hybrid::server {

absl::Status ExportModelEntry(const solvers::HybridModel& model, const std::string& repository, const std::string& name,
                              const std::string& description, double residual_std) {
  namespace fs = std::filesystem;
  if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..") {
    return absl::InvalidArgumentError(absl::StrCat("model name '", name, "' must be a plain folder name"));
  }
  absl::StatusOr<v1::ModelConfig> config = ConfigFromModel(model, name, description);
  if (!config.ok()) return config.status();
  config->set_checkpoint("checkpoint.pt");
  if (!(residual_std >= 0.0) || !std::isfinite(residual_std)) {
    return absl::InvalidArgumentError(absl::StrCat("residual_std must be finite and >= 0, got ", residual_std));
  }
  config->mutable_uncertainty()->set_initial_model_error_std(residual_std);  // 0: ApplyDefaults fills it.
  if (model.black_box() != nullptr) {
    // Backprop cannot pass a black box: serve it with the calibrators that can.
    config->mutable_calibration()->set_method(v1::CALIBRATION_METHOD_EGA_STATIC);
    if (!model.ThetaParameters().empty()) {
      config->mutable_calibration()->set_theta_update(v1::THETA_UPDATE_ENSEMBLE_KALMAN);
    }
  }
  // Each module goes beside the config that names it, by its file name.
  std::vector<std::pair<std::string, fs::path>> modules;  // (field, source)
  std::set<fs::path> names;
  for (const ScriptFile& script : ScriptFiles(*config)) {
    const fs::path source(*script.path);
    if (source.filename() == config->checkpoint() || source.filename() == "config.pbtxt" ||
        !names.insert(source.filename()).second) {
      return absl::InvalidArgumentError(absl::StrCat(script.field, " '", source.filename().string(),
                                                     "' would be overwritten by the entry's own files or its other "
                                                     "module"));
    }
    modules.emplace_back(script.field, source);
    *script.path = source.filename().string();
  }
  ApplyDefaults(*config);
  if (absl::Status s = ValidateModelConfig(*config); !s.ok()) return s;

  const fs::path folder = fs::path(repository) / name;
  std::error_code ec;
  fs::create_directories(folder, ec);
  if (ec) return absl::UnavailableError(absl::StrCat("cannot create '", folder.string(), "': ", ec.message()));
  for (const auto& [field, source] : modules) {
    if (!fs::equivalent(source, folder / source.filename(), ec)) {
      absl::StatusOr<std::string> bytes = base::ReadFileContents(source.string());
      if (!bytes.ok()) return bytes.status();
      if (absl::Status s = base::WriteFileAtomically((folder / source.filename()).string(), *bytes); !s.ok()) {
        return s;
      }
    }
  }
  if (absl::Status s = solvers::SaveTrainedWeights(model, (folder / config->checkpoint()).string()); !s.ok()) {
    return s;
  }
  std::string text;
  google::protobuf::TextFormat::PrintToString(*config, &text);
  return base::WriteFileAtomically(
      (folder / "config.pbtxt").string(),
      absl::StrCat("# Written by ExportModelEntry (server/repository/model_export.h): trained values in checkpoint.pt.\n", text));
}

}  // namespace hybrid::server
