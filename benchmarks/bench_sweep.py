"""A sweep on Ray with 2 single-thread workers against the same points one after another in one process.

The points are grokking-sized: the grokking case study's sweep network (a one-hot
quadratic MLP on addition mod 43 under AdamW), 2 learning rates × 2 weight decays ×
2 seeds, each point on its own (no seed stacking). Both write the same run directories.
Ray's start-up (``ray.init``) is timed apart. The sweep runs twice on the same Ray:
first on cold workers (each imports torch and the library in its first task), then
on warm ones, like the baseline process, whose imports and first call (a 20-step
point swept untimed) come before its clock starts. Each point's overhead on Ray is
the time its task spent outside training (imports on a cold worker, task and model
build, the run directory).

    python benchmarks/bench_sweep.py [--steps 1500] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import bridge
from bridge import RunConfig


def base_config(steps: int) -> RunConfig:
    import dataclasses

    from case_studies.grokking import PRESETS

    sweep = PRESETS["quick"].sweep
    return RunConfig(task=sweep.task, model=sweep.model, train=dataclasses.replace(sweep.train, steps=steps))


GRID = {"train.lr": [1.5e-3, 3e-3], "train.weight_decay": [1.0, 2.0]}
SEEDS = [0, 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    import ray

    config = base_config(args.steps)
    with tempfile.TemporaryDirectory() as tmp:
        bridge.sweep(base_config(20), Path(tmp) / "warmup", grid={"train.lr": [1.5e-3]}, seeds=[0], stack=False, progress=False)
        start = time.perf_counter()
        local = bridge.sweep(config, Path(tmp) / "local", grid=GRID, seeds=SEEDS, stack=False, progress=False)
        sequential = time.perf_counter() - start
        start = time.perf_counter()
        ray.init(num_cpus=args.workers, include_dashboard=False, configure_logging=False, log_to_driver=False)
        ray_start = time.perf_counter() - start
        try:
            start = time.perf_counter()
            cold = bridge.sweep(config, Path(tmp) / "cold", grid=GRID, seeds=SEEDS, backend="ray", stack=False, progress=False)
            parallel_cold = time.perf_counter() - start
            start = time.perf_counter()
            warm = bridge.sweep(config, Path(tmp) / "warm", grid=GRID, seeds=SEEDS, backend="ray", stack=False, progress=False)
            parallel = time.perf_counter() - start
        finally:
            ray.shutdown()
        overheads = {name: outside_training(result) for name, result in (("cold", cold), ("warm", warm))}
        per_point_local = statistics.mean(r["seconds"] for r in local.manifest["points"])
    n = len(local.keys)
    print(f"{n} points of {args.steps} steps (grokking sweep network), {args.workers} Ray workers of 1 thread")
    print(f"sequential in one process, its imports done (baseline): {sequential:.1f} s ({per_point_local:.2f} s per point)")
    print(f"ray.init: {ray_start:.1f} s")
    print(f"Ray, workers warm (a second sweep on the same Ray, as on a running cluster): {parallel:.1f} s; speed-up {sequential / parallel:.2f}x")
    print(f"Ray, workers cold (the first sweep after ray.init; each worker imports torch and the library): {parallel_cold:.1f} s; speed-up {sequential / parallel_cold:.2f}x, {sequential / (parallel_cold + ray_start):.2f}x counting ray.init")
    print(f"cold start, from the two sweeps: {parallel_cold - parallel:.1f} s more on cold workers (imports, before a task's own clock starts)")
    for name, seconds in overheads.items():
        print(f"Ray overhead per point ({name} workers), task start to first step and the run's own writes: median {statistics.median(seconds):.2f} s, max {max(seconds):.2f} s")


def outside_training(result) -> list[float]:
    """Seconds each point's task spent outside its training loop."""
    return [record["seconds"] - json.loads((result.path / "points" / record["key"] / "run.json").read_text())["wall_time"] for record in result.manifest["points"]]

if __name__ == "__main__":
    main()
