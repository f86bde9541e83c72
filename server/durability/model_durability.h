// ModelDurability: one model's write-ahead log and checkpoints, in one folder.
//
//   <dir>/wal/<first record>.wal    observations, entity reports and deletions, in the order they were applied
//   <dir>/<version>/checkpoint.pb   hybrid.v1.StoredCheckpoint (atomic: temp, fsync, rename)
//   <dir>/entities/<n>.pb           hybrid.v1.StoredEntityFile: the entities of checkpoints
//
//   absl::StatusOr<std::unique_ptr<ModelDurability>> d = ModelDurability::Open(dir, config.durability());
//   absl::StatusOr<std::optional<v1::StoredCheckpoint>> last = (*d)->LatestCheckpoint();
//   (*d)->Replay(last_lsn, apply);                   // start-up: what came after it
//   absl::StatusOr<uint64_t> lsn = (*d)->Log(obs);   // before applying; durable when OK
//   if ((*d)->CheckpointDue()) (*d)->WriteCheckpoint(checkpoint, {changes, everything});
//
// WriteCheckpoint stamps the checkpoint with the last logged record, writes it,
// then trims log segments the checkpoint covers and deletes version folders
// beyond keep_checkpoints (oldest first) and the entity files no kept
// checkpoint names. It is OK once checkpoint.pb is durable: a failure of the
// clean-up after it is printed and retried at the next checkpoint. A checkpoint that exists but cannot be read is
// DATA_LOSS naming the file (the log it would need is trimmed, so an older one cannot stand in). Errors name the path.
// Not thread-safe: one owner (the model's calibration worker). The log's folder lock keeps a second server process off
// the same model (FAILED_PRECONDITION).
//
// Entities are written incrementally, so that a checkpoint of 10 000 entities
// does not rewrite all of them when a few hundred changed: a checkpoint names
// a chain of entity files, a base holding every entity and then deltas, each
// holding the entities changed since the checkpoint before (a superset does no
// harm) and the names deleted since. A checkpoint with changes appends one delta
// to the chain of the checkpoint written or loaded last, unless the deltas would
// then outweigh the base (or the chain would pass kMaxEntityChain files): then
// it starts a new chain with a base. So a checkpoint writes at most about twice
// the bytes of what changed, amortised, and a start-up reads at most about twice
// the bytes of the entities.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
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

// A checkpoint's entities, for WriteCheckpoint: those changed and deleted
// since the checkpoint written or loaded last, and all of them (called only
// when a new chain starts). A null `everything`: no entities.
struct CheckpointEntities {
  v1::StoredEntityFile changes;
  std::function<v1::StoredEntityFile()> everything;
};

class ModelDurability {
 public:
  using Apply = std::function<absl::Status(uint64_t lsn, LogRecord record)>;

  static absl::StatusOr<std::unique_ptr<ModelDurability>> Open(const std::string& dir,
                                                               const v1::DurabilityConfig& config);

  static constexpr size_t kMaxEntityChain = 32;

  // The highest version folder's checkpoint, or nullopt when there is none;
  // start-up calls it once (it sets what CheckpointDue counts from, and the
  // entity chain the next checkpoint continues).
  absl::StatusOr<std::optional<v1::StoredCheckpoint>> LatestCheckpoint();
  // With its entities in `entities`, resolved from its entity files (DATA_LOSS
  // naming a file that is missing or unreadable). NOT_FOUND listing the versions kept.
  absl::StatusOr<v1::StoredCheckpoint> ReadCheckpoint(uint64_t version) const;
  // The same without reading its entity files (`entity_files` names them).
  absl::StatusOr<v1::StoredCheckpoint> ReadCheckpointHeader(uint64_t version) const;
  // Versions with a checkpoint, ascending.
  std::vector<uint64_t> Versions() const;

  // Calls `apply` for every logged record after `lsn`, in order.
  absl::Status Replay(uint64_t lsn, const Apply& apply) const;
  absl::StatusOr<uint64_t> Log(const Observation& observation);
  // Group commit: every observation in one write and one fdatasync, all or
  // none; the first one's LSN (the others follow it).
  absl::StatusOr<uint64_t> LogGroup(const std::vector<const Observation*>& observations);
  absl::StatusOr<uint64_t> Log(const Report& report);
  absl::StatusOr<uint64_t> Log(const EntityDeletion& deletion);
  // checkpoint_every records since the last checkpoint, or at least one and
  // checkpoint_interval_seconds.
  bool CheckpointDue() const;
  bool HasUncheckpointedRecords() const { return wal_->last_lsn() > checkpointed_lsn_; }
  // `checkpoint` without entities; they come from `entities`.
  absl::Status WriteCheckpoint(v1::StoredCheckpoint checkpoint, const CheckpointEntities& entities);

  const WriteAheadLog& wal() const { return *wal_; }
  int64_t last_checkpoint_unix_ms() const { return checkpoint_unix_ms_; }

 private:
  // Seconds since the newest checkpoint was written (by any run); < 0 when none.
  double CheckpointAgeSeconds() const;
  struct EntityFile {
    std::string name;  // In <dir>/entities/.
    uint64_t bytes = 0;
  };
  using EntityChain = std::vector<EntityFile>;

  ModelDurability(std::string dir, v1::DurabilityConfig config, std::unique_ptr<WriteAheadLog> wal);
  std::string CheckpointPath(uint64_t version) const;
  std::string EntityFolder() const { return dir_ + "/entities"; }
  // Fills checkpoint.entities from its chain; `chain` (optional) gets the files' sizes.
  absl::Status ResolveEntities(v1::StoredCheckpoint& checkpoint, EntityChain* chain) const;
  // The chain the next checkpoint names (chain_ extended or a new one), its new file written.
  absl::StatusOr<EntityChain> WriteEntities(const CheckpointEntities& entities);
  // Deletes entity files that no kept checkpoint names.
  absl::Status DeleteUnnamedEntityFiles(const std::vector<uint64_t>& kept);
  // After a checkpoint through `lsn`: trims the log, deletes versions beyond keep_checkpoints and unnamed entity files.
  absl::Status ReclaimAfter(uint64_t lsn);

  const std::string dir_;
  const v1::DurabilityConfig config_;
  std::unique_ptr<WriteAheadLog> wal_;
  uint64_t checkpointed_lsn_ = 0;
  int64_t checkpoint_unix_ms_ = -1;  // Wall clock of the newest checkpoint: its age survives restarts.
  EntityChain chain_;                // Of the checkpoint written or loaded last.
  uint64_t next_entity_file_ = 0;    // 0: not yet counted from the folder.
  std::map<uint64_t, std::vector<std::string>> named_files_;  // Entity files of the versions seen, by version.
};

}  // namespace hybrid::server
