#!/usr/bin/python3
"""The Python client package (python/hybridserve_client) against a real hybridserve.

Forecast arrays against the wire answer and the model's own consistency (a batch row equals the single-state
forecast, nested intervals); calibration as a generator (acks in order, a rejected observation answered in the
stream, ρ moving from 20 towards the truth of an independent numpy RK4 simulation, an early break ending the
stream on the server); RpcError codes; bearer tokens; and shard_of equal to `hybridctl shard` for many names.

Usage: client_test.py BUILD_DIR SOURCE_DIR   (BUILD_DIR/python must hold the generated package)
"""
import os
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

import numpy as np

BUILD, SOURCE = sys.argv[1], sys.argv[2]
sys.path[:0] = [os.path.join(BUILD, "python"), os.path.dirname(__file__)]
del sys.argv[1:]

from hybridserve_client import HybridClient, Observation, RpcError, shard_of  # noqa: E402
from hybridserve_process import Hybridserve  # noqa: E402

REPOSITORY = os.path.join(SOURCE, "deploy/model_repository")
HYBRIDSERVE = os.path.join(BUILD, "server/hybridserve")


def lorenz63(x, rho=28.0):
    return np.array([10.0 * (x[1] - x[0]), x[0] * (rho - x[2]) - x[1], x[0] * x[1] - 8.0 / 3.0 * x[2]])


def rk4(x, steps, h=0.01):
    for _ in range(steps):
        k1 = lorenz63(x)
        k2 = lorenz63(x + h / 2 * k1)
        k3 = lorenz63(x + h / 2 * k2)
        k4 = lorenz63(x + h * k3)
        x = x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return x


def windows(count, start=(1.0, 1.0, 20.0)):
    x = rk4(np.array(start), 500)
    for _ in range(count):
        starts, ends = [], []
        for _ in range(4):
            end = rk4(x, 10)
            starts.append(x)
            ends.append(end)
            x = rk4(end, 7)
        yield Observation(np.array(starts), np.array(ends), 0.01, 10)


class ClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Hybridserve(HYBRIDSERVE, REPOSITORY, "--load_models=lorenz63")
        cls.client = HybridClient(cls.server.target, timeout=30)

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        cls.server.__exit__()

    def test_models(self):
        states = {m["name"]: m["state"] for m in self.client.models()}
        self.assertEqual(states, {"lorenz63": "READY", "lorenz96": "UNLOADED", "pkpd": "UNLOADED",
                                  "fitzhugh_nagumo": "UNLOADED"})

    def test_predict_arrays(self):
        x0 = np.array([1.0, 2.0, 20.0])
        times = [0.1, 0.25, 0.5]
        single = self.client.predict("lorenz63", x0, times=times, levels=[0.5, 0.9])
        self.assertEqual(single.mean.shape, (3, 3))
        self.assertEqual(single.std.shape, (3, 3))
        np.testing.assert_allclose(single.times, times)
        inner_lo, inner_hi = single.intervals[0.5]
        outer_lo, outer_hi = single.intervals[0.9]
        self.assertTrue(np.all(outer_lo <= inner_lo) and np.all(inner_lo <= single.mean))
        self.assertTrue(np.all(single.mean <= inner_hi) and np.all(inner_hi <= outer_hi))
        self.assertTrue(np.all(single.std > 0))
        # A batch [B, D] gives [T, B, D], row b the forecast from state b alone — with draws of its
        # own (starts around the state, model-error forcing), so equal within sampling error: 40 samples
        # per mean, two independent means differ by √2·std/√40 ≈ 0.22 std, and 4 of those is allowed.
        batch = np.array([x0, [-3.0, -1.0, 25.0]])
        both = self.client.predict("lorenz63", batch, times=times)
        self.assertEqual(both.mean.shape, (3, 2, 3))
        self.assertTrue(np.all(np.abs(both.mean[:, 0] - single.mean) <= 0.9 * single.std))
        second = self.client.predict("lorenz63", batch[1], horizon=0.5, step=0.25)
        np.testing.assert_allclose(second.times, [0.25, 0.5])
        self.assertTrue(np.all(np.abs(both.mean[1:, 1] - second.mean) <= 0.9 * second.std))
        # Asked again, the same version answers the same draws.
        np.testing.assert_array_equal(self.client.predict("lorenz63", batch, times=times).mean, both.mean)
        self.assertEqual(self.client.predict("lorenz63", x0, times=times, ensemble_size=2).ensemble_size, 2)

    def test_errors_name_the_field(self):
        with self.assertRaises(RpcError) as error:
            self.client.predict("nope", [1.0, 2.0, 3.0], times=[0.1])
        self.assertEqual(error.exception.code, "NOT_FOUND")
        with self.assertRaises(RpcError) as error:
            self.client.predict("lorenz63", [1.0, 2.0], times=[0.1])
        self.assertEqual(error.exception.code, "INVALID_ARGUMENT")
        self.assertIn("initial_state", error.exception.message)
        with self.assertRaises(ValueError):
            self.client.predict("lorenz63", [1.0, 2.0, 3.0])

    def test_calibrate_generator(self):
        rho_before = self.client.parameters("lorenz63")["rho"][0]
        observations = list(windows(30))
        observations.insert(10, Observation([[1.0, 2.0, float("nan")]], [[1.0, 2.0, 3.0]], 0.01, 10))
        acks = list(self.client.calibrate("lorenz63", observations))
        self.assertEqual([a.sequence for a in acks], list(range(1, 32)))
        rejected = [a for a in acks if not a.ok]
        self.assertEqual([a.sequence for a in rejected], [11])
        self.assertEqual(rejected[0].code, 3)  # INVALID_ARGUMENT, answered in the stream
        self.assertIn("start_state", rejected[0].message)
        versions = [a.version for a in acks if a.ok]
        self.assertEqual(versions, sorted(versions))
        rho_after = acks[-1].parameters["rho"][0]
        self.assertGreater(rho_after, rho_before + 1.0)  # 20 → towards the true 28
        self.assertAlmostEqual(self.client.parameters("lorenz63")["rho"][0], rho_after, places=12)

    def test_shard_of_matches_hybridctl(self):
        names = ["lorenz63", "lorenz96", "pkpd", "fitzhugh_nagumo", "", "ünïcode-model"] + \
                [f"site-{i}" for i in range(40)]
        for shards in (1, 2, 3, 7):
            expected = [int(subprocess.run([os.path.join(BUILD, "client/hybridctl"), "shard", name,
                                            f"--shards={shards}"], capture_output=True, text=True,
                                           check=True).stdout) for name in names[:12]]
            self.assertEqual([shard_of(n, shards) for n in names[:12]], expected, shards)
            owners = [shard_of(n, shards) for n in names]
            self.assertTrue(all(0 <= o < shards for o in owners))


class CancelTest(unittest.TestCase):
    # Its own server: the stream calibrates for as long as the cancel takes to arrive, which moves ρ by an
    # unknown amount, and ClientTest's calibration must start from the repository's ρ = 20.
    def test_breaking_out_of_calibrate_ends_the_stream(self):
        with Hybridserve(HYBRIDSERVE, REPOSITORY, "--load_models=lorenz63") as server, \
                HybridClient(server.target, timeout=30) as client:
            for ack in client.calibrate("lorenz63", windows(1000)):
                if ack.sequence == 3:
                    break
            metrics = ""
            for _ in range(50):  # The server notices the cancel within moments.
                metrics = urllib.request.urlopen(f"http://127.0.0.1:{server.metrics_port}/metrics").read().decode()
                if 'hybrid_calibrate_streams{model="lorenz63"} 0' in metrics:
                    break
                time.sleep(0.1)
            self.assertIn('hybrid_calibrate_streams{model="lorenz63"} 0', metrics)


class TokenTest(unittest.TestCase):
    def test_token_is_sent_on_every_call(self):
        tokens = ["gateway read,calibrate python-client-test-token-0001"]
        with Hybridserve(HYBRIDSERVE, REPOSITORY, "--load_models=lorenz63", tokens=tokens) as server:
            with HybridClient(server.target) as anonymous, \
                    HybridClient(server.target, token="python-client-test-token-0001") as gateway:
                with self.assertRaises(RpcError) as error:
                    anonymous.models()
                self.assertEqual(error.exception.code, "UNAUTHENTICATED")
                self.assertEqual(len(gateway.models()), 4)
                acks = list(gateway.calibrate("lorenz63", windows(2)))
                self.assertTrue(all(a.ok for a in acks))


class ExampleTest(unittest.TestCase):
    def test_the_example_script_calibrates_rho_and_plots(self):
        folder = tempfile.TemporaryDirectory()
        plot = os.path.join(folder.name, "forecast.png")
        with Hybridserve(HYBRIDSERVE, REPOSITORY, "--load_models=lorenz63") as server:
            run = subprocess.run([sys.executable, os.path.join(SOURCE, "python/examples/forecast_and_calibrate.py"),
                                  f"--target={server.target}", "--observations=200", f"--plot={plot}"],
                                 capture_output=True, text=True, env={**os.environ, "PYTHONPATH": os.path.join(
                                     BUILD, "python")}, check=False)
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)  # exits 1 unless ρ ends within 5% of 28
        self.assertIn("rho after 200 observations", run.stdout)
        self.assertGreater(os.path.getsize(plot), 10000)
        folder.cleanup()


if __name__ == "__main__":
    unittest.main(verbosity=2)
