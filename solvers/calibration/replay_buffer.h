// ReplayBuffer: the most recent observation windows, replayed as extra
// minibatch rows so that an online update does not chase only the newest
// window (catastrophic forgetting on a stream that dwells in one regime).
//
//   ReplayBuffer buffer(/*capacity=*/512, /*seed=*/7);
//   buffer.Add(batch);                                    // start/end [W, D]
//   std::optional<WindowBatch> extra = buffer.Sample(32, batch.step, batch.steps, /*with_path=*/false);
//
// Only windows with the same step, step count and kind (with or without an
// observed path) are replayed together (one rollout per update). Deterministic for a given seed and call sequence, so a
// replayed stream reaches the same parameters. Not thread-safe: one owner.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <deque>
#include <optional>
#include <random>
#include <string>

#include "absl/status/status.h"
#include "solvers/hybrid/window_loss.h"

namespace hybrid::solvers {

class ReplayBuffer {
 public:
  ReplayBuffer(int64_t capacity, uint64_t seed) : capacity_(capacity), random_(seed) {}

  // Stores every window of the batch (oldest dropped beyond capacity).
  void Add(const WindowBatch& batch);
  // `count` windows drawn uniformly with replacement among the stored ones of
  // this step, step count and kind; nullopt when there are none.
  std::optional<WindowBatch> Sample(int64_t count, double step, int64_t steps, bool with_path);
  int64_t size() const { return static_cast<int64_t>(windows_.size()); }

  struct Window {
    at::Tensor start, end, mask;  // [D] each; mask undefined when fully observed.
    at::Tensor path;              // [steps, D], or undefined.
    double step;
    int64_t steps;
  };
  // The whole state, for checkpoints: stored windows (oldest first) and the
  // sampler's engine state (std::mt19937_64 text form).
  const std::deque<Window>& windows() const { return windows_; }
  std::string RandomState() const;
  // INVALID_ARGUMENT (buffer unchanged) for an unreadable engine state.
  absl::Status Restore(std::deque<Window> windows, const std::string& random_state);

 private:
  int64_t capacity_;
  std::mt19937_64 random_;
  std::deque<Window> windows_;
};

}  // namespace hybrid::solvers
