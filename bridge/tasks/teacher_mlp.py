"""Regression on a random tanh teacher network: a small nonlinear target for curvature studies.

Inputs ``x ~ N(0, I_d)``; targets ``y = W₂ tanh(W₁ x)`` with
``W₁ ~ N(0, scale²/d)`` and ``W₂ ~ N(0, 1/width)``, standardised to unit
variance over the training set. A large ``scale`` saturates the teacher's
units and makes the function harder to fit, which is what drives progressive
sharpening of a student trained by gradient descent (Cohen et al. 2021).

Examples:
    >>> from bridge.tasks import make_task
    >>> data = make_task(TeacherMLPConfig(d_in=4, n_train=32, n_test=8), seed=0)
    >>> tuple(data.train.x.shape), tuple(data.train.y.shape), data.loss
    ((32, 4), (32, 1), 'mse')
    >>> round(float(data.train.y.std()), 4)
    1.0
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from bridge.config import config_class, require
from bridge.seeding import derive_seed, generator
from bridge.tasks.base import TASKS, Split, TaskData
from bridge.tasks.memory import check_memory, sized


@config_class("teacher_mlp")
@dataclass(frozen=True)
class TeacherMLPConfig:
    """A one-hidden-layer tanh teacher ``d_in → width → d_out`` on Gaussian inputs, MSE loss.

    Args:
        d_in: input dimension.
        n_train: training examples (the full batch of gradient descent).
        n_test: held-out examples (0: no test split).
        width: teacher hidden width.
        scale: input-weight scale of the teacher (larger: more saturated, harder).
        d_out: output dimension.
        noise: standard deviation of Gaussian label noise added after standardising.

    Examples:
        >>> TeacherMLPConfig(scale=1.0).width
        64
        >>> TeacherMLPConfig(n_train=1)
        Traceback (most recent call last):
        ...
        bridge.config.ConfigError: teacher_mlp.n_train must be >= 2 to standardise, got 1
    """

    d_in: int = 8
    n_train: int = 256
    n_test: int = 256
    width: int = 64
    scale: float = 4.0
    d_out: int = 1
    noise: float = 0.0

    def __post_init__(self) -> None:
        for name in ("d_in", "n_train", "width", "d_out"):
            require(getattr(self, name) > 0, f"teacher_mlp.{name} must be positive, got {getattr(self, name)}")
        require(self.n_train >= 2, f"teacher_mlp.n_train must be >= 2 to standardise, got {self.n_train}")
        require(self.n_test >= 0, f"teacher_mlp.n_test must be >= 0, got {self.n_test}")
        require(self.scale > 0, f"teacher_mlp.scale must be positive, got {self.scale}")
        require(self.noise >= 0, f"teacher_mlp.noise must be >= 0, got {self.noise}")


@sized("teacher_mlp")
def _teacher_mlp_bytes(c: TeacherMLPConfig) -> tuple[dict, int]:
    """The teacher's weights, the inputs, the hidden units (pre- and post-tanh) and the targets, in float32."""
    n = c.n_train + c.n_test
    need = 4 * (c.width * (c.d_in + c.d_out) + n * c.d_in + 2 * n * c.width + 3 * n * c.d_out)
    return {"d_in": c.d_in, "width": c.width, "d_out": c.d_out, "n_train": c.n_train, "n_test": c.n_test}, need


@TASKS.register("teacher_mlp")
def make_teacher_mlp(config: TeacherMLPConfig, seed: int) -> TaskData:
    """Draw the teacher and the inputs from ``seed``; info holds the teacher weights and the target scale.

    Splits: ``x`` ``(n, d_in)``, ``y`` ``(n, d_out)``. ``info``: ``W1`` ``(width, d_in)``,
    ``W2`` ``(d_out, width)``, ``target_mean`` and ``target_std`` ``(d_out,)``.

    Raises:
        ValueError: an output of the teacher is the same at every training input (nothing to standardise).

    Examples:
        >>> data = make_teacher_mlp(TeacherMLPConfig(d_in=3, n_train=16, n_test=0, width=5, d_out=2), seed=0)
        >>> tuple(data.train.y.shape), tuple(data.info["W1"].shape), tuple(data.info["W2"].shape), data.test
        ((16, 2), (5, 3), (2, 5), None)
        >>> [round(float(v), 4) for v in data.train.y.std(0)]   # standardised per output
        [1.0, 1.0]
    """
    check_memory(config)
    g = generator(derive_seed(seed, "teacher_mlp"))
    w1 = torch.randn(config.width, config.d_in, generator=g) * (config.scale / math.sqrt(config.d_in))
    w2 = torch.randn(config.d_out, config.width, generator=g) / math.sqrt(config.width)
    x = torch.randn(config.n_train + config.n_test, config.d_in, generator=g)
    y = torch.tanh(x @ w1.T) @ w2.T
    mean, std = y[: config.n_train].mean(0), y[: config.n_train].std(0)
    flat = [j for j, s in enumerate(std.tolist()) if not s > 0]
    if flat:  # saturated units (tanh rounds to ±1) can give every training input the same output
        raise ValueError(
            f"teacher_mlp: output {flat[0]} of the teacher drawn by seed {seed} is the same at all n_train={config.n_train} "
            f"training inputs (scale={config.scale}, width={config.width}), so it cannot be standardised; "
            "use more training inputs, a wider teacher or a smaller scale"
        )
    y = (y - mean) / std
    if config.noise > 0:
        y = y + config.noise * torch.randn(y.shape, generator=g)
    train = Split(x[: config.n_train], y[: config.n_train])
    test = Split(x[config.n_train :], y[config.n_train :]) if config.n_test else None
    info = {"W1": w1, "W2": w2, "target_mean": mean, "target_std": std}
    return TaskData(train, test, "mse", info)


__all__ = ["TeacherMLPConfig", "make_teacher_mlp"]
