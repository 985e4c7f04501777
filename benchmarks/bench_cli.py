"""Cost of the command line's quick answers against bare interpreters, as whole processes, in one run.

Each command is run as its own process ``--repeats`` times, interleaved with the
baselines so all see the same machine load; the CPU time of a process (user +
system, from ``os.wait4``) and its wall time are recorded, and medians are
compared against ``python -c "import torch"`` and ``python -c "pass"``.

    python benchmarks/bench_cli.py [--repeats 5] [--run DIR]

``--run`` names a finished case-study output for ``mechbridge report DIR``
(default: a minimal report written to a temporary directory).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def measure(argv: list[str]) -> tuple[float, float]:
    """``(cpu_seconds, wall_seconds)`` of one process running ``argv``."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        raise RuntimeError(f"{' '.join(argv)} failed")
    return usage.ru_utime + usage.ru_stime, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--run", type=Path, default=None)
    args = parser.parse_args()
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        run = args.run
        if run is None:
            run = Path(tmp)
            (run / "report.json").write_text(json.dumps({"verdict": "pass", "matches": [], "checks": []}))
            (run / "report.md").write_text("# report\n")
        commands = {
            'python -c "pass"': [py, "-c", "pass"],
            'python -c "import torch"': [py, "-c", "import torch"],
            "mechbridge --help": [py, "-m", "bridge.cli", "--help"],
            "mechbridge list": [py, "-m", "bridge.cli", "list"],
            "mechbridge --version": [py, "-m", "bridge.cli", "--version"],
            "mechbridge report DIR": [py, "-m", "bridge.cli", "report", str(run)],
        }
        samples: dict[str, list[tuple[float, float]]] = {k: [] for k in commands}
        for _ in range(args.repeats):
            for name, argv in commands.items():
                samples[name].append(measure(argv))
    cpu = {k: statistics.median(c for c, _ in v) for k, v in samples.items()}
    wall = {k: statistics.median(w for _, w in v) for k, v in samples.items()}
    torch_cpu, pass_cpu = cpu['python -c "import torch"'], cpu['python -c "pass"']
    print(f"medians of {args.repeats} processes each (CPU = user + system)")
    print(f"{'command':<28}{'CPU s':>8}{'wall s':>8}{'× torch':>9}{'× pass':>8}")
    for name in commands:
        print(f"{name:<28}{cpu[name]:8.2f}{wall[name]:8.2f}{cpu[name] / torch_cpu:9.2f}{cpu[name] / pass_cpu:8.1f}")


if __name__ == "__main__":
    main()
