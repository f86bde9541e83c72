#include "server/durability/model_durability.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "base/atomic_file.h"
#include "base/file_contents.h"

namespace hybrid::server {
namespace {

namespace fs = std::filesystem;

void ToStored(const DenseArray& a, v1::StoredArray* out) {
  out->mutable_shape()->Add(a.shape.begin(), a.shape.end());
  out->mutable_values()->Add(a.values.begin(), a.values.end());
}

DenseArray FromStored(const v1::StoredArray& a) {
  return {std::vector<int64_t>(a.shape().begin(), a.shape().end()),
          std::vector<double>(a.values().begin(), a.values().end())};
}

// Entity files are named <12 digits>.pb; a checkpoint naming anything else is corrupt.
bool IsEntityFileName(const std::string& name) {
  return name.size() == 15 && absl::EndsWith(name, ".pb") &&
         std::all_of(name.begin(), name.end() - 3, [](char c) { return c >= '0' && c <= '9'; });
}

int64_t UnixMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The log's record format: hybrid.v1.StoredObservation.
std::string EncodeObservation(const Observation& o) {
  v1::StoredObservation stored;
  stored.set_sequence(o.sequence);
  ToStored(o.start, stored.mutable_start());
  ToStored(o.end, stored.mutable_end());
  if (!o.mask.shape.empty()) ToStored(o.mask, stored.mutable_mask());
  if (!o.path.shape.empty()) ToStored(o.path, stored.mutable_path());
  stored.set_step(o.step);
  stored.set_steps(o.steps);
  if (o.minibatch > 0) stored.set_minibatch(static_cast<uint32_t>(o.minibatch));
  return stored.SerializeAsString();
}

std::string EncodeReport(const Report& r) {
  v1::StoredObservation stored;
  v1::StoredReport& out = *stored.mutable_report();
  out.set_entity(r.entity);
  out.set_time(r.time);
  for (const Reading& reading : r.readings) {
    v1::StoredReading* o = out.add_readings();
    o->set_observable(reading.observable);
    o->set_value(reading.value);
    o->set_noise_std(reading.noise_std.value_or(0.0));
  }
  for (const InputEvent& input : r.inputs) {
    v1::StoredInput* o = out.add_inputs();
    o->set_input(input.input);
    o->set_value(input.value);
  }
  return stored.SerializeAsString();
}

Report DecodeReport(const v1::StoredReport& stored) {
  Report r;
  r.entity = stored.entity();
  r.time = stored.time();
  for (const v1::StoredReading& reading : stored.readings()) {
    r.readings.push_back({reading.observable(), reading.value(), reading.noise_std()});
  }
  for (const v1::StoredInput& input : stored.inputs()) r.inputs.push_back({input.input(), input.value()});
  return r;
}

absl::StatusOr<LogRecord> DecodeRecord(const std::string& bytes) {
  v1::StoredObservation stored;
  if (!stored.ParseFromString(bytes)) return absl::DataLossError("unreadable observation record");
  if (stored.has_report()) return LogRecord(DecodeReport(stored.report()));
  if (!stored.deleted_entity().empty()) return LogRecord(EntityDeletion{stored.deleted_entity()});
  Observation o;
  o.sequence = stored.sequence();
  o.start = FromStored(stored.start());
  o.end = FromStored(stored.end());
  if (stored.has_mask()) o.mask = FromStored(stored.mask());
  if (stored.has_path()) o.path = FromStored(stored.path());
  o.step = stored.step();
  o.steps = stored.steps();
  o.minibatch = static_cast<int32_t>(std::min<uint32_t>(stored.minibatch(), 1u << 20));
  return LogRecord(std::move(o));
}

}  // namespace

ModelDurability::ModelDurability(std::string dir, v1::DurabilityConfig config, std::unique_ptr<WriteAheadLog> wal)
    : dir_(std::move(dir)), config_(std::move(config)), wal_(std::move(wal)) {}

absl::StatusOr<std::unique_ptr<ModelDurability>> ModelDurability::Open(const std::string& dir,
                                                                       const v1::DurabilityConfig& config) {
  WriteAheadLog::Options options;
  options.sync = config.wal_sync() == v1::WAL_SYNC_OS ? WriteAheadLog::Sync::kOs : WriteAheadLog::Sync::kAlways;
  options.segment_bytes = config.wal_segment_bytes();
  absl::StatusOr<std::unique_ptr<WriteAheadLog>> wal = WriteAheadLog::Open(dir + "/wal", options);
  if (!wal.ok()) return wal.status();
  return std::unique_ptr<ModelDurability>(new ModelDurability(dir, config, *std::move(wal)));
}

std::string ModelDurability::CheckpointPath(uint64_t version) const {
  return absl::StrCat(dir_, "/", version, "/checkpoint.pb");
}

std::vector<uint64_t> ModelDurability::Versions() const {
  std::vector<uint64_t> versions;
  std::error_code ec;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir_, ec)) {
    uint64_t version = 0;
    if (entry.is_directory() && absl::SimpleAtoi(entry.path().filename().string(), &version) &&
        fs::exists(CheckpointPath(version))) {
      versions.push_back(version);
    }
  }
  std::sort(versions.begin(), versions.end());
  return versions;
}

absl::StatusOr<v1::StoredCheckpoint> ModelDurability::ReadCheckpointHeader(uint64_t version) const {
  const std::string path = CheckpointPath(version);
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    return absl::NotFoundError(
        absl::StrCat("version ", version, " has no checkpoint; kept: [", absl::StrJoin(Versions(), ", "), "]"));
  }
  const absl::StatusOr<std::string> bytes = base::ReadFileContents(path);
  v1::StoredCheckpoint checkpoint;
  if (!bytes.ok() || !checkpoint.ParseFromString(*bytes) || checkpoint.version() != version) {
    return absl::DataLossError(absl::StrCat("checkpoint '", path, "' is unreadable"));
  }
  return checkpoint;
}

absl::StatusOr<v1::StoredCheckpoint> ModelDurability::ReadCheckpoint(uint64_t version) const {
  absl::StatusOr<v1::StoredCheckpoint> checkpoint = ReadCheckpointHeader(version);
  if (!checkpoint.ok()) return checkpoint.status();
  if (absl::Status s = ResolveEntities(*checkpoint, nullptr); !s.ok()) return s;
  return checkpoint;
}

absl::Status ModelDurability::ResolveEntities(v1::StoredCheckpoint& checkpoint, EntityChain* chain) const {
  if (checkpoint.entity_files().empty()) return absl::OkStatus();  // Written before entity files: inline.
  std::map<std::string, v1::StoredEntity> merged;
  for (const std::string& name : checkpoint.entity_files()) {
    const std::string path = absl::StrCat(EntityFolder(), "/", name);
    if (!IsEntityFileName(name)) {
      return absl::DataLossError(absl::StrCat("checkpoint '", CheckpointPath(checkpoint.version()),
                                              "' names entity file '", name, "', not one this server writes"));
    }
    const absl::StatusOr<std::string> bytes = base::ReadFileContents(path);
    v1::StoredEntityFile file;
    if (!bytes.ok() || !file.ParseFromString(*bytes)) {
      return absl::DataLossError(absl::StrCat("entity file '", path, "' of checkpoint '",
                                              CheckpointPath(checkpoint.version()), "' is missing or unreadable"));
    }
    if (chain) chain->push_back({name, bytes->size()});
    for (const std::string& deleted : file.deleted()) merged.erase(deleted);
    for (v1::StoredEntity& e : *file.mutable_entities()) {
      std::string key = e.name();
      merged.insert_or_assign(std::move(key), std::move(e));
    }
  }
  checkpoint.clear_entities();
  for (auto& [name, entity] : merged) *checkpoint.add_entities() = std::move(entity);
  return absl::OkStatus();
}

absl::StatusOr<std::optional<v1::StoredCheckpoint>> ModelDurability::LatestCheckpoint() {
  const std::vector<uint64_t> versions = Versions();
  if (versions.empty()) return std::optional<v1::StoredCheckpoint>();
  absl::StatusOr<v1::StoredCheckpoint> latest = ReadCheckpointHeader(versions.back());
  if (!latest.ok()) return latest.status();
  named_files_[latest->version()].assign(latest->entity_files().begin(), latest->entity_files().end());
  EntityChain chain;
  if (absl::Status s = ResolveEntities(*latest, &chain); !s.ok()) return s;
  chain_ = std::move(chain);
  checkpointed_lsn_ = latest->wal_lsn();
  checkpoint_unix_ms_ = latest->written_unix_ms();
  if (wal_->last_lsn() < latest->wal_lsn()) {
    // The log lost records the checkpoint covers (WAL_SYNC_OS and a power
    // cut): continue numbering after the checkpoint, never below it.
    if (absl::Status s = wal_->TrimThrough(latest->wal_lsn()); !s.ok()) return s;
  }
  return std::optional<v1::StoredCheckpoint>(*std::move(latest));
}

absl::Status ModelDurability::Replay(uint64_t lsn, const Apply& apply) const {
  return wal_->ReadAfter(lsn, [&](uint64_t record, std::string payload) -> absl::Status {
    absl::StatusOr<LogRecord> decoded = DecodeRecord(payload);
    if (!decoded.ok()) {
      return absl::DataLossError(
          absl::StrCat("write-ahead log '", wal_->dir(), "' record ", record, ": ", decoded.status().message()));
    }
    return apply(record, *std::move(decoded));
  });
}

absl::StatusOr<uint64_t> ModelDurability::Log(const Observation& observation) {
  return wal_->Append(EncodeObservation(observation));
}

absl::StatusOr<uint64_t> ModelDurability::LogGroup(const std::vector<const Observation*>& observations) {
  std::vector<std::string> records;
  records.reserve(observations.size());
  for (const Observation* o : observations) records.push_back(EncodeObservation(*o));
  return wal_->AppendGroup(std::vector<absl::string_view>(records.begin(), records.end()));
}

absl::StatusOr<uint64_t> ModelDurability::Log(const Report& report) { return wal_->Append(EncodeReport(report)); }

absl::StatusOr<uint64_t> ModelDurability::Log(const EntityDeletion& deletion) {
  v1::StoredObservation stored;
  stored.set_deleted_entity(deletion.entity);
  return wal_->Append(stored.SerializeAsString());
}

bool ModelDurability::CheckpointDue() const {
  const uint64_t pending = wal_->last_lsn() - checkpointed_lsn_;
  if (pending >= static_cast<uint64_t>(config_.checkpoint_every())) return true;
  return pending > 0 && (checkpoint_unix_ms_ < 0 || CheckpointAgeSeconds() >= config_.checkpoint_interval_seconds());
}

absl::StatusOr<ModelDurability::EntityChain> ModelDurability::WriteEntities(const CheckpointEntities& entities) {
  const bool changed = entities.changes.entities_size() > 0 || entities.changes.deleted_size() > 0;
  if (!chain_.empty() && !changed) return chain_;
  uint64_t delta_bytes = entities.changes.ByteSizeLong();
  for (size_t i = 1; i < chain_.size(); ++i) delta_bytes += chain_[i].bytes;
  const bool extend = !chain_.empty() && chain_.size() < kMaxEntityChain && delta_bytes <= chain_.front().bytes;
  v1::StoredEntityFile base;
  if (!extend) {
    if (!entities.everything) return EntityChain();
    base = entities.everything();
    if (base.entities_size() == 0) return EntityChain();
  }
  const std::string bytes = extend ? entities.changes.SerializeAsString() : base.SerializeAsString();
  const std::string folder = EntityFolder();
  std::error_code ec;
  if (!fs::exists(folder, ec)) {
    fs::create_directories(folder, ec);
    if (ec) return absl::UnavailableError(absl::StrCat("creating '", folder, "': ", ec.message()));
    if (absl::Status s = base::SyncFolder(dir_); !s.ok()) return s;
  }
  if (next_entity_file_ == 0) {  // Above every file there (every file a checkpoint names is there).
    uint64_t next = 1;
    fs::directory_iterator it(folder, ec), end;
    for (; !ec && it != end; it.increment(ec)) {
      const std::string name = it->path().filename().string();
      uint64_t n = 0;
      if (IsEntityFileName(name) && absl::SimpleAtoi(name.substr(0, name.size() - 3), &n)) next = std::max(next, n + 1);
    }
    if (ec) return absl::UnavailableError(absl::StrCat("listing '", folder, "': ", ec.message()));
    next_entity_file_ = next;
  }
  std::string name;
  do {  // Never over an existing file, whatever the count says.
    name = absl::StrFormat("%012d.pb", next_entity_file_++);
  } while (fs::exists(absl::StrCat(folder, "/", name), ec));
  if (absl::Status s = base::WriteFileAtomically(absl::StrCat(folder, "/", name), bytes); !s.ok()) return s;
  EntityChain chain = extend ? chain_ : EntityChain();
  chain.push_back({name, bytes.size()});
  return chain;
}

absl::Status ModelDurability::DeleteUnnamedEntityFiles(const std::vector<uint64_t>& kept) {
  std::set<std::string> named;
  for (uint64_t version : kept) {
    auto it = named_files_.find(version);
    if (it == named_files_.end()) {
      absl::StatusOr<v1::StoredCheckpoint> header = ReadCheckpointHeader(version);
      if (!header.ok()) return header.status();
      it = named_files_
               .emplace(version, std::vector<std::string>(header->entity_files().begin(), header->entity_files().end()))
               .first;
    }
    named.insert(it->second.begin(), it->second.end());
  }
  for (auto it = named_files_.begin(); it != named_files_.end();) {
    it = std::binary_search(kept.begin(), kept.end(), it->first) ? std::next(it) : named_files_.erase(it);
  }
  std::error_code ec;
  std::vector<fs::path> unnamed;  // Then deleted: not while the folder is read.
  fs::directory_iterator it(EntityFolder(), ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    if (named.count(it->path().filename().string()) == 0) unnamed.push_back(it->path());
  }
  if (ec && ec != std::errc::no_such_file_or_directory) {
    return absl::UnavailableError(absl::StrCat("listing '", EntityFolder(), "': ", ec.message()));
  }
  for (const fs::path& path : unnamed) {
    fs::remove(path, ec);
    if (ec) return absl::UnavailableError(absl::StrCat("deleting '", path.string(), "': ", ec.message()));
  }
  return absl::OkStatus();
}

absl::Status ModelDurability::WriteCheckpoint(v1::StoredCheckpoint checkpoint, const CheckpointEntities& entities) {
  absl::StatusOr<EntityChain> chain = WriteEntities(entities);
  if (!chain.ok()) return chain.status();
  checkpoint.clear_entities();
  checkpoint.clear_entity_files();
  for (const EntityFile& file : *chain) checkpoint.add_entity_files(file.name);
  checkpoint.set_wal_lsn(wal_->last_lsn());
  checkpoint.set_written_unix_ms(UnixMillis());
  const std::string folder = absl::StrCat(dir_, "/", checkpoint.version());
  std::error_code ec;
  fs::create_directories(folder, ec);
  if (ec) return absl::UnavailableError(absl::StrCat("creating '", folder, "': ", ec.message()));
  if (absl::Status s = base::SyncFolder(dir_); !s.ok()) return s;
  if (absl::Status s =
          base::WriteFileAtomically(CheckpointPath(checkpoint.version()), checkpoint.SerializeAsString());
      !s.ok()) {
    return s;
  }
  checkpointed_lsn_ = checkpoint.wal_lsn();
  checkpoint_unix_ms_ = checkpoint.written_unix_ms();
  chain_ = *std::move(chain);
  named_files_[checkpoint.version()].assign(checkpoint.entity_files().begin(), checkpoint.entity_files().end());
  // The checkpoint stands from here on: what follows only reclaims space, and
  // a failure of it is printed and retried at the next checkpoint, never
  // reported as a failed checkpoint (the caller would go on counting entity
  // changes from the one before, and a delta could miss a deletion).
  if (absl::Status s = ReclaimAfter(checkpoint.wal_lsn()); !s.ok()) {
    std::fprintf(stderr, "hybridserve: '%s': after checkpoint %llu: %s (retried at the next checkpoint)\n",
                 dir_.c_str(), static_cast<unsigned long long>(checkpoint.version()), s.ToString().c_str());
  }
  return absl::OkStatus();
}

absl::Status ModelDurability::ReclaimAfter(uint64_t lsn) {
  // Only now is the log before it redundant.
  if (absl::Status s = wal_->TrimThrough(lsn); !s.ok()) return s;
  std::vector<uint64_t> versions = Versions();
  const size_t keep = static_cast<size_t>(config_.keep_checkpoints());
  std::error_code ec;
  for (size_t i = 0; i + keep < versions.size(); ++i) {
    fs::remove_all(absl::StrCat(dir_, "/", versions[i]), ec);
    if (ec) return absl::UnavailableError(absl::StrCat("deleting old checkpoint ", versions[i], ": ", ec.message()));
  }
  if (versions.size() > keep) versions.erase(versions.begin(), versions.end() - static_cast<std::ptrdiff_t>(keep));
  return DeleteUnnamedEntityFiles(versions);
}

double ModelDurability::CheckpointAgeSeconds() const {
  if (checkpoint_unix_ms_ < 0) return -1.0;
  return static_cast<double>(UnixMillis() - checkpoint_unix_ms_) / 1000.0;
}

}  // namespace hybrid::server
