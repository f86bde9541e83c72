#!/usr/bin/python3
"""PyTorch's time for training_benchmark.cc's problem, written as people write it.

One training iteration of a Lorenz-63 hybrid: dx/dt = f(x; sigma=10, rho,
beta=8/3) + MLP(x), MLP 3-32-32-3 tanh, rho trained as log rho, 64 windows x 20
classical RK4 steps of 0.01 (a fixed-step loop over torch ops, what
torchdiffeq's odeint(method="rk4") does), float32, MSE over every step of the
windows' paths, Adam (theta 1e-2, phi 1e-3). One thread. Prints the median
(min - max) ms per iteration over interleaved rounds, and with --ms-only just
the median (scripts/bench passes it to training_benchmark).

    /usr/bin/python3 tests/benchmarks/lorenz63_training_torch.py [--rounds 15] [--ms-only]
"""
import math

import torch
from torch_reference_timing import run

WINDOWS, STEPS, H = 64, 20, 0.01


def true_windows():
    """The true system (rho = 28) by RK4 in float64: windows 0.05 apart on the attractor."""
    def f(s):
        x, y, z = s
        return torch.stack([10.0 * (y - x), x * (28.0 - z) - y, x * y - 8.0 / 3.0 * z])

    def step(s):
        k1 = f(s)
        k2 = f(s + 0.5 * H * k1)
        k3 = f(s + 0.5 * H * k2)
        k4 = f(s + H * k3)
        return s + H / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)

    s = torch.tensor([1.0, 1.0, 20.0], dtype=torch.float64)
    for _ in range(1000):
        s = step(s)
    starts, paths = [], []
    for _ in range(WINDOWS):
        for _ in range(5):
            s = step(s)
        x, path = s, []
        for _ in range(STEPS):
            x = step(x)
            path.append(x)
        starts.append(s)
        paths.append(torch.stack(path))
    return torch.stack(starts).float(), torch.stack(paths).float()


class Hybrid(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.log_rho = torch.nn.Parameter(torch.tensor(math.log(20.0)))
        self.net = torch.nn.Sequential(torch.nn.Linear(3, 32), torch.nn.Tanh(), torch.nn.Linear(32, 32),
                                       torch.nn.Tanh(), torch.nn.Linear(32, 3))

    def forward(self, s):
        x, y, z = s.unbind(-1)
        rho = self.log_rho.exp()
        physics = torch.stack([10.0 * (y - x), x * (rho - z) - y, x * y - 8.0 / 3.0 * z], -1)
        return physics + self.net(s)


def rk4_path(f, x0):
    x, path = x0, []
    for _ in range(STEPS):
        k1 = f(x)
        k2 = f(x + 0.5 * H * k1)
        k3 = f(x + 0.5 * H * k2)
        k4 = f(x + H * k3)
        x = x + H / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
        path.append(x)
    return torch.stack(path, 1)


def main():
    torch.set_num_threads(1)
    torch.manual_seed(1)
    starts, observed = true_windows()
    model = Hybrid()
    adam = torch.optim.Adam([{"params": [model.log_rho], "lr": 1e-2},
                             {"params": model.net.parameters(), "lr": 1e-3}])

    def iteration():
        adam.zero_grad()
        loss = (rk4_path(model, starts) - observed).pow(2).mean()
        loss.backward()
        adam.step()
        return loss.item()

    run(__doc__, iteration, lambda: f"rho {model.log_rho.exp().item():.4f}", rounds=15, per_round=5)


if __name__ == "__main__":
    main()
