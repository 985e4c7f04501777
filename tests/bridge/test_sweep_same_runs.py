"""Two sweep points whose values differ as typed but read as one value of their field would train the same
run twice: the sweep refuses them before any work, naming the field and both values."""

import pytest

import bridge
from bridge import ConfigError, RunConfig, ScheduleConfig, TrainConfig
from bridge.config import config_to_dict
from bridge.models import MLPConfig
from bridge.sweep import grid_points
from bridge.sweep.checks import check_values
from bridge.sweep.point import Target
from bridge.tasks import LinearTeacherConfig


def tiny():
    return RunConfig(
        task=LinearTeacherConfig((2.0, 1.0), d_in=4, d_out=3, n_train=16),
        model=MLPConfig(d_in=4, d_out=3, widths=(8,), activation="tanh"),
        train=TrainConfig(optimizer="adam", lr=0.01, steps=2, batch_size=8, schedule=ScheduleConfig(n_log=0, every=2)),
    )


def test_a_learning_rate_given_as_1_and_1_point_0_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(ConfigError) as e:
        bridge.sweep(tiny(), tmp_path / "sw", grid={"train.lr": [1, 1.0]}, seeds=[0, 1], progress=False)
    assert str(e.value) == "sweep points train.lr=1__seed=0 and train.lr=1.0__seed=0 would train the same run: train.lr 1 and 1.0 both read as 1.0; give each value once"
    assert not (tmp_path / "sw").exists()


def test_values_typed_as_on_a_command_line_are_read_by_their_field_before_comparing():
    target = Target("run", config=config_to_dict(tiny()))
    with pytest.raises(ConfigError) as e:
        check_values(target, grid_points({"model.widths": ["[8]", "[16]"], "train.lr": ["2", "2.0"]}))
    assert str(e.value) == "sweep points model.widths=8__train.lr=2 and model.widths=8__train.lr=2.0 would train the same run: train.lr 2 and 2.0 both read as 2.0; give each value once"
    check_values(target, grid_points({"train.lr": ["0.5", "0.05"], "train.steps": ["2", "3"]}))  # distinct after parsing: nothing to say


def test_a_listed_point_that_sets_the_base_value_is_the_point_that_sets_nothing():
    with pytest.raises(ConfigError) as e:
        check_values(Target("run", config=config_to_dict(tiny())), grid_points(points=[{"train.lr": 0.01}, {}]))
    assert str(e.value) == "sweep points train.lr=0.01 and base would train the same run: train.lr 0.01 and unset both read as 0.01; give each value once"


def test_seeds_that_differ_by_one_near_two_to_the_63_are_two_runs():
    check_values(Target("run", config=config_to_dict(tiny())), grid_points(seeds=[2**63 - 2, 2**63 - 1]))  # equal as floats, not as seeds


def test_a_case_study_point_is_its_preset_and_its_seed():
    target = Target("case_study", case_study="deep-linear", settings=("train.steps=20",))
    check_values(target, grid_points({"train.lr": ["0.1"]}, seeds=[0, 1]))  # one preset, two seeds: two runs
    with pytest.raises(ConfigError) as e:
        check_values(target, grid_points({"train.lr": ["1", "1.0"]}, seeds=[3]))
    assert str(e.value) == "sweep points train.lr=1__seed=3 and train.lr=1.0__seed=3 would train the same run: train.lr 1 and 1.0 both read as 1.0; give each value once"
    with pytest.raises(ConfigError, match="sweep points train.steps=20 and base would train the same run: train.steps 20 and unset both read as 20;"):
        check_values(target, grid_points(points=[{"train.steps": 20}, {}]))


def test_the_command_line_refuses_the_repeated_value_in_one_line_and_writes_nothing(tmp_path, capsys):
    from bridge.cli.app import main

    assert main(["sweep", "deep-linear", "--grid", "train.lr=1,1.0", "--out", str(tmp_path / "sw"), "--quiet"]) == 2
    assert capsys.readouterr().err == "mechbridge: error: sweep points train.lr=1 and train.lr=1.0 would train the same run: train.lr 1 and 1.0 both read as 1.0; give each value once\n"
    assert not (tmp_path / "sw").exists()
