// ModelDurability: one model's write-ahead log and checkpoints, in one folder.
//
//   <dir>/wal/<first record>.wal    observations, entity reports and deletions, in the order they were applied
//   <dir>/<version>/checkpoint.pb   hybrid.v1.StoredCheckpoint (atomic: temp, fsync, rename)
//
//   absl::StatusOr<std::unique_ptr<ModelDurability>> d = ModelDurability::Open(dir, config.durability());
//   absl::StatusOr<std::optional<v1::StoredCheckpoint>> last = (*d)->LatestCheckpoint();
//   (*d)->Replay(last_lsn, apply);                   // start-up: what came after it
//   absl::StatusOr<uint64_t> lsn = (*d)->Log(obs);   // before applying; durable when OK
//   if ((*d)->CheckpointDue()) (*d)->WriteCheckpoint(checkpoint);
//
// WriteCheckpoint stamps the checkpoint with the last logged record, writes it,
// then trims log segments the checkpoint covers and deletes version folders
// beyond keep_checkpoints (oldest first). A checkpoint that exists but cannot
// be read is DATA_LOSS naming the file (the log it would need is trimmed, so
// an older one cannot stand in). Errors name the path. Not thread-safe: one
// owner (the model's calibration worker). The log's folder lock keeps a second
// server process off the same model (FAILED_PRECONDITION).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "hybrid/v1/model_config.pb.h"
#include "hybrid/v1/storage.pb.h"
#include "server/core/domain_types.h"
#include "server/durability/write_ahead_log.h"

namespace hybrid::server {

struct EntityDeletion {
  std::string entity;
};

// One write-ahead-log record (hybrid.v1.StoredObservation): a calibration
// window, an entity's report (its readings' noise std as applied), or the
// deletion of an entity.
using LogRecord = std::variant<Observation, Report, EntityDeletion>;

class ModelDurability {
 public:
  using Apply = std::function<absl::Status(uint64_t lsn, LogRecord record)>;

  static absl::StatusOr<std::unique_ptr<ModelDurability>> Open(const std::string& dir,
                                                               const v1::DurabilityConfig& config);

  // The highest version folder's checkpoint, or nullopt when there is none;
  // start-up calls it once (it sets what CheckpointDue counts from).
  absl::StatusOr<std::optional<v1::StoredCheckpoint>> LatestCheckpoint();
  // NOT_FOUND listing the versions kept.
  absl::StatusOr<v1::StoredCheckpoint> ReadCheckpoint(uint64_t version) const;
  // Versions with a checkpoint, ascending.
  std::vector<uint64_t> Versions() const;

  // Calls `apply` for every logged record after `lsn`, in order.
  absl::Status Replay(uint64_t lsn, const Apply& apply) const;
  absl::StatusOr<uint64_t> Log(const Observation& observation);
  absl::StatusOr<uint64_t> Log(const Report& report);
  absl::StatusOr<uint64_t> Log(const EntityDeletion& deletion);
  // checkpoint_every records since the last checkpoint, or at least one and
  // checkpoint_interval_seconds.
  bool CheckpointDue() const;
  bool HasUncheckpointedRecords() const { return wal_->last_lsn() > checkpointed_lsn_; }
  absl::Status WriteCheckpoint(v1::StoredCheckpoint checkpoint);

  const WriteAheadLog& wal() const { return *wal_; }
  int64_t last_checkpoint_unix_ms() const { return checkpoint_unix_ms_; }

 private:
  // Seconds since the newest checkpoint was written (by any run); < 0 when none.
  double CheckpointAgeSeconds() const;
  ModelDurability(std::string dir, v1::DurabilityConfig config, std::unique_ptr<WriteAheadLog> wal);
  std::string CheckpointPath(uint64_t version) const;

  const std::string dir_;
  const v1::DurabilityConfig config_;
  std::unique_ptr<WriteAheadLog> wal_;
  uint64_t checkpointed_lsn_ = 0;
  int64_t checkpoint_unix_ms_ = -1;  // Wall clock of the newest checkpoint: its age survives restarts.
};

}  // namespace hybrid::server
