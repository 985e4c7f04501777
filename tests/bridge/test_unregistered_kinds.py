"""A run whose model kind a user registered: readable everywhere, rebuildable only where the kind is registered."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from helpers import timeout

ROOT = Path(__file__).resolve().parents[2]

PLUGIN = '''
from dataclasses import dataclass

import torch
from torch import nn

from bridge.config import config_class
from bridge.models import MODELS


@config_class("wide_linear")
@dataclass(frozen=True)
class WideLinearConfig:
    d_in: int = 3
    d_out: int = 3


@MODELS.register("wide_linear")
def build(config, seed):
    torch.manual_seed(seed)
    return nn.Linear(config.d_in, config.d_out, bias=False)
'''

TRAIN = '''
import widelinear
from bridge import RunConfig, ScheduleConfig, TrainConfig, train
from bridge.tasks import LinearTeacherConfig
cfg = RunConfig(task=LinearTeacherConfig((2.0, 1.0), d_in=3, d_out=3), model=widelinear.WideLinearConfig(),
                train=TrainConfig(optimizer="gd", lr=0.1, steps=20, schedule=ScheduleConfig(n_log=3, every=10)), seed=0)
train(cfg, {out!r}, progress=False)
'''

READ = '''
import pytest
from bridge import RunError, load_run
run = load_run({out!r})
assert run.status == "complete" and run.steps[-1] == 20
loss = run.observable("loss/train")
assert loss.iloc[-1] < 0.05 * loss.iloc[0], loss  # the user model trained
assert run.events == [] and run.report is None
for read in (lambda: run.config, lambda: run.model_at(20), lambda: run.task_data()):
    with pytest.raises(RunError, match="trained with model kind 'wide_linear', not registered in this process: import the module"):
        read()
import widelinear  # registering the kind in this process makes the same object whole
w = run.model_at(20).weight
assert run.config.model == widelinear.WideLinearConfig() and tuple(w.shape) == (3, 3)
'''


def _python(code: str, path: Path) -> subprocess.CompletedProcess:
    env = {"PYTHONPATH": f"{path}:{ROOT}", "OMP_NUM_THREADS": "1", "PATH": ""}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env, timeout=timeout(180))


@pytest.fixture(scope="module")
def user_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("plugin")
    (folder / "widelinear.py").write_text(PLUGIN)
    done = _python(TRAIN.format(out=str(folder / "run")), folder)
    assert done.returncode == 0, done.stderr[-2000:]
    return folder


def test_a_fresh_process_reads_the_metrics_of_a_user_model_run_and_names_the_missing_kind(user_run):
    done = _python(READ.format(out=str(user_run / "run")), user_run)
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_command_line_names_the_missing_kind_and_analyses_once_the_plugin_is_imported(user_run):
    run = str(user_run / "run")
    cli = lambda *args: _python(f"import sys; from bridge.cli import main; sys.exit(main({list(args)!r}))", user_run)  # noqa: E731
    refused = cli("analyze", run, "--tracker", "loss")
    assert refused.returncode == 2
    assert "model kind 'wide_linear', not registered in this process" in refused.stderr and "--import MODULE" in refused.stderr
    done = cli("--import", "widelinear", "analyze", run, "--tracker", "loss")
    assert done.returncode == 0, done.stderr[-2000:]


def test_a_config_kind_without_a_model_builder_is_named_by_model_at(tmp_path, user_run):
    (tmp_path / "halfplugin.py").write_text(PLUGIN.split("@MODELS.register")[0].replace("wide_linear", "half_linear"))
    target = tmp_path / "run"
    subprocess.run(["cp", "-r", str(user_run / "run"), str(target)], check=True)
    info = json.loads((target / "run.json").read_text())
    info["config"]["model"]["kind"] = "half_linear"
    (target / "run.json").write_text(json.dumps(info))
    done = _python(f'''
        import pytest, halfplugin
        from bridge import RunError, load_run
        run = load_run({str(target)!r})
        assert run.config.model.kind == "half_linear"
        with pytest.raises(RunError, match=r"model kind 'half_linear', which has no model builder in this process: .*@MODELS.register\\('half_linear'\\)"):
            run.model_at(20)
    ''', tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
