#!/usr/bin/python3
"""State estimation served online (issue 18): entities tracked by a real hybridserve from sensor reports.

Everything goes over the wire (Observe, GetEntity) to a `hybridserve` started for the purpose; the truths are
simulated here in numpy (RK4, float64), independently of the server's LibTorch solvers.

a. Lorenz-96, the standard benchmark of Sakov & Oke (2008) as DAPPER reproduces it: N = 40, F = 8, every site
   observed every 0.05 time units with unit-variance noise, the model stepped by one RK4 step of 0.05 between
   observations (DAPPER's), the ensemble started around the truth's initial state (DAPPER's X0 = N(x0, 0.001 I)).
   Runs: the ETKF (mean-preserving random rotations, as DAPPER's rot=True) with 24 members at inflation 1.02 and
   at the published 1.013, with 40 members, with F unknown, starting at 6 (members jittered 10% log-normally) and
   estimated jointly with the state by augmentation, and without the rotations; the LETKF (entities.
   localization_radius) with 24 members and with DAPPER's 7 members, inflation 1.04, radius 4 (published 0.22),
   where the global ETKF cannot work. Score: the time-averaged analysis
   RMSE (the entity's ensemble mean against the truth, √ of the mean square over sites) after burn-in; its
   baseline, measured on the same truth: climatology (the truth's own mean).
b. Lorenz-63 observing x only (noise std 1, every 0.1), ρ starting at 20 and estimated with the state (30 members,
   inflation 1.02, random rotations): the RMSE of the unobserved y and z after burn-in, and ρ's final error.
c. PK/PD per patient: patients with between-patient variability (log-normal, ω = 0.25) on CL, V1 and ka around
   5 L/h, 50 L, 1/h; an indirect response (Emax 2, EC50 1 mg/L, hill 1.5, baseline 100); 100 mg oral at 0 h and
   again at 12 h (an input event). Observed as a clinic does: plasma concentration and the response at 0.5, 1, 2,
   4, 8, 12 and 24 h with 10% proportional noise. First the training patients' streams teach the shared Emax and
   EC50, starting at 1 and 2, by backprop through every report's interval (entities.learn_shared), each patient's
   CL, V1 and state estimated alongside. Then held-out patients go to models that start from the learned θ (its
   members jittered 10%: what the training left unknown) and keep learning it, by backprop and by augmenting the
   analysis with it (estimate_parameters, which keeps θ's spread): "per patient" estimates CL and V1 for
   each patient with its state, "population only" tracks the state alone, and "θ as it started" is per patient
   without the training streams. After k = 2, 4, 6 observations: the RMSE of the next 12 h forecast (every 0.5 h,
   the 12 h dose planned when it is still ahead) against the noise-free truth, and the 90% interval's coverage.
d. Intervals per lead time under drift: Lorenz-63 whose ρ drifts from 28 to 32 along the stream while the served
   model keeps ρ = 28; x, y, z observed (noise std 1) after irregular gaps of 0.02, 0.05, 0.2 or 0.5. The share
   of readings inside the 90% interval forecast for them, per lead bucket, with the online correction
   (entities.conformal_gain) and without it.

Writes OUT/results.json, OUT/results.md and OUT/results.png (the runs' RMSE and parameter estimates, and one
held-out patient's forecasts of plasma and response after 4 visits, per patient and population only, against the
truth). --smoke: short runs (the test suite's version); --check: exit 1 when a target the smoke run guards is
missed (see CHECKS).

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
# What the smoke run must reach (the full run's targets are the issue's: 0.18, 0.20, F within 1%, ρ within 2%,
# per-patient RMSE 30% below population-only, PICP90 within 0.05 of 0.9 at every lead under drift).
PATIENTS, TRAINING_PATIENTS = (6, 12) if OPTIONS.smoke else (40, 30)
DRIFT_REPORTS, DRIFT_BURN_IN = (600, 200) if OPTIONS.smoke else (4000, 500)
# The 24-member LETKF's inflation and localisation radius (in sites), chosen on seed 0 among radii 4–20.
LETKF24 = (1.01, 10.0)
CHECKS = {"l96_etkf24_rmse": 0.30, "l96_letkf7_rmse": 0.30, "l96_f_unknown_rmse": 0.40, "l96_f_error": 0.05,
          "l63_rho_error": 0.05, "pkpd_relative_rmse_k4": 0.85, "pkpd_theta_error": 0.25, "drift_picp90_worst_gap": 0.15}


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


def run_lorenz96(label, members, inflation, forcing=None, seed=0, rotation=True, localization=0.0):
    """Analysis RMSE per cycle of one ETKF run; `forcing`: F's starting value when F is estimated;
    `localization` > 0: the LETKF with that radius (DAPPER's loc_rad, in sites)."""
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
entities {{ {prior} prior_std: 0.0316 inflation: {inflation} max_step: 0.05 estimate_parameters: {"true" if estimate else "false"} random_rotation: {"true" if rotation else "false"} localization_radius: {localization} }}"""
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
    result = {"label": label, "members": members, "inflation": inflation, "localization_radius": localization,
              "cycles": L96_CYCLES,
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
entities { prior_mean: [0, 0, 25] prior_std: [8, 9, 8] inflation: 1.02 max_step: 0.01 estimate_parameters: true
           random_rotation: true }"""
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


SAMPLING = [0.5, 1.0, 2.0, 4.0, 8.0, 12.0, 24.0]
DOSES = [(0.0, 100.0), (12.0, 100.0)]
TRUE_PD = {"Emax": 2.0, "EC50": 1.0}
START_PD = {"Emax": 1.0, "EC50": 2.0}  # What the shared θ starts from, before the training patients' streams.
EVALUATION_JITTER = 0.1  # θ's spread across members on the held-out patients: what the training left unknown.


def pkpd_config(pd, per_patient=True, learn=True, jitter=0.0):
    """The served PK/PD model: the true structure with Emax and EC50 at `pd`, learned from every stream by backprop
    (learn_shared) or fixed; CL and V1 per patient or the population's. With `jitter`, θ's members spread by it and
    θ is also estimated with the state (estimate_parameters), which keeps a spread of θ in the forecasts."""
    trainable = " trainable: true" if learn else ""
    own = "per_entity_parameters: ['CL', 'V1'] per_entity_prior_std: 0.25 random_rotation: true" if per_patient else ""
    return f"""physics: PHYSICS_KIND_PKPD_TWO_COMPARTMENT
structure {{ key: "response" value: 2 }}
parameters {{ name: "Emax" initial: {pd["Emax"]!r}{trainable} }}
parameters {{ name: "EC50" initial: {pd["EC50"]!r}{trainable} }}
parameters {{ name: "hill" initial: 1.5 }} parameters {{ name: "kin" initial: 10 }} parameters {{ name: "kout" initial: 0.1 }}
correction {{ composition: COMPOSITION_PHYSICS_ONLY }}
ensemble_members: 32
seed: 11
member_jitter: {jitter!r}
calibration {{ learning_rate_theta: 0.03 lr_decay: 0.7 lr_decay_every: 50 }}
uncertainty {{ initial_model_error_std: 0.1 }}
observables {{ name: "plasma" unit: "mg/L" terms {{ component: "central" divided_by: "V1" }} }}
inputs {{ name: "oral" component: "depot" unit: "mg" }}
entities {{ prior_mean: [0, 0, 0, 0, 100] prior_std: [0.001, 0.001, 0.001, 0.001, 5] inflation: 1.02 max_step: 0.05
           {own} {"learn_shared: true" if learn else ""} {"estimate_parameters: true" if jitter else ""} }}
"""


def pkpd(x, cl, v1, ka, q=10.0, v2=100.0):
    depot, central, peripheral, _, response = x
    c = central / v1
    effect = TRUE_PD["Emax"] * c ** 1.5 / (TRUE_PD["EC50"] ** 1.5 + c ** 1.5) if c > 0 else 0.0
    return np.array([-ka * depot, ka * depot - (cl + q) / v1 * central + q / v2 * peripheral,
                     q / v1 * central - q / v2 * peripheral, cl / v1 * central,
                     10.0 - 0.1 * (1.0 + effect) * response])
def patient_truth(cl, v1, ka, times):
    """The noise-free (plasma, response) at `times` (sorted), doses as DOSES; RK4 at 0.01 h."""
    x, t, out, h = np.array([0.0, 0.0, 0.0, 0.0, 100.0]), 0.0, [], 0.01
    doses = list(DOSES)
    for target in times:
        while t < target - 1e-12:
            if doses and doses[0][0] <= t + 1e-12:
                x[0] += doses.pop(0)[1]
            step = min(h, target - t)
            x = rk4(lambda s: pkpd(s, cl, v1, ka), x, step)
            t += step
        if doses and doses[0][0] <= t + 1e-12:  # a dose at an output time is in it
            x[0] += doses.pop(0)[1]
        out.append((x[1] / v1, x[4]))
    return np.array(out)


def clinic_patient(rng):
    """A patient's CL, V1, ka (log-normal, ω = 0.25) and its noisy (plasma, response) at SAMPLING."""
    cl, v1, ka = np.array([5.0, 50.0, 1.0]) * np.exp(0.25 * rng.standard_normal(3))
    observed = patient_truth(cl, v1, ka, SAMPLING)
    return cl, v1, ka, observed * (1 + 0.1 * rng.standard_normal(observed.shape))


def clinic_reports(name, noisy):
    """The first dose, then each visit's report (the 12 h dose with the 12 h sample): (k, time, Report)."""
    yield 0, 0.0, Report(name, 0.0, {}, {"oral": 100.0})
    for k, t in enumerate(SAMPLING, start=1):
        readings = {"plasma": (noisy[k - 1, 0], 0.1 * abs(noisy[k - 1, 0]) + 1e-3),
                    "response": (noisy[k - 1, 1], 0.1 * abs(noisy[k - 1, 1]))}
        yield k, t, Report(name, t, readings, {"oral": 100.0} if t == 12.0 else {})


def observe(served, report):
    outcome = served.client.observe(served.name, [report])[0]
    if not outcome.ok:
        raise RuntimeError(f"{served.name} {report.entity} at {report.time} h: {outcome.message}")


def run_pkpd():
    rng = np.random.default_rng(2024)
    started = time.time()
    # 1. The training patients' streams teach the shared Emax and EC50 (from START_PD) by backprop through each
    #    report's interval, each patient's CL and V1 and state estimated alongside.
    trainer = Served("pkpd_training", pkpd_config(START_PD))
    try:
        for p in range(TRAINING_PATIENTS):
            for _, _, report in clinic_reports(f"training-{p}", clinic_patient(rng)[3]):
                observe(trainer, report)
        learned = {name: trainer.client.parameters(trainer.name)[name][0] for name in TRUE_PD}
    finally:
        trainer.close()
    # 2. Held-out patients, on models with the learned θ: per patient (CL, V1 and state) against population only
    #    (state); and per patient with θ as it started, to show what the training streams were worth.
    models = {"per_patient": Served("pkpd_per_patient", pkpd_config(learned, jitter=EVALUATION_JITTER)),
              "population": Served("pkpd_population", pkpd_config(learned, per_patient=False,
                                                                   jitter=EVALUATION_JITTER)),
              "untrained": Served("pkpd_untrained", pkpd_config(START_PD, jitter=EVALUATION_JITTER))}
    leads = np.arange(0.5, 12.01, 0.5)
    errors = {name: {k: [] for k in (2, 4, 6)} for name in models}
    inside = {name: [] for name in models}
    example = {}
    try:
        for p in range(PATIENTS):
            cl, v1, ka, noisy = clinic_patient(rng)
            name = f"patient-{p}"
            for k, t, report in clinic_reports(name, noisy):
                for served in models.values():
                    observe(served, report)
                if k not in (2, 4, 6):
                    continue
                truth = patient_truth(cl, v1, ka, list(t + leads))
                planned = [(12.0 - t, "oral", 100.0)] if t < 12.0 else []
                for key, served in models.items():
                    f = served.client.forecast(served.name, name, leads, inputs=planned, max_step=0.05)
                    columns = [f.components.index("plasma"), f.components.index("response")]
                    mean = f.mean[:, columns]
                    low, high = (bound[:, columns] for bound in f.intervals[0.9])
                    if p == 0 and k == 4 and key != "untrained":  # One patient's forecasts, for the plot.
                        example[key] = {"mean": mean.tolist(), "lower": low.tolist(), "upper": high.tolist()}
                        example["truth"], example["times"] = truth.tolist(), list(t + leads)
                    # Each observable relative to the truth's scale, so both count alike.
                    scale = np.abs(truth).mean(0)
                    errors[key][k].append(np.sqrt(np.mean(((mean - truth) / scale) ** 2)))
                    inside[key] += list(((low <= truth) & (truth <= high)).ravel())
    finally:
        for served in models.values():
            served.close()
    result = {"patients": PATIENTS, "training_patients": TRAINING_PATIENTS, "seconds": time.time() - started,
              "theta_start": START_PD, "theta_learned": learned, "theta_true": TRUE_PD,
              "theta_error": max(abs(learned[n] - TRUE_PD[n]) / TRUE_PD[n] for n in TRUE_PD), "example": example}
    for key in errors:
        for k in (2, 4, 6):
            result[f"{key}_relative_rmse_k{k}"] = float(np.mean(errors[key][k]))
        result[f"{key}_picp90"] = float(np.mean(inside[key]))
    for k in (2, 4, 6):
        result[f"reduction_k{k}"] = 1.0 - result[f"per_patient_relative_rmse_k{k}"] / result[
            f"population_relative_rmse_k{k}"]
    return result


def run_drift(seed=0):
    """PICP90 of the online forecasts per lead bucket, with and without the correction."""
    config = """physics: PHYSICS_KIND_LORENZ63
correction { composition: COMPOSITION_PHYSICS_ONLY }
ensemble_members: 30
seed: 9
uncertainty { observation_noise_std: 1 }
entities { prior_mean: [0, 0, 25] prior_std: [8, 9, 8] inflation: 1.05 max_step: 0.01 CORRECTION }"""
    gaps = np.array([0.02, 0.05, 0.2, 0.5])
    result, started = {}, time.time()
    for label, gain in (("with correction", 0.05), ("without", -1.0)):
        rng = np.random.default_rng(seed)
        x, t = np.array([8.0, 0.0, 30.0]), 0.0
        served = Served("lorenz63_drift", config.replace("CORRECTION", f"conformal_gain: {gain}"))
        covered = {}
        try:
            for k in range(DRIFT_REPORTS):
                gap = float(rng.choice(gaps)) if k else 0.0
                rho = 28.0 + 4.0 * k / DRIFT_REPORTS
                for _ in range(int(round(gap / 0.01))):
                    x = rk4(lambda s: np.array([10.0 * (s[1] - s[0]), s[0] * (rho - s[2]) - s[1],
                                                s[0] * s[1] - 8.0 / 3.0 * s[2]]), x, 0.01)
                t += gap
                y = x + rng.standard_normal(3)
                outcome = served.client.observe(served.name, [Report("truth", t, dict(zip("xyz", y)))])[0]
                if not outcome.ok:
                    raise RuntimeError(f"drift {label}: report {k}: {outcome.message}")
                if k >= DRIFT_BURN_IN and outcome.coverage is not None:
                    covered.setdefault(gap, []).append(outcome.coverage)
        finally:
            served.close()
        result[label] = {f"{g:g}": float(np.mean(v)) for g, v in sorted(covered.items())}
    result["seconds"] = time.time() - started
    return result


def main():
    os.makedirs(OPTIONS.out, exist_ok=True)
    runs = [run_lorenz96("ETKF, 24 members, inflation 1.02", 24, 1.02),
            run_lorenz96("ETKF, 24 members, inflation 1.013 (published)", 24, 1.013),
            run_lorenz96("ETKF, 40 members, inflation 1.013", 40, 1.013),
            run_lorenz96("ETKF, 24 members, inflation 1.02, F unknown (from 6)", 24, 1.02, forcing=6.0),
            run_lorenz96("ETKF, 24 members, inflation 1.013, no random rotation", 24, 1.013, rotation=False),
            run_lorenz96(f"LETKF, 24 members, inflation {LETKF24[0]}, radius {LETKF24[1]:g}", 24, LETKF24[0],
                         localization=LETKF24[1]),
            run_lorenz96("LETKF, 7 members, inflation 1.04, radius 4 (published: 0.22)", 7, 1.04, rotation=False,
                         localization=4.0)]
    l63 = run_lorenz63()
    pk = run_pkpd()
    drift = run_drift()
    summary = {"l96_etkf24_rmse": runs[0]["rmse"], "l96_etkf24_published_rmse": runs[1]["rmse"],
               "l96_etkf40_rmse": runs[2]["rmse"], "l96_f_unknown_rmse": runs[3]["rmse"],
               "l96_f_error": runs[3]["f_error"], "l96_no_rotation_rmse": runs[4]["rmse"],
               "l96_letkf24_rmse": runs[5]["rmse"], "l96_letkf7_rmse": runs[6]["rmse"],
               "l63_rho_error": l63["rho_error"], "l63_rmse_y": l63["rmse_y"], "l63_rmse_z": l63["rmse_z"],
               "pkpd_relative_rmse_k4": pk["per_patient_relative_rmse_k4"] / pk["population_relative_rmse_k4"],
               "pkpd_reduction_k4": pk["reduction_k4"], "pkpd_picp90": pk["per_patient_picp90"],
               "pkpd_theta_error": pk["theta_error"],
               "drift_picp90_worst_gap": max(abs(v - 0.9) for v in drift["with correction"].values())}
    plots = [{"title": "Lorenz-96 analysis RMSE", "xlabel": "cycle", "ylabel": "RMSE", "logy": True,
              "series": [{"label": r["label"], "x": list(range(len(r["rmse_series"]))), "y": r["rmse_series"]}
                         for r in runs]},
             {"title": "Lorenz-96 F estimate", "xlabel": "cycle", "ylabel": "F",
              "series": [{"label": runs[3]["label"], "x": list(range(len(runs[3]["f_series"]))),
                          "y": runs[3]["f_series"]}]},
             {"title": "Lorenz-63 ρ estimate (x observed)", "xlabel": "cycle", "ylabel": "ρ",
              "series": [{"label": "ETKF, 30 members", "x": list(range(len(l63["rho_series"]))),
                          "y": l63["rho_series"]}]},
             *[{"title": f"PK/PD patient-0 after 4 visits: {observable}, next 12 h", "xlabel": "time (h)",
                "ylabel": unit,
                "series": [{"label": "truth", "x": pk["example"]["times"],
                            "y": [row[j] for row in pk["example"]["truth"]]}] +
                          [{"label": label, "x": pk["example"]["times"],
                            "y": [row[j] for row in pk["example"][key]["mean"]],
                            "lower": [row[j] for row in pk["example"][key]["lower"]],
                            "upper": [row[j] for row in pk["example"][key]["upper"]]}
                           for key, label in (("per_patient", "per patient, 90%"), ("population", "population, 90%"))]}
               for j, (observable, unit) in enumerate((("plasma", "mg/L"), ("response", "1")))]]
    results = {"smoke": OPTIONS.smoke, "summary": summary, "lorenz96": runs, "lorenz63": l63, "pkpd": pk,
               "drift": drift,
               "plots": plots}
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
              f"{100 * l63['rho_error']:.2f}% | {l63['seconds']:.0f} |",
              "", f"| PK/PD, {pk['patients']} held-out patients | relative RMSE, next 12 h, k = 2 | k = 4 | k = 6 | "
              "PICP90 |", "|---|---|---|---|---|"]
    for key, label in (("population", "population only (state), θ learned"),
                       ("per_patient", "per patient (CL, V1, state), θ learned"),
                       ("untrained", "per patient, θ as it started")):
        lines.append(f"| {label} | {pk[f'{key}_relative_rmse_k2']:.3f} | {pk[f'{key}_relative_rmse_k4']:.3f} | "
                     f"{pk[f'{key}_relative_rmse_k6']:.3f} | {pk[f'{key}_picp90']:.3f} |")
    lines.append(f"| reduction, per patient against population | {100 * pk['reduction_k2']:.0f}% | "
                 f"{100 * pk['reduction_k4']:.0f}% | {100 * pk['reduction_k6']:.0f}% | |")
    lines += ["", f"| shared θ from {pk['training_patients']} training patients' streams | start | learned | true |",
              "|---|---|---|---|"]
    for n in TRUE_PD:
        lines.append(f"| {n} | {pk['theta_start'][n]:g} | {pk['theta_learned'][n]:.3f} | {pk['theta_true'][n]:g} |")
    gaps = list(drift["with correction"])
    lines += ["", "| Lorenz-63, ρ drifting 28 → 32, PICP90 of the online forecasts | " +
              " | ".join(f"lead {g}" for g in gaps) + " |", "|---|" + "---|" * len(gaps)]
    for label in ("with correction", "without"):
        lines.append(f"| {label} | " + " | ".join(f"{drift[label][g]:.3f}" for g in gaps) + " |")
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
