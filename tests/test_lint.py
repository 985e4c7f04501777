"""The repository passes ruff with the configuration in pyproject.toml ([tool.ruff]); ruff comes with the dev extra."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 600  # seconds: ruff reads the repository in about one; the bound only turns a hung child into a failure


def test_ruff_check_finds_nothing():
    if importlib.util.find_spec("ruff") is None:
        pytest.fail(f"ruff is not installed for {sys.executable}: install the dev extra, pip install -e .[dev]")
    command = [sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", str(ROOT)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT)
    version = subprocess.run([sys.executable, "-m", "ruff", "--version"], capture_output=True, text=True, timeout=TIMEOUT).stdout.strip()
    assert done.returncode == 0, f"{version} check found (fix them, `ruff check --fix` for the fixable ones):\n{done.stdout}{done.stderr}"
