"""μP for the toy transformer: equal to the standard model at base width, feature updates width-independent."""

import numpy as np
import pytest
import torch

from bridge import ConfigError, TrainConfig
from bridge.models import TransformerConfig, build_model
from bridge.training import make_optimizer
from case_studies.mup.analysis import slope


def config(d_model, parametrisation="mup", base=32, **kw):
    heads = 2
    return TransformerConfig(
        d_vocab=11, n_ctx=6, d_model=d_model, n_heads=heads, d_head=d_model // heads, d_mlp=4 * d_model,
        parametrisation=parametrisation, base_width=None if parametrisation == "standard" else base, **kw,
    )


def tokens(seed=0):
    return torch.randint(0, 11, (16, 6), generator=torch.Generator().manual_seed(seed))


def step(model, optimizer="adam", lr=1e-3):
    x = tokens()
    opt = make_optimizer(model, TrainConfig(optimizer=optimizer, lr=lr))
    logits = model(x)
    ((logits[:, :-1].log_softmax(-1).gather(-1, x[:, 1:, None])) * -1).mean().backward()
    opt.step()


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_mup_equals_standard_at_base_width(optimizer):
    sp, mu = build_model(config(32, "standard"), seed=1), build_model(config(32), seed=1)
    torch.testing.assert_close(mu(tokens()), sp(tokens()), rtol=0, atol=0)
    step(sp, optimizer), step(mu, optimizer)
    torch.testing.assert_close(mu(tokens(1)), sp(tokens(1)), rtol=1e-5, atol=1e-6)


def test_learning_rates_and_init_follow_the_table():
    model = build_model(config(128), seed=0)
    groups = {id(g["params"][0]): g["lr"] for g in make_optimizer(model, TrainConfig(optimizer="adam", lr=1.0)).param_groups}
    by_name = {n: groups[id(p)] for n, p in model.named_parameters()}
    assert by_name["tok_embed._original_component.weight"] == 1.0
    assert by_name["head._original_component.weight"] == pytest.approx(0.25)
    assert by_name["layers.0._original_component.mlp._original_component.fc_in._original_component.weight"] == pytest.approx(0.25)
    assert by_name["layers.0._original_component.mlp._original_component.fc_in._original_component.bias"] == 1.0
    zero = build_model(config(128, zero_init=True), seed=0)
    assert float(zero(tokens()).detach().abs().max()) == 0.0


def test_bad_values_raise():
    with pytest.raises(ConfigError, match="base_width is required"):
        TransformerConfig(d_vocab=5, n_ctx=3, parametrisation="mup")
    with pytest.raises(ConfigError, match="'standard' or 'mup'"):
        TransformerConfig(d_vocab=5, n_ctx=3, parametrisation="ntk", base_width=8)
    with pytest.raises(ConfigError, match="zero_init applies"):
        TransformerConfig(d_vocab=5, n_ctx=3, zero_init=True)


def logit_change(parametrisation, d_model, seed, steps=3):
    model = build_model(config(d_model, parametrisation), seed=seed)
    x = tokens(100 + seed)
    with torch.no_grad():
        before = model(x)
    opt = make_optimizer(model, TrainConfig(optimizer="adam", lr=1e-2))
    for _ in range(steps):
        opt.zero_grad()
        logits = model(x)
        (-(logits[:, :-1].log_softmax(-1).gather(-1, x[:, 1:, None]))).mean().backward()
        opt.step()
    with torch.no_grad():
        return (model(x) - before).pow(2).mean().sqrt().item()


@pytest.mark.slow
def test_logit_updates_are_width_independent_under_mup_only():
    """Widths 32 → 512 (16×), 3 Adam steps: the logits' change is flat under μP and grows under SP."""
    widths = [32, 64, 128, 256, 512]
    mu = slope(widths, [np.mean([logit_change("mup", w, s) for s in range(2)]) for w in widths])
    sp = slope(widths, [np.mean([logit_change("standard", w, s) for s in range(2)]) for w in widths])
    assert abs(mu) <= 0.1, mu
    assert sp >= 0.3, sp


@pytest.mark.parametrize("normalization", ["LN", "RMS"])
def test_one_dimensional_parameters_are_vector_like(normalization):
    """Norm gains and biases take the ``input`` rates, as ``mup.MuAdam`` / ``mup.MuSGD`` give a LayerNorm gain (1 and 4 at 4× base), and gains start at 1."""
    model = build_model(config(128, normalization=normalization), seed=0)
    for optimizer, expected in (("adam", 1.0), ("sgd", 4.0)):
        groups = {id(g["params"][0]): g["lr"] for g in make_optimizer(model, TrainConfig(optimizer=optimizer, lr=1.0)).param_groups}
        vectors = {n: groups[id(p)] for n, p in model.named_parameters() if p.ndim == 1}
        assert sum("ln" in n and n.endswith("weight") for n in vectors) == 3
        assert vectors == pytest.approx(dict.fromkeys(vectors, expected)), optimizer
    gains = [p for n, p in model.named_parameters() if "ln" in n and n.endswith("weight")]
    torch.testing.assert_close(torch.cat(gains), torch.ones(3 * 128), rtol=0, atol=0)


@pytest.mark.parametrize(("optimizer", "rates"), [("adamw", {0.1, 0.025}), ("sgd", {0.4, 0.1, 0.025})])
def test_weight_decay_times_learning_rate_is_the_same_in_every_group(optimizer, rates):
    """At 4× the base width the rates differ by up to 16×; ``lr × weight_decay`` stays 0.1 · 0.5, as ``mup.MuAdamW`` / ``mup.MuSGD`` keep it."""
    model = build_model(config(128, normalization="LN"), seed=0)
    groups = make_optimizer(model, TrainConfig(optimizer=optimizer, lr=0.1, weight_decay=0.5)).param_groups
    assert {g["lr"] for g in groups} == rates
    assert [g["lr"] * g["weight_decay"] for g in groups] == pytest.approx([0.05] * len(groups), rel=1e-12)


def test_attention_scores_are_divided_by_the_square_root_of_d_head_times_the_width_ratio():
    """d_model 128 = 4× base, d_head 64: the pattern is the causal softmax of q·k / √(64·4) = q·k / 16 (standard: / 8)."""
    names = ("blocks.0.attn.hook_q", "blocks.0.attn.hook_k", "blocks.0.attn.hook_pattern")
    future = torch.ones(6, 6, dtype=torch.bool).triu(1)
    for parametrisation, scale in (("mup", 16.0), ("standard", 8.0)):
        model = build_model(config(128, parametrisation), seed=0)
        _, cache = model.run_with_cache(tokens()[:2], names_filter=lambda name: name in names)
        q, k, pattern = (cache[n] for n in names)  # q, k: (batch, pos, head, d_head); pattern: (batch, head, query, key)
        scores = torch.einsum("bqhd,bkhd->bhqk", q, k) / scale
        torch.testing.assert_close(pattern, scores.masked_fill(future, -torch.inf).softmax(-1), rtol=1e-5, atol=1e-7)


def test_mup_rescales_the_readout_and_both_embeddings_of_the_standard_draw():
    """At 4× base the readout is the standard draw times 1/√4, the token and position embeddings times √4, the rest as drawn;
    with zero_init the readout and the queries' weights start at zero and nothing else changes."""
    sp, mu, zero = (build_model(config(128, p, **kw), seed=2) for p, kw in (("standard", {}), ("mup", {}), ("mup", {"zero_init": True})))
    factors = {"head._original_component.weight": 0.5, "tok_embed._original_component.weight": 2.0, "pos._original_component.weight": 2.0}
    sp_params, zero_params = dict(sp.named_parameters()), dict(zero.named_parameters())
    zeroed = []
    for name, p in mu.named_parameters():
        torch.testing.assert_close(p.detach(), factors.get(name, 1.0) * sp_params[name].detach(), rtol=1e-6, atol=0)
        if not torch.equal(zero_params[name], p):
            zeroed.append(name)
            assert torch.count_nonzero(zero_params[name]) == 0
    assert sorted(zeroed) == ["head._original_component.weight", "layers.0._original_component.attn._original_component.q._original_component.weight"]


def test_gradient_descent_takes_the_sgd_rates():
    model = build_model(config(128), seed=0)
    gd, sgd = model.optimizer_groups("gd", lr=1.0), model.optimizer_groups("sgd", lr=1.0)
    assert [g["lr"] for g in gd] == [g["lr"] for g in sgd] and {g["lr"] for g in sgd} == {4.0, 1.0, 0.25}
