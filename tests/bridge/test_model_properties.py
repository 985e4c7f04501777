"""Property tests of the models over drawn shapes, widths and seeds: a lazy model is exactly zero at initialisation
and its gradient is ``α`` times the wrapped network's; a deep linear network computes the product of its matrices,
layer by layer; an MLP's weights have the init variance and multiplier its parametrisation documents at every width
(the sum of squares within a two-sided chi-squared band for its number of entries); and the flat parameter vector's tensors
and unit blocks cover it as documented."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import chi2

from bridge.estimators.parameter_groups import block_loading, blocks, parameter_slices, tensor_loading
from bridge.models import MLP, DeepLinearConfig, LazyConfig, MLPConfig, ToySuperpositionConfig, build_model

PROPERTY = settings(max_examples=20, deadline=None, database=None)
SEEDS = st.integers(0, 2**16)


def assert_variance(entries: np.ndarray, variance: float) -> None:
    """Entries drawn from ``N(0, variance)``: ``Σ w² / variance`` lies in the central ``1 − 1e-9`` of ``χ²`` with
    as many degrees of freedom as entries (a two-sided band from the sample size, exact for any count)."""
    n = entries.size
    statistic = float(np.sum(np.asarray(entries, dtype=np.float64) ** 2)) / variance
    low, high = chi2.ppf([5e-10, 1 - 5e-10], n)
    assert low <= statistic <= high, f"Σw²/σ² = {statistic:.4g} outside [{low:.4g}, {high:.4g}] for {n} entries"


@st.composite
def inner_configs(draw):
    """``(config, d_in)`` of a model a lazy wrapper accepts."""
    kind = draw(st.sampled_from(["mlp", "deep_linear", "toy"]))
    if kind == "mlp":
        cfg = MLPConfig(d_in=draw(st.integers(1, 4)), d_out=draw(st.integers(1, 3)), widths=tuple(draw(st.lists(st.integers(1, 8), min_size=1, max_size=3))), activation=draw(st.sampled_from(["relu", "tanh", "gelu", "quadratic"])))
        return cfg, cfg.d_in
    if kind == "deep_linear":
        cfg = DeepLinearConfig(d_in=draw(st.integers(1, 4)), d_hidden=draw(st.integers(1, 6)), d_out=draw(st.integers(1, 3)), depth=draw(st.integers(2, 4)), init_std=0.5)
        return cfg, cfg.d_in
    cfg = ToySuperpositionConfig(n_features=draw(st.integers(1, 5)), n_hidden=draw(st.integers(1, 3)))
    return cfg, cfg.n_features


# --- lazy ----------------------------------------------------------------------------------------


@PROPERTY
@given(inner_configs(), st.floats(1e-3, 1e3), SEEDS, st.integers(1, 6))
def test_a_lazy_model_is_exactly_zero_at_initialisation_and_its_gradient_is_alpha_times_the_wrapped_ones(inner, alpha, seed, n):
    cfg, d_in = inner
    lazy = build_model(LazyConfig(cfg, alpha=alpha), seed).double()
    plain = build_model(cfg, seed).double()
    g = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(n, d_in, generator=g, dtype=torch.float64)
    out = lazy(x)
    assert torch.equal(out, torch.zeros_like(out))
    assert [name for name, _ in lazy.named_parameters()] == [f"model.{name}" for name, _ in plain.named_parameters()]
    weights = torch.randn(out.shape, generator=g, dtype=torch.float64)
    lazy_grads = torch.autograd.grad((lazy(x) * weights).sum(), list(lazy.parameters()), allow_unused=True)
    plain_grads = torch.autograd.grad((plain(x) * weights).sum(), list(plain.parameters()), allow_unused=True)
    for a, b in zip(lazy_grads, plain_grads):
        if b is None:
            assert a is None
            continue
        torch.testing.assert_close(a, alpha * b, rtol=1e-12, atol=1e-300)


# --- deep linear ---------------------------------------------------------------------------------


@PROPERTY
@given(st.integers(1, 5), st.integers(1, 6), st.integers(1, 5), st.integers(2, 5), st.floats(0.1, 2.0), SEEDS, st.integers(1, 6))
def test_a_deep_linear_network_computes_the_product_of_its_matrices_layer_by_layer(d_in, d_hidden, d_out, depth, init_std, seed, n):
    net = build_model(DeepLinearConfig(d_in=d_in, d_hidden=d_hidden, d_out=d_out, depth=depth, init_std=init_std), seed).double()
    dims = [d_in] + [d_hidden] * (depth - 1) + [d_out]
    mats = [w.detach().numpy() for w in net.weights]
    assert [m.shape for m in mats] == [(b, a) for a, b in zip(dims[:-1], dims[1:])]
    for m in mats:
        assert_variance(m, init_std**2)
    product = np.linalg.multi_dot(mats[::-1]) if depth > 2 else mats[1] @ mats[0]
    x = torch.randn(n, d_in, generator=torch.Generator().manual_seed(seed + 1), dtype=torch.float64)
    np.testing.assert_allclose(net.end_to_end().detach().numpy(), product, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(net(x).detach().numpy(), x.numpy() @ product.T, rtol=1e-10, atol=1e-14)
    partial = x.numpy()
    for layer in range(depth - 1):
        partial = partial @ mats[layer].T
        np.testing.assert_allclose(net.run_to(x, f"hook_hidden.{layer}").detach().numpy(), partial, rtol=1e-10, atol=1e-14)


# --- MLP parametrisations ------------------------------------------------------------------------


def documented(parametrisation: str, kind: str, fan_in: int, width: int, base: int) -> tuple[float, float]:
    """``(variance of a stored weight entry, forward multiplier)`` at ``init_scale`` 1, as the parametrisations are defined:
    standard ``N(0, 1/fan_in)``; NTK stores ``N(0, 1/base)`` in width-fed layers and multiplies by ``√(base/fan_in)``;
    μP stores a readout of variance ``base/fan_in²``; the first layer is standard in all three."""
    if parametrisation == "standard" or kind == "input":
        return 1 / fan_in, 1.0
    if parametrisation == "ntk":
        return (width / base) / fan_in, math.sqrt(base / width)
    return ((base / width) / fan_in, 1.0) if kind == "output" else (1 / fan_in, 1.0)


@settings(max_examples=12, deadline=None, database=None)
@given(st.sampled_from(["standard", "ntk", "mup"]), st.lists(st.sampled_from([16, 48, 128, 320]), min_size=1, max_size=3), st.sampled_from([8, 32, 128]), st.integers(1, 8), st.integers(1, 4), st.floats(0.25, 4.0), SEEDS)
def test_mlp_weights_have_their_parametrisations_documented_variance_and_multiplier_at_every_width(parametrisation, widths, base, d_in, d_out, init_scale, seed):
    cfg = MLPConfig(d_in=d_in, d_out=d_out, widths=tuple(widths), parametrisation=parametrisation, base_width=None if parametrisation == "standard" else base, init_scale=init_scale)
    net = MLP(cfg, seed)
    kinds = ["input"] + ["hidden"] * (len(widths) - 1) + ["output"]
    fan_ins = [d_in, *widths]
    scaled_by = [widths[0], *widths]  # the first layer's fan-out, the fan-in of the others
    for i, (layer, kind) in enumerate(zip(net.layers, kinds)):
        variance, multiplier = documented(parametrisation, kind, fan_ins[i], scaled_by[i], base)
        w = layer.weight.detach().double()
        assert w.shape == ((widths + [d_out])[i], fan_ins[i])
        assert net.multipliers[i] == pytest.approx(multiplier, rel=1e-12)
        assert_variance(w.numpy(), init_scale**2 * variance)
        assert torch.equal(layer.bias, torch.zeros_like(layer.bias))
    x = torch.randn(5, d_in, generator=torch.Generator().manual_seed(seed + 1))
    h = x
    for i, layer in enumerate(net.layers):  # the forward pass applies each multiplier to its layer's product only
        h = net.multipliers[i] * (h @ layer.weight.T) + layer.bias
        h = torch.relu(h) if i < len(widths) else h
    torch.testing.assert_close(net(x), h, rtol=1e-5, atol=1e-6)


# --- parameter groups ----------------------------------------------------------------------------


@PROPERTY
@given(st.sampled_from(["mlp", "mlp_no_bias", "deep_linear"]), st.lists(st.integers(1, 5), min_size=1, max_size=3), st.integers(1, 3), st.integers(1, 3), SEEDS)
def test_tensors_partition_the_flat_vector_and_unit_blocks_cover_each_coordinate_as_often_as_it_touches_hidden_units(kind, widths, d_in, d_out, seed):
    if kind == "deep_linear":
        net = build_model(DeepLinearConfig(d_in=d_in, d_hidden=widths[0], d_out=d_out, depth=len(widths) + 1), seed)
    else:
        net = build_model(MLPConfig(d_in=d_in, d_out=d_out, widths=tuple(widths), bias=kind == "mlp"), seed)
    params = list(net.parameters())
    slices = parameter_slices(net)
    n = sum(p.numel() for p in params)
    starts = [s.start for s, _ in slices.values()]
    assert starts == [0, *np.cumsum([p.numel() for p in params])[:-1]]
    assert [shape for _, shape in slices.values()] == [tuple(p.shape) for p in params]
    assert sum(len(range(n)[s]) for s, _ in slices.values()) == n
    # every coordinate's number of blocks: 1 in the first and last weight, 2 in a weight between hidden layers,
    # 1 in a hidden bias, 0 in the readout's bias
    counts = np.zeros(n)
    for block in blocks(net):
        hit = np.zeros(n, dtype=bool)
        for name, index in block.parts:
            s, shape = slices[name]
            hit[np.arange(n)[s].reshape(shape)[index].reshape(-1)] = True
        counts += hit
    expected = []
    n_layers = len(params) if kind != "mlp" else len(params) // 2
    for name, (s, _shape) in slices.items():
        layer = int(name.split(".")[1])
        if name.endswith("bias"):
            expected.append(np.full(len(range(n)[s]), 0.0 if layer == n_layers - 1 else 1.0))
        else:
            expected.append(np.full(len(range(n)[s]), 1.0 if layer in (0, n_layers - 1) else 2.0))
    np.testing.assert_array_equal(counts, np.concatenate(expected))
    vector = np.random.default_rng(seed).standard_normal(n)
    loads = tensor_loading(net, vector)
    assert sum(loads.values()) == pytest.approx(1.0, rel=1e-12)
    total = float(vector @ vector)
    np.testing.assert_allclose([share for _, share in block_loading(net, vector)], [float(np.sum(vector[np.concatenate([np.arange(n)[slices[name][0]].reshape(slices[name][1])[index].reshape(-1) for name, index in b.parts])] ** 2)) / total for b in blocks(net)], rtol=1e-12)
