"""A case study over ten seeds with ``--seeds`` against one seed and against ten separate commands, in one run.

Every measurement is a whole ``mechbridge run deep-linear --preset quick`` process
(CPU time of the process from ``os.wait4``, and wall time), with one torch thread
(``OMP_NUM_THREADS=1``), after one untimed run of the same command so that none of
them pays for the first start from a cold disk cache:

- one seed (``--seed 0``);
- ten seeds in one command (``--seeds 0-9``), which writes the seed report;
- ten separate commands (``--seed 0`` … ``--seed 9``), summed.

    OMP_NUM_THREADS=1 python benchmarks/bench_seed_reports.py

Prints the ratios ten-in-one / one and ten-separate / ten-in-one.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def measure(argv: list[str]) -> tuple[float, float]:
    """``(cpu_seconds, wall_seconds)`` of one process running ``argv``."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        raise RuntimeError(f"{' '.join(argv)} failed")
    return usage.ru_utime + usage.ru_stime, time.perf_counter() - start


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()  # no options; --help answers without running
    cli = [sys.executable, "-m", "bridge.cli", "run", "deep-linear", "--preset", "quick", "--quiet"]
    with tempfile.TemporaryDirectory() as tmp:
        measure([*cli, "--seed", "0", "--out", str(Path(tmp) / "warmup")])
        one = measure([*cli, "--seed", "0", "--out", str(Path(tmp) / "one")])
        many = measure([*cli, "--seeds", "0-9", "--out", str(Path(tmp) / "many")])
        separate = [measure([*cli, "--seed", str(s), "--out", str(Path(tmp) / f"sep-{s}")]) for s in range(10)]
    apart = (sum(c for c, _ in separate), sum(w for _, w in separate))
    for label, (cpu, wall) in (("one seed", one), ("--seeds 0-9", many), ("ten separate commands", apart)):
        print(f"{label:<24} CPU {cpu:7.1f} s   wall {wall:7.1f} s")
    print(f"--seeds 0-9 / one seed:             CPU {many[0] / one[0]:.2f}×   wall {many[1] / one[1]:.2f}×")
    print(f"ten separate / --seeds 0-9:         CPU {apart[0] / many[0]:.2f}×   wall {apart[1] / many[1]:.2f}×")


if __name__ == "__main__":
    main()
