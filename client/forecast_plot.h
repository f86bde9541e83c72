// hybridctl predict --plot: a PNG of a forecast — per state component, the
// mean and each requested interval as a band — drawn by gnuplot (Debian's
// gnuplot-nox), which hybridctl runs with a generated script.
//
//   absl::Status s = PlotForecast(response, "forecast.png");
//
// Only single-state forecasts ([T, D] tensors). FAILED_PRECONDITION when
// gnuplot is not installed or fails (its message included); INVALID_ARGUMENT
// for a batch forecast. Writes the data and script to a temporary folder it
// removes.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "hybrid/v1/hybrid_service.pb.h"

namespace hybrid::client {

absl::Status PlotForecast(const v1::PredictResponse& forecast, const std::string& png_path);

// The gnuplot script PlotForecast runs on `data_path` (columns: t, then per
// component the mean and each interval's bounds, widest first): one panel per
// column, labelled with its name and unit from state_components ("central
// [mg]"; x1, x2, … without them); an entity's forecast labels its time axis
// as lead time from the entity's clock. Pure.
std::string ForecastPlotScript(const v1::PredictResponse& forecast, const std::string& data_path,
                               const std::string& png_path);

}  // namespace hybrid::client
