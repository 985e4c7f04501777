"""Property tests of the Hessian operator over drawn tiny networks, data and vectors: every Hessian-vector product
equals the dense Hessian of ``torch.autograd.functional.hessian`` times the vector and a central difference of
gradients, the operator over a subset of the parameters is that subset's block, the dense Hessian built from
products is that Hessian, Lanczos' top eigenvalues are the dense eigendecomposition's, and Hutchinson's estimate is
the mean of its probes' quadratic forms."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.func import functional_call

from bridge.estimators.hessian import dense_hessian, hessian_operator, hutchinson_trace, lanczos_top
from bridge.models import DeepLinearConfig, MLPConfig, ToySuperpositionConfig, build_model

PROPERTY = settings(max_examples=15, deadline=None, database=None)


def mse(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return ((out - target) ** 2).mean()


@st.composite
def problems(draw):
    """``(model, x, y)``: a smooth float64 network (MLP with tanh, gelu or quadratic, deep linear, or a toy model of
    superposition with its ReLU active) and a small batch."""
    kind = draw(st.sampled_from(["mlp", "deep_linear", "toy"]))
    seed = draw(st.integers(0, 2**16))
    n = draw(st.integers(1, 6))
    g = torch.Generator().manual_seed(seed + 7)
    if kind == "mlp":
        cfg = MLPConfig(d_in=draw(st.integers(1, 3)), d_out=draw(st.integers(1, 2)), widths=tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=2))), activation=draw(st.sampled_from(["tanh", "gelu", "quadratic"])))
        d_in, d_out = cfg.d_in, cfg.d_out
    elif kind == "deep_linear":
        cfg = DeepLinearConfig(d_in=draw(st.integers(1, 3)), d_hidden=draw(st.integers(1, 4)), d_out=draw(st.integers(1, 2)), depth=draw(st.integers(2, 3)), init_std=0.7)
        d_in, d_out = cfg.d_in, cfg.d_out
    else:
        cfg = ToySuperpositionConfig(n_features=draw(st.integers(1, 4)), n_hidden=draw(st.integers(1, 2)))
        d_in = d_out = cfg.n_features
    model = build_model(cfg, seed).double()
    if kind == "toy":
        with torch.no_grad():
            model.b.fill_(5.0)  # every ReLU far on its linear side: the loss is smooth where it is differentiated
        x = torch.rand(n, d_in, generator=g, dtype=torch.float64) * 0.5
    else:
        x = torch.randn(n, d_in, generator=g, dtype=torch.float64)
    return model, x, torch.randn(n, d_out, generator=g, dtype=torch.float64)


def flat_parameters(model):
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def loss_of_flat(model, x, y):
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]
    sizes = [p.numel() for p in model.parameters()]

    def loss(flat):
        return mse(functional_call(model, {n: t.reshape(s) for n, t, s in zip(names, torch.split(flat, sizes), shapes)}, (x,)), y)

    return loss


def reference_hessian(model, x, y) -> np.ndarray:
    return torch.autograd.functional.hessian(loss_of_flat(model, x, y), flat_parameters(model)).numpy()


@PROPERTY
@given(problems(), st.integers(0, 1000))
def test_every_product_is_the_dense_hessian_times_the_vector_and_a_central_difference_of_gradients(problem, seed):
    model, x, y = problem
    h = reference_hessian(model, x, y)
    v = torch.randn(h.shape[0], generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    with hessian_operator(model, x, y, mse) as op:
        hv = op.hvp(v).numpy()
        grad = op.grad.numpy()
    scale = max(np.abs(h).max() * float(v.abs().max()) * h.shape[0], 1e-12)
    np.testing.assert_allclose(hv, h @ v.numpy(), rtol=1e-9, atol=1e-12 * scale)
    flat, loss = flat_parameters(model), loss_of_flat(model, x, y)
    gradient = lambda w: torch.autograd.functional.jacobian(loss, w)
    np.testing.assert_allclose(grad, gradient(flat).numpy(), rtol=1e-10, atol=1e-12)
    eps = 1e-5
    difference = ((gradient(flat + eps * v) - gradient(flat - eps * v)) / (2 * eps)).numpy()
    np.testing.assert_allclose(hv, difference, rtol=1e-5, atol=1e-7 * scale)


@PROPERTY
@given(problems(), st.data())
def test_the_operator_over_a_subset_of_the_parameters_is_that_subsets_block(problem, data):
    model, x, y = problem
    params = list(model.parameters())
    chosen = sorted(data.draw(st.sets(st.integers(0, len(params) - 1), min_size=1)))
    offsets = np.cumsum([0] + [p.numel() for p in params])
    index = np.concatenate([np.arange(offsets[i], offsets[i + 1]) for i in chosen])
    with hessian_operator(model, x, y, mse, params=[params[i] for i in chosen]) as op:
        block = dense_hessian(op)
    h = reference_hessian(model, x, y)
    np.testing.assert_allclose(block, h[np.ix_(index, index)], rtol=1e-9, atol=1e-12 * max(np.abs(h).max(), 1.0))


@PROPERTY
@given(problems())
def test_the_dense_hessian_from_products_and_lanczos_top_eigenvalues_are_the_reference_ones(problem):
    model, x, y = problem
    h = reference_hessian(model, x, y)
    with hessian_operator(model, x, y, mse) as op:
        dense = dense_hessian(op)
        n = op.shape[0]
        k = min(3, n - 1)
        if k >= 1:
            values, vectors = lanczos_top(op, k=k, tol=0)
    scale = max(np.abs(h).max(), 1.0)
    np.testing.assert_allclose(dense, h, rtol=1e-9, atol=1e-12 * scale)
    assert np.array_equal(dense, dense.T)
    if k >= 1:
        expected = np.linalg.eigvalsh(h)[::-1][:k]
        np.testing.assert_allclose(values, expected, rtol=1e-8, atol=1e-9 * scale)
        assert np.all(np.diff(values) <= 0)
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=0), 1.0, rtol=1e-10)
        np.testing.assert_allclose(h @ vectors, vectors * values, atol=1e-6 * scale)


@PROPERTY
@given(problems(), st.integers(1, 5), st.integers(0, 1000))
def test_hutchinsons_estimate_is_the_mean_of_its_rademacher_probes_quadratic_forms(problem, n_probes, seed):
    model, x, y = problem
    h = reference_hessian(model, x, y)
    with hessian_operator(model, x, y, mse) as op:
        estimate, error = hutchinson_trace(op, n_probes, torch.Generator().manual_seed(seed))
    g = torch.Generator().manual_seed(seed)
    forms = []
    for _ in range(n_probes):  # the same draws: one Rademacher vector of ±1 per probe
        z = (torch.randint(0, 2, (h.shape[0],), generator=g, dtype=torch.int64) * 2 - 1).double().numpy()
        forms.append(z @ h @ z)
    scale = max(np.abs(h).sum(), 1.0)
    assert estimate == pytest.approx(np.mean(forms), rel=1e-9, abs=1e-12 * scale)
    if n_probes == 1:
        assert np.isnan(error)
    else:
        assert error == pytest.approx(np.std(forms, ddof=1) / np.sqrt(n_probes), rel=1e-6, abs=1e-10 * scale)
