#!/usr/bin/python3
# %% [markdown]
# # Calibrating Lorenz-63 online from Python
#
# A notebook-style script (cells marked `# %%`; run it whole, or cell by cell in an editor that knows the
# markers). It needs a running server and the generated client on the path:
#
#     build/server/hybridserve &                       # serves deploy/model_repository on 127.0.0.1:50051
#     PYTHONPATH=build/python /usr/bin/python3 python/examples/forecast_and_calibrate.py [--target=HOST:PORT]
#
# The default `lorenz63` model starts with the Rayleigh number ρ = 20; the "sensors" below observe the true
# system (ρ = 28) with noise. We forecast, stream the observations in, watch ρ move, and forecast again.

# %%
import argparse
import sys

import numpy as np

from hybridserve_client import HybridClient

parser = argparse.ArgumentParser()
parser.add_argument("--target", default="127.0.0.1:50051")
parser.add_argument("--observations", type=int, default=300)
parser.add_argument("--plot", default="", help="write the two forecasts to this PNG")
args = parser.parse_args()
client = HybridClient(args.target)
print({m["name"]: m["state"] for m in client.models()})

# %% [markdown]
# ## Sensors: the true Lorenz-63, RK4 with h = 0.01, Gaussian noise of std 0.05

# %%
def lorenz63(x, rho=28.0, sigma=10.0, beta=8.0 / 3.0):
    return np.array([sigma * (x[1] - x[0]), x[0] * (rho - x[2]) - x[1], x[0] * x[1] - beta * x[2]])


def rk4(x, steps, h=0.01):
    for _ in range(steps):
        k1 = lorenz63(x)
        k2 = lorenz63(x + h / 2 * k1)
        k3 = lorenz63(x + h / 2 * k2)
        k4 = lorenz63(x + h * k3)
        x = x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return x


rng = np.random.default_rng(1)
state = rk4(np.array([1.0, 1.0, 20.0]), 500)  # onto the attractor


def observations(count, windows=8, steps=10):
    """Each observation: `windows` windows of `steps` RK4 steps along the true trajectory, observed noisily."""
    global state
    for _ in range(count):
        starts, ends = [], []
        for _ in range(windows):
            end = rk4(state, steps)
            starts.append(state + 0.05 * rng.standard_normal(3))
            ends.append(end + 0.05 * rng.standard_normal(3))
            state = rk4(end, 7)
        yield np.array(starts), np.array(ends), 0.01, steps


# %% [markdown]
# ## A forecast before calibration, with its 90% interval, against the truth

# %%
times = np.linspace(0.05, 1.0, 20)
truth = np.array([rk4(state, int(round(t / 0.01))) for t in times])
before = client.predict("lorenz63", state, times=times, levels=[0.9])
lower, upper = before.intervals[0.9]
print(f"version {before.version}: rmse vs truth {np.sqrt(np.mean((before.mean - truth) ** 2)):.3f}, "
      f"truth inside the 90% interval {np.mean((truth >= lower) & (truth <= upper)):.2f}")

# %% [markdown]
# ## Stream observations; every acknowledgement carries the loss and the parameter estimates

# %%
last = None
for ack in client.calibrate("lorenz63", observations(args.observations)):
    last = ack
    if not ack.ok:
        print(f"observation {ack.sequence} rejected: {ack.message}")
    elif ack.sequence % 50 == 0:
        rho, spread = ack.parameters["rho"]
        print(f"obs {ack.sequence:4d}  loss {ack.loss:9.4f}  coverage {ack.coverage:.2f}  rho {rho:.3f} ± {spread:.3f}")
rho = last.parameters["rho"][0]
print(f"rho after {last.sequence} observations: {rho:.3f} (true 28, started at 20)")

# %% [markdown]
# ## The same forecast after calibration

# %%
truth = np.array([rk4(state, int(round(t / 0.01))) for t in times])
after = client.predict("lorenz63", state, times=times)
lower, upper = after.intervals[0.9]
print(f"version {after.version}: rmse vs truth {np.sqrt(np.mean((after.mean - truth) ** 2)):.3f}, "
      f"truth inside the 90% interval {np.mean((truth >= lower) & (truth <= upper)):.2f}")
if args.plot:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(3, 1, figsize=(7, 7), sharex=True)
    for d, name in enumerate("xyz"):
        axes[d].fill_between(times, lower[:, d], upper[:, d], alpha=0.3, label="90% interval")
        axes[d].plot(times, after.mean[:, d], label="forecast")
        axes[d].plot(times, truth[:, d], "k--", label="truth")
        axes[d].set_ylabel(name)
    axes[0].legend()
    axes[-1].set_xlabel("t")
    fig.savefig(args.plot, dpi=80)
client.close()
sys.exit(0 if abs(rho - 28.0) / 28.0 < 0.05 else 1)
