// The GPU ensemble RK4 kernel (solvers/fused/cuda/) against an independent
// CPU reference written here (plain loops, double), then timed on the
// DiffEqGPU setting: Lorenz-63 ensembles of 8 192 and 1 048 576 trajectories,
// each with its own parameters, × 1000 fixed RK4 steps in float32, against the
// same reference on one CPU core in the same run. Needs an NVIDIA GPU: exits
// 77 (skipped) without one. Run by scripts/device-check.
//
//   cuda_rk4_check [--quick]   (--quick: the check and the 8 192 ensemble only)
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "solvers/fused/cuda/ensemble_rk4_cuda.h"
#include "solvers/physics/lorenz63_equations.h"

namespace {

using hybrid::solvers::cuda::DeviceField;
using hybrid::solvers::cuda::Physics;
using Clock = std::chrono::steady_clock;

// Host arrays of a field; the device copy is made by Upload.
template <typename T>
struct HostField {
  int64_t members, batch;
  std::vector<T> theta;                 // [M, 3]
  std::vector<int64_t> widths;          // empty: physics only
  std::vector<std::vector<T>> weights;  // [M, in, out]
  std::vector<std::vector<T>> biases;   // [M, out]
  T gain = 1;
};

template <typename T>
T* Device(const std::vector<T>& v) {
  T* p = nullptr;
  if (cudaMalloc(&p, v.size() * sizeof(T)) != cudaSuccess) return nullptr;
  cudaMemcpy(p, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice);
  return p;
}

template <typename T>
DeviceField<T> Upload(const HostField<T>& h) {
  DeviceField<T> d;
  d.members = h.members;
  d.batch = h.batch;
  d.dim = 3;
  d.physics = Physics::kLorenz63;
  d.theta = Device(h.theta);
  d.widths = h.widths;
  for (size_t l = 0; l < h.weights.size(); ++l) {
    d.weights.push_back(Device(h.weights[l]));
    d.biases.push_back(Device(h.biases[l]));
  }
  d.gain = h.gain;
  return d;
}

// The reference: one trajectory at a time, the textbook RK4, in double.
template <typename T>
void Field(const HostField<T>& f, int64_t m, const double* u, double* k) {
  const double theta[3] = {f.theta[m * 3], f.theta[m * 3 + 1], f.theta[m * 3 + 2]};
  hybrid::solvers::Lorenz63Equations<double>::Evaluate(u, 1, theta, k);
  if (f.widths.empty()) return;
  std::vector<double> in(u, u + 3), out;
  for (size_t l = 0; l + 1 < f.widths.size(); ++l) {
    const int64_t fi = f.widths[l], fo = f.widths[l + 1];
    out.assign(static_cast<size_t>(fo), 0.0);
    for (int64_t j = 0; j < fo; ++j) {
      double z = f.biases[l][m * fo + j];
      for (int64_t i = 0; i < fi; ++i) z += in[i] * f.weights[l][(m * fi + i) * fo + j];
      out[j] = l + 2 < f.widths.size() ? std::tanh(z) : z;
    }
    in = out;
  }
  for (int i = 0; i < 3; ++i) k[i] += f.gain * in[i];
}

template <typename T>
std::vector<double> Reference(const HostField<T>& f, const std::vector<T>& x0, double h, int64_t steps) {
  std::vector<double> end(x0.size());
  for (int64_t m = 0; m < f.members; ++m) {
    for (int64_t b = 0; b < f.batch; ++b) {
      double x[3], u[3], k1[3], k2[3], k3[3], k4[3];
      for (int i = 0; i < 3; ++i) x[i] = x0[(m * f.batch + b) * 3 + i];
      for (int64_t n = 0; n < steps; ++n) {
        Field(f, m, x, k1);
        for (int i = 0; i < 3; ++i) u[i] = x[i] + h / 2 * k1[i];
        Field(f, m, u, k2);
        for (int i = 0; i < 3; ++i) u[i] = x[i] + h / 2 * k2[i];
        Field(f, m, u, k3);
        for (int i = 0; i < 3; ++i) u[i] = x[i] + h * k3[i];
        Field(f, m, u, k4);
        for (int i = 0; i < 3; ++i) x[i] += h / 6 * (k1[i] + 2 * k2[i] + 2 * k3[i] + k4[i]);
      }
      for (int i = 0; i < 3; ++i) end[(m * f.batch + b) * 3 + i] = x[i];
    }
  }
  return end;
}

template <typename T>
HostField<T> RandomField(int64_t members, int64_t batch, std::vector<int64_t> widths, std::mt19937_64& random) {
  std::uniform_real_distribution<double> rho(20.0, 30.0), weight(-0.3, 0.3);
  HostField<T> f{members, batch};
  for (int64_t m = 0; m < members; ++m) f.theta.insert(f.theta.end(), {T(10), T(rho(random)), T(8.0 / 3.0)});
  f.widths = widths;
  for (size_t l = 0; l + 1 < widths.size(); ++l) {
    std::vector<T> w(static_cast<size_t>(members * widths[l] * widths[l + 1])), b(members * widths[l + 1]);
    for (T& v : w) v = T(weight(random));
    for (T& v : b) v = T(weight(random));
    f.weights.push_back(w);
    f.biases.push_back(b);
  }
  f.gain = T(0.5);
  return f;
}

template <typename T>
std::vector<T> Starts(int64_t n, std::mt19937_64& random) {
  std::normal_distribution<double> noise(0.0, 1.0);
  std::vector<T> x(static_cast<size_t>(n * 3));
  for (int64_t i = 0; i < n; ++i) {
    x[i * 3] = T(1 + noise(random));
    x[i * 3 + 1] = T(1 + noise(random));
    x[i * 3 + 2] = T(20 + noise(random));
  }
  return x;
}

// Runs the kernel; end states [M·B, 3] on the host, or empty on error.
template <typename T>
std::vector<T> RunOnDevice(const DeviceField<T>& f, const std::vector<T>& x0, T h, int64_t steps, int64_t every,
                           double* milliseconds = nullptr) {
  T* dx = Device(x0);
  T* path = nullptr;
  const int64_t stored = steps / every + 1;
  cudaMalloc(&path, x0.size() * static_cast<size_t>(stored) * sizeof(T));
  const auto started = Clock::now();
  const std::string error = hybrid::solvers::cuda::Rk4ForwardOnDevice(f, dx, h, steps, every, path);
  if (milliseconds) *milliseconds = std::chrono::duration<double, std::milli>(Clock::now() - started).count();
  std::vector<T> all(x0.size() * static_cast<size_t>(stored)), end(x0.size());
  if (error.empty()) cudaMemcpy(all.data(), path, all.size() * sizeof(T), cudaMemcpyDeviceToHost);
  cudaFree(dx);
  cudaFree(path);
  if (!error.empty()) {
    std::fprintf(stderr, "cuda_rk4_check: %s\n", error.c_str());
    return {};
  }
  for (int64_t m = 0; m < f.members; ++m) {
    for (int64_t b = 0; b < f.batch; ++b) {
      std::memcpy(&end[(m * f.batch + b) * 3], &all[((m * stored + stored - 1) * f.batch + b) * 3], 3 * sizeof(T));
    }
  }
  return end;
}

template <typename T, typename U>
double MaxDifference(const std::vector<T>& a, const std::vector<U>& b) {
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(double(a[i]) - double(b[i])));
  return worst;
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  if (const std::string why = hybrid::solvers::cuda::DeviceStatus(); !why.empty()) {
    std::printf("cuda_rk4_check: skipped: %s\n", why.c_str());
    return 77;
  }
  cudaDeviceProp prop{};
  cudaGetDeviceProperties(&prop, 0);
  std::printf("device: %s (sm_%d%d)\n", prop.name, prop.major, prop.minor);
  std::mt19937_64 random(7);
  int failures = 0;

  // 1. Values: physics + MLP 3-32-32-3, 5 members × 64 states, 200 steps of
  //    0.01, float64, against the reference (rounding only: FMA contraction
  //    differs, chaos amplifies it by ≲ e^(0.9·2)).
  {
    const HostField<double> f = RandomField<double>(5, 64, {3, 32, 32, 3}, random);
    const std::vector<double> x0 = Starts<double>(5 * 64, random);
    const std::vector<double> gpu = RunOnDevice(Upload(f), x0, 0.01, 200, 10);
    const double d = gpu.empty() ? INFINITY : MaxDifference(gpu, Reference(f, x0, 0.01, 200));
    std::printf("hybrid field, float64, 200 steps: max |GPU − CPU reference| = %.3g (limit 1e-9)\n", d);
    failures += !(d <= 1e-9);
  }

  // 2. The DiffEqGPU setting: Lorenz-63 physics only, float32, each
  //    trajectory its own ρ, 1000 steps of 0.01, only the end kept.
  for (const int64_t n : {int64_t{8192}, int64_t{1} << 20}) {
    if (quick && n > 8192) break;
    const HostField<float> f = RandomField<float>(n, 1, {}, random);
    const std::vector<float> x0 = Starts<float>(n, random);
    const DeviceField<float> d = Upload(f);
    double ms = 0;
    std::vector<double> times;
    std::vector<float> gpu;
    for (int r = 0; r < 11; ++r) {  // The first warms up.
      gpu = RunOnDevice(d, x0, 0.01f, 1000, 1000, &ms);
      if (r > 0) times.push_back(ms);
    }
    std::sort(times.begin(), times.end());
    const int64_t sample = std::min<int64_t>(n, 8192);
    HostField<float> head = f;
    head.members = sample;
    const auto started = Clock::now();
    const std::vector<double> cpu =
        Reference(head, std::vector<float>(x0.begin(), x0.begin() + sample * 3), 0.01, 1000);
    const double cpu_ms = std::chrono::duration<double, std::milli>(Clock::now() - started).count() * n / sample;
    std::vector<float> gpu_head(gpu.begin(), gpu.begin() + std::min<size_t>(gpu.size(), sample * 3));
    // float32 over 10 Lyapunov-amplified time units: trajectories decorrelate;
    // the check is that they stay on the attractor (|x| < 60), not equality.
    double escaped = 0;
    for (float v : gpu_head) escaped += !(std::abs(v) < 60.0f);
    std::printf(
        "Lorenz-63 %lld trajectories × 1000 steps (float32): GPU median %.3f ms (min %.3f, max %.3f, 10 runs, "
        "incl. launch and sync); one CPU core %.1f ms (%s) → %.0f× ; DiffEqGPU on a V100: 0.24 ms for 8 192 "
        "(ours / theirs %.2f); off the attractor: %.0f\n",
        static_cast<long long>(n), times[times.size() / 2], times.front(), times.back(), cpu_ms,
        sample < n ? "extrapolated from 8 192" : "measured", cpu_ms / times[times.size() / 2],
        times[times.size() / 2] / 0.24, escaped);
    failures += gpu.empty() || escaped > 0;
  }
  std::printf(failures == 0 ? "cuda_rk4_check: passed\n" : "cuda_rk4_check: %d failures\n", failures);
  return failures == 0 ? 0 : 1;
}
