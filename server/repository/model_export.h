// ExportModelEntry: writes a trained HybridModel as a model-repository entry
// that hybridserve serves as it is:
//   <repository>/<name>/config.pbtxt   the architecture (ConfigFromModel) with
//                                      default calibration and limits (for
//                                      black-box physics: ega-static, and the
//                                      ensemble Kalman update for trainable θ)
//   <repository>/<name>/checkpoint.pt  the trained values (SaveTrainedWeights)
//   <repository>/<name>/<module>.pt    a TorchScript physics' module, copied
//                                      (atomically; a module named like the
//                                      entry's own files is INVALID_ARGUMENT)
//
//   absl::Status s = ExportModelEntry(*model, "out/model_repository", "pendulum_hybrid", "…");
//
// The checkpoint is written before the config, each atomically, so a reader
// never finds a config naming a missing or partial checkpoint. Errors:
// INVALID_ARGUMENT for a name that is not a plain folder name or a model the
// config cannot describe; UNAVAILABLE for file-system failures (naming the path).
#pragma once

#include <string>

#include "absl/status/status.h"
#include "solvers/hybrid/hybrid_model.h"

namespace hybrid::server {

// residual_std > 0 becomes uncertainty.initial_model_error_std: the model
// error the served intervals assume before any observation arrives (e.g. the
// trained model's validation RMSE); 0 keeps the config default (1, conservative).
absl::Status ExportModelEntry(const solvers::HybridModel& model, const std::string& repository, const std::string& name,
                              const std::string& description, double residual_std = 0.0);

}  // namespace hybrid::server
