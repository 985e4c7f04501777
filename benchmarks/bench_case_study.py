"""End-to-end cost of the edge-of-stability quick preset against its bare training, in one run.

The end-to-end figure is ``run_case_study("edge-of-stability", "quick", ...)`` as the CLI and the
tests run it: three step sizes trained with the sharpness tracked at every step, the top
eigenvector's loadings at every checkpoint, the analysis, the report and the figures. The baseline
is the same three trainings with no tracker (the loss at the same checkpoints only). Repeats
alternate the two and the medians are compared, so both see the same machine load; the ratio says
what the case study's measurements cost in units of the training they measure, which a busy
machine changes much less than the seconds. Both are warmed up first (a 20-step run of each), so
neither timing pays the first call's imports. Seed 0's verdict is "partial" (one claim fails at
one step size) and every stage still runs, so only an invalid report ends the benchmark with an error.

    python benchmarks/bench_case_study.py [--repeats 3]
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
from case_studies.base.runner import run_case_study
from case_studies.edge_of_stability import PRESETS, EdgeOfStability


def bare_training(preset, root: Path) -> float:
    """Seconds to train the preset's runs (one per step size) with no tracker, at the same checkpoints."""
    start = time.perf_counter()
    for key, cfg in EdgeOfStability().runs(preset, seed=0).items():
        schedule = dataclasses.replace(cfg.train.schedule, track_every=0)
        cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, schedule=schedule))
        train(cfg, root / key, device="cpu", progress=False)
    return time.perf_counter() - start


def end_to_end(preset, root: Path, check: bool = True) -> float:
    """Seconds of the whole case study (training, loadings, analysis, report, figures)."""
    start = time.perf_counter()
    report = run_case_study("edge-of-stability", preset, root, seed=0, device="cpu", progress=False)
    seconds = time.perf_counter() - start
    if check and report.verdict == "invalid":  # a precondition failed: the analysis did not run through
        raise SystemExit(f"the quick preset's report is invalid ({', '.join(report.failed_preconditions) or 'no claim counted'}): a benchmark of it measures nothing")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {args.repeats}")
    torch.set_num_threads(1)
    preset = PRESETS["quick"]
    short = dataclasses.replace(preset, train=dataclasses.replace(preset.train, steps=20), other_steps=())
    bare, whole = [], []
    with tempfile.TemporaryDirectory() as tmp:
        bare_training(short, Path(tmp) / "warmup-bare")
        end_to_end(short, Path(tmp) / "warmup-whole", check=False)
        for i in range(args.repeats):
            bare.append(bare_training(preset, Path(tmp) / f"bare{i}"))
            whole.append(end_to_end(preset, Path(tmp) / f"whole{i}"))
    b, w = statistics.median(bare), statistics.median(whole)
    steps = " + ".join(str(preset.steps_of(lr)) for lr in preset.lrs)
    print(f"edge-of-stability quick: {len(preset.lrs)} step sizes, {steps} GD steps")
    print("bare training runs:", " ".join(f"{x:.1f}" for x in bare), " end-to-end runs:", " ".join(f"{x:.1f}" for x in whole))
    print(f"bare training (baseline): {b:.1f} s   end to end: {w:.1f} s   ratio end-to-end/bare: {w / b:.1f}")


if __name__ == "__main__":
    main()
