#include "client/watch_view.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace hybrid::client {

std::string Sparkline(const std::vector<double>& values) {
  static const char* const kBars[] = {"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
  if (values.empty()) return "";
  const auto [lo, hi] = std::minmax_element(values.begin(), values.end());
  std::string out;
  for (double v : values) {
    const int level = *hi > *lo ? static_cast<int>(std::lround((v - *lo) / (*hi - *lo) * 7)) : 3;
    out += kBars[std::clamp(level, 0, 7)];
  }
  return out;
}

std::string WatchView::Render(const v1::GetModelResponse& model, double seconds) {
  const uint64_t observations = model.observations_accepted();
  std::string rate = "-";
  if (last_seconds_ >= 0 && seconds > last_seconds_ && observations >= last_observations_) {
    rate = absl::StrFormat("%.1f", static_cast<double>(observations - last_observations_) / (seconds - last_seconds_));
  }
  last_seconds_ = seconds;
  last_observations_ = observations;
  std::string frame = absl::StrFormat("%s  version %d  observations %d  (%s/s)\n", model.config().name(),
                                      model.version(), observations, rate);
  if (model.has_calibration()) {
    const v1::CalibrationStatus& c = model.calibration();
    absl::StrAppend(&frame,
                    absl::StrFormat("  loss %-10.4g coverage %.3f (target %.2f%s)  queue %d\n", c.loss(), c.coverage(),
                                    c.coverage_target(), c.coverage() + 0.1 < c.coverage_target() ? ", BELOW" : "",
                                    c.queue_depth()));
  } else {
    absl::StrAppend(&frame, "  no observation accepted yet\n");
  }
  for (const v1::ParameterEstimate& p : model.parameters()) {
    std::deque<double>& history = values_[p.name()];
    history.push_back(p.value());
    while (history.size() > history_) history.pop_front();
    absl::StrAppend(&frame,
                    absl::StrFormat("  %-10s %12.6g ± %-10.3g %s%s\n", p.name(), p.value(), p.std(),
                                    Sparkline({history.begin(), history.end()}), p.trainable() ? "" : "  (fixed)"));
  }
  return frame;
}

}  // namespace hybrid::client
