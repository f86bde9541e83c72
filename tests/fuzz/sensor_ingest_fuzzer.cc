// libFuzzer target: what hybridbridge takes from the network. Any bytes, fed
// to the MQTT packet reader in pieces of the sizes the input's first byte
// chooses, must give packets or INVALID_ARGUMENT; every PUBLISH among them
// goes through the sensor-message parser, which must give reports or an
// error — never a crash, a hang or undefined behaviour (ASan + UBSan).
// The corpus (tests/fuzz/corpus/sensors) holds whole streams of packets.
#include <cstddef>
#include <cstdint>
#include <string>

#include "ingest/mqtt_packets.h"
#include "ingest/sensor_message.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t piece = 1 + data[0] % 64;
  const std::string stream(reinterpret_cast<const char*>(data) + 1, size - 1);
  static const std::vector<hybrid::ingest::TopicTemplate> templates = {
      *hybrid::ingest::ParseTopicTemplate("clinic/{model}/{entity}"),
      *hybrid::ingest::ParseTopicTemplate("raw/{entity}/#")};
  hybrid::ingest::mqtt::PacketReader reader(256);
  for (size_t at = 0; at < stream.size(); at += piece) {
    reader.Feed(stream.data() + at, std::min(piece, stream.size() - at));
    while (auto packet = reader.Next()) {
      if (!packet->ok()) {
        if (packet->status().code() != absl::StatusCode::kInvalidArgument) __builtin_trap();
        return 0;  // A real subscriber reconnects.
      }
      if ((*packet)->type != hybrid::ingest::mqtt::kPublish) continue;
      absl::StatusOr<hybrid::ingest::mqtt::Publish> p = hybrid::ingest::mqtt::DecodePublish(**packet);
      if (!p.ok()) continue;
      (void)hybrid::ingest::ParseSensorMessage(templates, "fallback", p->topic, p->payload, 8);
    }
  }
  return 0;
}
