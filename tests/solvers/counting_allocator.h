// Measures tensor memory in tests: a CPU allocator that wraps LibTorch's
// default one and counts the bytes of live tensor storage and their peak.
//
//   CountingAllocator& counter = CountingAllocator::Install();
//   counter.ResetPeak();
//   ... work ...
//   size_t peak = counter.peak_bytes() - counter_baseline;
//
// Installed once per process (LibTorch keeps the highest-priority allocator).
// Counts storage bytes only, not allocator or autograd bookkeeping.
#pragma once

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>

#include <algorithm>
#include <atomic>
#include <cstddef>

namespace hybrid::testing {

class CountingAllocator final : public c10::Allocator {
 public:
  static CountingAllocator& Install() {
    static CountingAllocator* instance = [] {
      auto* a = new CountingAllocator(c10::GetDefaultCPUAllocator());
      c10::SetCPUAllocator(a, /*priority=*/100);
      return a;
    }();
    return *instance;
  }

  size_t live_bytes() const { return live_; }
  size_t peak_bytes() const { return peak_; }
  void ResetPeak() { peak_ = live_.load(); }

  c10::DataPtr allocate(size_t n) const override {
    c10::DataPtr inner = base_->allocate(n);
    void* data = inner.get();
    auto* context = new Context{std::move(inner), n, this};
    const size_t now = live_ += n;
    size_t seen = peak_;
    while (now > seen && !peak_.compare_exchange_weak(seen, now)) {
    }
    return {data, context, &Release, c10::Device(c10::DeviceType::CPU)};
  }

  c10::DeleterFnPtr raw_deleter() const override { return nullptr; }

 private:
  struct Context {
    c10::DataPtr inner;
    size_t bytes;
    const CountingAllocator* owner;
  };

  explicit CountingAllocator(c10::Allocator* base) : base_(base) {}

  static void Release(void* p) {
    auto* context = static_cast<Context*>(p);
    context->owner->live_ -= context->bytes;
    delete context;  // Frees through the wrapped allocator's deleter.
  }

  c10::Allocator* base_;
  mutable std::atomic<size_t> live_{0};
  mutable std::atomic<size_t> peak_{0};
};

}  // namespace hybrid::testing
