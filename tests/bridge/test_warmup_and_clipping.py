"""Learning-rate warm-up, decay and gradient clipping: by hand against the loop, stacked seeds against one by one, resumed against whole."""

import dataclasses
import math

import pytest
import torch

from bridge import ConfigError, RunConfig, ScheduleConfig, TrainConfig, train
from bridge.models import MLPConfig
from bridge.tasks import LinearTeacherConfig
from bridge.training.inputs import build_for_task, validate
from bridge.training.seeds import train_seeds
from helpers import Crash


def config(**train):
    settings = dict(optimizer="sgd", lr=0.05, steps=12, batch_size=8, schedule=ScheduleConfig(n_log=0, every=4)) | train
    return RunConfig(
        task=LinearTeacherConfig((2.0, 1.0, 0.5), d_in=6, d_out=5, n_train=32),
        model=MLPConfig(d_in=6, d_out=5, widths=(16,), activation="tanh"),
        train=TrainConfig(**settings),
        seed=0,
    )


def by_hand(cfg):
    """The same run written out: SGD at ``lr·min(1, (t+1)/warmup)`` times the decay, the gradient's global norm clipped to ``c``."""
    from bridge.training.loop import batch_indices

    data = validate(cfg)
    model = build_for_task(cfg, data)
    tc = cfg.train
    for t in range(tc.steps):
        idx = batch_indices(len(data.train), tc.batch_size, t, cfg.seed)
        model.zero_grad(set_to_none=True)
        data.loss_fn(model(data.train.x[idx]), data.train.y[idx]).backward()
        grads = [p.grad for p in model.parameters()]
        norm = torch.sqrt(sum((g.double() ** 2).sum() for g in grads))
        scale = min(1.0, tc.clip_grad_norm / (float(norm) + 1e-6)) if tc.clip_grad_norm else 1.0
        lr = tc.lr * (min(1.0, (t + 1) / tc.warmup) if tc.warmup else 1.0) * decayed(tc, t)
        with torch.no_grad():
            for p, g in zip(model.parameters(), grads):
                p -= lr * scale * g
    return model.state_dict()


def decayed(tc, t):
    """The decay's factor at step t: 1 through the warm-up's last step w − 1, then down to 0 at step T − 1."""
    w = max(tc.warmup, 1)
    if tc.decay == "none" or t < w:
        return 1.0
    x = (t - (w - 1)) / (tc.steps - w)
    return 1 - x if tc.decay == "linear" else (1 + math.cos(math.pi * x)) / 2


def final(run):
    return run.model_at(run.steps[-1]).state_dict()


@pytest.mark.parametrize(
    "settings",
    [{"warmup": 5}, {"clip_grad_norm": 0.05}, {"warmup": 20, "clip_grad_norm": 0.2}, {"decay": "linear"}, {"warmup": 4, "decay": "cosine", "clip_grad_norm": 0.2}],
)
def test_the_loop_warms_up_and_clips_as_written_out_by_hand(tmp_path, settings):
    cfg = config(**settings)
    run = train(cfg, tmp_path / "run", device="cpu", progress=False)
    want = by_hand(cfg)
    for name, value in final(run).items():
        torch.testing.assert_close(value, want[name], rtol=1e-5, atol=1e-6)
    plain = final(train(config(), tmp_path / "plain", device="cpu", progress=False))
    assert any((final(run)[k] - plain[k]).abs().max() > 1e-4 for k in plain)  # the settings changed the run


def test_clipping_bounds_every_step_of_a_large_gradient(tmp_path):
    cfg = config(optimizer="gd", lr=1.0, steps=1, batch_size=None, clip_grad_norm=1e-3)
    start = build_for_task(cfg, validate(cfg)).state_dict()
    after = final(train(cfg, tmp_path / "run", device="cpu", progress=False))
    moved = torch.sqrt(sum(((after[k] - start[k]).double() ** 2).sum() for k in start))
    assert float(moved) == pytest.approx(1e-3, rel=1e-4)


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_stacked_seeds_warm_up_and_clip_each_seed_as_alone(tmp_path, optimizer):
    cfg = config(optimizer=optimizer, lr=0.05 if optimizer == "sgd" else 0.01, warmup=6, clip_grad_norm=0.1, momentum=0.9 if optimizer == "sgd" else 0.0, decay="cosine")
    runs = train_seeds(cfg, [0, 1, 2], tmp_path / "sweep", device="cpu", progress=False)
    for seed, run in zip([0, 1, 2], runs):
        alone = final(train(dataclasses.replace(cfg, seed=seed), tmp_path / f"alone{seed}", device="cpu", progress=False))
        for name, value in final(run).items():
            torch.testing.assert_close(value, alone[name], rtol=1e-5, atol=1e-6)


def test_a_run_killed_during_warm_up_resumes_to_the_whole_run_bitwise(tmp_path):
    cfg = config(warmup=10, clip_grad_norm=0.1, momentum=0.9, schedule=ScheduleConfig(n_log=0, every=4, track_every=1))  # killed at 7, resumed from 4
    whole = final(train(cfg, tmp_path / "whole", device="cpu", progress=False))
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "cut", trackers=[Crash(at=7)], device="cpu", progress=False)
    resumed = final(train(cfg, tmp_path / "cut", device="cpu", progress=False, resume=True))
    for name, value in whole.items():
        assert torch.equal(resumed[name], value), name


@pytest.mark.parametrize("settings, message", [({"warmup": -1}, "train.warmup must be a non-negative integer"), ({"clip_grad_norm": 0.0}, "train.clip_grad_norm must be a positive number")])
def test_bad_settings_are_refused(settings, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**settings)


def test_a_decaying_run_is_not_extended_and_a_bad_decay_is_refused(tmp_path):
    cfg = config(decay="linear")
    train(cfg, tmp_path / "run", device="cpu", progress=False)
    longer = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, steps=24))
    with pytest.raises(ConfigError, match="learning rate decays"):
        train(longer, tmp_path / "run", device="cpu", progress=False, resume=True)
    with pytest.raises(ConfigError, match="train.decay must be one of"):
        TrainConfig(decay="step")
