"""Offline analysis refuses a run still being trained and steps it has no checkpoint of, and runs on the run's threads."""

import json
import os

import pytest
import torch

from bridge import RunConfig, ScheduleConfig, TrainConfig, load_run, train
from bridge.models import DeepLinearConfig
from bridge.runs.lock import acquire, release
from bridge.tasks import LinearTeacherConfig
from bridge.trackers import LossTracker
from bridge.training import analyze
from helpers import ThreadCount


def config(threads: int = 1) -> RunConfig:
    return RunConfig(LinearTeacherConfig((2.0,), d_in=2, d_out=2), DeepLinearConfig(2, 4, 2), TrainConfig(lr=0.1, steps=20, threads=threads, schedule=ScheduleConfig(n_log=0, every=10)))


def files(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_run_whose_writer_is_alive_is_not_analysed(tmp_path):
    out = tmp_path / "run"
    train(config(), out, device="cpu", progress=False)
    acquire(out)  # a live writer: this process
    try:
        (out / "run.json").write_text(json.dumps({**json.loads((out / "run.json").read_text()), "status": "running"}))
        before = files(out)
        with pytest.raises(ValueError, match=r"is still being trained \(status 'running'\); analyze it when it is complete"):
            analyze(load_run(out), [LossTracker()], progress=False)
        assert files(out) == before
    finally:
        release(out)


def test_steps_without_a_checkpoint_are_named_before_any_work(tmp_path):
    run = train(config(), tmp_path / "run", device="cpu", progress=False)
    before = files(run.path)
    with pytest.raises(ValueError, match=r"no checkpoints at steps \[7, 99\] in "):
        analyze(run, [LossTracker()], steps=[10, 99, 7], progress=False)
    assert files(run.path) == before


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs two CPUs")
def test_analysis_runs_on_the_runs_threads_unless_told_and_gives_the_callers_back(tmp_path):
    torch.set_num_threads(1)
    run = train(config(threads=2), tmp_path / "run", device="cpu", progress=False)
    default, told = ThreadCount(), ThreadCount()
    analyze(run, [default], progress=False)
    analyze(run, [told], threads=1, progress=False)
    assert default.seen == [2, 2, 2] and told.seen == [1, 1, 1] and torch.get_num_threads() == 1
