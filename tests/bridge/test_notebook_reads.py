"""What a notebook reads from a run: a run opened before another process appended to it reads the new files, an index
value that is not one value is refused by name, and a run this process cannot write is refused before any analysis."""

import csv
import os
import stat

import numpy as np
import pytest

from bridge import RunConfig, RunError, ScheduleConfig, TrainConfig, analyze, load_run, train
from bridge.models import DeepLinearConfig
from bridge.runs import run as run_module
from bridge.runs.errors import CorruptFileError
from bridge.tasks import LinearTeacherConfig
from bridge.trackers import LossTracker, ModeTracker


def config() -> RunConfig:
    return RunConfig(
        LinearTeacherConfig((2.0, 1.0, 0.5), d_in=4, d_out=4, n_train=32), DeepLinearConfig(4, 8, 4),
        TrainConfig(lr=0.05, steps=20, schedule=ScheduleConfig(n_log=3, every=10, track_every=5)), seed=1,
    )


def csv_values(out, observable, **index):
    """``{step: value}`` of the rows of ``observable`` in ``metrics.csv``, read with the csv module alone."""
    with open(out / "metrics.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["observable"] == observable and all(r[k] == str(v) for k, v in index.items())]
    return {int(r["step"]): float(r["value"]) for r in rows}


def files(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def trained(tmp_path):
    out = tmp_path / "run"
    train(config(), out, trackers=[ModeTracker()], device="cpu", progress=False)
    return out


def test_a_run_opened_before_an_analysis_reads_the_table_and_events_written_since(tmp_path):
    out = tmp_path / "run"
    train(config(), out, trackers=[], device="cpu", progress=False)
    opened = load_run(out)  # a notebook's run, opened before the analysis another process (or call) appends
    analyze(load_run(out), [ModeTracker()], progress=False)
    load_run(out).write_events([{"name": "rise", "step": 10}])
    expected = csv_values(out, "mode/strength", mode=1)
    assert sorted(expected) == opened.steps == [0, 1, 4, 10, 20]  # the checkpoints the analysis measured
    series = opened.observable("mode/strength", mode=1)
    assert series.index.tolist() == sorted(expected)
    np.testing.assert_allclose(series.to_numpy(), [expected[s] for s in sorted(expected)], rtol=0, atol=0)
    assert opened.events == [{"name": "rise", "step": 10}]
    assert len(opened.metrics) == sum(1 for _ in open(out / "metrics.csv")) - 1


def test_a_changed_file_is_still_refused_when_the_record_on_disk_is_the_same(trained):
    run = load_run(trained)
    (trained / "metrics.csv").write_bytes((trained / "metrics.csv").read_bytes()[:-10])
    with pytest.raises(CorruptFileError, match=r"metrics.csv has \d+ bytes but run.json records \d+"):
        _ = run.metrics


def test_index_values_are_one_integer_or_text_and_a_missing_one_names_those_there(trained):
    run = load_run(trained)
    expected = csv_values(trained, "mode/strength", mode=2)
    series = run.observable("mode/strength", mode=np.int64(2))
    assert series.to_dict() == pytest.approx(expected, rel=1e-15, abs=0)
    for bad in ([0, 1], (0,), {0}, np.array([0, 1]), 1.5, None):
        with pytest.raises((KeyError, TypeError), match=r"mode") as error:
            run.observable("mode/strength", mode=bad)
        assert repr(bad)[:6] in str(error.value)
    with pytest.raises(KeyError, match=r"mode=17.*mode holds \[0, 1, 2\]"):
        run.observable("mode/strength", mode=17)
    with pytest.raises(KeyError, match=r"mode='1'.*mode holds \[0, 1, 2\]"):
        run.table("mode/alignment", "mode", mode="1")
    with pytest.raises(TypeError, match=r"mode must be one integer or text.*\[1, 2\]"):
        run.table("mode/alignment", "mode", mode=[1, 2])


def test_analyze_takes_the_path_of_a_run(tmp_path):
    out = tmp_path / "run"
    train(config(), out, trackers=[], device="cpu", progress=False)
    run = analyze(str(out), [ModeTracker()], progress=False)
    expected = csv_values(out, "mode/alignment", mode=0)
    assert sorted(expected) == run.steps == [0, 1, 4, 10, 20]
    assert run.observable("mode/alignment", mode=0).to_dict() == pytest.approx(expected, rel=1e-15, abs=0)


class Counting(LossTracker):
    calls = 0

    def __call__(self, model, step, data):
        Counting.calls += 1
        return super().__call__(model, step, data)


def test_a_run_this_process_cannot_write_is_refused_before_any_analysis(trained, monkeypatch):
    run = load_run(trained)
    if os.geteuid() == 0:  # a root process writes into any folder: read-only is what os.access says of it
        real = os.access
        monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if (mode & os.W_OK and os.fspath(p) == os.fspath(trained)) else real(p, mode, **kw))
    mode = trained.stat().st_mode
    before, info = files(trained), dict(run.info)
    trained.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    try:
        with pytest.raises(RunError, match=rf"{trained} is read-only for this process"):
            analyze(run, [Counting()], progress=False)
        with pytest.raises(RunError, match=r"read-only"):
            run.write_events([{"name": "rise", "step": 10}])
        assert Counting.calls == 0
        assert len(run.metrics) == sum(1 for _ in open(trained / "metrics.csv")) - 1 == 2 * 7 + 2 * 3 * 7  # reading works: the loss and 3 modes' rows at 7 steps
    finally:
        trained.chmod(mode)
    assert files(trained) == before and run.info == info


def test_a_failed_write_of_run_json_leaves_the_record_read_as_it_was(trained, monkeypatch):
    run = load_run(trained)
    info = dict(run.info)

    def full_disk(path, obj, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(run_module, "atomic_write_json", full_disk)
    with pytest.raises(OSError, match="No space left"):
        run.update_info(study="mine")
    assert run.info == info and "study" not in run.info
