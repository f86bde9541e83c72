#include "client/progress_bar.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace hybrid::client {

std::string RenderProgressLine(int64_t done, int64_t total, double elapsed_s, int bar_width,
                               const std::string& detail) {
  const double rate = elapsed_s > 0 ? static_cast<double>(done) / elapsed_s : 0.0;
  std::string line;
  if (total > 0) {
    const double fraction = std::clamp(static_cast<double>(done) / static_cast<double>(total), 0.0, 1.0);
    const int filled = static_cast<int>(std::floor(fraction * bar_width));
    line = absl::StrCat(
        "[", std::string(filled, '#'), std::string(bar_width - filled, '.'), "] ",
        absl::StrFormat("%3d%%  %d/%d obs  %.1f/s", static_cast<int>(std::floor(100 * fraction)), done, total, rate));
    if (done < total && rate > 0) {
      absl::StrAppend(&line, absl::StrFormat("  ETA %.0fs", static_cast<double>(total - done) / rate));
    }
  } else {
    line = absl::StrFormat("%d obs  %.1f/s", done, rate);
  }
  if (!detail.empty()) absl::StrAppend(&line, "  ", detail);
  return line;
}

ProgressBar::ProgressBar(std::FILE* out, bool enabled) : out_(out), enabled_(enabled) {}

void ProgressBar::Update(int64_t done, int64_t total, const std::string& detail) {
  done_ = done;
  total_ = total;
  detail_ = detail;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ < std::chrono::milliseconds(100)) return;  // A terminal needs no more than 10 redraws/s.
  last_draw_ = now;
  Draw();
}

void ProgressBar::Finish() {
  if (finished_) return;
  finished_ = true;
  Draw();
  if (enabled_) std::fputc('\n', out_);
}

void ProgressBar::Draw() {
  if (!enabled_) return;
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  // \r back to the line start, \x1b[K clears what a longer previous line left.
  std::fprintf(out_, "\r%s\x1b[K", RenderProgressLine(done_, total_, elapsed, 30, detail_).c_str());
  std::fflush(out_);
}

}  // namespace hybrid::client
