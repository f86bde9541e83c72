// TorchScript correction: the neural correction g(x; φ) of a hybrid model as
// a network a user wrote in PyTorch (a U-Net closure, an attention block) and
// saved with torch.jit.save; its weights are φ, trained online like the
// built-in MLP's and CNN's.
//
//   absl::StatusOr<std::shared_ptr<const TorchScriptCorrectionFile>> f =
//       LoadTorchScriptCorrection("/repo/heat/closure.pt", /*state_dim=*/64, at::kDouble);
//   ScriptedCorrection g(*f, /*members=*/5, at::kDouble);
//   at::Tensor y = g->Forward(x);  // x [M, B, D] → y [M, B, D]
//
// The module's contract (README.md, "Bring your own PyTorch model"):
//   forward(self, x: Tensor) -> Tensor
//     x      [B, D] states of one ensemble member (a field flattened
//            channel-major, row-major: the module reshapes it as it needs);
//     return [B, D] the correction to dx/dt, in x's dtype.
// Every member owns a deep copy of the module, converted to the model's dtype
// and starting at the file's weights (members then differ by their θ draws and
// what training does with them). The copies' parameters are this module's
// torch::nn parameters, named "m<member>_<path with '.' as '_'>" (so a
// checkpoint holds them as "correction.m0_conv1_weight"); those saved with
// requires_grad (nn.Parameter's default) are trained, frozen ones are kept as
// they are. The copies stay in eval mode: a scripted dropout does not sample.
//
// LoadTorchScriptCorrection checks, before anything serves: the file loads; it
// has forward(self, x), which assigns to no attribute of the module; it has
// parameters to train (saved with requires_grad), with distinct names; on a probe (two states around 0.5,
// fixed seed) it answers [B, D] in the model's dtype with finite values; and
// autograd with respect to x and the weights matches central differences
// (float64, 1e-4 relative). Failures are INVALID_ARGUMENT naming the file
// (correction.torchscript_file '…'), the method and the fault.
//
// Thread-safety: Forward is const and may run from several threads (the
// copies are never changed by it); training needs a single owner. Forward
// throws SolverFailure naming the file when the module throws or answers
// another shape or dtype (FAILED_PRECONDITION through RunCatchingTorch).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace torch::jit {
struct Module;
}  // namespace torch::jit

namespace hybrid::solvers {

// A correction module loaded and checked once, shared by every copy of a model.
class TorchScriptCorrectionFile {
 public:
  ~TorchScriptCorrectionFile();
  const std::string& file() const { return file_; }
  int64_t state_dim() const { return state_dim_; }
  // A deep copy in `dtype`, for one member (its values only: the copy shares
  // the module's type and methods, so copies can be made from several threads).
  torch::jit::Module Copy(at::ScalarType dtype) const;
  // Whether the parameter at `path` ("conv1.weight") was saved trainable.
  bool Trainable(const std::string& path) const { return trainable_.count(path) > 0; }

 private:
  friend absl::StatusOr<std::shared_ptr<const TorchScriptCorrectionFile>> LoadTorchScriptCorrection(
      const std::string& file, int64_t state_dim, at::ScalarType dtype);
  TorchScriptCorrectionFile(std::string file, int64_t state_dim, std::set<std::string> trainable,
                            std::unique_ptr<torch::jit::Module> module);

  const std::string file_;
  const int64_t state_dim_;
  const std::set<std::string> trainable_;
  const std::unique_ptr<torch::jit::Module> module_;  // Only copied.
};

absl::StatusOr<std::shared_ptr<const TorchScriptCorrectionFile>> LoadTorchScriptCorrection(const std::string& file,
                                                                                           int64_t state_dim,
                                                                                           at::ScalarType dtype);

class ScriptedCorrectionImpl : public torch::nn::Module {
 public:
  ScriptedCorrectionImpl(std::shared_ptr<const TorchScriptCorrectionFile> source, int64_t members,
                         at::ScalarType dtype);
  ~ScriptedCorrectionImpl() override;
  // g for every member: x [M, B, D] → [M, B, D]. Throws SolverFailure.
  at::Tensor Forward(const at::Tensor& x) const;
  const std::shared_ptr<const TorchScriptCorrectionFile>& source() const { return source_; }

 private:
  std::shared_ptr<const TorchScriptCorrectionFile> source_;
  std::vector<std::unique_ptr<torch::jit::Module>> copies_;  // One per member.
};
TORCH_MODULE(ScriptedCorrection);

}  // namespace hybrid::solvers
