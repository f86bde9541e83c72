// The write-ahead log keeps every appended record across reopening, cuts off
// a torn last record (short or failing its checksum) and only that, refuses
// corruption in the middle, trims whole segments after a checkpoint without
// breaking the LSN sequence, and admits one process at a time.
#include "server/durability/write_ahead_log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "tests/scoped_temp_dir.h"

namespace hybrid::server {
namespace {

namespace fs = std::filesystem;
using Records = std::vector<std::pair<uint64_t, std::string>>;

Records ReadAll(const WriteAheadLog& log, uint64_t after = 0) {
  Records out;
  absl::Status s = log.ReadAfter(after, [&](uint64_t lsn, std::string payload) {
    out.emplace_back(lsn, std::move(payload));
    return absl::OkStatus();
  });
  EXPECT_TRUE(s.ok()) << s;
  return out;
}

std::vector<std::string> Segments(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".wal") out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string Payload(int i) { return "observation-" + std::to_string(i) + std::string(static_cast<size_t>(i), 'x'); }

std::unique_ptr<WriteAheadLog> OpenLog(const std::string& dir, int64_t segment_bytes = 64 << 20) {
  absl::StatusOr<std::unique_ptr<WriteAheadLog>> log =
      WriteAheadLog::Open(dir, {.sync = WriteAheadLog::Sync::kAlways, .segment_bytes = segment_bytes});
  EXPECT_TRUE(log.ok()) << log.status();
  return log.ok() ? *std::move(log) : nullptr;
}

TEST(WriteAheadLog, RecordsSurviveReopeningInOrder) {
  testing::ScopedTempDir tmp;
  const std::string dir = tmp.File("wal");
  {
    std::unique_ptr<WriteAheadLog> log = OpenLog(dir);
    for (int i = 1; i <= 20; ++i) EXPECT_EQ(log->Append(Payload(i)).value(), static_cast<uint64_t>(i));
  }
  std::unique_ptr<WriteAheadLog> log = OpenLog(dir);
  EXPECT_EQ(log->last_lsn(), 20u);
  EXPECT_EQ(log->torn_bytes(), 0);
  Records all = ReadAll(*log);
  ASSERT_EQ(all.size(), 20u);
  for (int i = 1; i <= 20; ++i) EXPECT_EQ(all[i - 1], std::make_pair(static_cast<uint64_t>(i), Payload(i)));
  EXPECT_EQ(ReadAll(*log, 15).front().first, 16u);
  EXPECT_EQ(log->Append("next").value(), 21u);
}

TEST(WriteAheadLog, ATornLastRecordIsDroppedAndAppendingContinues) {
  testing::ScopedTempDir tmp;
  const std::string dir = tmp.File("wal");
  OpenLog(dir)->Append(Payload(1)).value();  // Opened, appended, closed.
  {
    std::unique_ptr<WriteAheadLog> log = OpenLog(dir);
    for (int i = 2; i <= 5; ++i) log->Append(Payload(i)).value();
  }
  const std::string segment = Segments(dir).back();
  const auto size = fs::file_size(segment);
  fs::resize_file(segment, size - 3);  // A crash in the middle of writing record 5.
  std::unique_ptr<WriteAheadLog> log = OpenLog(dir);
  EXPECT_EQ(log->last_lsn(), 4u);
  EXPECT_EQ(log->torn_bytes(), static_cast<int64_t>(16 + Payload(5).size() - 3));
  EXPECT_EQ(log->Append("again").value(), 5u);
  Records all = ReadAll(*log);
  ASSERT_EQ(all.size(), 5u);
  EXPECT_EQ(all[3].second, Payload(4));
  EXPECT_EQ(all[4].second, "again");
}

TEST(WriteAheadLog, AFlippedBitInTheLastRecordFailsItsChecksum) {
  testing::ScopedTempDir tmp;
  const std::string dir = tmp.File("wal");
  {
    std::unique_ptr<WriteAheadLog> log = OpenLog(dir);
    for (int i = 1; i <= 3; ++i) log->Append(Payload(i)).value();
  }
  const std::string segment = Segments(dir).back();
  {
    std::fstream f(segment, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-2, std::ios::end);  // Inside record 3's payload: length and lsn still plausible.
    f.put('#');
  }
  std::unique_ptr<WriteAheadLog> log = OpenLog(dir);
  EXPECT_EQ(log->last_lsn(), 2u);
  EXPECT_GT(log->torn_bytes(), 0);
}

TEST(WriteAheadLog, CorruptionBeforeTheLastSegmentIsDataLossAndTouchesNothing) {
  testing::ScopedTempDir tmp;
  const std::string dir = tmp.File("wal");
  {
    std::unique_ptr<WriteAheadLog> log = OpenLog(dir, /*segment_bytes=*/100);
    for (int i = 1; i <= 10; ++i) log->Append(Payload(i)).value();
  }
  std::vector<std::string> segments = Segments(dir);
  ASSERT_GE(segments.size(), 3u);
  const auto size = fs::file_size(segments.back());
  fs::resize_file(segments[0], fs::file_size(segments[0]) - 1);
  absl::StatusOr<std::unique_ptr<WriteAheadLog>> log = WriteAheadLog::Open(dir, {});
  EXPECT_EQ(log.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(log.status().message().find(segments[0]), absl::string_view::npos) << log.status();
  EXPECT_EQ(fs::file_size(segments.back()), size);
}

TEST(WriteAheadLog, TrimmingDeletesCoveredSegmentsAndKeepsTheSequence) {
  testing::ScopedTempDir tmp;
  const std::string dir = tmp.File("wal");
  std::unique_ptr<WriteAheadLog> log = OpenLog(dir, /*segment_bytes=*/100);
  for (int i = 1; i <= 10; ++i) log->Append(Payload(i)).value();
  const size_t before = Segments(dir).size();
  ASSERT_TRUE(log->TrimThrough(6).ok());
  EXPECT_LT(Segments(dir).size(), before);
  EXPECT_LE(log->first_lsn(), 7u);
  Records rest = ReadAll(*log, 6);
  ASSERT_EQ(rest.size(), 4u);
  EXPECT_EQ(rest.front().second, Payload(7));
  if (log->first_lsn() > 1) {
    absl::Status s = log->ReadAfter(0, [](uint64_t, std::string) { return absl::OkStatus(); });
    EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  }

  ASSERT_TRUE(log->TrimThrough(10).ok());  // Everything covered: only an empty segment is left.
  log.reset();
  log = OpenLog(dir);
  EXPECT_EQ(log->last_lsn(), 10u);
  EXPECT_TRUE(ReadAll(*log, 10).empty());
  EXPECT_EQ(log->Append("eleven").value(), 11u);
}

TEST(WriteAheadLog, AGroupIsOneSyncInOneSegmentAndReadsBackAsItsRecords) {
  testing::ScopedTempDir tmp;
  const std::string dir = tmp.File("wal");
  std::unique_ptr<WriteAheadLog> log = OpenLog(dir, /*segment_bytes=*/150);
  EXPECT_EQ(log->Append(Payload(1)).value(), 1u);
  EXPECT_EQ(log->syncs(), 1);
  const std::vector<std::string> group = {Payload(2), Payload(3), Payload(4), Payload(5), Payload(6)};
  EXPECT_EQ(log->AppendGroup({group.begin(), group.end()}).value(), 2u);
  EXPECT_EQ(log->syncs(), 2);  // One fdatasync for the five.
  EXPECT_GT(log->sync_seconds(), 0.0);  // Two real fdatasyncs took some time.
  EXPECT_EQ(log->last_lsn(), 6u);
  // The group (165 bytes) does not fit after record 1 (30 of 150): a new
  // segment holds all of it, whole, though it is larger than a segment.
  EXPECT_EQ(Segments(dir).size(), 2u);
  EXPECT_EQ(fs::path(Segments(dir).back()).filename().string().substr(0, 20), "00000000000000000002");
  EXPECT_EQ(log->AppendGroup({}).status().code(), absl::StatusCode::kInvalidArgument);

  log.reset();
  log = OpenLog(dir);
  Records all = ReadAll(*log);
  ASSERT_EQ(all.size(), 6u);
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(all[i].first, static_cast<uint64_t>(i + 1));
    EXPECT_EQ(all[i].second, Payload(i + 1));
  }
}

TEST(WriteAheadLog, ACheckpointAheadOfTheLogMovesTheSequencePastIt) {
  // With sync kOs a power cut can lose log records that a (synced) checkpoint
  // already covers; new records must not reuse their numbers.
  testing::ScopedTempDir tmp;
  std::unique_ptr<WriteAheadLog> log = OpenLog(tmp.File("wal"));
  log->Append("one").value();
  ASSERT_TRUE(log->TrimThrough(7).ok());
  EXPECT_EQ(log->Append("eight").value(), 8u);
}

TEST(WriteAheadLog, OneProcessAtATime) {
  testing::ScopedTempDir tmp;
  std::unique_ptr<WriteAheadLog> log = OpenLog(tmp.File("wal"));
  absl::StatusOr<std::unique_ptr<WriteAheadLog>> second = WriteAheadLog::Open(tmp.File("wal"), {});
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(second.status().message().find("in use"), absl::string_view::npos);
  log.reset();
  EXPECT_TRUE(WriteAheadLog::Open(tmp.File("wal"), {}).ok());
}

}  // namespace
}  // namespace hybrid::server
