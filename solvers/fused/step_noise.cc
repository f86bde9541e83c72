#include "solvers/fused/step_noise.h"

#include <Random123/philox.h>

#include <Random123/uniform.hpp>
#include <algorithm>
#include <cmath>
#include <xsimd/xsimd.hpp>

namespace hybrid::solvers {
namespace {

// Second key word: keeps these draws apart from any other use of the seed.
constexpr uint64_t kForcingStream = 0x666f7263696e6731;  // "forcing1"

using Batch = xsimd::batch<double>;
constexpr int64_t kWidth = static_cast<int64_t>(Batch::size);
constexpr int64_t kChunk = 8 * kWidth;  // Box–Muller pairs transformed together.

// Box–Muller of up to kChunk pairs of uniforms at once through xsimd (log,
// sqrt and sincos of every lane; the tail is padded, so a pair's normals do
// not depend on where in a chunk it falls): pair p's two normals go to
// where[p][0..count[p]).
class PairTransform {
 public:
  void Add(uint64_t angle, uint64_t radius, double* where, int count) {
    angle_[size_] = r123::uneg11<double>(angle);
    radius_[size_] = r123::u01<double>(radius);  // Never 0.
    where_[size_] = where;
    count_[size_] = count;
    if (++size_ == kChunk) Flush();
  }
  void Flush() {
    if (size_ == 0) return;
    std::fill(angle_ + size_, angle_ + kChunk, 0.0);
    std::fill(radius_ + size_, radius_ + kChunk, 1.0);
    for (int64_t i = 0; i < size_; i += kWidth) {
      const Batch r = xsimd::sqrt(Batch(-2.0) * xsimd::log(Batch::load_aligned(radius_ + i)));
      const auto [sin, cos] = xsimd::sincos(Batch(M_PI) * Batch::load_aligned(angle_ + i));
      (r * sin).store_aligned(first_ + i);
      (r * cos).store_aligned(second_ + i);
    }
    for (int64_t p = 0; p < size_; ++p) {
      where_[p][0] = first_[p];
      if (count_[p] == 2) where_[p][1] = second_[p];
    }
    size_ = 0;
  }

 private:
  alignas(64) double angle_[kChunk], radius_[kChunk], first_[kChunk], second_[kChunk];
  double* where_[kChunk];
  int count_[kChunk];
  int64_t size_ = 0;
};

}  // namespace

void StepNormals(const StepNoise& noise, int64_t step, int64_t member, double* out) {
  r123::Philox4x64 philox;
  const r123::Philox4x64::key_type key = {{noise.seed, kForcingStream}};
  PairTransform pairs;
  for (int64_t b = 0; b < noise.batch; ++b) {
    double* row = out + b * noise.dim;
    for (int64_t d = 0; d < noise.dim; d += 4) {
      const r123::Philox4x64::ctr_type counter = {{static_cast<uint64_t>(step), static_cast<uint64_t>(member),
                                                   static_cast<uint64_t>(noise.rows[b]), static_cast<uint64_t>(d / 4)}};
      const r123::Philox4x64::ctr_type bits = philox(counter, key);
      pairs.Add(bits[0], bits[1], row + d, static_cast<int>(std::min<int64_t>(2, noise.dim - d)));
      if (d + 2 < noise.dim)
        pairs.Add(bits[2], bits[3], row + d + 2, static_cast<int>(std::min<int64_t>(2, noise.dim - d - 2)));
    }
  }
  pairs.Flush();
}

}  // namespace hybrid::solvers
