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
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "solvers/scientific_model.h"

namespace hybrid::solvers {

class DiseaseProgression : public ScientificModel {
 public:
  static absl::StatusOr<std::shared_ptr<DiseaseProgression>> Create(const PhysicsOptions& options);
  static const std::vector<ParameterSpec>& Specs();

  int64_t state_dim() const override { return 5; }
  at::Tensor Evaluate(double t, const at::Tensor& x) const override;

 private:
  explicit DiseaseProgression(const PhysicsOptions& options) : ScientificModel(Specs(), options) {}
};

}  // namespace hybrid::solvers
