"""Eigenlearning's effective regularisation at magnitudes near the ends of the float range: eigenvalues or a ridge
near 1e308, and a number of points so large that ``n + 1`` rounds to ``n``, solved like any other spectrum."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.theory import eigenlearning as el


@pytest.mark.parametrize("scale", [1e308, 1e200, 1e-300])
def test_three_equal_eigenvalues_at_any_scale_give_half_of_one(scale):
    # 3 λ/(λ + κ) = 2 at κ = λ/2, and each mode is learned to 2/3
    assert el.effective_regularisation([scale] * 3, n=2) == pytest.approx(scale / 2, rel=1e-12)
    out = el.predict([scale] * 3, [1.0, 0.0, 0.0], n=2)
    assert out.learnabilities == pytest.approx([2 / 3] * 3, rel=1e-12)
    assert out.test_mse == pytest.approx(3.0 * (1 / 3) ** 2, rel=1e-12)  # E₀ = 2/(2 − 3·4/9) = 3


def test_a_ridge_near_the_float_range_sets_kappa():
    # 3/(1 + κ) + δ/κ = 2 with δ = 1e308: κ = δ/2 to far below rounding
    assert el.effective_regularisation([1.0, 1.0, 1.0], n=2, ridge=1e308) == pytest.approx(5e307, rel=1e-12)


def test_a_number_of_points_where_n_plus_one_rounds_to_n():
    # 2/(1 + κ) + 1/κ = n: κ = 1/(n − 3) to a relative 1/n²
    assert el.effective_regularisation([1.0, 1.0], n=1e300, ridge=1.0) == pytest.approx(1e-300, rel=1e-12)
    assert el.effective_regularisation([1.0, 1.0], n=1e20, ridge=1.0) == pytest.approx(1 / (1e20 - 3), rel=1e-12)


@settings(max_examples=50, deadline=None, database=None)
@given(st.integers(0, 2**32 - 1), st.floats(-300.0, 300.0), st.sampled_from([0.0, 0.1, 3.0]))
def test_kappa_scales_with_the_spectrum_and_the_ridge(seed, log_scale, ridge):
    rng = np.random.default_rng(seed)
    lam = np.sort(rng.uniform(0.01, 1.0, 6))[::-1]
    n = float(rng.integers(1, 6))
    c = 10.0**log_scale
    # the root of Σ λ/(λ + κ) + δ/κ = n by bisection on log κ, a reference apart from the library's solver
    lo, hi = np.log(1e-12), np.log(1e6)
    for _ in range(200):
        mid = (lo + hi) / 2
        k = np.exp(mid)
        lo, hi = (mid, hi) if (lam / (lam + k)).sum() + ridge / k > n else (lo, mid)
    assert el.effective_regularisation(c * lam, n, ridge=c * ridge) == pytest.approx(c * np.exp(lo), rel=1e-9)
