#include "client/forecast_plot.h"

#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"

namespace hybrid::client {
namespace {

double At(const v1::Tensor& t, int i) { return t.dtype() == v1::DTYPE_FLOAT32 ? t.f32(i) : t.f64(i); }

// A gnuplot single-quoted string: a quote is written twice.
std::string Quoted(const std::string& text) { return absl::StrCat("'", absl::StrReplaceAll(text, {{"'", "''"}}), "'"); }

// Interval indices, widest first, so that narrower bands are drawn over it.
std::vector<int> WidestFirst(const v1::PredictResponse& forecast) {
  std::vector<int> order(forecast.intervals_size());
  for (int i = 0; i < forecast.intervals_size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](int a, int b) { return forecast.intervals(a).level() > forecast.intervals(b).level(); });
  return order;
}

}  // namespace

std::string ForecastPlotScript(const v1::PredictResponse& forecast, const std::string& data_path,
                               const std::string& png_path) {
  const int dim = static_cast<int>(forecast.mean().shape(1));
  const std::vector<int> order = WidestFirst(forecast);
  const int per_component = 1 + 2 * static_cast<int>(order.size());
  static const char* const kBands[] = {"#c6dbef", "#9ecae1", "#6baed6", "#4292c6"};
  std::string title = absl::StrFormat("%s, version %d, %d members", forecast.model(), forecast.model_version(),
                                      forecast.ensemble_size());
  std::ostringstream script;
  script << "set terminal pngcairo size 900," << 220 * dim + 60 << " font ',10'\n"
         << "set output " << Quoted(png_path) << "\n"
         << "set multiplot layout " << dim << ",1 title " << Quoted(title) << "\nset key outside right\nset grid\n"
         << "set xlabel "
         << Quoted(forecast.start_time() != 0.0  // An entity's forecast from its clock (0: lead = t).
                       ? absl::StrFormat("lead time from the entity's clock t = %g", forecast.start_time())
                       : std::string("t"))
         << "\n";
  for (int d = 0; d < dim; ++d) {
    const int base = 2 + d * per_component;  // gnuplot columns are 1-based; column 1 is t.
    std::string label = absl::StrCat("x", d + 1);
    if (d < forecast.state_components_size()) {
      const v1::StateComponent& c = forecast.state_components(d);
      label = c.unit().empty() || c.unit() == "1" ? c.name() : absl::StrCat(c.name(), " [", c.unit(), "]");
    }
    script << "set ylabel " << Quoted(label) << "\nplot ";
    for (size_t b = 0; b < order.size(); ++b) {
      script << Quoted(data_path) << " using 1:" << base + 1 + 2 * b << ":" << base + 2 + 2 * b
             << " with filledcurves fc rgb '" << kBands[std::min<size_t>(b, 3)] << "' title '"
             << absl::StrFormat("%.0f%%", 100 * forecast.intervals(order[b]).level()) << "', ";
    }
    script << Quoted(data_path) << " using 1:" << base << " with lines lw 2 lc rgb '#08306b' title 'mean'\n";
  }
  script << "unset multiplot\n";
  return script.str();
}

absl::Status PlotForecast(const v1::PredictResponse& forecast, const std::string& png_path) {
  if (forecast.mean().shape_size() != 2) {
    return absl::InvalidArgumentError("--plot draws forecasts from one initial state ([D]), not batches");
  }
  const int times = forecast.times_size(), dim = static_cast<int>(forecast.mean().shape(1));
  std::string folder = (std::filesystem::temp_directory_path() / "hybridctl-plot-XXXXXX").string();
  if (::mkdtemp(folder.data()) == nullptr) return absl::UnavailableError("cannot make a temporary folder");
  struct Cleanup {
    std::string path;
    ~Cleanup() {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
  } cleanup{folder};

  // Columns: t, then per component: mean, then lower/upper of each interval, widest first.
  const std::vector<int> order = WidestFirst(forecast);
  std::ofstream data(folder + "/forecast.dat");
  data.precision(12);
  for (int t = 0; t < times; ++t) {
    data << forecast.times(t);
    for (int d = 0; d < dim; ++d) {
      const int i = t * dim + d;
      data << ' ' << At(forecast.mean(), i);
      for (int k : order)
        data << ' ' << At(forecast.intervals(k).lower(), i) << ' ' << At(forecast.intervals(k).upper(), i);
    }
    data << '\n';
  }
  data.close();
  std::ofstream script(folder + "/plot.gp");
  script << ForecastPlotScript(forecast, folder + "/forecast.dat", png_path);
  script.close();

  const std::string command = absl::StrCat("gnuplot ", Quoted(folder + "/plot.gp"), " 2>", Quoted(folder + "/err"));
  const int rc = std::system(command.c_str());
  if (rc != 0) {
    std::ifstream err(folder + "/err");
    const std::string message((std::istreambuf_iterator<char>(err)), std::istreambuf_iterator<char>());
    return absl::FailedPreconditionError(
        absl::StrCat("gnuplot failed (", rc == 127 * 256 ? "not installed: apt install gnuplot-nox" : message, ")"));
  }
  if (!std::filesystem::exists(png_path)) return absl::FailedPreconditionError("gnuplot wrote no " + png_path);
  return absl::OkStatus();
}

}  // namespace hybrid::client
