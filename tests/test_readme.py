"""The README's examples run as written: its shell commands (past the install steps) and its Python blocks."""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import timeout

ROOT = Path(__file__).resolve().parents[1]
SETUP = ("python3 -m venv", ".venv/bin/pip install")


def blocks(language: str) -> list[str]:
    """The README's fenced code blocks in ``language``, in order."""
    return re.findall(rf"```{language}\n(.*?)```", (ROOT / "README.md").read_text(), re.S)


def commands(block: str) -> list[list[str]]:
    """The commands of a shell block past its setup steps (making the venv, installing), as argument lists."""
    joined = " ".join(line.rstrip("\\").strip() for line in block.splitlines())
    return [shlex.split(part) for part in joined.split(" && ") if part.strip() and not part.strip().startswith(SETUP)]


def as_subprocess(argv: list[str]) -> tuple[list[str], dict[str, str]]:
    """``argv`` with the venv's programs replaced by this interpreter and leading ``VAR=value`` made environment."""
    env = {}
    while argv and re.fullmatch(r"[A-Z_]+=\S*", argv[0]):
        key, _, value = argv.pop(0).partition("=")
        env[key] = value
    program = {".venv/bin/mechbridge": [sys.executable, "-m", "bridge.cli"], ".venv/bin/python": [sys.executable]}.get(argv[0])
    assert program is not None, f"README command runs {argv[0]!r}, which this test does not know how to run"
    return program + argv[1:], env


def test_the_readme_shell_blocks_are_the_two_commands_and_parse():
    shell = blocks("bash")
    assert len(shell) == 2
    (run,), (suite,) = commands(shell[0]), commands(shell[1])
    assert run[:3] == [".venv/bin/mechbridge", "run", "deep-linear"]
    assert "pytest" in suite  # the suite itself: run by CI, not from inside it


@pytest.mark.slow
def test_the_readme_examples_run_as_written(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    (run,) = commands(blocks("bash")[0])
    argv, extra = as_subprocess(run)
    done = subprocess.run(argv, cwd=tmp_path, env={**env, **extra}, capture_output=True, text=True, timeout=timeout(300))
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "runs" / "deep-linear" / "report.json").exists()
    python = blocks("python")
    assert len(python) == 2
    check = '\nassert run.report["verdict"] == "pass" and len(runs) == 8 and all(r.status == "complete" for r in runs)\n'
    check += 'cka = similarity.pivot(index="step", columns=["run_a", "run_b"], values="cka_debiased").iloc[:, 0]\n'
    check += 'assert abs(cka.iloc[0]) < 0.2 and cka.iloc[-1] > 0.999 and list(cka.index) == runs[0].steps, cka\n'
    check += 'assert abs(runs[1].observable("mode/strength", mode=0).iloc[-1] - 1.392) < 0.01\n'
    done = subprocess.run([sys.executable, "-c", "\n".join(python) + check], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout(600))
    assert done.returncode == 0, done.stderr[-3000:]


def test_the_readme_command_synopsis_names_every_option_of_every_command_and_no_other():
    import typer.main

    from bridge.cli import app

    text = (ROOT / "README.md").read_text()
    start = text.index("```\nmechbridge list\n") + 4
    synopsis = text[start : text.index("```", start)]
    written: dict[str, set[str]] = {}
    command = None
    for line in synopsis.splitlines():
        words = line.split()
        if words[:1] == ["mechbridge"]:
            command = None if words[1].startswith("--") else words[1]  # None: the options before any command
        written.setdefault(command, set()).update(re.findall(r"--[a-z-]+", line.split("#")[0]))
    group = typer.main.get_command(app)
    for name, cmd in [(None, group), *group.commands.items()]:
        options = {o for p in cmd.params for o in (*p.opts, *p.secondary_opts) if o.startswith("--")} - {"--help"}
        assert written.get(name, set()) == options, (name, sorted(written.get(name, set()) ^ options))
