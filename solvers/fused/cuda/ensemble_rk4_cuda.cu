#include <cuda_runtime.h>

#include "solvers/fused/cuda/ensemble_rk4_cuda.h"
#include "solvers/physics/lorenz63_equations.h"

namespace hybrid::solvers::cuda {
namespace {

constexpr int kMaxDim = 8;  // Lorenz-63 and other small states: one trajectory in registers.

// Kernel arguments by value: pointers for every layer (kMaxLayers at most).
template <typename T>
struct Arguments {
  int64_t members, batch, dim, steps, every;
  T h, gain;
  Physics physics;
  const T* theta;
  int layers;
  int widths[kMaxLayers + 1];
  const T* weights[kMaxLayers];
  const T* biases[kMaxLayers];
  const T *center, *scale, *mask;
};

template <typename T>
__device__ T Tanh(T v) {
  return tanh(v);
}
template <>
__device__ float Tanh<float>(float v) {
  return tanhf(v);
}

// dx/dt of trajectory (m, ·) at u [dim].
template <typename T>
__device__ void Field(const Arguments<T>& a, int64_t m, const T* u, T* k) {
  for (int i = 0; i < a.dim; ++i) k[i] = 0;
  if (a.layers > 0) {
    T buffer[2][kMaxWidth];
    T* in = buffer[0];
    for (int i = 0; i < a.dim; ++i) {
      const T c = a.center ? a.center[i] : T(0), s = a.scale ? a.scale[i] : T(1);
      in[i] = (u[i] - c) / s;
    }
    for (int l = 0; l < a.layers; ++l) {
      const int fan_in = a.widths[l], fan_out = a.widths[l + 1];
      const T* w = a.weights[l] + m * fan_in * fan_out;
      const T* b = a.biases[l] + m * fan_out;
      T* out = buffer[(l + 1) % 2];
      for (int j = 0; j < fan_out; ++j) {
        T z = __ldg(b + j);
        for (int i = 0; i < fan_in; ++i) z += in[i] * __ldg(w + i * fan_out + j);
        out[j] = l + 1 < a.layers ? Tanh(z) : z;
      }
      in = out;
    }
    for (int i = 0; i < a.dim; ++i) k[i] = a.gain * (a.mask ? a.mask[i] : T(1)) * in[i];
  }
  if (a.physics == Physics::kLorenz63) {
    T f[3];
    Lorenz63Equations<T>::Evaluate(u, 1, a.theta + m * 3, f);
    for (int i = 0; i < 3; ++i) k[i] += f[i];
  }
}

template <typename T>
__global__ void Rk4Kernel(Arguments<T> a, const T* x0, T* path) {
  const int64_t index = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (index >= a.members * a.batch) return;
  const int64_t m = index / a.batch, b = index % a.batch;
  const int64_t stored = a.steps / a.every + 1;
  T x[kMaxDim], u[kMaxDim], k[kMaxDim], sum[kMaxDim];
  for (int i = 0; i < a.dim; ++i) x[i] = x0[index * a.dim + i];
  T* out = path + (m * stored * a.batch + b) * a.dim;  // path[m, 0, b, :]
  for (int i = 0; i < a.dim; ++i) out[i] = x[i];
  const T half = a.h / 2, sixth = a.h / 6;
  for (int64_t n = 1; n <= a.steps; ++n) {
    Field(a, m, x, k);  // k1
    for (int i = 0; i < a.dim; ++i) {
      sum[i] = k[i];
      u[i] = x[i] + half * k[i];
    }
    Field(a, m, u, k);  // k2
    for (int i = 0; i < a.dim; ++i) {
      sum[i] += 2 * k[i];
      u[i] = x[i] + half * k[i];
    }
    Field(a, m, u, k);  // k3
    for (int i = 0; i < a.dim; ++i) {
      sum[i] += 2 * k[i];
      u[i] = x[i] + a.h * k[i];
    }
    Field(a, m, u, k);  // k4
    for (int i = 0; i < a.dim; ++i) x[i] += sixth * (sum[i] + k[i]);
    if (n % a.every == 0) {
      T* o = path + ((m * stored + n / a.every) * a.batch + b) * a.dim;
      for (int i = 0; i < a.dim; ++i) o[i] = x[i];
    }
  }
}

std::string CudaError(const char* what, cudaError_t e) {
  return std::string(what) + ": " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")";
}

}  // namespace

template <typename T>
std::string Rk4ForwardOnDevice(const DeviceField<T>& f, const T* x0, T h, int64_t steps, int64_t every, T* path) {
  if (steps < 1 || every < 1 || steps % every != 0) return "steps must be ≥ 1 and a multiple of every";
  if (f.dim < 1 || f.dim > kMaxDim) return "state dimension must be in [1, " + std::to_string(kMaxDim) + "]";
  if (f.physics == Physics::kLorenz63 && f.dim != 3) return "Lorenz-63 physics needs D = 3";
  const int layers = f.widths.empty() ? 0 : static_cast<int>(f.widths.size()) - 1;
  if (layers > kMaxLayers) return "at most " + std::to_string(kMaxLayers) + " layers";
  Arguments<T> a{};
  a.members = f.members;
  a.batch = f.batch;
  a.dim = f.dim;
  a.steps = steps;
  a.every = every;
  a.h = h;
  a.gain = f.gain;
  a.physics = f.physics;
  a.theta = f.theta;
  a.layers = layers;
  for (int l = 0; l <= layers && layers > 0; ++l) {
    if (f.widths[l] < 1 || f.widths[l] > kMaxWidth)
      return "layer widths must be in [1, " + std::to_string(kMaxWidth) + "]";
    a.widths[l] = static_cast<int>(f.widths[l]);
  }
  if (layers > 0 && (f.widths.front() != f.dim || f.widths.back() != f.dim)) return "the MLP must map D to D";
  for (int l = 0; l < layers; ++l) {
    a.weights[l] = f.weights[l];
    a.biases[l] = f.biases[l];
  }
  a.center = f.center;
  a.scale = f.scale;
  a.mask = f.mask;
  const int64_t trajectories = f.members * f.batch;
  constexpr int kThreads = 128;
  const int64_t blocks = (trajectories + kThreads - 1) / kThreads;
  Rk4Kernel<T><<<static_cast<unsigned>(blocks), kThreads>>>(a, x0, path);
  if (cudaError_t e = cudaGetLastError(); e != cudaSuccess) return CudaError("launching the RK4 kernel", e);
  if (cudaError_t e = cudaDeviceSynchronize(); e != cudaSuccess) return CudaError("running the RK4 kernel", e);
  return "";
}

template std::string Rk4ForwardOnDevice<float>(const DeviceField<float>&, const float*, float, int64_t, int64_t,
                                               float*);
template std::string Rk4ForwardOnDevice<double>(const DeviceField<double>&, const double*, double, int64_t, int64_t,
                                                double*);

std::string DeviceStatus() {
  int count = 0;
  if (cudaError_t e = cudaGetDeviceCount(&count); e != cudaSuccess) return CudaError("cudaGetDeviceCount", e);
  if (count == 0) return "no CUDA device";
  return "";
}

}  // namespace hybrid::solvers::cuda
