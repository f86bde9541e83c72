// WriteAheadLog: one model's durable, append-only log of observations, so that
// nothing acknowledged is lost when the process or the machine dies.
//
//   absl::StatusOr<std::unique_ptr<WriteAheadLog>> wal = WriteAheadLog::Open(dir, {});
//   absl::StatusOr<uint64_t> lsn = (*wal)->Append(bytes);  // durable per `sync` when OK
//   absl::StatusOr<uint64_t> first = (*wal)->AppendGroup({a, b, c});  // one write, one fdatasync
//   (*wal)->ReadAfter(checkpoint_lsn, [](uint64_t lsn, std::string payload) { ...; return absl::OkStatus(); });
//   (*wal)->TrimThrough(checkpoint_lsn);                 // after a checkpoint covering it
//
// Layout: `dir` holds segments `<first lsn, 20 digits>.wal`; record n has log
// sequence number (LSN) n, starting at 1, consecutive across segments. A
// record is [u32 payload length][u32 CRC-32 of (lsn, payload)][u64 lsn]
// [payload], little-endian. Open verifies every record: a bad record in the
// last segment is a torn write from a crash (it was never acknowledged, since
// Append returns only after the write) and is cut off with everything after
// it — the count of dropped bytes is in torn_bytes(); a bad record anywhere
// else is DATA_LOSS naming the segment and offset (the log is not touched).
// `dir/LOCK` is held (flock) while the log is open, so a second process
// cannot write the same log: FAILED_PRECONDITION.
//
// Group commit: AppendGroup writes several records with one write and one
// fdatasync, all or none — the caller acknowledges each only after it returns.
//
// Sync policy: kAlways fdatasyncs every record before Append returns (survives
// power loss); kOs leaves flushing to the kernel (survives a process crash, not
// a power cut). Segments roll at segment_bytes; TrimThrough starts a new
// segment and deletes those whose records are all ≤ the given LSN.
// Errors from the file system are UNAVAILABLE naming the path. Not
// thread-safe: one owner (the model's calibration worker).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace hybrid::server {

class WriteAheadLog {
 public:
  enum class Sync { kAlways, kOs };
  struct Options {
    Sync sync = Sync::kAlways;
    int64_t segment_bytes = 64 << 20;
  };
  using Visit = std::function<absl::Status(uint64_t lsn, std::string payload)>;

  static absl::StatusOr<std::unique_ptr<WriteAheadLog>> Open(const std::string& dir, const Options& options);
  ~WriteAheadLog();
  WriteAheadLog(const WriteAheadLog&) = delete;
  WriteAheadLog& operator=(const WriteAheadLog&) = delete;

  // Returns the record's LSN once it is written (and synced, per policy).
  // On error nothing counts as appended: the segment is cut back to its last
  // whole record.
  absl::StatusOr<uint64_t> Append(absl::string_view payload);
  // Appends `payloads` (at least one) as consecutive records in one segment
  // and returns the first one's LSN; all are durable (per policy) when OK, and
  // none counts as appended on error.
  absl::StatusOr<uint64_t> AppendGroup(const std::vector<absl::string_view>& payloads);
  // Calls `visit` for every record with LSN > `after`, in order; stops at the
  // first non-OK status and returns it. FAILED_PRECONDITION when records in
  // (after, first retained] were trimmed away.
  absl::Status ReadAfter(uint64_t after, const Visit& visit) const;
  absl::Status TrimThrough(uint64_t lsn);

  uint64_t last_lsn() const { return next_lsn_ - 1; }
  uint64_t first_lsn() const;  // Oldest retained record (last_lsn() + 1 when empty).
  int64_t bytes() const;       // Size of all segments.
  int64_t torn_bytes() const { return torn_bytes_; }
  // Since Open: fdatasync calls on appends, and the wall time they took.
  int64_t syncs() const { return syncs_; }
  double sync_seconds() const { return sync_seconds_; }
  const std::string& dir() const { return dir_; }

 private:
  WriteAheadLog(std::string dir, Options options, int lock_fd);
  absl::Status Recover();
  absl::Status StartSegment(uint64_t first_lsn);
  std::string SegmentPath(uint64_t first_lsn) const;

  const std::string dir_;
  const Options options_;
  const int lock_fd_;
  int fd_ = -1;  // Current (last) segment, open for append.
  uint64_t segment_first_ = 1;
  int64_t segment_size_ = 0;
  int64_t closed_bytes_ = 0;  // Segments before the current one.
  uint64_t next_lsn_ = 1;
  uint64_t first_retained_ = 1;
  int64_t torn_bytes_ = 0;
  int64_t syncs_ = 0;
  double sync_seconds_ = 0.0;
  absl::Status failed_;  // Set when the log can no longer be trusted to append.
};

}  // namespace hybrid::server
