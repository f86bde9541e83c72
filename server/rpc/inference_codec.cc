#include "server/rpc/inference_codec.h"

#include <google/protobuf/text_format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/checked_arithmetic.h"
#include "base/model_name.h"
#include "server/rpc/tensor_codec.h"

namespace hybrid::server::rpc {
namespace {

constexpr const char* kOutputs[] = {"mean", "std", "lower", "upper"};
constexpr const char* kPlatform = "hybridserve";

static_assert(sizeof(double) == 8 && sizeof(float) == 4, "IEEE-754 sizes");
// The protocol's raw contents are little-endian, as is every machine we build for.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "raw tensor contents need byte swapping here");

// One input as a v1::Tensor, its values taken from `contents` or from `raw`.
absl::StatusOr<v1::Tensor> DecodeInput(const inference::ModelInferRequest::InferInputTensor& input,
                                       const std::string* raw, const std::string& where) {
  const bool f64 = input.datatype() == "FP64";
  if (!f64 && input.datatype() != "FP32") {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": datatype '", input.datatype(), "' is not supported; send FP64 or FP32"));
  }
  const std::vector<int64_t> shape(input.shape().begin(), input.shape().end());
  absl::StatusOr<int64_t> values = ShapeValueCount(shape, where);
  if (!values.ok()) return values.status();
  const int64_t count = *values;  // ≤ kMaxTensorValues: the byte count below cannot overflow.
  v1::Tensor tensor;
  tensor.mutable_shape()->CopyFrom(input.shape());
  tensor.set_dtype(f64 ? v1::DTYPE_FLOAT64 : v1::DTYPE_FLOAT32);
  if (raw != nullptr) {
    if (input.has_contents()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": contents and raw_input_contents must not both be given"));
    }
    const int64_t element = f64 ? sizeof(double) : sizeof(float);
    if (const std::optional<int64_t> bytes = base::CheckedMul(count, element);
        !bytes || raw->size() != static_cast<size_t>(*bytes)) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": raw_input_contents has ", raw->size(),
                                                     " bytes; shape and datatype need ", count * element));
    }
    if (f64) {
      tensor.mutable_f64()->Resize(static_cast<int>(count), 0.0);
      std::memcpy(tensor.mutable_f64()->mutable_data(), raw->data(), raw->size());
    } else {
      tensor.mutable_f32()->Resize(static_cast<int>(count), 0.0f);
      std::memcpy(tensor.mutable_f32()->mutable_data(), raw->data(), raw->size());
    }
    return tensor;
  }
  const int given = f64 ? input.contents().fp64_contents_size() : input.contents().fp32_contents_size();
  if (given != count) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": contents.", f64 ? "fp64" : "fp32", "_contents has ", given,
                                                   " values; shape needs ", count));
  }
  if (f64) {
    *tensor.mutable_f64() = input.contents().fp64_contents();
  } else {
    *tensor.mutable_f32() = input.contents().fp32_contents();
  }
  return tensor;
}

// A number in any of the forms clients send it: Triton's double_param,
// int64_param and uint64_param, KServe's string_param.
absl::StatusOr<double> NumberParameter(const inference::InferParameter& value, const std::string& where) {
  double number = 0.0;
  switch (value.parameter_choice_case()) {
    case inference::InferParameter::kDoubleParam:
      return value.double_param();
    case inference::InferParameter::kInt64Param:
      return static_cast<double>(value.int64_param());
    case inference::InferParameter::kUint64Param:
      return static_cast<double>(value.uint64_param());
    case inference::InferParameter::kStringParam:
      if (absl::SimpleAtod(value.string_param(), &number)) return number;
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": string_param '", absl::CHexEscape(value.string_param().substr(0, 32)), "' is not a number"));
    default:
      return absl::InvalidArgumentError(
          absl::StrCat(where, " must be a number (double_param, int64_param, uint64_param or string_param)"));
  }
}

absl::Status DecodeParameters(const inference::ModelInferRequest& request, v1::PredictRequest& predict) {
  double level = 0.9;
  for (const auto& [name, value] : request.parameters()) {
    const std::string where = absl::StrCat("parameters['", name, "']");
    if (name == "include_observation_noise") {
      if (value.parameter_choice_case() != inference::InferParameter::kBoolParam) {
        return absl::InvalidArgumentError(absl::StrCat(where, " must be a bool_param"));
      }
      predict.set_include_observation_noise(value.bool_param());
      continue;
    }
    const bool known = name == "interval_level" || name == "max_step" || name == "ensemble_size";
    if (!known) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, " is not known (known: interval_level, ensemble_size, max_step, include_observation_noise)"));
    }
    absl::StatusOr<double> number = NumberParameter(value, where);
    if (!number.ok()) return number.status();
    if (name == "interval_level") {
      level = *number;  // Range checked with Predict's own rules.
    } else if (name == "max_step") {
      predict.set_max_step(*number);
    } else {
      if (!(*number >= 0.0 && *number <= (1 << 20)) || *number != std::floor(*number)) {
        return absl::InvalidArgumentError(absl::StrCat(where, " must be an integer in [0, 2^20], got ", *number));
      }
      predict.set_ensemble_size(static_cast<int32_t>(*number));
    }
  }
  predict.add_interval_levels(level);
  return absl::OkStatus();
}

void AddOutput(inference::ModelInferResponse& response, const std::string& name, const v1::Tensor& tensor) {
  inference::ModelInferResponse::InferOutputTensor* out = response.add_outputs();
  out->set_name(name);
  out->set_datatype("FP64");
  out->mutable_shape()->CopyFrom(tensor.shape());
  std::string* raw = response.add_raw_output_contents();
  if (tensor.dtype() == v1::DTYPE_FLOAT32) {
    raw->resize(tensor.f32_size() * sizeof(double));
    for (int i = 0; i < tensor.f32_size(); ++i) {
      const double v = tensor.f32(i);
      std::memcpy(raw->data() + i * sizeof(double), &v, sizeof(double));
    }
  } else {
    raw->assign(reinterpret_cast<const char*>(tensor.f64().data()), tensor.f64_size() * sizeof(double));
  }
}

}  // namespace

absl::StatusOr<InferCall> DecodeModelInfer(const inference::ModelInferRequest& request) {
  InferCall call;
  call.id = request.id();
  if (absl::Status s = base::ValidateModelName(request.model_name(), "model_name"); !s.ok()) return s;
  call.predict.set_model(request.model_name());
  absl::StatusOr<std::optional<uint64_t>> version = DecodeModelVersion(request.model_version(), request.model_name());
  if (!version.ok()) return version.status();
  if (*version) call.predict.set_model_version(**version);  // The core checks it against the snapshot it uses.
  if (request.raw_input_contents_size() > 0 && request.raw_input_contents_size() != request.inputs_size()) {
    return absl::InvalidArgumentError(absl::StrCat("raw_input_contents has ", request.raw_input_contents_size(),
                                                   " entries for ", request.inputs_size(), " inputs"));
  }
  bool has_state = false, has_times = false;
  for (int i = 0; i < request.inputs_size(); ++i) {
    const auto& input = request.inputs(i);
    const std::string where = absl::StrCat("inputs[", i, "] '", input.name(), "'");
    const std::string* raw = request.raw_input_contents_size() > 0 ? &request.raw_input_contents(i) : nullptr;
    absl::StatusOr<v1::Tensor> tensor = DecodeInput(input, raw, where);
    if (!tensor.ok()) return tensor.status();
    if (input.name() == "initial_state" && !has_state) {
      *call.predict.mutable_initial_state() = *std::move(tensor);
      has_state = true;
    } else if (input.name() == "initial_state_std" && call.predict.initial_state_std_size() == 0) {
      if (tensor->shape_size() != 1) {
        return absl::InvalidArgumentError(absl::StrCat(where, ": shape must be [D] or [1]"));
      }
      for (double s : tensor->f64()) call.predict.add_initial_state_std(s);
      for (float s : tensor->f32()) call.predict.add_initial_state_std(s);
    } else if (input.name() == "times" && !has_times) {
      if (tensor->shape_size() != 1) return absl::InvalidArgumentError(absl::StrCat(where, ": shape must be [T]"));
      for (double t : tensor->f64()) call.predict.mutable_output_times()->add_times(t);
      for (float t : tensor->f32()) call.predict.mutable_output_times()->add_times(t);
      has_times = true;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": unknown or repeated input (inputs are initial_state, times and initial_state_std)"));
    }
  }
  if (!has_state) return absl::InvalidArgumentError("inputs: 'initial_state' is missing");
  if (!has_times) return absl::InvalidArgumentError("inputs: 'times' is missing");
  if (absl::Status s = DecodeParameters(request, call.predict); !s.ok()) return s;
  for (int i = 0; i < request.outputs_size(); ++i) {
    const std::string& name = request.outputs(i).name();
    if (std::find(std::begin(kOutputs), std::end(kOutputs), name) == std::end(kOutputs)) {
      return absl::InvalidArgumentError(absl::StrCat("outputs[", i, "]: unknown output '", name, "' (outputs are ",
                                                     absl::StrJoin(kOutputs, ", "), ")"));
    }
    call.outputs.push_back(name);
  }
  if (call.outputs.empty()) call.outputs.assign(std::begin(kOutputs), std::end(kOutputs));
  return call;
}

inference::ModelInferResponse EncodeModelInfer(const v1::PredictResponse& answer, const InferCall& call) {
  inference::ModelInferResponse response;
  response.set_model_name(answer.model());
  response.set_model_version(absl::StrCat(answer.model_version()));
  response.set_id(call.id);
  (*response.mutable_parameters())["ensemble_size"].set_int64_param(answer.ensemble_size());
  const v1::Interval& interval = answer.intervals(0);  // Exactly one level was asked for.
  (*response.mutable_parameters())["interval_level"].set_string_param(absl::StrCat(interval.level()));
  for (const std::string& name : call.outputs) {
    const v1::Tensor& tensor = name == "mean"    ? answer.mean()
                               : name == "std"   ? answer.std()
                               : name == "lower" ? interval.lower()
                                                 : interval.upper();
    AddOutput(response, name, tensor);
  }
  return response;
}

absl::StatusOr<std::optional<uint64_t>> DecodeModelVersion(const std::string& version, const std::string& model) {
  if (version.empty()) return std::optional<uint64_t>();
  uint64_t number = 0;
  // Digits only: "-1", "+3", " 3" and "abc" are not versions this server has.
  if (version.size() > 20 || !std::all_of(version.begin(), version.end(), absl::ascii_isdigit) ||
      !absl::SimpleAtoi(version, &number)) {
    return absl::NotFoundError(absl::StrCat("model '", model, "' has no version '",
                                            absl::CHexEscape(version.substr(0, 32)),
                                            "'; versions are decimal numbers (empty: the current one)"));
  }
  return std::optional<uint64_t>(number);
}

absl::Status CheckServedVersion(const std::string& version, const std::string& model, uint64_t current) {
  absl::StatusOr<std::optional<uint64_t>> asked = DecodeModelVersion(version, model);
  if (!asked.ok()) return asked.status();
  if (*asked && **asked != current) {
    return absl::NotFoundError(absl::StrCat("model '", model, "' has no version ", **asked,
                                            " to serve; it serves version ", current, " (its current one)"));
  }
  return absl::OkStatus();
}

namespace {

// Shapes as served: initial_state [B, D] gives outputs [T, B, D] (-1: any
// size). A single state [D] is accepted too and gives [T, D].
constexpr int64_t kAny = -1;
std::vector<int64_t> StateShape(int64_t dim) { return {kAny, dim}; }
std::vector<int64_t> OutputShape(int64_t dim) { return {kAny, kAny, dim}; }

}  // namespace

inference::ModelMetadataResponse ModelMetadataFor(const std::string& name, uint64_t version, int64_t state_dim) {
  inference::ModelMetadataResponse metadata;
  metadata.set_name(name);
  metadata.add_versions(absl::StrCat(version));
  metadata.set_platform(kPlatform);
  auto add = [](auto* list, const char* tensor, const std::vector<int64_t>& shape) {
    auto* t = list->Add();
    t->set_name(tensor);
    t->set_datatype("FP64");
    for (int64_t d : shape) t->add_shape(d);
  };
  add(metadata.mutable_inputs(), "initial_state", StateShape(state_dim));
  add(metadata.mutable_inputs(), "times", {kAny});
  for (const char* output : kOutputs) add(metadata.mutable_outputs(), output, OutputShape(state_dim));
  return metadata;
}

inference::ModelConfig ModelConfigFor(const v1::ModelConfig& config, int64_t state_dim) {
  inference::ModelConfig out;
  out.set_name(config.name());
  out.set_platform(kPlatform);
  out.set_backend(kPlatform);
  out.mutable_version_policy()->mutable_latest()->set_num_versions(1);
  out.set_max_batch_size(0);  // The batch is the explicit first dimension of initial_state.
  auto add = [](auto* list, const char* tensor, const std::vector<int64_t>& dims) {
    auto* t = list->Add();
    t->set_name(tensor);
    t->set_data_type(inference::TYPE_FP64);
    for (int64_t d : dims) t->add_dims(d);
  };
  add(out.mutable_input(), "initial_state", StateShape(state_dim));
  add(out.mutable_input(), "times", {kAny});
  for (const char* output : kOutputs) add(out.mutable_output(), output, OutputShape(state_dim));
  std::string text;
  google::protobuf::TextFormat::PrintToString(config, &text);
  auto& parameters = *out.mutable_parameters();
  parameters["description"].set_string_value(config.description());
  parameters["physics"].set_string_value(v1::PhysicsKind_Name(config.physics()));
  parameters["ensemble_members"].set_string_value(absl::StrCat(config.ensemble_members()));
  parameters["hybrid_config"].set_string_value(text);  // The effective config.pbtxt, defaults filled.
  return out;
}

inference::ModelStatistics ModelStatisticsFor(const std::string& name, uint64_t version,
                                              const InferenceStatistics::Totals& totals) {
  inference::ModelStatistics out;
  out.set_name(name);
  out.set_version(absl::StrCat(version));
  out.set_last_inference(totals.last_inference_unix_ms);
  out.set_inference_count(totals.inference_count);
  out.set_execution_count(totals.execution_count);
  auto set = [](inference::StatisticDuration* d, const InferenceStatistics::Duration& from) {
    d->set_count(from.count);
    d->set_ns(from.ns);
  };
  inference::InferStatistics& s = *out.mutable_inference_stats();
  set(s.mutable_success(), totals.success);
  set(s.mutable_fail(), totals.fail);
  set(s.mutable_queue(), totals.queue);
  set(s.mutable_compute_input(), totals.compute_input);
  set(s.mutable_compute_infer(), totals.compute_infer);
  set(s.mutable_compute_output(), totals.compute_output);
  return out;
}

inference::RepositoryIndexResponse::ModelIndex RepositoryEntryFor(const ModelStatus& status) {
  inference::RepositoryIndexResponse::ModelIndex entry;
  entry.set_name(status.name);
  switch (status.state) {
    case ModelState::kReady:
      entry.set_state("READY");
      if (status.model) entry.set_version(absl::StrCat(status.model->Info().version));
      break;
    case ModelState::kLoading:
      entry.set_state("LOADING");
      break;
    case ModelState::kUnloading:
      entry.set_state("UNLOADING");
      break;
    case ModelState::kUnloaded:
      entry.set_state("UNAVAILABLE");
      entry.set_reason("unloaded");
      break;
    case ModelState::kFailed:
      entry.set_state("UNAVAILABLE");
      entry.set_reason(status.reason);
      break;
  }
  return entry;
}

}  // namespace hybrid::server::rpc
