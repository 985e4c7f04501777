"""The optimizer a config names, against its update rule written out: momentum, betas, L2 against decoupled
weight decay, and a model's own group settings."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from bridge.config import TrainConfig
from bridge.training.optim import make_optimizer, optimizer_params

G1, G2 = torch.tensor([1.0, -2.0]), torch.tensor([-3.0, 0.5])  # the gradients of the loss at the two steps


def two_steps(config, w0):
    """``w`` after two steps of ``make_optimizer(config)`` on the loss ``G1·w``, then ``G2·w``."""
    w = nn.Parameter(w0.clone())
    opt = make_optimizer([w], config)
    for g in (G1, G2):
        opt.zero_grad()
        (g * w).sum().backward()
        opt.step()
    return w.detach()


def test_sgd_uses_the_configs_momentum_and_l2_weight_decay():
    lr, mu, wd, w0 = 0.1, 0.9, 0.5, torch.tensor([1.0, 2.0])
    v1 = G1 + wd * w0
    w1 = w0 - lr * v1
    w2 = w1 - lr * (mu * v1 + G2 + wd * w1)
    torch.testing.assert_close(two_steps(TrainConfig(optimizer="gd", lr=lr, momentum=mu, weight_decay=wd), w0), w2)


@pytest.mark.parametrize("optimizer", ["adam", "adamw"])
def test_adam_uses_the_configs_betas_and_adamw_decouples_weight_decay(optimizer):
    lr, (b1, b2), wd, eps, w = 0.1, (0.5, 0.8), 0.5, 1e-8, torch.tensor([1.0, 2.0])
    m, v = torch.zeros(2), torch.zeros(2)
    for t, g in enumerate((G1, G2), start=1):
        if optimizer == "adam":
            g = g + wd * w  # L2: the decay enters the gradient
        else:
            w = w * (1 - lr * wd)  # decoupled: the weights shrink directly
        m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g**2
        w = w - lr * (m / (1 - b1**t)) / ((v / (1 - b2**t)).sqrt() + eps)
    got = two_steps(TrainConfig(optimizer=optimizer, lr=lr, betas=(b1, b2), weight_decay=wd), torch.tensor([1.0, 2.0]))
    torch.testing.assert_close(got, w)


class TwoGroups(nn.Module):
    """A model that gives its own parameter groups: the bias at half the rate and without weight decay."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 2)

    def optimizer_groups(self, optimizer, lr):
        return [{"params": [self.lin.weight], "lr": lr}, {"params": [self.lin.bias], "lr": lr / 2, "weight_decay": 0.0}]


def test_a_group_keeps_its_own_weight_decay_and_the_others_keep_lr_times_weight_decay():
    groups = optimizer_params(TwoGroups(), TrainConfig(optimizer="adamw", lr=0.01, weight_decay=0.3))
    assert [(g["lr"], g["weight_decay"]) for g in groups] == [(0.01, pytest.approx(0.3)), (0.005, 0.0)]



def test_tensors_given_directly_keep_the_trainable_ones_and_anything_else_is_refused_by_position():
    w, frozen = nn.Parameter(torch.zeros(2)), torch.zeros(3)
    assert [tuple(p.shape) for p in optimizer_params([w, frozen], TrainConfig())] == [(2,)]
    groups = [{"params": [w], "lr": 0.5}]
    assert optimizer_params(groups, TrainConfig()) == groups
    with pytest.raises(TypeError, match=r"optimizer_params: model must be a module, tensors or parameter groups \(dicts\), got a str at position 1"):
        make_optimizer([w, "layers.0.weight"], TrainConfig())
