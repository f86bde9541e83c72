#include "server/http/http_endpoint.h"

#include <CivetServer.h>
#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include <exception>
#include <sstream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/http/status_json.h"
#include "server/http/status_page.h"

namespace hybrid::server {
namespace {

void Reply(mg_connection* connection, const char* content_type, const std::string& body) {
  mg_printf(connection,
            "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %zu\r\nCache-Control: no-store\r\n"
            "Connection: close\r\n\r\n",
            content_type, body.size());
  mg_write(connection, body.data(), body.size());
}

}  // namespace

class HttpEndpoint::MetricsHandler : public CivetHandler {
 public:
  explicit MetricsHandler(const Metrics* metrics) : metrics_(metrics) {}
  bool handleGet(CivetServer*, mg_connection* connection) override {
    std::vector<prometheus::MetricFamily> families;
    for (const auto& collectable : metrics_->collectables()) {
      std::vector<prometheus::MetricFamily> more = collectable->Collect();
      families.insert(families.end(), std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
    }
    std::ostringstream text;
    prometheus::TextSerializer().Serialize(text, families);
    Reply(connection, "text/plain; version=0.0.4; charset=utf-8", text.str());
    return true;
  }

 private:
  const Metrics* metrics_;
};

class HttpEndpoint::StatusPageHandler : public CivetHandler {
 public:
  bool handleGet(CivetServer*, mg_connection* connection) override {
    const std::string uri = mg_get_request_info(connection)->local_uri;
    if (uri != "/" && uri != "/status") return false;  // civetweb answers 404.
    Reply(connection, "text/html; charset=utf-8", std::string(StatusPageHtml()));
    return true;
  }
};

class HttpEndpoint::ModelsHandler : public CivetHandler {
 public:
  ModelsHandler(const Metrics* metrics, const ModelRegistry* registry) : metrics_(metrics), registry_(registry) {}
  bool handleGet(CivetServer*, mg_connection* connection) override {
    Reply(connection, "application/json", ModelsJson(*registry_));
    return true;
  }

 private:
  const Metrics* metrics_;
  const ModelRegistry* registry_;
};

absl::StatusOr<std::unique_ptr<HttpEndpoint>> HttpEndpoint::Start(const std::string& address, const Metrics* metrics,
                                                                  const ModelRegistry* registry) {
  std::unique_ptr<HttpEndpoint> endpoint(new HttpEndpoint());
  endpoint->metrics_handler_ = std::make_unique<MetricsHandler>(metrics);
  endpoint->page_handler_ = std::make_unique<StatusPageHandler>();
  endpoint->models_handler_ = std::make_unique<ModelsHandler>(metrics, registry);
  try {
    endpoint->civet_ =
        std::make_unique<CivetServer>(std::vector<std::string>{"listening_ports", address, "num_threads", "4"});
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("metrics_address ", address, ": ", e.what()));
  }
  endpoint->civet_->addHandler("/metrics", endpoint->metrics_handler_.get());
  endpoint->civet_->addHandler("/api/v1/models", endpoint->models_handler_.get());
  endpoint->civet_->addHandler("/status", endpoint->page_handler_.get());
  endpoint->civet_->addHandler("/", endpoint->page_handler_.get());
  const std::vector<int> ports = endpoint->civet_->getListeningPorts();
  if (ports.empty()) return absl::UnavailableError(absl::StrCat("metrics_address ", address, ": not listening"));
  endpoint->port_ = ports.front();
  return endpoint;
}

HttpEndpoint::~HttpEndpoint() {
  if (civet_) civet_->close();
}

}  // namespace hybrid::server
