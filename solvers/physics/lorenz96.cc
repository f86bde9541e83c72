// Lorenz-96 (Lorenz 1996, "Predictability: a problem partly solved"), the
// standard toy for climate closures:
//   dx_i/dt = (x_{i+1} − x_{i−2}) x_{i−1} − x_i + F,   i = 1…N, periodic,
// defaults N = 40, F = 8 (chaotic). Dimensionless. Structure: "n" (4…100000).
// The advection term conserves ½Σx_i², so d/dt ½Σx² = −Σx_i² + F Σx_i.
// State [M, B, N]; parameter "F" (forcing), one value per member.
#include <ATen/ATen.h>

#include <memory>

#include "absl/status/statusor.h"
#include "solvers/physics/physics_catalog.h"
#include "solvers/physics/scientific_model.h"

namespace hybrid::solvers {
namespace {

const std::vector<ParameterSpec>& Lorenz96Specs() {
  static const std::vector<ParameterSpec> specs = {{"F", "1", 8.0, 1e-3, 1e3, "forcing"}};
  return specs;
}

class Lorenz96 final : public ScientificModel {
 public:
  Lorenz96(const PhysicsOptions& options, int64_t n) : ScientificModel(Lorenz96Specs(), options), n_(n) {}
  int64_t state_dim() const override { return n_; }
  // The default "x0" … , each on its site of the ring.
  std::vector<StateComponent> Components() const override {
    std::vector<StateComponent> out = ScientificModel::Components();
    for (int64_t i = 0; i < n_; ++i) out[static_cast<size_t>(i)].cell = {i};
    return out;
  }
  StateGrid Grid() const override { return {{n_}, /*periodic=*/true}; }
  at::Tensor Evaluate(double t, const at::Tensor& x) const override;

 private:
  int64_t n_;
};

absl::StatusOr<std::shared_ptr<ScientificModel>> CreateLorenz96(const PhysicsOptions& options) {
  ScientificModel::OptionsReader read(Lorenz96Specs(), options, {"n"});
  const int64_t n = read.Int("n", 40, 4, 100000);
  if (!read.status().ok()) return read.status();
  return std::make_shared<Lorenz96>(options, n);
}

}  // namespace

at::Tensor Lorenz96::Evaluate(double /*t*/, const at::Tensor& x) const {
  CheckState(x);
  // roll(x, s)[i] = x[i − s]
  return (at::roll(x, -1, 2) - at::roll(x, 2, 2)) * at::roll(x, 1, 2) - x + MemberValue(0, 3);
}

HYBRID_REGISTER_PHYSICS(lorenz96, "Lorenz-96 atmosphere (forcing F); structure n", CreateLorenz96)

}  // namespace hybrid::solvers
