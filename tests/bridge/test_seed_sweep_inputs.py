"""Stacked seed sweeps: the folders they write, the seeds they resume together, and what they refuse."""

import dataclasses

import pytest
import torch

from bridge import ConfigError, RunConfig, RunError, ScheduleConfig, TrainConfig, load_run, train
from bridge.models import DeepLinearConfig
from bridge.tasks import LinearTeacherConfig
from bridge.training.seeds import train_seeds


def config(steps: int = 40, optimizer: str = "adam") -> RunConfig:
    return RunConfig(
        LinearTeacherConfig((2.0, 1.0), d_in=4, d_out=4, n_train=32),
        DeepLinearConfig(4, 8, 4, init_std=0.1),
        TrainConfig(optimizer=optimizer, lr=0.01, steps=steps, batch_size=8, schedule=ScheduleConfig(n_log=0, every=10)),
    )


@pytest.mark.parametrize(("folders", "count"), [(["a"], 1), (["a", "a"], 1), (["a", "b", "c"], 3)])
def test_folders_must_be_one_distinct_folder_per_seed(tmp_path, folders, count):
    with pytest.raises(ConfigError, match=rf"train_seeds needs one distinct folder per seed, got {count} for 2 seeds"):
        train_seeds(config(), [0, 1], tmp_path, folders=[tmp_path / f for f in folders], device="cpu", progress=False)
    assert list(tmp_path.iterdir()) == []


def test_given_folders_hold_the_seeds_in_order(tmp_path):
    runs = train_seeds(config(), [5, 2], tmp_path / "unused", folders=[tmp_path / "x", tmp_path / "y"], device="cpu", progress=False)
    assert [(r.path.name, r.config.seed) for r in runs] == [("x", 5), ("y", 2)] and not (tmp_path / "unused").exists()
    single = train(dataclasses.replace(config(), seed=2), tmp_path / "two", device="cpu", progress=False)
    torch.testing.assert_close(load_run(tmp_path / "y").model_at(40).state_dict(), single.model_at(40).state_dict(), rtol=1e-5, atol=1e-7)


def test_seeds_trained_for_different_steps_are_not_extended_together(tmp_path):
    train_seeds(config(40), [0], tmp_path, device="cpu", progress=False)
    train_seeds(config(60), [1], tmp_path, device="cpu", progress=False)
    before = {p: p.read_bytes() for p in sorted(tmp_path.rglob("*")) if p.is_file()}
    with pytest.raises(RunError, match=r"cannot extend the sweep in .*: its seeds were set to train for different steps \(seed_0: 40, seed_1: 60\)"):
        train_seeds(config(60), [0, 1], tmp_path, device="cpu", progress=False, resume=True)
    assert {p: p.read_bytes() for p in sorted(tmp_path.rglob("*")) if p.is_file()} == before


def test_a_seed_whose_weights_overflow_is_named_by_its_seed(tmp_path):
    from bridge.runs.errors import Diverged

    # at lr 3e38 one step overflows the weights of seed 4 (a gradient entry above 1.13) but not those of seed 2
    cfg = RunConfig(
        LinearTeacherConfig((2.0, 1.0), d_in=4, d_out=4),
        DeepLinearConfig(4, 16, 4, init_std=0.3),
        TrainConfig(lr=3e38, steps=3, schedule=ScheduleConfig(n_log=3, every=1)),
    )
    for seed, error in ((2, "training loss became nan at step 1"), (4, "weights became non-finite at step 1")):
        with pytest.raises(Diverged, match=error):
            train(dataclasses.replace(cfg, seed=seed), tmp_path / f"alone_{seed}", device="cpu", progress=False)
    with pytest.raises(Diverged, match=r"weights of seed 4 became non-finite at step 1; lower train.lr"):
        train_seeds(cfg, [2, 4], tmp_path / "sweep", device="cpu", progress=False)
