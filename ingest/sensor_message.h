// What a sensor publishes, as hybridserve reports: topic templates that name
// the model and entity, and the JSON payload of one message.
//
//   --topics=clinic/{model}/{entity}         a template: {model} and {entity} each stand for one
//                                            topic level; its filter is clinic/+/+
//   payload:  {"time": 0.5,
//              "readings": {"plasma": 1.9, "response": {"value": 98.1, "noise_std": 2.0}},
//              "inputs": {"oral": 200}}
//             or an array of such objects (several reports in one message).
//
// A report's entity and model come from the topic's placeholders, else from
// the object's "entity" / "model" fields, else (model only) the bridge's
// --model; a field that disagrees with the topic is an error. `time` is
// required; `readings` maps observables to a value or {value, noise_std};
// `inputs` maps the config's inputs to a value. Any other field is an error
// (a typo must not be dropped silently). The server checks the names and the
// values (hybrid.v1.Report).
// Errors are INVALID_ARGUMENT naming the JSON path (`payload[2].readings.plasma.value`)
// or the topic. Pure; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "hybrid/v1/hybrid_service.pb.h"

namespace hybrid::ingest {

struct TopicTemplate {
  std::string text;    // As given: clinic/{model}/{entity}
  std::string filter;  // What to subscribe to: clinic/+/+
  std::vector<std::string> levels;
};

// INVALID_ARGUMENT for an empty template or level, a placeholder other than
// {model} / {entity} or used twice or inside a level, or `#` before the last level.
absl::StatusOr<TopicTemplate> ParseTopicTemplate(const std::string& text);

// A message's reports, all for one model.
struct SensorMessage {
  std::string model;
  std::vector<v1::Report> reports;
};

// The first template that matches `topic` gives its model and entity; NOT_FOUND
// when none does (the broker sent what no template asked for). At most
// `max_reports` reports (INVALID_ARGUMENT beyond).
absl::StatusOr<SensorMessage> ParseSensorMessage(const std::vector<TopicTemplate>& templates,
                                                 const std::string& default_model, const std::string& topic,
                                                 const std::string& payload, size_t max_reports);

}  // namespace hybrid::ingest
