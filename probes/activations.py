"""Collecting cached activations (a separate step from fitting any probe)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from jaxtyping import Float
from torch import Tensor, nn


def cached_activation(model: nn.Module, inputs: Tensor, hook: str) -> Float[Tensor, "batch ..."]:
    """The activation at hook point ``hook`` when ``model`` runs on ``inputs`` (no grad, eval mode).

    Works for the library's HookedRootModules and TransformerBridge models.

    Example:
        >>> from bridge.models import DeepLinearConfig, build_model
        >>> net = build_model(DeepLinearConfig(4, 6, 2), seed=0)
        >>> tuple(cached_activation(net, torch.eye(4), "hook_hidden.0").shape)
        (4, 6)
    """
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            _, cache = model.run_with_cache(inputs, names_filter=lambda name: name == hook)
    finally:
        model.train(was_training)
    if hook not in cache:
        raise KeyError(f"hook {hook!r} not found in {type(model).__name__}")
    return cache[hook].detach()


def activations_over_checkpoints(run, inputs: Tensor, hook: str, steps: Sequence[int] | None = None) -> dict[int, Tensor]:
    """``{step: activation}`` for every (or the given) checkpoint of ``run`` (a :class:`bridge.runs.Run`)."""
    steps = run.steps if steps is None else steps
    return {step: cached_activation(run.model_at(step), inputs, hook) for step in steps}
