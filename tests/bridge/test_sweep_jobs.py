"""What a sweep hands to its workers: the jobs of points by state, and a case study's seed and settings per point."""

import sys

import pytest

import case_studies
from bridge.config import ConfigError
from bridge.sweep.backends import get_backend
from bridge.sweep.grid import Point, grid_points
from bridge.sweep.point import Stack, Target, run_point, stack_points


def _jobs(state):
    pts = grid_points({"train.lr": [0.1]}, seeds=[0, 1])
    return [(type(j).__name__, j.key) for j in stack_points(pts, Target("run", config={}), {p.key: state for p in pts})]


def test_seeds_are_stacked_only_when_all_new_or_all_interrupted():
    stacked = [("Stack", "train.lr=0.1__seed=0 + train.lr=0.1__seed=1")]
    alone = [("Point", "train.lr=0.1__seed=0"), ("Point", "train.lr=0.1__seed=1")]
    assert _jobs("pending") == stacked
    assert _jobs("interrupted") == stacked
    assert _jobs("running") == alone  # another process trains them: each point meets its lock alone
    assert _jobs("failed") == alone


def test_a_single_seed_is_not_a_stack_and_a_case_study_never_stacks():
    pts = grid_points({"train.lr": [0.1, 0.2]}, seeds=[0])
    jobs = stack_points(pts, Target("run", config={}), {p.key: "pending" for p in pts})
    assert all(isinstance(j, Point) for j in jobs) and [j.key for j in jobs] == ["train.lr=0.1__seed=0", "train.lr=0.2__seed=0"]
    pts = grid_points(seeds=[0, 1])
    assert not any(isinstance(j, Stack) for j in stack_points(pts, Target("case_study", case_study="deep-linear"), {p.key: "pending" for p in pts}))


def test_a_case_study_point_trains_with_its_seed_or_zero_and_the_settings_before_its_own(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(case_studies, "run_case_study", lambda case, preset, folder, **kw: calls.append((case, preset, folder, kw["seed"], kw["settings"])))
    target = Target("case_study", case_study="deep-linear", preset="quick", settings=("train.steps=3",))
    outcomes = [run_point(target, p, str(tmp_path / p.key)) for p in (Point((("train.lr", 0.1),)), Point((("train.lr", 0.1), ("seed", 5))))]
    assert [o["status"] for o in outcomes] == ["done", "done"]
    assert calls == [
        ("deep-linear", "quick", str(tmp_path / "train.lr=0.1"), 0, ["train.steps=3", "train.lr=0.1"]),
        ("deep-linear", "quick", str(tmp_path / "train.lr=0.1__seed=5"), 5, ["train.steps=3", "train.lr=0.1"]),
    ]


def test_an_empty_grid_is_one_point_named_base():
    (point,) = grid_points({})
    assert (point.key, point.params, point.seed, point.config_settings()) == ("base", {}, None, [])


@pytest.mark.parametrize("name", ["ray", "submitit"])
def test_a_backend_whose_package_is_missing_is_refused_when_chosen(monkeypatch, name):
    monkeypatch.setitem(sys.modules, name, None)  # import of it fails as if not installed
    with pytest.raises(ConfigError) as e:
        get_backend(name)
    assert str(e.value) == f"the {name} backend needs {name}: pip install 'mechbridge[{name}]'"


def test_a_run_target_without_a_config_is_refused_when_made():
    with pytest.raises(ConfigError, match="kind 'run' needs config, the base run config as a dict, got None"):
        Target("run")
    assert Target("run", config={}).config == {}


def test_a_stack_of_a_point_without_a_seed_is_refused_when_made():
    with pytest.raises(ConfigError, match="must each set a seed, got 'train.lr=0.1'"):
        Stack((Point((("train.lr", 0.1),)), Point((("train.lr", 0.1), ("seed", 1)))))
    assert Stack(tuple(grid_points({"train.lr": [0.1]}, seeds=[4, 2]))).seeds == [4, 2]
