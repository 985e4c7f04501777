"""What a sweep refuses from its grid alone, before any work: more points than it takes (naming its axes and their sizes), and a field its base lacks (naming the close one)."""

import time

import numpy as np
import pytest

from bridge import models, tasks
from bridge.config import ConfigError, RunConfig, TrainConfig
from bridge.sweep.grid import MAX_POINTS, grid_points
from bridge.sweep.runner import run_sweep


def _config():
    return RunConfig(tasks.LinearTeacherConfig((2.0, 1.0), d_in=3, d_out=3), models.DeepLinearConfig(3, 8, 3), TrainConfig(steps=2))


def test_a_grid_of_27000_points_is_refused_for_its_size_before_its_values_are_read_or_anything_written(tmp_path):
    grid = {"train.lr": [0.01 * (i + 1) for i in range(30)], "train.steps": list(range(10, 40)), "model.d_hidden": [*range(4, 33), -1]}
    t0 = time.perf_counter()
    with pytest.raises(ConfigError) as e:
        run_sweep(_config(), tmp_path / "huge", grid=grid, progress=False)
    assert time.perf_counter() - t0 < 5.0
    assert str(e.value) == f"a sweep of 27000 points (train.lr 30 × train.steps 30 × model.d_hidden 30) is more than {MAX_POINTS}; split it into several sweeps"
    assert not (tmp_path / "huge").exists()


def test_seeds_and_listed_points_count_in_the_product():
    t0 = time.perf_counter()
    with pytest.raises(ConfigError, match=r"a sweep of 200000 points \(train\.lr 2 × seed 100000\) is more than"):
        grid_points({"train.lr": [0.1, 0.2]}, seeds=range(10**5))
    with pytest.raises(ConfigError, match=r"a sweep of 1000000 points \(train\.lr 1000000\)"):
        grid_points({"train.lr": np.linspace(0.001, 1, 10**6)})
    with pytest.raises(ConfigError, match=rf"a sweep of {2 * MAX_POINTS} points \(points {MAX_POINTS} × seed 2\)"):
        grid_points(points=[{"train.lr": 0.1}] * MAX_POINTS, seeds=[0, 1])
    assert time.perf_counter() - t0 < 5.0


def test_a_grid_of_exactly_the_limit_is_taken():
    pts = grid_points({"train.lr": [0.1, 0.2]}, seeds=range(MAX_POINTS // 2))
    assert len(pts) == MAX_POINTS and pts[-1].params == {"train.lr": 0.2, "seed": MAX_POINTS // 2 - 1}


@pytest.mark.parametrize("path, close", [("train.lrr", "train.lr"), ("model.d_hiden", "model.d_hidden"), ("train.schedule.nlog", "train.schedule.n_log"), ("trian.lr", "train")])
def test_an_unknown_field_names_the_close_one(tmp_path, path, close):
    with pytest.raises(ConfigError) as e:
        run_sweep(_config(), tmp_path / "typo", grid={path: [1]}, progress=False)
    assert str(e.value).startswith(f"unknown sweep setting {path!r}: ") and str(e.value).endswith(f"; did you mean {close}?")
    assert not (tmp_path / "typo").exists()


def test_an_unknown_field_with_no_close_one_names_only_the_fields(tmp_path):
    with pytest.raises(ConfigError) as e:
        run_sweep(_config(), tmp_path / "typo", grid={"train.zzz": [1]}, progress=False)
    assert "did you mean" not in str(e.value) and str(e.value).startswith("unknown sweep setting 'train.zzz': train has optimizer, lr")


def test_axes_without_a_length_count_once_listed():
    with pytest.raises(ConfigError, match=r"a sweep of 20000 points \(train\.lr 10000 × seed 2\) is more than"):
        grid_points({"train.lr": (0.001 * i for i in range(1, 10001))}, seeds=[0, 1])
    with pytest.raises(ConfigError, match=r"a sweep of 20000 points \(points 10000 × seed 2\) is more than"):
        grid_points(points=({"train.lr": 0.001 * i} for i in range(1, 10001)), seeds=iter([0, 1]))
