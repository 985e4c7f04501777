"""Property tests of cached activations against values taken with plain torch forward hooks on tiny models (the direct
``run_to`` path and the hook path alike, any parametrisation), of activations over checkpoints, and of a probe fitted
over checkpoints (its rows, split sizes and a regression target it decodes exactly)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.models import DeepLinearConfig, MLPConfig, TransformerConfig, build_model
from probes.activations import activations_over_checkpoints, cached_activation
from probes.over_training import probe_over_checkpoints

PROPERTY = settings(max_examples=12, deadline=None, database=None)
TRANSFORMER = build_model(TransformerConfig(d_vocab=8, n_ctx=5, d_model=16, n_heads=2, d_head=8, n_layers=2, d_mlp=12), seed=0)
REACHED = sorted(TRANSFORMER.run_with_cache(torch.zeros(1, 5, dtype=torch.long))[1].keys())  # hook points a forward pass runs through


def plain_hook_value(model, x, hook):
    """The output of the hook point ``hook`` in one forward pass, captured with ``register_forward_hook``."""
    module = model.hook_dict[hook]  # a bridge names some hook points by an alias that is no submodule name
    captured = []
    handle = module.register_forward_hook(lambda _m, _i, out: captured.append(out.detach().clone()))
    try:
        with torch.no_grad():
            model(x)
    finally:
        handle.remove()
    (value,) = captured
    conversion = getattr(module, "hook_conversion", None)
    return value if conversion is None else conversion.convert(value)


@PROPERTY
@given(st.integers(0, 2**31 - 1), st.lists(st.integers(1, 6), min_size=1, max_size=3), st.sampled_from(["relu", "tanh", "quadratic"]),
       st.sampled_from([("standard", None), ("ntk", 3), ("mup", 3)]), st.booleans())
def test_mlp_activations_equal_a_plain_forward_hook_at_every_hook_point_directly_and_with_a_hook_in_place(seed, widths, activation, parametrisation, training):
    name, base = parametrisation
    net = build_model(MLPConfig(d_in=3, d_out=2, widths=tuple(widths), activation=activation, parametrisation=name, base_width=base), seed=seed)
    net.train(training)
    x = torch.randn(7, 3, generator=torch.Generator().manual_seed(seed))
    for hook in net.hook_dict:
        expected = plain_hook_value(net, x, hook)
        torch.testing.assert_close(cached_activation(net, x, hook), expected, rtol=1e-6, atol=1e-6)  # run_to: no hook anywhere
        handle = net.hook_in.register_forward_hook(lambda _m, _i, out: out)  # a hook that changes nothing sends it through the forward pass
        try:
            torch.testing.assert_close(cached_activation(net, x, hook), expected, rtol=1e-6, atol=1e-6)
        finally:
            handle.remove()
    assert net.training == training and not any(m._forward_hooks for m in net.modules())


@PROPERTY
@given(st.integers(0, 2**31 - 1), st.integers(2, 4), st.integers(1, 3))
def test_deep_linear_activations_equal_a_plain_forward_hook_and_the_product_of_the_weights(seed, depth, batch):
    net = build_model(DeepLinearConfig(4, 5, 3, depth=depth, init_std=0.5), seed=seed)
    x = torch.randn(batch, 4, generator=torch.Generator().manual_seed(seed))
    for hook in net.hook_dict:
        torch.testing.assert_close(cached_activation(net, x, hook), plain_hook_value(net, x, hook), rtol=1e-6, atol=1e-6)
    with torch.no_grad():
        expected = net(x)
    torch.testing.assert_close(cached_activation(net, x, "hook_out"), expected, rtol=1e-6, atol=1e-6)


@PROPERTY
@given(st.integers(0, 2**31 - 1), st.integers(1, 3), st.sampled_from(REACHED))
def test_transformer_activations_equal_a_plain_forward_hook_with_heads_apart(seed, batch, hook):
    tokens = torch.randint(0, 8, (batch, 5), generator=torch.Generator().manual_seed(seed))
    got = cached_activation(TRANSFORMER, tokens, hook)
    expected = plain_hook_value(TRANSFORMER, tokens, hook)
    torch.testing.assert_close(got, expected, rtol=0, atol=0)
    assert got.shape[0] == batch
    if hook.endswith(("hook_z", "hook_q", "hook_k", "hook_v")):
        assert got.shape[-2:] == (2, 8)  # (…, head, d_head) as run_with_cache shows it
    assert not any(m._forward_hooks for m in TRANSFORMER.modules())


def test_a_transformer_hook_point_the_forward_pass_does_not_run_through_is_named():
    unreached = sorted(set(TRANSFORMER.hook_dict) - set(REACHED))
    assert "blocks.0.hook_mlp_in" in unreached
    with pytest.raises(RuntimeError, match="hook 'blocks.0.hook_mlp_in' was not reached by the forward pass"):
        cached_activation(TRANSFORMER, torch.zeros(1, 5, dtype=torch.long), "blocks.0.hook_mlp_in")
    assert not any(m._forward_hooks for m in TRANSFORMER.modules())


@PROPERTY
@given(st.lists(st.integers(0, 50), min_size=1, max_size=4, unique=True), st.data())
def test_activations_over_checkpoints_read_each_asked_step_in_the_order_given(saved, data):
    models = {step: build_model(MLPConfig(d_in=3, d_out=2, widths=(4,)), seed=step) for step in saved}
    run = SimpleNamespace(steps=sorted(saved), model_at=lambda step: models[step])
    asked = data.draw(st.permutations(saved))
    x = torch.randn(5, 3, generator=torch.Generator().manual_seed(0))
    out = activations_over_checkpoints(run, x, "hook_post.0", steps=asked)
    assert list(out) == list(asked)
    for step in asked:
        torch.testing.assert_close(out[step], plain_hook_value(models[step], x, "hook_post.0"), rtol=0, atol=0)
    assert list(activations_over_checkpoints(run, x, "hook_post.0")) == sorted(saved)


@PROPERTY
@given(st.integers(0, 2**31 - 1), st.integers(4, 12), st.lists(st.integers(0, 9), min_size=1, max_size=3, unique=True))
def test_a_ridge_probe_over_checkpoints_decodes_a_linear_target_exactly_on_both_splits(seed, test_count, steps):
    """Identity activations and a target linear in them: R² of one on train and test items at every step; the
    shuffled-label control does not decode the test items."""
    from sklearn.linear_model import LinearRegression

    rng = np.random.default_rng(seed)
    n = 40
    inputs = torch.as_tensor(rng.normal(size=(n, 3)), dtype=torch.float32)
    y = inputs.double().numpy() @ np.array([1.0, -2.0, 0.5]) + 0.25
    nets = {step: torch.nn.Sequential(torch.nn.Identity()) for step in range(10)}
    run = SimpleNamespace(steps=list(range(10)), model_at=lambda step: nets[step])
    frame = probe_over_checkpoints(run, inputs, y, "0", estimator=LinearRegression(), steps=steps, test_size=test_count, seed=seed)
    assert frame["step"].tolist() == [s for s in steps for _ in range(2)] and frame["split"].tolist() == ["train", "test"] * len(steps)
    assert frame["score"].tolist() == pytest.approx([1.0] * 2 * len(steps), abs=1e-5)
    assert (frame[frame.split == "test"]["control_score"] < 0.9).all()
    no_control = probe_over_checkpoints(run, inputs, y, "0", estimator=LinearRegression(), steps=steps[:1], test_size=test_count, shuffled_control=False)
    assert no_control["control_score"].isna().all()
    with pytest.raises(ValueError, match=r"steps \[10\] are not checkpoints of the run"):
        probe_over_checkpoints(run, inputs, y, "0", steps=[*steps, 10])
