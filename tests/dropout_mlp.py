"""A model of one's own with randomness in its forward pass (dropout, or noise drawn by the model itself), registered
once for the tests that train it: the tracker guard's and the forward pass's seeding."""

from dataclasses import dataclass

import torch
from torch import nn

from bridge.config import config_class
from bridge.models import MODELS


@config_class("test_dropout_mlp")
@dataclass(frozen=True)
class DropoutConfig:
    d_in: int = 4
    width: int = 16
    d_out: int = 3
    p: float = 0.5
    noise: bool = False  # draw in the model's own forward instead of a dropout module


@MODELS.register("test_dropout_mlp")
class DropoutMLP(nn.Module):
    """A ReLU network with dropout (or multiplicative noise) between its two layers; weights drawn from ``seed``."""

    def __init__(self, config: DropoutConfig, seed: int):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.noise = config.noise
        self.inp, self.drop, self.out = nn.Linear(config.d_in, config.width), nn.Dropout(config.p), nn.Linear(config.width, config.d_out)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g) / p.shape[-1] ** 0.5)

    def forward(self, x):
        h = torch.relu(self.inp(x))
        h = h * (1 + 0.5 * torch.randn_like(h)) if self.noise else self.drop(h)
        return self.out(h)
