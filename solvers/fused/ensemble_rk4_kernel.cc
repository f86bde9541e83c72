#include "solvers/fused/ensemble_rk4_kernel.h"

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <xsimd/xsimd.hpp>

#include "solvers/fused/vector_tanh.h"

namespace hybrid::solvers {
namespace {

template <typename T>
using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <typename T>
using View = Eigen::Map<Matrix<T>>;
template <typename T>
using ConstView = Eigen::Map<const Matrix<T>>;
template <typename T>
using RowView = Eigen::Map<Eigen::Matrix<T, 1, Eigen::Dynamic>>;

// Eigen peels unaligned heads with scalar code and vectorises the rest with
// fused multiply-adds, so a result's last bits depend on where a buffer
// starts. Aligned buffers make the kernel bit-for-bit reproducible from run
// to run (what checkpoint recovery tests rely on); fused_rk4.cc aligns the
// caller's arrays.
template <typename T>
using Buffer = std::vector<T, Eigen::aligned_allocator<T>>;

// N columns of AffineTail for one vector of rows, `lanes` their inputs
// transposed ([fan_in, width]); N fixed so that the sums stay in registers.
// The first `valid` lanes are stored.
template <int N, typename T>
void TailColumns(const T* lanes, int64_t fan_in, const T* w, const T* b, int64_t fan_out, int64_t first, int64_t valid,
                 T* out) {
  using Batch = xsimd::batch<T>;
  constexpr int64_t kWidth = static_cast<int64_t>(Batch::size);
  Batch acc[N];
  for (int c = 0; c < N; ++c) acc[c] = Batch(b[first + c]);
  for (int64_t k = 0; k < fan_in; ++k) {
    const Batch x = Batch::load_unaligned(lanes + k * kWidth);
    for (int c = 0; c < N; ++c) acc[c] = xsimd::fma(x, Batch(w[k * fan_out + first + c]), acc[c]);
  }
  alignas(Batch::arch_type::alignment()) T column[kWidth];
  for (int c = 0; c < N; ++c) {
    acc[c].store_aligned(column);
    for (int64_t lane = 0; lane < valid; ++lane) out[lane * fan_out + first + c] = column[lane];
  }
}

// Affine's columns from `first` on, fewer than a vector (a 16 → 3 output
// layer: all of them): a vector of rows at a time in the lanes, their inputs
// transposed into `lanes` ([fan_in, width]) so that every weight is one
// broadcast; the last rows with zeros in the lanes beyond them. Every row
// takes the same instructions wherever it falls (with or without hardware
// FMA, where xsimd's fma and std::fma round differently), so its bits do not
// depend on the rows beside it. Row by row this was one dependent chain of
// fan_in scalar FMAs per entry, which took most of Predict's field
// evaluation.
template <typename T>
void AffineTail(const T* in, int64_t rows, int64_t fan_in, const T* w, const T* b, int64_t fan_out, int64_t first,
                T* lanes, T* out) {
  constexpr int64_t kWidth = static_cast<int64_t>(xsimd::batch<T>::size);
  constexpr int64_t kGroup = 4;
  for (int64_t r = 0; r < rows; r += kWidth) {
    const int64_t valid = std::min(kWidth, rows - r);
    for (int64_t lane = 0; lane < kWidth; ++lane) {
      for (int64_t k = 0; k < fan_in; ++k) lanes[k * kWidth + lane] = lane < valid ? in[(r + lane) * fan_in + k] : T(0);
    }
    T* block = out + r * fan_out;
    for (int64_t c = first; c < fan_out; c += kGroup) {
      switch (std::min(kGroup, fan_out - c)) {
        case 1:
          TailColumns<1>(lanes, fan_in, w, b, fan_out, c, valid, block);
          break;
        case 2:
          TailColumns<2>(lanes, fan_in, w, b, fan_out, c, valid, block);
          break;
        case 3:
          TailColumns<3>(lanes, fan_in, w, b, fan_out, c, valid, block);
          break;
        default:
          TailColumns<kGroup>(lanes, fan_in, w, b, fan_out, c, valid, block);
          break;
      }
    }
  }
}

// out[r] = b + in[r] · W for every row r of in [rows, fan_in], W [fan_in,
// fan_out]: every entry is b_j then one fused multiply-add per k in
// ascending k, whether it falls in a vector of columns (xsimd, four rows
// sharing each weight load) or in AffineTail. Not Eigen's product: that picks a
// coefficient-wise kernel for few rows and GEMM for many, and splits rows
// into scalar and vector parts by address, so a row's last bits would depend
// on how many rows share the call — and dynamic batching promises a
// forecast's answer is the same alone or batched. `lanes`: AffineTail's
// scratch, [fan_in, SIMD width].
template <typename T>
void Affine(const T* in, int64_t rows, int64_t fan_in, const T* w, const T* b, int64_t fan_out, T* lanes, T* out) {
  using Batch = xsimd::batch<T>;
  constexpr int64_t kWidth = static_cast<int64_t>(Batch::size);
  constexpr int64_t kRows = 4;
  const int64_t vector_end = fan_out - fan_out % kWidth;
  int64_t r = 0;
  for (; r + kRows <= rows; r += kRows) {
    for (int64_t j = 0; j < vector_end; j += kWidth) {
      Batch acc[kRows];
      for (Batch& a : acc) a = Batch::load_unaligned(b + j);
      for (int64_t k = 0; k < fan_in; ++k) {
        const Batch wk = Batch::load_unaligned(w + k * fan_out + j);
        for (int64_t i = 0; i < kRows; ++i) acc[i] = xsimd::fma(Batch(in[(r + i) * fan_in + k]), wk, acc[i]);
      }
      for (int64_t i = 0; i < kRows; ++i) acc[i].store_unaligned(out + (r + i) * fan_out + j);
    }
  }
  for (; r < rows; ++r) {
    for (int64_t j = 0; j < vector_end; j += kWidth) {
      Batch acc = Batch::load_unaligned(b + j);
      for (int64_t k = 0; k < fan_in; ++k) {
        acc = xsimd::fma(Batch(in[r * fan_in + k]), Batch::load_unaligned(w + k * fan_out + j), acc);
      }
      acc.store_unaligned(out + r * fan_out + j);
    }
  }
  if (vector_end < fan_out) AffineTail(in, rows, fan_in, w, b, fan_out, vector_end, lanes, out);
}

// out = x + Σ c_i k_i, added one stage at a time in the order the LibTorch
// path adds them (runge_kutta_step.cc), so the two agree to rounding.
template <typename T>
void Combine(const T* x, int64_t n, std::initializer_list<std::pair<T, const T*>> terms, T* out) {
  if (out != x) std::memcpy(out, x, sizeof(T) * static_cast<size_t>(n));
  for (const auto& [c, k] : terms) {
    for (int64_t i = 0; i < n; ++i) out[i] += c * k[i];
  }
}

// Values of one evaluation's hidden (tanh) activations: Σ hidden width · B.
template <typename T>
int64_t HiddenActivations(const HybridFieldArrays<T>& f) {
  int64_t hidden = 0;
  for (size_t l = 1; l + 1 < f.widths.size(); ++l) hidden += f.batch * f.widths[l];
  return hidden;
}

// One member's slice of the field and the buffers of one call: Select picks
// the member; Evaluate and Vjp are one stage's F_m and its transpose.
template <typename T>
class MemberField {
 public:
  explicit MemberField(const HybridFieldArrays<T>& f)
      : f_(f), n_(f.batch * f.dim), layers_(f.widths.empty() ? 0 : static_cast<int64_t>(f.widths.size()) - 1) {
    int64_t widest = std::max(f.dim, f.widths.empty() ? int64_t{0} : f.widths[0]), offset = 0;
    for (int64_t l = 0; l < layers_; ++l) {
      widest = std::max(widest, f.widths[l + 1]);
      if (l + 1 < layers_) {
        offsets_.push_back(offset);
        offset += f.batch * f.widths[l + 1];
      }
    }
    input_.resize(n_);
    physics_out_.resize(n_);
    ping_.resize(f.batch * widest);
    pong_.resize(f.batch * widest);
    lanes_.resize(xsimd::batch<T>::size * widest);
    factor_.assign(f.dim, f.gain);
    for (int64_t j = 0; j < f.dim; ++j) {
      if (f.mask != nullptr) factor_[j] *= f.mask[j];
    }
    scaled_ = std::any_of(factor_.begin(), factor_.end(), [](T v) { return v != T(1); });
    theta_gradient_.resize(f.physics ? f.physics->parameters() : 0);
  }

  // Tanh outputs of the hidden layers of one evaluation, [Σ hidden · B].
  int64_t activation_size() const { return HiddenActivations(f_); }

  void Select(int64_t m) {
    m_ = m;
    theta_ = f_.physics ? f_.theta + m * f_.physics->parameters() : nullptr;
  }

  // k = F_m(u); the hidden activations go to `acts` when it is not null.
  void Evaluate(const T* u, T* k, T* acts) {
    if (layers_ == 0) {
      if (f_.physics) {
        f_.physics->Evaluate(u, f_.batch, theta_, k);
      } else {
        std::fill(k, k + n_, T(0));
      }
      return;
    }
    const T* in = Input(u);
    for (int64_t l = 0; l < layers_; ++l) {
      const int64_t fan_in = f_.widths[l], fan_out = f_.widths[l + 1];
      const bool last = l + 1 == layers_;
      T* out = last ? k : acts ? acts + offsets_[l] : (l % 2 == 0 ? ping_.data() : pong_.data());
      Affine(in, f_.batch, fan_in, f_.weights[l] + m_ * fan_in * fan_out, f_.biases[l] + m_ * fan_out, fan_out,
             lanes_.data(), out);
      if (!last) VectorTanh(out, out, f_.batch * fan_out);
      in = out;
    }
    if (scaled_) Scale(k);
    if (f_.physics) {
      f_.physics->Evaluate(u, f_.batch, theta_, physics_out_.data());
      for (int64_t i = 0; i < n_; ++i) k[i] += physics_out_[i];
    }
  }

  // gu = gkᵀ ∂F_m/∂u at u (overwritten); θ's and the layers' gradients accumulated.
  void Vjp(const T* u, const T* acts, const T* gk, T* gu, const HybridFieldGradients<T>& g) {
    if (layers_ == 0) {
      std::fill(gu, gu + n_, T(0));
    } else {
      T* z_bar = ping_.data();
      std::memcpy(z_bar, gk, sizeof(T) * static_cast<size_t>(n_));
      if (scaled_) Scale(z_bar);
      for (int64_t l = layers_ - 1; l >= 0; --l) {
        const int64_t fan_in = f_.widths[l], fan_out = f_.widths[l + 1];
        const T* in = l == 0 ? Input(u) : acts + offsets_[l - 1];
        const ConstView<T> z(z_bar, f_.batch, fan_out);
        if (!g.weights.empty()) {
          View<T>(g.weights[l] + m_ * fan_in * fan_out, fan_in, fan_out).noalias() +=
              ConstView<T>(in, f_.batch, fan_in).transpose() * z;
          RowView<T>(g.biases[l] + m_ * fan_out, fan_out) += z.colwise().sum();
        }
        if (l == 0) {
          View<T>(gu, f_.batch, fan_in).noalias() = z * Weight(l).transpose();
          if (f_.scale != nullptr) {
            for (int64_t i = 0; i < n_; ++i) gu[i] /= f_.scale[i % f_.dim];
          }
        } else {
          T* next = z_bar == ping_.data() ? pong_.data() : ping_.data();
          View<T>(next, f_.batch, fan_in).noalias() = z * Weight(l).transpose();
          for (int64_t i = 0, size = f_.batch * fan_in; i < size; ++i) next[i] *= T(1) - in[i] * in[i];
          z_bar = next;
        }
      }
    }
    if (f_.physics) {
      T* theta_bar = g.theta ? g.theta + m_ * f_.physics->parameters() : theta_gradient_.data();
      f_.physics->Vjp(u, f_.batch, theta_, gk, gu, theta_bar);
    }
  }

 private:
  ConstView<T> Weight(int64_t l) const {
    const int64_t fan_in = f_.widths[l], fan_out = f_.widths[l + 1];
    return ConstView<T>(f_.weights[l] + m_ * fan_in * fan_out, fan_in, fan_out);
  }

  // (u − center) / scale, or u itself.
  const T* Input(const T* u) {
    if (f_.center == nullptr) return u;
    for (int64_t i = 0; i < n_; ++i) {
      const int64_t j = i % f_.dim;
      input_[i] = (u[i] - f_.center[j]) / f_.scale[j];
    }
    return input_.data();
  }

  void Scale(T* v) const {
    for (int64_t i = 0; i < n_; ++i) v[i] *= factor_[i % f_.dim];
  }

  const HybridFieldArrays<T>& f_;
  const int64_t n_;  // B · D.
  const int64_t layers_;
  std::vector<int64_t> offsets_;  // Of each hidden layer's activations in `acts`.
  Buffer<T> input_, physics_out_, ping_, pong_, factor_, theta_gradient_;
  Buffer<T> lanes_;  // AffineTail's transposed inputs, [widest fan-in, SIMD width].
  bool scaled_ = false;
  int64_t m_ = 0;
  const T* theta_ = nullptr;
};

// The four stages of one step: their inputs u_i and outputs k_i, and (for
// the adjoint) each stage's hidden activations. u and acts live in one slot
// of StageRecordSize / steps values: a step's entry in the forward's record,
// or the buffer of its own that Bind(nullptr) selects.
template <typename T>
struct Stages {
  Stages(int64_t n, int64_t activations) : n(n), activations(activations), own(4 * (n + activations)) {
    for (auto& v : k) v.resize(n);
    Bind(nullptr);
  }
  void Bind(T* slot) {
    T* base = slot != nullptr ? slot : own.data();
    for (int i = 0; i < 4; ++i) {
      u[i] = base + i * (n + activations);
      acts[i] = u[i] + n;
    }
  }
  const int64_t n, activations;
  Buffer<T> own, k[4];
  T* u[4];
  T* acts[4];
};

template <typename T>
void Step(MemberField<T>& field, const T* x, int64_t n, T h, Stages<T>& s, bool keep_activations, T* out) {
  auto acts = [&](int i) { return keep_activations ? s.acts[i] : nullptr; };
  std::memcpy(s.u[0], x, sizeof(T) * static_cast<size_t>(n));
  field.Evaluate(x, s.k[0].data(), acts(0));
  Combine<T>(x, n, {{h / 2, s.k[0].data()}}, s.u[1]);
  field.Evaluate(s.u[1], s.k[1].data(), acts(1));
  Combine<T>(x, n, {{h / 2, s.k[1].data()}}, s.u[2]);
  field.Evaluate(s.u[2], s.k[2].data(), acts(2));
  Combine<T>(x, n, {{h, s.k[2].data()}}, s.u[3]);
  field.Evaluate(s.u[3], s.k[3].data(), acts(3));
  if (out != nullptr) {
    Combine<T>(x, n, {{h / 6, s.k[0].data()}, {h / 3, s.k[1].data()}, {h / 3, s.k[2].data()}, {h / 6, s.k[3].data()}},
               out);
  }
}

// x ← max(x + scale ⊙ ξ, floor) for step `step` of member m (StepForcing).
template <typename T>
void Force(const StepForcing<T>& forcing, int64_t step, int64_t m, std::vector<double>& xi, T* x) {
  const StepNoise& noise = forcing.noise;
  StepNormals(noise, forcing.first_step + step, m, xi.data());
  for (int64_t i = 0, n = noise.batch * noise.dim; i < n; ++i) {
    const int64_t j = i % noise.dim;
    const T kick = forcing.scale[j] * static_cast<T>(xi[i]);
    x[i] += kick;
    if (forcing.floor != nullptr) x[i] = std::max(x[i], forcing.floor[j]);
  }
}

}  // namespace

template <typename T>
int64_t StageRecordSize(const HybridFieldArrays<T>& f, int64_t steps) {
  return f.members * steps * 4 * (f.batch * f.dim + HiddenActivations(f));
}

template <typename T>
void Rk4Forward(const HybridFieldArrays<T>& f, const T* x0, T h, int64_t steps, int64_t every, T* path, T* stage_record,
                const StepForcing<T>* forcing) {
  const int64_t n = f.batch * f.dim, stored = steps / every + 1;
  MemberField<T> field(f);
  Stages<T> stages(n, field.activation_size());
  const int64_t slot = 4 * (n + field.activation_size());
  Buffer<T> a(n), b(n);
  std::vector<double> xi(forcing != nullptr ? n : 0);
  for (int64_t m = 0; m < f.members; ++m) {
    field.Select(m);
    T* member_path = path + m * stored * n;
    std::memcpy(member_path, x0 + m * n, sizeof(T) * static_cast<size_t>(n));
    const T* x = member_path;
    for (int64_t i = 1; i <= steps; ++i) {
      T* out = i % every == 0 ? member_path + (i / every) * n : (x == a.data() ? b.data() : a.data());
      if (stage_record != nullptr) stages.Bind(stage_record + (m * steps + i - 1) * slot);
      Step(field, x, n, h, stages, stage_record != nullptr, out);
      if (forcing != nullptr) Force(*forcing, i - 1, m, xi, out);
      x = out;
    }
  }
}

template <typename T>
void Rk4Backward(const HybridFieldArrays<T>& f, const T* path, T h, int64_t steps, int64_t every, const T* grad_path,
                 T* grad_x0, const HybridFieldGradients<T>& gradients, const T* stage_record) {
  const int64_t n = f.batch * f.dim, stored = steps / every + 1;
  MemberField<T> field(f);
  Stages<T> stages(n, field.activation_size());
  const int64_t slot = 4 * (n + field.activation_size());
  Buffer<T> stretch(every * n), a_bar(n), x_bar(n), g_k(n), g_u(n);
  const T h2 = h / 2, h3 = h / 3, h6 = h / 6;
  for (int64_t m = 0; m < f.members; ++m) {
    field.Select(m);
    const T* member_path = path + m * stored * n;
    const T* member_grad = grad_path + m * stored * n;
    std::fill(a_bar.begin(), a_bar.end(), T(0));
    for (int64_t j = stored - 2; j >= 0; --j) {
      for (int64_t i = 0; i < n; ++i) a_bar[i] += member_grad[(j + 1) * n + i];
      if (stage_record == nullptr) {
        // The states of this stretch, recomputed from its stored start.
        stages.Bind(nullptr);
        std::memcpy(stretch.data(), member_path + j * n, sizeof(T) * static_cast<size_t>(n));
        for (int64_t i = 1; i < every; ++i) {
          Step(field, stretch.data() + (i - 1) * n, n, h, stages, false, stretch.data() + i * n);
        }
      }
      for (int64_t i = every - 1; i >= 0; --i) {
        if (stage_record != nullptr) {
          stages.Bind(const_cast<T*>(stage_record) + (m * steps + j * every + i) * slot);
        } else {
          Step<T>(field, stretch.data() + i * n, n, h, stages, true, nullptr);
        }
        // x⁺ = x + h/6 k1 + h/3 k2 + h/3 k3 + h/6 k4 with u2 = x + h/2 k1,
        // u3 = x + h/2 k2, u4 = x + h k3: the stages' adjoints in reverse.
        x_bar = a_bar;
        for (int64_t q = 0; q < n; ++q) g_k[q] = h6 * a_bar[q];
        field.Vjp(stages.u[3], stages.acts[3], g_k.data(), g_u.data(), gradients);
        for (int64_t q = 0; q < n; ++q) x_bar[q] += g_u[q], g_k[q] = h3 * a_bar[q] + h * g_u[q];
        field.Vjp(stages.u[2], stages.acts[2], g_k.data(), g_u.data(), gradients);
        for (int64_t q = 0; q < n; ++q) x_bar[q] += g_u[q], g_k[q] = h3 * a_bar[q] + h2 * g_u[q];
        field.Vjp(stages.u[1], stages.acts[1], g_k.data(), g_u.data(), gradients);
        for (int64_t q = 0; q < n; ++q) x_bar[q] += g_u[q], g_k[q] = h6 * a_bar[q] + h2 * g_u[q];
        field.Vjp(stages.u[0], stages.acts[0], g_k.data(), g_u.data(), gradients);
        for (int64_t q = 0; q < n; ++q) a_bar[q] = x_bar[q] + g_u[q];
      }
    }
    for (int64_t i = 0; i < n; ++i) grad_x0[m * n + i] = a_bar[i] + member_grad[i];
  }
}

#define HYBRID_INSTANTIATE(T)                                                                            \
  template int64_t StageRecordSize<T>(const HybridFieldArrays<T>&, int64_t);                             \
  template void Rk4Forward<T>(const HybridFieldArrays<T>&, const T*, T, int64_t, int64_t, T*, T*,        \
                              const StepForcing<T>*);                                                    \
  template void Rk4Backward<T>(const HybridFieldArrays<T>&, const T*, T, int64_t, int64_t, const T*, T*, \
                               const HybridFieldGradients<T>&, const T*);
HYBRID_INSTANTIATE(float)
HYBRID_INSTANTIATE(double)
#undef HYBRID_INSTANTIATE

}  // namespace hybrid::solvers
