"""A notebook's loop over index values, ``[run.curve("mode/strength", mode=m) for m in range(100)]``, on a run
whose metrics table has ``--rows`` rows, against the same loop filtering the whole table at every call, in one run.

Prints the ratio ``filtering / run.curve``. The run: a ``run.json`` and a ``metrics.csv`` of 110 rows a step (two
losses, 100 mode strengths, eight activation norms by layer and neuron), read once by ``load_run(path).metrics``
(not timed). Baseline: ``full_scan_curve``, the way ``Run.curve`` read an observable before it kept the row positions
of each observable: the whole observable column compared with the name, then the observable's rows with the index,
at every call. Measured: ``run.curve`` on a freshly opened run holding the same table (its first call finds the
positions, the other 99 use them). The two alternate; medians are compared and the answers checked equal.

    python benchmarks/bench_observable_reads.py [--rows 1000000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bridge import RunConfig, TrainConfig, load_run
from bridge.config import config_to_dict
from bridge.models import DeepLinearConfig
from bridge.runs.checksums import record
from bridge.tasks import LinearTeacherConfig

MODES = 100


def make_run(out: Path, rows: int) -> None:
    out.mkdir()
    steps = rows // (10 + MODES)
    values = np.random.default_rng(0).standard_normal((steps, 10 + MODES)).tolist()
    lines = ["step,observable,value,layer,mode,neuron"]
    for s, v in enumerate(values):
        lines += [f"{s},loss/train,{v[0]!r},,,", f"{s},loss/test,{v[1]!r},,,"]
        lines += [f"{s},mode/strength,{v[10 + m]!r},,{m}," for m in range(MODES)]
        lines += [f"{s},act/norm,{v[2 + 4 * layer + k]!r},{layer},,{k}" for layer in range(2) for k in range(4)]
    (out / "metrics.csv").write_text("\n".join(lines) + "\n")
    config = config_to_dict(RunConfig(LinearTeacherConfig((2.0,), d_in=2, d_out=2), DeepLinearConfig(2, 4, 2), TrainConfig(steps=3)))
    (out / "run.json").write_text(json.dumps({"config": config, "status": "complete", "files": record(out, ["metrics.csv"])}))


def full_scan_curve(metrics: pd.DataFrame, name: str, **index: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(steps, values)`` of observable ``name``, filtering the whole table (the baseline; errors left out)."""
    frame = metrics[metrics["observable"] == name]
    own = [c for c in frame.columns if c not in ("step", "observable", "value") and frame[c].notna().any()]
    assert all(key in own for key in index)
    for key, value in index.items():
        frame = frame[frame[key] == value]
    assert not frame["step"].duplicated().any()
    series = frame.drop_duplicates("step", keep="last").set_index("step")["value"].sort_index().astype(float)
    return series.index.to_numpy(dtype=float), series.to_numpy(dtype=float)


def timed(loop: Any) -> tuple[float, list[tuple[np.ndarray, np.ndarray]]]:
    start = time.perf_counter()
    curves = loop()
    return time.perf_counter() - start, curves


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    scans, reads = [], []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "run"
        make_run(path, args.rows)
        metrics = load_run(path).metrics
        print(f"{len(metrics)} rows, {MODES} modes")
        for _ in range(args.repeats):
            scan, expected = timed(lambda: [full_scan_curve(metrics, "mode/strength", mode=m) for m in range(MODES)])
            run = load_run(path)
            run._metrics = metrics  # the table read once, as a notebook holds it (reading is not timed)
            read, got = timed(lambda: [run.curve("mode/strength", mode=m) for m in range(MODES)])  # noqa: B023
            assert all(np.array_equal(a, b) for pair in zip(expected, got) for a, b in zip(*pair))
            scans.append(scan)
            reads.append(read)
    s, r = statistics.median(scans), statistics.median(reads)
    print("full scans:", " ".join(f"{x:.3f}" for x in scans), " run.curve:", " ".join(f"{x:.3f}" for x in reads))
    print(f"{MODES} curves: filtering the whole table (baseline) {s:.3f} s   run.curve {r:.3f} s   ratio filtering/run.curve: {s / r:.1f}")


if __name__ == "__main__":
    main()
