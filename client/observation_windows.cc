#include "client/observation_windows.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace hybrid::client {
namespace {

std::vector<double> Derivative(const std::vector<double>& s, double sigma, double rho, double beta) {
  return {sigma * (s[1] - s[0]), s[0] * (rho - s[2]) - s[1], s[0] * s[1] - beta * s[2]};
}

std::vector<double> Axpy(const std::vector<double>& x, double a, const std::vector<double>& k) {
  std::vector<double> out(x.size());
  for (size_t i = 0; i < x.size(); ++i) out[i] = x[i] + a * k[i];
  return out;
}

absl::Status ValidateSimulation(const Lorenz63SimulationOptions& o) {
  if (!(o.dt > 0.0)) return absl::InvalidArgumentError("dt must be > 0");
  if (o.window_steps < 1) return absl::InvalidArgumentError("window_steps must be ≥ 1");
  if (o.windows < 1) return absl::InvalidArgumentError("windows must be ≥ 1");
  if (!(o.noise_std >= 0.0)) return absl::InvalidArgumentError("noise must be ≥ 0");
  return absl::OkStatus();
}

// Calls `sample(t, true_state, observed_state)` for `count` samples dt apart, after spin-up.
template <typename Sample>
void Simulate(const Lorenz63SimulationOptions& o, int64_t count, Sample sample) {
  std::mt19937_64 rng(o.seed);
  std::normal_distribution<double> noise(0.0, o.noise_std);
  std::vector<double> x = {8.0, 0.0, 30.0};  // Ouala et al.'s start; spin-up forgets it.
  for (int64_t i = 0; i < static_cast<int64_t>(o.spinup / o.dt); ++i)
    x = Lorenz63Rk4Step(x, o.dt, o.sigma, o.rho, o.beta);
  for (int64_t k = 0; k < count; ++k) {
    std::vector<double> observed = x;
    if (o.noise_std > 0.0)
      for (double& v : observed) v += noise(rng);
    sample(static_cast<double>(k) * o.dt, x, observed);
    x = Lorenz63Rk4Step(x, o.dt, o.sigma, o.rho, o.beta);
  }
}

}  // namespace

std::vector<double> Lorenz63Rk4Step(const std::vector<double>& x, double h, double sigma, double rho, double beta) {
  const std::vector<double> k1 = Derivative(x, sigma, rho, beta);
  const std::vector<double> k2 = Derivative(Axpy(x, h / 2, k1), sigma, rho, beta);
  const std::vector<double> k3 = Derivative(Axpy(x, h / 2, k2), sigma, rho, beta);
  const std::vector<double> k4 = Derivative(Axpy(x, h, k3), sigma, rho, beta);
  std::vector<double> out(3);
  for (int i = 0; i < 3; ++i) out[i] = x[i] + h / 6 * (k1[i] + 2 * k2[i] + 2 * k3[i] + k4[i]);
  return out;
}

absl::StatusOr<WindowSet> SimulateLorenz63Windows(const Lorenz63SimulationOptions& o) {
  if (absl::Status s = ValidateSimulation(o); !s.ok()) return s;
  WindowSet set;
  set.dim = 3;
  set.step = o.dt;
  set.steps = o.window_steps;
  set.true_parameters = {{"sigma", o.sigma}, {"rho", o.rho}, {"beta", o.beta}};
  std::vector<double> prev_true, prev_obs;
  int64_t k = 0;
  Simulate(o, o.windows * o.window_steps + 1,
           [&](double, const std::vector<double>& truth, const std::vector<double>& obs) {
             if (k % o.window_steps == 0) {
               if (k > 0) set.windows.push_back({prev_obs, obs, prev_true});
               prev_true = truth;
               prev_obs = obs;
             }
             ++k;
           });
  return set;
}

absl::Status WriteLorenz63Csv(const std::string& path, const Lorenz63SimulationOptions& o, int64_t samples) {
  if (absl::Status s = ValidateSimulation(o); !s.ok()) return s;
  std::ofstream out(path);
  if (!out) return absl::UnavailableError(absl::StrCat("cannot write ", path));
  out.precision(17);
  out << "t,x,y,z\n";
  Simulate(o, samples, [&](double t, const std::vector<double>&, const std::vector<double>& obs) {
    out << t << ',' << obs[0] << ',' << obs[1] << ',' << obs[2] << '\n';
  });
  out.close();
  if (!out) return absl::UnavailableError(absl::StrCat("writing ", path, " failed"));
  return absl::OkStatus();
}

namespace {

// The index of `column` (a header name, or a 0-based index) in `header`.
absl::StatusOr<size_t> ColumnIndex(const std::string& column, const std::vector<std::string>& header,
                                   const std::string& flag, const std::string& path) {
  for (size_t i = 0; i < header.size(); ++i) {
    if (header[i] == column) return i;
  }
  size_t index = 0;
  if (absl::SimpleAtoi(column, &index)) return index;
  return absl::InvalidArgumentError(absl::StrCat(flag, ": ", path, " has no column '", column, "' (columns: ",
                                                 header.empty() ? "no header" : absl::StrJoin(header, ", "), ")"));
}

}  // namespace

absl::StatusOr<WindowSet> ReadCsvWindows(const std::string& path, int window_steps, const CsvColumns& columns) {
  if (window_steps < 1) return absl::InvalidArgumentError("window_steps must be ≥ 1");
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::vector<std::string> header;
  // Column indices: time, then state components in the model's order. Resolved at the first line.
  std::vector<size_t> picked;
  bool first_line = true;
  std::vector<double> times;
  std::vector<std::vector<double>> rows;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    absl::string_view text = absl::StripAsciiWhitespace(line);
    if (text.empty() || text[0] == '#') continue;
    std::vector<std::string> cells;
    for (absl::string_view cell : absl::StrSplit(text, ',')) cells.emplace_back(absl::StripAsciiWhitespace(cell));
    if (first_line) {
      first_line = false;
      // A first line with any non-numeric cell is the header naming the columns.
      double ignored;
      if (std::any_of(cells.begin(), cells.end(),
                      [&](const std::string& c) { return !absl::SimpleAtod(c, &ignored); })) {
        header = cells;
        continue;
      }
    }
    if (picked.empty()) {
      const size_t width = header.empty() ? cells.size() : header.size();
      absl::StatusOr<size_t> time =
          ColumnIndex(columns.time.empty() ? "0" : columns.time, header, "--time_column", path);
      if (!time.ok()) return time.status();
      picked.push_back(*time);
      if (columns.state.empty()) {
        for (size_t c = 0; c < width; ++c)
          if (c != *time) picked.push_back(c);
      }
      for (const std::string& name : columns.state) {
        absl::StatusOr<size_t> index = ColumnIndex(name, header, "--state_columns", path);
        if (!index.ok()) return index.status();
        picked.push_back(*index);
      }
      if (picked.size() < 2)
        return absl::InvalidArgumentError(absl::StrCat(path, ": need a time and ≥ 1 state column"));
    }
    std::vector<double> values;
    for (size_t c : picked) {
      double v;
      if (c >= cells.size()) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ":", number, ": has ", cells.size(), " columns; column ", c, " is needed"));
      }
      if (!absl::SimpleAtod(cells[c], &v) || !std::isfinite(v)) {
        return absl::InvalidArgumentError(absl::StrCat(path, ":", number, ": column ",
                                                       header.size() > c ? header[c] : absl::StrCat(c), " ('", cells[c],
                                                       "') is not a finite number"));
      }
      values.push_back(v);
    }
    times.push_back(values[0]);
    rows.emplace_back(values.begin() + 1, values.end());
  }
  if (rows.size() < static_cast<size_t>(window_steps) + 1) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": need at least ", window_steps + 1, " rows"));
  }
  const double dt = times[1] - times[0];
  for (size_t i = 1; i < times.size(); ++i) {
    const double gap = times[i] - times[i - 1];
    if (!(gap > 0.0) || std::abs(gap - dt) > 1e-6 * std::abs(dt)) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": times must be strictly increasing and uniformly spaced (row ", i + 1, ")"));
    }
  }
  WindowSet set;
  set.dim = static_cast<int>(rows.front().size());
  set.step = dt;
  set.steps = window_steps;
  for (size_t k = 0; k + window_steps < rows.size(); k += window_steps) {
    set.windows.push_back({rows[k], rows[k + window_steps], {}});
  }
  return set;
}

}  // namespace hybrid::client
