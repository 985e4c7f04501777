"""What stacking seeds takes: which seeds can be stacked, and the state moved between per-seed and stacked form.

:func:`bridge.train_seeds` (in :mod:`bridge.training.seeds`) trains seeds whose data shapes, loss
and buffer layout agree (:func:`_check_stackable`, :func:`_check_buffers`) as one model whose
parameters, seed-dependent buffers (:func:`_seed_buffers`) and optimizer state
(:func:`_stack_optimizer_state`, :func:`_seed_optimizer_state`) carry a leading seed axis; the
stacked parameters take the memory layout their gradients arrive in (:func:`_laid_out_as_gradients`),
and trackers that measure every seed at once are found by :func:`_shared_stacked_trackers`.
Nothing here touches a file.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from bridge.config import ConfigError
from bridge.runs.errors import RunError
from bridge.tasks import TaskData
from bridge.trackers.base import StackedTracker, Tracker


def _check_stackable(datas: list[TaskData]) -> None:
    first = datas[0]
    for data in datas[1:]:
        if data.train.x.shape != first.train.x.shape or data.train.y.shape != first.train.y.shape:
            raise ConfigError("train_seeds needs every seed's training data to have the same shapes")
        if not _same(data.loss, first.loss):
            raise ConfigError("train_seeds needs every seed to have the same loss (this task's loss depends on the seed)")


def _same(a: Any, b: Any) -> bool:
    """Exact equality of losses and optimizer scalars: values, tensors, or dataclasses field by field."""
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        return isinstance(a, Tensor) and isinstance(b, Tensor) and a.shape == b.shape and bool(torch.equal(a, b))
    if dataclasses.is_dataclass(a) and type(a) is type(b):
        return all(_same(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a))
    return a is b or bool(a == b)


def _check_buffers(models: list[nn.Module]) -> None:
    """Every seed's model must hold buffers of the same names and shapes (their values may differ)."""
    first = {n: b.shape for n, b in models[0].named_buffers()}
    for model in models[1:]:
        if {n: b.shape for n, b in model.named_buffers()} != first:
            raise ConfigError("train_seeds: the seeds' models hold buffers of different names or shapes; train them one by one with bridge.train")


def _seed_buffers(models: list[nn.Module]) -> dict[str, Tensor]:
    """The buffers whose values differ between seeds (a lazy model's frozen initial copy, say),
    stacked ``(seeds, ...)``; the others are the same in every seed and stay the shared model's."""
    by_seed = [dict(m.named_buffers()) for m in models]
    return {n: torch.stack([b[n] for b in by_seed]) for n in by_seed[0] if any(not torch.equal(b[n], by_seed[0][n]) for b in by_seed[1:])}


SHARED_COUNTERS = frozenset({"step"})  # the optimizer state every seed shares (SGD, Adam and AdamW keep no other)


def _stack_optimizer_state(optimizers: Sequence[torch.optim.Optimizer]) -> dict[str, Any]:
    """One state dict whose tensors stack the seeds' states along a new leading axis."""
    states = [o.state_dict() for o in optimizers]
    stacked: dict[int, dict[str, Any]] = {}
    for index, entries in states[0]["state"].items():
        stacked[index] = {}
        for key, value in entries.items():
            values = [s["state"][index][key] for s in states]
            if isinstance(value, Tensor) and (value.ndim > 0 or key not in SHARED_COUNTERS):  # a scalar parameter's moments are 0-d
                stacked[index][key] = torch.stack(values)
            else:  # shared counters (Adam's step) and empty slots
                if not all(_same(v, value) for v in values):
                    raise RunError(f"cannot resume the sweep: the seeds' optimizer {key!r} differ")
                stacked[index][key] = value
    return {"state": stacked, "param_groups": states[0]["param_groups"]}


def _seed_optimizer_state(stacked: dict[str, Any], k: int) -> dict[str, Any]:
    """Seed ``k``'s slice of a stacked optimizer state dict."""
    state = {i: {key: v[k] if isinstance(v, Tensor) and v.ndim > 0 else v for key, v in entries.items()} for i, entries in stacked["state"].items()}
    return {"state": state, "param_groups": stacked["param_groups"]}


def _laid_out_as_gradients(params: dict[str, Tensor], losses: Callable[[dict[str, Tensor]], Tensor]) -> dict[str, Tensor]:
    """``params`` with the same values, each in the memory layout its gradient arrives in.

    A batched product ``h @ W.mT`` returns ``W``'s gradient transposed (a plain matrix
    product does not), and accumulating it into a parameter of another layout copies it
    at every step: for the deep linear network, a sixth of the stacked step. One backward
    pass of ``losses`` (per seed, shape ``(seed,)``) shows the layouts; nothing is stepped.
    Values, and so every result, are unchanged: the layout only moves memory.
    """
    arrived: dict[str, Tensor] = {}

    def keep(name: str, grad: Tensor) -> None:
        arrived[name] = torch.empty_like(grad, memory_format=torch.preserve_format)  # its strides when dense, else contiguous

    handles = [p.register_hook(lambda grad, name=name: keep(name, grad)) for name, p in params.items()]
    try:
        losses(params).sum().backward()
    finally:
        for handle in handles:
            handle.remove()
    out = {}
    for name, p in params.items():
        p.grad = None
        like = arrived.get(name)
        out[name] = p if like is None or _layout(like) == _layout(p) else like.copy_(p.detach()).requires_grad_()
    return out


def _layout(t: Tensor) -> tuple[int, ...]:
    """The strides that place ``t``'s elements (those of axes of size 1 place nothing)."""
    return tuple(stride for stride, size in zip(t.stride(), t.shape) if size > 1)


def _shared_stacked_trackers(trackers: list[list[Tracker]]) -> list[int]:
    """Indices of the trackers that every seed has in the same place, with the same settings, and that
    measure many models at once (:class:`~bridge.trackers.base.StackedTracker`)."""
    return [
        i
        for i, tracker in enumerate(trackers[0])
        if isinstance(tracker, StackedTracker) and all(len(ts) == len(trackers[0]) and type(ts[i]) is type(tracker) and ts[i] == tracker for ts in trackers)
    ]
