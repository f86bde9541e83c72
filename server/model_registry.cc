#include "server/model_registry.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "server/model_config.h"

namespace hybrid::server {

absl::StatusOr<std::unique_ptr<ModelRegistry>> ModelRegistry::Load(const std::string& repository, Metrics* metrics) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(repository, ec)) {
    return absl::NotFoundError(absl::StrCat("model repository '", repository, "' is not a directory"));
  }
  std::vector<fs::path> folders;
  for (const fs::directory_entry& entry : fs::directory_iterator(repository, ec)) {
    if (entry.is_directory() && fs::exists(entry.path() / "config.pbtxt")) folders.push_back(entry.path());
  }
  if (ec) return absl::UnavailableError(absl::StrCat("reading '", repository, "': ", ec.message()));
  if (folders.empty()) {
    return absl::NotFoundError(absl::StrCat("model repository '", repository, "' holds no <model>/config.pbtxt"));
  }
  std::sort(folders.begin(), folders.end());

  auto registry = std::unique_ptr<ModelRegistry>(new ModelRegistry());
  for (const fs::path& folder : folders) {
    const fs::path file = folder / "config.pbtxt";
    std::ifstream in(file);
    std::stringstream text;
    text << in.rdbuf();
    if (!in) return absl::UnavailableError(absl::StrCat("cannot read ", file.string()));
    absl::StatusOr<v1::ModelConfig> config = ParseModelConfig(text.str(), file.string());
    if (!config.ok()) return config.status();
    if (config->name() != folder.filename().string()) {
      return absl::InvalidArgumentError(absl::StrCat(file.string(), ": name '", config->name(),
                                                     "' must equal the folder name '", folder.filename().string(),
                                                     "'"));
    }
    absl::StatusOr<std::unique_ptr<ServedModel>> model = ServedModel::Create(*config, metrics, folder.string());
    if (!model.ok()) {
      return absl::Status(model.status().code(), absl::StrCat(file.string(), ": ", model.status().message()));
    }
    registry->models_.emplace(config->name(), *std::move(model));
  }
  return registry;
}

absl::StatusOr<ServedModel*> ModelRegistry::Find(absl::string_view name) const {
  auto it = models_.find(name);
  if (it == models_.end()) return absl::NotFoundError(absl::StrCat("model '", name, "' is not served"));
  return it->second.get();
}

std::vector<const ServedModel*> ModelRegistry::List() const {
  std::vector<const ServedModel*> out;
  for (const auto& [name, model] : models_) out.push_back(model.get());
  return out;
}

}  // namespace hybrid::server
