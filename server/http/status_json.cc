#include "server/http/status_json.h"

#include <chrono>
#include <optional>

#include "nlohmann/json.hpp"
#include "server/core/served_model.h"
#include "server/repository/model_config.h"

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

json Model(const ModelStatus& status) {
  json m = {{"name", status.name}, {"state", ModelStateName(status.state)}, {"reason", status.reason}};
  if (!status.model) return m;
  const ModelInfo info = status.model->Info();
  m["version"] = info.version;
  m["observations_accepted"] = info.observations_accepted;
  m["parameters"] = Parameters(info, status.model->config());
  m["last_checkpoint_unix_ms"] =
      info.durability.last_checkpoint_unix_ms >= 0 ? json(info.durability.last_checkpoint_unix_ms) : json(nullptr);
  const CalibrationStatus& c = info.calibration;
  m["loss"] = c.loss ? json(*c.loss) : json(nullptr);
  m["coverage"] = c.coverage ? json(*c.coverage) : json(nullptr);
  m["coverage_target"] = c.coverage_target;
  m["queue_depth"] = c.queue_depth;
  m["entities"] = info.entities;
  json online = json::array();
  for (const OnlineSkill& s : c.online) {
    online.push_back({{"lead_le", s.lead_le}, {"reports", s.reports}, {"crps", s.crps}, {"coverage", s.coverage}});
  }
  m["online_skill"] = online;
  return m;
}

}  // namespace

std::string ModelsJson(const ModelRegistry& registry) {
  json models = json::array();
  for (const ModelStatus& status : registry.List()) models.push_back(Model(status));
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  return json{{"models", models}, {"time_unix_ms", std::chrono::duration_cast<std::chrono::milliseconds>(now).count()}}
      .dump();
}

}  // namespace hybrid::server
