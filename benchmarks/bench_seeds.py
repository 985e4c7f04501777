"""Many seeds at once vs one by one: ``train_seeds`` against a loop of ``train``, in one run.

Both write the same run directories (checkpoints, metrics, run.json) for the
same seeds. Repeats alternate and the median of each is compared, so both see
the same machine load; both are run once before the timings, so neither pays for the
first call's imports; the file system is flushed (``os.sync``) before each timing,
so neither pays for the other's writes. ``BENCH_DIR`` sets where the runs are written.

    python benchmarks/bench_seeds.py [--seeds 8] [--repeats 3] [--preset deep-linear]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from bridge import train
from bridge.training.seeds import train_seeds


def configs():
    from case_studies.deep_linear import PRESETS as DEEP_LINEAR
    from case_studies.deep_linear import run_config as deep_linear_config
    from case_studies.superposition import PRESETS as SUPERPOSITION
    from case_studies.superposition import pentagon_config

    return {"deep-linear": deep_linear_config(DEEP_LINEAR["quick"], seed=0), "superposition": pentagon_config(SUPERPOSITION["quick"], seed=0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--preset", default="deep-linear", choices=["deep-linear", "superposition"])
    args = parser.parse_args()
    torch.set_num_threads(1)
    config, seeds = configs()[args.preset], list(range(args.seeds))
    one_by_one, stacked = [], []
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as tmp:
        train_seeds(config, seeds[:2], Path(tmp) / "warmup", device="cpu", progress=False)
        train(config, Path(tmp) / "warmup-one", device="cpu", progress=False)
        for i in range(args.repeats):
            os.sync()  # each timing starts with no earlier write still being flushed
            start = time.perf_counter()
            for s in seeds:
                train(dataclasses.replace(config, seed=s), Path(tmp) / f"loop{i}" / f"seed_{s}", device="cpu", progress=False)
            one_by_one.append(time.perf_counter() - start)
            os.sync()
            start = time.perf_counter()
            train_seeds(config, seeds, Path(tmp) / f"sweep{i}", device="cpu", progress=False)
            stacked.append(time.perf_counter() - start)
    a, b = statistics.median(one_by_one), statistics.median(stacked)
    print(f"{args.preset}: {args.seeds} seeds, {config.train.steps} steps each")
    print("one by one:", " ".join(f"{x:.2f}" for x in one_by_one), " stacked:", " ".join(f"{x:.2f}" for x in stacked))
    print(f"one by one (baseline): {a:.2f} s   train_seeds: {b:.2f} s   speed-up: {a / b:.2f}x")


if __name__ == "__main__":
    main()
