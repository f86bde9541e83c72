#include "server/status_json.h"

#include <chrono>
#include <optional>

#include "nlohmann/json.hpp"
#include "server/model_config.h"
#include "server/served_model.h"

namespace hybrid::server {
namespace {

using nlohmann::json;

json Parameters(const ModelInfo& info, const v1::ModelConfig& config) {
  json out = json::array();
  for (const ParameterEstimate& p : info.parameters) {
    const std::optional<double> reference = ParameterReference(config, p.name);
    out.push_back({{"name", p.name},
                   {"value", p.value},
                   {"std", p.std},
                   {"unit", p.unit},
                   {"trainable", p.trainable},
                   {"reference", reference ? json(*reference) : json(nullptr)}});
  }
  return out;
}

json Model(const ModelStatus& status, const Metrics& metrics) {
  json m = {{"name", status.name}, {"state", ModelStateName(status.state)}, {"reason", status.reason}};
  if (!status.model) return m;
  const ModelInfo info = status.model->Info();
  m["version"] = info.version;
  m["observations_accepted"] = info.observations_accepted;
  m["parameters"] = Parameters(info, status.model->config());
  m["last_checkpoint_unix_ms"] =
      info.durability.last_checkpoint_unix_ms >= 0 ? json(info.durability.last_checkpoint_unix_ms) : json(nullptr);
  // Gauges start at 0; before the first accepted update 0 means "none yet".
  if (const ModelMetrics* series = metrics.Find(status.name)) {
    const bool updated = info.observations_accepted > 0;
    m["loss"] = updated ? json(series->loss->Value()) : json(nullptr);
    m["coverage"] = updated ? json(series->coverage->Value()) : json(nullptr);
    m["coverage_target"] = series->coverage_target->Value();
    m["queue_depth"] = series->queue_depth->Value();
  }
  return m;
}

}  // namespace

std::string ModelsJson(const ModelRegistry& registry, const Metrics& metrics) {
  json models = json::array();
  for (const ModelStatus& status : registry.List()) models.push_back(Model(status, metrics));
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  return json{{"models", models}, {"time_unix_ms", std::chrono::duration_cast<std::chrono::milliseconds>(now).count()}}
      .dump();
}

}  // namespace hybrid::server
