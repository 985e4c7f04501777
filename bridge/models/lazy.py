"""Lazy-training output scale (Chizat, Oyallon & Bach 2019): ``α · (f_θ(x) − f_θ₀(x))``.

:class:`LazyModel` wraps any model of the library. It holds the trained network
``model`` and a frozen copy of it at initialisation, ``reference``, whose
parameters are buffers (saved in every checkpoint, never trained). The output is
``α`` times the difference, so it is zero at initialisation for every ``α`` and
the tangent kernel is ``α²`` times the wrapped network's. Trained with learning
rate ``η/α²``, the function moves at an ``α``-independent rate at first; the
parameters move ``O(1/α)`` to fit ``O(1)`` targets, so a large ``α`` keeps the
kernel fixed (lazy) and a small one lets features move (rich).

Examples:
    >>> from bridge.models import MLPConfig, build_model
    >>> net = build_model(LazyConfig(MLPConfig(d_in=3, d_out=1, widths=(8,)), alpha=10.0), seed=0)
    >>> x = torch.randn(4, 3, generator=torch.Generator().manual_seed(0))
    >>> net(x).abs().max().item()
    0.0
    >>> sorted(n for n, _ in net.named_parameters())[:2], len(list(net.buffers()))
    (['model.layers.0.bias', 'model.layers.0.weight'], 4)
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from bridge.config import config_class, require
from bridge.models.base import MODELS, build_model
from bridge.tasks.memory import check_memory


@config_class("lazy")
@dataclass(frozen=True)
class LazyConfig:
    """A model trained as ``α · (f_θ − f_θ₀)``.

    Args:
        model: the wrapped model's config, an instance of a kind a model builder is registered under
            (e.g. an :class:`~bridge.models.MLPConfig`; a task's or training's config is refused here).
        alpha: the output scale ``α > 0``.

    Examples:
        >>> from bridge.models import MLPConfig
        >>> LazyConfig(MLPConfig(d_in=3, d_out=1), alpha=10.0).model.kind
        'mlp'
        >>> LazyConfig(MLPConfig(d_in=3, d_out=1), alpha=0.0)
        Traceback (most recent call last):
        ...
        bridge.config.ConfigError: lazy.alpha must be a positive number, got 0.0
    """

    model: Any
    alpha: float = 1.0

    def __post_init__(self) -> None:
        model = self.model  # an instance (a config class has a kind too) of a kind a model builder is registered under
        is_model = dataclasses.is_dataclass(model) and not isinstance(model, type) and getattr(model, "kind", None) in MODELS
        require(is_model and model.kind != "lazy", f"lazy.model must be a registered, non-lazy model config, got {model!r}")
        require(math.isfinite(self.alpha) and self.alpha > 0, f"lazy.alpha must be a positive number, got {self.alpha}")


def freeze_as_buffers(module: nn.Module) -> nn.Module:
    """Turn every parameter of ``module`` into a buffer of the same name (in place); returns ``module``.

    Examples:
        >>> m = freeze_as_buffers(torch.nn.Linear(3, 2))
        >>> len(list(m.parameters())), sorted(name for name, _ in m.named_buffers())
        (0, ['bias', 'weight'])
    """
    for sub in list(module.modules()):
        for name, param in list(sub._parameters.items()):
            if param is not None:
                del sub._parameters[name]
                sub.register_buffer(name, param.detach().clone())
    return module


class LazyModel(nn.Module):
    """``α · (model(x) − reference(x))`` with ``reference`` the frozen initial copy of ``model``.

    Attributes:
        model: the trained network (its parameters are the only parameters).
        reference: the same network at initialisation, parameters as buffers.
        alpha: the output scale.

    Input and output shapes are the wrapped model's (e.g. ``(batch, d_in)`` → ``(batch, d_out)``).

    Examples:
        >>> from bridge.models import MLPConfig
        >>> net = LazyModel(LazyConfig(MLPConfig(d_in=3, d_out=1, widths=(8,)), alpha=2.0), seed=0)
        >>> _ = torch.nn.init.constant_(net.model.layers[1].bias, 0.5)   # move the trained copy's readout bias by 0.5
        >>> tuple(net(torch.ones(5, 3)).shape), net(torch.ones(5, 3))[0, 0].item()   # α · 0.5
        ((5, 1), 1.0)
    """

    def __init__(self, config: LazyConfig, seed: int = 0) -> None:
        check_memory(config.model, copies=2)  # the trained network and its frozen reference
        super().__init__()
        self.config = config
        self.alpha = float(config.alpha)
        self.model = build_model(config.model, seed)
        self.reference = freeze_as_buffers(build_model(config.model, seed))
        self._copy_to_reference()  # the same weights whatever the builder's randomness

    def forward(self, x: Tensor) -> Tensor:
        return self.alpha * (self.model(x) - self.reference(x))

    def init_from_task(self, info: dict) -> None:
        """The wrapped model's task-dependent initialisation (e.g. a balanced deep linear start),
        copied into ``reference`` so the output at initialisation stays 0; nothing when it has none.

        Raises:
            ConfigError: as the wrapped model's ``init_from_task``.

        Examples:
            >>> from bridge.models import DeepLinearConfig
            >>> u, v = torch.eye(3)[:, :2], torch.eye(3)[:, :2]
            >>> net = LazyModel(LazyConfig(DeepLinearConfig(3, 8, 3, init="balanced", init_strength=0.01), alpha=2.0))
            >>> net.init_from_task({"U": u, "V": v}); net.model.end_to_end().abs().max().item() > 0, net(torch.ones(4, 3)).abs().max().item()
            (True, 0.0)
        """
        init = getattr(self.model, "init_from_task", None)
        if not callable(init):
            return
        init(info)
        self._copy_to_reference()

    @torch.no_grad()
    def _copy_to_reference(self) -> None:
        for name, param in self.model.named_parameters():
            self.reference.get_buffer(name).copy_(param)

    def optimizer_groups(self, optimizer: str, lr: float) -> list[dict]:
        """The wrapped model's optimizer parameter groups, so a parametrised network (μP, NTK)
        keeps its per-layer learning rates under the wrapper; one group when it has none.

        Examples:
            >>> from bridge.models import MLPConfig
            >>> cfg = MLPConfig(d_in=4, d_out=1, widths=(128, 128), parametrisation="mup", base_width=32)
            >>> [g["lr"] for g in LazyModel(LazyConfig(cfg, alpha=10.0)).optimizer_groups("adam", lr=0.01)]
            [0.01, 0.01, 0.0025, 0.01, 0.0025, 0.01]
        """
        groups = getattr(self.model, "optimizer_groups", None)
        return groups(optimizer, lr) if callable(groups) else [{"params": list(self.model.parameters()), "lr": lr}]


@MODELS.register("lazy")
def build_lazy(config: LazyConfig, seed: int) -> LazyModel:
    """The ``lazy`` model kind: :class:`LazyModel` around the model ``config.model`` builds with ``seed``.

    Examples:
        >>> from bridge.models import MLPConfig, build_model
        >>> model = build_model(LazyConfig(MLPConfig(d_in=3, d_out=1, widths=(8,)), alpha=10.0), seed=0)
        >>> type(model).__name__, model(torch.randn(5, 3)).abs().max().item()  # α · (f_θ − f_θ₀) is 0 at init
        ('LazyModel', 0.0)
    """
    return LazyModel(config, seed)


__all__ = ["LazyConfig", "LazyModel", "freeze_as_buffers"]
