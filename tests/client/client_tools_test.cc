// hybridctl's building blocks, without a server: the progress line, the
// sparkline and watch frame, CSV column mapping (a shuffled file with
// extra columns gives exactly the windows of the plain one), and entity
// reports from CSV (readings, their noise, inputs; errors by line and column),
// and the forecast plot's gnuplot script (panels named with units).
#include <gtest/gtest.h>

#include <fstream>

#include "client/forecast_plot.h"
#include "client/observation_windows.h"
#include "client/progress_bar.h"
#include "client/report_csv.h"
#include "client/watch_view.h"
#include "tests/scoped_temp_dir.h"

namespace hybrid::client {
namespace {

TEST(ProgressLine, BarPercentRateAndEta) {
  EXPECT_EQ(RenderProgressLine(25, 100, 5.0, 20, "loss 0.5"),
            "[#####...............]  25%  25/100 obs  5.0/s  ETA 15s  loss 0.5");
  EXPECT_EQ(RenderProgressLine(100, 100, 4.0, 10, ""), "[##########] 100%  100/100 obs  25.0/s");
  EXPECT_EQ(RenderProgressLine(0, 100, 0.0, 4, ""), "[....]   0%  0/100 obs  0.0/s");
  EXPECT_EQ(RenderProgressLine(7, 0, 2.0, 10, "x"), "7 obs  3.5/s  x");  // Unknown total: no bar.
}

TEST(Sparkline, ScalesFromSmallestToLargest) {
  EXPECT_EQ(Sparkline({1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0}), "▁▂▃▄▅▆▇█");
  EXPECT_EQ(Sparkline({20.0, 28.0, 24.0}), "▁█▅");
  EXPECT_EQ(Sparkline({5.0, 5.0}), "▄▄");
  EXPECT_EQ(Sparkline({}), "");
}

TEST(WatchView, ShowsRateLossCoverageAndHistory) {
  WatchView view(3);
  v1::GetModelResponse model;
  model.mutable_config()->set_name("lorenz63");
  v1::ParameterEstimate* rho = model.add_parameters();
  rho->set_name("rho");
  rho->set_trainable(true);
  rho->set_value(20.0);
  model.set_observations_accepted(10);
  std::string first = view.Render(model, 0.0);
  EXPECT_NE(first.find("observations 10  (-/s)"), std::string::npos) << first;
  EXPECT_NE(first.find("no observation accepted yet"), std::string::npos) << first;
  model.set_observations_accepted(30);
  model.mutable_calibration()->set_loss(0.25);
  model.mutable_calibration()->set_coverage(0.7);
  model.mutable_calibration()->set_coverage_target(0.9);
  for (double value : {24.0, 28.0, 27.0}) {
    rho->set_value(value);
    first = view.Render(model, value == 24.0 ? 2.0 : 3.0);
  }
  EXPECT_NE(first.find("coverage 0.700 (target 0.90, BELOW)"), std::string::npos) << first;
  EXPECT_NE(first.find("loss 0.25"), std::string::npos) << first;
  // The last 3 of 20, 24, 28, 27: 24 lowest, 28 highest, 27 at 3/4 of the range (level 5.25 → ▆).
  EXPECT_NE(first.find("▁█▆"), std::string::npos) << first;
}

class CsvColumnsTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = dir_.File(name);
    std::ofstream(path) << text;
    return path;
  }
  testing::ScopedTempDir dir_;
};

TEST_F(CsvColumnsTest, ShuffledColumnsWithExtrasGiveThePlainWindows) {
  std::string plain = "t,x,y\n", shuffled = "sensor,y,note,t,x\n";
  for (int i = 0; i < 7; ++i) {
    const double t = 0.5 * i, x = i * i, y = -3.0 * i;
    plain += std::to_string(t) + "," + std::to_string(x) + "," + std::to_string(y) + "\n";
    shuffled += "s-" + std::to_string(i) + "," + std::to_string(y) + ",ok," + std::to_string(t) + "," +
                std::to_string(x) + "\n";
  }
  absl::StatusOr<WindowSet> expected = ReadCsvWindows(Write("plain.csv", plain), 2);
  absl::StatusOr<WindowSet> mapped = ReadCsvWindows(Write("shuffled.csv", shuffled), 2, {"t", {"x", "y"}});
  ASSERT_TRUE(expected.ok()) << expected.status();
  ASSERT_TRUE(mapped.ok()) << mapped.status();
  EXPECT_EQ(mapped->dim, 2);
  EXPECT_DOUBLE_EQ(mapped->step, 0.5);
  ASSERT_EQ(mapped->windows.size(), 3u);
  for (size_t w = 0; w < 3; ++w) {
    EXPECT_EQ(mapped->windows[w].start, expected->windows[w].start);
    EXPECT_EQ(mapped->windows[w].end, expected->windows[w].end);
  }
  // Indices (0-based) pick the same columns.
  absl::StatusOr<WindowSet> by_index = ReadCsvWindows(dir_.File("shuffled.csv"), 2, {"3", {"4", "1"}});
  ASSERT_TRUE(by_index.ok()) << by_index.status();
  EXPECT_EQ(by_index->windows[2].end, expected->windows[2].end);
}

TEST_F(CsvColumnsTest, ErrorsNameTheColumnAndLine) {
  const std::string path = Write("bad.csv", "t,x,y\n0,1,2\n1,2,oops\n2,3,4\n");
  absl::Status status = ReadCsvWindows(path, 1, {"t", {"x", "w"}}).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("--state_columns: " + path + " has no column 'w' (columns: t, x, y)"),
            std::string::npos)
      << status;
  status = ReadCsvWindows(path, 1).status();
  EXPECT_NE(status.message().find(":3: column y ('oops') is not a finite number"), std::string::npos) << status;
  // The bad cell is in a column not picked: fine.
  EXPECT_TRUE(ReadCsvWindows(path, 1, {"t", {"x"}}).ok());
  status = ReadCsvWindows(Write("short.csv", "0,1,2\n1,2\n"), 1).status();
  EXPECT_NE(status.message().find(":2: has 2 columns; column 2 is needed"), std::string::npos) << status;
}

TEST(ReportCsv, ReadingsNoiseAndInputsByColumnName) {
  testing::ScopedTempDir dir;
  const std::string path = dir.path() + "/clinic.csv";
  std::ofstream(path) << "# a clinic\nentity,time,plasma,plasma:std,response,oral\n"
                         "patient-17,0,,,,200\n"
                         "patient-17,0.5,1.9,0.2,98.5,\n"
                         "\n"
                         "patient-18, 1 ,2.5,,,\n";
  absl::StatusOr<std::vector<v1::Report>> reports = ReadReportsCsv(path, {"oral"});
  ASSERT_TRUE(reports.ok()) << reports.status();
  ASSERT_EQ(reports->size(), 3u);
  EXPECT_EQ((*reports)[0].entity(), "patient-17");
  EXPECT_EQ((*reports)[0].readings_size(), 0);
  ASSERT_EQ((*reports)[0].inputs_size(), 1);
  EXPECT_EQ((*reports)[0].inputs(0).input(), "oral");
  EXPECT_EQ((*reports)[0].inputs(0).value(), 200.0);
  const v1::Report& second = (*reports)[1];
  EXPECT_EQ(second.time(), 0.5);
  ASSERT_EQ(second.readings_size(), 2);
  EXPECT_EQ(second.readings(0).observable(), "plasma");
  EXPECT_EQ(second.readings(0).value(), 1.9);
  ASSERT_TRUE(second.readings(0).has_noise_std());
  EXPECT_EQ(second.readings(0).noise_std(), 0.2);
  EXPECT_FALSE(second.readings(1).has_noise_std());  // The model's default applies.
  EXPECT_EQ((*reports)[2].time(), 1.0);

  std::ofstream(path) << "entity,time,plasma\np1,0,abc\n";
  EXPECT_NE(ReadReportsCsv(path, {}).status().message().find("clinic.csv:2: column 'plasma': 'abc' is not a number"),
            std::string::npos);
  std::ofstream(path) << "entity,plasma\np1,1\n";
  EXPECT_NE(ReadReportsCsv(path, {}).status().message().find("an `entity` and a `time` column"), std::string::npos);
  std::ofstream(path) << "entity,time,x:std\n";
  EXPECT_NE(ReadReportsCsv(path, {}).status().message().find("column 'x:std' has no 'x' column"), std::string::npos);
  std::ofstream(path) << "entity,time,x\np1,0,\n";
  EXPECT_NE(ReadReportsCsv(path, {}).status().message().find(":2: the row has neither readings nor inputs"),
            std::string::npos);
  EXPECT_EQ(ReadReportsCsv(dir.path() + "/none.csv", {}).status().code(), absl::StatusCode::kNotFound);
}

TEST(ForecastPlot, PanelsAreNamedWithUnitsAndAnEntitysTimeIsLeadTime) {
  v1::PredictResponse f;
  f.set_model("pkpd");
  f.mutable_mean()->add_shape(2);
  f.mutable_mean()->add_shape(3);
  f.add_intervals()->set_level(0.5);
  f.add_intervals()->set_level(0.9);
  for (const auto& [name, unit] :
       std::vector<std::pair<std::string, std::string>>{{"depot", "mg"}, {"response", "1"}, {"plasma", "mg/L"}}) {
    v1::StateComponent* c = f.add_state_components();
    c->set_name(name);
    c->set_unit(unit);
  }
  f.set_start_time(2.5);
  const std::string script = ForecastPlotScript(f, "/d/forecast.dat", "/d/out.png");
  EXPECT_NE(script.find("set ylabel 'depot [mg]'"), std::string::npos) << script;
  EXPECT_NE(script.find("set ylabel 'response'\n"), std::string::npos);  // Dimensionless: no unit.
  EXPECT_NE(script.find("set ylabel 'plasma [mg/L]'"), std::string::npos);
  EXPECT_NE(script.find("set xlabel 'lead time from the entity''s clock t = 2.5'"), std::string::npos);
  // The 90% band (widest) is drawn first: columns 3:4 of the first panel, then the 50% band's 5:6.
  EXPECT_LT(script.find("using 1:3:4"), script.find("using 1:5:6"));
  f.clear_state_components();
  f.set_start_time(0.0);
  const std::string plain = ForecastPlotScript(f, "/d/forecast.dat", "/d/out.png");
  EXPECT_NE(plain.find("set ylabel 'x2'"), std::string::npos);
  EXPECT_NE(plain.find("set xlabel 't'"), std::string::npos);
}

}  // namespace
}  // namespace hybrid::client
