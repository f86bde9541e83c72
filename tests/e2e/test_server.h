// Helpers for end-to-end tests: a real hybridserve in-process on 127.0.0.1
// with OS-chosen ports, a client connected to it, and an HTTP scrape of its
// Prometheus endpoint.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "client/hybrid_client.h"
#include "server/hybrid_server.h"
#include "tests/scoped_temp_dir.h"

namespace hybrid::testing {

struct TestServer {
  std::unique_ptr<ScopedTempDir> state;  // Write-ahead logs and checkpoints; outlives the server.
  std::unique_ptr<server::HybridServer> server;
  std::unique_ptr<client::HybridClient> client;
};

// Serves the repository shipped in deploy/ (or `repository`), keeping model
// state in a fresh temporary folder (or `state_dir`). Fails the test on error.
TestServer StartTestServer(const std::string& repository = std::string(HYBRID_SOURCE_DIR) + "/deploy/model_repository",
                           const std::string& state_dir = "");

// GET http://127.0.0.1:port/metrics body; empty on failure.
std::string ScrapeMetrics(int port);
// GET http://127.0.0.1:port<path> body; empty on failure or a status other than 200.
std::string HttpGet(int port, const std::string& path);

// Value of the sample whose line starts with `series` (name plus exact label set).
std::optional<double> MetricValue(const std::string& text, const std::string& series);

}  // namespace hybrid::testing
