"""Cost of the command line's quick answers against bare interpreters, as whole processes, in one run.

Each command is run as its own process ``--repeats`` times, interleaved with the
baselines so all see the same machine load; the CPU time of a process (user +
system, from ``os.wait4``) and its wall time are recorded, and medians are
compared against ``python -c "import torch"`` and ``python -c "pass"``.

    python benchmarks/bench_cli.py [--repeats 5] [--run DIR]

``--run`` names a finished case-study output for ``mechbridge report DIR``
(default: the deep-linear quick preset, trained first into a temporary directory). Three refusals of a
bad directory (exit status 2) are measured too: a run.json that is not JSON given to
``analyze``, an empty folder given to ``report --rebuild``, and a file given as ``run --out``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def measure(argv: list[str], expected: tuple[int, ...] = (0, 1)) -> tuple[float, float]:
    """``(cpu_seconds, wall_seconds)`` of one process running ``argv``, which must exit with a status in ``expected``."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if (code := os.waitstatus_to_exitcode(status)) not in expected:
        raise RuntimeError(f"{' '.join(argv)} exited with {code}, expected one of {expected}")
    return usage.ru_utime + usage.ru_stime, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--run", type=Path, default=None)
    args = parser.parse_args()
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        run = args.run
        if run is None:  # a stored report is checked against its run's record: write a real one
            run = Path(tmp) / "deep-linear"
            subprocess.run([py, "-m", "bridge.cli", "run", "deep-linear", "--preset", "quick", "--out", str(run)], check=True, stdout=subprocess.DEVNULL)
        commands = {
            'python -c "pass"': [py, "-c", "pass"],
            'python -c "import torch"': [py, "-c", "import torch"],
            "mechbridge --help": [py, "-m", "bridge.cli", "--help"],
            "mechbridge list": [py, "-m", "bridge.cli", "list"],
            "mechbridge --version": [py, "-m", "bridge.cli", "--version"],
            "mechbridge report DIR": [py, "-m", "bridge.cli", "report", str(run)],
        }
        bad, empty, file = Path(tmp) / "bad", Path(tmp) / "empty", Path(tmp) / "file.txt"
        bad.mkdir(), empty.mkdir(), file.write_text("not a folder\n")
        (bad / "run.json").write_text("{not json")
        refusals = {
            "analyze DIR (not JSON)": [py, "-m", "bridge.cli", "analyze", str(bad)],
            "report --rebuild EMPTY": [py, "-m", "bridge.cli", "report", str(empty), "--rebuild"],
            "run NAME --out FILE": [py, "-m", "bridge.cli", "run", "deep-linear", "--preset", "quick", "--out", str(file)],
        }
        commands |= refusals
        samples: dict[str, list[tuple[float, float]]] = {k: [] for k in commands}
        for _ in range(args.repeats):
            for name, argv in commands.items():
                samples[name].append(measure(argv, (2,) if name in refusals else (0, 1)))
    cpu = {k: statistics.median(c for c, _ in v) for k, v in samples.items()}
    wall = {k: statistics.median(w for _, w in v) for k, v in samples.items()}
    torch_cpu, pass_cpu = cpu['python -c "import torch"'], cpu['python -c "pass"']
    print(f"medians of {args.repeats} processes each (CPU = user + system)")
    print(f"{'command':<28}{'CPU s':>8}{'wall s':>8}{'× torch':>9}{'× pass':>8}")
    for name in commands:
        print(f"{name:<28}{cpu[name]:8.2f}{wall[name]:8.2f}{cpu[name] / torch_cpu:9.2f}{cpu[name] / pass_cpu:8.1f}")


if __name__ == "__main__":
    main()
