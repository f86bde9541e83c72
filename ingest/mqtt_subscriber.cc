#include "ingest/mqtt_subscriber.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace hybrid::ingest {

MqttSubscriber::MqttSubscriber(MqttSubscriberOptions options)
    : options_(std::move(options)), reader_(options_.max_payload_bytes) {}

MqttSubscriber::~MqttSubscriber() { Close(); }

void MqttSubscriber::Close() {
  connection_.reset();
  reader_.Reset();
  queue_.clear();  // Unacknowledged: the broker sends them again.
  control_.clear();
  ping_outstanding_ = false;
}

absl::Status MqttSubscriber::Fail(absl::Status status) {
  Close();
  return status;
}

absl::Status MqttSubscriber::Connect() {
  Close();
  const std::string where = absl::StrCat(options_.host, ":", options_.port);
  absl::StatusOr<std::unique_ptr<BrokerConnection>> connection =
      BrokerConnection::Open(options_.host, options_.port, options_.tls, options_.connect_timeout);
  if (!connection.ok()) return connection.status();
  connection_ = *std::move(connection);
  last_heard_ = Clock::now();

  if (absl::Status s = Send(mqtt::EncodeConnect(options_.connect)); !s.ok()) return s;
  absl::StatusOr<mqtt::Packet> connack = Await(mqtt::kConnack, options_.connect_timeout);
  if (!connack.ok()) return connack.status();
  absl::StatusOr<mqtt::Connack> c = mqtt::DecodeConnack(*connack);
  if (!c.ok()) return Fail(c.status());
  if (c->return_code != 0) {
    return Fail(absl::PermissionDeniedError(
        absl::StrCat("MQTT broker ", where, " refused the connection: ", mqtt::ConnackMeaning(c->return_code))));
  }
  session_present_ = c->session_present;
  // Subscribing again on a kept session is harmless, and covers a broker that lost it.
  if (absl::Status s = Send(mqtt::EncodeSubscribe(1, options_.filters, 1)); !s.ok()) return s;
  absl::StatusOr<mqtt::Packet> suback = Await(mqtt::kSuback, options_.connect_timeout);
  if (!suback.ok()) return suback.status();
  absl::StatusOr<mqtt::Suback> granted = mqtt::DecodeSuback(*suback);
  if (!granted.ok()) return Fail(granted.status());
  if (granted->packet_id != 1 || granted->return_codes.size() != options_.filters.size()) {
    return Fail(absl::InvalidArgumentError(absl::StrCat("MQTT broker ", where, ": a SUBACK for another SUBSCRIBE")));
  }
  for (size_t i = 0; i < options_.filters.size(); ++i) {
    if (granted->return_codes[i] != 1) {  // 0x80 refused; QoS 0 would lose at-least-once delivery.
      return Fail(absl::FailedPreconditionError(
          absl::StrCat("MQTT broker ", where, " ", granted->return_codes[i] == 0x80 ? "refused" : "downgraded",
                       " the QoS 1 subscription to '", options_.filters[i], "'")));
    }
  }
  return absl::OkStatus();
}

absl::Status MqttSubscriber::Send(const std::string& bytes) {
  if (!connection_) return absl::UnavailableError("not connected to the MQTT broker");
  if (absl::Status s = connection_->Write(bytes, options_.connect_timeout); !s.ok()) return Fail(s);
  last_sent_ = Clock::now();
  return absl::OkStatus();
}

absl::Status MqttSubscriber::Pump(absl::Duration timeout, bool until_packet) {
  const Clock::time_point deadline = Clock::now() + absl::ToChronoMicroseconds(timeout);
  const auto keep_alive = std::chrono::seconds(options_.connect.keep_alive_s);
  do {
    if (!connection_) return absl::UnavailableError("not connected to the MQTT broker");
    Clock::time_point now = Clock::now();
    if (keep_alive.count() > 0) {
      if (now - last_heard_ > keep_alive * 3 / 2) {
        return Fail(absl::UnavailableError("MQTT broker: silent for 1.5 keep-alive periods; connection dropped"));
      }
      if (!ping_outstanding_ && now - last_sent_ >= keep_alive / 2) {
        if (absl::Status s = Send(mqtt::EncodePingreq()); !s.ok()) return s;
        ping_outstanding_ = true;
      }
    }
    const auto wait = std::min<Clock::duration>(std::max<Clock::duration>(deadline - now, Clock::duration::zero()),
                                                std::chrono::milliseconds(500));
    char buffer[65536];
    absl::StatusOr<size_t> n = connection_->Read(buffer, sizeof buffer, absl::FromChrono(wait));
    if (!n.ok()) return Fail(n.status());
    if (*n > 0) {
      reader_.Feed(buffer, *n);
      last_heard_ = Clock::now();
      while (std::optional<absl::StatusOr<mqtt::Packet>> packet = reader_.Next()) {
        if (!packet->ok()) return Fail(packet->status());
        switch ((*packet)->type) {
          case mqtt::kPublish: {
            absl::StatusOr<mqtt::Publish> message = mqtt::DecodePublish(**packet);
            if (!message.ok()) return Fail(message.status());
            if (message->qos > 1) {
              return Fail(absl::InvalidArgumentError("MQTT broker sent QoS 2 on a QoS 1 subscription"));
            }
            queue_.push_back(*std::move(message));
            break;
          }
          case mqtt::kPingresp:
            ping_outstanding_ = false;
            break;
          case mqtt::kConnack:
          case mqtt::kSuback:
            control_.push_back(**std::move(packet));
            break;
          default:
            break;  // Nothing else is addressed to a subscriber.
        }
      }
    }
    if (until_packet && (!queue_.empty() || !control_.empty())) return absl::OkStatus();
  } while (Clock::now() < deadline);
  return absl::OkStatus();
}

absl::StatusOr<mqtt::Packet> MqttSubscriber::Await(mqtt::PacketType type, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    for (auto it = control_.begin(); it != control_.end(); ++it) {
      if (it->type == type) {
        mqtt::Packet packet = std::move(*it);
        control_.erase(it);
        return packet;
      }
    }
    if (absl::Now() >= deadline) {
      return Fail(absl::UnavailableError(absl::StrCat("MQTT broker: no ", type == mqtt::kConnack ? "CONNACK" : "SUBACK",
                                                      " within ", absl::FormatDuration(timeout))));
    }
    if (absl::Status s = Pump(deadline - absl::Now(), /*until_packet=*/true); !s.ok()) return s;
  }
}

absl::StatusOr<std::optional<mqtt::Publish>> MqttSubscriber::Next(absl::Duration timeout) {
  if (queue_.empty()) {
    if (absl::Status s = Pump(timeout, /*until_packet=*/true); !s.ok()) return s;
  }
  control_.clear();  // A late or repeated SUBACK.
  if (queue_.empty()) return std::optional<mqtt::Publish>();
  mqtt::Publish message = std::move(queue_.front());
  queue_.erase(queue_.begin());
  return std::optional<mqtt::Publish>(std::move(message));
}

absl::Status MqttSubscriber::KeepAlive(absl::Duration duration) {
  absl::Status s = Pump(duration, /*until_packet=*/false);  // Messages stay queued, in order.
  control_.clear();
  return s;
}

absl::Status MqttSubscriber::Ack(const mqtt::Publish& message) {
  if (message.qos == 0) return absl::OkStatus();
  return Send(mqtt::EncodePuback(message.packet_id));
}

void MqttSubscriber::Disconnect() {
  if (connection_) (void)Send(mqtt::EncodeDisconnect());
  Close();
}

}  // namespace hybrid::ingest
