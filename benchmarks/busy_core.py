"""Run a command while another process keeps one CPU core busy, and report the command's wall time.

This is how the test suite is shown to pass on a busy machine: a spinner process pins itself to one
core (``os.sched_setaffinity``) and runs a pure-Python busy loop there for as long as the command
runs; the command itself is not pinned, so it shares that core with the spinner. The spinner stops
when the command ends, and by itself when its time bound passes (``--max-seconds``) or its parent
dies, so it never outlives the run.

Usage (from the repository root)::

    OMP_NUM_THREADS=1 python benchmarks/busy_core.py -- python -m pytest -n 2
    OMP_NUM_THREADS=2 python benchmarks/busy_core.py --cpu 0 --max-seconds 5400 -- python -m pytest -n 2

Prints, on stderr, the command's wall time and the CPU time the spinner took on its core (the
whole wall time when nothing else competes for that core; its share of the core when something
does). Exits with the command's exit code. Linux only (``sched_setaffinity``).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time

SPIN = """
import os, sys, time
cpu, deadline, parent = int(sys.argv[1]), time.monotonic() + float(sys.argv[2]), int(sys.argv[3])
os.sched_setaffinity(0, {cpu})
start, spins = time.monotonic(), 0
while True:
    for _ in range(200_000):  # ~10 ms of pure-Python work between checks
        spins += 1
    if time.monotonic() > deadline or os.getppid() != parent:
        break
print(f"busy_core: spinner stopped by its own bound after {time.monotonic() - start:.1f} s", file=sys.stderr)
"""


def start_spinner(cpu: int, max_seconds: float) -> subprocess.Popen:
    """Start the busy loop pinned to ``cpu``; it ends after ``max_seconds`` or when this process dies."""
    if cpu not in os.sched_getaffinity(0):
        raise SystemExit(f"busy_core: error: CPU {cpu} is not available here (available: {sorted(os.sched_getaffinity(0))})")
    if max_seconds <= 0:
        raise SystemExit(f"busy_core: error: --max-seconds must be positive, got {max_seconds:g}")
    return subprocess.Popen([sys.executable, "-c", SPIN, str(cpu), str(max_seconds), str(os.getpid())])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu", type=int, default=None, help="the core to keep busy (default: the last available one)")
    parser.add_argument("--max-seconds", type=float, default=3 * 3600, help="the spinner's own time bound (default 3 h)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command to run, after --")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to run after --, e.g. -- python -m pytest -n 2")
    cpu = max(os.sched_getaffinity(0)) if args.cpu is None else args.cpu
    spinner = start_spinner(cpu, args.max_seconds)
    start = time.monotonic()
    try:
        code = subprocess.call(command)
    finally:
        wall = time.monotonic() - start
        os.kill(spinner.pid, signal.SIGTERM)  # a spinner that already stopped is a zombie until reaped here
        _, status, usage = os.wait4(spinner.pid, 0)
        spinner.returncode = os.waitstatus_to_exitcode(status)
        ended = "stopped at the end of the run" if spinner.returncode == -signal.SIGTERM else f"had stopped by its own bound (--max-seconds {args.max_seconds:g})"
        print(f"busy_core: {' '.join(command)}: wall time {wall:.1f} s; spinner on CPU {cpu}: {usage.ru_utime + usage.ru_stime:.1f} s of CPU time, {ended}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
