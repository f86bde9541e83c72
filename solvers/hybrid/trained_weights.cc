#include "solvers/hybrid/trained_weights.h"

#include <ATen/ATen.h>
#include <torch/serialize/archive.h>

#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/atomic_file.h"
#include "solvers/torch_status.h"

namespace hybrid::solvers {
namespace {

// Metadata keys; tensor names never start with "meta.".
constexpr char kFormatKey[] = "meta.format";
constexpr char kFormat[] = "hybridserve-checkpoint-v1";
constexpr char kPhysicsKey[] = "meta.physics";
constexpr char kCompositionKey[] = "meta.composition";

std::string ShapeString(const at::Tensor& t) { return absl::StrCat("[", absl::StrJoin(t.sizes(), ", "), "]"); }

absl::Status ExpectString(torch::serialize::InputArchive& archive, const std::string& key, const std::string& expected,
                          const std::string& path) {
  c10::IValue value;
  if (!archive.try_read(key, value) || !value.isString()) {
    return absl::InvalidArgumentError(
        absl::StrCat("checkpoint '", path, "' lacks ", key, " (not written by SaveTrainedWeights?)"));
  }
  if (value.toStringRef() != expected) {
    return absl::InvalidArgumentError(absl::StrCat("checkpoint '", path, "' has ", key, " '", value.toStringRef(),
                                                   "' but the model's is '", expected, "'"));
  }
  return absl::OkStatus();
}

}  // namespace

std::map<std::string, at::Tensor> NamedModelTensors(const HybridModel& model) {
  std::map<std::string, at::Tensor> out;
  for (const auto& item : model.named_parameters(/*recurse=*/true)) out.emplace(item.key(), item.value());
  for (const auto& item : model.named_buffers(/*recurse=*/true)) out.emplace(item.key(), item.value());
  return out;
}

absl::Status SaveTrainedWeights(const HybridModel& model, const std::string& path) {
  absl::StatusOr<std::string> bytes = RunCatchingTorch("saving checkpoint", [&]() -> absl::StatusOr<std::string> {
    torch::serialize::OutputArchive archive;
    archive.write(kFormatKey, c10::IValue(std::string(kFormat)));
    archive.write(kPhysicsKey, c10::IValue(model.spec().physics));
    archive.write(kCompositionKey, c10::IValue(CompositionName(model.composition())));
    for (const auto& [name, tensor] : NamedModelTensors(model)) archive.write(name, tensor.detach().clone());
    std::ostringstream out;
    archive.save_to(out);
    return out.str();
  });
  if (!bytes.ok()) return bytes.status();
  return base::WriteFileAtomically(path, *bytes);
}

absl::Status LoadTrainedWeights(HybridModel& model, const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return absl::NotFoundError(absl::StrCat("checkpoint '", path, "' does not exist"));
  }
  return RunCatchingTorch(absl::StrCat("reading checkpoint '", path, "'"), [&]() -> absl::Status {
    torch::serialize::InputArchive archive;
    archive.load_from(path);
    if (absl::Status s = ExpectString(archive, kFormatKey, kFormat, path); !s.ok()) return s;
    if (absl::Status s = ExpectString(archive, kPhysicsKey, model.spec().physics, path); !s.ok()) return s;
    if (absl::Status s = ExpectString(archive, kCompositionKey, CompositionName(model.composition()), path); !s.ok()) {
      return s;
    }
    const std::map<std::string, at::Tensor> targets = NamedModelTensors(model);
    for (const std::string& key : archive.keys()) {
      if (key.rfind("meta.", 0) != 0 && targets.count(key) == 0) {
        return absl::InvalidArgumentError(absl::StrCat("checkpoint '", path, "' has tensor '", key,
                                                       "' that the model lacks (another architecture?)"));
      }
    }
    std::map<std::string, at::Tensor> loaded;
    for (const auto& [name, target] : targets) {
      at::Tensor value;
      if (!archive.try_read(name, value)) {
        return absl::InvalidArgumentError(
            absl::StrCat("checkpoint '", path, "' lacks tensor '", name, "' (another architecture?)"));
      }
      if (!value.sizes().equals(target.sizes())) {
        return absl::InvalidArgumentError(absl::StrCat("checkpoint '", path, "': tensor '", name, "' has shape ",
                                                       ShapeString(value), ", the model expects ",
                                                       ShapeString(target)));
      }
      if (!at::isfinite(value).all().item<bool>()) {
        return absl::InvalidArgumentError(
            absl::StrCat("checkpoint '", path, "': tensor '", name, "' holds NaN or Inf"));
      }
      loaded.emplace(name, value);
    }
    at::NoGradGuard no_grad;
    for (const auto& [name, target] : targets) {
      at::Tensor destination = target;  // Shares storage with the model's tensor.
      destination.copy_(loaded.at(name));
    }
    return absl::OkStatus();
  });
}

}  // namespace hybrid::solvers
