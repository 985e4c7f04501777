"""The linearised dynamics at a rate ``η λ̂/n`` below the float spacing of 1: gradient descent still moves each mode
(``(1 − η λ̂/n)^t`` is not ``1^t``), and kernel descent's limit is the interpolant whatever the kernel's scale."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.linalg import expm

from bridge.theory import linearised as lin


def test_a_mode_whose_rate_rounds_one_minus_it_to_one_still_decays():
    # η λ̂/n = 1e-21: (1 − 1e-21)^t = exp(−1e-21 t) to 21 digits; 1 − 1e-21 is 1.0 in floats
    got = lin.mode_residuals([1e-20], [0.0, 1e20, 1e21, np.inf], lr=0.1, n=1)[:, 0]
    assert got == pytest.approx([1.0, np.exp(-0.1), np.exp(-1.0), 0.0], rel=1e-12, abs=1e-300)


def test_kernel_descent_of_a_tiny_kernel_reaches_the_interpolant():
    kernel = 1e-20 * np.array([[2.0, 0.5, 0.3], [0.5, 1.0, 0.2], [0.3, 0.2, 1.0]])
    limit = lin.kernel_descent(kernel, [0, 1], [1.0, -1.0], lr=0.1, steps=[np.inf])[0]
    assert limit == pytest.approx(lin.interpolant(kernel, [0, 1], [1.0, -1.0]), rel=1e-12, abs=1e-15)
    assert limit[:2] == pytest.approx([1.0, -1.0], rel=1e-12)  # it fits the training targets


@settings(max_examples=40, deadline=None, database=None)
@given(st.integers(0, 2**32 - 1), st.floats(-30.0, -17.0), st.floats(0.1, 5.0))
def test_kernel_descent_at_small_rates_is_gradient_flow_from_a_dense_matrix_exponential(seed, log_lr, time):
    rng = np.random.default_rng(seed)
    features = rng.standard_normal((4, 6))
    kernel = features @ features.T
    train, y = np.array([0, 2, 3]), rng.standard_normal(3)
    lr = 10.0**log_lr
    steps = time / lr  # η t = time: the flow has moved by order one; a step changes it by η λ̂/n ≈ 1e-17 or less
    gram = kernel[np.ix_(train, train)]
    fitted = (np.eye(3) - expm(-lr * steps * gram / 3)) @ y  # the training residual decays as exp(−η K t/n)
    reference = kernel[:, train] @ np.linalg.solve(gram, fitted)
    got = lin.kernel_descent(kernel, train, y, lr=lr, steps=[steps])[0]
    assert got == pytest.approx(reference, rel=1e-6, abs=1e-9 * np.abs(reference).max())
