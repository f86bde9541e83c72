// Observation windows for Calibrate, from a simulated Lorenz-63 or a CSV file.
//
//   absl::StatusOr<WindowSet> s = SimulateLorenz63Windows(options);
//   absl::StatusOr<WindowSet> s = ReadCsvWindows("run.csv", /*window_steps=*/10);
//
// A window is (start, end) states `steps` samples apart (step = sample spacing).
// The simulator is plain C++ (RK4, float64), independent of the server's
// LibTorch solvers, so the demo checks the server against separate code.
// Windows do not overlap: window k+1 starts where window k ends.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace hybrid::client {

struct Window {
  std::vector<double> start, end;  // Observed (noisy) states.
  std::vector<double> true_start;  // Noise-free start, when known (simulation).
};

struct WindowSet {
  int dim = 0;
  double step = 0.0;  // Time between samples = RK4 step sent to the server.
  int steps = 0;      // Samples per window.
  std::vector<Window> windows;
  std::vector<std::pair<std::string, double>> true_parameters;  // Simulation only.
};

struct Lorenz63SimulationOptions {
  double sigma = 10.0, rho = 28.0, beta = 8.0 / 3.0;
  double dt = 0.01;
  int window_steps = 10;
  int64_t windows = 1000;
  double noise_std = 0.0;  // Gaussian noise added to observed states.
  double spinup = 5.0;     // Time units discarded to reach the attractor.
  uint64_t seed = 1;
};

// One classic RK4 step of Lorenz-63.
std::vector<double> Lorenz63Rk4Step(const std::vector<double>& x, double h, double sigma, double rho, double beta);

absl::StatusOr<WindowSet> SimulateLorenz63Windows(const Lorenz63SimulationOptions& options);

// Which CSV columns hold the time and the state components (in the model's
// state order): header names, or 0-based indices. Empty: the first column is
// the time and every other column, in file order, the state.
struct CsvColumns {
  std::string time;
  std::vector<std::string> state;
};

// CSV: an optional header line naming the columns (a first line with any
// non-numeric cell is the header); then rows with strictly
// increasing, uniformly spaced times (relative tolerance 1e-6). Columns not
// picked are ignored (they need not be numbers). INVALID_ARGUMENT names the
// line and column for malformed rows, and lists the header for unknown names.
absl::StatusOr<WindowSet> ReadCsvWindows(const std::string& path, int window_steps, const CsvColumns& columns = {});

// Writes a simulated trajectory as CSV "t,x,y,z" (noisy when noise_std > 0).
absl::Status WriteLorenz63Csv(const std::string& path, const Lorenz63SimulationOptions& options, int64_t samples);

}  // namespace hybrid::client
