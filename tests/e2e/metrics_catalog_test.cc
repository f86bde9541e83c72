// The metrics catalog (docs/metrics.md) is true: a real server, after a
// calibration stream, a forecast, a checkpoint and two reports of an entity
// (the second one scored), exposes exactly the hybrid_*
// families the table lists, with the listed type and label names, and the
// series dashboards and alerts rely on carry the values they should.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "client/calibrate_session.h"
#include "client/observation_windows.h"
#include "tests/e2e/test_server.h"
#include "tests/test_tensors.h"

namespace hybrid::testing {
namespace {

struct Family {
  std::string type;
  std::set<std::string> labels;
};

// "| `name` | type | a, b | meaning |" rows of docs/metrics.md.
std::map<std::string, Family> DocumentedFamilies() {
  std::ifstream in(std::string(HYBRID_SOURCE_DIR) + "/docs/metrics.md");
  std::map<std::string, Family> out;
  for (std::string line; std::getline(in, line);) {
    if (!absl::StartsWith(line, "| `hybrid_")) continue;
    std::vector<std::string> cells = absl::StrSplit(line, '|');
    if (cells.size() < 5) continue;
    const std::string name(absl::StripAsciiWhitespace(
        absl::StripSuffix(absl::StripPrefix(absl::StripAsciiWhitespace(cells[1]), "`"), "`")));
    Family& f = out[name];
    f.type = std::string(absl::StripAsciiWhitespace(cells[2]));
    for (absl::string_view label : absl::StrSplit(cells[3], ',', absl::SkipWhitespace())) {
      f.labels.insert(std::string(absl::StripAsciiWhitespace(label)));
    }
  }
  return out;
}

// hybrid_* families of a scrape: types from "# TYPE" lines, label names from
// the samples (histogram samples _bucket/_sum/_count belong to their family;
// `le` is the bucket's own label).
std::map<std::string, Family> ScrapedFamilies(const std::string& text) {
  std::map<std::string, Family> out;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (absl::StartsWith(line, "# TYPE hybrid_")) {
      std::vector<std::string> words = absl::StrSplit(line, ' ');
      out[words[2]].type = words[3];
      continue;
    }
    if (!absl::StartsWith(line, "hybrid_")) continue;
    std::string name = line.substr(0, line.find_first_of("{ "));
    if (out.count(name) == 0) {
      for (absl::string_view suffix : {"_bucket", "_sum", "_count"}) {
        if (absl::EndsWith(name, suffix)) name = std::string(absl::StripSuffix(name, suffix));
      }
    }
    const size_t open = line.find('{'), close = line.find('}');
    if (open == std::string::npos) continue;
    for (absl::string_view pair : absl::StrSplit(line.substr(open + 1, close - open - 1), "\",", absl::SkipEmpty())) {
      const std::string label(pair.substr(0, pair.find('=')));
      if (label != "le") out[name].labels.insert(label);
    }
  }
  return out;
}

TEST(MetricsCatalog, TheServerExposesExactlyTheDocumentedFamilies) {
  const double started = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  TestServer t = StartTestServer();
  ASSERT_NE(t.server, nullptr);
  client::Lorenz63SimulationOptions sim;
  sim.windows = 4 * 8;
  client::CalibrationRunOptions run;
  run.model = "lorenz63";
  run.max_observations = 3;
  absl::StatusOr<client::CalibrationReport> report =
      client::StreamCalibration(*t.client, client::SimulateLorenz63Windows(sim).value(), run, nullptr);
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_TRUE(t.client->SaveCheckpoint("lorenz63").ok());
  v1::PredictRequest forecast;
  forecast.set_model("lorenz63");
  *forecast.mutable_initial_state() = F64({3}, {1.0, 1.0, 20.0});
  forecast.mutable_horizon()->set_horizon(0.1);
  forecast.mutable_horizon()->set_step(0.1);
  ASSERT_TRUE(t.client->Predict(forecast).ok());
  v1::ObserveRequest reports;
  reports.set_model("lorenz63");
  for (double time : {0.0, 0.05}) {
    v1::Report* r = reports.add_reports();
    r->set_entity("station-1");
    r->set_time(time);
    v1::Reading* x = r->add_readings();
    x->set_observable("x");
    x->set_value(1.0);
  }
  absl::StatusOr<v1::ObserveResponse> observed = t.client->Observe(reports);
  ASSERT_TRUE(observed.ok()) << observed.status();
  ASSERT_EQ(observed->outcomes(1).status().code(), 0) << observed->outcomes(1).status().message();
  const std::string text = ScrapeMetrics(t.server->metrics_port());
  ASSERT_FALSE(text.empty());

  const std::map<std::string, Family> documented = DocumentedFamilies();
  const std::map<std::string, Family> scraped = ScrapedFamilies(text);
  ASSERT_GE(documented.size(), 20u);
  for (const auto& [name, family] : documented) {
    auto it = scraped.find(name);
    ASSERT_NE(it, scraped.end()) << name << " is documented but not exposed";
    EXPECT_EQ(it->second.type, family.type) << name;
    EXPECT_EQ(it->second.labels, family.labels) << name;
  }
  for (const auto& [name, family] : scraped) {
    EXPECT_EQ(documented.count(name), 1u) << name << " is exposed but not in docs/metrics.md";
  }

  // Values the dashboard and the alert rules read.
  auto value = [&](const std::string& series) { return MetricValue(text, series).value_or(-1.0); };
  const std::string l63 = "{model=\"lorenz63\"}";
  EXPECT_EQ(value("hybrid_parameter_reference{model=\"lorenz63\",param=\"rho\"}"), 28.0);
  EXPECT_NEAR(value("hybrid_parameter_initial{model=\"lorenz63\",param=\"rho\"}"), 20.0, 2.0);  // 5% jitter, 5 members.
  EXPECT_GT(value("hybrid_parameter_spread{model=\"lorenz63\",param=\"rho\"}"), 0.0);
  EXPECT_EQ(value("hybrid_parameter_spread{model=\"lorenz63\",param=\"sigma\"}"), 0.0);  // Not trained, not jittered.
  EXPECT_EQ(value("hybrid_interval_coverage_target_ratio" + l63), 0.9);
  EXPECT_EQ(value("hybrid_model_state{model=\"lorenz63\",state=\"READY\"}"), 1.0);
  EXPECT_EQ(value("hybrid_model_state{model=\"lorenz63\",state=\"UNLOADED\"}"), 0.0);
  EXPECT_EQ(value("hybrid_calibrate_streams" + l63), 0.0);  // The stream has ended.
  const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  EXPECT_GE(value("hybrid_last_observation_timestamp_seconds" + l63), started);
  EXPECT_LE(value("hybrid_last_observation_timestamp_seconds" + l63), now);
  EXPECT_EQ(value("hybrid_last_observation_timestamp_seconds{model=\"pkpd\"}"), 0.0);  // Never calibrated.
  EXPECT_GE(value("hybrid_checkpoint_age_seconds" + l63), 0.0);
  EXPECT_LE(value("hybrid_checkpoint_age_seconds" + l63), now - started);
  EXPECT_EQ(value("hybrid_model_version" + l63), 3.0);  // Reports of entities make no version.
  EXPECT_EQ(value("hybrid_entities" + l63), 1.0);
  EXPECT_EQ(value("hybrid_entity_reports_total{model=\"lorenz63\",status=\"accepted\"}"), 2.0);
  EXPECT_GT(value("hybrid_online_crps{lead_le=\"0.1\",model=\"lorenz63\"}"), 0.0);
  EXPECT_EQ(value("hybrid_entities{model=\"pkpd\"}"), 0.0);
}

}  // namespace
}  // namespace hybrid::testing
