// What the training benchmarks share: their command line (--rounds=N,
// --torch_reference_ms=X: PyTorch's time, measured by scripts/bench just
// before) and ms per iteration of a step function over rounds that
// interleave the implementations compared (so that drifts of the machine's
// speed hit them all alike), summarised by median, min and max.
//
//   const std::optional<BenchmarkOptions> options = ParseBenchmarkOptions(argc, argv, "training_benchmark", 15);
//   Timing fused;
//   for (int r = 0; r < options->rounds; ++r) fused.ms.push_back(TimeIterations([&] { step(); }, 20));
//   std::printf("%.3f", fused.Median());
//
// Not thread-safe; wall-clock (steady_clock).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <optional>
#include <vector>

namespace hybrid::bench {

struct BenchmarkOptions {
  int rounds = 1;
  double torch_reference_ms = 0.0;  // 0: not measured.
};

// The options, or nullopt after printing the usage of `name` for an unknown argument.
inline std::optional<BenchmarkOptions> ParseBenchmarkOptions(int argc, char** argv, const char* name,
                                                             int default_rounds) {
  BenchmarkOptions options{default_rounds, 0.0};
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--rounds=", 9) == 0) {
      options.rounds = std::max(1, std::atoi(argv[i] + 9));
    } else if (std::strncmp(argv[i], "--torch_reference_ms=", 21) == 0) {
      options.torch_reference_ms = std::atof(argv[i] + 21);
    } else {
      std::fprintf(stderr, "usage: %s [--rounds=N] [--torch_reference_ms=X]\n", name);
      return std::nullopt;
    }
  }
  return options;
}

struct Timing {
  std::vector<double> ms;  // One mean per round, ms per iteration.
  double Median() const {
    std::vector<double> s = ms;
    std::sort(s.begin(), s.end());
    return s[s.size() / 2];
  }
  double Min() const { return *std::min_element(ms.begin(), ms.end()); }
  double Max() const { return *std::max_element(ms.begin(), ms.end()); }
};

// Mean ms per call of `step` over `iterations` calls.
inline double TimeIterations(const std::function<void()>& step, int iterations) {
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < iterations; ++i) step();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() / iterations;
}

}  // namespace hybrid::bench
