#include "server/rpc/inference_codec.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace hybrid::server::rpc {
namespace {

constexpr const char* kOutputs[] = {"mean", "std", "lower", "upper"};

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
  int64_t count = 1;
  for (int64_t d : input.shape()) {
    if (d < 0) return absl::InvalidArgumentError(absl::StrCat(where, ": shape has a negative dimension"));
    count *= d;
  }
  v1::Tensor tensor;
  tensor.mutable_shape()->CopyFrom(input.shape());
  tensor.set_dtype(f64 ? v1::DTYPE_FLOAT64 : v1::DTYPE_FLOAT32);
  if (raw != nullptr) {
    if (input.has_contents()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": contents and raw_input_contents must not both be given"));
    }
    const size_t element = f64 ? sizeof(double) : sizeof(float);
    if (raw->size() != static_cast<size_t>(count) * element) {
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

absl::Status DecodeParameters(const inference::ModelInferRequest& request, v1::PredictRequest& predict) {
  double level = 0.9;
  for (const auto& [name, value] : request.parameters()) {
    const std::string where = absl::StrCat("parameters['", name, "']");
    if (name == "interval_level" || name == "max_step") {
      double number = 0.0;
      if (value.parameter_choice_case() != inference::InferParameter::kStringParam ||
          !absl::SimpleAtod(value.string_param(), &number)) {
        return absl::InvalidArgumentError(absl::StrCat(where, " must be a string_param holding a number"));
      }
      if (name == "interval_level") {
        level = number;  // Range checked with Predict's own rules.
      } else {
        predict.set_max_step(number);
      }
    } else if (name == "ensemble_size") {
      if (value.parameter_choice_case() != inference::InferParameter::kInt64Param) {
        return absl::InvalidArgumentError(absl::StrCat(where, " must be an int64_param"));
      }
      if (value.int64_param() < 0 || value.int64_param() > (1 << 20)) {
        return absl::InvalidArgumentError(absl::StrCat(where, " must be in [0, 2^20]"));
      }
      predict.set_ensemble_size(static_cast<int32_t>(value.int64_param()));
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat(where, " is not known (known: interval_level, ensemble_size, max_step)"));
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
  if (request.model_name().empty()) return absl::InvalidArgumentError("model_name must be set");
  call.predict.set_model(request.model_name());
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
    } else if (input.name() == "times" && !has_times) {
      if (tensor->shape_size() != 1) return absl::InvalidArgumentError(absl::StrCat(where, ": shape must be [T]"));
      for (double t : tensor->f64()) call.predict.mutable_output_times()->add_times(t);
      for (float t : tensor->f32()) call.predict.mutable_output_times()->add_times(t);
      has_times = true;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": unknown or repeated input (inputs are initial_state and times)"));
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

inference::ModelMetadataResponse ModelMetadataFor(const std::string& name, uint64_t version, int64_t state_dim) {
  inference::ModelMetadataResponse metadata;
  metadata.set_name(name);
  metadata.add_versions(absl::StrCat(version));
  metadata.set_platform("hybridserve");
  auto add = [](auto* list, const char* tensor, std::vector<int64_t> shape) {
    auto* t = list->Add();
    t->set_name(tensor);
    t->set_datatype("FP64");
    for (int64_t d : shape) t->add_shape(d);
  };
  // -1: any size. A batch of states [B, D] is also accepted, giving [T, B, D] outputs.
  add(metadata.mutable_inputs(), "initial_state", {state_dim});
  add(metadata.mutable_inputs(), "times", {-1});
  for (const char* output : kOutputs) add(metadata.mutable_outputs(), output, {-1, state_dim});
  return metadata;
}

}  // namespace hybrid::server::rpc
