#!/usr/bin/python3
"""Entity throughput and latency of a real hybridserve (issue 18's performance figures), each with the baseline it
is measured against in the same run.

The served model is the Lorenz-96 filter of experiments/state_estimation.py (D = 40, M = 24, one RK4 step of 0.05
between reports, every site read), durable as shipped (the write-ahead log fsyncs every report).
1. One report for one entity per Observe call, one call at a time: the latency of assimilating one observation.
2. Observations/s with 1, 100 and 10 000 entities, 100 reports per call (one per entity, round robin) — ratios
   against the 1-entity rate, which says what snapshot publication, the entity table and checkpoints cost as they
   grow — and the bytes the server writes to files per report (/proc/PID/io wchar: the log and checkpoints, which
   write entities incrementally).
3. Predict of one entity (24 members from its analysis ensemble, 10 lead times) against Predict of one given
   state (the same model, times and members).

Usage: entities_benchmark.py --build BUILD_DIR [--smoke]   (prints a table and writes BUILD_DIR/entities_benchmark.json)
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
import time

import numpy as np

ARGS = argparse.ArgumentParser()
ARGS.add_argument("--build", required=True)
ARGS.add_argument("--smoke", action="store_true")
OPTIONS = ARGS.parse_args()
SOURCE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(OPTIONS.build, "python"), os.path.join(SOURCE, "tests/python")]

from hybridserve_client import HybridClient, Report  # noqa: E402
from hybridserve_process import Hybridserve  # noqa: E402

CONFIG = """name: "l96"
physics: PHYSICS_KIND_LORENZ96
structure { key: "n" value: 40 }
correction { composition: COMPOSITION_PHYSICS_ONLY }
ensemble_members: 24
seed: 1
uncertainty { observation_noise_std: 1 }
entities { prior_mean: 2.3 prior_std: 3.6 inflation: 1.02 max_step: 0.05 random_rotation: true max_entities: 20000 }
"""
NAMES = [f"x{i}" for i in range(40)]
SCALE = 0.1 if OPTIONS.smoke else 1.0


def readings(rng):
    return dict(zip(NAMES, (2.3 + 3.6 * rng.standard_normal(40)).tolist()))


def written(pid):
    """Bytes the process has written with write() so far: files (gRPC sends with sendmsg, not counted)."""
    with open(f"/proc/{pid}/io") as f:
        return int(next(line for line in f if line.startswith("wchar:")).split()[1])


def rate(client, entities, rounds, rng, pid, batch=100):
    """Observations/s and bytes written per report over `rounds` reports of each of `entities`, after one creating
    round."""
    clock = {e: 0.0 for e in entities}
    def send(count):
        sent = 0
        pending = []
        for _ in range(count):
            for e in entities:
                clock[e] += 0.05
                pending.append(Report(e, clock[e], readings(rng)))
                if len(pending) == batch:
                    assert all(o.ok for o in client.observe("l96", pending))
                    sent += len(pending)
                    pending = []
        if pending:
            assert all(o.ok for o in client.observe("l96", pending))
            sent += len(pending)
        return sent
    send(1)  # creates them
    started, bytes_before = time.perf_counter(), written(pid)
    sent = send(rounds)
    return sent / (time.perf_counter() - started), (written(pid) - bytes_before) / sent


def main():
    repository = tempfile.mkdtemp()
    os.makedirs(os.path.join(repository, "l96"))
    with open(os.path.join(repository, "l96", "config.pbtxt"), "w") as f:
        f.write(CONFIG)
    rng = np.random.default_rng(0)
    results = {}
    try:
        with Hybridserve(os.path.join(OPTIONS.build, "server/hybridserve"), repository, "--load_models=l96") as server, \
                HybridClient(server.target, timeout=600) as client:
            # 1. latency of one observation.
            n = int(300 * SCALE) + 10
            client.observe("l96", [Report("solo", 0.0, readings(rng))])
            started = time.perf_counter()
            for k in range(1, n + 1):
                assert client.observe("l96", [Report("solo", 0.05 * k, readings(rng))])[0].ok
            results["one_report_ms"] = 1000 * (time.perf_counter() - started) / n
            # 2. observations/s against entity count.
            for count, rounds in ((1, int(2000 * SCALE) + 20), (100, int(20 * SCALE) + 2), (10000, 1)):
                if OPTIONS.smoke and count == 10000:
                    count = 1000
                results[f"obs_per_s_{count}"], per_report = rate(client, [f"e{count}-{i}" for i in range(count)],
                                                                 rounds, rng, server.process.pid)
                results[f"written_kb_per_report_{count}"] = per_report / 1000
            base = results["obs_per_s_1"]
            for key in [k for k in results if k.startswith("obs_per_s_") and k != "obs_per_s_1"]:
                results[key.replace("obs_per_s", "ratio")] = results[key] / base
            # 3. Predict from an entity against Predict from a state.
            times = [0.05 * (i + 1) for i in range(10)]
            state = client.entity("l96", "solo").mean
            repeats = int(50 * SCALE) + 5
            def timed(call):
                call()
                started = time.perf_counter()
                for _ in range(repeats):
                    call()
                return 1000 * (time.perf_counter() - started) / repeats
            results["predict_state_ms"] = timed(lambda: client.predict("l96", state, times=times, max_step=0.05))
            results["predict_entity_ms"] = timed(lambda: client.forecast("l96", "solo", times, max_step=0.05))
            results["predict_ratio"] = results["predict_entity_ms"] / results["predict_state_ms"]
    finally:
        shutil.rmtree(repository)
    with open(os.path.join(OPTIONS.build, "entities_benchmark.json"), "w") as f:
        json.dump(results, f, indent=1)
    for k, v in results.items():
        print(f"{k:24s} {v:12.3f}")


if __name__ == "__main__":
    main()
