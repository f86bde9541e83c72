#!/usr/bin/python3
"""Triton's model-management calls over a real hybridserve, made the way tritonclient makes them.

The stubs come from tests/interop/third_party/triton/*.proto — verbatim copies of Triton's published grpc_service.proto and
model_config.proto (not from hybridserve's own proto/third_party/inference), so a field number hybridserve got wrong shows up
as a wrong or missing value here. `TritonLikeClient` mirrors tritonclient.grpc's get_model_config,
get_inference_statistics, get_model_repository_index, load_model and unload_model: the same requests (names,
versions, `unload_dependents` always sent, no repository name) and, with as_json, the same
MessageToJson(preserving_proto_field_name=True) view tritonclient returns (int64 values as strings, defaults
left out). Forecasts to count come through hybrid.v1 Predict, whose stubs live in another proto package.

Usage: triton_interop_test.py BUILD_DIR SOURCE_DIR
"""
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest

import grpc
from google.protobuf.json_format import MessageToJson

BUILD, SOURCE = sys.argv[1], sys.argv[2]
HERE = os.path.dirname(os.path.abspath(__file__))
STUBS = tempfile.TemporaryDirectory()
subprocess.run(["protoc", f"--proto_path={HERE}/third_party/triton", f"--python_out={STUBS.name}", f"--grpc_out={STUBS.name}",
                "--plugin=protoc-gen-grpc=/usr/bin/grpc_python_plugin", f"{HERE}/third_party/triton/grpc_service.proto",
                f"{HERE}/third_party/triton/model_config.proto"], check=True)
sys.path[:0] = [STUBS.name, os.path.join(BUILD, "python"), os.path.join(SOURCE, "tests/python")]
del sys.argv[1:]

import grpc_service_pb2 as service_pb2  # noqa: E402
import grpc_service_pb2_grpc as service_pb2_grpc  # noqa: E402
from hybrid.v1 import hybrid_service_pb2 as pb  # noqa: E402
from hybrid.v1 import hybrid_service_pb2_grpc as pb_grpc  # noqa: E402
from hybrid.v1 import tensor_pb2  # noqa: E402
from hybridserve_process import Hybridserve  # noqa: E402

REPOSITORY = os.path.join(SOURCE, "deploy/model_repository")
HYBRIDSERVE = os.path.join(BUILD, "server/hybridserve")
SHIPPED = sorted(d for d in os.listdir(REPOSITORY) if os.path.exists(os.path.join(REPOSITORY, d, "config.pbtxt")))


class TritonLikeClient:
    """tritonclient.grpc.InferenceServerClient's repository calls, request for request."""

    def __init__(self, channel, token=None):
        self._stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()

    @staticmethod
    def _answer(response, as_json):
        return json.loads(MessageToJson(response, preserving_proto_field_name=True)) if as_json else response

    def get_model_config(self, model_name, model_version="", as_json=False):
        request = service_pb2.ModelConfigRequest(name=model_name, version=model_version)
        return self._answer(self._stub.ModelConfig(request, metadata=self._metadata), as_json)

    def get_inference_statistics(self, model_name="", model_version="", as_json=False):
        request = service_pb2.ModelStatisticsRequest(name=model_name, version=model_version)
        return self._answer(self._stub.ModelStatistics(request, metadata=self._metadata), as_json)

    def get_model_repository_index(self, as_json=False):
        return self._answer(self._stub.RepositoryIndex(service_pb2.RepositoryIndexRequest(),
                                                       metadata=self._metadata), as_json)

    def load_model(self, model_name, config=None):
        request = service_pb2.RepositoryModelLoadRequest(model_name=model_name)
        if config is not None:
            request.parameters["config"].string_param = config
        self._stub.RepositoryModelLoad(request, metadata=self._metadata)

    def unload_model(self, model_name, unload_dependents=False):
        request = service_pb2.RepositoryModelUnloadRequest(model_name=model_name)
        request.parameters["unload_dependents"].bool_param = unload_dependents
        self._stub.RepositoryModelUnload(request, metadata=self._metadata)


def predict_request(states, model="lorenz63", **fields):
    request = pb.PredictRequest(model=model, **fields)
    request.initial_state.CopyFrom(tensor_pb2.Tensor(shape=[len(states), 3], dtype=tensor_pb2.DTYPE_FLOAT64,
                                                     f64=[v for s in states for v in s]))
    request.output_times.times.extend([0.1, 0.2])
    return request


class TritonRepositoryCalls(unittest.TestCase):
    def setUp(self):
        self.server = Hybridserve(HYBRIDSERVE, REPOSITORY, "--load_models=lorenz63")
        self.channel = grpc.insecure_channel(self.server.target)
        self.client = TritonLikeClient(self.channel)

    def tearDown(self):
        self.channel.close()
        self.server.__exit__()

    def code_of(self, call, *args, **kwargs):
        with self.assertRaises(grpc.RpcError) as error:
            call(*args, **kwargs)
        return error.exception.code(), error.exception.details()

    def test_get_model_config(self):
        config = self.client.get_model_config("lorenz63", as_json=True)["config"]
        self.assertEqual(config["name"], "lorenz63")
        self.assertEqual(config["platform"], "hybridserve")
        self.assertEqual(config["version_policy"], {"latest": {"num_versions": 1}})
        self.assertNotIn("max_batch_size", config)  # 0: the batch is initial_state's own first dimension.
        self.assertEqual([(i["name"], i["data_type"], i["dims"]) for i in config["input"]],
                         [("initial_state", "TYPE_FP64", ["-1", "3"]), ("times", "TYPE_FP64", ["-1"])])
        self.assertEqual([(o["name"], o["dims"]) for o in config["output"]],
                         [(name, ["-1", "-1", "3"]) for name in ("mean", "std", "lower", "upper")])
        self.assertIn('name: "lorenz63"', config["parameters"]["hybrid_config"]["string_value"])
        self.assertEqual(config["parameters"]["ensemble_members"]["string_value"], "5")
        self.assertEqual(self.client.get_model_config("lorenz63", "0").config.name, "lorenz63")
        self.assertEqual(self.code_of(self.client.get_model_config, "lorenz63", "7")[0], grpc.StatusCode.NOT_FOUND)
        self.assertEqual(self.code_of(self.client.get_model_config, "lorenz96")[0], grpc.StatusCode.UNAVAILABLE)
        self.assertEqual(self.code_of(self.client.get_model_config, "nope")[0], grpc.StatusCode.NOT_FOUND)

    def test_get_inference_statistics(self):
        stub = pb_grpc.HybridServiceStub(self.channel)
        before = int(time.time() * 1000)
        for batch in (1, 2, 3):
            stub.Predict(predict_request([[1.0 + b, 1.0, 20.0] for b in range(batch)]))
        with self.assertRaises(grpc.RpcError):  # Fails inside the model: counted as a failure.
            stub.Predict(predict_request([[1.0, 1.0, 20.0]], ensemble_size=99))
        with self.assertRaises(grpc.RpcError):  # Never reaches a model: not lorenz63's to count.
            stub.Predict(predict_request([[1.0, 1.0, 20.0]], model="nope"))
        stats = self.client.get_inference_statistics("lorenz63").model_stats
        self.assertEqual(len(stats), 1)
        s = stats[0]
        self.assertEqual((s.name, s.version), ("lorenz63", "0"))
        self.assertEqual(s.execution_count, 3)
        self.assertEqual(s.inference_count, 1 + 2 + 3)
        self.assertEqual(s.inference_stats.success.count, 3)
        self.assertEqual(s.inference_stats.fail.count, 1)
        for phase in ("queue", "compute_input", "compute_infer", "compute_output"):
            self.assertEqual(getattr(s.inference_stats, phase).count, 3, phase)
        self.assertGreater(s.inference_stats.compute_infer.ns, 0)
        self.assertGreaterEqual(s.inference_stats.success.ns, s.inference_stats.compute_infer.ns)
        self.assertTrue(before <= s.last_inference <= int(time.time() * 1000) + 1, s.last_inference)
        as_json = self.client.get_inference_statistics("lorenz63", as_json=True)
        self.assertEqual(as_json["model_stats"][0]["inference_count"], "6")  # uint64 as a string, as tritonclient
        every = self.client.get_inference_statistics()
        self.assertEqual([m.name for m in every.model_stats], ["lorenz63"])  # The READY models.
        self.assertEqual(self.code_of(self.client.get_inference_statistics, "lorenz63", "abc")[0],
                         grpc.StatusCode.NOT_FOUND)

    def test_predicts_waiting_together_are_batched(self):
        # lorenz63 ships with dynamic_batching: requests that queue while its
        # two Predict threads are busy run as one forecast. Triton's statistics
        # tell: more inferences than executions. Each answer is still bit for
        # bit the one the same request gets alone.
        stub = pb_grpc.HybridServiceStub(self.channel)
        states = [[[1.0 + r + b, 1.0, 20.0] for b in range(4)] for r in range(48)]
        alone = [stub.Predict(predict_request(s)) for s in states[:3]]
        futures = [stub.Predict.future(predict_request(s)) for s in states]
        answers = [f.result(timeout=60) for f in futures]
        for got, want in zip(answers, alone):
            self.assertEqual(list(got.mean.f64), list(want.mean.f64))
            self.assertEqual([list(i.upper.f64) for i in got.intervals], [list(i.upper.f64) for i in want.intervals])
        self.assertNotEqual(list(answers[0].mean.f64), list(answers[1].mean.f64))
        s = self.client.get_inference_statistics("lorenz63").model_stats[0]
        self.assertEqual(s.inference_count, 4 * (3 + 48))
        self.assertEqual(s.inference_stats.success.count, 3 + 48)
        self.assertLess(s.execution_count, 3 + 48, "no request was merged into another's forecast")

    def test_repository_index_load_and_unload(self):
        def index():
            return {m["name"]: m for m in self.client.get_model_repository_index(as_json=True)["models"]}

        models = index()
        self.assertEqual(sorted(models), SHIPPED)
        self.assertEqual(models["lorenz63"], {"name": "lorenz63", "version": "0", "state": "READY"})
        self.assertEqual(models["lorenz96"], {"name": "lorenz96", "state": "UNAVAILABLE", "reason": "unloaded"})
        self.client.load_model("lorenz96")
        self.assertEqual(index()["lorenz96"]["state"], "READY")
        self.client.load_model("lorenz96")  # Already loaded: as Triton, not an error.
        self.assertEqual(self.client.get_model_config("lorenz96").config.input[0].dims, [-1, 40])
        self.client.unload_model("lorenz96")
        self.assertEqual(index()["lorenz96"]["state"], "UNAVAILABLE")
        self.client.unload_model("lorenz96")  # Already unloaded: as Triton, not an error.
        ready = self.client.get_model_repository_index()
        self.assertEqual(len(ready.models), len(SHIPPED))
        self.assertEqual(self.code_of(self.client.load_model, "nope")[0], grpc.StatusCode.NOT_FOUND)
        self.assertEqual(self.code_of(self.client.unload_model, "nope")[0], grpc.StatusCode.NOT_FOUND)
        code, details = self.code_of(self.client.load_model, "lorenz96", config='{"max_batch_size": 8}')
        self.assertEqual(code, grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("parameters['config']", details)
        code, details = self.code_of(self.client.load_model, "lorenz63\0x")
        self.assertEqual(code, grpc.StatusCode.INVALID_ARGUMENT)
        self.assertEqual(sorted(index()), SHIPPED, "a refused load adds no entry")


class TritonTokens(unittest.TestCase):
    def test_repository_control_needs_admin(self):
        tokens = ["dashboard read triton-interop-token-0001", "ops read,admin triton-interop-token-0002"]
        with Hybridserve(HYBRIDSERVE, REPOSITORY, "--load_models=lorenz63", tokens=tokens) as server, \
                grpc.insecure_channel(server.target) as channel:
            reader = TritonLikeClient(channel, "triton-interop-token-0001")
            self.assertEqual(reader.get_model_config("lorenz63").config.name, "lorenz63")
            self.assertEqual(len(reader.get_model_repository_index().models), len(SHIPPED))
            with self.assertRaises(grpc.RpcError) as error:
                reader.load_model("lorenz96")
            self.assertEqual(error.exception.code(), grpc.StatusCode.PERMISSION_DENIED)
            with self.assertRaises(grpc.RpcError) as error:
                TritonLikeClient(channel).get_model_config("lorenz63")
            self.assertEqual(error.exception.code(), grpc.StatusCode.UNAUTHENTICATED)
            TritonLikeClient(channel, "triton-interop-token-0002").load_model("lorenz96")


if __name__ == "__main__":
    unittest.main(verbosity=2)
