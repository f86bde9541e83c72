// hybridbridge: subscribes to an MQTT broker's sensor topics and feeds the
// JSON messages to hybridserve's Observe, acknowledging each message only
// after the server has logged it (see mqtt_bridge.h, sensor_message.h).
//
//   hybridbridge --mqtt=127.0.0.1:1883 --target=127.0.0.1:50051 --topics='clinic/{model}/{entity}'
//
// SIGINT / SIGTERM stop it after the batch in hand (unacknowledged messages
// stay at the broker). Exit status 2 for bad flags.
#include <csignal>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/command_line.h"
#include "base/file_contents.h"
#include "client/connection_flags.h"
#include "ingest/mqtt_bridge.h"

ABSL_FLAG(std::string, mqtt, "127.0.0.1:1883", "MQTT broker, HOST:PORT (MQTT 3.1.1; plain TCP unless --mqtt_tls*)");
ABSL_FLAG(bool, mqtt_tls, false, "TLS to the broker, its certificate verified against the system's roots");
ABSL_FLAG(std::string, mqtt_tls_ca, "", "PEM roots the broker's certificate must chain to (turns on TLS)");
ABSL_FLAG(std::string, mqtt_tls_cert, "", "PEM client certificate, for brokers that require mutual TLS (turns on TLS)");
ABSL_FLAG(std::string, mqtt_tls_key, "", "PEM private key of --mqtt_tls_cert");
ABSL_FLAG(std::string, mqtt_tls_server_name, "",
          "Name the broker's certificate must carry, when not the host of --mqtt (turns on TLS)");
ABSL_FLAG(std::string, mqtt_client_id, "hybridbridge",
          "Client id: the broker keeps this id's subscription and unacknowledged messages while it is away");
ABSL_FLAG(std::string, mqtt_username, "", "User name for the broker (none when empty)");
ABSL_FLAG(std::string, mqtt_password_file, "", "File whose first line is the broker password (needs --mqtt_username)");
ABSL_FLAG(int, mqtt_keep_alive, 60, "Keep-alive, seconds (0: none); at least --timeout");
ABSL_FLAG(std::string, topics, "hybrid/{model}/{entity}",
          "Comma-separated topic templates; {model} and {entity} each stand for one level");
ABSL_FLAG(std::string, model, "", "Model of messages whose topic and payload name none");
ABSL_FLAG(std::string, dead_letters, "hybridbridge-dead-letters.jsonl",
          "JSON-lines file of the messages acknowledged without delivery (bad JSON, refused reports); "
          "empty: log them only");
ABSL_FLAG(int, max_batch, 16, "Messages delivered per round of Observe calls (1-1000)");
ABSL_FLAG(int, max_payload_bytes, 1 << 20, "Longest payload taken; longer ones are dead letters (1 B-256 MiB)");
ABSL_FLAG(int, max_reports_per_message, 1000, "Most reports in one message's JSON array");
ABSL_FLAG(double, retry_max, 5.0, "Longest wait between retries when the server or broker is away, seconds");
ABSL_FLAG(double, stats_every, 10.0, "Seconds between progress lines on stderr");

namespace {

std::atomic<bool> stop_requested{false};

extern "C" void RequestStop(int) { stop_requested = true; }

struct Flags {
  hybrid::ingest::MqttSubscriberOptions broker;
  hybrid::ingest::BridgeOptions bridge;
  std::string dead_letters;
};

absl::StatusOr<Flags> FlagsFromCommandLine() {
  Flags f;
  const std::string mqtt = absl::GetFlag(FLAGS_mqtt);
  const size_t colon = mqtt.rfind(':');
  if (colon == std::string::npos || colon == 0 || !absl::SimpleAtoi(mqtt.substr(colon + 1), &f.broker.port) ||
      f.broker.port < 1 || f.broker.port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("--mqtt '", mqtt, "' must be HOST:PORT"));
  }
  f.broker.host = std::string(absl::StripSuffix(absl::StripPrefix(mqtt.substr(0, colon), "["), "]"));
  hybrid::ingest::TlsOptions tls{absl::GetFlag(FLAGS_mqtt_tls_ca), absl::GetFlag(FLAGS_mqtt_tls_cert),
                                 absl::GetFlag(FLAGS_mqtt_tls_key), absl::GetFlag(FLAGS_mqtt_tls_server_name)};
  if (absl::GetFlag(FLAGS_mqtt_tls) || !tls.ca_file.empty() || !tls.cert_file.empty() || !tls.key_file.empty() ||
      !tls.server_name.empty()) {
    if (tls.cert_file.empty() != tls.key_file.empty()) {
      return absl::InvalidArgumentError("--mqtt_tls_cert and --mqtt_tls_key go together");
    }
    absl::StatusOr<std::shared_ptr<const hybrid::ingest::TlsContext>> context =
        hybrid::ingest::TlsContext::Create(std::move(tls));
    if (!context.ok()) return absl::InvalidArgumentError(absl::StrCat("--mqtt_tls*: ", context.status().message()));
    f.broker.tls = *std::move(context);
  }
  f.broker.connect.client_id = absl::GetFlag(FLAGS_mqtt_client_id);
  if (f.broker.connect.client_id.empty() || f.broker.connect.client_id.size() > 65535) {
    return absl::InvalidArgumentError("--mqtt_client_id must not be empty (a persistent session needs an id)");
  }
  const int keep_alive = absl::GetFlag(FLAGS_mqtt_keep_alive);
  if (keep_alive < 0 || keep_alive > 65535) return absl::InvalidArgumentError("--mqtt_keep_alive must be 0-65535 s");
  f.broker.connect.keep_alive_s = static_cast<uint16_t>(keep_alive);
  if (const std::string user = absl::GetFlag(FLAGS_mqtt_username); !user.empty()) f.broker.connect.username = user;
  if (const std::string path = absl::GetFlag(FLAGS_mqtt_password_file); !path.empty()) {
    if (!f.broker.connect.username) return absl::InvalidArgumentError("--mqtt_password_file needs --mqtt_username");
    absl::StatusOr<std::string> text = hybrid::base::ReadFileContents(path);
    if (!text.ok()) return text.status();
    f.broker.connect.password = text->substr(0, text->find('\n'));
  }
  for (absl::string_view text : absl::StrSplit(absl::GetFlag(FLAGS_topics), ',', absl::SkipWhitespace())) {
    absl::StatusOr<hybrid::ingest::TopicTemplate> t = hybrid::ingest::ParseTopicTemplate(std::string(text));
    if (!t.ok()) return absl::InvalidArgumentError(absl::StrCat("--topics: ", t.status().message()));
    f.broker.filters.push_back(t->filter);
    f.bridge.topics.push_back(*std::move(t));
  }
  if (f.bridge.topics.empty()) return absl::InvalidArgumentError("--topics names no topic template");
  f.bridge.default_model = absl::GetFlag(FLAGS_model);
  const int batch = absl::GetFlag(FLAGS_max_batch), payload = absl::GetFlag(FLAGS_max_payload_bytes),
            reports = absl::GetFlag(FLAGS_max_reports_per_message);
  if (batch < 1 || batch > 1000) return absl::InvalidArgumentError("--max_batch must be 1-1000");
  if (payload < 1 || payload > (256 << 20))
    return absl::InvalidArgumentError("--max_payload_bytes must be 1-268435456");
  if (reports < 1 || reports > 100000) return absl::InvalidArgumentError("--max_reports_per_message must be 1-100000");
  f.bridge.max_batch = static_cast<size_t>(batch);
  f.bridge.max_payload_bytes = f.broker.max_payload_bytes = static_cast<size_t>(payload);
  f.bridge.max_reports_per_message = static_cast<size_t>(reports);
  const double retry = absl::GetFlag(FLAGS_retry_max), stats = absl::GetFlag(FLAGS_stats_every);
  if (!(retry >= 0.01 && retry <= 3600)) return absl::InvalidArgumentError("--retry_max must be 0.01-3600 s");
  if (!(stats > 0)) return absl::InvalidArgumentError("--stats_every must be > 0 s");
  f.bridge.retry_max = absl::Seconds(retry);
  f.bridge.stats_every = absl::Seconds(stats);
  f.bridge.broker = mqtt;
  f.dead_letters = absl::GetFlag(FLAGS_dead_letters);
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  hybrid::base::ParseCommandLine(argc, argv,
                                 "hybridbridge --mqtt=HOST:PORT [--target=HOST:PORT] [--topics=TEMPLATE,...] "
                                 "(MQTT sensor messages into hybridserve)");
  absl::StatusOr<Flags> flags = FlagsFromCommandLine();
  absl::StatusOr<hybrid::client::ClientOptions> options =
      flags.ok() ? hybrid::client::ClientOptionsFromFlags() : flags.status();
  if (options.ok() && flags->broker.connect.keep_alive_s > 0 &&
      absl::Seconds(flags->broker.connect.keep_alive_s) < options->timeout) {
    // The broker drops a client silent for 1.5 keep-alives; an Observe may take --timeout.
    options = absl::InvalidArgumentError("--mqtt_keep_alive must be 0 or at least --timeout");
  }
  if (!options.ok()) {
    std::fprintf(stderr, "hybridbridge: %s\n", std::string(options.status().message()).c_str());
    return 2;
  }
  options->max_reconnect_backoff = flags->bridge.retry_max;  // Back within retry_max of the server.
  absl::StatusOr<std::unique_ptr<hybrid::client::HybridClient>> server =
      hybrid::client::HybridClient::Connect(*options);
  if (!server.ok()) {
    std::fprintf(stderr, "hybridbridge: %s\n", server.status().ToString().c_str());
    return 2;
  }
  // A broker gone mid-write is an error to retry, not the end (OpenSSL writes with write()).
  std::signal(SIGPIPE, SIG_IGN);
  std::signal(SIGINT, RequestStop);
  std::signal(SIGTERM, RequestStop);
  hybrid::ingest::MqttSubscriber broker(flags->broker);
  hybrid::ingest::DeadLetters dead_letters(flags->dead_letters);
  hybrid::ingest::MqttBridge bridge(broker, **server, dead_letters, flags->bridge);
  bridge.Run(stop_requested);
  return 0;
}
