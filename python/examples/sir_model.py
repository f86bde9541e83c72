#!/usr/bin/python3
"""An epidemic model written in PyTorch for hybridserve: SIR with unknown contact rate β and recovery rate γ,
a neural correction of the contact rate (Δβ(S, I, R), applied to the infection flow S·I), and what surveillance
reads of a region: its incidence βSI (new infections per day, an observable the module computes).

    /usr/bin/python3 python/examples/sir_model.py repository/sir   # export, then check with the server

Fractions of the population; time in days. PYTHONPATH must hold build/python (the stubs and this package);
the check needs the hybridserve binary (HYBRIDSERVE, or PATH).
"""
import sys

import numpy as np
import torch

import hybridserve_model as hm


class Sir(torch.nn.Module):
    """dS/dt = −βSI, dI/dt = βSI − γI, dR/dt = γI; x [M, B, 3], theta [M, 2] = (β, γ) → [M, B, 3]."""

    def forward(self, t: torch.Tensor, x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        beta, gamma = theta[:, 0:1], theta[:, 1:2]
        s, i = x[:, :, 0], x[:, :, 1]
        infection, recovery = beta * s * i, gamma * i
        return torch.stack([-infection, infection - recovery, recovery], 2)

    @torch.jit.export
    def observe(self, x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        """Readings [M, B, 1]: the incidence βSI, a fraction of the population per day."""
        return (theta[:, 0:1] * x[:, :, 0] * x[:, :, 1]).unsqueeze(2)


class ContactRateCorrection(torch.nn.Module):
    """g(x) = Δβ(x)·S·I·(−1, 1, 0): what the contact rate misses (behaviour, seasons), learned online. The last
    layer starts at zero, so the hybrid starts as the physics; x [B, 3] → [B, 3]."""

    def __init__(self, hidden: int = 16):
        super().__init__()
        self.hidden = torch.nn.Linear(3, hidden)
        self.out = torch.nn.Linear(hidden, 1)
        torch.nn.init.zeros_(self.out.weight)
        torch.nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flow = self.out(torch.tanh(self.hidden(x))) * x[:, 0:1] * x[:, 1:2]
        return torch.cat([-flow, flow, torch.zeros_like(flow)], 1)


def model(name: str = "sir", correction: bool = True) -> hm.HybridModel:
    torch.manual_seed(2)  # The correction's initial weights: the same export every time.
    return hm.HybridModel(
        name=name, description="SIR with unknown β, γ and a learned correction of the contact rate",
        physics=Sir(), correction=ContactRateCorrection() if correction else None,
        states=[hm.State("S", non_negative=True), hm.State("I", non_negative=True),
                hm.State("R", non_negative=True)],
        parameters=[hm.Parameter("beta", "1/day", default=0.3, lower=0.01, upper=5, description="contact rate"),
                    hm.Parameter("gamma", "1/day", default=0.1, lower=0.01, upper=5, description="recovery rate")],
        observables=[hm.Observable("incidence", "1/day", noise_std=2e-4)],
        members=4, seed=2,
        settings={"calibration": {"learning_rate_theta": 0.05, "learning_rate_phi": 1e-3,
                                  "correction_penalty": 1.0, "lr_decay": 0.7, "lr_decay_every": 100},
                  # Regions tracked as entities: a prior around an early outbreak.
                  "entities": {"prior_mean": [0.99, 0.01, 0.0], "prior_std": [0.005, 0.005, 0.001], "max_step": 0.1}})


def truth(beta: float = 0.5, gamma: float = 0.2):
    """dx/dt of an outbreak with these rates, for simulated streams (numpy, one state [3])."""
    def f(x):
        infection, recovery = beta * x[0] * x[1], gamma * x[1]
        return np.array([-infection, infection - recovery, recovery])
    return f


def windows(count: int, rng: np.random.Generator, beta: float = 0.5, gamma: float = 0.2) -> list:
    """Calibrate windows of 1 day (10 RK4 steps) along outbreaks of 20 days that start at random."""
    def start():
        infected = rng.uniform(0.01, 0.2)
        return np.array([1.0 - infected, infected, 0.0])
    return hm.simulate.windows(truth(beta, gamma), start, count, step=0.1, steps=10, per_start=20)


if __name__ == "__main__":
    folder = hm.export(model(), sys.argv[1] if len(sys.argv) > 1 else "sir")
    print(hm.check(folder))
