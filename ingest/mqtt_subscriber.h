// MqttSubscriber: one MQTT 3.1.1 connection to a broker that subscribes to
// topic filters at QoS 1 and hands over each message, to be acknowledged
// (PUBACK) by the caller when it is done with it — not before.
//
//   MqttSubscriber sub(options);
//   if (absl::Status s = sub.Connect(); !s.ok()) ...          // TCP, CONNECT, SUBSCRIBE
//   absl::StatusOr<std::optional<Publish>> m = sub.Next(absl::Milliseconds(200));
//   ... deliver m ...; sub.Ack(m->packet_id);                  // in arrival order (section 4.6)
//
// With clean_session false (the default) the broker keeps the subscription and
// every message not yet acknowledged while the subscriber is away, and sends
// the unacknowledged ones again (dup set) when it reconnects with the same
// client id: a message is acknowledged once, after its delivery, or arrives
// again. Next keeps the connection alive (PINGREQ at half the keep-alive; a
// broker silent for 1.5 keep-alives is gone).
// The connection is plain TCP, or TLS with options.tls (broker_connection.h:
// the broker's certificate verified; the process must ignore SIGPIPE).
// Errors: UNAVAILABLE when the broker cannot be reached, TLS fails or the
// connection drops (call Connect again); PERMISSION_DENIED for a refused CONNECT
// (credentials, client id); FAILED_PRECONDITION for a refused subscription;
// INVALID_ARGUMENT from the codec for a malformed packet (then disconnected).
// One thread; not thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "ingest/broker_connection.h"
#include "ingest/mqtt_packets.h"

namespace hybrid::ingest {

struct MqttSubscriberOptions {
  std::string host = "127.0.0.1";
  int port = 1883;
  std::shared_ptr<const TlsContext> tls;  // Null: plain TCP.
  mqtt::ConnectOptions connect;
  std::vector<std::string> filters;    // Topic filters (+ and # wildcards).
  size_t max_payload_bytes = 1 << 20;  // Longer payloads arrive cut, truncated set.
  absl::Duration connect_timeout = absl::Seconds(5);
};

class MqttSubscriber {
 public:
  explicit MqttSubscriber(MqttSubscriberOptions options);
  ~MqttSubscriber();
  MqttSubscriber(const MqttSubscriber&) = delete;
  MqttSubscriber& operator=(const MqttSubscriber&) = delete;

  absl::Status Connect();
  bool connected() const { return connection_ != nullptr; }
  bool session_present() const { return session_present_; }
  // The next QoS 0/1 message, waiting at most `timeout`; nullopt when none came.
  absl::StatusOr<std::optional<mqtt::Publish>> Next(absl::Duration timeout);
  // PUBACK for a QoS 1 message (nothing for QoS 0).
  absl::Status Ack(const mqtt::Publish& message);
  // Services the connection (keep-alive, reading into the queue) for `duration`
  // without handing out messages: for a caller that is waiting on something else.
  absl::Status KeepAlive(absl::Duration duration);
  // DISCONNECT (a clean goodbye: the broker keeps the session) and close.
  void Disconnect();

 private:
  using Clock = std::chrono::steady_clock;
  absl::Status Send(const std::string& bytes);
  // Reads what arrives within `timeout` (until a message or control packet is
  // queued, with `until_packet`) and answers keep-alive; messages go to queue_.
  // UNAVAILABLE (closing the socket) when the connection is lost.
  absl::Status Pump(absl::Duration timeout, bool until_packet);
  absl::StatusOr<mqtt::Packet> Await(mqtt::PacketType type, absl::Duration timeout);
  absl::Status Fail(absl::Status status);
  void Close();

  MqttSubscriberOptions options_;
  std::unique_ptr<BrokerConnection> connection_;
  bool session_present_ = false;
  mqtt::PacketReader reader_;
  std::vector<mqtt::Publish> queue_;   // Received, not yet handed out, in order.
  std::vector<mqtt::Packet> control_;  // CONNACK / SUBACK read while awaiting them.
  Clock::time_point last_sent_{}, last_heard_{};
  bool ping_outstanding_ = false;
};

}  // namespace hybrid::ingest
