"""Multilayer perceptron with a choice of activation and hook points on every layer."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import torch
import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor, nn
from transformer_lens import HookedRootModule
from transformer_lens.hook_points import HookPoint

from bridge.config import ConfigError, config_class, require
from bridge.models.base import MODELS, generator
from bridge.tasks.memory import check_memory, sized
from bridge.theory import mup as parametrisations

ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "relu": F.relu,
    "tanh": torch.tanh,
    "gelu": F.gelu,
    "quadratic": lambda x: x * x,
    "linear": lambda x: x,
}


@config_class("mlp")
@dataclass(frozen=True)
class MLPConfig:
    """``d_in → widths… → d_out`` with ``activation`` between layers.

    Args:
        d_in, d_out: input and output sizes.
        widths: hidden layer widths (at least one).
        activation: one of ``relu``, ``tanh``, ``gelu``, ``quadratic``, ``linear``.
        bias: whether layers have biases (initialised to zero).
        init_scale: weights ~ N(0, init_scale² / fan_in) under the standard parametrisation.
        parametrisation: ``"standard"`` (PyTorch's default scaling), ``"ntk"`` or
            ``"mup"`` (maximal update): per-layer init variance, forward multiplier and
            learning-rate factors of :mod:`bridge.theory.mup`, as powers of
            ``width / base_width`` (the first layer, every hidden layer and the readout
            are its ``input``, ``hidden`` and ``output`` kinds). The learning-rate
            factors reach the optimizer through :meth:`MLP.optimizer_groups`.
        base_width: the width at which every parametrisation equals the standard one
            (required unless ``parametrisation`` is ``"standard"``). A layer's width is
            its fan-out for the first layer and its fan-in for the others.
        zero_init: μP only: start the readout at zero, the initial function of the
            infinite-width limit (Yang et al. 2022's recommendation; the model then
            differs from the standard one at ``base_width``, and on the first step only
            the readout receives a gradient).

    Examples:
        >>> cfg = MLPConfig(d_in=4, d_out=1, widths=(256, 256), parametrisation="mup", base_width=64)
        >>> [round(m, 3) for m in MLP(cfg).multipliers]
        [1.0, 1.0, 1.0]
        >>> MLPConfig(d_in=4, d_out=1, parametrisation="mup")
        Traceback (most recent call last):
        ...
        bridge.config.ConfigError: mlp.base_width is required with parametrisation 'mup' (the width at which it equals the standard one)
    """

    d_in: int
    d_out: int
    widths: tuple[int, ...] = (64,)
    activation: str = "relu"
    bias: bool = True
    init_scale: float = 1.0
    parametrisation: str = "standard"
    base_width: int | None = None
    zero_init: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.widths, list):
            object.__setattr__(self, "widths", tuple(self.widths))
        require(len(self.widths) >= 1 and all(w > 0 for w in self.widths), f"mlp.widths must be positive, got {self.widths}")
        require(self.activation in ACTIVATIONS, f"mlp.activation must be one of {sorted(ACTIVATIONS)}, got {self.activation!r}")
        require(self.d_in > 0 and self.d_out > 0, f"mlp.d_in and d_out must be positive, got {self.d_in}, {self.d_out}")
        require(self.init_scale > 0, f"mlp.init_scale must be positive, got {self.init_scale}")
        choices = parametrisations.PARAMETRISATIONS
        require(self.parametrisation in choices, f"mlp.parametrisation must be one of {choices}, got {self.parametrisation!r}")
        require(self.base_width is None or self.base_width > 0, f"mlp.base_width must be a positive integer, got {self.base_width}")
        require(
            self.parametrisation == "standard" or self.base_width is not None,
            f"mlp.base_width is required with parametrisation {self.parametrisation!r} (the width at which it equals the standard one)",
        )
        require(not self.zero_init or self.parametrisation == "mup", f"mlp.zero_init applies to parametrisation 'mup' only, got {self.parametrisation!r}")

    def layer_kinds(self) -> tuple[str, ...]:
        """``input``, ``hidden``… and ``output``: the kind of each weight layer (a single hidden width has no ``hidden``)."""
        return ("input", *("hidden",) * (len(self.widths) - 1), "output")

    def layer_widths(self) -> tuple[int, ...]:
        """The width each layer scales with: the first layer's fan-out, the fan-in of every other."""
        return (self.widths[0], *self.widths)

    def scalings(self, optimizer: str = "sgd") -> list[tuple[float, float, float]]:
        """Per weight layer: ``(init-variance factor, multiplier, learning-rate factor)`` under ``optimizer``.

        All ones for the standard parametrisation and at ``base_width``.
        """
        if self.parametrisation == "standard":
            return [(1.0, 1.0, 1.0)] * (len(self.widths) + 1)
        opt = "sgd" if optimizer in ("gd", "sgd") else optimizer
        base = _base_width(self)
        return [parametrisations.factors(self.parametrisation, opt, kind, w, base) for kind, w in zip(self.layer_kinds(), self.layer_widths())]


def _base_width(config: MLPConfig) -> int:
    """``config.base_width``, which every parametrisation but the standard one needs (``MLPConfig`` requires it)."""
    if config.base_width is None:
        raise ConfigError(f"mlp.base_width is required with parametrisation {config.parametrisation!r} (the width at which it equals the standard one)")
    return config.base_width


@sized("mlp")
def _mlp_bytes(c: MLPConfig) -> tuple[dict, int]:
    """Every layer's float32 weights and biases."""
    dims = [c.d_in, *c.widths, c.d_out]
    return {"d_in": c.d_in, "widths": c.widths, "d_out": c.d_out}, 4 * sum((a + 1) * b for a, b in zip(dims[:-1], dims[1:]))


class MLP(HookedRootModule):
    """Hook points: ``hook_in``, ``hook_pre.{l}`` and ``hook_post.{l}`` around each activation, ``hook_out``.

    Examples:
        >>> net = MLP(MLPConfig(d_in=3, d_out=2, widths=(16,), activation="tanh"), seed=0)
        >>> _, cache = net.run_with_cache(torch.zeros(5, 3))
        >>> tuple(cache["hook_post.0"].shape)
        (5, 16)
    """

    def __init__(self, config: MLPConfig, seed: int = 0) -> None:
        check_memory(config)
        super().__init__()
        self.config = config
        dims = [config.d_in, *config.widths, config.d_out]
        g = generator(seed)
        self.layers = nn.ModuleList()
        scalings = config.scalings()
        self.multipliers: tuple[float, ...] = tuple(m for _, m, _ in scalings)
        for (d_in, d_out), (variance, _, _) in zip(zip(dims[:-1], dims[1:]), scalings):
            layer = nn.utils.skip_init(nn.Linear, d_in, d_out, bias=config.bias)  # torch's own initialisation would be drawn, then overwritten
            with torch.no_grad():
                torch.randn(d_out, d_in, generator=g, out=layer.weight.detach()).mul_(config.init_scale * math.sqrt(variance / d_in))  # drawn in place
                if config.zero_init and len(self.layers) == len(config.widths):  # the readout (drawn anyway, so the other layers keep their draws)
                    layer.weight.zero_()
                if config.bias:
                    layer.bias.zero_()
            self.layers.append(layer)
        self.activation = ACTIVATIONS[config.activation]
        self.hook_in = HookPoint()
        self.hook_pre = nn.ModuleList(HookPoint() for _ in config.widths)
        self.hook_post = nn.ModuleList(HookPoint() for _ in config.widths)
        self.hook_out = HookPoint()
        self.setup()

    def linear(self, i: int, h: Float[Tensor, "batch fan_in"]) -> Float[Tensor, "batch fan_out"]:
        """Layer ``i`` on its input: ``multiplier · h Wᵀ + b`` (the pre-activation, or the output for the last)."""
        layer, m = cast(nn.Linear, self.layers[i]), self.multipliers[i]
        if m == 1.0:
            return layer(h)
        out = F.linear(h, layer.weight) * m
        return out if layer.bias is None else out + layer.bias

    def optimizer_groups(self, optimizer: str, lr: float) -> list[dict]:
        """Optimizer parameter groups with each layer's learning rate ``lr ×`` its parametrisation's factor.

        A weight takes its layer's factor; a bias of a width-sized layer takes the
        ``input`` kind's factor (fixed fan-in, width fan-out), the readout's bias none.
        ``optimizer``: ``"gd"``, ``"sgd"``, ``"adam"`` or ``"adamw"``. The standard
        parametrisation gives one group of every parameter.

        Examples:
            >>> cfg = MLPConfig(d_in=4, d_out=1, widths=(128, 128), parametrisation="mup", base_width=32)
            >>> [g["lr"] for g in MLP(cfg).optimizer_groups("adam", lr=0.01)]
            [0.01, 0.01, 0.0025, 0.01, 0.0025, 0.01]
        """
        cfg = self.config
        if cfg.parametrisation == "standard":
            return [{"params": list(self.parameters()), "lr": lr}]
        scalings = cfg.scalings(optimizer)
        groups = []
        for i, (layer, (_, _, factor)) in enumerate(zip(self.layers, scalings)):
            groups.append({"params": [layer.weight], "lr": lr * factor})
            if layer.bias is not None:
                last = i == len(self.layers) - 1
                bias_factor = 1.0 if last else _input_lr_factor(cfg, optimizer, cfg.widths[i])
                groups.append({"params": [layer.bias], "lr": lr * bias_factor})
        return groups

    def forward(self, x: Float[Tensor, "batch d_in"]) -> Float[Tensor, "batch d_out"]:
        h = self.hook_in(x)
        for i in range(len(self.layers) - 1):
            h = self.hook_post[i](self.activation(self.hook_pre[i](self.linear(i, h))))
        return self.hook_out(self.linear(len(self.layers) - 1, h))

    def run_to(self, x: Float[Tensor, "batch d_in"], hook: str) -> Float[Tensor, "batch d"]:
        """The activation at hook point ``hook`` on ``x``, computed without running any hook.

        Equal to what a forward hook on ``hook`` captures when no hook changes the
        activations (:func:`probes.cached_activation` checks that before using it).
        """
        if hook not in self.hook_dict:
            raise KeyError(f"hook {hook!r} not found in {type(self).__name__}")
        h = x
        if hook == "hook_in":
            return h
        for i in range(len(self.layers) - 1):
            h = self.linear(i, h)
            if hook == f"hook_pre.{i}":
                return h
            h = self.activation(h)
            if hook == f"hook_post.{i}":
                return h
        return self.linear(len(self.layers) - 1, h)


def _input_lr_factor(config: MLPConfig, optimizer: str, width: int) -> float:
    """The ``input`` kind's learning-rate factor at ``width`` (a bias of a layer with ``width`` outputs)."""
    opt = "sgd" if optimizer in ("gd", "sgd") else optimizer
    return parametrisations.factors(config.parametrisation, opt, "input", width, _base_width(config))[2]


@MODELS.register("mlp")
def build_mlp(config: MLPConfig, seed: int) -> MLP:
    """The registered ``mlp`` builder: an :class:`MLP` with weights drawn from ``seed`` (biases zero).

    Examples:
        >>> net = build_mlp(MLPConfig(d_in=3, d_out=2, widths=(16, 8)), seed=0)
        >>> [tuple(layer.weight.shape) for layer in net.layers], net(torch.zeros(4, 3)).abs().max().item()   # f(0) = 0
        ([(16, 3), (8, 16), (2, 8)], 0.0)
    """
    return MLP(config, seed)
