"""A run records the definition version of each tracker whose rows it holds, and no resume, extension or appended
analysis mixes rows of two definitions of one observable in its table (docs/run-directories.md)."""

import json

import pytest

from bridge import RunConfig, RunError, ScheduleConfig, TrainConfig, analyze, load_run, train
from bridge.cli import main
from bridge.models import DeepLinearConfig
from bridge.runs.versions import tracker_version
from bridge.tasks import LinearTeacherConfig
from bridge.trackers import LossTracker, ModeTracker, WeightNormTracker
from bridge.training.seeds import train_seeds
from helpers import file_hashes


def config(steps: int) -> RunConfig:
    return RunConfig(
        LinearTeacherConfig((3.0, 2.0, 1.0), d_in=4, d_out=4, n_train=32),
        DeepLinearConfig(4, 8, 4, init_std=0.1),
        TrainConfig(lr=0.05, steps=steps, schedule=ScheduleConfig(n_log=4, every=10, track_every=5)),
        seed=1,
    )


def rewrite_record(path, **fields):
    """``run.json`` as an earlier version of the library wrote it: ``fields`` set, ``None`` ones removed."""
    info = json.loads((path / "run.json").read_text())
    for key, value in fields.items():
        info.pop(key) if value is None else info.__setitem__(key, value)
    (path / "run.json").write_text(json.dumps(info, indent=2) + "\n")


def test_a_new_run_records_the_versions_of_its_online_trackers(tmp_path):
    run = train(config(20), tmp_path / "run", trackers=[ModeTracker()], progress=False)
    assert run.tracker_versions == {"loss": 1, "modes": 2}
    assert load_run(run.path).info["tracker_versions"] == {"loss": 1, "modes": 2} and "tracker_versions_default" not in run.info


@pytest.mark.parametrize("record", [{"tracker_versions": None}, {"tracker_versions": {"loss": 1, "modes": 1}}], ids=["before-versions", "recorded-1"])
def test_extending_a_run_of_the_old_mode_tracker_is_refused_naming_it_and_both_versions(tmp_path, record):
    path = train(config(20), tmp_path / "run", trackers=[ModeTracker()], progress=False).path
    rewrite_record(path, **record)
    before = file_hashes(path)
    with pytest.raises(RunError) as e:
        train(config(30), path, trackers=[ModeTracker()], progress=False, resume=True)
    message = str(e.value)
    assert "'modes'" in message and "definition version 1" in message and "version 2" in message and "train anew" in message
    assert "\n" not in message and file_hashes(path) == before  # refused before any work: not a byte changed, no lock left


def test_the_command_line_refuses_the_extension_in_one_line(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", "deep-linear", "--out", str(out), "--set", "train.steps=20", "--set", "model.d_hidden=8", "--set", "train.schedule.n_log=4"]) in (0, 1)
    rewrite_record(out, tracker_versions=None)
    capsys.readouterr()
    assert main(["run", "deep-linear", "--out", str(out), "--resume", "--set", "train.steps=30", "--set", "model.d_hidden=8", "--set", "train.schedule.n_log=4"]) == 2
    err = capsys.readouterr().err.strip()
    assert "'modes'" in err and "definition version 1" in err and "version 2" in err and len(err.splitlines()) == 1
    assert load_run(out).config.train.steps == 20


def test_resuming_the_seeds_of_an_old_run_is_refused(tmp_path):
    runs = train_seeds(config(20), [0, 1], tmp_path / "seeds", trackers=lambda: [ModeTracker()], progress=False)
    rewrite_record(runs[1].path, tracker_versions={"loss": 1, "modes": 1})
    before = file_hashes(tmp_path / "seeds")
    with pytest.raises(RunError, match=r"seed_1: its rows of tracker 'modes' are of definition version 1, this code's are of version 2"):
        train_seeds(config(30), [0, 1], tmp_path / "seeds", trackers=lambda: [ModeTracker()], progress=False, resume=True)
    assert file_hashes(tmp_path / "seeds") == before


def test_a_run_of_the_current_versions_extends_and_keeps_its_record(tmp_path):
    train(config(20), tmp_path / "run", trackers=[ModeTracker()], progress=False)
    run = train(config(30), tmp_path / "run", trackers=[ModeTracker()], progress=False, resume=True)
    assert run.status == "complete" and run.steps[-1] == 30 and run.tracker_versions == {"loss": 1, "modes": 2}
    assert run.observable("mode/alignment", mode=0).index[-1] == 30


def test_an_analysis_appended_over_old_offline_rows_is_refused_and_fresh_rewrites_them(tmp_path):
    run = analyze(train(config(20), tmp_path / "run", progress=False), [ModeTracker()], progress=False)
    assert run.tracker_versions == {"loss": 1, "modes": 2}
    rewrite_record(run.path, tracker_versions={"loss": 1, "modes": 1})
    old = load_run(run.path)
    table = old.metrics.copy()
    with pytest.raises(RunError) as e:
        analyze(old, [ModeTracker()], progress=False)
    assert "'modes'" in str(e.value) and "definition version 1" in str(e.value) and "version 2" in str(e.value) and "--fresh" in str(e.value)
    with pytest.raises(RunError, match="over every checkpoint"):
        analyze(old, [ModeTracker()], steps=old.steps[:2], fresh=True, progress=False)
    assert load_run(run.path).metrics.equals(table) and load_run(run.path).tracker_versions["modes"] == 1
    again = analyze(old, [ModeTracker()], fresh=True, progress=False)
    assert again.tracker_versions == {"loss": 1, "modes": 2} and load_run(run.path).tracker_versions == {"loss": 1, "modes": 2}
    assert len(again.observable("mode/alignment", mode=0)) == len(again.steps)
    analyze(again, [ModeTracker()], progress=False)  # of the current version now: appends


def test_the_analyze_command_names_the_tracker_and_how_to_rewrite(tmp_path, capsys):
    run = analyze(train(config(20), tmp_path / "run", progress=False), [ModeTracker()], progress=False)
    rewrite_record(run.path, tracker_versions=None)  # written before versions were recorded: every tracker at version 1
    assert main(["analyze", str(run.path), "--tracker", "modes"]) == 2
    err = capsys.readouterr().err.strip()
    assert "'modes', if it holds any, are of definition version 1 (written before versions were recorded)" in err  # no record says it does
    assert "'modes'" in err and "definition version 1" in err and f"mechbridge analyze {run.path} --tracker modes --fresh" in err and len(err.splitlines()) == 1
    assert main(["analyze", str(run.path), "--tracker", "modes", "--fresh"]) == 0
    assert load_run(run.path).tracker_versions == {"modes": 2}
    assert load_run(run.path).info["tracker_versions_default"] == 1  # the trackers it does not name may hold rows of version 1


def test_an_online_trackers_rows_are_not_rewritten_by_an_analysis(tmp_path):
    path = train(config(20), tmp_path / "run", trackers=[ModeTracker()], progress=False).path
    rewrite_record(path, tracker_versions={"loss": 1, "modes": 1})
    with pytest.raises(RunError, match=r"'modes'.*version 1.*version 2.*written in training at every tracked step.*train anew"):
        analyze(load_run(path), [ModeTracker()], fresh=True, progress=False)


def test_an_old_run_keeps_version_1_for_the_trackers_its_first_record_does_not_name(tmp_path):
    run = analyze(train(config(20), tmp_path / "run", progress=False), [ModeTracker()], progress=False)
    rewrite_record(run.path, tracker_versions=None)
    resumed = train(config(30), run.path, progress=False, resume=True)  # the loss tracker, version 1 then and now
    assert resumed.tracker_versions == {"loss": 1} and resumed.info["tracker_versions_default"] == 1
    with pytest.raises(RunError, match="'modes'.*definition version 1"):  # its offline rows from before are still of version 1
        analyze(resumed, [ModeTracker()], progress=False)
    analyze(resumed, [WeightNormTracker()], progress=False)  # a tracker still at its first definition appends


class Versioned:
    name = "versioned"

    def __init__(self, version):
        self.version = version

    def __call__(self, model, step, data):
        return [{"observable": "versioned/value", "value": float(self.version)}]


def test_a_tracker_whose_rows_a_recorded_run_does_not_hold_appends_at_any_version(tmp_path):
    run = analyze(train(config(20), tmp_path / "run", progress=False), [Versioned(3)], progress=False)
    assert run.tracker_versions == {"loss": 1, "versioned": 3}
    assert run.observable("versioned/value").tolist() == [3.0] * len(run.steps)
    with pytest.raises(RunError, match="'versioned'.*definition version 3, this code's are of version 4"):
        analyze(run, [Versioned(4)], progress=False)


@pytest.mark.parametrize("version", [0, -1, 1.5, "2", True, None])
def test_a_version_that_is_not_a_positive_integer_is_refused_naming_the_tracker(version):
    with pytest.raises(ValueError, match=f"tracker 'versioned': version must be a positive integer.*got {version!r}"):
        tracker_version(Versioned(version))


def test_versions_of_the_built_in_trackers():
    assert tracker_version(LossTracker()) == 1 and tracker_version(ModeTracker()) == 2 and tracker_version(Versioned(3)) == 3
