"""The optimizer of a run and its learning rate over training: parameter groups (μP's per-layer
rates), warm-up and decay, and gradient clipping, for one run or for seeds stacked along a first axis.

Examples:
    >>> from bridge.config import TrainConfig
    >>> opt = make_optimizer(nn.Linear(2, 1), TrainConfig(optimizer="adam", lr=0.01, warmup=10))
    >>> before_step(opt, TrainConfig(optimizer="adam", lr=0.01, warmup=10), 4, [0.01]); opt.param_groups[0]["lr"]
    0.005
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import Tensor, nn


def make_optimizer(model: nn.Module | Iterable[Tensor] | Iterable[dict[str, Any]], config: Any) -> torch.optim.Optimizer:
    """The optimizer named by ``config.optimizer`` (a :class:`~bridge.config.TrainConfig`) over
    ``model``'s trainable parameters (or over the given tensors or parameter groups).

    A model with an ``optimizer_groups(optimizer, lr)`` method (a parametrised
    :class:`~bridge.models.MLP`) gives its own parameter groups, each with its learning rate;
    a group's weight decay is ``config.weight_decay`` divided by its learning-rate factor, so
    ``lr × weight_decay`` is the same in every group (as ``mup.MuAdamW`` and ``mup.MuSGD``).

    Examples:
        >>> from bridge.config import TrainConfig; [type(make_optimizer(nn.Linear(2, 1), TrainConfig(optimizer=o))).__name__ for o in ("gd", "adamw")]
        ['SGD', 'AdamW']
    """
    params = optimizer_params(model, config)
    if config.optimizer in ("gd", "sgd"):
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    cls = torch.optim.Adam if config.optimizer == "adam" else torch.optim.AdamW
    return cls(params, lr=config.lr, betas=tuple(config.betas), weight_decay=config.weight_decay)


def lr_factor(config: Any, step: int) -> float:
    """The learning-rate factor of step ``step`` (0-based) under ``config.warmup`` and ``config.decay``.

    A warm-up of ``w`` steps rises linearly to 1 at step ``w − 1``; a decay then falls from 1
    to 0 at the last step (``config.steps − 1``), linearly or along a half cosine.

    Examples:
        >>> from bridge.config import TrainConfig
        >>> [lr_factor(TrainConfig(warmup=4), t) for t in (0, 1, 3, 4, 100)]
        [0.25, 0.5, 1.0, 1.0, 1.0]
        >>> [round(lr_factor(TrainConfig(steps=5, decay="linear"), t), 2) for t in range(5)]
        [1.0, 0.75, 0.5, 0.25, 0.0]
        >>> [round(lr_factor(TrainConfig(steps=5, warmup=2, decay="cosine"), t), 2) for t in range(5)]
        [0.5, 1.0, 0.75, 0.25, 0.0]
    """
    if config.warmup and step < config.warmup:
        return (step + 1) / config.warmup
    if config.decay == "none":
        return 1.0
    start = max(config.warmup - 1, 0)
    progress = min(1.0, (step - start) / max(config.steps - 1 - start, 1))
    return 1.0 - progress if config.decay == "linear" else 0.5 * (1.0 + math.cos(math.pi * progress))


def before_step(optimizer: torch.optim.Optimizer, config: Any, step: int, base_lrs: Sequence[float], *, stacked: bool = False) -> None:
    """Set step ``step``'s learning rates (warm-up and decay) and clip the gradient's global norm, as ``config`` asks.

    ``stacked``: the parameters stack seeds along their first axis, and each seed's
    gradient is clipped by its own norm (as :func:`torch.nn.utils.clip_grad_norm_` clips one run's).

    Examples:
        >>> from bridge.config import TrainConfig
        >>> w = nn.Parameter(torch.zeros(2, 2)); opt = torch.optim.SGD([w], lr=0.1)  # two seeds of a 2-vector
        >>> w.grad = torch.tensor([[3.0, 4.0], [0.3, 0.4]])
        >>> before_step(opt, TrainConfig(lr=0.1, warmup=4, clip_grad_norm=1.0), 0, [0.1], stacked=True)
        >>> opt.param_groups[0]["lr"], [round(n, 4) for n in w.grad.norm(dim=1).tolist()]  # a quarter of the rate in the first warm-up step; seed 0 clipped, seed 1 kept
        (0.025, [1.0, 0.5])
    """
    if config.warmup or config.decay != "none":
        factor = lr_factor(config, step)
        for group, lr in zip(optimizer.param_groups, base_lrs):
            group["lr"] = lr * factor
    if config.clip_grad_norm is None:
        return
    params = [p for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
    if not stacked:
        torch.nn.utils.clip_grad_norm_(params, config.clip_grad_norm)
        return
    grads = [p.grad for p in params]
    norms = torch.stack([torch.linalg.vector_norm(g.reshape(len(g), -1), dim=1) for g in grads])  # (tensors, seeds); a scalar parameter stacks to (seeds,)
    coef = (config.clip_grad_norm / (torch.linalg.vector_norm(norms, dim=0) + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(coef.view(-1, *(1,) * (g.ndim - 1)))


def take_step(optimizer: torch.optim.Optimizer, step: int, where: str = "") -> None:
    """``optimizer.step()`` for training step ``step``; a step too large for the weights' floating-point type is a
    :class:`~bridge.runs.errors.Diverged` at ``step + 1`` (torch refuses it with an overflow ``RuntimeError``:
    Adam at ``lr = 3e38`` moves float32 weights by ``lr / (1 - β₁)``, beyond float32's largest number).
    ``where`` follows "weights" in the message (``" of seed 3"``).

    Examples:
        >>> w = nn.Parameter(torch.ones(2)); opt = torch.optim.Adam([w], lr=3e38); w.grad = torch.ones(2)
        >>> take_step(opt, 0)
        Traceback (most recent call last):
        ...
        bridge.runs.errors.Diverged: weights (the optimizer's step at lr 3e+38 overflows float32) became non-finite at step 1; lower train.lr
    """
    from bridge.runs.errors import Diverged

    try:
        optimizer.step()
    except RuntimeError as e:
        if "overflow" not in str(e):
            raise
        lr = max(group["lr"] for group in optimizer.param_groups)
        dtype = str(next((p.dtype for group in optimizer.param_groups for p in group["params"]), torch.float32)).removeprefix("torch.")
        raise Diverged(step + 1, float("inf"), f"{where} (the optimizer's step at lr {lr:g} overflows {dtype})", weights=True) from e


def optimizer_params(
    model: nn.Module | Iterable[Tensor] | Iterable[dict[str, Any]], config: Any, rename: dict[str, Tensor] | None = None
) -> list[Tensor] | list[dict[str, Any]]:
    """What :func:`make_optimizer` optimizes: trainable tensors, or the model's parameter groups.

    ``rename`` (parameter name → tensor) puts other tensors in the model's groups, in its
    order (stacked seeds optimise a stack per parameter). A group without its own
    ``weight_decay`` gets ``config.weight_decay · config.lr / lr`` (a constant ``lr × weight_decay``).

    Examples:
        >>> from bridge.config import TrainConfig; from bridge.models import MLPConfig, build_model
        >>> net = build_model(MLPConfig(d_in=2, d_out=1, widths=(8,), parametrisation="mup", base_width=4), seed=0)
        >>> [(len(g["params"]), g["lr"]) for g in optimizer_params(net, TrainConfig(optimizer="adam", lr=0.01))]  # hidden weights at base/width
        [(1, 0.01), (1, 0.01), (1, 0.005), (1, 0.01)]
        >>> [g["lr"] * g["weight_decay"] for g in optimizer_params(net, TrainConfig(optimizer="adamw", lr=0.01, weight_decay=0.5))]
        [0.005, 0.005, 0.005, 0.005]
        >>> len(optimizer_params(nn.Linear(2, 1), TrainConfig()))  # no groups: the trainable tensors
        2
    """
    if not isinstance(model, nn.Module):
        given = list(model)
        groups_given = [g for g in given if isinstance(g, dict)]
        if len(groups_given) == len(given):
            return groups_given  # parameter groups already
        if rename is not None:
            return list(rename.values())
        tensors = [p for p in given if isinstance(p, Tensor)]
        if len(tensors) < len(given):
            bad = next(i for i, p in enumerate(given) if not isinstance(p, Tensor))
            raise TypeError(f"optimizer_params: model must be a module, tensors or parameter groups (dicts), got a {type(given[bad]).__name__} at position {bad}")
        return [p for p in tensors if p.requires_grad]
    groups = getattr(model, "optimizer_groups", None)
    if not callable(groups) and rename is not None:
        return list(rename.values())
    if not callable(groups):
        trainable: list[Tensor] = [p for p in model.parameters() if p.requires_grad]
        return trainable
    names = {id(p): n for n, p in model.named_parameters()}
    out: list[dict[str, Any]] = []
    for g in groups(config.optimizer, config.lr):
        kept = [p for p in g["params"] if p.requires_grad]
        if kept:
            decay = {"weight_decay": config.weight_decay * config.lr / g["lr"]} if config.weight_decay and "weight_decay" not in g else {}
            out.append({**g, **decay, "params": [rename[names[id(p)]] for p in kept] if rename is not None else kept})
    return out


__all__ = ["before_step", "lr_factor", "make_optimizer", "optimizer_params"]
