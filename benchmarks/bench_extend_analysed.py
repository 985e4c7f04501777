"""Extending an analysed run by a few steps (``train(config, path, resume=True)`` with more ``train.steps``) against
reading its metrics table, on a run whose table holds ``--rows`` rows, in one run.

Prints the ratio ``extend / read``. The run: a small MLP trained 2000 steps (the loss at every step, a checkpoint every
100), then ``--rows`` rows of an offline observable appended at its checkpoints with ``Run.append_metrics``, as an
analysis appends them (the table is rewritten and its sizes on record dropped). Baseline: ``load_run(path).metrics``,
the table checked against its record and parsed. Measured: the run extended by 10 steps (one checkpoint), on a fresh
copy each time (copying is not timed). The two alternate; medians are compared.

    python benchmarks/bench_extend_analysed.py [--rows 300000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from bridge import RunConfig, ScheduleConfig, TrainConfig, load_run, train
from bridge.models import MLPConfig
from bridge.tasks import LinearTeacherConfig

STEPS = 2000


def config(steps: int) -> RunConfig:
    return RunConfig(
        LinearTeacherConfig((2.0, 1.0), d_in=4, d_out=4, n_train=32, n_test=32),
        MLPConfig(d_in=4, d_out=4, widths=(16,)),
        TrainConfig(lr=0.05, steps=steps, schedule=ScheduleConfig(n_log=0, every=100, track_every=1)),
    )


def make_run(path: Path, rows: int) -> None:
    run = train(config(STEPS), path, device="cpu", progress=False)
    steps = run.steps
    per_step = max(1, rows // len(steps))
    run.append_metrics([{"step": s, "observable": "probe/value", "value": (s + k) / 7.0, "unit": k} for s in steps for k in range(per_step)])


def timed(call) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    reads, extends = [], []
    with tempfile.TemporaryDirectory() as tmp:
        source, copy = Path(tmp) / "run", Path(tmp) / "copy"
        make_run(source, args.rows)
        print(f"{len(load_run(source).metrics)} rows, {(source / 'metrics.csv').stat().st_size / 1e6:.1f} MB")
        warm = Path(tmp) / "warm"  # the first extension's imports are not timed
        train(config(20), warm, device="cpu", progress=False)
        train(config(30), warm, device="cpu", progress=False, resume=True)
        for _ in range(args.repeats):
            reads.append(timed(lambda: load_run(source).metrics))
            shutil.rmtree(copy, ignore_errors=True)
            shutil.copytree(source, copy)
            extends.append(timed(lambda: train(config(STEPS + 10), copy, device="cpu", progress=False, resume=True)))
    r, e = statistics.median(reads), statistics.median(extends)
    print("read:", " ".join(f"{x:.3f}" for x in reads), " extend:", " ".join(f"{x:.3f}" for x in extends))
    print(f"reading the table (baseline) {r:.3f} s   extending by 10 steps {e:.3f} s   ratio extend/read: {e / r:.2f}")


if __name__ == "__main__":
    main()
