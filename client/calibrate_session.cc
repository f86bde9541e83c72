#include "client/calibrate_session.h"

#include <algorithm>
#include <thread>

#include "absl/strings/str_cat.h"

namespace hybrid::client {
namespace {

v1::Tensor Pack(const std::vector<const std::vector<double>*>& rows, int dim) {
  v1::Tensor t;
  t.add_shape(static_cast<int64_t>(rows.size()));
  t.add_shape(dim);
  t.set_dtype(v1::DTYPE_FLOAT64);
  for (const std::vector<double>* row : rows) t.mutable_f64()->Add(row->begin(), row->end());
  return t;
}

}  // namespace

absl::StatusOr<CalibrationReport> StreamCalibration(HybridClient& client, const WindowSet& windows,
                                                    const CalibrationRunOptions& options,
                                                    const std::function<void(const CalibrationReport&)>& on_report) {
  if (options.windows_per_observation < 1) return absl::InvalidArgumentError("windows_per_observation must be ≥ 1");
  const int64_t per = options.windows_per_observation;
  int64_t observations = static_cast<int64_t>(windows.windows.size()) / per;
  if (options.max_observations > 0) observations = std::min(observations, options.max_observations);
  if (observations < 1) return absl::InvalidArgumentError("not enough windows for one observation");

  std::unique_ptr<CalibrateStream> stream = client.OpenCalibrate(options.deadline);
  std::thread writer([&] {
    for (int64_t k = 0; k < observations; ++k) {
      std::vector<const std::vector<double>*> starts, ends;
      for (int64_t w = k * per; w < (k + 1) * per; ++w) {
        starts.push_back(&windows.windows[w].start);
        ends.push_back(&windows.windows[w].end);
      }
      v1::CalibrateRequest request;
      request.set_model(options.model);
      request.set_sequence(static_cast<uint64_t>(k + 1));
      *request.mutable_start_state() = Pack(starts, windows.dim);
      *request.mutable_end_state() = Pack(ends, windows.dim);
      request.set_step(windows.step);
      request.set_steps(windows.steps);
      if (!stream->Write(request)) return;  // Stream broken; Finish() tells why.
    }
    stream->WritesDone();
  });

  CalibrationReport report;
  report.planned = observations;
  double loss_sum = 0.0, coverage_sum = 0.0;
  int64_t since_report = 0;
  v1::CalibrateResponse response;
  while (stream->Read(&response)) {
    ++report.answered;
    report.next_window = static_cast<int64_t>(response.sequence()) * per;
    if (response.status().code() == 0) {
      ++report.accepted;
      ++since_report;
      loss_sum += response.loss();
      report.last_loss = response.loss();
      coverage_sum += response.coverage();
      report.coverage_level = response.coverage_level();
      report.version = response.model_version();
      report.parameters.assign(response.parameters().begin(), response.parameters().end());
    } else {
      ++report.rejected;
      report.last_error = absl::StrCat("observation ", response.sequence(), ": ", response.status().message());
    }
    if (options.on_answer) options.on_answer(report);
    const bool last = report.answered == observations;
    if ((options.report_every > 0 && report.answered % options.report_every == 0) || last) {
      report.recent_loss = since_report > 0 ? loss_sum / static_cast<double>(since_report) : 0.0;
      report.recent_coverage = since_report > 0 ? coverage_sum / static_cast<double>(since_report) : 0.0;
      if (on_report) on_report(report);
      loss_sum = coverage_sum = 0.0;
      since_report = 0;
    }
  }
  writer.join();
  if (absl::Status status = stream->Finish(); !status.ok()) return status;
  if (report.answered != observations) {
    return absl::DataLossError(
        absl::StrCat("sent ", observations, " observations but got ", report.answered, " answers"));
  }
  return report;
}

}  // namespace hybrid::client
