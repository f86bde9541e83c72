#include "ingest/mqtt_bridge.h"

#include <algorithm>
#include <cstdio>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace hybrid::ingest {
namespace {

constexpr absl::Duration kFirstBackoff = absl::Milliseconds(100);

// A report's outcome worth another try: it was not logged (the log, the
// call). INTERNAL is not: the report was logged and failed, and would be
// logged again.
bool TransientOutcome(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kCancelled:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kDeadlineExceeded:
      return true;
    default:
      return false;
  }
}

// Sleeps `duration`, waking early when stop is set.
void SleepUnlessStopped(absl::Duration duration, const std::atomic<bool>& stop) {
  for (const absl::Time until = absl::Now() + duration; !stop && absl::Now() < until;) {
    absl::SleepFor(absl::Milliseconds(20));
  }
}

// A whole call refused for what it carries: some message in it is at fault.
bool RefusedForContent(absl::StatusCode code) {
  return code == absl::StatusCode::kInvalidArgument || code == absl::StatusCode::kNotFound ||
         code == absl::StatusCode::kOutOfRange;
}

}  // namespace

struct MqttBridge::Pending {
  mqtt::Publish message;
  SensorMessage parsed;
  std::string failure;  // Not empty: the message goes to the dead letters.
};

MqttBridge::MqttBridge(MqttSubscriber& broker, client::HybridClient& server, DeadLetters& dead_letters,
                       BridgeOptions options)
    : broker_(broker), server_(server), dead_letters_(dead_letters), options_(std::move(options)) {}

void MqttBridge::Run(const std::atomic<bool>& stop) {
  absl::Duration backoff = kFirstBackoff;
  std::string last_error;
  while (!stop) {
    if (!broker_.connected()) {
      if (absl::Status s = broker_.Connect(); !s.ok()) {
        if (s.ToString() != last_error) {
          std::fprintf(stderr, "hybridbridge: %s; retrying every %s at most\n", s.ToString().c_str(),
                       absl::FormatDuration(options_.retry_max).c_str());
          last_error = s.ToString();
        }
        SleepUnlessStopped(backoff, stop);
        backoff = std::min(backoff * 2, options_.retry_max);
        continue;
      }
      ++counters_.connections;
      backoff = kFirstBackoff;
      last_error.clear();
      std::vector<std::string> filters;
      for (const TopicTemplate& t : options_.topics) filters.push_back(t.filter);
      std::fprintf(stderr, "hybridbridge: connected to %s (%s), subscribed to %s at QoS 1\n", options_.broker.c_str(),
                   broker_.session_present() ? "session resumed" : "new session", absl::StrJoin(filters, ", ").c_str());
    }
    std::vector<mqtt::Publish> batch;
    absl::StatusOr<std::optional<mqtt::Publish>> next = broker_.Next(absl::Milliseconds(200));
    while (next.ok() && next->has_value()) {
      batch.push_back(**std::move(next));
      if (batch.size() >= options_.max_batch) break;
      next = broker_.Next(absl::ZeroDuration());
    }
    if (!next.ok()) {
      std::fprintf(stderr, "hybridbridge: %s; reconnecting\n", next.status().ToString().c_str());
      continue;  // What was read is unacknowledged: the broker sends it again.
    }
    if (!batch.empty()) Deliver(batch, stop);
    MaybeReport(false);
  }
  MaybeReport(true);
  broker_.Disconnect();
}

void MqttBridge::Deliver(std::vector<mqtt::Publish>& batch, const std::atomic<bool>& stop) {
  std::vector<Pending> pending(batch.size());
  std::vector<std::string> models;
  std::map<std::string, std::vector<Pending*>> groups;
  for (size_t i = 0; i < batch.size(); ++i) {
    Pending& p = pending[i];
    p.message = std::move(batch[i]);
    if (p.message.retain && broker_.session_present()) {
      // Re-sent because the bridge subscribed again on a kept session: seen before.
      ++counters_.retained_skipped;
      continue;
    }
    if (p.message.truncated || p.message.payload_bytes > options_.max_payload_bytes) {
      p.failure = absl::StrCat("payload of ", p.message.payload_bytes, " bytes, over --max_payload_bytes ",
                               options_.max_payload_bytes);
      continue;
    }
    absl::StatusOr<SensorMessage> parsed = ParseSensorMessage(options_.topics, options_.default_model, p.message.topic,
                                                              p.message.payload, options_.max_reports_per_message);
    if (!parsed.ok()) {
      p.failure = std::string(parsed.status().message());
      continue;
    }
    p.parsed = *std::move(parsed);
    if (!groups.count(p.parsed.model)) models.push_back(p.parsed.model);
    groups[p.parsed.model].push_back(&p);
  }
  for (const std::string& model : models) {
    if (!Send(model, groups[model], stop)) return;
  }
  for (Pending& p : pending) {
    if (!p.failure.empty()) {
      if (absl::Status s = dead_letters_.Add(p.message.topic, p.message.payload, p.failure); !s.ok()) {
        // Keep it at the broker rather than lose it.
        std::fprintf(stderr, "hybridbridge: %s; disconnecting until it can be written\n", s.ToString().c_str());
        broker_.Disconnect();
        SleepUnlessStopped(options_.retry_max, stop);
        return;
      }
      ++counters_.dead_letters;
    }
    if (!broker_.Ack(p.message).ok()) return;  // Lost connection: the rest comes again.
    ++counters_.messages;
  }
}

bool MqttBridge::Send(const std::string& model, const std::vector<Pending*>& group, const std::atomic<bool>& stop) {
  // Per report: its message, its index there, and whether it is settled (answered OK or refused for good).
  struct Owned {
    Pending* message;
    int index;
    bool settled = false;
  };
  std::vector<Owned> owned;
  for (Pending* p : group) {
    p->failure.clear();
    for (size_t k = 0; k < p->parsed.reports.size(); ++k) owned.push_back({p, static_cast<int>(k)});
  }
  absl::Duration backoff = kFirstBackoff;
  bool holding = false;
  while (true) {
    if (stop) return false;
    // A retry sends only what is not settled: nothing answered is sent twice.
    v1::ObserveRequest request;
    request.set_model(model);
    std::vector<Owned*> sent;
    for (Owned& o : owned) {
      if (o.settled) continue;
      *request.add_reports() = o.message->parsed.reports[static_cast<size_t>(o.index)];
      sent.push_back(&o);
    }
    if (sent.empty()) return true;
    if (absl::Status s = broker_.KeepAlive(absl::ZeroDuration()); !s.ok()) return false;  // A ping if one is due.
    absl::StatusOr<v1::ObserveResponse> response = server_.Observe(request);
    absl::Status failure = response.status();
    if (response.ok() && response->outcomes_size() != request.reports_size()) {
      failure = absl::InternalError(absl::StrCat("hybridserve answered ", response->outcomes_size(), " outcomes for ",
                                                 request.reports_size(), " reports"));
    }
    const bool too_big = failure.code() == absl::StatusCode::kResourceExhausted && group.size() > 1;
    if (!failure.ok() && (RefusedForContent(failure.code()) || too_big)) {
      if (group.size() > 1) {  // Find the message at fault (or a request of a size the server takes).
        for (Pending* p : group) {
          if (!Send(model, {p}, stop)) return false;
        }
        return true;
      }
      group[0]->failure = absl::StrCat("hybridserve refused it: ", failure.ToString());
      return true;
    }
    if (failure.ok()) {
      bool again = false;
      for (size_t k = 0; k < sent.size(); ++k) {
        const v1::ReportOutcome& o = response->outcomes(static_cast<int>(k));
        const auto code = static_cast<absl::StatusCode>(o.status().code());
        if (code == absl::StatusCode::kOk) {
          ++(o.duplicate() ? counters_.duplicates : counters_.applied);
          sent[k]->settled = true;
        } else if (TransientOutcome(code)) {
          again = true;
          failure = absl::Status(code, o.status().message());
        } else {
          Pending* p = sent[k]->message;
          absl::StrAppend(&p->failure, p->failure.empty() ? "" : "; ", "report ", sent[k]->index,
                          " refused by hybridserve: ", absl::StatusCodeToString(code), ": ", o.status().message());
          sent[k]->settled = true;
        }
      }
      if (!again) {
        if (holding) std::fprintf(stderr, "hybridbridge: model '%s' takes reports again\n", model.c_str());
        return true;
      }
    }
    if (!holding) {
      std::fprintf(stderr,
                   "hybridbridge: hybridserve cannot take model '%s''s reports now (%s); holding %zu messages\n",
                   model.c_str(), failure.ToString().c_str(), group.size());
      holding = true;
    }
    ++counters_.retries;
    if (!Wait(backoff, stop)) return false;
    backoff = std::min(backoff * 2, options_.retry_max);
  }
}

bool MqttBridge::Wait(absl::Duration backoff, const std::atomic<bool>& stop) {
  for (absl::Time until = absl::Now() + backoff; absl::Now() < until;) {
    if (stop) return false;
    if (absl::Status s = broker_.KeepAlive(std::min(until - absl::Now(), absl::Milliseconds(100))); !s.ok()) {
      std::fprintf(stderr, "hybridbridge: %s; reconnecting (held messages come again)\n", s.ToString().c_str());
      return false;
    }
    MaybeReport(false);
  }
  return true;
}

void MqttBridge::MaybeReport(bool force) {
  if (!force && absl::Now() - last_report_ < options_.stats_every) return;
  last_report_ = absl::Now();
  std::fprintf(
      stderr,
      "hybridbridge: %llu messages acknowledged: %llu reports applied, %llu duplicates, %llu dead letters; "
      "%llu retries, %llu connections\n",
      static_cast<unsigned long long>(counters_.messages), static_cast<unsigned long long>(counters_.applied),
      static_cast<unsigned long long>(counters_.duplicates), static_cast<unsigned long long>(counters_.dead_letters),
      static_cast<unsigned long long>(counters_.retries), static_cast<unsigned long long>(counters_.connections));
}

}  // namespace hybrid::ingest
