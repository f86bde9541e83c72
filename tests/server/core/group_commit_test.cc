// Group commit and minibatch updates of the calibration worker, on a real
// write-ahead log: observations that wait behind a running update share one
// fdatasync, each is answered on its own in arrival order, and with
// calibration.max_observations_per_update they are applied as one update per
// minibatch — which replay after a crash repeats bit for bit.
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <future>
#include <mutex>
#include <utility>
#include <vector>

#include "server/core/served_model.h"
#include "server/durability/model_durability.h"
#include "server/repository/model_config.h"
#include "tests/scoped_temp_dir.h"

namespace hybrid::server {
namespace {

constexpr char kConfig[] =
    "name: \"l63\" physics: PHYSICS_KIND_LORENZ63 ensemble_members: 2 "
    "parameters { name: \"rho\" initial: 20 trainable: true } correction { hidden: [4] } "
    "durability { checkpoint_every: 100000 } ";

// W windows of `steps` steps of 0.01 from distinct start states, ending near
// where the true Lorenz-63 would (a crude Euler guess: only the update's
// bookkeeping is under test here, not its accuracy).
Observation Windows(uint64_t sequence, int64_t w, int64_t steps) {
  Observation o;
  o.model = "l63";
  o.sequence = sequence;
  o.start.shape = o.end.shape = {w, 3};
  for (int64_t i = 0; i < w; ++i) {
    const double x = 1.0 + 0.1 * static_cast<double>(sequence) + 0.01 * static_cast<double>(i), y = 2.0, z = 20.0;
    const double t = 0.01 * static_cast<double>(steps);
    o.start.values.insert(o.start.values.end(), {x, y, z});
    o.end.values.insert(o.end.values.end(), {x + t * 10.0 * (y - x), y + t * (x * (28.0 - z) - y),
                                             z + t * (x * y - 8.0 / 3.0 * z)});
  }
  o.step = 0.01;
  o.steps = steps;
  return o;
}

struct Answers {
  std::vector<std::promise<ObservationOutcome>> promises;
  std::vector<int> order;
  std::mutex mu;
  explicit Answers(size_t n) : promises(n) {}
  std::function<void(ObservationOutcome)> For(size_t i) {
    return [this, i](ObservationOutcome o) {
      {
        std::lock_guard<std::mutex> lock(mu);
        order.push_back(static_cast<int>(i));
      }
      promises[i].set_value(std::move(o));
    };
  }
};

std::unique_ptr<ServedModel> Serve(const std::string& extra, Metrics* metrics, const std::string& state_dir) {
  return ServedModel::Create(ParseModelConfig(kConfig + extra, "test").value(), metrics, "", state_dir).value();
}

// One heavy observation keeps the worker busy while `light` more are queued
// behind it; returns every outcome, in submission order.
std::vector<ObservationOutcome> SubmitBehindAHeavyOne(ServedModel& model, int light, std::vector<int>* order) {
  Answers answers(static_cast<size_t>(light) + 1);
  EXPECT_TRUE(model.Submit(Windows(1, 512, 1000), answers.For(0)).ok());
  for (int i = 1; i <= light; ++i) {
    EXPECT_TRUE(model.Submit(Windows(static_cast<uint64_t>(i + 1), 4, 10), answers.For(static_cast<size_t>(i))).ok());
  }
  std::vector<ObservationOutcome> out;
  for (auto& p : answers.promises) out.push_back(p.get_future().get());
  *order = answers.order;
  return out;
}

TEST(GroupCommit, ObservationsWaitingShareOneSyncAndAreAnsweredInOrder) {
  testing::ScopedTempDir dir;
  Metrics metrics;
  std::unique_ptr<ServedModel> model = Serve("", &metrics, dir.path() + "/state");
  const uint64_t version = model->Info().version;
  std::vector<int> order;
  const std::vector<ObservationOutcome> out = SubmitBehindAHeavyOne(*model, 20, &order);
  for (size_t i = 0; i < out.size(); ++i) {
    EXPECT_TRUE(out[i].status.ok()) << i << ": " << out[i].status;
    EXPECT_EQ(out[i].sequence, i + 1);
    if (i > 0) {
      EXPECT_EQ(out[i].version, out[i - 1].version + 1);  // One update each: the default.
    }
  }
  EXPECT_EQ(out.back().version, version + 21);
  std::vector<int> expected(21);
  for (int i = 0; i < 21; ++i) expected[i] = i;
  EXPECT_EQ(order, expected);
  // Twenty-one records in a few group commits, however the submissions
  // interleave with the worker (all of them in one when it wakes up late).
  const ModelMetrics& m = metrics.ForModel("l63", 0.9);
  EXPECT_LE(m.wal_syncs->Value(), 4.0);
  EXPECT_GE(m.wal_syncs->Value(), 1.0);
  EXPECT_GT(m.wal_sync_seconds->Value(), 0.0);
  EXPECT_EQ(model->Info().durability.last_logged, 21u);
}

TEST(GroupCommit, MinibatchesAreOneUpdateEachAndReplayThemBitForBit) {
  testing::ScopedTempDir dir;
  Metrics metrics;
  const std::string minibatch = "calibration { max_observations_per_update: 4 }";
  std::unique_ptr<ServedModel> model = Serve(minibatch, &metrics, dir.path() + "/state");
  const uint64_t version = model->Info().version;
  std::vector<int> order;
  const std::vector<ObservationOutcome> out = SubmitBehindAHeavyOne(*model, 8, &order);
  for (size_t i = 0; i < out.size(); ++i) {
    ASSERT_TRUE(out[i].status.ok()) << i << ": " << out[i].status;
    EXPECT_EQ(out[i].sequence, i + 1);
  }
  // Heavy alone; the eight behind it in minibatches of at most four.
  const uint64_t updates = out.back().version - version;
  EXPECT_GE(updates, 3u);
  EXPECT_LT(updates, 9u);
  EXPECT_EQ(model->Info().observations_accepted, 9u);
  EXPECT_EQ(metrics.ForModel("l63", 0.9).updates->Value(), static_cast<double>(updates));

  // What a crash leaves: the log, no checkpoint. Replay must form the same
  // minibatches, or θ and φ come out different.
  const std::vector<ParameterEstimate> learned = model->Info().parameters;
  std::filesystem::copy(dir.path() + "/state", dir.path() + "/crashed", std::filesystem::copy_options::recursive);
  model.reset();
  Metrics again;
  std::unique_ptr<ServedModel> replayed = Serve(minibatch, &again, dir.path() + "/crashed");
  EXPECT_EQ(replayed->Info().durability.replayed_at_start, 9);
  EXPECT_EQ(replayed->Info().version, out.back().version);
  ASSERT_EQ(replayed->Info().parameters.size(), learned.size());
  for (size_t i = 0; i < learned.size(); ++i) {
    EXPECT_EQ(replayed->Info().parameters[i].value, learned[i].value) << learned[i].name;
    EXPECT_EQ(replayed->Info().parameters[i].std, learned[i].std) << learned[i].name;
  }
}

// A minibatch a crash cut short (its first record says 4, two made it) ends
// where the next minibatch starts: replay applies the two as one update and
// the next alone — what a log that said 2 gives — and never merges records
// that were applied apart.
TEST(GroupCommit, AMinibatchCutShortEndsAtTheNextOne) {
  auto replay = [](int32_t first_says) {
    testing::ScopedTempDir dir;
    const v1::ModelConfig config =
        ParseModelConfig(kConfig + std::string("calibration { max_observations_per_update: 4 }"), "test").value();
    {
      std::unique_ptr<ModelDurability> log = ModelDurability::Open(dir.path(), config.durability()).value();
      Observation a = Windows(1, 4, 10), b = Windows(2, 4, 10), c = Windows(3, 4, 10);
      a.minibatch = first_says;
      c.minibatch = 1;
      EXPECT_TRUE(log->LogGroup({&a, &b}).ok());
      EXPECT_TRUE(log->LogGroup({&c}).ok());
    }
    Metrics metrics;
    std::unique_ptr<ServedModel> model = ServedModel::Create(config, &metrics, "", dir.path()).value();
    EXPECT_EQ(model->Info().durability.replayed_at_start, 3);
    EXPECT_EQ(model->Info().observations_accepted, 3u);
    return std::make_pair(model->Info().version, model->Info().parameters);
  };
  const auto whole = replay(2), cut = replay(4);
  EXPECT_EQ(cut.first, whole.first);  // Two updates: {a, b} and {c}.
  ASSERT_EQ(cut.second.size(), whole.second.size());
  for (size_t i = 0; i < whole.second.size(); ++i) {
    EXPECT_EQ(cut.second[i].value, whole.second[i].value) << whole.second[i].name;
  }
}

TEST(GroupCommit, MaxObservationsPerUpdateIsBounded) {
  for (const char* bad : {"calibration { max_observations_per_update: -1 }",
                          "calibration { max_observations_per_update: 257 }"}) {
    absl::StatusOr<v1::ModelConfig> config = ParseModelConfig(kConfig + std::string(bad), "test");
    ASSERT_FALSE(config.ok()) << bad;
    EXPECT_NE(config.status().message().find("calibration.max_observations_per_update"), absl::string_view::npos)
        << config.status();
  }
}

}  // namespace
}  // namespace hybrid::server
