"""A sweep on Ray with 2 single-thread workers against the same points one after another in one process.

The points are grokking-sized: the grokking case study's sweep network (a one-hot
quadratic MLP on addition mod 43 under AdamW), 2 learning rates × 2 weight decays ×
2 seeds. Both write the same run directories. Ray's start-up (``ray.init``) is
timed apart from the sweep; each point's overhead on Ray is the time its worker
spent outside training (from the task's start: imports, task and model build,
the run directory) plus its share of the scheduling gap.

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
        start = time.perf_counter()
        local = bridge.sweep(config, Path(tmp) / "local", grid=GRID, seeds=SEEDS, progress=False)
        sequential = time.perf_counter() - start
        start = time.perf_counter()
        ray.init(num_cpus=args.workers, include_dashboard=False, configure_logging=False, log_to_driver=False)
        ray_start = time.perf_counter() - start
        try:
            start = time.perf_counter()
            on_ray = bridge.sweep(config, Path(tmp) / "ray", grid=GRID, seeds=SEEDS, backend="ray", progress=False)
            parallel = time.perf_counter() - start
        finally:
            ray.shutdown()
        overheads = []
        for record in on_ray.manifest["points"]:
            trained = json.loads((on_ray.path / "points" / record["key"] / "run.json").read_text())["wall_time"]
            overheads.append(record["seconds"] - trained)
        per_point_local = statistics.mean(r["seconds"] for r in local.manifest["points"])
    n = len(local.keys)
    print(f"{n} points of {args.steps} steps (grokking sweep network), {args.workers} Ray workers of 1 thread")
    print(f"sequential in one process (baseline): {sequential:.1f} s ({per_point_local:.2f} s per point)")
    print(f"Ray: {parallel:.1f} s after ray.init ({ray_start:.1f} s); speed-up {sequential / parallel:.2f}x, {sequential / (parallel + ray_start):.2f}x counting ray.init")
    print(f"Ray overhead per point, worker start to first step and the run's own writes: median {statistics.median(overheads):.2f} s, max {max(overheads):.2f} s")


if __name__ == "__main__":
    main()
