// The status page's data: every repository model as JSON, for
// GET /api/v1/models on the metrics port (server/http/http_endpoint.h).
//
//   {"models": [{"name": "lorenz63", "state": "READY", "reason": "",
//                "version": 12, "observations_accepted": 12,
//                "loss": 0.8, "coverage": 0.9, "coverage_target": 0.9,
//                "queue_depth": 0, "last_checkpoint_unix_ms": 1790000000000,
//                "parameters": [{"name": "rho", "value": 27.9, "std": 0.1,
//                                "unit": "", "trainable": true, "reference": 28}]}],
//    "time_unix_ms": 1790000000123}
//
// Numbers that do not exist yet (a loss before any update, a coverage before
// any observation, a reference the config does not give, the fields of a model
// that is not loaded) are null. Thread-safe.
#pragma once

#include <string>

#include "server/core/model_registry.h"

namespace hybrid::server {

std::string ModelsJson(const ModelRegistry& registry);

}  // namespace hybrid::server
