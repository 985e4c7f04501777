"""Edge inputs of the kernel read-outs, the empirical NTK and the Hessian operator: 0-d, empty, NaN or infinite
entries, float64 inputs to a float32 model, and kernels near the ends of the float range. Each gets the right number
(checked against a written-out value) or a ValueError naming the argument and the value."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bridge.estimators.hessian import dense_hessian, hessian_operator
from bridge.estimators.ntk import (
    effective_rank,
    empirical_ntk,
    jacobian_ntk,
    kernel_distance,
    kernel_target_alignment,
    ntk_eigendecomposition,
    top_eigenvalues,
)

NAN_KERNEL = torch.tensor([[1.0, math.nan], [0.0, 1.0]])
INF_KERNEL = torch.tensor([[1.0, 0.0], [0.0, math.inf]])


def _mse(out, target):
    return ((out - target) ** 2).mean()


@pytest.mark.parametrize(("call", "message"), [
    (lambda: kernel_target_alignment(torch.eye(2), torch.tensor(1.0)), r"y must be \(n, ...\) with the kernel's n = 2 examples, got shape \(\)"),
    (lambda: kernel_target_alignment(torch.zeros(0, 0), torch.zeros(0)), r"kernel must hold at least one example, got shape \(0, 0\)"),
    (lambda: kernel_target_alignment(NAN_KERNEL, torch.ones(2)), r"kernel must be finite, got kernel\[0, 1\] = nan"),
    (lambda: kernel_target_alignment(INF_KERNEL, torch.ones(2)), r"kernel must be finite, got kernel\[1, 1\] = inf"),
    (lambda: kernel_target_alignment(torch.eye(2), torch.tensor([1.0, math.nan])), r"y must be finite, got y\[1\] = nan"),
    (lambda: effective_rank(NAN_KERNEL), r"kernel must be finite, got kernel\[0, 1\] = nan"),
    (lambda: effective_rank(torch.zeros(0, 0)), r"kernel must hold at least one example"),
    (lambda: top_eigenvalues(NAN_KERNEL, 1), r"kernel must be finite, got kernel\[0, 1\] = nan"),
    (lambda: ntk_eigendecomposition(INF_KERNEL), r"kernel must be finite, got kernel\[1, 1\] = inf"),
    (lambda: kernel_distance(NAN_KERNEL, torch.eye(2)), r"k0 must be finite, got k0\[0, 1\] = nan"),
    (lambda: kernel_distance(torch.eye(2), INF_KERNEL), r"kt must be finite, got kt\[1, 1\] = inf"),
    (lambda: kernel_distance(torch.tensor(1.0), torch.tensor(2.0)), r"a kernel is \(n1, n2\) or \(n1, n2, O, O\), got shape \(\)"),
])
def test_a_read_out_refuses_a_0d_empty_or_non_finite_argument_by_name(call, message):
    """The 0-d target raised a bare IndexError, the empty kernel a reshape RuntimeError, a NaN or inf entry gave NaN
    (and top_eigenvalues −0.0), and two 0-d kernels had distance 0."""
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize("scale", [1e-200, 1e-150, 1e150, 1e250])
def test_the_read_outs_are_scale_free_near_both_ends_of_the_float_range(scale):
    """Squares of entries past 1e154 overflowed (NaN read-outs) and below 1e-162 underflowed ("a zero kernel")."""
    k = torch.tensor([[2.0, 1.0, 0.0], [1.0, 2.0, 0.5], [0.0, 0.5, 1.0]], dtype=torch.float64)
    k2 = torch.tensor([[1.0, 0.0, 0.0], [0.0, 3.0, 1.0], [0.0, 1.0, 1.0]], dtype=torch.float64)
    y = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    alignment = float(y @ k @ y) / (float(k.norm()) * float(y @ y))  # yᵀKy / (‖K‖_F ‖y‖²) at unit scale
    rank = float(k.trace()) ** 2 / float((k * k).sum())
    distance = 1 - float((k * k2).sum()) / (float(k.norm()) * float(k2.norm()))
    assert alignment == pytest.approx(1 / math.sqrt(11.5), rel=1e-12) and rank == pytest.approx(25 / 11.5, rel=1e-12)  # yᵀKy = ‖y‖² = 5.25
    assert float(kernel_target_alignment(k * scale, y * scale)) == pytest.approx(alignment, rel=1e-12)
    assert float(kernel_target_alignment(k * scale, y)) == pytest.approx(alignment, rel=1e-12)
    assert float(effective_rank(k * scale)) == pytest.approx(rank, rel=1e-12)
    assert float(kernel_distance(k * scale, k2 * scale)) == pytest.approx(distance, rel=1e-12)
    assert float(kernel_distance(k * scale, k2)) == pytest.approx(distance, rel=1e-12)


def test_the_kernel_of_float64_inputs_to_a_float32_model_is_that_of_the_inputs_cast_to_float32():
    """A float64 batch raised torch's "expected m1 and m2 to have the same dtype" from inside the Jacobian."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    x = torch.randn(5, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    reference = jacobian_ntk(net, x.float())
    for kernel in (empirical_ntk(net, x, chunk_size=2), empirical_ntk(net, x.float(), x), jacobian_ntk(net, x)):
        assert kernel.dtype == torch.float32
        torch.testing.assert_close(kernel, reference, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("call", "message"), [
    (lambda net: empirical_ntk(net, torch.tensor([[1.0, math.nan, 0.0]])), r"x1 must be finite, got x1\[0, 1\] = nan"),
    (lambda net: empirical_ntk(net, torch.ones(2, 3), torch.tensor([[0.0, 0.0, math.inf]])), r"x2 must be finite, got x2\[0, 2\] = inf"),
    (lambda net: jacobian_ntk(net, torch.tensor([[math.nan, 0.0, 0.0]])), r"x must be finite, got x\[0, 0\] = nan"),
])
def test_a_non_finite_input_to_the_kernel_is_refused_by_name(call, message):
    """A NaN input gave a kernel of NaN without a word."""
    with pytest.raises(ValueError, match=message):
        call(torch.nn.Linear(3, 2))


HESSIAN_X = torch.diag(torch.tensor([1.0, 2.0]))  # H = 2XᵀX/n = diag(1, 4) for a linear map without bias


@pytest.mark.parametrize(("x", "y", "message"), [
    (torch.tensor(1.0), torch.zeros(1, 1), r"x must be a batch \(n, ...\), got \(\)"),
    (HESSIAN_X, torch.tensor(0.0), r"y must be a batch \(n, ...\), got \(\)"),
    (torch.tensor([[1.0, math.nan], [0.0, 1.0]]), torch.zeros(2, 1), r"x must be finite, got x\[0, 1\] = nan"),
    (HESSIAN_X, torch.tensor([[0.0], [-math.inf]]), r"y must be finite, got y\[1, 0\] = -inf"),
])
def test_the_hessian_operator_refuses_a_0d_or_non_finite_batch_by_name(x, y, message):
    """A 0-d x or y raised a bare IndexError from ``x.shape[0]``; a NaN batch gave a Hessian of NaN."""
    with pytest.raises(ValueError, match=message), hessian_operator(torch.nn.Linear(2, 1, bias=False), x, y, _mse):
        pass


def test_the_hessian_operator_refuses_a_non_finite_loss():
    net = torch.nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        net.weight.fill_(math.inf)
    with pytest.raises(ValueError, match="the loss at the model's parameters is (inf|nan), not a finite number"):
        with hessian_operator(net, HESSIAN_X, torch.zeros(2, 1), _mse):
            pass


def test_the_hessian_of_a_float64_batch_on_a_float32_model_is_its_closed_form():
    """A float64 batch raised torch's "mat1 and mat2 must have the same dtype" from the forward."""
    net = torch.nn.Linear(2, 1, bias=False)
    with hessian_operator(net, HESSIAN_X.double(), torch.zeros(2, 1, dtype=torch.float64), _mse) as op:
        np.testing.assert_allclose(dense_hessian(op), np.diag([1.0, 4.0]), rtol=1e-6, atol=1e-6)
        assert op.grad.dtype == torch.float32
