"""The "bring your own model" page runs as written: a user's torch model and a transformers GPT-2 through
train, trackers (online and offline), load_run, probes over checkpoints, the learning coefficient and the CLI."""

import importlib.util
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import timeout

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "extending.md"
HF = "## A HuggingFace"


def _blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, re.S)


CHECK = "## Check a tracker against the contract"


def test_the_tracker_check_section_runs_its_test_and_prints_the_rule_a_shared_capture_breaks(capsys):
    """The section's blocks, alone (the whole page runs in the slow test below): a batched tracker passes
    check_tracker, and one whose capture shares the model's storage fails the measure rule."""
    section = PAGE.read_text().split(CHECK)[1].split(HF)[0]
    code = _blocks(section, "python")
    assert len(code) == 2 and "check_tracker(HiddenRMS(), net, teacher)" in code[0]
    exec("\n".join(code), {"__name__": "extending_page"})
    assert capsys.readouterr().out == "measure weights/first_norm\n"


def test_the_page_is_in_the_site_navigation():
    assert "extending.md" in (ROOT / "mkdocs.yml").read_text()


@pytest.mark.slow
def test_bring_your_own_model_page_runs(tmp_path):
    text = PAGE.read_text()
    own, hf = text.split(HF)
    code = _blocks(own, "python")
    with_hf = importlib.util.find_spec("transformers") is not None
    if with_hf:
        code += _blocks(hf, "python")
    check = """
assert loss.iloc[-1] < 0.1 * loss.iloc[0], loss
assert list(run.table("weights/norm", "layer").columns) == [0, 1]
active = run.observable("hidden/active")
assert list(active.index) == run.steps and ((0 < active) & (active < 1)).all(), active
test = scores[scores.split == "test"]
assert len(test) == len(run.steps) and test.score.iloc[-1] > 0.8 and test.score.iloc[-1] > test.control_score.iloc[-1] + 0.2, test
assert llc.mean > 0 and not llc.diverged.any(), llc
"""
    if with_hf:
        check += """
prev = gpt_run.table("heads/previous_token", ["layer", "head"])
assert list(prev.columns) == [(0, 0), (0, 1), (1, 0), (1, 1)] and list(prev.index) == gpt_run.steps
assert ((prev >= 0) & (prev <= 1)).all().all()
gpt_loss = gpt_run.observable("loss/train")
assert gpt_loss.iloc[-1] < gpt_loss.iloc[0], gpt_loss
"""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", "\n".join(code) + check], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout(600))
    assert done.returncode == 0, done.stderr[-3000:]
    (command,) = _blocks(own, "bash")
    argv = shlex.split(command)
    assert argv[0] == "mechbridge"
    cli = subprocess.run([sys.executable, "-m", "bridge.cli", *argv[1:]], cwd=tmp_path, env={**env, "PYTHONPATH": f"{tmp_path}:{ROOT}"}, capture_output=True, text=True, timeout=timeout(120))
    assert cli.returncode == 0, cli.stderr[-2000:]
    assert "analyzed" in cli.stdout
