// The fused ensemble RK4 forward of solvers/fused/ensemble_rk4_kernel.h on an
// NVIDIA GPU: one CUDA thread per trajectory (member m, state b) runs all its
// steps in registers, evaluating physics + MLP correction at every stage; the
// member's layers are read through the read-only cache. A standalone library
// over raw device pointers (no LibTorch, no CUDA types in this header), so it
// builds wherever nvcc is, with or without a GPU, and is checked against an
// independent CPU reference by tests/device/ (scripts/device-check).
//
//   DeviceField<float> f;   // device pointers, as HybridFieldArrays lays them out
//   std::string error = Rk4ForwardOnDevice(f, x0, h, steps, every, path);   // "" when it ran
//
// Field of member m: F_m(x) = f(x; θ_m) + gain · mask ⊙ MLP_m((x − center) / scale),
// f Lorenz-63 (Physics::kLorenz63, θ [M, 3] = σ, ρ, β values) or none; the MLP
// h ← tanh(h W_k[m] + b_k[m]), no tanh on the last layer, widths ≤ kMaxWidth.
// Layouts (row-major, device memory): x0 [M, B, D]; path [M, steps/every + 1,
// B, D] (the start, then every `every`-th step; steps % every == 0); weight k
// [M, widths[k], widths[k+1]]; bias k [M, widths[k+1]]; center/scale/mask [D]
// or null. Runs on the current device and stream 0, and returns after the
// kernel finished. Errors (returned, never thrown): a width or D over the
// limits, steps % every ≠ 0, or CUDA's own message (no device, bad pointer).
// Thread-safe as CUDA is.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hybrid::solvers::cuda {

constexpr int64_t kMaxWidth = 64;  // Per-thread activations live in registers/local memory.
constexpr int64_t kMaxLayers = 6;

enum class Physics { kNone, kLorenz63 };

template <typename T>
struct DeviceField {
  int64_t members = 1;
  int64_t batch = 1;
  int64_t dim = 0;
  Physics physics = Physics::kNone;
  const T* theta = nullptr;     // [M, P] physical values, device.
  std::vector<int64_t> widths;  // D, hidden…, D; empty: no network.
  std::vector<const T*> weights;
  std::vector<const T*> biases;
  const T* center = nullptr;
  const T* scale = nullptr;
  const T* mask = nullptr;
  T gain = 1;
};

template <typename T>
std::string Rk4ForwardOnDevice(const DeviceField<T>& field, const T* x0, T h, int64_t steps, int64_t every, T* path);

// "" when a CUDA device can run kernels; otherwise why not (CUDA's message).
std::string DeviceStatus();

}  // namespace hybrid::solvers::cuda
