// MqttBridge: sensor messages from an MQTT broker into hybridserve's Observe,
// each message acknowledged (QoS 1 PUBACK) only after the server has answered
// for every report in it — logged and applied, a redelivery of one already
// applied (ReportOutcome.duplicate), or refused for good and written to the
// dead letters. Nothing the broker lets go of is lost; a crash or a broker
// restart before the acknowledgement means the broker sends it again, and the
// server recognises what it has already applied.
//
//   MqttBridge bridge(subscriber, client, options);
//   bridge.Run(stop);   // until stop is set: connect, deliver, reconnect with backoff
//
// Delivery: up to max_batch messages that have arrived are parsed
// (sensor_message.h) and sent as one Observe per model, acknowledged in
// arrival order. When the server cannot take them (UNAVAILABLE, a full
// queue, a deadline, an expired token: any call-level error but
// INVALID_ARGUMENT, NOT_FOUND and OUT_OF_RANGE) the bridge keeps them
// unacknowledged and retries with backoff up to retry_max, keeping the broker
// connection alive; nothing behind them passes (per-entity order is kept). A
// retry sends only the reports not yet answered. A call refused as a whole for
// what it carries (INVALID_ARGUMENT, NOT_FOUND, OUT_OF_RANGE; RESOURCE_EXHAUSTED
// for several messages) is retried message by message, so one bad message
// cannot hold the others. A report refused for good (its time before the
// entity's clock, an unknown observable, an entity beyond the limit, a
// failure after logging: INTERNAL) sends its whole message to the dead
// letters. A retained message re-sent on a resumed session (the bridge
// subscribes again on every connection) is acknowledged and skipped.
// Exactly once holds for redeliveries within an entity's latest 16 reports
// (the server's memory, hybrid.v1.Report); an older redelivered report is
// refused as before the clock, so it goes to the dead letters, not in twice.
// Progress: a line on stderr every stats_every. One thread; not thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "client/hybrid_client.h"
#include "ingest/dead_letters.h"
#include "ingest/mqtt_subscriber.h"
#include "ingest/sensor_message.h"

namespace hybrid::ingest {

struct BridgeOptions {
  std::vector<TopicTemplate> topics;
  std::string default_model;  // For topics and payloads that name none.
  size_t max_batch = 16;      // Messages per round of Observe calls.
  size_t max_reports_per_message = 1000;
  size_t max_payload_bytes = 1 << 20;
  absl::Duration retry_max = absl::Seconds(5);
  absl::Duration stats_every = absl::Seconds(10);
  std::string broker;  // host:port, for messages.
};

struct BridgeCounters {
  uint64_t messages = 0;      // Acknowledged to the broker.
  uint64_t applied = 0;       // Reports logged and applied.
  uint64_t duplicates = 0;    // Reports the server had applied before.
  uint64_t dead_letters = 0;  // Messages dropped (see DeadLetters).
  uint64_t retained_skipped = 0;  // Retained messages re-sent on a resumed session's new SUBSCRIBE.
  uint64_t retries = 0;       // Observe calls repeated after a transient failure.
  uint64_t connections = 0;   // Successful connections to the broker.
};

class MqttBridge {
 public:
  MqttBridge(MqttSubscriber& broker, client::HybridClient& server, DeadLetters& dead_letters, BridgeOptions options);
  void Run(const std::atomic<bool>& stop);
  const BridgeCounters& counters() const { return counters_; }

 private:
  struct Pending;
  // Delivers and acknowledges one batch; stops early when the broker
  // connection is lost or stop is set (what is unacknowledged the broker sends again).
  void Deliver(std::vector<mqtt::Publish>& batch, const std::atomic<bool>& stop);
  // One Observe of `group`'s reports, retried while the failure is transient;
  // false as Deliver.
  bool Send(const std::string& model, const std::vector<Pending*>& group, const std::atomic<bool>& stop);
  bool Wait(absl::Duration backoff, const std::atomic<bool>& stop);
  void MaybeReport(bool force);

  MqttSubscriber& broker_;
  client::HybridClient& server_;
  DeadLetters& dead_letters_;
  const BridgeOptions options_;
  BridgeCounters counters_;
  absl::Time last_report_ = absl::Now();
};

}  // namespace hybrid::ingest
