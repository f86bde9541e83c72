#!/usr/bin/python3
"""Entities over the wire: a real hybridserve, clients from the Python stubs of the published protocol.

- Observe / GetEntity / ListEntities / DeleteEntity / Predict by entity: outcomes per report, names and units of
  the columns, the entity's clock as the forecast's start, pages in name order, NOT_FOUND for unknown entities.
- Bad input is INVALID_ARGUMENT naming the field (unknown observable or input, negative noise std, non-finite
  values, a bad entity name, initial_state with entity) and changes nothing; time going backwards is refused per
  report; roles: Observe and DeleteEntity need calibrate, reads need read.
- Durability: a server killed with SIGKILL mid-stream (θ estimated with the state, so the model moves too) and
  restarted on its state folder has every acknowledged report, and its entity ensembles and parameters equal,
  bit for bit, those of a server fed exactly the reports it logged (its checkpoints' entity files a chain of
  deltas on a base).

Usage: entities_test.py BUILD_DIR SOURCE_DIR   (BUILD_DIR/python must hold the generated package)
"""
import os
import sys
import tempfile
import threading
import unittest

import numpy as np

BUILD, SOURCE = sys.argv[1], sys.argv[2]
sys.path[:0] = [os.path.join(BUILD, "python"), os.path.dirname(__file__)]
del sys.argv[1:3]  # the rest: unittest selections

from hybrid.v1 import hybrid_service_pb2 as pb  # noqa: E402
from hybrid.v1 import tensor_pb2  # noqa: E402
from hybridserve_client import HybridClient, Report, RpcError  # noqa: E402
from hybridserve_process import Hybridserve  # noqa: E402

HYBRIDSERVE = os.path.join(BUILD, "server/hybridserve")
CONFIG = """name: "tracker"
physics: PHYSICS_KIND_LORENZ63
parameters { name: "rho" initial: 24 trainable: true }
correction { composition: COMPOSITION_PHYSICS_ONLY }
ensemble_members: 12
member_jitter: 0.05
seed: 3
uncertainty { observation_noise_std: 1 }
observables { name: "xy" unit: "1" terms { component: "x" weight: 0.5 } terms { component: "y" weight: 0.5 } noise_std: 1 }
inputs { name: "kick" component: "z" }
entities { prior_mean: [0, 0, 25] prior_std: [6, 7, 6] inflation: 1.02 estimate_parameters: true }
durability { checkpoint_every: 17 }
"""


def repository(config=CONFIG):
    folder = tempfile.mkdtemp()
    os.makedirs(os.path.join(folder, "tracker"))
    with open(os.path.join(folder, "tracker", "config.pbtxt"), "w") as f:
        f.write(config)
    return folder


def reports(count, entities=("a", "b")):
    """Readings of x (own noise) and of the config's observable, for each entity, 0.05 apart."""
    rng = np.random.default_rng(1)
    out = []
    for k in range(count):
        name = entities[k % len(entities)]
        out.append(Report(name, 0.05 * (k // len(entities)),
                          {"x": (float(rng.normal(3, 2)), 0.8), "xy": float(rng.normal(3, 2))},
                          {"kick": 0.5} if k % 7 == 3 else {}))
    return out


class EntitiesOverTheWire(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.repository = repository()
        cls.server = Hybridserve(HYBRIDSERVE, cls.repository, "--load_models=tracker",
                                 tokens=["ops admin,calibrate,read admin-token-0123456789", "sensor calibrate sensor-token-0123456789",
                                         "viewer read viewer-token-0123456789"])
        cls.client = HybridClient(cls.server.target, token="admin-token-0123456789")

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        cls.server.stop()

    def test_observe_get_list_predict_delete(self):
        outcomes = self.client.observe("tracker", reports(6, ("p-1", "p-2", "p-3")))
        self.assertTrue(all(o.ok for o in outcomes), [o.message for o in outcomes])
        self.assertTrue(outcomes[0].created and not outcomes[3].created)
        self.assertIsNone(outcomes[0].crps)
        self.assertGreater(outcomes[3].crps, 0.0)
        self.assertAlmostEqual(outcomes[3].lead, 0.05)
        entity = self.client.entity("tracker", "p-1")
        self.assertEqual(entity.components, ["x", "y", "z"])
        self.assertEqual(entity.ensemble.shape, (12, 3))
        np.testing.assert_allclose(entity.mean, entity.ensemble.mean(0), rtol=1e-12, atol=1e-12)
        self.assertEqual((entity.time, entity.reports), (0.05, 2))
        forecast = self.client.forecast("tracker", "p-1", [0.1, 0.2], levels=(0.5, 0.9))
        # The state's columns, then the config's observable, read from every sample.
        self.assertEqual(forecast.components, ["x", "y", "z", "xy"])
        self.assertEqual(forecast.start_time, 0.05)
        self.assertEqual(forecast.mean.shape, (2, 4))
        np.testing.assert_allclose(forecast.mean[:, 3], 0.5 * (forecast.mean[:, 0] + forecast.mean[:, 1]), atol=1e-12)
        low50, high50 = forecast.intervals[0.5]
        low90, high90 = forecast.intervals[0.9]
        self.assertTrue(np.all(low90 <= low50) and np.all(high50 <= high90))
        names = [e[0] for e in self.client.entities("tracker")]
        self.assertEqual([n for n in names if n.startswith("p-")], ["p-1", "p-2", "p-3"])
        # GetModel tells the entity count and the online skill by lead bucket (leads 0.05: the 0.1 bucket).
        info = self.client._call(self.client._stub.GetModel, pb.GetModelRequest(model="tracker"))
        self.assertEqual(info.entities, len(names))
        skill = {s["lead_le"]: s for s in self.client.online_skill("tracker")}
        self.assertGreaterEqual(skill["0.1"]["reports"], 3)
        self.assertGreater(skill["0.1"]["crps"], 0.0)
        self.assertTrue(0.0 <= skill["0.1"]["coverage"] <= 1.0)
        self.client.delete_entity("tracker", "p-2")
        with self.assertRaises(RpcError) as e:
            self.client.entity("tracker", "p-2")
        self.assertEqual(e.exception.code, "NOT_FOUND")
        with self.assertRaises(RpcError) as e:
            self.client.forecast("tracker", "p-2", [0.1])
        self.assertEqual(e.exception.code, "NOT_FOUND")
        with self.assertRaises(RpcError) as e:
            self.client.delete_entity("tracker", "p-2")
        self.assertEqual(e.exception.code, "NOT_FOUND")

    def test_pages_of_entities(self):
        self.client.observe("tracker", [Report(f"page-{i:03d}", 0.0, {"x": 1.0}) for i in range(25)])
        request = pb.ListEntitiesRequest(model="tracker", start_after="page-", page_size=10)
        page = self.client._call(self.client._stub.ListEntities, request)
        self.assertEqual([e.entity for e in page.entities], [f"page-{i:03d}" for i in range(10)])
        self.assertEqual(page.next_start_after, "page-009")
        self.assertGreaterEqual(page.total, 25)
        with self.assertRaises(RpcError) as e:
            self.client._call(self.client._stub.ListEntities, pb.ListEntitiesRequest(model="tracker", page_size=10001))
        self.assertEqual(e.exception.code, "INVALID_ARGUMENT")

    def test_bad_input_names_the_field_and_changes_nothing(self):
        self.client.observe("tracker", [Report("bad-1", 1.0, {"x": 1.0})])
        before = self.client.entity("tracker", "bad-1")
        cases = {
            "reports[0].readings[0].observable 'w'": [Report("bad-1", 2.0, {"w": 1.0})],
            "reports[0].readings[0].noise_std": [Report("bad-1", 2.0, {"x": (1.0, -1.0)})],
            "reports[0].readings[0].value": [Report("bad-1", 2.0, {"x": float("nan")})],
            "reports[0].inputs[0].input 'dose'": [Report("bad-1", 2.0, {}, {"dose": 1.0})],
            "reports[1].inputs[0].value": [Report("bad-1", 2.0, {"x": 1.0}), Report("bad-1", 3.0, {},
                                                                                   {"kick": float("inf")})],
            "reports[0].entity": [Report("bad/1", 2.0, {"x": 1.0})],
            "reports[0].time": [Report("bad-1", float("inf"), {"x": 1.0})],
        }
        for field, batch in cases.items():
            with self.assertRaises(RpcError, msg=field) as e:
                self.client.observe("tracker", batch)
            self.assertEqual(e.exception.code, "INVALID_ARGUMENT", field)
            self.assertIn(field, e.exception.message)
        backwards = self.client.observe("tracker", [Report("bad-1", 0.5, {"x": 1.0})])[0]
        self.assertFalse(backwards.ok)
        self.assertEqual(backwards.code, 3)  # INVALID_ARGUMENT
        self.assertIn("reports[0].time 0.5 is before entity 'bad-1''s clock 1", backwards.message)
        after = self.client.entity("tracker", "bad-1")
        np.testing.assert_array_equal(before.ensemble, after.ensemble)
        self.assertEqual(after.reports, 1)
        request = pb.PredictRequest(model="tracker", entity="bad-1")
        request.initial_state.shape.append(3)
        request.initial_state.dtype = tensor_pb2.DTYPE_FLOAT64
        request.initial_state.f64.extend([0, 0, 0])
        request.output_times.times.append(0.1)
        with self.assertRaises(RpcError) as e:
            self.client._call(self.client._stub.Predict, request)
        self.assertIn("initial_state must be unset when entity is set", e.exception.message)

    def test_a_redelivered_report_is_acknowledged_and_not_applied_again(self):
        batch = [Report("dup-1", 1.0, {"x": 1.0}), Report("dup-1", 1.0, {"x": 1.5}, {"kick": 2.0}),
                 Report("dup-1", 1.2, {"xy": 0.5})]
        first = self.client.observe("tracker", batch)
        self.assertEqual([(o.ok, o.duplicate) for o in first], [(True, False)] * 3)
        applied = self.client.entity("tracker", "dup-1")
        # The whole batch again (an Observe whose answer was lost), then one report differing in one bit.
        again = self.client.observe("tracker", batch)
        self.assertEqual([(o.ok, o.duplicate, o.entity_reports) for o in again], [(True, True, 3)] * 3)
        np.testing.assert_array_equal(self.client.entity("tracker", "dup-1").ensemble, applied.ensemble)
        other = self.client.observe("tracker", [Report("dup-1", 1.2, {"xy": np.nextafter(0.5, 1)})])[0]
        self.assertEqual((other.ok, other.duplicate, other.entity_reports), (True, False, 4))
        self.assertFalse(np.array_equal(self.client.entity("tracker", "dup-1").ensemble, applied.ensemble))

    def test_roles(self):
        with HybridClient(self.server.target, token="viewer-token-0123456789") as viewer:
            with self.assertRaises(RpcError) as e:
                viewer.observe("tracker", [Report("role-1", 0.0, {"x": 1.0})])
            self.assertEqual(e.exception.code, "PERMISSION_DENIED")
        with HybridClient(self.server.target, token="sensor-token-0123456789") as sensor:
            self.assertTrue(sensor.observe("tracker", [Report("role-1", 0.0, {"x": 1.0})])[0].ok)
            with self.assertRaises(RpcError) as e:
                sensor.entity("tracker", "role-1")
            self.assertEqual(e.exception.code, "PERMISSION_DENIED")
        with HybridClient(self.server.target, token="viewer-token-0123456789") as viewer:
            self.assertEqual(viewer.entity("tracker", "role-1").reports, 1)
            with self.assertRaises(RpcError) as e:
                viewer.delete_entity("tracker", "role-1")
            self.assertEqual(e.exception.code, "PERMISSION_DENIED")


class EntitiesSurviveSigkill(unittest.TestCase):
    def test_every_acknowledged_report_and_bit_for_bit_state(self):
        folder = repository()
        # Six entities that report once, then two that keep reporting: checkpoints (every 17 records) write
        # deltas of a and b on a base of all eight, so the restart resolves a chain of entity files.
        idle = ("c", "d", "e", "f", "g", "h")
        stream = reports(len(idle), entities=idle) + reports(400)
        acknowledged = []
        server = Hybridserve(HYBRIDSERVE, folder, "--load_models=tracker")
        state = server.state_dir
        client = HybridClient(server.target)

        def send():
            try:
                for report in stream:
                    if client.observe("tracker", [report])[0].ok:
                        acknowledged.append(report)
            except RpcError:
                pass  # The server is gone.
        sender = threading.Thread(target=send)
        sender.start()
        while len(acknowledged) < 150 and sender.is_alive():
            threading.Event().wait(0.01)
        self.assertGreaterEqual(len(acknowledged), 150, server.output())
        server.kill()
        sender.join()
        client.close()

        restarted = Hybridserve(HYBRIDSERVE, folder, "--load_models=tracker", state_dir=state)
        reference = Hybridserve(HYBRIDSERVE, repository(CONFIG.replace("checkpoint_every: 17", "disabled: true")),
                                "--load_models=tracker")
        with restarted, reference, HybridClient(restarted.target) as after, HybridClient(reference.target) as fresh:
            logged = sum(e[2] for e in after.entities("tracker"))
            # Every acknowledged report was logged; at most the one in flight besides.
            self.assertIn(logged - len(acknowledged), (0, 1))
            for report in stream[:logged]:
                self.assertTrue(fresh.observe("tracker", [report])[0].ok)
            for name in ("a", "b") + idle:
                np.testing.assert_array_equal(after.entity("tracker", name).ensemble,
                                              fresh.entity("tracker", name).ensemble)
            self.assertEqual(after.parameters("tracker"), fresh.parameters("tracker"))
            # And they go on alike.
            for report in stream[logged:logged + 20]:
                self.assertEqual(after.observe("tracker", [report])[0].ok, fresh.observe("tracker", [report])[0].ok)
            np.testing.assert_array_equal(after.entity("tracker", "a").ensemble, fresh.entity("tracker", "a").ensemble)


if __name__ == "__main__":
    unittest.main(verbosity=2)
