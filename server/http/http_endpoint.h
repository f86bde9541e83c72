// HttpEndpoint: hybridserve's HTTP port (--metrics_address).
//
//   GET /metrics        Prometheus text of every Metrics collectable
//   GET /status, GET /  the status page: each model's parameters, loss and
//                       coverage, refreshed live (plain HTML + JS, no build step)
//   GET /api/v1/models  the page's JSON feed (server/http/status_json.h)
//
// Built on civetweb, the HTTP server that prometheus-cpp's own Exposer wraps;
// the Exposer serves nothing but metrics, hence this class. Handlers run on
// civetweb's threads and only read thread-safe state (Metrics, ModelRegistry).
// Stops when destroyed; `metrics` and `registry` must outlive it.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/core/metrics.h"
#include "server/core/model_registry.h"

class CivetServer;

namespace hybrid::server {

class HttpEndpoint {
 public:
  // `address` is host:port; port 0 lets the OS choose. UNAVAILABLE when it
  // cannot listen there.
  static absl::StatusOr<std::unique_ptr<HttpEndpoint>> Start(const std::string& address, const Metrics* metrics,
                                                             const ModelRegistry* registry);
  ~HttpEndpoint();

  int port() const { return port_; }

 private:
  class MetricsHandler;
  class StatusPageHandler;
  class ModelsHandler;

  HttpEndpoint() = default;

  std::unique_ptr<MetricsHandler> metrics_handler_;
  std::unique_ptr<StatusPageHandler> page_handler_;
  std::unique_ptr<ModelsHandler> models_handler_;
  std::unique_ptr<CivetServer> civet_;  // Declared last: stopped first, before the handlers go.
  int port_ = 0;
};

}  // namespace hybrid::server
