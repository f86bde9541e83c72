#include "tests/e2e/test_server.h"

#include <curl/curl.h>
#include <gtest/gtest.h>

#include <sstream>

namespace hybrid::testing {

TestServer StartTestServer(const std::string& repository, const std::string& state_dir) {
  auto state = std::make_unique<ScopedTempDir>();
  server::HybridServer::Options options;
  options.model_repository = repository;
  options.state_dir = state_dir.empty() ? state->path() : state_dir;
  options.grpc_address = "127.0.0.1:0";
  options.metrics_address = "127.0.0.1:0";
  absl::StatusOr<std::unique_ptr<server::HybridServer>> s = server::HybridServer::Start(options);
  EXPECT_TRUE(s.ok()) << s.status();
  if (!s.ok()) return {};
  client::ClientOptions client_options;
  client_options.target = "127.0.0.1:" + std::to_string((*s)->grpc_port());
  client_options.timeout = absl::Seconds(30);
  return {std::move(state), *std::move(s), client::HybridClient::Connect(client_options).value()};
}

std::string ScrapeMetrics(int port) { return HttpGet(port, "/metrics"); }

std::string HttpGet(int port, const std::string& path) {
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return "";
  std::string body;
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + path;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
  curl_easy_setopt(
      curl, CURLOPT_WRITEFUNCTION, +[](char* data, size_t size, size_t n, void* out) {
        static_cast<std::string*>(out)->append(data, size * n);
        return size * n;
      });
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  const CURLcode code = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(curl);
  return code == CURLE_OK && status == 200 ? body : "";
}

std::optional<double> MetricValue(const std::string& text, const std::string& series) {
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return std::nullopt;
}

}  // namespace hybrid::testing
