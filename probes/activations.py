"""Collecting cached activations (a separate step from fitting any probe)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import torch
from jaxtyping import Float
from torch import Tensor, nn

from bridge.models.base import evaluating


class Checkpoints(Protocol):
    """What the functions over checkpoints read of a run: its ``steps`` and the model at one of them
    (a :class:`bridge.runs.run.Run` is one).

    Examples:
        >>> from types import SimpleNamespace
        >>> run: Checkpoints = SimpleNamespace(steps=[0, 10], model_at=lambda step: torch.nn.Linear(2, 2))
        >>> run.steps
        [0, 10]
    """

    @property
    def steps(self) -> Sequence[int]: ...  # read-only: a property of a Run or a plain attribute both fit

    def model_at(self, step: int) -> nn.Module: ...


def cached_activation(model: nn.Module, inputs: Tensor, hook: str) -> Float[Tensor, "batch ..."]:
    """The activation at hook point ``hook`` when ``model`` runs on ``inputs`` (no grad, eval mode).

    Works for the library's HookedRootModules and TransformerBridge models, and for
    any ``nn.Module`` by submodule name (``"hidden"``, ``"blocks.0.mlp"``: the
    module's output). A
    plain forward hook on the one hook point, removed in ``finally``: much
    cheaper than ``run_with_cache`` when called at every tracked step. A model
    with a ``run_to(inputs, hook)`` method (the deep linear network, the MLP)
    computes the activation directly when none of its modules carries a hook, so
    an ablation or patching hook in place is always honoured. Floating-point ``inputs`` of a narrower dtype than
    the model's parameters (float32 task data for a float64 model) are widened to it first, which changes no value.

    Examples:
        >>> from bridge.models import DeepLinearConfig, build_model
        >>> net = build_model(DeepLinearConfig(4, 6, 2), seed=0)
        >>> tuple(cached_activation(net, torch.eye(4), "hook_hidden.0").shape)
        (4, 6)
    """
    inputs = _widened(model, inputs)
    points = getattr(model, "hook_dict", None) or {}
    if hook in points:
        run_to = getattr(model, "run_to", None)
        if run_to is not None and not _any_hooks(model):
            with evaluating(model):
                return run_to(inputs, hook).detach()
        point = points[hook]
    else:  # any nn.Module: a submodule by its name in named_modules()
        point = dict(model.named_modules()).get(hook) if hook else None
        if point is None:
            raise KeyError(f"hook {hook!r} not found in {type(model).__name__} (neither a hook point nor a submodule name)")
    captured: list[Tensor] = []
    conversion = getattr(point, "hook_conversion", None)  # a bridge's per-head hook points show (batch, pos, head, d_head), as run_with_cache does
    handle = point.register_forward_hook(lambda _module, _inputs, output: captured.append((output if conversion is None else conversion.convert(output)).detach()))
    try:
        with evaluating(model):
            model(inputs)
    finally:
        handle.remove()
    if not captured:
        raise RuntimeError(f"hook {hook!r} was not reached by the forward pass")
    return captured[-1]


def _widened(model: nn.Module, inputs: Tensor) -> Tensor:
    """``inputs`` in the dtype of the model's first floating-point parameter when that dtype holds every value of theirs."""
    param = next((p for p in model.parameters() if p.is_floating_point()), None)
    if param is None or not isinstance(inputs, Tensor) or not inputs.is_floating_point() or inputs.dtype == param.dtype:
        return inputs
    return inputs.to(param.dtype) if torch.promote_types(inputs.dtype, param.dtype) == param.dtype else inputs


def _any_hooks(model: nn.Module) -> bool:
    """Whether any submodule of ``model`` has a forward or forward-pre hook.

    A walk over each module's children (``model.modules()`` goes through nested generators, which
    costs more at every tracked step); a module reached twice is looked at once.
    """
    todo, seen = [model], {id(model)}
    for module in todo:  # todo grows while it is walked
        if module._forward_hooks or module._forward_pre_hooks:
            return True
        for child in module._modules.values():
            if child is not None and id(child) not in seen:
                seen.add(id(child))
                todo.append(child)
    return False


def activations_over_checkpoints(run: Checkpoints, inputs: Tensor, hook: str, steps: Sequence[int] | None = None) -> dict[int, Tensor]:
    """``{step: activation}`` for every (or the given) checkpoint of ``run`` (a :class:`bridge.runs.run.Run`).

    Args:
        run: anything with ``steps`` and ``model_at(step)``, usually a :class:`bridge.runs.run.Run`.
        inputs: ``(batch, ...)`` model inputs.
        hook: a hook point or submodule name, as for :func:`cached_activation`.
        steps: the checkpoints to read (default: every one in ``run.steps``).

    Returns:
        ``{step: (batch, ...) activation}`` in the order of ``steps``.

    Examples:
        >>> from types import SimpleNamespace
        >>> from bridge.models import DeepLinearConfig, build_model
        >>> run = SimpleNamespace(steps=[0, 10], model_at=lambda step: build_model(DeepLinearConfig(4, 6, 2), seed=step))
        >>> {step: tuple(a.shape) for step, a in activations_over_checkpoints(run, torch.eye(4), "hook_hidden.0").items()}
        {0: (4, 6), 10: (4, 6)}
    """
    steps = run.steps if steps is None else steps
    return {step: cached_activation(run.model_at(step), inputs, hook) for step in steps}
