"""Synthetic sensor streams for trying a model out: a known truth integrated as the server integrates (fixed-step
RK4), so that calibration against it can recover the truth's parameters exactly."""
from typing import Callable

import numpy as np


def rk4(f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, step: float, steps: int) -> np.ndarray:
    """x after `steps` RK4 steps of size `step` of dx/dt = f(x) (autonomous)."""
    for _ in range(steps):
        k1 = f(x)
        k2 = f(x + step / 2 * k1)
        k3 = f(x + step / 2 * k2)
        k4 = f(x + step * k3)
        x = x + step / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return x


def windows(f: Callable[[np.ndarray], np.ndarray], start: Callable[[], np.ndarray], count: int, step: float,
            steps: int, per_start: int) -> list:
    """`count` Calibrate windows (start_state, end_state, step, steps) along trajectories of f: each trajectory
    begins at a fresh start() and gives `per_start` consecutive windows of `steps` RK4 steps."""
    out = []
    while len(out) < count:
        x = start()
        for _ in range(per_start):
            end = rk4(f, x, step, steps)
            out.append((x.tolist(), end.tolist(), step, steps))
            x = end
    return out[:count]
