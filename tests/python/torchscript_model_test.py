#!/usr/bin/python3
"""Physics written in PyTorch, served: a module scripted with Debian's python3-torch (torch.jit.script, saved with
torch.jit.save; the same 1.13.1 release as the server's LibTorch) loads in a real hybridserve as it is.

- SIR with unknown β and γ (the config starts at 0.3 and 0.1): calibrated over the wire with Calibrate windows of a
  stream simulated here with β = 0.5, γ = 0.2, both recovered within 2%; its forecasts name the config's components
  and carry intervals.
- A second model whose module answers another shape is FAILED, its reason naming the file and the fault, while
  the SIR model serves.

Usage: torchscript_model_test.py BUILD_DIR SOURCE_DIR
"""
import os
import shutil
import sys
import tempfile
import unittest

import numpy as np
import torch

BUILD, SOURCE = sys.argv[1], sys.argv[2]
sys.path[:0] = [os.path.join(BUILD, "python"), os.path.dirname(__file__)]
del sys.argv[1:3]

from hybridserve_client import HybridClient  # noqa: E402
from hybridserve_process import Hybridserve  # noqa: E402

HYBRIDSERVE = os.path.join(BUILD, "server/hybridserve")
TRUE_BETA, TRUE_GAMMA = 0.5, 0.2


class Sir(torch.nn.Module):
    """dS/dt = −βSI, dI/dt = βSI − γI, dR/dt = γI on fractions; x [M, B, 3], theta [M, 2] = (β, γ)."""

    def forward(self, t: torch.Tensor, x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        beta = theta[:, 0:1]
        gamma = theta[:, 1:2]
        s, i = x[:, :, 0], x[:, :, 1]
        infection = beta * s * i
        recovery = gamma * i
        return torch.stack([-infection, infection - recovery, recovery], 2)


class WrongShape(torch.nn.Module):
    def forward(self, t: torch.Tensor, x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        return x[:, :, 0:2]


SIR_CONFIG = """name: "sir"
physics: PHYSICS_KIND_TORCHSCRIPT
torchscript {
  file: "sir.pt"
  components { name: "S" non_negative: true }
  components { name: "I" non_negative: true }
  components { name: "R" non_negative: true }
  parameters { name: "beta" unit: "1/day" default_value: 0.3 lower: 0.01 upper: 5 description: "contact rate" }
  parameters { name: "gamma" unit: "1/day" default_value: 0.1 lower: 0.01 upper: 5 description: "recovery rate" }
}
parameters { name: "beta" initial: 0.3 trainable: true }
parameters { name: "gamma" initial: 0.1 trainable: true }
correction { composition: COMPOSITION_PHYSICS_ONLY }
ensemble_members: 4
seed: 2
calibration { learning_rate_theta: 0.05 lr_decay: 0.7 lr_decay_every: 100 }
"""


def rk4(x, h, steps):
    """The truth, integrated as the server integrates (fixed RK4)."""
    def f(x):
        s, i = x[0], x[1]
        return np.array([-TRUE_BETA * s * i, TRUE_BETA * s * i - TRUE_GAMMA * i, TRUE_GAMMA * i])
    for _ in range(steps):
        k1 = f(x); k2 = f(x + h / 2 * k1); k3 = f(x + h / 2 * k2); k4 = f(x + h * k3)
        x = x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return x


def windows(count, rng):
    """Windows of 1 day (10 RK4 steps) along outbreaks that start at random."""
    out = []
    while len(out) < count:
        i0 = rng.uniform(0.01, 0.2)
        x = np.array([1.0 - i0, i0, 0.0])
        for _ in range(20):
            end = rk4(x, 0.1, 10)
            out.append((x.tolist(), end.tolist(), 0.1, 10))
            x = end
    return out[:count]


class TorchScriptModelOverTheWire(unittest.TestCase):
    def test_sir_from_python_calibrates_and_a_broken_module_fails_alone(self):
        repository = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, repository, ignore_errors=True)
        for name, module, config in (("sir", Sir(), SIR_CONFIG),
                                     ("broken", WrongShape(), SIR_CONFIG.replace('"sir"', '"broken"')
                                      .replace("sir.pt", "broken.pt"))):
            os.makedirs(os.path.join(repository, name))
            torch.jit.save(torch.jit.script(module), os.path.join(repository, name, f"{name}.pt"))
            with open(os.path.join(repository, name, "config.pbtxt"), "w") as f:
                f.write(config)
        with Hybridserve(HYBRIDSERVE, repository, "--load_models=sir,broken") as server, \
                HybridClient(server.target) as client:
            models = {m["name"]: m for m in client.models()}
            self.assertEqual(models["sir"]["state"], "READY", models["sir"])
            self.assertEqual(models["broken"]["state"], "FAILED")
            reason = models["broken"]["reason"]
            self.assertIn("broken.pt", reason)
            self.assertIn("answered shape [2, 2, 2] for states of shape [2, 2, 3]", reason)

            acknowledged = list(client.calibrate("sir", windows(600, np.random.default_rng(0))))
            self.assertTrue(all(a.ok for a in acknowledged[-100:]), acknowledged[-1])
            theta = client.parameters("sir")
            self.assertLess(abs(theta["beta"][0] / TRUE_BETA - 1), 0.02, theta)
            self.assertLess(abs(theta["gamma"][0] / TRUE_GAMMA - 1), 0.02, theta)

            forecast = client.predict("sir", [0.95, 0.05, 0.0], times=[1.0, 5.0, 10.0], max_step=0.1)
            self.assertEqual(forecast.components, ["S", "I", "R"])
            lower, upper = forecast.intervals[0.9]
            self.assertTrue(np.all(lower <= forecast.mean) and np.all(forecast.mean <= upper))
            truth = rk4(np.array([0.95, 0.05, 0.0]), 0.1, 100)
            np.testing.assert_allclose(forecast.mean[-1], truth, atol=0.02)


if __name__ == "__main__":
    unittest.main(verbosity=2)
