"""Edge inputs of the learning-coefficient sampler, the parameter-group loadings and the curvature read-outs:
float64 data for a float32 model, non-finite weights or products, counts that are not integers, and vectors near
the ends of the float range. Each gets the right number (written out) or a ValueError naming the argument."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.sparse.linalg import aslinearoperator

from bridge.estimators.hessian import dense_hessian, hessian_operator, hutchinson_trace, lanczos_top, power_iteration
from bridge.estimators.llc import SGLDConfig, default_nbeta, estimate_llc
from bridge.estimators.parameter_groups import block_loading, deep_linear_blocks, mlp_blocks, tensor_loading, transformer_blocks
from bridge.models import MLP, MLPConfig

SGLD = SGLDConfig(n_chains=2, n_draws=4, n_burnin=1, step_size=1e-3, gamma=1.0, nbeta=5.0)


def _linear(weight: list[float]) -> torch.nn.Linear:
    net = torch.nn.Linear(len(weight), 1, bias=False)
    with torch.no_grad():
        net.weight.copy_(torch.tensor([weight]))
    return net


def test_a_float64_split_on_a_float32_model_gives_the_estimate_of_the_split_in_float32():
    """A float64 split raised torch's "mat1 and mat2 must have the same dtype" from the first forward."""
    x = torch.randn(12, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    net = _linear([1.0, -0.5])
    y = x @ torch.tensor([[1.0], [-0.5]], dtype=torch.float64) + 0.1
    single = estimate_llc(net, "half_sse", (x.float(), y.float()), SGLD, seed=3)
    double = estimate_llc(net, "half_sse", (x, y), SGLD, seed=3)
    assert double.init_loss == single.init_loss and double.init_loss == pytest.approx(0.5 * 0.1**2, rel=1e-5)
    np.testing.assert_array_equal(double.trace, single.trace)


def test_a_non_finite_weight_is_refused_as_a_non_finite_loss_at_w_star():
    x = torch.ones(6, 2)
    with pytest.raises(ValueError, match=r"the loss at w\* is nan"):
        estimate_llc(_linear([math.nan, 1.0]), "half_sse", (x, torch.ones(6, 1)), SGLD)


@pytest.mark.parametrize("n", [math.nan, math.inf, 2.5, True, "10"])
def test_default_nbeta_refuses_a_count_that_is_not_an_integer(n):
    """NaN and inf gave a NaN nβ without a word."""
    with pytest.raises(ValueError, match=r"need an integer count of at least 2 samples for nβ = n/ln n, got n="):
        default_nbeta(n)
    assert default_nbeta(np.int64(10)) == pytest.approx(10 / math.log(10), rel=1e-15)


@pytest.mark.parametrize("scale", [1e-200, 1e-170, 1e170, 1e250])
def test_the_loadings_are_scale_free_near_both_ends_of_the_float_range(scale):
    """Squares past 1e154 overflowed (every share NaN) and below 1e-162 underflowed ("the vector is zero")."""
    net = MLP(MLPConfig(d_in=2, d_out=1, widths=(3,)))  # layers.0.weight (3, 2), bias (3,), layers.1.weight (1, 3), bias (1,)
    vector = np.arange(1.0, 14.0)
    squares = vector**2
    expected = {"layers.0.weight": squares[:6].sum(), "layers.0.bias": squares[6:9].sum(), "layers.1.weight": squares[9:12].sum(), "layers.1.bias": squares[12]}
    got = tensor_loading(net, vector * scale)
    assert list(got) == list(expected)
    for name, mass in expected.items():
        assert got[name] == pytest.approx(mass / squares.sum(), rel=1e-12)
    unit0 = squares[[0, 1, 6, 9]].sum() / squares.sum()  # unit 0: row 0 of layers.0.weight, its bias, column 0 out
    shares = [share for _, share in block_loading(net, vector * scale)]
    assert len(shares) == 3 and shares[0] == pytest.approx(unit0, rel=1e-12)


@pytest.mark.parametrize("top", [1e160, 1e300])
def test_power_iteration_finds_an_eigenvalue_past_the_square_root_of_the_float_range(top):
    """numpy's norm of H v overflowed to inf, the next vector was w / inf = 0, and the estimate 0.0."""
    res = power_iteration(aslinearoperator(np.diag([top, 1.0])), v0=np.array([1.0, 1.0]))
    assert res.value == pytest.approx(top, rel=1e-9)
    np.testing.assert_allclose(np.abs(res.vector), [1.0, 0.0], rtol=0, atol=1e-9)


def test_the_read_outs_refuse_a_non_finite_product():
    """A NaN product gave a NaN eigenvalue and a NaN trace."""
    op = aslinearoperator(np.diag([math.nan, 1.0]))
    with pytest.raises(ValueError, match=r"the operator's product H v is not finite: nan at entry 0"):
        power_iteration(op)
    with pytest.raises(ValueError, match=r"the operator's product H v is not finite: nan at entry 0"):
        hutchinson_trace(op, 2, torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match=r"lanczos_top: the operator's product H v is not finite: nan at entry 0"):
        lanczos_top(op)  # scipy's ArpackError before


def test_lanczos_top_still_reads_a_finite_operator():
    values, vectors = lanczos_top(aslinearoperator(np.diag([5.0, 3.0, 2.0, 1.0])), k=2)
    np.testing.assert_allclose(values, [5.0, 3.0], rtol=1e-9, atol=0)
    np.testing.assert_allclose(np.abs(vectors[:2]), np.eye(2), rtol=0, atol=1e-6)


@pytest.mark.parametrize(("finder", "message"), [
    (mlp_blocks, r"mlp_blocks needs a bridge\.models\.MLP \(with config\.widths, config\.bias and layers\), got Linear"),
    (deep_linear_blocks, r"deep_linear_blocks needs a bridge\.models\.DeepLinearNetwork \(with config\.depth and config\.d_hidden\), got Linear"),
    (transformer_blocks, r"transformer_blocks needs a toy transformer \(with cfg\.n_layers, cfg\.n_heads and cfg\.d_head\), got Linear"),
])
def test_the_block_finders_refuse_a_model_of_another_kind_by_name(finder, message):
    """A plain nn.Linear raised AttributeError: 'Linear' object has no attribute 'config'."""
    with pytest.raises(ValueError, match=message):
        finder(torch.nn.Linear(2, 2))


def test_a_hessian_product_that_is_not_finite_is_refused():
    """‖out‖ at out = 0 has a finite loss and a 0/0 gradient: its Hessian products were NaN."""
    net = _linear([0.0, 0.0])
    with hessian_operator(net, torch.ones(2, 2), torch.zeros(2, 1), lambda out, y: (out - y).pow(2).sum().sqrt()) as op:
        with pytest.raises(ValueError, match=r"the operator's product H v is not finite: nan at entry 0"):
            op.matvec(np.array([1.0, 0.0]))


def test_the_dense_hessian_of_no_parameter_is_empty():
    """A 0 × 0 operator raised numpy's "need at least one array to stack"."""
    assert dense_hessian(aslinearoperator(np.zeros((0, 0)))).shape == (0, 0)


def test_a_split_of_one_example_without_nbeta_is_refused_naming_the_split():
    """The default nβ = n/ln n refused "n=1", a name the caller never passed; with nbeta set one example samples."""
    x = torch.ones(1, 2)
    with pytest.raises(ValueError) as refused:
        estimate_llc(_linear([1.0, -0.5]), "half_sse", (x, torch.ones(1, 1)), SGLDConfig(n_chains=2, n_draws=4, n_burnin=1, step_size=1e-3, gamma=1.0))
    assert str(refused.value) == "split: the default nβ = n/ln n needs at least 2 examples, got a split of 1 (x of shape (1, 2)); set SGLDConfig(nbeta=...) to sample with one"
    res = estimate_llc(_linear([1.0, -0.5]), "half_sse", (x, torch.ones(1, 1)), SGLDConfig(n_chains=2, n_draws=4, n_burnin=1, step_size=1e-3, gamma=1.0, nbeta=1.0))
    assert res.nbeta == 1.0 and res.init_loss == pytest.approx(0.5 * 0.5**2, rel=1e-6, abs=0)
