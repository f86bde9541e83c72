// MQTT 3.1.1 packets against the standard's bytes (OASIS, 2014): the
// remaining-length examples of section 2.2.3, CONNECT (3.1), SUBSCRIBE's
// reserved flags (3.8.1), PUBACK (3.4); the reader against every way a stream
// can be cut, malformed lengths, and oversized payloads skipped in pieces.
#include "ingest/mqtt_packets.h"

#include <gtest/gtest.h>

#include <string>

namespace hybrid::ingest::mqtt {
namespace {

std::string Bytes(std::initializer_list<int> bytes) {
  std::string s;
  for (int b : bytes) s.push_back(static_cast<char>(b));
  return s;
}

std::vector<Packet> ReadAll(PacketReader& reader, const std::string& stream, size_t piece) {
  std::vector<Packet> out;
  for (size_t at = 0; at < stream.size(); at += piece) {
    reader.Feed(stream.data() + at, std::min(piece, stream.size() - at));
    while (auto p = reader.Next()) {
      EXPECT_TRUE(p->ok()) << p->status();
      if (p->ok()) out.push_back(**p);
    }
  }
  return out;
}

TEST(MqttPackets, RemainingLengthsAreTheStandardsExamples) {
  // Section 2.2.3, table 2.4: the boundaries of 1, 2, 3 and 4 length bytes.
  const std::vector<std::pair<uint32_t, std::string>> examples = {
      {0, Bytes({0x00})},
      {127, Bytes({0x7F})},
      {128, Bytes({0x80, 0x01})},
      {16383, Bytes({0xFF, 0x7F})},
      {16384, Bytes({0x80, 0x80, 0x01})},
      {2097151, Bytes({0xFF, 0xFF, 0x7F})},
      {2097152, Bytes({0x80, 0x80, 0x80, 0x01})},
  };
  for (const auto& [length, encoded] : examples) {
    // A QoS 0 PUBLISH of topic "t" has a body of 3 + payload bytes.
    if (length < 3) continue;
    const std::string packet = EncodePublish("t", std::string(length - 3, 'x'), 0, 0);
    EXPECT_EQ(packet.substr(1, encoded.size()), encoded) << length;
    EXPECT_EQ(packet.size(), 1 + encoded.size() + length);
    PacketReader reader(length);
    const std::vector<Packet> read = ReadAll(reader, packet, 4096);
    ASSERT_EQ(read.size(), 1u);
    EXPECT_EQ(read[0].length, length);
  }
  EXPECT_EQ(EncodePingreq(), Bytes({0xC0, 0x00}));  // Zero length.
  // A fifth length byte is malformed.
  PacketReader reader(100);
  const std::string bad = Bytes({0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01});
  reader.Feed(bad.data(), bad.size());
  std::optional<absl::StatusOr<Packet>> p = reader.Next();
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(MqttPackets, ControlPacketsAreTheStandardsBytes) {
  ConnectOptions c;
  c.client_id = "ab";
  c.keep_alive_s = 30;
  EXPECT_EQ(EncodeConnect(c), Bytes({0x10, 14, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x00, 0, 30, 0, 2, 'a', 'b'}));
  c.clean_session = true;
  c.username = "u";
  c.password = "pw";
  EXPECT_EQ(EncodeConnect(c),
            Bytes({0x10, 21, 0, 4, 'M', 'Q', 'T', 'T', 4, 0xC2, 0, 30, 0, 2, 'a', 'b', 0, 1, 'u', 0, 2, 'p', 'w'}));
  EXPECT_EQ(EncodeSubscribe(0x0102, {"a/+"}, 1), Bytes({0x82, 8, 0x01, 0x02, 0, 3, 'a', '/', '+', 1}));
  EXPECT_EQ(EncodePuback(0xABCD), Bytes({0x40, 2, 0xAB, 0xCD}));
  EXPECT_EQ(EncodeDisconnect(), Bytes({0xE0, 0}));
  EXPECT_EQ(EncodePublish("a/b", "hi", 1, 7, /*dup=*/true), Bytes({0x3A, 9, 0, 3, 'a', '/', 'b', 0, 7, 'h', 'i'}));
}

TEST(MqttPackets, TheReaderTakesAStreamCutAnywhere) {
  const std::string stream = Bytes({0x20, 2, 0x01, 0x00}) +                       // CONNACK, session present
                             Bytes({0x90, 4, 0x00, 0x01, 0x01, 0x80}) +           // SUBACK: 1, refused
                             EncodePublish("s/p1", R"({"time":1})", 1, 42) +      // QoS 1
                             EncodePublish("s/p2", "", 0, 0) + Bytes({0xD0, 0});  // QoS 0, PINGRESP
  for (size_t piece : {1, 2, 3, 7, 1000}) {
    PacketReader reader(1 << 20);
    const std::vector<Packet> packets = ReadAll(reader, stream, piece);
    ASSERT_EQ(packets.size(), 5u) << piece;
    const Connack connack = DecodeConnack(packets[0]).value();
    EXPECT_TRUE(connack.session_present);
    EXPECT_EQ(connack.return_code, 0);
    const Suback suback = DecodeSuback(packets[1]).value();
    EXPECT_EQ(suback.packet_id, 1);
    EXPECT_EQ(suback.return_codes, (std::vector<uint8_t>{0x01, 0x80}));
    const Publish p = DecodePublish(packets[2]).value();
    EXPECT_EQ(p.topic, "s/p1");
    EXPECT_EQ(p.payload, R"({"time":1})");
    EXPECT_EQ(p.qos, 1);
    EXPECT_EQ(p.packet_id, 42);
    EXPECT_FALSE(p.dup);
    EXPECT_FALSE(p.truncated);
    const Publish empty = DecodePublish(packets[3]).value();
    EXPECT_EQ(empty.qos, 0);
    EXPECT_EQ(empty.payload, "");
    EXPECT_EQ(packets[4].type, kPingresp);
  }
}

TEST(MqttPackets, AnOversizedPayloadIsCutAndSkippedWithoutLosingTheNextPacket) {
  const std::string big = std::string(200000, 'x');
  const std::string stream = EncodePublish("s/big", big, 1, 9) + EncodePublish("s/next", "ok", 1, 10);
  for (size_t piece : {1000, 65536, 1 << 20}) {
    PacketReader reader(100);
    const std::vector<Packet> packets = ReadAll(reader, stream, piece);
    ASSERT_EQ(packets.size(), 2u) << piece;
    const Publish cut = DecodePublish(packets[0]).value();
    EXPECT_TRUE(cut.truncated);
    EXPECT_EQ(cut.packet_id, 9);  // Still acknowledgeable.
    EXPECT_EQ(cut.topic, "s/big");
    EXPECT_EQ(cut.payload_bytes, big.size());
    EXPECT_LT(cut.payload.size(), big.size());
    EXPECT_EQ(DecodePublish(packets[1])->payload, "ok");
  }
}

TEST(MqttPackets, MalformedPublishesAreRefused) {
  Packet p;
  p.type = kPublish;
  p.flags = 0x02;  // QoS 1
  p.body = Bytes({0, 1, 't', 0, 0});
  p.length = static_cast<uint32_t>(p.body.size());
  EXPECT_NE(DecodePublish(p).status().message().find("packet id 0"), std::string::npos);
  p.flags = 0x06;  // QoS 3
  EXPECT_EQ(DecodePublish(p).status().code(), absl::StatusCode::kInvalidArgument);
  p.flags = 0x02;
  p.body = Bytes({0, 9, 't'});
  p.length = 3;
  EXPECT_EQ(DecodePublish(p).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ConnackMeaning(4), "refused: bad user name or password");
}

}  // namespace
}  // namespace hybrid::ingest::mqtt
