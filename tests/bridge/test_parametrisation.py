"""Parametrised MLPs: μP, NTK and SP agree at base_width and scale as the table says elsewhere."""

import math

import pytest
import torch

from bridge import ConfigError, RunConfig, ScheduleConfig, TrainConfig, load_run, train
from bridge.models import MLP, LazyConfig, MLPConfig, build_model
from bridge.tasks import TeacherMLPConfig
from bridge.theory import mup
from bridge.training import make_optimizer
from bridge.training.seeds import train_seeds


def net(parametrisation, width, base_width=32, **kw):
    cfg = MLPConfig(d_in=5, d_out=2, widths=(width, width), parametrisation=parametrisation, base_width=None if parametrisation == "standard" else base_width, **kw)
    return MLP(cfg, seed=3)


def one_step(model, optimizer, x, y, lr=0.05):
    opt = make_optimizer(model, TrainConfig(optimizer=optimizer, lr=lr))
    loss = ((model(x) - y) ** 2).mean()
    loss.backward()
    opt.step()
    return [p.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize("parametrisation", ["mup", "ntk"])
@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adamw"])
def test_equal_to_standard_at_base_width(parametrisation, optimizer):
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(16, 5, generator=g), torch.randn(16, 2, generator=g)
    sp, other = net("standard", 32), net(parametrisation, 32)
    torch.testing.assert_close(other(x), sp(x), rtol=0, atol=0)
    after_sp, after_other = one_step(sp, optimizer, x, y), one_step(other, optimizer, x, y)
    for a, b in zip(after_other, after_sp):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(other(x), sp(x), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("parametrisation", ["mup", "ntk"])
def test_forward_and_init_follow_the_table(parametrisation):
    """At width 8× base: each layer's init std and multiplier as tabulated, forward by hand."""
    width, base = 256, 32
    model = net(parametrisation, width, base)
    kinds = ("input", "hidden", "output")
    fan_ins = (5, width, width)
    for i, (kind, fan_in) in enumerate(zip(kinds, fan_ins)):
        variance, multiplier, _ = mup.factors(parametrisation, "sgd", kind, width, base)
        assert model.multipliers[i] == pytest.approx(multiplier, rel=1e-12)
        std = model.layers[i].weight.std().item()
        n = model.layers[i].weight.numel()
        assert std == pytest.approx(math.sqrt(variance / fan_in), rel=6 / math.sqrt(n))  # sampling error of a std ~ 1/sqrt(2n)
    x = torch.randn(7, 5, generator=torch.Generator().manual_seed(1))
    h = x
    for i, layer in enumerate(model.layers):
        h = model.multipliers[i] * h @ layer.weight.T + layer.bias
        h = torch.relu(h) if i < 2 else h
    torch.testing.assert_close(model(x), h, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_learning_rates_per_layer(optimizer):
    width, base, lr = 512, 64, 0.01
    model = net("mup", width, base)
    groups = make_optimizer(model, TrainConfig(optimizer=optimizer, lr=lr)).param_groups
    opt = "sgd" if optimizer == "sgd" else "adam"
    expect = []
    for kind in ("input", "hidden", "output"):
        expect.append(lr * mup.factors("mup", opt, kind, width, base)[2])  # weight
        expect.append(lr * (1.0 if kind == "output" else mup.factors("mup", opt, "input", width, base)[2]))  # bias
    assert [g["lr"] for g in groups] == pytest.approx(expect, rel=1e-12)
    assert [g["params"][0] for g in groups] == list(model.parameters())


@pytest.mark.parametrize("parametrisation", ["mup", "ntk", "standard"])
def test_the_lazy_wrapper_keeps_the_wrapped_networks_learning_rates(parametrisation, tmp_path):
    width, base, lr, alpha = 256, 32, 0.01, 4.0
    inner = net(parametrisation, width, base)
    lazy = build_model(LazyConfig(inner.config, alpha=alpha), seed=3)
    for optimizer in ("sgd", "adam"):
        expect = [g["lr"] for g in make_optimizer(inner, TrainConfig(optimizer=optimizer, lr=lr)).param_groups]
        groups = make_optimizer(lazy, TrainConfig(optimizer=optimizer, lr=lr)).param_groups
        assert [g["lr"] for g in groups] == pytest.approx(expect, rel=1e-12)
        assert [p for g in groups for p in g["params"]] == list(lazy.parameters())  # every trained tensor once, none of the frozen copy
    if parametrisation == "mup":
        assert len(set(expect)) > 1
    # one training step of the wrapper moves each layer by its own factor: α (f − f₀) has gradient α ∂f/∂θ
    x, y = torch.randn(9, 5, generator=torch.Generator().manual_seed(2)), torch.randn(9, 2, generator=torch.Generator().manual_seed(3))
    before = [p.detach().clone() for p in lazy.parameters()]
    grads = torch.autograd.grad(((lazy(x) - y) ** 2).mean(), list(lazy.parameters()))
    rates = [g["lr"] for g in make_optimizer(inner, TrainConfig(optimizer="sgd", lr=lr)).param_groups for _ in g["params"]]
    after = one_step(lazy, "sgd", x, y, lr=lr)
    for a, b, r, g in zip(after, before, rates, grads):
        torch.testing.assert_close(a, b - r * g, rtol=1e-6, atol=1e-8)


def test_sgd_step_by_hand_under_mup():
    """One SGD step of the μP model equals θ − lr·factor·∂L/∂θ computed densely."""
    width, base, lr = 128, 32, 0.1
    model = net("mup", width, base)
    g = torch.Generator().manual_seed(2)
    x, y = torch.randn(9, 5, generator=g), torch.randn(9, 2, generator=g)
    before = [p.detach().clone() for p in model.parameters()]
    grads = torch.autograd.grad(((model(x) - y) ** 2).mean(), list(model.parameters()))
    factors = [mup.factors("mup", "sgd", k, width, base)[2] for k in ("input", "hidden", "output")]
    bias = [mup.factors("mup", "sgd", "input", width, base)[2]] * 2 + [1.0]
    expect = [p - lr * f * gr for p, f, gr in zip(before, [v for pair in zip(factors, bias) for v in pair], grads)]
    after = one_step(model, "sgd", x, y, lr=lr)
    for a, e in zip(after, expect):
        torch.testing.assert_close(a, e, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"parametrisation": "muP"}, "mlp.parametrisation must be one of"),
        ({"parametrisation": "mup"}, "mlp.base_width is required"),
        ({"parametrisation": "ntk", "base_width": 0}, "mlp.base_width must be a positive integer"),
        ({"parametrisation": "mup", "base_width": 2.5}, "mlp.base_width must be"),
        ({"parametrisation": "ntk", "base_width": 8, "zero_init": True}, "mlp.zero_init applies to parametrisation 'mup' only"),
    ],
)
def test_bad_values_raise(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        MLPConfig(d_in=3, d_out=1, widths=(8,), **kwargs)


@pytest.mark.parametrize("lazy", [False, True])
def test_stacked_seeds_keep_the_per_layer_learning_rates(tmp_path, lazy):
    """Also wrapped as α(f − f₀), whose frozen initial copy is a buffer that differs between seeds."""
    model = MLPConfig(d_in=5, d_out=1, widths=(64, 64), parametrisation="mup", base_width=16)
    cfg = RunConfig(
        task=TeacherMLPConfig(d_in=5, n_train=32, n_test=0, width=8),
        model=LazyConfig(model, alpha=3.0) if lazy else model,
        train=TrainConfig(optimizer="adam", lr=0.01, steps=6, schedule=ScheduleConfig(n_log=2)),
        seed=0,
    )
    stacked = train_seeds(cfg, [0, 1], tmp_path / "stacked", device="cpu", progress=False)
    for seed, run in zip([0, 1], stacked):
        alone = train(RunConfig(cfg.task, cfg.model, cfg.train, seed=seed), tmp_path / f"alone{seed}", device="cpu", progress=False)
        ours, theirs = load_run(alone.path).model_at(6).state_dict(), run.model_at(6).state_dict()
        assert list(ours) == list(theirs)
        for name in ours:  # parameters and buffers (the lazy model's initial copy is the seed's own)
            torch.testing.assert_close(ours[name], theirs[name], rtol=1e-5, atol=1e-6)
        assert float(run.curve("loss/train")[1][-1]) < 0.9 * float(run.curve("loss/train")[1][0])


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_a_zero_readout_starts_from_the_zero_function_and_moves_alone_first(optimizer):
    """μP with ``zero_init``: the other layers keep their draws; on step 1 only the readout gets a gradient."""
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(16, 5, generator=g), torch.randn(16, 2, generator=g)
    plain, zero = net("mup", 128), net("mup", 128, zero_init=True)
    assert torch.count_nonzero(zero.layers[-1].weight) == 0 and torch.equal(zero(x), zero.layers[-1].bias.expand(16, 2))
    for a, b in zip(list(zero.parameters())[:-2], list(plain.parameters())[:-2]):
        assert torch.equal(a, b)
    before = [p.detach().clone() for p in zero.parameters()]
    after = one_step(zero, optimizer, x, y)
    moved = [not torch.equal(a, b) for a, b in zip(before, after)]
    assert moved == [False, False, False, False, True, True]  # (weight, bias) of input, hidden, readout
    after = one_step(zero, optimizer, x, y)
    assert all(not torch.equal(a, b) for a, b in zip(before, after))


def test_unequal_widths_scale_each_layer_by_its_own_width():
    """Widths (64, 256), base 32: the first layer scales with its fan-out 64, the others with their fan-in (64, then 256).
    Weights are the seed's Gaussian draws times init_scale·√(variance/fan_in); biases add after the multiplier."""
    from bridge.seeding import generator

    cfg = MLPConfig(d_in=5, d_out=2, widths=(64, 256), parametrisation="ntk", base_width=32, init_scale=0.5)
    model = MLP(cfg, seed=3)
    kinds, widths, fan_ins = ("input", "hidden", "output"), (64, 64, 256), (5, 64, 256)
    g = generator(3)
    for i, (kind, width, fan_in) in enumerate(zip(kinds, widths, fan_ins)):
        variance, multiplier, _ = mup.factors("ntk", "sgd", kind, width, 32)
        assert model.multipliers[i] == pytest.approx(multiplier, rel=1e-12)
        draw = torch.randn(model.layers[i].weight.shape, generator=g)
        torch.testing.assert_close(model.layers[i].weight.detach(), draw * (0.5 * math.sqrt(variance / fan_in)), rtol=1e-6, atol=0)
    assert model.multipliers == pytest.approx((1.0, 0.5**0.5, 8**-0.5), rel=1e-12)
    with torch.no_grad():
        for layer in model.layers:
            layer.bias.copy_(torch.linspace(-1.0, 1.0, layer.bias.numel()))
    x = torch.randn(7, 5, generator=torch.Generator().manual_seed(1))
    h = x
    for i, layer in enumerate(model.layers):
        h = model.multipliers[i] * (h @ layer.weight.T) + layer.bias
        h = torch.relu(h) if i < 2 else h
    torch.testing.assert_close(model(x), h, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_each_hidden_bias_takes_the_rate_of_its_own_layers_width(optimizer):
    """Widths (64, 256), base 32, μP: the biases of the two hidden layers take the ``input`` factor at 64 and at 256."""
    model = MLP(MLPConfig(d_in=5, d_out=2, widths=(64, 256), parametrisation="mup", base_width=32), seed=0)
    rates = [g["lr"] for g in model.optimizer_groups(optimizer, lr=1.0)]
    weight = [mup.factors("mup", optimizer, kind, w, 32)[2] for kind, w in (("input", 64), ("hidden", 64), ("output", 256))]
    bias = [mup.factors("mup", optimizer, "input", w, 32)[2] for w in (64, 256)] + [1.0]
    assert rates == pytest.approx([v for pair in zip(weight, bias) for v in pair], rel=1e-12)
    if optimizer == "sgd":
        assert rates == pytest.approx([2.0, 2.0, 1.0, 8.0, 0.125, 1.0], rel=1e-12)


def test_gradient_descent_takes_the_sgd_rates():
    model = net("mup", 128)
    assert [g["lr"] for g in model.optimizer_groups("gd", lr=0.1)] == [g["lr"] for g in model.optimizer_groups("sgd", lr=0.1)]
    assert [s[2] for s in model.config.scalings("gd")] == [s[2] for s in model.config.scalings("sgd")]
    assert len({g["lr"] for g in model.optimizer_groups("gd", lr=0.1)}) > 1
