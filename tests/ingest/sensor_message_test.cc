// Topic templates and JSON sensor messages as reports: every form the README
// documents, and every error naming the JSON path or the template.
#include "ingest/sensor_message.h"

#include <gtest/gtest.h>

namespace hybrid::ingest {
namespace {

std::vector<TopicTemplate> Templates(std::initializer_list<const char*> texts) {
  std::vector<TopicTemplate> out;
  for (const char* t : texts) out.push_back(ParseTopicTemplate(t).value());
  return out;
}

std::string ErrorOf(const absl::StatusOr<SensorMessage>& m) {
  EXPECT_FALSE(m.ok());
  return std::string(m.status().message());
}

TEST(TopicTemplate, PlaceholdersBecomeSingleLevelWildcards) {
  EXPECT_EQ(ParseTopicTemplate("clinic/{model}/{entity}")->filter, "clinic/+/+");
  EXPECT_EQ(ParseTopicTemplate("site/+/{entity}/#")->filter, "site/+/+/#");
  for (const char* bad : {"", "a//b", "a/{model}/{model}", "a/x{entity}", "a/{station}", "a/#/b", "a/b#"}) {
    EXPECT_EQ(ParseTopicTemplate(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_NE(ParseTopicTemplate("a/{station}").status().message().find("{model} or {entity}"), std::string::npos);
}

TEST(SensorMessage, TheTopicNamesModelAndEntityAndThePayloadTheReport) {
  const auto templates = Templates({"clinic/{model}/{entity}"});
  const SensorMessage m =
      ParseSensorMessage(templates, "", "clinic/pkpd/p-17",
                         R"({"time": 0.5, "readings": {"plasma": 1.9, "response": {"value": 98.1, "noise_std": 2}},
                             "inputs": {"oral": 200}})",
                         10)
          .value();
  EXPECT_EQ(m.model, "pkpd");
  ASSERT_EQ(m.reports.size(), 1u);
  const v1::Report& r = m.reports[0];
  EXPECT_EQ(r.entity(), "p-17");
  EXPECT_EQ(r.time(), 0.5);
  ASSERT_EQ(r.readings_size(), 2);
  EXPECT_EQ(r.readings(0).observable(), "plasma");
  EXPECT_EQ(r.readings(0).value(), 1.9);
  EXPECT_FALSE(r.readings(0).has_noise_std());
  EXPECT_EQ(r.readings(1).value(), 98.1);
  EXPECT_EQ(r.readings(1).noise_std(), 2.0);
  ASSERT_EQ(r.inputs_size(), 1);
  EXPECT_EQ(r.inputs(0).input(), "oral");
  EXPECT_EQ(r.inputs(0).value(), 200.0);
}

TEST(SensorMessage, ArraysAndNamesFromThePayloadOrTheDefaultModel) {
  const auto templates = Templates({"plant/{entity}", "fleet/#"});
  const SensorMessage a =
      ParseSensorMessage(templates, "pkpd", "plant/s1", R"([{"time": 1}, {"time": 2, "readings": {"x": 3}}])", 10)
          .value();
  EXPECT_EQ(a.model, "pkpd");
  ASSERT_EQ(a.reports.size(), 2u);
  EXPECT_EQ(a.reports[1].entity(), "s1");
  const SensorMessage b =
      ParseSensorMessage(templates, "", "fleet/north/7", R"({"model": "l96", "entity": "buoy-7", "time": 3})", 10)
          .value();
  EXPECT_EQ(b.model, "l96");
  EXPECT_EQ(b.reports[0].entity(), "buoy-7");
}

TEST(SensorMessage, ErrorsNameTheJsonPath) {
  const auto templates = Templates({"clinic/{model}/{entity}", "raw/#"});
  const auto parse = [&](const std::string& topic, const std::string& payload) {
    return ParseSensorMessage(templates, "", topic, payload, 2);
  };
  EXPECT_EQ(parse("other/x", R"({"time": 1})").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ErrorOf(parse("clinic/m/e", "{not json")), "payload: not JSON");
  EXPECT_EQ(ErrorOf(parse("clinic/m/e", "3")), "payload: must be a report object or an array of them");
  EXPECT_EQ(ErrorOf(parse("clinic/m/e", "[]")), "payload: an empty array: no report");
  EXPECT_EQ(ErrorOf(parse("clinic/m/e", R"([{"time":1},{"time":2},{"time":3}])")),
            "payload: 3 reports; at most 2 per message");
  EXPECT_EQ(ErrorOf(parse("clinic/m/e", R"({"readings": {}})")), "payload: no \"time\"");
  EXPECT_EQ(ErrorOf(parse("clinic/m/e", R"({"time": "noon"})")), "payload.time: must be a number, not string");
  EXPECT_NE(ErrorOf(parse("clinic/m/e", R"({"time": 1, "reading": {}})")).find("payload.reading: unknown field"),
            std::string::npos);
  EXPECT_EQ(ErrorOf(parse("clinic/m/e", R"([{"time": 1}, {"time": 2, "readings": {"x": null}}])")),
            "payload[1].readings.x: must be a number, not null");
  EXPECT_EQ(ErrorOf(parse("clinic/m/e", R"({"time": 1, "readings": {"x": {"noise_std": 1}}})")),
            "payload.readings.x: no \"value\"");
  EXPECT_NE(ErrorOf(parse("clinic/m/e", R"({"time": 1, "readings": {"x": {"value": 1, "std": 1}}})"))
                .find("payload.readings.x.std: unknown field"),
            std::string::npos);
  EXPECT_EQ(ErrorOf(parse("clinic/m/e", R"({"time": 1, "inputs": {"oral": "200mg"}})")),
            "payload.inputs.oral: must be a number, not string");
  EXPECT_NE(ErrorOf(parse("clinic/m/e", R"({"time": 1, "entity": "f"})")).find("payload.entity: 'f' disagrees"),
            std::string::npos);
  EXPECT_NE(ErrorOf(parse("raw/x", R"({"time": 1, "model": "m"})")).find("no \"entity\""), std::string::npos);
  EXPECT_NE(ErrorOf(parse("raw/x", R"({"time": 1, "entity": "e"})")).find("no \"model\""), std::string::npos);
  EXPECT_NE(ErrorOf(parse("raw/x", R"([{"time": 1, "entity": "e", "model": "a"},
                                       {"time": 1, "entity": "e", "model": "b"}])"))
                .find("payload[1].model: 'b': one message feeds one model"),
            std::string::npos);
}

}  // namespace
}  // namespace hybrid::ingest
