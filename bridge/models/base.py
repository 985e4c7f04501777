"""The model registry: a model config kind → a builder ``(config, seed) -> nn.Module``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from bridge.registry import Registry
from bridge.seeding import generator  # noqa: F401  (re-exported for model modules)

ModelBuilder = Callable[[Any, int], nn.Module]
MODELS: Registry[ModelBuilder] = Registry("model")


def build_model(config: Any, seed: int) -> nn.Module:
    """Build the registered model of ``config`` with its weights drawn from ``seed``.

    Example:
        >>> from bridge.models import DeepLinearConfig, build_model
        >>> net = build_model(DeepLinearConfig(d_in=4, d_hidden=8, d_out=3), seed=0)
        >>> tuple(net(torch.zeros(2, 4)).shape)
        (2, 3)
    """
    return MODELS.get(config.kind)(config, seed)


def move_to(model: nn.Module, device: torch.device | str) -> nn.Module:
    """``model.to(device)``, without the line a ``TransformerBridge`` prints at every move.

    Example:
        >>> from bridge.models import DeepLinearConfig
        >>> net = move_to(build_model(DeepLinearConfig(d_in=4, d_hidden=8, d_out=3), seed=0), "cpu")
        >>> next(net.parameters()).device.type
        'cpu'
    """
    if any(cls.__name__ == "TransformerBridge" for cls in type(model).__mro__):
        return model.to(device, print_details=False)
    return model.to(device)
