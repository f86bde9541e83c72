// Entities without gRPC: the copy-on-write table, the observation space's
// checks, and ServedModel's Observe / GetEntity / Predict-by-entity against
// mathematics — the analysis of a linear PK model against the Kalman update
// computed here independently (exact matrix-exponential forecast, textbook
// gain), inputs against their exact effect, a replay of the log that
// reproduces every entity bit for bit, and checkpoints that write only the
// entities that changed.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <numeric>
#include <random>

#include "server/core/entities/entity_filter.h"
#include "server/core/entities/entity_table.h"
#include "server/core/entities/observation_space.h"
#include "server/core/served_model.h"
#include "server/repository/model_config.h"
#include "tests/scoped_temp_dir.h"
#include "tests/solvers/linear_pk.h"

namespace hybrid::server {
namespace {

// A physics-only PK model (pkpd.h defaults: dx/dt = A x) with a plasma
// sensor, an oral dose and an infusion.
constexpr char kPk[] = R"(
  name: "pk" physics: PHYSICS_KIND_PKPD_TWO_COMPARTMENT correction { composition: COMPOSITION_PHYSICS_ONLY }
  ensemble_members: 16 seed: 7
  observables { name: "plasma" unit: "mg/L" terms { component: "central" weight: 0.02 } noise_std: 0.05 }
  inputs { name: "oral" component: "depot" kind: INPUT_KIND_BOLUS unit: "mg" }
  inputs { name: "infusion" component: "central" kind: INPUT_KIND_RATE unit: "mg/h" }
  entities { prior_mean: [0, 20, 10, 0] prior_std: [1, 5, 3, 0.5] max_entities: 3 max_step: 0.05 inflation: 1.1 }
)";

using testing::ExactPk;
using testing::PkMatrix;

at::Tensor Tensor(const DenseArray& a) { return at::tensor(a.values, at::kDouble).view(a.shape); }

Report MakeReport(const std::string& entity, double time, std::vector<Reading> readings,
                  std::vector<InputEvent> inputs = {}) {
  return {entity, time, std::move(readings), std::move(inputs)};
}

class Entities : public ::testing::Test {
 protected:
  std::unique_ptr<ServedModel> Serve(const std::string& text = kPk, const std::string& state_dir = "") {
    return ServedModel::Create(ParseModelConfig(text, "test").value(), &metrics_, "", state_dir).value();
  }
  static std::vector<ReportOutcome> Observe(ServedModel& model, std::vector<Report> reports) {
    ReportBatch batch;
    batch.model = model.name();
    batch.reports = std::move(reports);
    std::promise<std::vector<ReportOutcome>> answered;
    const absl::Status queued =
        model.Observe(std::move(batch), [&](std::vector<ReportOutcome> o) { answered.set_value(std::move(o)); });
    EXPECT_TRUE(queued.ok()) << queued;
    return queued.ok() ? answered.get_future().get() : std::vector<ReportOutcome>{};
  }
  static absl::Status Refused(ServedModel& model, std::vector<Report> reports) {
    ReportBatch batch;
    batch.model = model.name();
    batch.reports = std::move(reports);
    return model.Observe(std::move(batch), [](std::vector<ReportOutcome>) { ADD_FAILURE() << "queued"; });
  }
  Metrics metrics_;
};

TEST(EntityTable, ChangingOneEntityLeavesEveryOlderTableAsItWas) {
  EntityTable empty;
  EntityTable one = empty.With(std::make_shared<const EntityState>(EntityState{"a", 1.0, 1, {1.0}, {}, {}, {}}));
  EntityTable two = one.With(std::make_shared<const EntityState>(EntityState{"b", 2.0, 1, {2.0}, {}, {}, {}}));
  EntityTable replaced = two.With(std::make_shared<const EntityState>(EntityState{"a", 3.0, 2, {3.0}, {}, {}, {}}));
  EXPECT_EQ(empty.size(), 0);
  EXPECT_EQ(one.size(), 1);
  EXPECT_EQ(two.size(), 2);
  EXPECT_EQ(replaced.size(), 2);
  EXPECT_EQ(one.Find("a")->time, 1.0);
  EXPECT_EQ(two.Find("a")->time, 1.0);
  EXPECT_EQ(replaced.Find("a")->time, 3.0);
  EXPECT_EQ(one.Find("b"), nullptr);
  EXPECT_EQ(replaced.Find("b"), two.Find("b"));  // Shared, not copied.
  const EntityTable without = replaced.Without("a");
  EXPECT_EQ(without.size(), 1);
  EXPECT_EQ(without.Find("a"), nullptr);
  EXPECT_NE(replaced.Find("a"), nullptr);
  EXPECT_EQ(without.Without("zzz").size(), 1);
}

TEST(EntityTable, ChangesSinceAnOlderTableAreWhatWasAddedReplacedOrRemoved) {
  auto entity = [](const std::string& name, double time) {
    return std::make_shared<const EntityState>(EntityState{name, time, 0, {}, {}, {}, {}});
  };
  EntityTable before;
  for (int i = 0; i < 200; ++i) before = before.With(entity("e" + std::to_string(i), 0.0));
  EXPECT_TRUE(before.ChangedSince(before).changed.empty());
  EXPECT_EQ(before.ChangedSince(EntityTable()).changed.size(), 200u);
  EntityTable after = before.With(entity("e7", 1.0)).With(entity("new", 0.0)).Without("e150").Without("e42");
  after = after.With(after.Find("e9"));  // The same entity again: no change.
  const EntityTable::Changes changes = after.ChangedSince(before);
  std::vector<std::string> changed;
  for (const auto& e : changes.changed) changed.push_back(e->name);
  EXPECT_EQ(changed, (std::vector<std::string>{"e7", "new"}));
  EXPECT_EQ(changes.changed[0]->time, 1.0);
  EXPECT_EQ(changes.removed, (std::vector<std::string>{"e150", "e42"}));
  // And back: what `before` has that `after` changed.
  const EntityTable::Changes back = before.ChangedSince(after);
  EXPECT_EQ(back.changed.size(), 3u);  // e150, e42, e7
  EXPECT_EQ(back.removed, std::vector<std::string>{"new"});
}

TEST(EntityTable, PagesAreInNameOrder) {
  EntityTable table;
  for (const char* name : {"p3", "p10", "p1", "q", "p2"}) {
    table = table.With(std::make_shared<const EntityState>(EntityState{name, 0.0, 0, {}, {}, {}, {}}));
  }
  auto names = [](const std::vector<std::shared_ptr<const EntityState>>& page) {
    std::vector<std::string> out;
    for (const auto& e : page) out.push_back(e->name);
    return out;
  };
  EXPECT_EQ(names(table.Page("", 3)), (std::vector<std::string>{"p1", "p10", "p2"}));
  EXPECT_EQ(names(table.Page("p2", 3)), (std::vector<std::string>{"p3", "q"}));
  EXPECT_EQ(names(table.All()).size(), 5u);
}

TEST_F(Entities, ConfigErrorsNameTheField) {
  auto create = [&](const std::string& extra) {
    return ServedModel::Create(
               ParseModelConfig(std::string("name: \"pk\" physics: PHYSICS_KIND_PKPD_TWO_COMPARTMENT ") + extra, "test")
                   .value(),
               &metrics_)
        .status();
  };
  EXPECT_NE(create("observables { name: \"c\" terms { component: \"centre\" } }")
                .message()
                .find("observables[0].terms[0].component 'centre'"),
            std::string::npos);
  EXPECT_NE(create("inputs { name: \"iv\" component: \"vein\" }").message().find("inputs[0].component 'vein'"),
            std::string::npos);
  EXPECT_NE(create("observables { name: \"central\" terms { component: \"central\" } }")
                .message()
                .find("observables[0].name 'central' is already an observable"),
            std::string::npos);
  EXPECT_NE(create("observables { name: \"c\" }").message().find("observables[0].terms must not be empty"),
            std::string::npos);
  EXPECT_NE(create("entities { prior_mean: [1, 2] }").message().find("entities.prior_mean has 2 values"),
            std::string::npos);
  EXPECT_NE(create("entities { prior_std: [1, 2, 3] }").message().find("entities.prior_std has 3 values"),
            std::string::npos);
  EXPECT_NE(create("entities { localization_radius: 2 }")
                .message()
                .find("entities.localization_radius: the state is not a field on a grid"),
            std::string::npos);
  EXPECT_TRUE(create("observables { name: \"c\" terms { component: \"central\" } }").ok());
  EXPECT_NE(ParseModelConfig("name: \"pk\" physics: PHYSICS_KIND_PKPD_TWO_COMPARTMENT "
                             "calibration { method: CALIBRATION_METHOD_EGA_STATIC } entities { learn_shared: true }",
                             "test")
                .status()
                .message()
                .find("entities.learn_shared needs calibration.method BACKPROP"),
            std::string::npos);
}

TEST_F(Entities, BadReportsAreRefusedByFieldAndChangeNothing) {
  std::unique_ptr<ServedModel> model = Serve();
  auto refused = [&](Report report) { return std::string(Refused(*model, {std::move(report)}).message()); };
  EXPECT_NE(refused(MakeReport("p1", 0.0, {{"plasmaa", 1.0, {}}})).find("reports[0].readings[0].observable 'plasmaa'"),
            std::string::npos);
  EXPECT_NE(refused(MakeReport("p1", 0.0, {{"plasma", 1.0, -0.1}})).find("reports[0].readings[0].noise_std"),
            std::string::npos);
  EXPECT_NE(refused(MakeReport("p1", 0.0, {{"plasma", NAN, {}}})).find("reports[0].readings[0].value"),
            std::string::npos);
  EXPECT_NE(refused(MakeReport("p1", INFINITY, {{"plasma", 1.0, {}}})).find("reports[0].time"), std::string::npos);
  // Components have no default noise in this config: the reading must give one.
  EXPECT_NE(
      refused(MakeReport("p1", 0.0, {{"central", 1.0, {}}})).find("reports[0].readings[0].noise_std must be given"),
      std::string::npos);
  EXPECT_NE(refused(MakeReport("p1", 0.0, {}, {{"iv", 5.0}})).find("reports[0].inputs[0].input 'iv'"),
            std::string::npos);
  EXPECT_NE(refused(MakeReport("../p1", 0.0, {{"plasma", 1.0, {}}})).find("reports[0].entity"), std::string::npos);
  EXPECT_NE(refused(MakeReport("p1", 0.0, {})).find("neither readings nor inputs"), std::string::npos);
  EXPECT_EQ(model->ListEntities("", 10)->total, 0);
}

TEST_F(Entities, TheAnalysisIsTheKalmanUpdateOfTheForecastEnsemble) {
  std::unique_ptr<ServedModel> model = Serve();
  // An input-only report creates the entity from its prior without an analysis.
  ASSERT_TRUE(Observe(*model, {MakeReport("p1", 1.0, {}, {{"oral", 100.0}})})[0].status.ok());
  const EntityView prior = model->GetEntity("p1").value();
  const at::Tensor e0 = Tensor(prior.ensemble);
  ASSERT_EQ(e0.sizes(), (std::vector<int64_t>{16, 4}));

  const std::vector<ReportOutcome> o = Observe(*model, {MakeReport("p1", 3.0, {{"plasma", 1.3, {}}})});
  ASSERT_TRUE(o[0].status.ok()) << o[0].status;
  EXPECT_FALSE(o[0].created);
  EXPECT_DOUBLE_EQ(o[0].lead, 2.0);
  ASSERT_TRUE(o[0].crps.has_value());

  // Independently: the exact forecast, then the Kalman update with the
  // (inflated) sample covariance of the forecast ensemble.
  const at::Tensor forecast = ExactPk(e0, at::zeros({4}, at::kDouble), 2.0);
  const at::Tensor mean = forecast.mean(0);
  const at::Tensor anomalies = (forecast - mean) * 1.1;
  const at::Tensor p = at::matmul(anomalies.t(), anomalies) / 15.0;
  const at::Tensor h = at::tensor({0.0, 0.02, 0.0, 0.0}, at::kDouble).view({1, 4});
  const at::Tensor s = at::matmul(at::matmul(h, p), h.t()) + 0.05 * 0.05;
  const at::Tensor gain = at::matmul(p, h.t()) / s;
  const at::Tensor expected_mean = mean + gain.squeeze(1) * (1.3 - at::matmul(h, mean)).squeeze();
  const at::Tensor expected_p = p - at::matmul(gain, at::matmul(h, p));

  const EntityView after = model->GetEntity("p1").value();
  const at::Tensor e1 = Tensor(after.ensemble);
  const at::Tensor a = e1 - e1.mean(0);
  EXPECT_LT((e1.mean(0) - expected_mean).abs().max().item<double>(), 1e-5);
  EXPECT_LT((at::matmul(a.t(), a) / 15.0 - expected_p).abs().max().item<double>(), 1e-4);
  EXPECT_DOUBLE_EQ(after.summary.time, 3.0);
  EXPECT_EQ(after.summary.reports, 2u);
  // The reading pulled the plasma estimate towards 1.3 from the forecast's.
  const double before_plasma = 0.02 * mean[1].item<double>(), after_plasma = 0.02 * e1.mean(0)[1].item<double>();
  EXPECT_LT(std::abs(after_plasma - 1.3), std::abs(before_plasma - 1.3));
}

// The LETKF on a ring of 40 sites against the scalar Kalman update per
// column: a reading of x0 moves x0 as the global analysis would, x1 as if the
// reading's variance were divided by the taper's weight at distance 1, and
// no site beyond the taper's support (2 · 1.82 · radius) at all — where the
// global analysis moves them by sampling correlation.
TEST_F(Entities, LocalisedAnalysesMoveOnlyTheSitesNearAReading) {
  auto serve = [&](double radius) {
    return Serve(R"(name: "ring" physics: PHYSICS_KIND_LORENZ96 correction { composition: COMPOSITION_PHYSICS_ONLY }
                    ensemble_members: 10 seed: 3 uncertainty { observation_noise_std: 0.5 }
                    entities { prior_mean: 1 prior_std: 1 localization_radius: )" +
                 std::to_string(radius) + " }");
  };
  std::unique_ptr<ServedModel> local = serve(2.0), global = serve(0.0);
  std::map<ServedModel*, at::Tensor> before, after;
  for (ServedModel* model : {local.get(), global.get()}) {
    ASSERT_TRUE(Observe(*model, {MakeReport("e", 0.0, {{"x20", 0.0, {}}})})[0].status.ok());
    before[model] = Tensor(model->GetEntity("e")->ensemble);
    ASSERT_TRUE(Observe(*model, {MakeReport("e", 0.0, {{"x0", 4.0, {}}})})[0].status.ok());  // Same time: no forecast.
    after[model] = Tensor(model->GetEntity("e")->ensemble);
  }
  const at::Tensor e = before[local.get()], a = after[local.get()];
  auto moved = [](const at::Tensor& x, const at::Tensor& y, int64_t i) {
    return (x.select(1, i) - y.select(1, i)).abs().max().item<double>();
  };
  for (int64_t i = 8; i <= 32; ++i) EXPECT_LT(moved(a, e, i), 1e-12) << "x" << i;
  EXPECT_GT(moved(after[global.get()], before[global.get()], 20), 1e-4);  // Spurious correlation, globally.
  const at::Tensor m = e.mean(0), anomalies = e - m, c = at::matmul(anomalies.t(), anomalies) / 9.0;
  for (const int64_t i : {0, 1, 39}) {
    const double rho = solvers::GaspariCohn(1.0 * (i == 0 ? 0 : 1), 1.82 * 2.0);
    const double gain = c[i][0].item<double>() / (c[0][0].item<double>() + 0.25 / rho);
    EXPECT_NEAR(a.mean(0)[i].item<double>(), m[i].item<double>() + gain * (4.0 - m[0].item<double>()), 1e-10) << i;
  }
}

TEST_F(Entities, InputsActAsBolusesAndRates) {
  std::unique_ptr<ServedModel> model = Serve();
  ASSERT_TRUE(Observe(*model, {MakeReport("p1", 0.0, {}, {{"infusion", 4.0}})})[0].status.ok());
  const at::Tensor e0 = Tensor(model->GetEntity("p1")->ensemble);
  EXPECT_EQ(model->GetEntity("p1")->rates.values, (std::vector<double>{0.0, 4.0, 0.0, 0.0}));
  // Two hours later, a dose: the infusion ran for 2 h, then 250 mg enter every depot.
  ASSERT_TRUE(Observe(*model, {MakeReport("p1", 2.0, {}, {{"oral", 250.0}})})[0].status.ok());
  const at::Tensor e1 = Tensor(model->GetEntity("p1")->ensemble);
  at::Tensor expected = ExactPk(e0, at::tensor({0.0, 4.0, 0.0, 0.0}, at::kDouble), 2.0);
  expected.select(1, 0) += 250.0;
  EXPECT_LT((e1 - expected).abs().max().item<double>(), 1e-6);
  // Stopping the infusion: a rate of 0 from now on.
  ASSERT_TRUE(Observe(*model, {MakeReport("p1", 2.0, {}, {{"infusion", 0.0}})})[0].status.ok());
  EXPECT_EQ(model->GetEntity("p1")->rates.values, (std::vector<double>{0.0, 0.0, 0.0, 0.0}));
}

TEST(ReportFingerprint, EqualReportsAgreeAndAnyChangeDiffers) {
  const Report report = MakeReport("p1", 2.5, {{"plasma", 1.25, 0.1}}, {{"oral", 200.0}});
  const uint64_t f = ReportFingerprint(report);
  EXPECT_EQ(ReportFingerprint(Report(report)), f);
  std::vector<Report> changed(7, report);
  changed[0].entity = "p2";
  changed[1].time = std::nextafter(2.5, 3.0);
  changed[2].readings[0].value = std::nextafter(1.25, 2.0);
  changed[3].readings[0].noise_std.reset();
  changed[4].inputs[0].value = 100.0;
  changed[5].inputs.clear();
  changed[6] = MakeReport("p1", 2.5, {{"plasma", 1.25, 0.1}, {"oral", 200.0, {}}});  // The input as a reading.
  for (size_t i = 0; i < changed.size(); ++i) EXPECT_NE(ReportFingerprint(changed[i]), f) << i;
}

TEST_F(Entities, ClocksLimitsAndDeletion) {
  std::unique_ptr<ServedModel> model = Serve();
  std::vector<ReportOutcome> o =
      Observe(*model, {MakeReport("p1", 5.0, {{"plasma", 1.0, {}}}), MakeReport("p1", 4.0, {{"plasma", 1.0, {}}}),
                       MakeReport("p2", 0.0, {{"plasma", 1.0, {}}}), MakeReport("p3", 0.0, {{"plasma", 1.0, {}}}),
                       MakeReport("p4", 0.0, {{"plasma", 1.0, {}}})});
  ASSERT_EQ(o.size(), 5u);
  EXPECT_TRUE(o[0].status.ok());
  EXPECT_TRUE(o[0].created);
  EXPECT_EQ(o[1].status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(o[1].status.message().find("reports[1].time 4 is before entity 'p1''s clock 5"), std::string::npos);
  EXPECT_TRUE(o[2].status.ok());
  EXPECT_TRUE(o[3].status.ok());
  EXPECT_EQ(o[4].status.code(), absl::StatusCode::kResourceExhausted);  // max_entities: 3
  EXPECT_EQ(model->GetEntity("p1")->summary.reports, 1u);
  EXPECT_EQ(model->GetEntity("p4").status().code(), absl::StatusCode::kNotFound);

  const EntityPage page = model->ListEntities("", 2).value();
  EXPECT_EQ(page.total, 3);
  ASSERT_EQ(page.entities.size(), 2u);
  EXPECT_EQ(page.next_start_after, "p2");
  EXPECT_EQ(model->ListEntities("p2", 2)->entities.size(), 1u);
  EXPECT_EQ(model->ListEntities("", 0).status().code(), absl::StatusCode::kInvalidArgument);

  std::promise<absl::Status> deleted;
  ASSERT_TRUE(model->DeleteEntity("p2", [&](absl::Status s) { deleted.set_value(s); }).ok());
  EXPECT_TRUE(deleted.get_future().get().ok());
  EXPECT_EQ(model->GetEntity("p2").status().code(), absl::StatusCode::kNotFound);
  std::promise<absl::Status> again;
  ASSERT_TRUE(model->DeleteEntity("p2", [&](absl::Status s) { again.set_value(s); }).ok());
  EXPECT_EQ(again.get_future().get().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(Observe(*model, {MakeReport("p4", 0.0, {{"plasma", 1.0, {}}})})[0].status.ok());  // Room again.
}

TEST_F(Entities, PredictStartsFromTheEntitysEnsembleAtItsClock) {
  std::unique_ptr<ServedModel> model = Serve();
  ASSERT_TRUE(Observe(*model, {MakeReport("p1", 1.5, {{"plasma", 0.4, {}}}, {{"oral", 100.0}})})[0].status.ok());
  PredictQuery q;
  q.model = "pk";
  q.entity = "p1";
  q.times = {0.5, 1.0};
  q.max_step = 0.05;
  const PredictAnswer answer = model->Predict(q).value();
  EXPECT_DOUBLE_EQ(answer.start_time, 1.5);
  // The state's columns, then the observable's: plasma = central / V1 (50 L), in every sample.
  EXPECT_EQ(answer.mean.shape, (std::vector<int64_t>{2, 5}));
  ASSERT_EQ(answer.components.size(), 5u);
  EXPECT_EQ(answer.components[0].name, "depot");
  EXPECT_EQ(answer.components[4].name, "plasma");
  EXPECT_EQ(answer.components[4].unit, "mg/L");
  for (int t = 0; t < 2; ++t) EXPECT_NEAR(answer.mean.values[t * 5 + 4], answer.mean.values[t * 5 + 1] / 50.0, 1e-12);
  // The dose is in the forecast: the depot empties at ka = 1/h from the entity's ~100 mg.
  const at::Tensor e = Tensor(model->GetEntity("p1")->ensemble);
  const double depot = e.mean(0)[0].item<double>();
  EXPECT_NEAR(answer.mean.values[5], depot * std::exp(-1.0), 0.05 * depot);
  q.initial_state = {{4}, {0, 0, 0, 0}};
  EXPECT_EQ(model->Predict(q).status().code(), absl::StatusCode::kInvalidArgument);
  q.initial_state = {};
  q.entity = "nobody";
  EXPECT_EQ(model->Predict(q).status().code(), absl::StatusCode::kNotFound);
}

// Each patient its own V1 (and CL): plasma = central / V1 reads it.
constexpr char kPerPatient[] = R"(
  name: "pk" physics: PHYSICS_KIND_PKPD_TWO_COMPARTMENT correction { composition: COMPOSITION_PHYSICS_ONLY }
  ensemble_members: 32 seed: 3
  uncertainty { initial_model_error_std: 1e-6 }
  observables { name: "plasma" unit: "mg/L" terms { component: "central" divided_by: "V1" } noise_std: 0.01 }
  inputs { name: "oral" component: "depot" }
  inputs { name: "infusion" component: "central" kind: INPUT_KIND_RATE }
  entities { prior_mean: [0, 0, 0, 0] prior_std: [1e-3, 1e-3, 1e-3, 1e-3] per_entity_parameters: ["V1", "CL"]
             per_entity_prior_std: [0.4, 0.3] random_rotation: true inflation: 1.02 max_step: 0.05 }
)";

TEST_F(Entities, EachEntityLearnsItsOwnParameters) {
  std::unique_ptr<ServedModel> model = Serve(kPerPatient);
  ASSERT_TRUE(Observe(*model, {MakeReport("slow", 0.0, {}, {{"oral", 400.0}}),
                               MakeReport("other", 0.0, {}, {{"oral", 400.0}})})[0]
                  .status.ok());
  const EntityView prior = model->GetEntity("slow").value();
  const double other_v1 = model->GetEntity("other")->parameters[0].value;
  ASSERT_EQ(prior.parameters.size(), 2u);
  EXPECT_EQ(prior.parameters[0].name, "V1");
  EXPECT_EQ(prior.parameters[0].unit, "L");
  EXPECT_NEAR(prior.parameters[0].value, 50.0 * std::exp(0.4 * 0.4 / 2), 15.0);  // log-normal around 50
  EXPECT_NEAR(prior.parameters[0].std / prior.parameters[0].value, 0.4, 0.15);
  EXPECT_NE(prior.parameters[0].value, model->GetEntity("other")->parameters[0].value);  // Drawn per entity.

  const at::Tensor a = PkMatrix(/*v1=*/80.0);  // A patient whose V1 is 80 L (the population 50).
  at::Tensor x = at::tensor({400.0, 0.0, 0.0, 0.0}, at::kDouble);
  for (int i = 1; i <= 24; ++i) {
    x = at::matmul(at::linalg_matrix_exp(a * 0.5), x);
    const double plasma = x[1].item<double>() / 80.0;
    const std::vector<ReportOutcome> o = Observe(*model, {MakeReport("slow", 0.5 * i, {{"plasma", plasma, {}}})});
    ASSERT_TRUE(o[0].status.ok()) << i << ": " << o[0].status;
  }
  const EntityView after = model->GetEntity("slow").value();
  EXPECT_NEAR(after.parameters[0].value, 80.0, 4.0);                    // V1 found (5%)…
  EXPECT_LT(after.parameters[0].std, prior.parameters[0].std / 3.0);    // …and known better.
  EXPECT_NEAR(after.parameters[1].value, 5.0, 1.0);                     // CL stays near the truth.
  EXPECT_EQ(model->GetEntity("other")->parameters[0].value, other_v1);  // Another patient's reports are not its.
  // The model's own (population) V1 is untouched.
  EXPECT_NEAR(model->Info().parameters[2].value, 50.0, 1e-9);

  // Its forecast uses its own V1: the plasma column follows central / 80, not / 50.
  PredictQuery q;
  q.model = "pk";
  q.entity = "slow";
  q.times = {1.0};
  q.max_step = 0.05;
  const PredictAnswer answer = model->Predict(q).value();
  EXPECT_NEAR(answer.mean.values[4] * 80.0 / answer.mean.values[1], 1.0, 0.05);
}

// Shared CL learned from several patients' plasma streams by backprop through
// each report's interval (entities.learn_shared); the truth is the exact
// solution of the linear PK model at CL 5 L/h.
constexpr char kSharedClearance[] = R"(
  name: "pk" physics: PHYSICS_KIND_PKPD_TWO_COMPARTMENT correction { composition: COMPOSITION_PHYSICS_ONLY }
  parameters { name: "CL" initial: 2.5 trainable: true }
  ensemble_members: 8 seed: 5 member_jitter: 0.01
  calibration { learning_rate_theta: 0.1 }
  observables { name: "plasma" unit: "mg/L" terms { component: "central" divided_by: "V1" } noise_std: 0.05 }
  inputs { name: "oral" component: "depot" }
  entities { prior_mean: [0, 0, 0, 0] prior_std: [1e-3, 1e-3, 1e-3, 1e-3] max_step: 0.05 inflation: 1.01
             learn_shared: true }
)";

TEST_F(Entities, SharedParametersLearnFromEveryEntitysStream) {
  const auto stream = [](ServedModel& model) {
    for (int patient = 0; patient < 8; ++patient) {
      const std::string name = "p" + std::to_string(patient);
      const double dose = 200.0 + 50.0 * patient;
      EXPECT_TRUE(Observe(model, {MakeReport(name, 0.0, {}, {{"oral", dose}})})[0].status.ok());
      for (int hour = 1; hour <= 12; ++hour) {
        const at::Tensor x =
            ExactPk(at::tensor({dose, 0.0, 0.0, 0.0}, at::kDouble).view({1, 4}), at::zeros({4}, at::kDouble), hour);
        const double plasma = x[0][1].item<double>() / 50.0;
        const std::vector<ReportOutcome> o = Observe(model, {MakeReport(name, hour, {{"plasma", plasma, {}}})});
        EXPECT_TRUE(o[0].status.ok()) << name << " " << hour << ": " << o[0].status;
      }
    }
  };
  const auto clearance = [](ServedModel& model) {
    for (const ParameterEstimate& p : model.Info().parameters) {
      if (p.name == "CL") return p.value;
    }
    return -1.0;
  };
  testing::ScopedTempDir dir;
  std::unique_ptr<ServedModel> learning = Serve(kSharedClearance, dir.path() + "/state");
  const uint64_t version = learning->Info().version;
  const double initial = clearance(*learning);  // 2.5, members jittered.
  EXPECT_NEAR(initial, 2.5, 0.05);
  stream(*learning);
  EXPECT_NEAR(clearance(*learning), 5.0, 0.25);  // From 2.5, within 5%.
  EXPECT_GT(learning->Info().version, version);  // Every step is a new model.
  // Without it the shared CL stays where it was, and the state alone cannot fit the readings as well.
  std::string fixed = kSharedClearance;
  fixed.replace(fixed.find("learn_shared: true"), 18, "");
  std::unique_ptr<ServedModel> still = Serve(fixed);
  stream(*still);
  EXPECT_EQ(clearance(*still), initial);
  // The steps replay from the log bit for bit: what a crash leaves (log, no checkpoint since the first).
  const double learned = clearance(*learning);
  const std::vector<double> ensemble = learning->GetEntity("p7")->ensemble.values;
  std::filesystem::copy(dir.path() + "/state", dir.path() + "/crashed", std::filesystem::copy_options::recursive);
  learning.reset();
  std::unique_ptr<ServedModel> replayed = Serve(kSharedClearance, dir.path() + "/crashed");
  EXPECT_GE(replayed->Info().durability.replayed_at_start, 90);
  EXPECT_EQ(clearance(*replayed), learned);
  EXPECT_EQ(replayed->GetEntity("p7")->ensemble.values, ensemble);
}

TEST_F(Entities, PlannedInputsTakeEffectAtTheirLeadTimes) {
  std::unique_ptr<ServedModel> model = Serve(kPerPatient);
  ASSERT_TRUE(Observe(*model, {MakeReport("p", 2.0, {}, {{"oral", 100.0}})})[0].status.ok());
  const at::Tensor e = Tensor(model->GetEntity("p")->ensemble);
  PredictQuery q;
  q.model = "pk";
  q.entity = "p";
  q.times = {0.5, 1.0, 2.0, 3.0};
  q.max_step = 0.01;
  // A second dose at lead 1.0 (an output time: it sees the dose), an infusion of 6 mg/h from lead 2.5.
  q.planned_inputs = {{2.5, "infusion", 6.0}, {1.0, "oral", 50.0}};
  const PredictAnswer answer = model->Predict(q).value();
  ASSERT_EQ(answer.mean.shape, (std::vector<int64_t>{4, 5}));
  // Mass balance of the ensemble mean, which the model error (1e-6) leaves exact: what was dosed is there.
  auto total = [&](int t) {
    double sum = 0.0;
    for (int c = 0; c < 4; ++c) sum += answer.mean.values[t * 5 + c];
    return sum;
  };
  const double start = e.sum(1).mean().item<double>();
  EXPECT_NEAR(total(0), start, 1e-3);
  EXPECT_NEAR(total(1), start + 50.0, 1e-3);
  EXPECT_NEAR(total(2), start + 50.0, 1e-3);
  EXPECT_NEAR(total(3), start + 50.0 + 6.0 * 0.5, 1e-3);
  // The dose reached the depot at lead 1.0 exactly: there it jumps by 50 over its decay.
  q.planned_inputs = {};
  const PredictAnswer without = model->Predict(q).value();
  EXPECT_NEAR(answer.mean.values[5] - without.mean.values[5], 50.0, 1e-3);
  q.planned_inputs = {{0.0, "nothing", 1.0}};
  EXPECT_EQ(model->Predict(q).status().code(), absl::StatusCode::kInvalidArgument);
}

// Sensors ten times noisier than they say: the online correction must widen
// the intervals until they cover at the configured level, per lead bucket,
// and Predict by entity must use the widened spread.
TEST_F(Entities, TheOnlineCorrectionCalibratesIntervalsThatAreTooNarrow) {
  auto run = [&](const std::string& gain, std::vector<double>* late_coverage) {
    std::string config = kPk;
    config.replace(config.find("inflation: 1.1"), 14, "inflation: 1.1 conformal_gain: " + gain);
    std::unique_ptr<ServedModel> model = Serve(config);
    std::mt19937_64 rng(5);
    std::normal_distribution<double> noise(0.0, 1.0);
    for (int i = 0; i < 800; ++i) {
      const std::vector<ReportOutcome> o =
          Observe(*model, {MakeReport("quiet", 0.5 * i, {{"central", noise(rng), 0.1}})});
      EXPECT_TRUE(o[0].status.ok()) << o[0].status;
      if (i >= 400 && o[0].coverage) late_coverage->push_back(*o[0].coverage);
    }
    PredictQuery q;
    q.model = "pk";
    q.entity = "quiet";
    q.times = {0.5};
    return model->Predict(q).value().std.values[1];
  };
  std::vector<double> with, without;
  const double corrected_std = run("0.05", &with), plain_std = run("-1", &without);
  auto mean = [](const std::vector<double>& v) { return std::accumulate(v.begin(), v.end(), 0.0) / v.size(); };
  EXPECT_NEAR(mean(with), 0.9, 0.05);
  EXPECT_LT(mean(without), 0.5);
  EXPECT_GT(corrected_std, 3.0 * plain_std);
}

TEST_F(Entities, ReplayingTheLogReproducesEveryEntityBitForBit) {
  testing::ScopedTempDir dir;
  const std::string state = dir.path() + "/state", copy = dir.path() + "/copy";
  std::vector<double> live_ensemble;
  {
    std::unique_ptr<ServedModel> model = Serve(kPk, state);
    for (int i = 0; i < 5; ++i) {
      const double t = 0.7 * i;
      ASSERT_TRUE(Observe(*model, {MakeReport("p1", t, {{"plasma", 0.3 + 0.1 * i, {}}}, {{"oral", 10.0}}),
                                   MakeReport("p2", t, {{"plasma", 0.2, 0.01}, {"central", 15.0, 2.0}})})[1]
                      .status.ok());
    }
    live_ensemble = model->GetEntity("p2")->ensemble.values;
    // What a crash leaves: the log (fsynced before each answer) and no checkpoint.
    std::filesystem::copy(state, copy, std::filesystem::copy_options::recursive);
  }
  std::unique_ptr<ServedModel> resumed = Serve(kPk, copy);
  // The first record was checkpointed at once (none was older); the rest come from the log.
  EXPECT_GE(resumed->Info().durability.replayed_at_start, 9);
  EXPECT_EQ(resumed->GetEntity("p2")->ensemble.values, live_ensemble);
  EXPECT_EQ(resumed->GetEntity("p1")->summary.reports, 5u);
  // And from the checkpoint the clean stop wrote.
  std::unique_ptr<ServedModel> restarted = Serve(kPk, state);
  EXPECT_EQ(restarted->Info().durability.replayed_at_start, 0);
  EXPECT_EQ(restarted->GetEntity("p2")->ensemble.values, live_ensemble);
}

TEST_F(Entities, CheckpointsWriteOnlyTheEntitiesThatChanged) {
  testing::ScopedTempDir dir;
  const std::string state = dir.path() + "/state";
  const std::string roomy = std::string(kPk).replace(std::string(kPk).find("max_entities: 3"), 15, "max_entities: 20");
  const std::string config = roomy + "durability { checkpoint_every: 1 }";
  std::map<std::string, std::vector<double>> live;
  auto newest_file = [&] {
    std::string newest;
    for (const auto& e : std::filesystem::directory_iterator(state + "/entities")) {
      newest = std::max(newest, e.path().filename().string());
    }
    v1::StoredEntityFile file;
    std::ifstream in(state + "/entities/" + newest, std::ios::binary);
    EXPECT_TRUE(file.ParseFromIstream(&in));
    return file;
  };
  {
    // Twelve entities; the clean stop checkpoints them all, in one base.
    std::unique_ptr<ServedModel> model = Serve(roomy, state);
    std::vector<Report> first;
    for (int i = 0; i < 12; ++i) first.push_back(MakeReport("p" + std::to_string(i), 0.0, {{"plasma", 0.3, {}}}));
    for (const ReportOutcome& o : Observe(*model, first)) ASSERT_TRUE(o.status.ok()) << o.status;
  }
  ASSERT_EQ(newest_file().entities_size(), 12);
  {
    // Then a checkpoint after every report: each a delta of the one entity it changed.
    std::unique_ptr<ServedModel> model = Serve(config, state);
    for (int k = 1; k <= 4; ++k) {
      ASSERT_TRUE(Observe(*model, {MakeReport("p5", 0.5 * k, {{"plasma", 0.3, {}}})})[0].status.ok());
      const v1::StoredEntityFile delta = newest_file();
      ASSERT_EQ(delta.entities_size(), 1);
      EXPECT_EQ(delta.entities(0).name(), "p5");
      EXPECT_EQ(delta.entities(0).reports(), static_cast<uint64_t>(k + 1));
    }
    std::promise<absl::Status> deleted;
    ASSERT_TRUE(model->DeleteEntity("p3", [&](absl::Status s) { deleted.set_value(s); }).ok());
    ASSERT_TRUE(deleted.get_future().get().ok());
    const v1::StoredEntityFile deletion = newest_file();
    EXPECT_EQ(deletion.entities_size(), 0);
    ASSERT_EQ(deletion.deleted_size(), 1);
    EXPECT_EQ(deletion.deleted(0), "p3");
    for (int i = 0; i < 12; ++i) {
      if (i != 3) live["p" + std::to_string(i)] = model->GetEntity("p" + std::to_string(i))->ensemble.values;
    }
  }
  // A restart resolves the chain to every entity as it was.
  std::unique_ptr<ServedModel> restarted = Serve(config, state);
  EXPECT_EQ(restarted->Info().durability.replayed_at_start, 0);
  EXPECT_EQ(restarted->ListEntities("", 100)->entities.size(), 11u);
  for (const auto& [name, ensemble] : live) EXPECT_EQ(restarted->GetEntity(name)->ensemble.values, ensemble) << name;
  EXPECT_FALSE(restarted->GetEntity("p3").ok());
}

}  // namespace
}  // namespace hybrid::server
