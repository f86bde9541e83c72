#!/usr/bin/python3
"""PyTorch's time for fitzhugh_nagumo_training_benchmark.cc's problem, written as people write it.

One training iteration of APHYNITY's FitzHugh-Nagumo hybrid: du/dt = a lap(u) + F_a, dv/dt = b lap(v) + F_a on a
periodic 32x32 grid over [-1, 1]^2 (5-point Laplacian, torch.roll), a and b trained as log a, log b from 2e-3 and
1e-2, F_a a CNN 2-16-16-2 (3x3 circular convolutions, tanh), 16 windows x 10 classical RK4 steps of 0.1 (a
fixed-step loop over torch ops, what torchdiffeq's odeint(method="rk4") does), float32, MSE over every step of
the windows' paths, Adam (3e-3 both). The windows come from the true system (reaction terms, a = 1e-3,
b = 5e-3, k = 5e-3) by RK4 of 0.01 in float64 from U[0, 1) fields. One thread. Prints the median (min - max) ms
per iteration over rounds, and with --ms-only just the median (scripts/bench passes it to the C++ benchmark).

    /usr/bin/python3 tests/benchmarks/fitzhugh_nagumo_training_torch.py [--rounds 9] [--ms-only]
"""
import math

import torch
from torch_reference_timing import run

GRID, WINDOWS, STEPS, H = 32, 16, 10, 0.1
DX = 2.0 / GRID


def laplacian(f):
    return (f.roll(1, -1) + f.roll(-1, -1) + f.roll(1, -2) + f.roll(-1, -2) - 4.0 * f) / (DX * DX)


def rk4(f, x, h):
    k1 = f(x)
    k2 = f(x + 0.5 * h * k1)
    k3 = f(x + 0.5 * h * k2)
    k4 = f(x + h * k3)
    return x + h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)


def true_windows():
    def f(x):
        u, v = x[:, 0], x[:, 1]
        return torch.stack([1e-3 * laplacian(u) + u - u ** 3 - v - 5e-3, 5e-3 * laplacian(v) + u - v], 1)

    x = torch.rand(WINDOWS, 2, GRID, GRID, dtype=torch.float64)
    start, path = x, []
    for _ in range(STEPS):
        for _ in range(10):
            x = rk4(f, x, H / 10)
        path.append(x)
    return start.float(), torch.stack(path, 1).float()


class Hybrid(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.log_a = torch.nn.Parameter(torch.tensor(math.log(2e-3)))
        self.log_b = torch.nn.Parameter(torch.tensor(math.log(1e-2)))
        conv = lambda i, o: torch.nn.Conv2d(i, o, 3, padding=1, padding_mode="circular")
        self.net = torch.nn.Sequential(conv(2, 16), torch.nn.Tanh(), conv(16, 16), torch.nn.Tanh(), conv(16, 2))

    def forward(self, x):
        u, v = x[:, 0], x[:, 1]
        physics = torch.stack([self.log_a.exp() * laplacian(u), self.log_b.exp() * laplacian(v)], 1)
        return physics + self.net(x)


def main():
    torch.set_num_threads(1)
    torch.manual_seed(1)
    starts, observed = true_windows()
    model = Hybrid()
    adam = torch.optim.Adam([{"params": [model.log_a, model.log_b], "lr": 3e-3},
                             {"params": model.net.parameters(), "lr": 3e-3}])

    def iteration():
        adam.zero_grad()
        x, path = starts, []
        for _ in range(STEPS):
            x = rk4(model, x, H)
            path.append(x)
        loss = (torch.stack(path, 1) - observed).pow(2).mean()
        loss.backward()
        adam.step()
        return loss.item()

    run(__doc__, iteration, lambda: f"a, b {model.log_a.exp().item():.4g}, {model.log_b.exp().item():.4g}", rounds=9, per_round=3)


if __name__ == "__main__":
    main()
