"""Property tests of the optimizer a config makes: the learning-rate factor of warm-up and decay against its formula,
one step of SGD (momentum, L2), Adam (L2) and AdamW (decoupled decay) at a drawn step of the schedule against the
update written out by hand, μP's parameter groups (each at its own rate, ``lr × weight_decay`` the same in every
group), and clipping of stacked seeds against each seed clipped alone (scalar parameters included)."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from bridge.config import TrainConfig
from bridge.models import MLPConfig, build_model
from bridge.training.optim import before_step, lr_factor, make_optimizer, optimizer_params

PROPERTY = settings(max_examples=80, deadline=None, database=None)
DECAYS = ("none", "linear", "cosine")


def factor_by_hand(steps: int, warmup: int, decay: str, t: int) -> float:
    """TrainConfig's documented schedule: ``(t + 1)/w`` for ``t < w``; then 1, or a fall from 1 at step ``w − 1`` to 0 at ``T − 1``."""
    if t < warmup:
        return (t + 1) / warmup
    if decay == "none":
        return 1.0
    first = max(warmup - 1, 0)
    x = 0.0 if steps - 1 <= first else min(1.0, (t - first) / (steps - 1 - first))  # a run of one step takes the full rate
    return 1 - x if decay == "linear" else (1 + math.cos(math.pi * x)) / 2


@st.composite
def schedules(draw):
    steps = draw(st.integers(1, 60))
    return TrainConfig(steps=steps, warmup=draw(st.integers(0, steps + 3)), decay=draw(st.sampled_from(DECAYS)))


@PROPERTY
@given(schedules(), st.data())
def test_the_learning_rate_factor_is_the_documented_warm_up_and_decay(config, data):
    t = data.draw(st.integers(0, config.steps - 1))
    assert lr_factor(config, t) == pytest.approx(factor_by_hand(config.steps, config.warmup, config.decay, t), rel=1e-12, abs=1e-15)


@PROPERTY
@given(schedules())
def test_the_factor_rises_through_the_warm_up_and_never_rises_after_it(config):
    factors = [lr_factor(config, t) for t in range(config.steps)]
    assert all(0.0 <= f <= 1.0 for f in factors)
    w = min(config.warmup, config.steps)
    assert factors[:w] == [(t + 1) / config.warmup for t in range(w)]
    after = factors[max(w - 1, 0):]
    assert all(b <= a for a, b in zip(after, after[1:]))
    if config.decay != "none" and config.warmup < config.steps - 1:
        assert factors[-1] == pytest.approx(0.0, abs=1e-15)  # a decay reaches zero at the last step
        assert factors[max(config.warmup - 1, 0)] == 1.0  # and starts from the warm-up's full rate
    if config.decay == "none":
        assert factors[w:] == [1.0] * (config.steps - w)


@st.composite
def optimizer_settings(draw, optimizer: str, weight_decay: float):
    steps = draw(st.integers(2, 30))
    return TrainConfig(
        optimizer=optimizer,
        lr=draw(st.floats(1e-4, 1.0)),
        steps=steps,
        batch_size=None if optimizer == "gd" else 4,
        weight_decay=weight_decay,
        momentum=draw(st.sampled_from([0.0, 0.5, 0.9])),
        betas=(draw(st.floats(0.0, 0.95)), draw(st.floats(0.0, 0.999))),
        warmup=draw(st.integers(0, steps)),
        decay=draw(st.sampled_from(DECAYS)),
    )


def one_step_by_hand(config: TrainConfig, w: torch.Tensor, g: torch.Tensor, lr: float) -> torch.Tensor:
    """The first step of ``config.optimizer`` from ``w`` with gradient ``g`` at rate ``lr``, in float64."""
    wd = config.weight_decay
    if config.optimizer in ("gd", "sgd"):
        return w - lr * (g + wd * w)  # the first momentum buffer is the gradient itself
    if config.optimizer == "adam":
        g = g + wd * w
    else:
        w = w * (1 - lr * wd)
    b1, b2 = config.betas
    m_hat, v_hat = (1 - b1) * g / (1 - b1), (1 - b2) * g**2 / (1 - b2)
    return w - lr * m_hat / (v_hat.sqrt() + 1e-8)


@pytest.mark.parametrize("weight_decay", [0.0, 0.7])
@pytest.mark.parametrize("optimizer", ["gd", "sgd", "adam", "adamw"])
@settings(max_examples=25, deadline=None, database=None)
@given(data=st.data())
def test_one_step_of_each_optimizer_at_any_step_of_the_schedule_is_the_update_written_out(optimizer, weight_decay, data):
    config = data.draw(optimizer_settings(optimizer, weight_decay))
    t = data.draw(st.integers(0, config.steps - 1))
    gen = torch.Generator().manual_seed(data.draw(st.integers(0, 2**16)))
    w0, g = torch.randn(5, generator=gen, dtype=torch.float64), torch.randn(5, generator=gen, dtype=torch.float64)
    w = nn.Parameter(w0.clone())
    opt = make_optimizer([w], config)
    w.grad = g.clone()
    before_step(opt, config, t, [config.lr])
    opt.step()
    lr = config.lr * factor_by_hand(config.steps, config.warmup, config.decay, t)
    torch.testing.assert_close(w.detach(), one_step_by_hand(config, w0, g, lr), rtol=1e-12, atol=1e-12)


@PROPERTY
@given(st.sampled_from(["gd", "adam", "adamw"]), st.sampled_from([8, 16, 64]), st.sampled_from([0.0, 0.3]), st.floats(1e-3, 0.5))
def test_mup_groups_step_each_layer_at_its_rate_with_lr_times_weight_decay_kept(optimizer, width, weight_decay, lr):
    base = 8
    net = build_model(MLPConfig(d_in=3, d_out=2, widths=(width, width), parametrisation="mup", base_width=base), seed=0).double()
    config = TrainConfig(optimizer=optimizer, lr=lr, weight_decay=weight_decay)
    groups = optimizer_params(net, config)
    names = {id(p): n for n, p in net.named_parameters()}
    rates = {names[id(g["params"][0])]: g["lr"] for g in groups}
    if optimizer in ("adam", "adamw"):  # μP for Adam: the hidden and readout weights at base/width, everything else at lr
        hand = {n: lr * (base / width if n in ("layers.1.weight", "layers.2.weight") else 1.0) for n, _ in net.named_parameters()}
        assert rates == pytest.approx(hand, rel=1e-12)
    assert sorted(rates) == sorted(n for n, _ in net.named_parameters())
    for g in groups:
        assert g.get("weight_decay", 0.0) * g["lr"] == pytest.approx(weight_decay * lr, rel=1e-12)
    before = {n: p.detach().clone() for n, p in net.named_parameters()}
    x = torch.randn(6, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    opt = make_optimizer(net, config)
    ((net(x) - 1.0) ** 2).mean().backward()
    grads = {n: p.grad.clone() for n, p in net.named_parameters()}
    opt.step()
    for n, p in net.named_parameters():
        rate = rates[n]
        wd = weight_decay * lr / rate
        step_config = TrainConfig(optimizer=optimizer, lr=rate, weight_decay=wd)
        torch.testing.assert_close(p.detach(), one_step_by_hand(step_config, before[n], grads[n], rate), rtol=1e-12, atol=1e-12, msg=n)


@st.composite
def stacked_gradients(draw):
    """Gradients of seeds stacked along a first axis: ``(seeds, *shape)`` per tensor, scalar parameters included."""
    seeds = draw(st.integers(1, 4))
    shapes = draw(st.lists(st.lists(st.integers(1, 3), max_size=2).map(tuple), min_size=1, max_size=3))
    scales = draw(st.lists(st.sampled_from([1e-3, 1.0, 30.0]), min_size=seeds, max_size=seeds))
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**16)))
    grads = [torch.randn(seeds, *shape, generator=gen, dtype=torch.float64) * torch.tensor(scales, dtype=torch.float64).view(-1, *(1,) * len(shape)) for shape in shapes]
    return grads, draw(st.sampled_from([0.01, 1.0, 5.0]))


@PROPERTY
@given(stacked_gradients())
def test_stacked_seeds_are_clipped_each_as_clip_grad_norm_clips_it_alone(drawn):
    grads, clip = drawn
    params = [nn.Parameter(torch.zeros_like(g)) for g in grads]
    for p, g in zip(params, grads):
        p.grad = g.clone()
    before_step(torch.optim.SGD(params, lr=0.1), TrainConfig(lr=0.1, clip_grad_norm=clip), 0, [0.1], stacked=True)
    for k in range(len(grads[0])):
        alone = [nn.Parameter(torch.zeros_like(g[k])) for g in grads]
        for p, g in zip(alone, grads):
            p.grad = g[k].clone()
        torch.nn.utils.clip_grad_norm_(alone, clip)
        for p, q in zip(params, alone):
            torch.testing.assert_close(p.grad[k], q.grad, rtol=1e-12, atol=0)
