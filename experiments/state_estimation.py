#!/usr/bin/python3
"""State estimation served online (issue 18): entities tracked by a real hybridserve from sensor reports.

Everything goes over the wire (Observe, GetEntity) to a `hybridserve` started for the purpose; the truths are
simulated here in numpy (RK4, float64), independently of the server's LibTorch solvers.

a. Lorenz-96, the standard benchmark of Sakov & Oke (2008) as DAPPER reproduces it: N = 40, F = 8, every site
   observed every 0.05 time units with unit-variance noise, the model stepped by one RK4 step of 0.05 between
   observations (DAPPER's), the ensemble started around the truth's initial state (DAPPER's X0 = N(x0, 0.001 I)).
   Runs: the ETKF with 24 and 40 members (inflation 1.013), and with F unknown, starting at 6 (members jittered
   10% log-normally) and estimated jointly with the state by augmentation. Score: the time-averaged analysis
   RMSE (the entity's ensemble mean against the truth, √ of the mean square over sites) after burn-in; its
   baselines, measured on the same truth: climatology (the truth's own mean) and the raw observations.
b. Lorenz-63 observing x only (noise std 1, every 0.1), ρ starting at 20 and estimated with the state: the
   RMSE of the unobserved y and z after burn-in, and ρ's final error.

Writes OUT/results.json, OUT/results.md and OUT/results.png. --smoke: short runs (the test suite's version);
--check: exit 1 when a target the smoke run guards is missed (see CHECKS).

Usage: state_estimation.py --build BUILD_DIR --source SOURCE_DIR --out OUT [--smoke] [--check]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

ARGS = argparse.ArgumentParser()
ARGS.add_argument("--build", required=True)
ARGS.add_argument("--source", required=True)
ARGS.add_argument("--out", required=True)
ARGS.add_argument("--smoke", action="store_true")
ARGS.add_argument("--check", action="store_true")
OPTIONS = ARGS.parse_args()
sys.path[:0] = [os.path.join(OPTIONS.build, "python"), os.path.join(OPTIONS.source, "tests/python")]

from hybridserve_client import HybridClient, Report  # noqa: E402
from hybridserve_process import Hybridserve  # noqa: E402

HYBRIDSERVE = os.path.join(OPTIONS.build, "server/hybridserve")
# Cycles (observations) per run and the burn-in left out of the averages.
L96_CYCLES, L96_BURN_IN = (600, 200) if OPTIONS.smoke else (6000, 1000)
L63_CYCLES, L63_BURN_IN = (1000, 500) if OPTIONS.smoke else (5000, 1000)
# What the smoke run must reach (the full run's targets are the issue's: 0.18, 0.20, F within 1%, ρ within 2%).
CHECKS = {"l96_etkf24_rmse": 0.30, "l96_f_unknown_rmse": 0.40, "l96_f_error": 0.05, "l63_rho_error": 0.05}


def rk4(f, x, h):
    k1 = f(x)
    k2 = f(x + h / 2 * k1)
    k3 = f(x + h / 2 * k2)
    k4 = f(x + h * k3)
    return x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)


def lorenz96(x, forcing=8.0):
    return (np.roll(x, -1, -1) - np.roll(x, 2, -1)) * np.roll(x, 1, -1) - x + forcing


def lorenz63(x):
    return np.array([10.0 * (x[1] - x[0]), x[0] * (28.0 - x[2]) - x[1], x[0] * x[1] - 8.0 / 3.0 * x[2]])


class Served:
    """One model served alone by a fresh hybridserve (no durability: the experiment measures the filter)."""

    def __init__(self, name, config):
        self.name = name
        self.repository = tempfile.mkdtemp()
        os.makedirs(os.path.join(self.repository, name))
        with open(os.path.join(self.repository, name, "config.pbtxt"), "w") as f:
            f.write(f'name: "{name}"\n{config}\ndurability {{ disabled: true }}\n')
        self.server = Hybridserve(HYBRIDSERVE, self.repository, f"--load_models={name}")
        self.client = HybridClient(self.server.target, timeout=600)

    def close(self):
        self.client.close()
        self.server.stop()
        shutil.rmtree(self.repository)


def run_lorenz96(label, members, inflation, forcing=None, seed=0):
    """Analysis RMSE per cycle of one ETKF run; `forcing`: F's starting value when F is estimated."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(40)
    for _ in range(2000):  # onto the attractor
        x = rk4(lorenz96, x, 0.05)
    estimate = forcing is not None
    prior = " ".join(f"prior_mean: {v!r}" for v in x)
    config = f"""physics: PHYSICS_KIND_LORENZ96
structure {{ key: "n" value: 40 }}
parameters {{ name: "F" initial: {forcing if estimate else 8.0} trainable: {"true" if estimate else "false"} reference: 8 }}
correction {{ composition: COMPOSITION_PHYSICS_ONLY }}
ensemble_members: {members}
member_jitter: {0.1 if estimate else 0.0}
seed: {seed + 1}
uncertainty {{ observation_noise_std: 1 }}
entities {{ {prior} prior_std: 0.0316 inflation: {inflation} max_step: 0.05 estimate_parameters: {"true" if estimate else "false"} }}"""
    served = Served("lorenz96_da", config)
    names = [f"x{i}" for i in range(40)]
    truth, errors, forcings, crps = [], [], [], []
    started = time.time()
    try:
        for k in range(L96_CYCLES + 1):
            if k:
                x = rk4(lorenz96, x, 0.05)
            y = x + rng.standard_normal(40)
            outcome = served.client.observe(served.name, [Report("truth", 0.05 * k, dict(zip(names, y)))])[0]
            if not outcome.ok:
                raise RuntimeError(f"{label}: report {k}: {outcome.message}")
            if outcome.crps is not None:
                crps.append(outcome.crps)
            analysis = served.client.entity(served.name, "truth").mean
            errors.append(float(np.sqrt(np.mean((analysis - x) ** 2))))
            truth.append(x)
            if estimate:
                forcings.append(served.client.parameters(served.name)["F"][0])
    finally:
        served.close()
    truth = np.array(truth)
    after = slice(L96_BURN_IN, None)
    result = {"label": label, "members": members, "inflation": inflation, "cycles": L96_CYCLES,
              "burn_in": L96_BURN_IN, "rmse": float(np.mean(errors[after])),
              "climatology_rmse": float(np.sqrt(np.mean((truth[after] - truth[after].mean(0)) ** 2))),
              "crps": float(np.mean(crps[L96_BURN_IN:])), "seconds": time.time() - started,
              "rmse_series": errors}
    if estimate:
        result.update({"f_start": forcing, "f_final": forcings[-1],
                       "f_error": abs(forcings[-1] - 8.0) / 8.0, "f_series": forcings})
    return result


def run_lorenz63(seed=0):
    """x observed (std 1) every 0.1; ρ from 20 estimated with the state."""
    rng = np.random.default_rng(seed)
    x = np.array([8.0, 0.0, 30.0])
    for _ in range(500):
        x = rk4(lorenz63, x, 0.01)
    config = """physics: PHYSICS_KIND_LORENZ63
parameters { name: "rho" initial: 20 trainable: true reference: 28 }
correction { composition: COMPOSITION_PHYSICS_ONLY }
ensemble_members: 30
member_jitter: 0.1
seed: 5
entities { prior_mean: [0, 0, 25] prior_std: [8, 9, 8] inflation: 1.02 max_step: 0.01 estimate_parameters: true }"""
    served = Served("lorenz63_da", config)
    errors_yz, rhos, started = [], [], time.time()
    try:
        for k in range(L63_CYCLES + 1):
            if k:
                for _ in range(10):
                    x = rk4(lorenz63, x, 0.01)
            outcome = served.client.observe(served.name, [Report("truth", 0.1 * k,
                                                                 {"x": (x[0] + rng.standard_normal(), 1.0)})])[0]
            if not outcome.ok:
                raise RuntimeError(f"lorenz63: report {k}: {outcome.message}")
            analysis = served.client.entity(served.name, "truth").mean
            errors_yz.append(np.abs(analysis[1:] - x[1:]) ** 2)
            rhos.append(served.client.parameters(served.name)["rho"][0])
    finally:
        served.close()
    after = np.array(errors_yz[L63_BURN_IN:])
    return {"cycles": L63_CYCLES, "burn_in": L63_BURN_IN, "rmse_y": float(np.sqrt(after[:, 0].mean())),
            "rmse_z": float(np.sqrt(after[:, 1].mean())), "rho_final": rhos[-1],
            "rho_error": abs(rhos[-1] - 28.0) / 28.0, "rho_series": rhos, "seconds": time.time() - started}


def main():
    os.makedirs(OPTIONS.out, exist_ok=True)
    runs = [run_lorenz96("ETKF, 24 members", 24, 1.013), run_lorenz96("ETKF, 40 members", 40, 1.013),
            run_lorenz96("ETKF, 24 members, F unknown (from 6)", 24, 1.013, forcing=6.0)]
    l63 = run_lorenz63()
    summary = {"l96_etkf24_rmse": runs[0]["rmse"], "l96_etkf40_rmse": runs[1]["rmse"],
               "l96_f_unknown_rmse": runs[2]["rmse"], "l96_f_error": runs[2]["f_error"],
               "l63_rho_error": l63["rho_error"], "l63_rmse_y": l63["rmse_y"], "l63_rmse_z": l63["rmse_z"]}
    plots = [{"title": "Lorenz-96 analysis RMSE", "xlabel": "cycle", "ylabel": "RMSE", "logy": True,
              "series": [{"label": r["label"], "x": list(range(len(r["rmse_series"]))), "y": r["rmse_series"]}
                         for r in runs]},
             {"title": "Lorenz-96 F estimate", "xlabel": "cycle", "ylabel": "F",
              "series": [{"label": runs[2]["label"], "x": list(range(len(runs[2]["f_series"]))),
                          "y": runs[2]["f_series"]}]},
             {"title": "Lorenz-63 ρ estimate (x observed)", "xlabel": "cycle", "ylabel": "ρ",
              "series": [{"label": "ETKF, 30 members", "x": list(range(len(l63["rho_series"]))),
                          "y": l63["rho_series"]}]}]
    results = {"smoke": OPTIONS.smoke, "summary": summary, "lorenz96": runs, "lorenz63": l63, "plots": plots}
    with open(os.path.join(OPTIONS.out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    lines = ["| run | members | analysis RMSE | climatology RMSE | CRPS of the forecast readings | F final | seconds |",
             "|---|---|---|---|---|---|---|"]
    for r in runs:
        f_final = f"{r['f_final']:.3f}" if "f_final" in r else "8 (known)"
        lines.append(f"| {r['label']} | {r['members']} | {r['rmse']:.3f} | {r['climatology_rmse']:.2f} | "
                     f"{r['crps']:.3f} | {f_final} | {r['seconds']:.0f} |")
    lines += ["", "| Lorenz-63, x observed | RMSE y | RMSE z | ρ final | ρ error | seconds |", "|---|---|---|---|---|---|",
              f"| ETKF, 30 members, ρ from 20 | {l63['rmse_y']:.3f} | {l63['rmse_z']:.3f} | {l63['rho_final']:.3f} | "
              f"{100 * l63['rho_error']:.2f}% | {l63['seconds']:.0f} |"]
    with open(os.path.join(OPTIONS.out, "results.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    subprocess.run(["/usr/bin/python3", os.path.join(OPTIONS.source, "experiments/plot.py"), OPTIONS.out], check=True)
    if OPTIONS.check:
        missed = [f"{k} = {summary[k]:.4f} > {limit}" for k, limit in CHECKS.items() if not summary[k] <= limit]
        if missed:
            sys.exit("missed: " + "; ".join(missed))


if __name__ == "__main__":
    main()
