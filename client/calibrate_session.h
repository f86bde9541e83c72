// StreamCalibration: streams a WindowSet into Calibrate and follows the answers.
//
//   absl::StatusOr<CalibrationReport> final = StreamCalibration(client, windows, options,
//       [](const CalibrationReport& r) { /* every options.report_every answers */ });
//
// Observations carry `windows_per_observation` windows each, sequence numbers
// 1, 2, …. A writer thread sends while the calling thread reads, so the
// server's backpressure paces the stream. Rejected observations are counted,
// not fatal. Returns the stream's final status if it failed.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/hybrid_client.h"
#include "client/observation_windows.h"

namespace hybrid::client {

struct CalibrationReport {
  int64_t planned = 0;  // Observations the stream will send.
  int64_t answered = 0;
  int64_t accepted = 0;
  int64_t rejected = 0;
  double recent_loss = 0.0;      // Mean loss of accepted answers since the last report.
  double recent_coverage = 0.0;  // Mean coverage since the last report.
  double last_loss = 0.0;        // Of the latest accepted answer.
  double coverage_level = 0.0;
  int64_t next_window = 0;  // Index of the first window not yet answered.
  uint64_t version = 0;
  std::vector<v1::ParameterEstimate> parameters;
  std::string last_error;  // Message of the latest rejection.
};

struct CalibrationRunOptions {
  std::string model;
  int windows_per_observation = 8;
  int64_t max_observations = 0;  // 0: all the windows allow.
  int64_t report_every = 200;    // Answers between reports; 0: never.
  absl::Duration deadline = absl::Minutes(30);
  // Called after every answer (e.g. for a progress bar), on the reading thread.
  std::function<void(const CalibrationReport&)> on_answer;
};

absl::StatusOr<CalibrationReport> StreamCalibration(HybridClient& client, const WindowSet& windows,
                                                    const CalibrationRunOptions& options,
                                                    const std::function<void(const CalibrationReport&)>& on_report);

}  // namespace hybrid::client
