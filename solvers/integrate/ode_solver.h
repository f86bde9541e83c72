// SolveOde: integrate dx/dt = f(t, x) from (t0, x0) and return the state at each
// requested output time, with any explicit Runge–Kutta method, in fixed-step or
// adaptive mode.
//
//   SolverOptions o;
//   o.method = "dopri5";
//   o.adaptive = true;
//   o.rtol = 1e-8;
//   absl::StatusOr<Trajectory> r = SolveOde(field, x0, /*t0=*/0.0, {0.5, 1.0, 2.0}, o);
//   // r->states: [T, x0.shape...]; r->stats: steps accepted/rejected, f evaluations
//
// Fixed-step mode splits each interval between output times into
// ceil(Δt / step) equal steps, so output times are hit exactly. Adaptive mode
// (methods with an embedded error estimate: heun, dopri5) controls the local
// error with a PI controller (Hairer & Wanner, "Solving ODEs I", II.4; constants
// of dopri5.f) so that, for every batch row, the RMS of
// error / (atol + rtol·max(|x_n|, |x_{n+1}|)) stays ≤ 1; Dormand–Prince answers
// output times by dense output between steps, other methods shorten the step to
// land on them. One step size serves the whole batch (the row needing the
// smallest decides), so each row may start anywhere.
//
// States: any shape whose first dimension is the batch ([B, D], [M, B, D],
// [B, C, H, W]); a 1-D state is one row. float32/float64, any device. Gradients
// flow through every stage (backprop through the steps); step-size decisions
// are not differentiated.
// Errors: INVALID_ARGUMENT naming the option or `times`; FAILED_PRECONDITION
// naming t for a non-finite state, step-size underflow or max_steps exceeded;
// the interrupt's status when it stops the solve.
// Thread-safe as long as the VectorField is.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "solvers/integrate/butcher_tableau.h"
#include "solvers/integrate/vector_field.h"

namespace hybrid::solvers {

struct SolverOptions {
  std::string method = "rk4";  // euler | heun | rk4 | dopri5
  bool adaptive = false;
  double step = 0.01;          // Fixed: largest step. Adaptive: largest step, 0 for none.
  double rtol = 1e-6;          // Adaptive only.
  double atol = 1e-9;          // Adaptive only.
  double first_step = 0.0;     // Adaptive: 0 chooses it (Hairer's initial-step heuristic).
  double min_step = 0.0;       // Adaptive: smaller steps are an underflow (always ≥ 16 ulp of t).
  int64_t max_steps = 100000;  // Accepted + rejected steps.
  // Asked between steps (every 16 in fixed mode); a non-OK answer (e.g.
  // DEADLINE_EXCEEDED, CANCELLED) ends the solve with that status. Unset: never.
  std::function<absl::Status()> interrupt;
};

struct SolveStats {
  int64_t accepted = 0;
  int64_t rejected = 0;
  int64_t evaluations = 0;
};

// The steps a solve took and where its outputs sit on them, so that a solve
// can be replayed exactly (checkpointed gradients recompute segments with it).
struct StepSchedule {
  struct Output {
    int64_t step;  // Index into t/h.
    double theta;  // Position inside that step; 1 is its end.
  };
  std::vector<double> t, h;  // Accepted steps, in order.
  std::vector<Output> outputs;
};

struct Trajectory {
  at::Tensor states;  // [T, x0.shape...]
  SolveStats stats;
  StepSchedule schedule;
};

absl::Status ValidateSolverOptions(const SolverOptions& options);

absl::StatusOr<Trajectory> SolveOde(const VectorField& f, const at::Tensor& x0, double t0,
                                    absl::Span<const double> times, const SolverOptions& options);

// `steps` fixed steps of size h from (t0, x0): the state at t0 + steps·h.
// No checks and no copies of the trajectory: the calibration hot path.
// Classical RK4 of a field with a fused kernel for x0 runs in that kernel.
at::Tensor IntegrateFixed(const ButcherTableau& tableau, const VectorField& f, const at::Tensor& x0, double t0,
                          double h, int64_t steps);
// The same, keeping the state after every `every`-th step, stacked before
// the last dimension: [..., steps / every, D]. Precondition: steps % every == 0.
at::Tensor IntegrateFixedPath(const ButcherTableau& tableau, const VectorField& f, const at::Tensor& x0, double t0,
                              double h, int64_t steps, int64_t every);

// Steps fixed-step mode takes between two times (⌈Δt / step⌉, at least 1),
// and for a whole grid (for limits checks before solving); nullopt when the
// count does not fit int64 (a tiny step over a long horizon).
std::optional<int64_t> FixedStepsBetween(double from, double to, double step);
std::optional<int64_t> FixedStepCount(double t0, absl::Span<const double> times, double step);

// Runs schedule steps [first, last) from x (the state at schedule.t[first]) and
// calls emit(output index, state) for every output on those steps; returns the
// state after step last − 1. Reproduces the original solve's values exactly.
at::Tensor ReplaySteps(const ButcherTableau& tableau, const VectorField& f, const StepSchedule& schedule, int64_t first,
                       int64_t last, at::Tensor x, const std::function<void(size_t, const at::Tensor&)>& emit);

}  // namespace hybrid::solvers
