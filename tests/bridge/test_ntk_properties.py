"""Property tests of the empirical NTK over drawn networks, inputs and chunk sizes: it is the product of
per-example Jacobians written out one output at a time, exactly symmetric and positive semi-definite on one set of
inputs, its trace over outputs is the sum of the one-output kernels, a partition of the parameters splits it into a
sum, and a lazy wrapper multiplies it by ``α²``."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.estimators import effective_rank, empirical_ntk, kernel_matrix, top_eigenvalues
from bridge.models import DeepLinearConfig, LazyConfig, MLPConfig, ToySuperpositionConfig, build_model

PROPERTY = settings(max_examples=15, deadline=None, database=None)


@st.composite
def networks(draw):
    """``(model, d_in)``: a float64 MLP (biases non-zero), deep linear network or one-instance toy model of superposition."""
    kind = draw(st.sampled_from(["mlp", "deep_linear", "toy"]))
    seed = draw(st.integers(0, 2**16))
    if kind == "mlp":
        widths = tuple(draw(st.lists(st.integers(1, 6), min_size=1, max_size=2)))
        cfg = MLPConfig(d_in=draw(st.integers(1, 4)), d_out=draw(st.integers(1, 3)), widths=widths, activation=draw(st.sampled_from(["tanh", "gelu", "quadratic", "relu"])))
        net = build_model(cfg, seed).double()
        with torch.no_grad():
            for layer in net.layers:
                layer.bias.copy_(torch.randn(layer.bias.shape, generator=torch.Generator().manual_seed(seed + 1), dtype=torch.float64))
        return net, cfg.d_in
    if kind == "deep_linear":
        cfg = DeepLinearConfig(d_in=draw(st.integers(1, 4)), d_hidden=draw(st.integers(1, 5)), d_out=draw(st.integers(1, 3)), depth=draw(st.integers(2, 4)), init_std=0.8)
        return build_model(cfg, seed).double(), cfg.d_in
    cfg = ToySuperpositionConfig(n_features=draw(st.integers(1, 5)), n_hidden=draw(st.integers(1, 3)))
    net = build_model(cfg, seed).double()
    with torch.no_grad():
        net.b.copy_(0.3 * torch.randn(net.b.shape, generator=torch.Generator().manual_seed(seed + 1), dtype=torch.float64) + 0.5)
    return net, cfg.n_features


def inputs(n: int, d: int, seed: int) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def explicit_jacobian(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``(n, O, P)``: one backward pass per example and output, each example run on its own."""
    params = [p for p in model.parameters() if p.requires_grad]
    rows = []
    for i in range(x.shape[0]):
        out = model(x[i : i + 1]).reshape(-1)
        per_output = []
        for a in range(out.shape[0]):
            grads = torch.autograd.grad(out[a], params, retain_graph=True, allow_unused=True)
            per_output.append(torch.cat([(torch.zeros_like(p) if g is None else g).reshape(-1) for g, p in zip(grads, params)]))
        rows.append(torch.stack(per_output))
    return torch.stack(rows)


def close(a: torch.Tensor, b: torch.Tensor) -> None:
    scale = float(b.abs().max()) if b.numel() else 1.0
    torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12 * max(scale, 1.0))


@PROPERTY
@given(networks(), st.integers(1, 7), st.integers(1, 5), st.one_of(st.none(), st.integers(1, 9)), st.integers(0, 1000))
def test_the_kernel_for_any_chunk_size_is_the_explicit_jacobian_product(network, n1, n2, chunk_size, seed):
    model, d = network
    x1, x2 = inputs(n1, d, seed), inputs(n2, d, seed + 1)
    j1, j2 = explicit_jacobian(model, x1), explicit_jacobian(model, x2)
    full = torch.einsum("iap,jbp->ijab", j1, j2)
    close(empirical_ntk(model, x1, x2, chunk_size=chunk_size, output_reduction="full"), full)
    close(empirical_ntk(model, x1, x2, chunk_size=chunk_size), torch.einsum("ijaa->ij", full))
    close(empirical_ntk(model, x1, chunk_size=chunk_size, output_reduction="full"), torch.einsum("iap,jbp->ijab", j1, j1))


@PROPERTY
@given(networks(), st.integers(1, 9), st.one_of(st.none(), st.integers(1, 10)), st.integers(0, 1000))
def test_the_kernel_of_one_set_of_inputs_is_exactly_symmetric_and_positive_semi_definite(network, n, chunk_size, seed):
    model, d = network
    x = inputs(n, d, seed)
    for reduction in ("trace", "full"):
        m = kernel_matrix(empirical_ntk(model, x, chunk_size=chunk_size, output_reduction=reduction))
        assert torch.equal(m, m.T)
        values = torch.linalg.eigvalsh(m)
        assert float(values.min()) >= -1e-10 * max(float(values.max()), 1.0)
        if float(values.max()) > 1e-8:  # a participation ratio lies between 1 and the number of rows
            assert 1 - 1e-9 <= float(effective_rank(m)) <= m.shape[0] * (1 + 1e-9)
        assert float(top_eigenvalues(m, 1)[0]) == pytest.approx(float(values.max()), rel=1e-12, abs=1e-12)


@PROPERTY
@given(networks(), st.integers(1, 6), st.one_of(st.none(), st.integers(1, 4)), st.integers(0, 1000))
def test_the_trace_over_outputs_is_the_sum_of_the_one_output_kernels_and_of_the_full_blocks_diagonal(network, n, chunk_size, seed):
    model, d = network
    x = inputs(n, d, seed)
    n_out = model(x[:1]).reshape(-1).shape[0]
    trace = empirical_ntk(model, x, chunk_size=chunk_size)
    full = empirical_ntk(model, x, chunk_size=chunk_size, output_reduction="full")
    per_output = [empirical_ntk(model, x, chunk_size=chunk_size, output=lambda out, a=a: out.reshape(out.shape[0], -1)[:, a]) for a in range(n_out)]
    close(trace, sum(per_output))
    close(trace, torch.einsum("ijaa->ij", full))
    for a in range(n_out):
        close(full[:, :, a, a], per_output[a])
    close(full, full.permute(1, 0, 3, 2))  # Θ(x, x')_ab = Θ(x', x)_ba


@PROPERTY
@given(networks(), st.integers(1, 6), st.integers(0, 1000), st.data())
def test_a_partition_of_the_parameters_splits_the_kernel_into_a_sum(network, n, seed, data):
    model, d = network
    names = [name for name, _ in model.named_parameters()]
    assume_two = len(names) >= 2
    split = data.draw(st.integers(1, len(names) - 1)) if assume_two else 1
    x = inputs(n, d, seed)
    whole = empirical_ntk(model, x, chunk_size=3, output_reduction="full")
    parts = [empirical_ntk(model, x, chunk_size=3, output_reduction="full", params=group) for group in (names[:split], names[split:]) if group]
    close(sum(parts), whole)


@PROPERTY
@given(st.integers(1, 4), st.integers(1, 6), st.floats(0.01, 100.0), st.integers(0, 1000))
def test_a_lazy_wrapper_multiplies_the_kernel_by_alpha_squared(d_in, width, alpha, seed):
    inner = MLPConfig(d_in=d_in, d_out=2, widths=(width,), activation="tanh")
    lazy = build_model(LazyConfig(inner, alpha=alpha), seed).double()
    plain = build_model(inner, seed).double()
    x = inputs(5, d_in, seed)
    expected = alpha**2 * empirical_ntk(plain, x, output_reduction="full")
    torch.testing.assert_close(empirical_ntk(lazy, x, chunk_size=2, output_reduction="full"), expected, rtol=1e-10, atol=1e-12 * alpha**2)
