"""Bad input to train, train_seeds and analyze is refused with an error naming it, before any file changes."""

import json
import os

import pytest

from bridge import RunConfig, TrainConfig, train
from bridge.config import ConfigError
from bridge.models import DeepLinearConfig
from bridge.runs.errors import CorruptFileError, RunError
from bridge.tasks import LinearTeacherConfig
from bridge.trackers import LossTracker
from bridge.training import analyze, train_seeds
from bridge.training.inputs import extension


def config(steps: int = 3) -> RunConfig:
    return RunConfig(LinearTeacherConfig((2.0,), d_in=2, d_out=2), DeepLinearConfig(2, 4, 2), TrainConfig(lr=0.1, steps=steps))


def files(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize(
    ("recorded", "named"),
    [
        ({}, "kind is None there, 'run' here"),
        ({"kind": "run", "train": None}, "train is None there"),
    ],
)
def test_a_recorded_config_without_its_steps_is_a_different_config_not_a_crash(recorded, named, tmp_path):
    with pytest.raises(ConfigError, match="holds a different config") as e:
        extension(recorded, config(), tmp_path)
    assert named in str(e.value) and "only train.steps may change" in str(e.value)


@pytest.mark.parametrize(("recorded", "shown"), [(None, "None"), ("a string", "'a string'"), ([1], r"\[1\]")])
def test_a_recorded_config_that_is_not_an_object_is_named(recorded, shown, tmp_path):
    with pytest.raises(ConfigError, match=rf"cannot resume .*: its run.json holds no config \(a JSON object\), got {shown}$"):
        extension(recorded, config(), tmp_path)


def test_a_recorded_step_count_that_is_not_an_integer_is_named(tmp_path):
    from bridge.config import config_to_dict

    recorded = config_to_dict(config())
    recorded["train"]["steps"] = "3"
    with pytest.raises(ConfigError, match=r"train\.steps is '3' there, 3 here"):
        extension(recorded, config(), tmp_path)


def test_a_recorded_float_step_count_with_a_null_field_this_config_lacks_is_refused_not_a_crash(tmp_path):
    from bridge.config import config_to_dict

    recorded = config_to_dict(config())
    recorded["train"]["steps"] = 3.0  # equal to 3 field by field, but not an integer step count
    recorded["from_a_later_version"] = None  # not a field of RunConfig: compared as written, null there and absent here
    with pytest.raises(ConfigError, match=r"cannot resume .*: its run.json holds a config that differs from this one \(train\.steps there is 3\.0, not an integer step count\)"):
        extension(recorded, config(), tmp_path)


def test_resuming_a_folder_whose_run_json_is_empty_is_refused_and_changes_nothing(tmp_path):
    (tmp_path / "run.json").write_text("{}")
    (tmp_path / "metrics.csv").write_text("step,observable,value\n")
    before = files(tmp_path)
    with pytest.raises(ConfigError, match=r"cannot resume .*: its run.json holds no config \(a JSON object\), got None"):
        train(config(), tmp_path, resume=True, device="cpu", progress=False)
    assert files(tmp_path) == before


def test_train_seeds_refuses_a_seed_folder_that_is_a_file(tmp_path):
    (tmp_path / "seed_1").write_text("notes")
    with pytest.raises(RunError, match=r"cannot use .*seed_1 as a run directory: it is a file"):
        train_seeds(config(), [0, 1], tmp_path, device="cpu", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seed_1"]


def test_train_seeds_refuses_to_resume_seed_folders_without_run_json(tmp_path):
    for name in ("seed_0", "seed_1"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "notes.txt").write_text("x")
    before = files(tmp_path)
    with pytest.raises(RunError, match=r"cannot resume .*seed_0: it holds files but no run.json"):
        train_seeds(config(), [0, 1], tmp_path, device="cpu", progress=False, resume=True)
    assert files(tmp_path) == before


def test_train_seeds_refuses_to_resume_a_run_json_that_is_not_an_object(tmp_path):
    for name in ("seed_0", "seed_1"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "run.json").write_text(json.dumps([1, 2]))
    with pytest.raises(CorruptFileError, match=r"seed_0.run\.json is not a run record"):
        train_seeds(config(), [0, 1], tmp_path, device="cpu", progress=False, resume=True)


@pytest.mark.parametrize(("seeds", "named"), [(5, "must be a list of integers, got 5"), ([0, 1.5], "must be non-negative integers, got 1.5"), (["a"], "must be non-negative integers, got 'a'"), ([0, -1], "must be non-negative integers, got -1"), ([True], "must be non-negative integers, got True")])
def test_train_seeds_names_seeds_that_are_not_a_sequence_of_integers(seeds, named, tmp_path):
    with pytest.raises(ConfigError, match=rf"train_seeds' seeds {named}"):
        train_seeds(config(), seeds, tmp_path, device="cpu", progress=False)
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    return train(config(), tmp_path_factory.mktemp("run") / "run", device="cpu", progress=False)


@pytest.mark.parametrize("threads", [0, -1, 1.5, True, "2"])
def test_analyze_names_a_thread_count_that_is_not_a_positive_integer(finished, threads):
    before = files(finished.path)
    with pytest.raises(ValueError, match=rf"threads must be a positive integer .*got {threads!r}"):
        analyze(finished, [LossTracker()], threads=threads, progress=False)
    assert files(finished.path) == before


def test_analyze_refuses_more_threads_than_the_machine_has(finished):
    with pytest.raises(ConfigError, match=rf"threads={os.cpu_count() + 1} exceeds the {os.cpu_count()} CPUs"):
        analyze(finished, [LossTracker()], threads=os.cpu_count() + 1, progress=False)


@pytest.mark.parametrize("device", ["gpu", "CPU", ""])
def test_train_and_train_seeds_name_an_unknown_device_before_any_file(device, tmp_path):
    with pytest.raises(ConfigError, match=rf"device must be auto, cpu or cuda, got {device!r}"):
        train(config(), tmp_path / "run", device=device, progress=False)
    with pytest.raises(ConfigError, match=rf"device must be auto, cpu or cuda, got {device!r}"):
        train_seeds(config(), [0, 1], tmp_path / "sweep", device=device, progress=False)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("loggers", "message"),
    [
        ("tensorboard", r"loggers must be a list of logger names or objects \(loggers=\['tensorboard'\]\), got 'tensorboard'"),
        (3, r"loggers must be a list of logger names or objects .*got 3"),
        ([None], r"a logger needs open, log and close methods: None has no open, log, close"),
        ([object()], r"a logger needs open, log and close methods: <object object .*> has no open, log, close"),
    ],
)
def test_train_refuses_loggers_that_are_not_loggers_before_creating_the_run(loggers, message, tmp_path):
    with pytest.raises(TypeError, match=message):
        train(config(), tmp_path / "run", loggers=loggers, device="cpu", progress=False)
    assert list(tmp_path.iterdir()) == []


def test_torch_threads_sets_the_count_inside_and_restores_it_after_an_error():
    import torch

    from bridge.training import torch_threads

    torch.set_num_threads(1)
    with pytest.raises(RuntimeError, match="inside"):
        with torch_threads(2):
            assert torch.get_num_threads() == 2
            raise RuntimeError("inside")
    assert torch.get_num_threads() == 1


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has CUDA")
def test_cuda_asked_for_on_a_machine_without_it_is_refused_before_any_file(tmp_path):
    from bridge.training import resolve_device

    with pytest.raises(ConfigError, match="device 'cuda' requested but CUDA is not available"):
        resolve_device("cuda")
    with pytest.raises(ConfigError, match="device 'cuda' requested but CUDA is not available"):
        train(config(), tmp_path / "run", device="cuda", progress=False)
    assert list(tmp_path.iterdir()) == []
