"""Tracked vs untracked training wall time on the deep-linear quick preset, in one run.

Prints the ratio (target ≤ 1.10). "Untracked" trains the same config with no
online trackers and no tracking interval (checkpoints and their loss only);
"tracked" is the preset as the case study runs it (its mode and differentiation
trackers are batched: captured at each checkpoint, measured together when the
rows are written). Both are run once before the timings (the first tracked run
pays the trackers' imports); repeats then alternate and the median of each is
compared, so both see the same machine load.

    python benchmarks/bench_tracking.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time
from pathlib import Path

import torch

from bridge import train
from bridge.training.schedule import checkpoint_steps
from case_studies.deep_linear import PRESETS, DeepLinear, run_config


def timed(config, trackers, folder: Path) -> float:
    start = time.perf_counter()
    train(config, folder, trackers=trackers, device="cpu", progress=False)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    tracked_cfg = run_config(PRESETS["quick"], seed=0)
    bare_schedule = dataclasses.replace(tracked_cfg.train.schedule, track_every=0)
    bare_cfg = dataclasses.replace(tracked_cfg, train=dataclasses.replace(tracked_cfg.train, schedule=bare_schedule))
    tracked, bare = [], []
    with tempfile.TemporaryDirectory() as tmp:
        timed(bare_cfg, [], Path(tmp) / "warmup-bare")
        timed(tracked_cfg, DeepLinear().trackers(PRESETS["quick"], "main"), Path(tmp) / "warmup-tracked")
        for i in range(args.repeats):
            bare.append(timed(bare_cfg, [], Path(tmp) / f"bare{i}"))
            tracked.append(timed(tracked_cfg, DeepLinear().trackers(PRESETS["quick"], "main"), Path(tmp) / f"tracked{i}"))
    t, b = statistics.median(tracked), statistics.median(bare)
    print("untracked runs:", " ".join(f"{x:.3f}" for x in bare), " tracked runs:", " ".join(f"{x:.3f}" for x in tracked))
    steps = tracked_cfg.train.steps
    schedule = tracked_cfg.train.schedule
    where = f"every {schedule.track_every} steps and at" if schedule.track_every else "at"
    print(f"deep-linear quick: {steps} steps, trackers {where} {len(checkpoint_steps(steps, schedule))} checkpoints")
    print(f"untracked (baseline): {b:.3f} s   tracked: {t:.3f} s   ratio tracked/untracked: {t / b:.3f}  (target <= 1.10)")


if __name__ == "__main__":
    main()
