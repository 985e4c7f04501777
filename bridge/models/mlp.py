"""Multilayer perceptron with a choice of activation and hook points on every layer."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor, nn
from transformer_lens import HookedRootModule
from transformer_lens.hook_points import HookPoint

from bridge.config import config_class, require
from bridge.models.base import MODELS, generator

ACTIVATIONS = {
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
        init_scale: weights ~ N(0, init_scale² / fan_in).
    """

    d_in: int
    d_out: int
    widths: tuple[int, ...] = (64,)
    activation: str = "relu"
    bias: bool = True
    init_scale: float = 1.0

    def __post_init__(self) -> None:
        if isinstance(self.widths, list):
            object.__setattr__(self, "widths", tuple(self.widths))
        require(len(self.widths) >= 1 and all(w > 0 for w in self.widths), f"mlp.widths must be positive, got {self.widths}")
        require(self.activation in ACTIVATIONS, f"mlp.activation must be one of {sorted(ACTIVATIONS)}, got {self.activation!r}")
        require(self.d_in > 0 and self.d_out > 0, f"mlp.d_in and d_out must be positive, got {self.d_in}, {self.d_out}")
        require(self.init_scale > 0, f"mlp.init_scale must be positive, got {self.init_scale}")


class MLP(HookedRootModule):
    """Hook points: ``hook_in``, ``hook_pre.{l}`` and ``hook_post.{l}`` around each activation, ``hook_out``.

    Examples:
        >>> net = MLP(MLPConfig(d_in=3, d_out=2, widths=(16,), activation="tanh"), seed=0)
        >>> _, cache = net.run_with_cache(torch.zeros(5, 3))
        >>> tuple(cache["hook_post.0"].shape)
        (5, 16)
    """

    def __init__(self, config: MLPConfig, seed: int = 0) -> None:
        super().__init__()
        self.config = config
        dims = [config.d_in, *config.widths, config.d_out]
        g = generator(seed)
        self.layers = nn.ModuleList()
        for d_in, d_out in zip(dims[:-1], dims[1:]):
            layer = nn.Linear(d_in, d_out, bias=config.bias)
            with torch.no_grad():
                layer.weight.copy_(torch.randn(d_out, d_in, generator=g) * (config.init_scale / math.sqrt(d_in)))
                if config.bias:
                    layer.bias.zero_()
            self.layers.append(layer)
        self.activation = ACTIVATIONS[config.activation]
        self.hook_in = HookPoint()
        self.hook_pre = nn.ModuleList(HookPoint() for _ in config.widths)
        self.hook_post = nn.ModuleList(HookPoint() for _ in config.widths)
        self.hook_out = HookPoint()
        self.setup()

    def forward(self, x: Float[Tensor, "batch d_in"]) -> Float[Tensor, "batch d_out"]:
        h = self.hook_in(x)
        for i, layer in enumerate(self.layers[:-1]):
            h = self.hook_post[i](self.activation(self.hook_pre[i](layer(h))))
        return self.hook_out(self.layers[-1](h))

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
        for i, layer in enumerate(self.layers[:-1]):
            h = layer(h)
            if hook == f"hook_pre.{i}":
                return h
            h = self.activation(h)
            if hook == f"hook_post.{i}":
                return h
        return self.layers[-1](h)


@MODELS.register("mlp")
def build_mlp(config: MLPConfig, seed: int) -> MLP:
    return MLP(config, seed)
