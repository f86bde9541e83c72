// Trained weights of a HybridModel: every parameter (θ raw values, network
// weights, α) and buffer (input scaling), by module path (e.g.
// "physics.raw_rho", "correction.w0"), in a LibTorch archive — what training
// produces and a repository entry ships as `checkpoint.pt`. (Not the server's
// calibration checkpoints, server/durability/, nor the integrator's
// recomputed segments, solvers/integrate/ode_gradients.h.)
//
//   absl::Status s = SaveTrainedWeights(model, "repo/lorenz63/checkpoint.pt");
//   absl::Status l = LoadTrainedWeights(*fresh, "repo/lorenz63/checkpoint.pt");
//
// The archive records the physics and composition names; the architecture
// itself comes from the model's config, so loading needs a model built from
// the same spec. Save is atomic (WriteFileAtomically). Load is all or
// nothing: every tensor is checked before any is copied, so on error the model
// is unchanged. Errors: NOT_FOUND for a missing file; INVALID_ARGUMENT naming
// the tensor for a missing, extra, mis-shaped or non-finite tensor, or another
// physics/composition; INTERNAL for an unreadable archive. Neither call is
// safe concurrently with training the same model.
#pragma once

#include <map>
#include <string>

#include "absl/status/status.h"
#include "solvers/hybrid/hybrid_model.h"

namespace hybrid::solvers {

// Every parameter and buffer of `model` by module path (the archive's keys);
// the tensors share storage with the model's.
std::map<std::string, at::Tensor> NamedModelTensors(const HybridModel& model);

absl::Status SaveTrainedWeights(const HybridModel& model, const std::string& path);
absl::Status LoadTrainedWeights(HybridModel& model, const std::string& path);

}  // namespace hybrid::solvers
