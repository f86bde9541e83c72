// The five-state COVID-19 disease-progression model with dexamethasone
// treatment of Qian, Zame, Fleuren, Elbers & van der Schaar (NeurIPS 2021,
// "Integrating expert ODEs into neural ODEs: pharmacology and disease
// progression"), the expert model of their latent hybridisation model:
//   ż1 = k_IR z4 + k_PF z4 z1 − k_O z1 + Emax z1^h_P / (EC50^h_P + z1^h_P) − k_Dex z1 z2
//   ż2 = −k2 z2 + k3 z3
//   ż3 = −k3 z3
//   ż4 = k_DP z4 − k_IIR z4 z1 − k_DC z4 z5^h_C
//   ż5 = k1 z1
// z1 innate immune response, z2 dexamethasone in lung tissue, z3 dexamethasone
// in plasma (a dose is a bolus added to z3), z4 viral load (disease), z5
// adaptive immunity. Time in days; levels non-negative (negative z1, z5 are
// read as 0 inside the Hill terms). Defaults as in the authors' simulation
// configuration: every rate 1, Hill coefficients h_P = h_C = 2.
// State [M, B, 5]; 14 parameters, names as above.
#include <ATen/ATen.h>

#include <memory>

#include "absl/status/statusor.h"
#include "solvers/physics/physics_catalog.h"
#include "solvers/physics/scientific_model.h"

namespace hybrid::solvers {
namespace {

const std::vector<ParameterSpec>& DiseaseProgressionSpecs() {
  static const std::vector<ParameterSpec> specs = {
      {"k_IR", "1/day", 1.0, 1e-6, 1e3, "innate immune response to the virus"},
      {"k_PF", "1/day", 1.0, 1e-6, 1e3, "positive feedback of the immune response"},
      {"k_O", "1/day", 1.0, 1e-6, 1e3, "switch-off of the immune response"},
      {"Emax", "1/day", 1.0, 1e-6, 1e3, "maximal pathological immune activation"},
      {"EC50", "1", 1.0, 1e-6, 1e3, "immune level at half-maximal activation"},
      {"h_P", "1", 2.0, 1e-2, 20.0, "Hill coefficient of the activation"},
      {"k_Dex", "1/day", 1.0, 1e-6, 1e3, "suppression by dexamethasone"},
      {"k_DP", "1/day", 1.0, 1e-6, 1e3, "disease progression (viral growth)"},
      {"k_IIR", "1/day", 1.0, 1e-6, 1e3, "clearance by the innate response"},
      {"k_DC", "1/day", 1.0, 1e-6, 1e3, "clearance by adaptive immunity"},
      {"h_C", "1", 2.0, 1e-2, 20.0, "Hill coefficient of the adaptive clearance"},
      {"k1", "1/day", 1.0, 1e-6, 1e3, "build-up of adaptive immunity"},
      {"k2", "1/day", 1.0, 1e-6, 1e3, "elimination of dexamethasone from lung tissue"},
      {"k3", "1/day", 1.0, 1e-6, 1e3, "transfer of dexamethasone from plasma"},
  };
  return specs;
}

class DiseaseProgression final : public ScientificModel {
 public:
  explicit DiseaseProgression(const PhysicsOptions& options) : ScientificModel(DiseaseProgressionSpecs(), options) {}
  int64_t state_dim() const override { return 5; }
  std::vector<StateComponent> Components() const override {
    return {{"innate_response", "1"}, {"dexamethasone_lung", "1"}, {"dexamethasone_plasma", "1"},
            {"viral_load", "1"}, {"adaptive_immunity", "1"}};
  }
  at::Tensor Evaluate(double t, const at::Tensor& x) const override;
};

enum Parameter : size_t { kIR, kPF, kO, kEmax, kEC50, kHP, kDex, kDP, kIIR, kDC, kHC, k1, k2, k3 };

}  // namespace

at::Tensor DiseaseProgression::Evaluate(double /*t*/, const at::Tensor& x) const {
  CheckState(x);
  auto p = [&](Parameter i) { return MemberValue(i, 2); };
  const at::Tensor z1 = x.select(2, 0), z2 = x.select(2, 1), z3 = x.select(2, 2), z4 = x.select(2, 3),
                   z5 = x.select(2, 4);
  const at::Tensor activation = z1.clamp_min(0.0).pow(p(kHP));
  const at::Tensor dz1 = p(kIR) * z4 + p(kPF) * z4 * z1 - p(kO) * z1 +
                         p(kEmax) * activation / (p(kEC50).pow(p(kHP)) + activation) - p(kDex) * z1 * z2;
  const at::Tensor dz2 = -p(k2) * z2 + p(k3) * z3;
  const at::Tensor dz3 = -p(k3) * z3;
  const at::Tensor dz4 = p(kDP) * z4 - p(kIIR) * z4 * z1 - p(kDC) * z4 * z5.clamp_min(0.0).pow(p(kHC));
  const at::Tensor dz5 = p(k1) * z1;
  return at::stack({dz1, dz2, dz3, dz4, dz5}, 2);
}

HYBRID_REGISTER_PHYSICS(disease_progression,
                        "Qian et al. 2021 five-state COVID-19 progression with dexamethasone (14 rates)",
                        ParametersOnlyFactory<DiseaseProgression, DiseaseProgressionSpecs>)

}  // namespace hybrid::solvers
