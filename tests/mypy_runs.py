"""Running mypy as the type tests do: this interpreter's mypy, the repository's pyproject configuration."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 900  # seconds: mypy reads the packages (and torch's annotations) in about 40 cold, a few with its cache


def mypy(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``python -m mypy ARGS`` in the repository root, its output captured; a failed test if mypy is not installed."""
    if importlib.util.find_spec("mypy") is None:
        pytest.fail(f"mypy is not installed for {sys.executable}: install the dev extra, pip install -e .[dev]")
    command = [sys.executable, "-m", "mypy", "--no-color-output", "--no-error-summary", *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT, env=env)


def mypy_files(*files: str | Path, cache: str, options: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """mypy over ``files`` (not the configured packages) with pyproject.toml's configuration, the packages found as
    the checkout has them (MYPYPATH, however they were installed) and a cache of its own, ``.mypy_cache/<cache>``
    (tests that run mypy at the same time must not share one)."""
    env = {**os.environ, "MYPYPATH": str(ROOT)}
    return mypy("--config-file", str(ROOT / "pyproject.toml"), "--cache-dir", str(ROOT / ".mypy_cache" / cache), *options, *map(str, files), env=env)


def mypy_version() -> str:
    return subprocess.run([sys.executable, "-m", "mypy", "--version"], capture_output=True, text=True, timeout=TIMEOUT).stdout.strip()
