"""Running mypy as the type tests do: this interpreter's mypy, the repository's pyproject configuration, one run."""

import importlib.util
import os
import re
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 900  # seconds: mypy reads the packages (and torch's annotations) in about 40 cold, a few with its cache
PACKAGES = ("bridge", "probes", "case_studies")
# path:line: error: message  [code]
ERROR = re.compile(r"^(?P<path>[^:]+):(?P<line>\d+): error: (?P<message>.*?)\s+\[(?P<code>[a-z-]+)\]$")


def mypy_version() -> str:
    return subprocess.run([sys.executable, "-m", "mypy", "--version"], capture_output=True, text=True, timeout=TIMEOUT).stdout.strip()


def mypy_errors(files: Iterable[Path]) -> tuple[dict[str, dict[int, list[str]]], str]:
    """One mypy run over the packages and ``files`` with pyproject.toml's configuration (the packages found as the
    checkout has them: MYPYPATH), the torch and numpy annotations read once for all: each error's codes by file
    (a package file by its path in the repository, any other by its name) and line, and mypy's output.
    A failed test if mypy is not installed or did not run (a crash, a bad option)."""
    if importlib.util.find_spec("mypy") is None:
        pytest.fail(f"mypy is not installed for {sys.executable}: install the dev extra, pip install -e .[dev]")
    command = [sys.executable, "-m", "mypy", "--no-color-output", "--no-error-summary", "--config-file", str(ROOT / "pyproject.toml"), *PACKAGES, *map(str, files)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT, env={**os.environ, "MYPYPATH": str(ROOT)})
    if done.returncode not in (0, 1) or done.stderr.strip():  # 2: mypy itself failed
        pytest.fail(f"{mypy_version()} did not run:\n{done.stdout}{done.stderr}")
    errors: dict[str, dict[int, list[str]]] = defaultdict(lambda: defaultdict(list))
    for line in done.stdout.splitlines():
        if m := ERROR.match(line):
            path = m["path"].replace("\\", "/")
            errors[path if path.startswith(tuple(f"{p}/" for p in PACKAGES)) else path.rsplit("/", 1)[-1]][int(m["line"])].append(m["code"])
    return errors, done.stdout
