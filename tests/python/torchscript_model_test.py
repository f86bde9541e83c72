#!/usr/bin/python3
"""Models written in PyTorch, served: the worked examples of python/examples, exported with
python/hybridserve_model from Debian's python3-torch (the same 1.13.1 release as the server's LibTorch), checked
by the server's own load checks, served by a real hybridserve and calibrated over the wire.

- SIR (sir_model.py) with unknown β and γ (the config starts at 0.3 and 0.1) and a neural correction of the
  contact rate: `check` passes with exact gradients (autograd against finite differences, relative error
  < 1e-6 in float64); calibrated from windows of a stream simulated here with β = 0.5, γ = 0.2, both are
  recovered within 2%; its forecasts name the declared states and carry intervals.
- The same SIR tracks a region as an entity from its incidence βSI alone (an observable the module's observe
  computes) and forecasts it, the incidence a named column.
- Heat with advection the physics lacks (heat_model.py): the hybrid trains its convolutional closure online and
  forecasts held-out fields better than the same physics calibrated alone, from the same stream.
- A model whose physics answers another shape: `check` raises naming the file and the fault; served, it is FAILED
  while the others serve.

Usage: torchscript_model_test.py BUILD_DIR SOURCE_DIR
"""
import os
import re
import shutil
import sys
import tempfile
import unittest

import numpy as np
import torch

BUILD, SOURCE = sys.argv[1], sys.argv[2]
sys.path[:0] = [os.path.join(BUILD, "python"), os.path.join(SOURCE, "python/examples"), os.path.dirname(__file__)]
del sys.argv[1:3]

import heat_model  # noqa: E402
import hybridserve_model as hm  # noqa: E402
import sir_model  # noqa: E402
from hybridserve_client import HybridClient, Report  # noqa: E402
from hybridserve_process import Hybridserve  # noqa: E402

HYBRIDSERVE = os.path.join(BUILD, "server/hybridserve")
TRUE_BETA, TRUE_GAMMA = 0.5, 0.2
TRUE_KAPPA = 0.02  # m²/s; the truth also drifts (heat_model.truth), which the heat equation lacks.


class WrongShape(torch.nn.Module):
    def forward(self, t: torch.Tensor, x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        return x[:, :, 0:2]


class ModelsWrittenInPyTorch(unittest.TestCase):
    def setUp(self):
        self.repository = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.repository, ignore_errors=True)

    def export(self, model):
        return hm.export(model, os.path.join(self.repository, model.name))

    def test_sir_exported_from_python_checks_calibrates_and_forecasts(self):
        folder = self.export(sir_model.model())
        self.assertEqual(sorted(os.listdir(folder)), ["config.pbtxt", "correction.pt", "physics.pt"])
        report = hm.check(folder, server=HYBRIDSERVE)
        print(report)
        self.assertIn("model 'sir' passes every load check", report)
        worst = float(re.search(r"worst relative error (\S+)", report).group(1))
        self.assertLess(worst, 1e-6, report)

        broken = sir_model.model(name="broken", correction=False)
        broken.physics, broken.observables = WrongShape(), ()
        broken_folder = self.export(broken)
        with self.assertRaises(hm.ModelCheckError) as refused:
            hm.check(broken_folder, server=HYBRIDSERVE)
        self.assertIn("physics.pt", str(refused.exception))
        self.assertIn("answered shape [2, 2, 2] for states of shape [2, 2, 3]", str(refused.exception))

        with Hybridserve(HYBRIDSERVE, self.repository, "--load_models=sir,broken") as server, \
                HybridClient(server.target) as client:
            models = {m["name"]: m for m in client.models()}
            self.assertEqual(models["sir"]["state"], "READY", models["sir"])
            self.assertEqual(models["broken"]["state"], "FAILED")
            self.assertIn("answered shape [2, 2, 2]", models["broken"]["reason"])

            stream = sir_model.windows(600, np.random.default_rng(0), TRUE_BETA, TRUE_GAMMA)
            acknowledged = list(client.calibrate("sir", stream))
            self.assertTrue(all(a.ok for a in acknowledged[-100:]), acknowledged[-1])
            theta = client.parameters("sir")
            print(f"sir: beta {theta['beta'][0]:.6f} (true {TRUE_BETA}), gamma {theta['gamma'][0]:.6f} "
                  f"(true {TRUE_GAMMA}) after {len(acknowledged)} windows")
            self.assertLess(abs(theta["beta"][0] / TRUE_BETA - 1), 0.02, theta)
            self.assertLess(abs(theta["gamma"][0] / TRUE_GAMMA - 1), 0.02, theta)

            forecast = client.predict("sir", [0.95, 0.05, 0.0], times=[1.0, 5.0, 10.0], max_step=0.1)
            self.assertEqual(forecast.components, ["S", "I", "R"])
            lower, upper = forecast.intervals[0.9]
            self.assertTrue(np.all(lower <= forecast.mean) and np.all(forecast.mean <= upper))
            self.assertTrue(np.all(upper - lower > 0))
            truth = hm.simulate.rk4(sir_model.truth(TRUE_BETA, TRUE_GAMMA), np.array([0.95, 0.05, 0.0]), 0.1,
                                    100)
            np.testing.assert_allclose(forecast.mean[-1], truth, atol=0.02)

            # A region tracked as an entity from what surveillance reads: its incidence βSI, which the module's
            # observe computes; forecast from the region's estimate, the incidence is a column of its own.
            region, f = np.array([0.995, 0.005, 0.0]), sir_model.truth(TRUE_BETA, TRUE_GAMMA)
            reports = []
            for day in range(12):
                reports.append(Report("region-1", float(day), {"incidence": TRUE_BETA * region[0] * region[1]}))
                region = hm.simulate.rk4(f, region, 0.1, 10)
            self.assertTrue(all(o.ok for o in client.observe("sir", reports)))
            ahead = client.forecast("sir", "region-1", times=[2.0], max_step=0.1)
            self.assertEqual(ahead.components, ["S", "I", "R", "incidence"])
            future = hm.simulate.rk4(f, region, 0.1, 10)  # region is at day 12, the forecast's 2-day lead: day 13.
            expected = TRUE_BETA * future[0] * future[1]
            print(f"sir: region-1 incidence in 2 days {ahead.mean[0, 3]:.5f}/day "
                  f"[{ahead.intervals[0.9][0][0, 3]:.5f}, {ahead.intervals[0.9][1][0, 3]:.5f}], truth {expected:.5f}")
            self.assertLess(abs(ahead.mean[0, 3] / expected - 1), 0.1)

    def test_heat_closure_trains_online_and_beats_the_physics_alone(self):
        for model in (heat_model.model(), heat_model.model(name="heat_physics", correction=False)):
            hm.check(self.export(model), server=HYBRIDSERVE)
        stream = heat_model.windows(400, np.random.default_rng(1), TRUE_KAPPA)
        held_out = [heat_model.random_field(np.random.default_rng(100 + k)) for k in range(10)]
        truth = np.array([hm.simulate.rk4(heat_model.truth(TRUE_KAPPA), u, 0.01, 20) for u in held_out])
        with Hybridserve(HYBRIDSERVE, self.repository, "--load_models=heat,heat_physics") as server, \
                HybridClient(server.target) as client:
            errors = {}
            for name in ("heat", "heat_physics"):
                acknowledged = list(client.calibrate(name, stream))
                self.assertTrue(all(a.ok for a in acknowledged), acknowledged[-1])
                forecast = client.predict(name, np.array(held_out), times=[0.2], max_step=0.01)
                errors[name] = float(np.sqrt(np.mean((forecast.mean[0] - truth) ** 2)))  # [T, B, D]
                print(f"{name}: kappa {client.parameters(name)['kappa'][0]:.5f} (true {TRUE_KAPPA}), "
                      f"held-out RMSE at 0.2 s {errors[name]:.4f} K")
            ratio = errors["heat"] / errors["heat_physics"]
            print(f"heat: hybrid / physics-only held-out RMSE {ratio:.3f}")
            self.assertLess(ratio, 0.7)


if __name__ == "__main__":
    unittest.main(verbosity=2)
