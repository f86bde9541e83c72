#include "loadtest/plain_forecast.h"

#include <algorithm>
#include <cmath>

namespace hybrid::loadtest {
namespace {

constexpr double kSigma = 10.0, kRho = 20.0, kBeta = 8.0 / 3.0;
constexpr double kH = 0.01, kStartStd = 0.05, kModelErrorRate = 0.1;

std::vector<double> Random(std::mt19937_64& engine, int n, double scale) {
  std::normal_distribution<double> normal(0.0, scale);
  std::vector<double> v(static_cast<size_t>(n));
  for (double& x : v) x = normal(engine);
  return v;
}

}  // namespace

PlainForecast::PlainForecast() {
  for (Member& m : members_) {
    m.w1 = Random(engine_, 3 * kHidden, 0.5);
    m.b1 = Random(engine_, kHidden, 0.1);
    m.w2 = Random(engine_, kHidden * kHidden, 0.25);
    m.b2 = Random(engine_, kHidden, 0.1);
    m.w3 = Random(engine_, kHidden * 3, 0.01);
    m.b3 = Random(engine_, 3, 0.01);
  }
  samples_.resize(static_cast<size_t>(kTimes * kMembers * kDraws * 3));
}

// k = f(u) + MLP(u) for one member's kDraws states u [kDraws, 3] at once:
// the layers' loops run over draws × units, which the compiler vectorises
// (tanh through libmvec).
void PlainForecast::Field(const Member& m, const double* u, double* k) const {
  double a1[kDraws][kHidden], a2[kDraws][kHidden];
  for (int d = 0; d < kDraws; ++d) {
    const double* x = u + 3 * d;
    for (int j = 0; j < kHidden; ++j) {
      a1[d][j] = m.b1[j] + x[0] * m.w1[j] + x[1] * m.w1[kHidden + j] + x[2] * m.w1[2 * kHidden + j];
    }
  }
  double* flat1 = &a1[0][0];
  for (int i = 0; i < kDraws * kHidden; ++i) flat1[i] = std::tanh(flat1[i]);
  for (int d = 0; d < kDraws; ++d) {
    for (int j = 0; j < kHidden; ++j) a2[d][j] = m.b2[j];
    for (int i = 0; i < kHidden; ++i) {
      for (int j = 0; j < kHidden; ++j) a2[d][j] += a1[d][i] * m.w2[i * kHidden + j];
    }
  }
  double* flat2 = &a2[0][0];
  for (int i = 0; i < kDraws * kHidden; ++i) flat2[i] = std::tanh(flat2[i]);
  for (int d = 0; d < kDraws; ++d) {
    const double* x = u + 3 * d;
    double* out = k + 3 * d;
    for (int c = 0; c < 3; ++c) {
      double g = m.b3[c];
      for (int j = 0; j < kHidden; ++j) g += a2[d][j] * m.w3[j * 3 + c];
      out[c] = g;
    }
    out[0] += kSigma * (x[1] - x[0]);
    out[1] += x[0] * (kRho - x[2]) - x[1];
    out[2] += x[0] * x[1] - kBeta * x[2];
  }
}

double PlainForecast::Run(const std::array<double, 3>& x0) {
  std::normal_distribution<double> normal(0.0, 1.0);
  const double forcing = std::sqrt(kH * kModelErrorRate);
  constexpr int kSamples = kMembers * kDraws, kN = 3 * kDraws;
  for (int member = 0; member < kMembers; ++member) {
    const Member& m = members_[static_cast<size_t>(member)];
    double x[kN], k1[kN], k2[kN], k3[kN], k4[kN], u[kN];
    for (int i = 0; i < kN; ++i) x[i] = x0[static_cast<size_t>(i % 3)] + kStartStd * normal(engine_);
    for (int t = 0; t < kTimes; ++t) {
      for (int n = 0; n < kStepsPerTime; ++n) {
        Field(m, x, k1);
        for (int i = 0; i < kN; ++i) u[i] = x[i] + 0.5 * kH * k1[i];
        Field(m, u, k2);
        for (int i = 0; i < kN; ++i) u[i] = x[i] + 0.5 * kH * k2[i];
        Field(m, u, k3);
        for (int i = 0; i < kN; ++i) u[i] = x[i] + kH * k3[i];
        Field(m, u, k4);
        for (int i = 0; i < kN; ++i) {
          x[i] += kH / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]) + forcing * normal(engine_);
        }
      }
      const int s0 = member * kDraws;
      for (int i = 0; i < kN; ++i) samples_[static_cast<size_t>((t * kSamples + s0) * 3 + i)] = x[i];
    }
  }
  // Per output time and component: mean, std and the 90% Gaussian interval.
  double checksum = 0.0;
  for (int t = 0; t < kTimes; ++t) {
    for (int c = 0; c < 3; ++c) {
      double sum = 0.0, squares = 0.0;
      for (int s = 0; s < kSamples; ++s) {
        const double v = samples_[static_cast<size_t>((t * kSamples + s) * 3 + c)];
        sum += v;
        squares += v * v;
      }
      const double mean = sum / kSamples;
      const double std = std::sqrt(std::max(0.0, squares / kSamples - mean * mean));
      const double lower = mean - 1.6448536269514722 * std, upper = mean + 1.6448536269514722 * std;
      checksum += lower + upper;
    }
  }
  return checksum;
}

}  // namespace hybrid::loadtest
