"""An offline analysis of a run whose metrics table is large, against reading that table, in one run.

Prints the ratio ``analyze / read``. The run: a small MLP trained 1000 steps (206 checkpoints), whose
``metrics.csv`` is then replaced by a table of ``--rows`` rows (20 a step: two losses, ten mode strengths,
eight activation norms by layer and neuron) and its record in ``run.json``. Baseline: ``load_run(path).metrics``
(the table read and typed). Measured: ``bridge.analyze(run, [LossTracker()])`` over every checkpoint, which reads
the table, merges the 412 new rows into it and writes it again. Each analysis runs on a fresh copy of the run (the
copy is not timed); the two alternate and the medians are compared.

    python benchmarks/bench_large_table.py [--rows 1000000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from bridge import RunConfig, TrainConfig, analyze, load_run, train
from bridge.config import ScheduleConfig
from bridge.models import MLPConfig
from bridge.runs.checksums import record
from bridge.runs.storage import atomic_write_json
from bridge.tasks import TeacherMLPConfig
from bridge.trackers import LossTracker


def make_run(out: Path, rows: int) -> None:
    cfg = RunConfig(TeacherMLPConfig(d_in=4, n_train=32, n_test=16, width=8), MLPConfig(d_in=4, d_out=1, widths=(8,)), TrainConfig(optimizer="gd", lr=0.05, steps=1000, schedule=ScheduleConfig(n_log=10, every=5)))
    train(cfg, out, device="cpu", progress=False)
    values = np.random.default_rng(0).standard_normal((rows // 20, 20)).tolist()
    lines = ["step,observable,value,layer,mode,neuron"]
    for s, v in enumerate(values):
        lines += [f"{s},loss/train,{v[0]!r},,,", f"{s},loss/test,{v[1]!r},,,"]
        lines += [f"{s},mode/strength,{v[2 + m]!r},,{m}," for m in range(10)]
        lines += [f"{s},act/norm,{v[12 + 4 * layer + k]!r},{layer},,{k}" for layer in range(2) for k in range(4)]
    (out / "metrics.csv").write_text("\n".join(lines) + "\n")
    info = json.loads((out / "run.json").read_text())
    atomic_write_json(out / "run.json", {**info, "files": record(out, ["metrics.csv"]), "metrics_bytes": {}})


def timed_read(path: Path) -> float:
    start = time.perf_counter()
    len(load_run(path).metrics)
    return time.perf_counter() - start


def timed_analysis(source: Path, copy: Path) -> float:
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(source, copy)
    run = load_run(copy)
    start = time.perf_counter()
    analyze(run, [LossTracker()], progress=False)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    reads, analyses = [], []
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "run"
        make_run(source, args.rows)
        timed_read(source)  # the first read pays the imports
        for _ in range(args.repeats):
            reads.append(timed_read(source))
            analyses.append(timed_analysis(source, Path(tmp) / "copy"))
    r, a = statistics.median(reads), statistics.median(analyses)
    print("reads:", " ".join(f"{x:.2f}" for x in reads), " analyses:", " ".join(f"{x:.2f}" for x in analyses))
    print(f"{args.rows} rows: read (baseline) {r:.2f} s   analyze over 206 checkpoints {a:.2f} s   ratio analyze/read: {a / r:.2f}")


if __name__ == "__main__":
    main()
