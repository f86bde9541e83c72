#include "server/durability/write_ahead_log.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/atomic_file.h"
#include "base/file_contents.h"

namespace hybrid::server {
namespace {

namespace fs = std::filesystem;

constexpr size_t kHeaderBytes = 16;                // length, crc, lsn
constexpr uint32_t kMaxPayloadBytes = 256u << 20;  // Larger lengths are corruption.
constexpr char kSuffix[] = ".wal";

absl::Status OsError(const std::string& what, const std::string& path) {
  return absl::UnavailableError(absl::StrCat(what, " '", path, "': ", std::strerror(errno)));
}

void PutLe(uint64_t value, int bytes, char* out) {
  for (int i = 0; i < bytes; ++i) out[i] = static_cast<char>((value >> (8 * i)) & 0xff);
}

uint64_t GetLe(const char* in, int bytes) {
  uint64_t value = 0;
  for (int i = 0; i < bytes; ++i) value |= static_cast<uint64_t>(static_cast<unsigned char>(in[i])) << (8 * i);
  return value;
}

uint32_t Checksum(const char* lsn_bytes, absl::string_view payload) {
  uLong crc = crc32(0L, Z_NULL, 0);
  crc = crc32(crc, reinterpret_cast<const Bytef*>(lsn_bytes), 8);
  crc = crc32(crc, reinterpret_cast<const Bytef*>(payload.data()), static_cast<uInt>(payload.size()));
  return static_cast<uint32_t>(crc);
}

// Calls visit(lsn, payload) for each whole, valid record of a segment whose
// first record is `lsn`; returns the offset where valid records end.
size_t ParseRecords(const std::string& data, uint64_t lsn,
                    const std::function<void(uint64_t, absl::string_view)>& visit) {
  size_t offset = 0;
  while (data.size() - offset >= kHeaderBytes) {
    const char* header = data.data() + offset;
    const uint64_t length = GetLe(header, 4);
    if (length > kMaxPayloadBytes || data.size() - offset - kHeaderBytes < length) break;
    const absl::string_view payload(header + kHeaderBytes, length);
    if (GetLe(header + 8, 8) != lsn || GetLe(header + 4, 4) != Checksum(header + 8, payload)) break;
    visit(lsn++, payload);
    offset += kHeaderBytes + length;
  }
  return offset;
}

// Segment first-LSNs found in `dir`, ascending.
absl::StatusOr<std::vector<uint64_t>> ListSegments(const std::string& dir) {
  std::vector<uint64_t> firsts;
  std::error_code ec;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir, ec)) {
    uint64_t first = 0;
    if (entry.path().extension() == kSuffix && absl::SimpleAtoi(entry.path().stem().string(), &first) && first > 0) {
      firsts.push_back(first);
    }
  }
  if (ec) return absl::UnavailableError(absl::StrCat("listing '", dir, "': ", ec.message()));
  std::sort(firsts.begin(), firsts.end());
  return firsts;
}

}  // namespace

WriteAheadLog::WriteAheadLog(std::string dir, Options options, int lock_fd)
    : dir_(std::move(dir)), options_(options), lock_fd_(lock_fd) {}

WriteAheadLog::~WriteAheadLog() {
  if (fd_ >= 0) ::close(fd_);
  ::close(lock_fd_);  // Releases the flock.
}

std::string WriteAheadLog::SegmentPath(uint64_t first_lsn) const {
  return absl::StrCat(dir_, "/", absl::StrFormat("%020d", first_lsn), kSuffix);
}

absl::StatusOr<std::unique_ptr<WriteAheadLog>> WriteAheadLog::Open(const std::string& dir, const Options& options) {
  if (options.segment_bytes < 1) return absl::InvalidArgumentError("wal segment_bytes must be ≥ 1");
  std::error_code ec;
  const bool existed = fs::is_directory(dir, ec);
  fs::create_directories(dir, ec);
  if (ec) return absl::UnavailableError(absl::StrCat("creating '", dir, "': ", ec.message()));
  if (!existed) {
    const std::string parent = fs::path(dir).parent_path().string();
    if (absl::Status s = base::SyncFolder(parent.empty() ? "." : parent); !s.ok()) return s;
  }
  const std::string lock_path = dir + "/LOCK";
  const int lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd < 0) return OsError("opening", lock_path);
  if (::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(lock_fd);
    return absl::FailedPreconditionError(
        absl::StrCat("write-ahead log '", dir, "' is in use by another process (", lock_path, " is locked)"));
  }
  std::unique_ptr<WriteAheadLog> log(new WriteAheadLog(dir, options, lock_fd));
  if (absl::Status s = log->Recover(); !s.ok()) return s;
  return log;
}

absl::Status WriteAheadLog::Recover() {
  absl::StatusOr<std::vector<uint64_t>> firsts = ListSegments(dir_);
  if (!firsts.ok()) return firsts.status();
  if (firsts->empty()) return StartSegment(1);
  next_lsn_ = firsts->front();
  for (size_t i = 0; i < firsts->size(); ++i) {
    const uint64_t first = (*firsts)[i];
    const std::string path = SegmentPath(first);
    if (first != next_lsn_) {
      return absl::DataLossError(absl::StrCat("write-ahead log '", dir_, "': segment ", path, " starts at record ",
                                              first, " but the previous one ends at ", next_lsn_ - 1));
    }
    absl::StatusOr<std::string> data = base::ReadFileContents(path);
    if (!data.ok()) return data.status();
    const size_t valid = ParseRecords(*data, first, [&](uint64_t lsn, absl::string_view) { next_lsn_ = lsn + 1; });
    const bool last = i + 1 == firsts->size();
    if (valid < data->size() && !last) {
      return absl::DataLossError(absl::StrCat("write-ahead log segment ", path, " is corrupt at byte ", valid,
                                              " (record ", next_lsn_, "), and later segments follow it"));
    }
    if (!last) {
      closed_bytes_ += static_cast<int64_t>(data->size());
      continue;
    }
    fd_ = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd_ < 0) return OsError("opening", path);
    if (valid < data->size()) {  // A torn write at the tail: never acknowledged.
      torn_bytes_ = static_cast<int64_t>(data->size() - valid);
      if (::ftruncate(fd_, static_cast<off_t>(valid)) != 0 || ::fsync(fd_) != 0) return OsError("truncating", path);
    }
    segment_first_ = first;
    segment_size_ = static_cast<int64_t>(valid);
  }
  first_retained_ = firsts->front();
  return absl::OkStatus();
}

absl::Status WriteAheadLog::StartSegment(uint64_t first_lsn) {
  const std::string path = SegmentPath(first_lsn);
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return OsError("creating", path);
  if (absl::Status s = base::SyncFolder(dir_); !s.ok()) {
    ::close(fd);
    return s;
  }
  if (fd_ >= 0) {
    ::close(fd_);
    closed_bytes_ += segment_size_;
  } else {
    first_retained_ = first_lsn;
  }
  fd_ = fd;
  segment_first_ = first_lsn;
  segment_size_ = 0;
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> WriteAheadLog::Append(absl::string_view payload) {
  absl::StatusOr<uint64_t> first = AppendGroup({payload});
  if (!first.ok()) return first.status();
  return *first;
}

absl::StatusOr<uint64_t> WriteAheadLog::AppendGroup(const std::vector<absl::string_view>& payloads) {
  if (!failed_.ok()) return failed_;
  if (payloads.empty()) return absl::InvalidArgumentError("AppendGroup of no records");
  int64_t group_bytes = 0;
  for (absl::string_view payload : payloads) {
    if (payload.size() > kMaxPayloadBytes) {
      return absl::InvalidArgumentError(absl::StrCat("record of ", payload.size(), " bytes exceeds the log's limit"));
    }
    group_bytes += static_cast<int64_t>(kHeaderBytes + payload.size());
  }
  // A group never spans segments: on an error the one segment is cut back,
  // and nothing of the group stays in the log.
  if (segment_size_ > 0 && segment_size_ + group_bytes > options_.segment_bytes) {
    if (absl::Status s = StartSegment(next_lsn_); !s.ok()) return s;
  }
  std::string records;
  records.reserve(static_cast<size_t>(group_bytes));
  uint64_t lsn = next_lsn_;
  for (absl::string_view payload : payloads) {
    char header[kHeaderBytes] = {};
    PutLe(payload.size(), 4, header);
    PutLe(lsn++, 8, header + 8);
    PutLe(Checksum(header + 8, payload), 4, header + 4);
    records.append(header, kHeaderBytes);
    records.append(payload.data(), payload.size());
  }

  const std::string path = SegmentPath(segment_first_);
  if (!base::WriteAllBytes(fd_, records)) {
    absl::Status error = OsError("appending to", path);
    if (::ftruncate(fd_, static_cast<off_t>(segment_size_)) != 0) {
      // Cannot cut it back: whole records of the group may stay, and a
      // restart would replay them. Say so, and append nothing more.
      failed_ = absl::Status(error.code(), absl::StrCat(error.message(),
                                                        "; cutting the log back failed too, so records of this "
                                                        "write may be replayed after a restart"));
      return failed_;
    }
    return error;
  }
  if (options_.sync == Sync::kAlways) {
    const auto started = std::chrono::steady_clock::now();
    if (::fdatasync(fd_) != 0) {
      // After a failed fsync the page cache's state is unknown (the write may
      // be lost even if a retry succeeds): refuse every later append.
      failed_ = OsError("syncing", path);
      return failed_;
    }
    sync_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    ++syncs_;
  }
  segment_size_ += group_bytes;
  const uint64_t first = next_lsn_;
  next_lsn_ = lsn;
  return first;
}

absl::Status WriteAheadLog::ReadAfter(uint64_t after, const Visit& visit) const {
  if (after + 1 < first_retained_ && last_lsn() > after) {
    return absl::FailedPreconditionError(absl::StrCat("write-ahead log '", dir_, "' starts at record ", first_retained_,
                                                      "; records ", after + 1, "…", first_retained_ - 1,
                                                      " were trimmed"));
  }
  absl::StatusOr<std::vector<uint64_t>> firsts = ListSegments(dir_);
  if (!firsts.ok()) return firsts.status();
  absl::Status status;
  for (size_t i = 0; i < firsts->size() && status.ok(); ++i) {
    if (i + 1 < firsts->size() && (*firsts)[i + 1] <= after + 1) continue;  // Entirely ≤ after.
    absl::StatusOr<std::string> data = base::ReadFileContents(SegmentPath((*firsts)[i]));
    if (!data.ok()) return data.status();
    ParseRecords(*data, (*firsts)[i], [&](uint64_t lsn, absl::string_view payload) {
      if (lsn > after && lsn < next_lsn_ && status.ok()) status = visit(lsn, std::string(payload));
    });
  }
  return status;
}

absl::Status WriteAheadLog::TrimThrough(uint64_t lsn) {
  if (lsn > last_lsn()) next_lsn_ = lsn + 1;  // The checkpoint is ahead of the log (it lost unsynced records).
  if (segment_size_ > 0 || segment_first_ != next_lsn_) {
    if (absl::Status s = StartSegment(next_lsn_); !s.ok()) return s;
  }
  absl::StatusOr<std::vector<uint64_t>> firsts = ListSegments(dir_);
  if (!firsts.ok()) return firsts.status();
  closed_bytes_ = 0;
  for (size_t i = 0; i + 1 < firsts->size(); ++i) {
    const std::string path = SegmentPath((*firsts)[i]);
    if ((*firsts)[i + 1] - 1 <= lsn) {
      if (::unlink(path.c_str()) != 0) return OsError("deleting", path);
      first_retained_ = (*firsts)[i + 1];
    } else {
      std::error_code ec;
      closed_bytes_ += static_cast<int64_t>(fs::file_size(path, ec));
    }
  }
  return base::SyncFolder(dir_);
}

uint64_t WriteAheadLog::first_lsn() const { return first_retained_; }

int64_t WriteAheadLog::bytes() const { return closed_bytes_ + segment_size_; }

}  // namespace hybrid::server
