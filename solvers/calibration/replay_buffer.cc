#include "solvers/calibration/replay_buffer.h"

#include <ATen/ATen.h>

#include <sstream>
#include <vector>

namespace hybrid::solvers {

void ReplayBuffer::Add(const WindowBatch& batch) {
  if (capacity_ <= 0) return;
  for (int64_t w = 0; w < batch.start.size(0); ++w) {
    windows_.push_back({batch.start[w].detach().clone(), batch.end[w].detach().clone(),
                        batch.mask.defined() ? batch.mask[w].clone() : at::Tensor(),
                        batch.path.defined() ? batch.path[w].detach().clone() : at::Tensor(), batch.step, batch.steps});
    if (static_cast<int64_t>(windows_.size()) > capacity_) windows_.pop_front();
  }
}

std::optional<WindowBatch> ReplayBuffer::Sample(int64_t count, double step, int64_t steps, bool with_path) {
  std::vector<size_t> matching;
  for (size_t i = 0; i < windows_.size(); ++i) {
    const Window& w = windows_[i];
    if (w.step == step && w.steps == steps && w.path.defined() == with_path) matching.push_back(i);
  }
  if (matching.empty() || count <= 0) return std::nullopt;
  std::uniform_int_distribution<size_t> pick(0, matching.size() - 1);
  std::vector<at::Tensor> starts, ends, masks, paths;
  bool any_mask = false;
  for (int64_t k = 0; k < count; ++k) {
    const Window& w = windows_[matching[pick(random_)]];
    starts.push_back(w.start);
    ends.push_back(w.end);
    masks.push_back(w.mask);
    if (with_path) paths.push_back(w.path);
    any_mask = any_mask || w.mask.defined();
  }
  WindowBatch batch;
  batch.start = at::stack(starts);
  batch.end = at::stack(ends);
  if (with_path) batch.path = at::stack(paths);
  if (any_mask) {
    for (at::Tensor& m : masks) {
      if (!m.defined()) m = at::ones_like(batch.end[0]);
    }
    batch.mask = at::stack(masks);
  }
  batch.step = step;
  batch.steps = steps;
  return batch;
}

std::string ReplayBuffer::RandomState() const {
  std::ostringstream out;
  out << random_;
  return out.str();
}

absl::Status ReplayBuffer::Restore(std::deque<Window> windows, const std::string& random_state) {
  std::istringstream in(random_state);
  std::mt19937_64 random;
  in >> random;
  if (!in) return absl::InvalidArgumentError("replay buffer: unreadable sampler state");
  random_ = random;
  windows_ = std::move(windows);
  while (static_cast<int64_t>(windows_.size()) > capacity_) windows_.pop_front();
  return absl::OkStatus();
}

}  // namespace hybrid::solvers
