"""The packages' annotations hold: mypy, configured in pyproject.toml ([tool.mypy]), finds nothing.

bridge, probes and case_studies ship ``py.typed``, so a researcher's own type checker reads our annotations
when it checks a notebook or a script that calls them; an annotation that is wrong there is an error in their code.
mypy comes with the dev extra.
"""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 900  # seconds: mypy reads the packages (and torch's annotations) in about 40 cold, a few with its cache


def test_mypy_finds_nothing():
    if importlib.util.find_spec("mypy") is None:
        pytest.fail(f"mypy is not installed for {sys.executable}: install the dev extra, pip install -e .[dev]")
    command = [sys.executable, "-m", "mypy", "--no-color-output", "--no-error-summary"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT)
    version = subprocess.run([sys.executable, "-m", "mypy", "--version"], capture_output=True, text=True, timeout=TIMEOUT).stdout.strip()
    assert done.returncode == 0, f"{version} found (the configuration is pyproject.toml's [tool.mypy]):\n{done.stdout}{done.stderr}"
