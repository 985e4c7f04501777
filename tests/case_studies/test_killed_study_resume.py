"""A case study killed (a real SIGKILL) while its main run trains leaves a run.json that names the study, its
preset, seed and settings: ``mechbridge report`` spells the command that finishes it, and that command does."""

import json
import os
import shlex
import signal
import subprocess
import sys

import pytest

import bridge
from bridge.cli import main
from bridge.config import ConfigError
from case_studies import run_case_study
from helpers import ROOT, run_cli, timeout

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="kills a child process")

# the child trains the study through the command line and kills itself once a checkpoint from step 200 on is on record
KILLED_AT_200 = """
import os, signal, sys
from bridge.training.writer import RunWriter

checkpoint = RunWriter.checkpoint

def killed(self, step, *args, **kwargs):
    checkpoint(self, step, *args, **kwargs)
    if step >= 200 and step in self.resumable:
        os.kill(os.getpid(), signal.SIGKILL)

RunWriter.checkpoint = killed
from bridge.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_report_of_a_study_killed_while_its_main_run_trains_names_the_command_that_finishes_it(tmp_path, capsys):
    """The study's stamp was written into run.json only after training, so the report of a study killed meanwhile
    said ``mechbridge run CASE --out OUT --resume``, a command that cannot be run as it stands."""
    out = tmp_path / "dl"
    args = ["run", "deep-linear", "--preset", "quick", "--seed", "3", "--set", "train.steps=400", "--out", str(out), "--quiet"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    child = subprocess.run([sys.executable, "-c", KILLED_AT_200, *args], env=env, capture_output=True, text=True, timeout=timeout(60))
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    killed = json.loads((out / "run.json").read_text())
    step = killed["last_step"]  # the first resume point from step 200 on
    assert killed["status"] == "running" and 200 <= step < 400  # its writer gone: read as interrupted
    assert {k: killed[k] for k in ("case_study", "preset", "case_seed", "settings")} == {"case_study": "deep-linear", "preset": "quick", "case_seed": 3, "settings": ["train.steps=400"]}
    command = f"mechbridge run deep-linear --preset quick --seed 3 --set train.steps=400 --out {shlex.quote(str(out))} --resume"
    assert main(["report", str(out)]) == 2
    assert capsys.readouterr().err == f"mechbridge: error: {out} has no report: its training was interrupted (last recorded step {step}); finish it with `{command}`\n"
    with pytest.raises(ConfigError, match="different config"):  # a resume with another seed is refused, the record left as it was
        run_case_study("deep-linear", "quick", out, seed=4, settings=["train.steps=400"], device="cpu", progress=False, resume=True)
    assert json.loads((out / "run.json").read_text()) == killed
    done = run_cli(shlex.split(command)[1:], cwd=tmp_path, quiet_seconds=60)
    assert done.stdout.strip() == f"deep-linear [quick, seed 3]: pass — report: {out / 'report.md'}"
    run = bridge.load_run(out)
    assert run.status == "complete" and run.steps[-1] == 400 and "extended" not in run.info
    assert {k: run.info[k] for k in ("case_study", "preset", "case_seed", "settings")} == {k: killed[k] for k in ("case_study", "preset", "case_seed", "settings")}
    assert main(["report", str(out)]) == 0 and "PASS" in capsys.readouterr().out.upper()
