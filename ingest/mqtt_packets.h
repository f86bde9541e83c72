// The MQTT 3.1.1 packets (OASIS standard, 29 October 2014) a QoS 1
// subscriber needs, as bytes: encoders for what it sends (CONNECT, SUBSCRIBE,
// PUBACK, PINGREQ, DISCONNECT; PUBLISH for tests and tools) and an incremental
// reader for what it receives.
//
//   PacketReader reader(1 << 20);          // payloads above 1 MiB are cut (the rest skipped)
//   reader.Feed(bytes, n);
//   while (auto packet = reader.Next()) {  // absl::StatusOr<Packet>: INVALID_ARGUMENT for a malformed length
//     if (packet->type == kPublish) { absl::StatusOr<Publish> p = DecodePublish(*packet); ... }
//   }
//
// Why not libmosquitto or Paho (both in Debian): both send PUBACK as a
// PUBLISH arrives, before the application sees it (Paho C by design;
// Debian 12's libmosquitto 2.0.11 measured: a client killed inside its
// message callback had already acknowledged, and the broker did not
// redeliver). A bridge must acknowledge each message only after hybridserve
// has logged it; these few packets are what that takes.
// Pure functions and a single-threaded reader; no sockets.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace hybrid::ingest::mqtt {

enum PacketType : uint8_t {
  kConnect = 1,
  kConnack = 2,
  kPublish = 3,
  kPuback = 4,
  kPubrec = 5,
  kPubrel = 6,
  kPubcomp = 7,
  kSubscribe = 8,
  kSuback = 9,
  kPingreq = 12,
  kPingresp = 13,
  kDisconnect = 14,
};

struct ConnectOptions {
  std::string client_id;       // 1–23 characters of [0-9a-zA-Z] are what every broker must take.
  bool clean_session = false;  // false: the broker keeps the subscriptions and unacknowledged messages.
  uint16_t keep_alive_s = 30;
  std::optional<std::string> username;
  std::optional<std::string> password;
};

std::string EncodeConnect(const ConnectOptions& options);
std::string EncodeSubscribe(uint16_t packet_id, const std::vector<std::string>& filters, uint8_t qos);
std::string EncodePuback(uint16_t packet_id);
std::string EncodePingreq();
std::string EncodeDisconnect();
// qos 0 or 1 (packet_id used only for 1).
std::string EncodePublish(const std::string& topic, const std::string& payload, uint8_t qos, uint16_t packet_id,
                          bool dup = false);

struct Packet {
  PacketType type = kConnect;
  uint8_t flags = 0;    // The fixed header's low 4 bits.
  std::string body;     // Variable header and payload (cut to the reader's limit).
  uint32_t length = 0;  // The remaining length the packet declared.
  bool truncated() const { return body.size() < length; }
};

// Reads packets from a byte stream fed in pieces of any size. A packet whose
// body is longer than `max_body_bytes` keeps its first max_body_bytes plus
// enough for a PUBLISH's topic and packet id (65 539 bytes); the rest is
// skipped, so an oversized message can still be acknowledged and dropped.
class PacketReader {
 public:
  explicit PacketReader(size_t max_body_bytes) : max_body_bytes_(max_body_bytes) {}
  void Feed(const char* data, size_t size);
  // The next complete packet; nullopt when more bytes are needed. After an
  // error the stream cannot be trusted: reconnect.
  std::optional<absl::StatusOr<Packet>> Next();
  void Reset();  // Drops buffered bytes (a new connection).

 private:
  size_t max_body_bytes_;
  std::string buffer_;
  // The packet being skipped past its kept part: bytes still to skip.
  std::optional<Packet> skipping_;
  uint64_t skip_left_ = 0;
};

struct Connack {
  bool session_present = false;
  uint8_t return_code = 0;  // 0 accepted; 1–5 refused (protocol, identifier, unavailable, credentials, not authorised).
};
struct Suback {
  uint16_t packet_id = 0;
  std::vector<uint8_t> return_codes;  // Granted QoS per filter, 0x80 refused.
};
struct Publish {
  std::string topic;
  std::string payload;  // Cut when `truncated`.
  uint8_t qos = 0;
  uint16_t packet_id = 0;  // QoS > 0 only.
  bool dup = false;        // A redelivery.
  bool retain = false;
  bool truncated = false;
  uint32_t payload_bytes = 0;  // As sent.
};

// INVALID_ARGUMENT naming what is malformed.
absl::StatusOr<Connack> DecodeConnack(const Packet& packet);
absl::StatusOr<Suback> DecodeSuback(const Packet& packet);
absl::StatusOr<Publish> DecodePublish(const Packet& packet);
// What a CONNACK return code means.
std::string ConnackMeaning(uint8_t return_code);

}  // namespace hybrid::ingest::mqtt
