#!/usr/bin/python3
"""A field model written in PyTorch for hybridserve: heat on a periodic 1-D grid with unknown diffusivity κ,
and a convolutional correction for what the heat equation misses (here: the medium moves, an advection the
physics lacks).

    /usr/bin/python3 python/examples/heat_model.py repository/heat   # export, then check with the server

The state is the temperature in N cells of width 1/N m (components u[0] … u[N−1]); time in seconds. PYTHONPATH
must hold build/python; the check needs the hybridserve binary (HYBRIDSERVE, or PATH).
"""
import sys

import numpy as np
import torch

import hybridserve_model as hm

CELLS = 32


class Heat(torch.nn.Module):
    """du/dt = κ ∂²u/∂x² (second differences, periodic); x [M, B, N], theta [M, 1] = κ → [M, B, N]."""

    def forward(self, t: torch.Tensor, x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        n = x.shape[2]
        laplacian = (torch.roll(x, 1, 2) - 2 * x + torch.roll(x, -1, 2)) * float(n * n)
        return theta[:, 0:1].unsqueeze(2) * laplacian


class ConvClosure(torch.nn.Module):
    """g(u) = N·conv(tanh(conv(u))): two periodic convolutions (1 → hidden → 1 channels, width 5), scaled by
    the inverse cell width as a first derivative is. The last layer starts at zero, so the hybrid starts as
    the physics; x [B, N] → [B, N]."""

    def __init__(self, hidden: int = 4):
        super().__init__()
        self.inner = torch.nn.Conv1d(1, hidden, 5, padding=2, padding_mode="circular")
        self.outer = torch.nn.Conv1d(hidden, 1, 5, padding=2, padding_mode="circular")
        torch.nn.init.zeros_(self.outer.weight)
        torch.nn.init.zeros_(self.outer.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.outer(torch.tanh(self.inner(x.unsqueeze(1)))).squeeze(1) * float(x.shape[1])


def model(name: str = "heat", correction: bool = True) -> hm.HybridModel:
    torch.manual_seed(3)  # The correction's initial weights: the same export every time.
    return hm.HybridModel(
        name=name, description="Heat on a periodic grid, unknown diffusivity, a convolutional closure",
        physics=Heat(), correction=ConvClosure() if correction else None,
        states=[hm.State(f"u[{i}]", unit="K") for i in range(CELLS)],
        parameters=[hm.Parameter("kappa", "m²/s", default=0.01, lower=1e-4, upper=1.0, description="diffusivity")],
        members=4, seed=3,
        settings={"calibration": {"learning_rate_theta": 0.05, "learning_rate_phi": 0.01}})


def truth(kappa: float = 0.02, advection: float = 0.3):
    """du/dt of a medium that diffuses and also drifts at `advection` m/s (what Heat lacks), numpy [N]."""
    def f(u):
        n = u.size
        return (kappa * (np.roll(u, 1) - 2 * u + np.roll(u, -1)) * n * n
                - advection * (np.roll(u, -1) - np.roll(u, 1)) * n / 2)
    return f


def random_field(rng: np.random.Generator) -> np.ndarray:
    """A smooth periodic temperature field [N]: three Fourier modes of random amplitude and phase."""
    grid = np.arange(CELLS) / CELLS
    return sum(rng.normal(0, 1.0 / k) * np.sin(2 * np.pi * k * grid + rng.uniform(0, 2 * np.pi)) for k in (1, 2, 3))


def windows(count: int, rng: np.random.Generator, kappa: float = 0.02, advection: float = 0.3) -> list:
    """Calibrate windows of 0.1 s (10 RK4 steps of 0.01 s) along 1 s of fields that start at random."""
    return hm.simulate.windows(truth(kappa, advection), lambda: random_field(rng), count, step=0.01, steps=10,
                               per_start=10)


if __name__ == "__main__":
    folder = hm.export(model(), sys.argv[1] if len(sys.argv) > 1 else "heat")
    print(hm.check(folder))
