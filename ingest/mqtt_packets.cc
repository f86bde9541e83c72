#include "ingest/mqtt_packets.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace hybrid::ingest::mqtt {
namespace {

constexpr uint32_t kMaxRemainingLength = 268435455;  // 4 bytes of 7 bits (section 2.2.3).
constexpr size_t kPublishHeadBytes = 2 + 65535 + 2;  // Topic length, topic, packet id.

void PutU16(std::string& out, uint16_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v & 0xFF));
}

void PutString(std::string& out, const std::string& s) {
  PutU16(out, static_cast<uint16_t>(std::min<size_t>(s.size(), 65535)));
  out.append(s, 0, std::min<size_t>(s.size(), 65535));
}

std::string Framed(uint8_t first_byte, const std::string& body) {
  std::string out(1, static_cast<char>(first_byte));
  uint32_t length = static_cast<uint32_t>(body.size());
  do {
    uint8_t digit = length % 128;
    length /= 128;
    if (length > 0) digit |= 0x80;
    out.push_back(static_cast<char>(digit));
  } while (length > 0);
  return out + body;
}

uint16_t GetU16(const std::string& s, size_t at) {
  return static_cast<uint16_t>((static_cast<uint8_t>(s[at]) << 8) | static_cast<uint8_t>(s[at + 1]));
}

}  // namespace

std::string EncodeConnect(const ConnectOptions& options) {
  std::string body;
  PutString(body, "MQTT");
  body.push_back(4);  // Protocol level 3.1.1.
  uint8_t flags = options.clean_session ? 0x02 : 0x00;
  if (options.username) flags |= 0x80;
  if (options.password) flags |= 0x40;
  body.push_back(static_cast<char>(flags));
  PutU16(body, options.keep_alive_s);
  PutString(body, options.client_id);
  if (options.username) PutString(body, *options.username);
  if (options.password) PutString(body, *options.password);
  return Framed(kConnect << 4, body);
}

std::string EncodeSubscribe(uint16_t packet_id, const std::vector<std::string>& filters, uint8_t qos) {
  std::string body;
  PutU16(body, packet_id);
  for (const std::string& filter : filters) {
    PutString(body, filter);
    body.push_back(static_cast<char>(qos));
  }
  return Framed(kSubscribe << 4 | 0x02, body);  // Reserved flags 0010 (section 3.8.1).
}

std::string EncodePuback(uint16_t packet_id) {
  std::string body;
  PutU16(body, packet_id);
  return Framed(kPuback << 4, body);
}

std::string EncodePingreq() { return Framed(kPingreq << 4, ""); }
std::string EncodeDisconnect() { return Framed(kDisconnect << 4, ""); }

std::string EncodePublish(const std::string& topic, const std::string& payload, uint8_t qos, uint16_t packet_id,
                          bool dup) {
  std::string body;
  PutString(body, topic);
  if (qos > 0) PutU16(body, packet_id);
  body += payload;
  return Framed(static_cast<uint8_t>(kPublish << 4 | (dup ? 0x08 : 0) | (qos << 1)), body);
}

void PacketReader::Feed(const char* data, size_t size) { buffer_.append(data, size); }

void PacketReader::Reset() {
  buffer_.clear();
  skipping_.reset();
  skip_left_ = 0;
}

std::optional<absl::StatusOr<Packet>> PacketReader::Next() {
  if (skipping_) {
    const size_t skipped = static_cast<size_t>(std::min<uint64_t>(skip_left_, buffer_.size()));
    buffer_.erase(0, skipped);
    skip_left_ -= skipped;
    if (skip_left_ > 0) return std::nullopt;
    Packet done = std::move(*skipping_);
    skipping_.reset();
    return absl::StatusOr<Packet>(std::move(done));
  }
  if (buffer_.size() < 2) return std::nullopt;
  uint32_t length = 0, multiplier = 1;
  size_t at = 1;
  while (true) {
    if (at >= buffer_.size()) return std::nullopt;
    const uint8_t digit = static_cast<uint8_t>(buffer_[at++]);
    length += (digit & 0x7F) * multiplier;
    if ((digit & 0x80) == 0) break;
    if (at > 4) {
      return absl::StatusOr<Packet>(
          absl::InvalidArgumentError("malformed remaining length: more than 4 bytes (MQTT 3.1.1 section 2.2.3)"));
    }
    multiplier *= 128;
  }
  if (length > kMaxRemainingLength) {
    return absl::StatusOr<Packet>(absl::InvalidArgumentError("remaining length over 268435455 bytes"));
  }
  Packet packet;
  packet.type = static_cast<PacketType>(static_cast<uint8_t>(buffer_[0]) >> 4);
  packet.flags = static_cast<uint8_t>(buffer_[0]) & 0x0F;
  packet.length = length;
  const size_t keep = std::min<size_t>(length, max_body_bytes_ + kPublishHeadBytes);
  if (keep < length) {
    // Keep the head, skip the rest as it arrives.
    if (buffer_.size() < at + keep) return std::nullopt;
    packet.body = buffer_.substr(at, keep);
    buffer_.erase(0, at + keep);
    skipping_ = std::move(packet);
    skip_left_ = length - keep;
    return Next();
  }
  if (buffer_.size() < at + length) return std::nullopt;
  packet.body = buffer_.substr(at, length);
  buffer_.erase(0, at + length);
  return absl::StatusOr<Packet>(std::move(packet));
}

absl::StatusOr<Connack> DecodeConnack(const Packet& packet) {
  if (packet.type != kConnack || packet.body.size() != 2) {
    return absl::InvalidArgumentError("CONNACK: expected a 2-byte body");
  }
  return Connack{(packet.body[0] & 0x01) != 0, static_cast<uint8_t>(packet.body[1])};
}

absl::StatusOr<Suback> DecodeSuback(const Packet& packet) {
  if (packet.type != kSuback || packet.body.size() < 3) {
    return absl::InvalidArgumentError("SUBACK: expected a packet id and at least one return code");
  }
  Suback s;
  s.packet_id = GetU16(packet.body, 0);
  for (size_t i = 2; i < packet.body.size(); ++i) s.return_codes.push_back(static_cast<uint8_t>(packet.body[i]));
  return s;
}

absl::StatusOr<Publish> DecodePublish(const Packet& packet) {
  Publish p;
  p.qos = (packet.flags >> 1) & 0x03;
  p.dup = (packet.flags & 0x08) != 0;
  p.retain = (packet.flags & 0x01) != 0;
  if (packet.type != kPublish || p.qos == 3) return absl::InvalidArgumentError("PUBLISH: QoS 3 is malformed");
  const std::string& b = packet.body;
  if (b.size() < 2) return absl::InvalidArgumentError("PUBLISH: no topic length");
  const size_t topic_length = GetU16(b, 0);
  const size_t header = 2 + topic_length + (p.qos > 0 ? 2 : 0);
  if (b.size() < header) return absl::InvalidArgumentError("PUBLISH: shorter than its topic and packet id");
  p.topic = b.substr(2, topic_length);
  if (p.topic.empty()) return absl::InvalidArgumentError("PUBLISH: empty topic name");
  if (p.qos > 0) {
    p.packet_id = GetU16(b, 2 + topic_length);
    if (p.packet_id == 0) return absl::InvalidArgumentError("PUBLISH: packet id 0");
  }
  p.payload = b.substr(header);
  p.payload_bytes = packet.length - static_cast<uint32_t>(header);
  p.truncated = packet.truncated();
  return p;
}

std::string ConnackMeaning(uint8_t return_code) {
  switch (return_code) {
    case 0:
      return "accepted";
    case 1:
      return "refused: unacceptable protocol version (the broker does not speak MQTT 3.1.1)";
    case 2:
      return "refused: identifier rejected (--mqtt_client_id)";
    case 3:
      return "refused: server unavailable";
    case 4:
      return "refused: bad user name or password";
    case 5:
      return "refused: not authorised";
    default:
      return absl::StrCat("refused with return code ", return_code);
  }
}

}  // namespace hybrid::ingest::mqtt
