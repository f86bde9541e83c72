"""What the PyTorch references of the training benchmarks share: their command line and their timing.

    from torch_reference_timing import run
    run(__doc__, iteration, describe, rounds=15, per_round=5)

`iteration()` runs one training iteration and returns its loss; `describe()` says where the parameters went
(printed after the first losses). Times `rounds` rounds of `per_round` iterations after `per_round` warm-up ones,
on one thread; prints the median (min - max) ms per iteration, or with --ms-only just the median (scripts/bench
passes it to the C++ benchmark as --torch_reference_ms).
"""
import argparse
import time

import torch


def run(doc, iteration, describe, rounds, per_round):
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=rounds)
    parser.add_argument("--ms-only", action="store_true")
    args = parser.parse_args()
    first = [iteration() for _ in range(per_round)]
    times = []
    for _ in range(max(1, args.rounds)):
        start = time.perf_counter()
        for _ in range(per_round):
            iteration()
        times.append((time.perf_counter() - start) / per_round * 1e3)
    times.sort()
    median = times[len(times) // 2]
    if args.ms_only:
        print(f"{median:.4f}")
        return
    print(f"first losses {', '.join(f'{v:.4g}' for v in first)}; {describe()}")
    print(f"pytorch rk4 loop: {median:.3f} ms per iteration ({times[0]:.3f} - {times[-1]:.3f}), "
          f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
