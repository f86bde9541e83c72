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
import argparse
import math
import time

import torch

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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--ms-only", action="store_true")
    args = parser.parse_args()
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

    first = [iteration() for _ in range(5)]
    times = []
    for _ in range(max(1, args.rounds)):
        start = time.perf_counter()
        for _ in range(5):
            iteration()
        times.append((time.perf_counter() - start) / 5 * 1e3)
    times.sort()
    median = times[len(times) // 2]
    if args.ms_only:
        print(f"{median:.4f}")
        return
    print(f"first losses {', '.join(f'{v:.4g}' for v in first)}; rho {model.log_rho.exp().item():.4f}")
    print(f"pytorch rk4 loop: {median:.3f} ms per iteration ({times[0]:.3f} - {times[-1]:.3f}), "
          f"torch {torch.__version__}, 1 thread")


if __name__ == "__main__":
    main()
