// ServedModel without gRPC: snapshots, validation before queueing, and model
// errors that name the config field.
#include "server/core/served_model.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <future>

#include "server/repository/model_config.h"
#include "solvers/integrate/butcher_tableau.h"
#include "solvers/integrate/ode_solver.h"
#include "solvers/physics/lorenz63.h"

namespace hybrid::server {
namespace {

v1::ModelConfig Config(const std::string& extra = "") {
  return ParseModelConfig(
             "name: \"l63\" physics: PHYSICS_KIND_LORENZ63 ensemble_members: 2 "
             "parameters { name: \"rho\" initial: 20 trainable: true } correction { hidden: [4] } " +
                 extra,
             "test")
      .value();
}

// A served model from config text (parsed with defaults); fails the test on error.
std::unique_ptr<ServedModel> Serve(const std::string& text, Metrics* metrics) {
  return ServedModel::Create(ParseModelConfig(text, "test").value(), metrics).value();
}

Observation Window(std::vector<int64_t> shape, double step = 0.01, int64_t steps = 5) {
  Observation o;
  o.model = "l63";
  o.sequence = 1;
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  o.start = {shape, std::vector<double>(n, 1.0)};
  o.end = {shape, std::vector<double>(n, 1.1)};
  o.step = step;
  o.steps = steps;
  return o;
}

TEST(ServedModel, InfoNamesTheStateComponentsWithUnits) {
  Metrics metrics;
  std::unique_ptr<ServedModel> lorenz = ServedModel::Create(Config(), &metrics).value();
  std::vector<std::string> names;
  for (const ComponentInfo& c : lorenz->Info().components) names.push_back(c.name + " " + c.unit);
  EXPECT_EQ(names, (std::vector<std::string>{"x 1", "y 1", "z 1"}));
  std::unique_ptr<ServedModel> pkpd = Serve(
      "name: \"pk\" physics: PHYSICS_KIND_PKPD_TWO_COMPARTMENT structure { key: \"response\" value: 1 }", &metrics);
  const std::vector<ComponentInfo> components = pkpd->Info().components;
  ASSERT_EQ(components.size(), 5u);
  EXPECT_EQ(components[1].name, "central");
  EXPECT_EQ(components[1].unit, "mg");
  EXPECT_EQ(components[4].name, "response");
}

TEST(ServedModel, AcceptedObservationPublishesANewVersion) {
  Metrics metrics;
  std::unique_ptr<ServedModel> model = ServedModel::Create(Config(), &metrics).value();
  EXPECT_EQ(model->Info().version, 0u);
  std::promise<ObservationOutcome> done;
  ASSERT_TRUE(model->Submit(Window({4, 3}), [&](ObservationOutcome o) { done.set_value(o); }).ok());
  const ObservationOutcome outcome = done.get_future().get();
  EXPECT_TRUE(outcome.status.ok()) << outcome.status;
  EXPECT_EQ(outcome.version, 1u);
  EXPECT_EQ(model->Info().version, 1u);
  EXPECT_NE(model->Info().parameters[1].value, 20.0);  // ρ moved.
}

TEST(ServedModel, InvalidObservationsAreRejectedBeforeQueueing) {
  Metrics metrics;
  std::unique_ptr<ServedModel> model =
      ServedModel::Create(Config("calibration { max_window_steps: 50 }"), &metrics).value();
  auto never = [](ObservationOutcome) { ADD_FAILURE() << "rejected observation reached the worker"; };
  auto expect = [&](Observation o, absl::StatusCode code, const std::string& field) {
    absl::Status s = model->Submit(std::move(o), never);
    EXPECT_EQ(s.code(), code) << s;
    EXPECT_NE(s.message().find(field), absl::string_view::npos) << s;
  };
  expect(Window({4, 2}), absl::StatusCode::kInvalidArgument, "start_state");
  Observation mismatched = Window({4, 3});
  mismatched.end.shape = {3, 4};
  expect(mismatched, absl::StatusCode::kInvalidArgument, "end_state");
  expect(Window({3}, 0.0), absl::StatusCode::kInvalidArgument, "step");
  expect(Window({3}, 0.01, 0), absl::StatusCode::kInvalidArgument, "steps");
  expect(Window({3}, 0.01, 51), absl::StatusCode::kOutOfRange, "max_window_steps");
  Observation masked = Window({4, 3});
  masked.mask = {{4, 2}, std::vector<double>(8, 1.0)};
  expect(masked, absl::StatusCode::kInvalidArgument, "mask must have the same shape");
  masked.mask = {{4, 3}, std::vector<double>(12, 0.5)};
  expect(masked, absl::StatusCode::kInvalidArgument, "mask values must be 0 or 1");
  masked.mask = {{4, 3}, std::vector<double>(12, 0.0)};
  expect(masked, absl::StatusCode::kInvalidArgument, "mask observes no component");
  Observation with_path = Window({4, 3}, 0.01, 2);
  with_path.path = {{4, 3, 3}, std::vector<double>(36, 1.1)};
  expect(with_path, absl::StatusCode::kInvalidArgument, "path must have shape [W, steps, 3]");
  with_path.path = {{4, 2, 3}, std::vector<double>(24, 1.0)};
  expect(with_path, absl::StatusCode::kInvalidArgument, "path: its last state must equal end_state");
  EXPECT_EQ(model->Info().version, 0u);
}

TEST(ServedModel, UnobservedComponentsDoNotChangeTheUpdate) {
  auto loss_of = [](double unobserved_value) {
    Metrics metrics;
    std::unique_ptr<ServedModel> model = ServedModel::Create(Config(), &metrics).value();
    Observation o = Window({2, 3});
    o.mask = {{2, 3}, {1, 1, 0, 1, 1, 0}};  // z unobserved.
    o.end.values[2] = o.end.values[5] = unobserved_value;
    std::promise<ObservationOutcome> done;
    EXPECT_TRUE(model->Submit(o, [&](ObservationOutcome r) { done.set_value(r); }).ok());
    const ObservationOutcome outcome = done.get_future().get();
    EXPECT_TRUE(outcome.status.ok()) << outcome.status;
    return std::make_pair(outcome.loss, model->Info().parameters[1].value);
  };
  EXPECT_EQ(loss_of(1.1), loss_of(1e6));
}

TEST(ServedModel, PredictValidatesAgainstTheModel) {
  Metrics metrics;
  std::unique_ptr<ServedModel> model = ServedModel::Create(Config("limits { max_total_steps: 100 }"), &metrics).value();
  PredictQuery q;
  q.model = "l63";
  q.initial_state = {{3}, {1.0, 1.0, 20.0}};
  q.times = {0.5, 1.0};  // Exactly the 100-step limit.
  q.max_step = 0.01;
  q.levels = {0.5, 0.9};
  absl::StatusOr<PredictAnswer> a = model->Predict(q);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->mean.shape, (std::vector<int64_t>{2, 3}));
  ASSERT_EQ(a->intervals.size(), 2u);
  for (size_t i = 0; i < a->mean.values.size(); ++i) {
    EXPECT_LT(a->intervals[1].lower.values[i], a->intervals[0].lower.values[i]);
    EXPECT_GT(a->intervals[1].upper.values[i], a->intervals[0].upper.values[i]);
  }
  EXPECT_EQ(a->ensemble_size, 2);
  // A smaller ensemble: all members (2) is the default forecast bit for bit,
  // one member has no member spread (its std is the model-error forcing's
  // alone, which grows with lead time) and another mean; more members than the
  // config's is OUT_OF_RANGE.
  q.ensemble_size = 2;
  EXPECT_EQ(model->Predict(q)->mean.values, a->mean.values);
  q.ensemble_size = 1;
  absl::StatusOr<PredictAnswer> one = model->Predict(q);
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(one->ensemble_size, 1);
  EXPECT_NE(one->mean.values, a->mean.values);
  for (size_t i = 0; i < 3; ++i) EXPECT_GT(one->std.values[i], 0.0);
  for (int64_t bad : {3, -1}) {
    q.ensemble_size = bad;
    absl::Status s = model->Predict(q).status();
    EXPECT_EQ(s.code(), bad > 0 ? absl::StatusCode::kOutOfRange : absl::StatusCode::kInvalidArgument) << s;
    EXPECT_NE(s.message().find("ensemble_size"), absl::string_view::npos) << s;
  }
  q.ensemble_size = 0;
  q.times = {0.5, 1.01};
  EXPECT_EQ(model->Predict(q).status().code(), absl::StatusCode::kOutOfRange);
  q.times = {0.5, 1.0};
  q.initial_state = {{2, 2}, {1.0, 1.0, 1.0, 1.0}};
  absl::Status s = model->Predict(q).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("initial_state"), absl::string_view::npos);
}

TEST(ServedModel, ConfigErrorsFromTheSolversNameTheField) {
  Metrics metrics;
  absl::Status s = ServedModel::Create(Config("parameters { name: \"gamma\" initial: 1 }"), &metrics).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("gamma"), absl::string_view::npos);
  v1::ModelConfig zero_width = Config();
  zero_width.mutable_correction()->set_hidden(0, 0);
  s = ServedModel::Create(zero_width, &metrics).status();
  EXPECT_NE(s.message().find("correction.hidden[0]"), absl::string_view::npos) << s;
}

}  // namespace
}  // namespace hybrid::server

namespace hybrid::server {
namespace {

TEST(ServedModel, DeviceIsCpuByDefaultAndCudaFailsWithTheReasonOnACpuBuild) {
  EXPECT_EQ(Config().device(), "cpu");
  for (const char* bad : {"gpu", "cuda:", "cuda:x", "CPU", "cuda:1234"}) {
    absl::StatusOr<v1::ModelConfig> c = ParseModelConfig(std::string("name: \"l63\" physics: PHYSICS_KIND_LORENZ63 "
                                                                     "device: \"") +
                                                             bad + "\"",
                                                         "test");
    ASSERT_FALSE(c.ok()) << bad;
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(c.status().message().find("device"), absl::string_view::npos) << c.status();
  }
  Metrics metrics;
  for (const char* cuda : {"cuda", "cuda:1"}) {
    absl::StatusOr<std::unique_ptr<ServedModel>> m =
        ServedModel::Create(Config(std::string("device: \"") + cuda + "\""), &metrics);
    ASSERT_FALSE(m.ok()) << cuda;  // Debian's LibTorch has no CUDA, and the server none yet.
    EXPECT_EQ(m.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_NE(m.status().message().find("device: '" + std::string(cuda) + "'"), absl::string_view::npos) << m.status();
    EXPECT_NE(m.status().message().find("set device: \"cpu\""), absl::string_view::npos) << m.status();
  }
}

TEST(ServedModel, FullQueueIsResourceExhaustedAndCounted) {
  Metrics metrics;
  std::unique_ptr<ServedModel> model =
      ServedModel::Create(Config("calibration { queue_capacity: 1 }"), &metrics).value();
  // Each of these keeps the worker busy far longer than the three submissions take.
  Observation heavy = Window({64, 3}, 1e-3, 500);
  std::atomic<int> answered{0};
  auto count = [&](ObservationOutcome) { ++answered; };
  int exhausted = 0;
  for (int i = 0; i < 3; ++i) {
    absl::Status s = model->Submit(heavy, count);
    if (s.code() == absl::StatusCode::kResourceExhausted) {
      ++exhausted;
      EXPECT_NE(s.message().find("queue"), absl::string_view::npos);
    } else {
      EXPECT_TRUE(s.ok()) << s;
    }
  }
  // One running + one queued at most: the third cannot fit.
  EXPECT_GE(exhausted, 1);
  model.reset();  // Answers what was queued, then stops.
  EXPECT_EQ(answered.load(), 3 - exhausted);
  EXPECT_EQ(metrics.ForModel("l63", 0.9).rejected->Value(), exhausted);
}

// Observations still queued when their stream goes away are answered CANCELLED
// and never applied; the one already running finishes.
TEST(ServedModel, QueuedObservationsOfACancelledStreamAreDropped) {
  Metrics metrics;
  std::unique_ptr<ServedModel> model = ServedModel::Create(Config(), &metrics).value();
  std::atomic<bool> gone{false};
  std::atomic<int> asked{0};
  std::promise<void> taken;  // The worker asks `cancelled` first thing when it takes an observation.
  Observation heavy = Window({64, 3}, 1e-3, 500);  // Busy long after the next two are queued.
  // The first is taken (and logged: the worker asks again before logging) before the stream goes away; a
  // shared flag could turn between those two questions under load and drop it too.
  heavy.cancelled = [&] {
    if (asked++ == 0) taken.set_value();
    return false;
  };
  std::vector<std::promise<ObservationOutcome>> done(3);
  for (int i = 0; i < 3; ++i) {
    if (i == 1) {
      taken.get_future().wait();
      heavy.cancelled = [&] { return gone.load(); };
    }
    heavy.sequence = i + 1;
    ASSERT_TRUE(model->Submit(heavy, [&done, i](ObservationOutcome o) { done[i].set_value(o); }).ok());
  }
  gone = true;
  const ObservationOutcome first = done[0].get_future().get();
  EXPECT_TRUE(first.status.ok()) << first.status;
  for (int i = 1; i < 3; ++i) {
    const ObservationOutcome dropped = done[i].get_future().get();
    EXPECT_EQ(dropped.status.code(), absl::StatusCode::kCancelled) << dropped.status;
    EXPECT_EQ(dropped.sequence, static_cast<uint64_t>(i + 1));
  }
  EXPECT_EQ(model->Info().observations_accepted, 1u);
  EXPECT_EQ(model->Info().version, first.version);
}

}  // namespace
}  // namespace hybrid::server

namespace hybrid::server {
namespace {

TEST(ServedModel, Float32ModelsPredictAndCalibrate) {
  Metrics metrics;
  std::unique_ptr<ServedModel> model = ServedModel::Create(Config("dtype: \"float32\""), &metrics).value();
  std::promise<ObservationOutcome> done;
  ASSERT_TRUE(model->Submit(Window({4, 3}), [&](ObservationOutcome o) { done.set_value(o); }).ok());
  const ObservationOutcome outcome = done.get_future().get();
  ASSERT_TRUE(outcome.status.ok()) << outcome.status;
  EXPECT_TRUE(std::isfinite(outcome.loss));
  PredictQuery q;
  q.initial_state = {{2, 3}, {1.0, 1.0, 20.0, -1.0, 2.0, 25.0}};
  q.times = {0.1, 0.2};
  absl::StatusOr<PredictAnswer> a = model->Predict(q);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->mean.shape, (std::vector<int64_t>{2, 2, 3}));
  EXPECT_EQ(a->version, 1u);
}

}  // namespace
}  // namespace hybrid::server

namespace hybrid::server {
namespace {

TEST(ServedModel, ServesOtherCatalogModelsWithTheirStructure) {
  Metrics metrics;
  absl::StatusOr<v1::ModelConfig> config = ParseModelConfig(
      "name: \"l96\" physics: PHYSICS_KIND_LORENZ96 structure { key: \"n\" value: 8 } "
      "parameters { name: \"F\" initial: 6 trainable: true } ensemble_members: 2",
      "test");
  ASSERT_TRUE(config.ok()) << config.status();
  std::unique_ptr<ServedModel> model = ServedModel::Create(*config, &metrics).value();
  PredictQuery q;
  q.initial_state = {{8}, std::vector<double>(8, 1.0)};
  q.initial_state.values[3] = 1.01;
  q.times = {0.1, 0.2};
  absl::StatusOr<PredictAnswer> a = model->Predict(q);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->mean.shape, (std::vector<int64_t>{2, 8}));
  EXPECT_EQ(model->Info().parameters[0].name, "F");
  ASSERT_EQ(model->Info().components.size(), 8u);  // Lorenz-96's default names.
  EXPECT_EQ(model->Info().components[7].name, "x7");

  config->mutable_structure()->insert({"grid", 4});
  absl::Status s = ServedModel::Create(*config, &metrics).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("structure.grid"), absl::string_view::npos) << s;
}

TEST(ServedModel, EveryCalibrationMethodUpdatesTheModel) {
  for (const std::string method : {"BACKPROP", "EGA_STATIC", "EGA_JACOBIAN", "EGA_TLM", "EGA_ENSEMBLE"}) {
    Metrics metrics;
    std::unique_ptr<ServedModel> model =
        ServedModel::Create(Config("calibration { method: CALIBRATION_METHOD_" + method + " }"), &metrics).value();
    std::promise<ObservationOutcome> done;
    ASSERT_TRUE(model->Submit(Window({4, 3}), [&](ObservationOutcome o) { done.set_value(o); }).ok());
    const ObservationOutcome outcome = done.get_future().get();
    EXPECT_TRUE(outcome.status.ok()) << method << ": " << outcome.status;
    EXPECT_EQ(outcome.version, 1u) << method;
    EXPECT_NE(model->Info().parameters[1].value, 20.0) << method;  // ρ moved (by its Euler gradient for EGA).
  }
}

TEST(ServedModel, BlackBoxPhysicsRefusesCalibratorsItCannotSupport) {
  Metrics metrics;
  const std::string base =
      "name: \"l96\" physics: PHYSICS_KIND_LORENZ96_STEP ensemble_members: 4 structure { key: \"n\" value: 8 } "
      "parameters { name: \"F\" initial: 6 trainable: true } ";
  auto create = [&](const std::string& calibration) {
    return ServedModel::Create(ParseModelConfig(base + calibration, "test").value(), &metrics).status();
  };
  absl::Status s = create("");  // BACKPROP by default.
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("calibration.method: backprop needs differentiable physics"), absl::string_view::npos)
      << s;
  s = create("calibration { method: CALIBRATION_METHOD_EGA_STATIC }");
  EXPECT_NE(s.message().find("calibration.theta_update"), absl::string_view::npos) << s;
  EXPECT_TRUE(
      create("calibration { method: CALIBRATION_METHOD_EGA_STATIC theta_update: THETA_UPDATE_ENSEMBLE_KALMAN }").ok());
  s = create("plugin { library: \"x.so\" } calibration { method: CALIBRATION_METHOD_EGA_STATIC }");
  EXPECT_NE(s.message().find("plugin: only for physics PHYSICS_KIND_PLUGIN"), absl::string_view::npos) << s;
}

TEST(ServedModel, ADivergingBlackBoxForecastIsAFailedPrecondition) {
  Metrics metrics;
  std::unique_ptr<ServedModel> model =
      Serve("name: \"l63\" physics: PHYSICS_KIND_LORENZ63_STEP calibration { method: CALIBRATION_METHOD_EGA_STATIC }",
            &metrics);
  PredictQuery q;
  q.model = "l63";
  q.initial_state = {{3}, {1e200, 1e200, 1e200}};
  q.times = {0.1};
  q.max_step = 0.01;
  q.levels = {0.9};
  absl::Status s = model->Predict(q).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_NE(s.message().find("non-finite"), absl::string_view::npos) << s;
  q.initial_state = {{3}, {1.0, 1.0, 20.0}};
  EXPECT_TRUE(model->Predict(q).ok());
}

TEST(ServedModel, AnObservedPathEntersTheLossAtEveryStep) {
  // The true Lorenz-63 as a physics-only model: zero error on its own path, and
  // an error of 1 in every component of the n − 1 intermediate states gives
  // MSE (n − 1)/n.
  Metrics metrics;
  std::unique_ptr<ServedModel> model = Serve(
      "name: \"l63\" physics: PHYSICS_KIND_LORENZ63 ensemble_members: 1 "
      "correction { composition: COMPOSITION_PHYSICS_ONLY } "
      "uncertainty { guard_false_alarm: -1 }",  // The shifted path is an outlier: loss arithmetic only here.
      &metrics);
  const int64_t n = 5;
  std::shared_ptr<solvers::Lorenz63> truth = solvers::Lorenz63::Create(solvers::PhysicsOptions{}).value();
  at::Tensor x = at::tensor({1.0, 2.0, 20.0}, at::kDouble).view({1, 1, 3});
  Observation o = Window({3}, 0.01, n);
  o.start.values = {1.0, 2.0, 20.0};
  std::vector<double> path;
  for (int64_t k = 0; k < n; ++k) {
    x = solvers::IntegrateFixed(solvers::ClassicRk4(), *truth, x, 0.0, 0.01, 1);
    for (int d = 0; d < 3; ++d) path.push_back(x[0][0][d].item<double>());
  }
  o.end.values.assign(path.end() - 3, path.end());
  auto loss_of = [&](std::vector<double> observed_path) {
    o.path = {{n, 3}, std::move(observed_path)};
    std::promise<ObservationOutcome> done;
    EXPECT_TRUE(model->Submit(o, [&](ObservationOutcome r) { done.set_value(r); }).ok());
    const ObservationOutcome outcome = done.get_future().get();
    EXPECT_TRUE(outcome.status.ok()) << outcome.status;
    return outcome.loss;
  };
  EXPECT_LT(loss_of(path), 1e-20);
  std::vector<double> shifted = path;
  for (size_t i = 0; i + 3 < shifted.size(); ++i) shifted[i] += 1.0;
  EXPECT_NEAR(loss_of(shifted), static_cast<double>(n - 1) / n, 1e-12);
}

}  // namespace
}  // namespace hybrid::server
