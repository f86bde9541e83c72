// libFuzzer target: request decoding at the RPC edge. Any bytes must decode to
// a request or an INVALID_ARGUMENT — never a crash, a hang or undefined
// behaviour (built with AddressSanitizer and UBSan by scripts/fuzz).
//
// Input: binary protobuf, its first byte choosing the message (even:
// PredictRequest, odd: CalibrateRequest); or, for the hand-written corpus,
// "#text PredictRequest\n" / "#text CalibrateRequest\n" followed by text format.
#include <google/protobuf/text_format.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "hybrid/v1/hybrid_service.pb.h"
#include "server/rpc/message_codec.h"

namespace {

bool Allowed(const absl::Status& s) {
  return s.ok() || s.code() == absl::StatusCode::kInvalidArgument || s.code() == absl::StatusCode::kOutOfRange;
}

template <typename Request>
bool Parse(const std::string& text_header, const std::string& input, const std::string& type, Request* request) {
  if (input.rfind(text_header, 0) == 0) {
    if (input.compare(text_header.size(), type.size(), type) != 0) return false;
    const size_t body = input.find('\n');
    return body != std::string::npos && google::protobuf::TextFormat::ParseFromString(input.substr(body + 1), request);
  }
  return !input.empty() && request->ParseFromString(input.substr(1));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const std::string header = "#text ";
  const bool text = input.rfind(header, 0) == 0;
  if ((text && input.compare(header.size(), 14, "PredictRequest") == 0) || (!text && size > 0 && data[0] % 2 == 0)) {
    hybrid::v1::PredictRequest request;
    if (!Parse(header, input, "PredictRequest", &request)) return 0;
    absl::StatusOr<hybrid::server::PredictQuery> query = hybrid::server::rpc::DecodePredictRequest(request);
    if (!Allowed(query.status())) __builtin_trap();
  } else {
    hybrid::v1::CalibrateRequest request;
    if (!Parse(header, input, "CalibrateRequest", &request)) return 0;
    absl::StatusOr<hybrid::server::Observation> o = hybrid::server::rpc::DecodeCalibrateRequest(request);
    if (!Allowed(o.status())) __builtin_trap();
  }
  return 0;
}
