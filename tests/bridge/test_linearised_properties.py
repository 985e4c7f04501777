"""Property tests of the linearised dynamics on random positive definite kernels: along each eigenvector of the
training Gram matrix the residual of kernel descent decays by the factor of :func:`mode_residuals`, with a small
step it follows gradient flow's exponential, and the interpolant reproduces the training targets."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.theory import linearised as lin

PROPERTY = settings(max_examples=100, deadline=None, database=None)


@st.composite
def problems(draw):
    """``(kernel (N, N), train_index (n,), targets (n,))`` with a well-conditioned training Gram matrix."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    size = draw(st.integers(2, 9))
    n = draw(st.integers(1, size))
    features = rng.standard_normal((size, size + 2)) * 10.0 ** draw(st.floats(-3, 3))
    kernel = features @ features.T
    train = rng.choice(size, n, replace=False)
    return kernel, train, rng.standard_normal(n)


def _gram_modes(kernel, train):
    values, vectors = np.linalg.eigh(kernel[np.ix_(train, train)])
    return values, vectors


@PROPERTY
@given(problems(), st.floats(0.05, 0.95), st.lists(st.integers(0, 200), min_size=1, max_size=5))
def test_each_gram_mode_of_the_training_residual_decays_by_the_mode_residual_factor(problem, rate, steps):
    kernel, train, y = problem
    values, vectors = _gram_modes(kernel, train)
    lr = rate * train.size / values.max()  # the largest mode's factor 1 − ηλ̂/n is 1 − rate
    f = lin.kernel_descent(kernel, train, y, lr, steps)
    residual = (f[:, train] - y) @ vectors  # (times, modes)
    expected = -lin.mode_residuals(values, steps, lr, train.size) * (vectors.T @ y)
    np.testing.assert_allclose(residual, expected, rtol=1e-6, atol=1e-9 * np.abs(y).max())


@PROPERTY
@given(problems(), st.floats(0.2, 3.0))
def test_kernel_descent_with_a_small_step_follows_the_flow_exponential(problem, time):
    kernel, train, y = problem
    values, vectors = _gram_modes(kernel, train)
    lr = 1e-4 * train.size / values.max()
    steps = [round(time / 1e-4)]  # η t λ̂_max / n = time
    f = lin.kernel_descent(kernel, train, y, lr, steps)
    expected = -lin.mode_residuals(values, steps, lr, train.size, discrete=False) * (vectors.T @ y)
    np.testing.assert_allclose((f[:, train] - y) @ vectors, expected, rtol=1e-3, atol=1e-9 * np.abs(y).max())


@PROPERTY
@given(problems())
def test_the_interpolant_reproduces_the_training_targets_and_is_kernel_descent_at_infinite_time(problem):
    kernel, train, y = problem
    f = lin.interpolant(kernel, train, y)
    np.testing.assert_allclose(f[train], y, rtol=0, atol=1e-7 * np.abs(y).max())
    values, _ = _gram_modes(kernel, train)
    limit = lin.kernel_descent(kernel, train, y, train.size / values.max(), [np.inf])[0]
    np.testing.assert_allclose(limit, f, rtol=1e-9, atol=1e-9 * np.abs(f).max())
