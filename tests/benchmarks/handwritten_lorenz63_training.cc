#include "tests/benchmarks/handwritten_lorenz63_training.h"

#include <cmath>
#include <utility>

namespace hybrid::bench {
namespace {

constexpr int kD = 3, kH = 32;
constexpr int kStageFloats = kD + 2 * kH;  // u, a1, a2.
constexpr float kSigma = 10.0f, kBeta = 8.0f / 3.0f;

// k = f(u) + MLP(u); keeps a1, a2 after u in `cache`.
inline void Field(const HandwrittenParameters& p, float rho, const float* u, float* cache, float* k) {
  float* a1 = cache + kD;
  float* a2 = a1 + kH;
  for (int i = 0; i < kD; ++i) cache[i] = u[i];
  for (int j = 0; j < kH; ++j) a1[j] = p.b1[j];
  for (int i = 0; i < kD; ++i)
    for (int j = 0; j < kH; ++j) a1[j] += u[i] * p.w1[i * kH + j];
  for (int j = 0; j < kH; ++j) a1[j] = std::tanh(a1[j]);
  for (int j = 0; j < kH; ++j) a2[j] = p.b2[j];
  for (int i = 0; i < kH; ++i)
    for (int j = 0; j < kH; ++j) a2[j] += a1[i] * p.w2[i * kH + j];
  for (int j = 0; j < kH; ++j) a2[j] = std::tanh(a2[j]);
  for (int c = 0; c < kD; ++c) {
    float g = p.b3[c];
    for (int j = 0; j < kH; ++j) g += a2[j] * p.w3[j * kD + c];
    k[c] = g;
  }
  k[0] += kSigma * (u[1] - u[0]);
  k[1] += u[0] * (rho - u[2]) - u[1];
  k[2] += u[0] * u[1] - kBeta * u[2];
}

// gu = gkᵀ ∂F/∂u; the layers' gradients and ∂/∂ρ accumulated.
inline void FieldVjp(const HandwrittenParameters& p, float rho, const float* cache, const float* gk, float* gu,
                     HandwrittenParameters& g, float& d_rho) {
  const float* u = cache;
  const float* a1 = cache + kD;
  const float* a2 = a1 + kH;
  float z2[kH], z1[kH];
  for (int c = 0; c < kD; ++c) g.b3[c] += gk[c];
  for (int j = 0; j < kH; ++j) {
    float s = 0.0f;
    for (int c = 0; c < kD; ++c) {
      g.w3[j * kD + c] += a2[j] * gk[c];
      s += p.w3[j * kD + c] * gk[c];
    }
    z2[j] = s * (1.0f - a2[j] * a2[j]);
  }
  for (int j = 0; j < kH; ++j) g.b2[j] += z2[j];
  for (int i = 0; i < kH; ++i) {
    float s = 0.0f;
    for (int j = 0; j < kH; ++j) {
      g.w2[i * kH + j] += a1[i] * z2[j];
      s += p.w2[i * kH + j] * z2[j];
    }
    z1[i] = s * (1.0f - a1[i] * a1[i]);
  }
  for (int j = 0; j < kH; ++j) g.b1[j] += z1[j];
  for (int i = 0; i < kD; ++i) {
    float s = 0.0f;
    for (int j = 0; j < kH; ++j) {
      g.w1[i * kH + j] += u[i] * z1[j];
      s += p.w1[i * kH + j] * z1[j];
    }
    gu[i] = s;
  }
  const float x = u[0], y = u[1], z = u[2];
  gu[0] += -kSigma * gk[0] + (rho - z) * gk[1] + y * gk[2];
  gu[1] += kSigma * gk[0] - gk[1] + x * gk[2];
  gu[2] += -x * gk[1] - kBeta * gk[2];
  d_rho += x * gk[1];
}

void Zero(HandwrittenParameters& g) {
  for (auto* v : {&g.w1, &g.b1, &g.w2, &g.b2, &g.w3, &g.b3})
    for (float& e : *v) e = 0.0f;
  g.log_rho = 0.0f;
}

// PyTorch's Adam (β = 0.9, 0.999, ε = 1e-8) on one array.
void Adam(float* p, const float* g, float* m, float* v, int n, float rate, int t) {
  const float c1 = 1.0f - std::pow(0.9f, static_cast<float>(t));
  const float c2 = std::sqrt(1.0f - std::pow(0.999f, static_cast<float>(t)));
  for (int i = 0; i < n; ++i) {
    m[i] = 0.9f * m[i] + 0.1f * g[i];
    v[i] = 0.999f * v[i] + 0.001f * g[i] * g[i];
    p[i] -= rate / c1 * m[i] / (std::sqrt(v[i]) / c2 + 1e-8f);
  }
}

}  // namespace

HandwrittenLorenz63Training::HandwrittenLorenz63Training(HandwrittenParameters start, int windows, int steps, float h,
                                                         float rate_theta, float rate_phi)
    : p_(std::move(start)), windows_(windows), steps_(steps), h_(h), rate_theta_(rate_theta), rate_phi_(rate_phi) {
  grad_ = m_ = v_ = p_;
  Zero(m_);
  Zero(v_);
  cache_.resize(static_cast<size_t>(windows) * steps * 4 * kStageFloats);
  states_.resize(static_cast<size_t>(windows) * (steps + 1) * kD);
}

float HandwrittenLorenz63Training::Step(const float* starts, const float* observed) {
  Zero(grad_);
  const float rho = std::exp(p_.log_rho), h = h_;
  const float scale = 1.0f / static_cast<float>(windows_ * steps_ * kD);
  double loss = 0.0;
  float d_rho = 0.0f;
  for (int w = 0; w < windows_; ++w) {
    float* xs = states_.data() + static_cast<size_t>(w) * (steps_ + 1) * kD;
    float* cache = cache_.data() + static_cast<size_t>(w) * steps_ * 4 * kStageFloats;
    for (int c = 0; c < kD; ++c) xs[c] = starts[w * kD + c];
    for (int n = 0; n < steps_; ++n) {
      const float* x = xs + n * kD;
      float* stage = cache + n * 4 * kStageFloats;
      float k1[kD], k2[kD], k3[kD], k4[kD], u[kD];
      Field(p_, rho, x, stage, k1);
      for (int c = 0; c < kD; ++c) u[c] = x[c] + 0.5f * h * k1[c];
      Field(p_, rho, u, stage + kStageFloats, k2);
      for (int c = 0; c < kD; ++c) u[c] = x[c] + 0.5f * h * k2[c];
      Field(p_, rho, u, stage + 2 * kStageFloats, k3);
      for (int c = 0; c < kD; ++c) u[c] = x[c] + h * k3[c];
      Field(p_, rho, u, stage + 3 * kStageFloats, k4);
      float* next = xs + (n + 1) * kD;
      for (int c = 0; c < kD; ++c) {
        next[c] = x[c] + h / 6.0f * (k1[c] + 2.0f * k2[c] + 2.0f * k3[c] + k4[c]);
        const float e = next[c] - observed[(w * steps_ + n) * kD + c];
        loss += static_cast<double>(e) * e;
      }
    }
    // The discrete adjoint, step by step backwards.
    float a_bar[kD] = {0, 0, 0};
    for (int n = steps_ - 1; n >= 0; --n) {
      const float* stage = cache + n * 4 * kStageFloats;
      for (int c = 0; c < kD; ++c) {
        a_bar[c] += 2.0f * scale * (xs[(n + 1) * kD + c] - observed[(w * steps_ + n) * kD + c]);
      }
      float g_k[kD], g_u[kD], x_bar[kD];
      for (int c = 0; c < kD; ++c) g_k[c] = h / 6.0f * a_bar[c], x_bar[c] = a_bar[c];
      FieldVjp(p_, rho, stage + 3 * kStageFloats, g_k, g_u, grad_, d_rho);
      for (int c = 0; c < kD; ++c) x_bar[c] += g_u[c], g_k[c] = h / 3.0f * a_bar[c] + h * g_u[c];
      FieldVjp(p_, rho, stage + 2 * kStageFloats, g_k, g_u, grad_, d_rho);
      for (int c = 0; c < kD; ++c) x_bar[c] += g_u[c], g_k[c] = h / 3.0f * a_bar[c] + 0.5f * h * g_u[c];
      FieldVjp(p_, rho, stage + kStageFloats, g_k, g_u, grad_, d_rho);
      for (int c = 0; c < kD; ++c) x_bar[c] += g_u[c], g_k[c] = h / 6.0f * a_bar[c] + 0.5f * h * g_u[c];
      FieldVjp(p_, rho, stage, g_k, g_u, grad_, d_rho);
      for (int c = 0; c < kD; ++c) a_bar[c] = x_bar[c] + g_u[c];
    }
  }
  grad_.log_rho = d_rho * rho;
  ++t_;
  Adam(&p_.log_rho, &grad_.log_rho, &m_.log_rho, &v_.log_rho, 1, rate_theta_, t_);
  std::vector<float>* params[] = {&p_.w1, &p_.b1, &p_.w2, &p_.b2, &p_.w3, &p_.b3};
  std::vector<float>* grads[] = {&grad_.w1, &grad_.b1, &grad_.w2, &grad_.b2, &grad_.w3, &grad_.b3};
  std::vector<float>* ms[] = {&m_.w1, &m_.b1, &m_.w2, &m_.b2, &m_.w3, &m_.b3};
  std::vector<float>* vs[] = {&v_.w1, &v_.b1, &v_.w2, &v_.b2, &v_.w3, &v_.b3};
  for (int i = 0; i < 6; ++i) {
    Adam(params[i]->data(), grads[i]->data(), ms[i]->data(), vs[i]->data(), static_cast<int>(params[i]->size()),
         rate_phi_, t_);
  }
  return static_cast<float>(loss * scale);
}

}  // namespace hybrid::bench
