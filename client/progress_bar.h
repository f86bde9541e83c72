// A one-line progress bar for long client work (hybridctl calibrate):
//
//   [##########..........]  50%  500/1000 obs  120.4/s  ETA 4s  loss 0.0123
//
//   ProgressBar bar(stderr, /*enabled=*/isatty(2));
//   bar.Update(done, /*total=*/1000, "loss 0.0123");   // redrawn at most 10 times a second
//   bar.Finish();                      // final state, newline
//
// Disabled, it prints nothing: logs and pipes get the periodic report lines
// instead. Not thread-safe: one thread updates it.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace hybrid::client {

// The line for `done` of `total` after `elapsed_s` seconds (total ≤ 0: no bar,
// count and rate only), with `detail` appended.
std::string RenderProgressLine(int64_t done, int64_t total, double elapsed_s, int bar_width, const std::string& detail);

class ProgressBar {
 public:
  ProgressBar(std::FILE* out, bool enabled);
  void Update(int64_t done, int64_t total, const std::string& detail);
  void Finish();

 private:
  void Draw();

  std::FILE* const out_;
  const bool enabled_;
  const std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_draw_{};
  int64_t done_ = 0;
  int64_t total_ = 0;
  std::string detail_;
  bool finished_ = false;
};

}  // namespace hybrid::client
