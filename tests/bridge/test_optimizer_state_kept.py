"""A finished run's optimizer state: kept to extend it from, or deleted once it is complete
(``schedule.keep_optimizer=False``); a finished run without it is never started over."""

import dataclasses

import pytest
import torch

from bridge import ConfigError, RunConfig, RunError, ScheduleConfig, TrainConfig, analyze, load_run, train, train_seeds
from bridge.models import MLPConfig
from bridge.tasks import LinearTeacherConfig
from bridge.trackers import WeightNormTracker
from bridge.training.loop import with_train
from helpers import Crash, file_hashes


def config(keep_optimizer=True, steps=40):
    return RunConfig(
        task=LinearTeacherConfig((2.0, 1.0), d_in=4, d_out=3, n_train=16),
        model=MLPConfig(d_in=4, d_out=3, widths=(8,), activation="tanh"),
        train=TrainConfig(optimizer="adam", lr=0.01, steps=steps, schedule=ScheduleConfig(n_log=4, every=10, track_every=5, keep_optimizer=keep_optimizer)),
        seed=1,
    )


def optimizer_files(path):
    return sorted(p.name for p in (path / "checkpoints").glob("optim_*"))


def test_a_run_that_keeps_no_optimizer_state_deletes_it_once_complete_and_trains_the_same_weights(tmp_path):
    kept = train(config(), tmp_path / "kept", progress=False)
    dropped = train(config(keep_optimizer=False), tmp_path / "dropped", progress=False)
    assert optimizer_files(kept.path) == ["optim_00000020.safetensors", "optim_00000030.safetensors", "optim_00000040.safetensors"]
    assert optimizer_files(dropped.path) == [] and dropped.status == "complete" and dropped.steps == kept.steps
    for step in kept.steps:
        a, b = kept.model_at(step).state_dict(), dropped.model_at(step).state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a), step
    assert kept.metrics.equals(dropped.metrics)
    assert load_run(dropped.path).config.train.schedule.keep_optimizer is False


def test_a_killed_run_that_keeps_no_optimizer_state_resumes_from_it_to_the_same_weights(tmp_path):
    whole = train(config(keep_optimizer=False), tmp_path / "whole", progress=False)
    with pytest.raises(KeyboardInterrupt):
        train(config(keep_optimizer=False), tmp_path / "cut", trackers=[Crash(at=35)], progress=False)
    assert optimizer_files(tmp_path / "cut") == ["optim_00000010.safetensors", "optim_00000020.safetensors", "optim_00000030.safetensors"]
    resumed = train(config(keep_optimizer=False), tmp_path / "cut", trackers=[Crash(at=-1)], progress=False, resume=True)
    assert resumed.status == "complete" and optimizer_files(resumed.path) == []
    a, b = whole.model_at(40).state_dict(), resumed.model_at(40).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_run_resumes_under_either_keep_optimizer_and_the_resuming_config_decides(tmp_path):
    # a run written keeping its state (or before the setting existed) resumes under a config that keeps none
    whole = train(config(), tmp_path / "whole", progress=False)
    with pytest.raises(KeyboardInterrupt):
        train(config(), tmp_path / "cut", trackers=[Crash(at=35)], progress=False)
    resumed = train(config(keep_optimizer=False), tmp_path / "cut", trackers=[Crash(at=-1)], progress=False, resume=True)
    assert resumed.status == "complete" and optimizer_files(resumed.path) == []
    a, b = whole.model_at(40).state_dict(), resumed.model_at(40).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(ConfigError, match=r"train.schedule.every is 10 there, 20 here"):  # the rest of the schedule is the run's
        train(dataclasses.replace(config(), train=dataclasses.replace(config().train, schedule=ScheduleConfig(n_log=4, every=20, track_every=5))), tmp_path / "cut", progress=False, resume=True)


@pytest.mark.parametrize("how", ["kept none", "deleted since"])
def test_a_complete_run_without_optimizer_state_is_refused_an_extension_and_nothing_changes(tmp_path, how):
    # it started over from step 0, deleting the finished run's checkpoints and rows
    run = train(config(keep_optimizer=how == "deleted since"), tmp_path / "run", progress=False)
    for path in (run.path / "checkpoints").glob("optim_*"):
        path.unlink()
    before = file_hashes(run.path)
    longer = with_train(config(keep_optimizer=how == "deleted since"), steps=80)
    with pytest.raises(ConfigError, match=r"cannot extend .*run: it is complete and none of its checkpoints holds an optimizer state"):
        train(longer, run.path, progress=False, resume=True)
    assert file_hashes(run.path) == before


def test_a_complete_run_without_optimizer_state_resumed_as_it_was_set_is_read_as_it_is(tmp_path):
    # it was trained again from step 0, and the rows an offline analysis had added were lost
    run = train(config(keep_optimizer=False), tmp_path / "run", progress=False)
    analyze(run, [WeightNormTracker()], progress=False)
    before = file_hashes(run.path)
    again = train(config(keep_optimizer=False), run.path, progress=False, resume=True)
    assert file_hashes(run.path) == before and again.status == "complete"
    assert (again.metrics["observable"] == "weights/norm").sum() == len(run.steps)


def test_stacked_seeds_without_optimizer_state_are_read_as_they_are_or_refused(tmp_path):
    cfg = config(keep_optimizer=False)
    runs = train_seeds(cfg, [0, 1], tmp_path / "sweep", device="cpu", progress=False)
    assert [optimizer_files(r.path) for r in runs] == [[], []]
    before = file_hashes(tmp_path / "sweep")
    again = train_seeds(cfg, [0, 1], tmp_path / "sweep", device="cpu", progress=False, resume=True)
    assert [r.status for r in again] == ["complete", "complete"] and file_hashes(tmp_path / "sweep") == before
    with pytest.raises(ConfigError, match="cannot extend"):
        train_seeds(with_train(cfg, steps=80), [0, 1], tmp_path / "sweep", device="cpu", progress=False, resume=True)
    assert file_hashes(tmp_path / "sweep") == before
    # one seed finished without its state, the other interrupted: they cannot resume together
    mixed = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, schedule=ScheduleConfig(n_log=4, every=10, track_every=5)))
    with pytest.raises(KeyboardInterrupt):
        train_seeds(mixed, [0, 1], tmp_path / "mixed", trackers=lambda: [Crash(at=35)], device="cpu", progress=False)
    whole = train(dataclasses.replace(mixed, seed=0), tmp_path / "whole", progress=False)
    for path in (whole.path / "checkpoints").glob("optim_*"):
        path.unlink()
    import shutil

    shutil.rmtree(tmp_path / "mixed" / "seed_0")
    shutil.copytree(whole.path, tmp_path / "mixed" / "seed_0")
    before = file_hashes(tmp_path / "mixed")
    with pytest.raises(RunError, match="seed_0 is complete with no optimizer state, seed_1 is not"):
        train_seeds(mixed, [0, 1], tmp_path / "mixed", trackers=lambda: [Crash(at=-1)], device="cpu", progress=False, resume=True)
    assert file_hashes(tmp_path / "mixed") == before


def test_the_coordinate_check_runs_of_the_mup_study_keep_no_optimizer_state_and_its_grid_does():
    from case_studies import get_case_study

    study = get_case_study("mup")
    keys = study.runs(study.presets["quick"], seed=0)
    assert {k.split("_")[0]: keys[k].train.schedule.keep_optimizer for k in keys if k != "main"} == {"coord": False, "lr": True}
    assert keys["main"].train.schedule.keep_optimizer is False
