"""Seeds trained as one stacked model give each seed's own run, for the model kinds not covered elsewhere: the toy
superposition model on sparse features (its own stacked forward and importance-weighted loss), a μP MLP under AdamW
with weight decay and a cosine decay (parameter groups at their own rates), and a user's model holding a scalar
parameter, clipped and resumed (its stacked parameter and optimizer moments have one axis only, the seeds')."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pytest
import torch
from torch import nn

from bridge import RunConfig, ScheduleConfig, TrainConfig, train
from bridge.config import config_class
from bridge.models import MODELS, MLPConfig, ToySuperpositionConfig
from bridge.tasks import LinearTeacherConfig
from bridge.tasks.sparse_features import SparseFeaturesConfig
from bridge.training.seeds import train_seeds

# float32 runs of a few steps: stacked and alone differ by the order of a few roundings of each step
FLOAT32_TOL = dict(rtol=1e-5, atol=1e-6)


@config_class("gained_linear")
@dataclass(frozen=True)
class GainedLinearConfig:
    d_in: int = 3
    d_out: int = 3


class GainedLinear(nn.Module):
    """``g · W x`` with a scalar gain ``g``: a 0-dimensional parameter."""

    def __init__(self, config: GainedLinearConfig, seed: int) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.weight = nn.Parameter(torch.randn(config.d_out, config.d_in, generator=gen) / config.d_in**0.5)
        self.gain = nn.Parameter(torch.tensor(0.5 + seed / 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gain * x @ self.weight.T


MODELS.register("gained_linear")(GainedLinear)


def final(run):
    return run.model_at(run.steps[-1]).state_dict()


def assert_each_seed_trained_alone(cfg, seeds, runs, tmp_path):
    for seed, run in zip(seeds, runs):
        alone = final(train(dataclasses.replace(cfg, seed=seed), tmp_path / f"alone{seed}", device="cpu", progress=False))
        stacked = final(run)
        assert list(stacked) == list(alone)
        for name, value in alone.items():
            torch.testing.assert_close(stacked[name], value, **FLOAT32_TOL, msg=name)


def small(optimizer="adam", steps=6, **train):
    return TrainConfig(optimizer=optimizer, lr=0.02, steps=steps, schedule=ScheduleConfig(n_log=0, every=3), **train)


@pytest.mark.parametrize(
    "cfg",
    [
        RunConfig(SparseFeaturesConfig(n_features=5, n_train=32, n_test=8), ToySuperpositionConfig(n_features=5, n_hidden=2), small(batch_size=8), seed=0),
        RunConfig(
            LinearTeacherConfig((2.0, 1.0), d_in=4, d_out=3, n_train=16),
            MLPConfig(d_in=4, d_out=3, widths=(16, 16), parametrisation="mup", base_width=4),
            small("adamw", weight_decay=0.3, decay="cosine", warmup=2),
            seed=0,
        ),
    ],
    ids=["toy_superposition", "mup_mlp"],
)
def test_stacked_seeds_of_each_model_kind_are_each_seed_trained_alone(cfg, tmp_path):
    seeds = [0, 3]
    runs = train_seeds(cfg, seeds, tmp_path / "sweep", device="cpu", progress=False)
    assert_each_seed_trained_alone(cfg, seeds, runs, tmp_path)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_a_model_with_a_scalar_parameter_trains_clipped_and_resumes_stacked_as_alone(optimizer, tmp_path):
    cfg = RunConfig(LinearTeacherConfig((2.0, 1.0), d_in=3, d_out=3, n_train=16), GainedLinearConfig(), small(optimizer, batch_size=4, momentum=0.9 if optimizer == "sgd" else 0.0, clip_grad_norm=0.5), seed=0)
    seeds = [1, 2]
    train_seeds(cfg, seeds, tmp_path / "sweep", device="cpu", progress=False)
    longer = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, steps=9))  # extended: the optimizer states are stacked again
    runs = train_seeds(longer, seeds, tmp_path / "sweep", device="cpu", progress=False, resume=True)
    assert [r.steps[-1] for r in runs] == [9, 9]
    assert_each_seed_trained_alone(longer, seeds, runs, tmp_path)
