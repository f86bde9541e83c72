// Entity reports from a CSV file, for `hybridctl observe`: one row per report.
//
//   entity,time,plasma,plasma:std,response,oral
//   patient-17,0,,,,200          (a dose only)
//   patient-17,0.5,1.9,0.2,98.1, (readings; plasma with its own noise std)
//
// Columns: `entity`, `time`, then observables and inputs by name — a name in
// `inputs` (the model's config inputs) is an input event, any other an
// observable; `NAME:std` gives that reading's noise std. An empty cell means
// nothing was read or done. Lines starting with '#' and blank lines are
// skipped. INVALID_ARGUMENT naming the line and column for a missing header
// column, a cell that is not a number, a `:std` column without its reading's,
// or a row with neither readings nor inputs; NOT_FOUND for a missing file.
// Pure; thread-safe.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "hybrid/v1/hybrid_service.pb.h"

namespace hybrid::client {

absl::StatusOr<std::vector<v1::Report>> ReadReportsCsv(const std::string& path, const std::set<std::string>& inputs);

}  // namespace hybrid::client
