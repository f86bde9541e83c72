#include "ingest/sensor_message.h"

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace hybrid::ingest {
namespace {

using nlohmann::json;

constexpr char kModel[] = "{model}";
constexpr char kEntity[] = "{entity}";

struct Placed {
  std::optional<std::string> model, entity;
};

std::optional<Placed> Match(const TopicTemplate& t, const std::string& topic) {
  const std::vector<std::string> levels = absl::StrSplit(topic, '/');
  Placed placed;
  for (size_t i = 0; i < t.levels.size(); ++i) {
    const std::string& want = t.levels[i];
    if (want == "#") return placed;
    if (i >= levels.size()) return std::nullopt;
    if (want == kModel) {
      placed.model = levels[i];
    } else if (want == kEntity) {
      placed.entity = levels[i];
    } else if (want != "+" && want != levels[i]) {
      return std::nullopt;
    }
  }
  if (levels.size() != t.levels.size()) return std::nullopt;
  return placed;
}

absl::Status Invalid(const std::string& path, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", what));
}

absl::StatusOr<double> Number(const json& value, const std::string& path) {
  if (!value.is_number()) return Invalid(path, absl::StrCat("must be a number, not ", value.type_name()));
  return value.get<double>();
}

// `field` from the topic or the object; both: they must agree.
absl::StatusOr<std::string> Named(const json& object, const char* field, const std::optional<std::string>& from_topic,
                                  const std::string& fallback, const std::string& path, const std::string& topic) {
  if (!object.contains(field)) {
    if (from_topic) return *from_topic;
    if (!fallback.empty()) return fallback;
    return Invalid(path, absl::StrCat("no \"", field, "\": the topic '", topic, "' does not name one"));
  }
  const json& value = object.at(field);
  const std::string where = absl::StrCat(path, ".", field);
  if (!value.is_string()) return Invalid(where, "must be a string");
  const std::string name = value.get<std::string>();
  if (from_topic && *from_topic != name) {
    return Invalid(
        where, absl::StrCat("'", name, "' disagrees with the topic '", topic, "', which names '", *from_topic, "'"));
  }
  return name;
}

absl::Status ParseReadings(const json& readings, const std::string& path, v1::Report& report) {
  if (!readings.is_object()) return Invalid(path, "must be an object of observable: value");
  for (const auto& [name, value] : readings.items()) {
    const std::string where = absl::StrCat(path, ".", name);
    v1::Reading* reading = report.add_readings();
    reading->set_observable(name);
    if (value.is_object()) {
      for (const auto& [field, _] : value.items()) {
        if (field != "value" && field != "noise_std") {
          return Invalid(absl::StrCat(where, ".", field), "unknown field (a reading has value and noise_std)");
        }
      }
      if (!value.contains("value")) return Invalid(where, "no \"value\"");
      absl::StatusOr<double> v = Number(value.at("value"), where + ".value");
      if (!v.ok()) return v.status();
      reading->set_value(*v);
      if (value.contains("noise_std")) {
        absl::StatusOr<double> noise = Number(value.at("noise_std"), where + ".noise_std");
        if (!noise.ok()) return noise.status();
        reading->set_noise_std(*noise);
      }
    } else {
      absl::StatusOr<double> v = Number(value, where);
      if (!v.ok()) return v.status();
      reading->set_value(*v);
    }
  }
  return absl::OkStatus();
}

absl::Status ParseInputs(const json& inputs, const std::string& path, v1::Report& report) {
  if (!inputs.is_object()) return Invalid(path, "must be an object of input: value");
  for (const auto& [name, value] : inputs.items()) {
    absl::StatusOr<double> v = Number(value, absl::StrCat(path, ".", name));
    if (!v.ok()) return v.status();
    v1::InputEvent* event = report.add_inputs();
    event->set_input(name);
    event->set_value(*v);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<TopicTemplate> ParseTopicTemplate(const std::string& text) {
  TopicTemplate t;
  t.text = text;
  const auto bad = [&](const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat("topic template '", text, "': ", why));
  };
  if (text.empty()) return bad("empty");
  t.levels = absl::StrSplit(text, '/');
  bool model = false, entity = false;
  std::vector<std::string> filter;
  for (size_t i = 0; i < t.levels.size(); ++i) {
    const std::string& level = t.levels[i];
    if (level.empty()) return bad(absl::StrCat("level ", i + 1, " is empty"));
    if (level == kModel || level == kEntity) {
      bool& seen = level == kModel ? model : entity;
      if (seen) return bad(absl::StrCat(level, " twice"));
      seen = true;
      filter.push_back("+");
      continue;
    }
    if (absl::StrContains(level, "{") || absl::StrContains(level, "}")) {
      return bad(absl::StrCat("level '", level, "': a placeholder is a whole level, {model} or {entity}"));
    }
    if (level == "#" && i + 1 != t.levels.size()) return bad("# must be the last level");
    if (level != "#" && level != "+" && (absl::StrContains(level, "#") || absl::StrContains(level, "+"))) {
      return bad(absl::StrCat("level '", level, "': + and # are whole levels"));
    }
    filter.push_back(level);
  }
  t.filter = absl::StrJoin(filter, "/");
  return t;
}

absl::StatusOr<SensorMessage> ParseSensorMessage(const std::vector<TopicTemplate>& templates,
                                                 const std::string& default_model, const std::string& topic,
                                                 const std::string& payload, size_t max_reports) {
  std::optional<Placed> placed;
  for (const TopicTemplate& t : templates) {
    if ((placed = Match(t, topic))) break;
  }
  if (!placed) return absl::NotFoundError(absl::StrCat("topic '", topic, "' matches none of --topics"));
  const json document = json::parse(payload, nullptr, /*allow_exceptions=*/false);
  if (document.is_discarded()) return absl::InvalidArgumentError("payload: not JSON");
  const bool many = document.is_array();
  if (!many && !document.is_object()) return Invalid("payload", "must be a report object or an array of them");
  if (many && document.empty()) return Invalid("payload", "an empty array: no report");
  if (many && document.size() > max_reports) {
    return Invalid("payload", absl::StrCat(document.size(), " reports; at most ", max_reports, " per message"));
  }
  SensorMessage message;
  const json& reports = many ? document : json::array({document});
  for (size_t i = 0; i < reports.size(); ++i) {
    const json& object = reports[i];
    const std::string path = many ? absl::StrCat("payload[", i, "]") : "payload";
    if (!object.is_object()) return Invalid(path, "must be an object");
    for (const auto& [field, _] : object.items()) {
      if (field != "time" && field != "readings" && field != "inputs" && field != "entity" && field != "model") {
        return Invalid(absl::StrCat(path, ".", field),
                       "unknown field (a report has time, readings, inputs, and entity / model when the topic "
                       "does not name them)");
      }
    }
    absl::StatusOr<std::string> model = Named(object, "model", placed->model, default_model, path, topic);
    if (!model.ok()) return model.status();
    if (i > 0 && *model != message.model) {
      return Invalid(path + ".model",
                     absl::StrCat("'", *model, "': one message feeds one model ('", message.model, "')"));
    }
    message.model = *model;
    v1::Report& report = message.reports.emplace_back();
    absl::StatusOr<std::string> entity = Named(object, "entity", placed->entity, "", path, topic);
    if (!entity.ok()) return entity.status();
    report.set_entity(*entity);
    if (!object.contains("time")) return Invalid(path, "no \"time\"");
    absl::StatusOr<double> time = Number(object.at("time"), path + ".time");
    if (!time.ok()) return time.status();
    report.set_time(*time);
    if (object.contains("readings")) {
      if (absl::Status s = ParseReadings(object.at("readings"), path + ".readings", report); !s.ok()) return s;
    }
    if (object.contains("inputs")) {
      if (absl::Status s = ParseInputs(object.at("inputs"), path + ".inputs", report); !s.ok()) return s;
    }
  }
  return message;
}

}  // namespace hybrid::ingest
