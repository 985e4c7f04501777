"""Property tests of eigenlearning's prediction: κ solves its defining equation for any spectrum (eigenvalues over
hundreds of decades, zero eigenvalues, multiplicities, ridge or none), learnabilities are fractions that add up to
``n − δ/κ``, the prediction does not depend on the order of the modes nor on the units of the kernel, and errors
are bounded below by the noise."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.theory import eigenlearning as el

PROPERTY = settings(max_examples=100, deadline=None, database=None)


@st.composite
def problems(draw, ridge_zero: bool | None = None):
    """``(eigenvalues, multiplicities, coefficients, n, ridge, noise)`` that :func:`el.predict` accepts."""
    modes = draw(st.integers(1, 10))
    exponents = draw(st.lists(st.floats(-150, 5), min_size=modes, max_size=modes))
    lam = np.array([10.0**e for e in exponents])
    zeros = draw(st.lists(st.booleans(), min_size=modes, max_size=modes))
    lam[np.array(zeros) & (np.arange(modes) > 0)] = 0.0  # the first eigenvalue stays positive
    mult = np.array(draw(st.lists(st.integers(1, 6), min_size=modes, max_size=modes)), dtype=float)
    v = np.array(draw(st.lists(st.floats(-3, 3), min_size=modes, max_size=modes)))
    no_ridge = draw(st.booleans()) if ridge_zero is None else ridge_zero
    rank = int(mult[lam > 0].sum())
    if no_ridge and rank < 2:
        lam[0], mult[0], rank = max(lam[0], 1e-3), mult[0] + 1, rank + 1
    n = draw(st.integers(1, rank - 1)) if no_ridge else draw(st.integers(1, rank + 20))
    ridge = 0.0 if no_ridge else 10.0 ** draw(st.floats(-60, 3))
    noise = draw(st.sampled_from([0.0, 0.01, 1.0]))
    return lam, mult, v, float(n), ridge, noise


def _mp_excess_and_slope(lam, mult, n, ridge, kappa):
    """``Σ mᵢλᵢ/(λᵢ + κ) + δ/κ − n`` and its slope ``−∂/∂ log κ = Σ mᵢLᵢ(1 − Lᵢ) + δ/κ``, in 60-digit arithmetic."""
    with mpmath.workdps(60):
        k = mpmath.mpf(kappa)
        terms = [(mpmath.mpf(m), mpmath.mpf(x)) for m, x in zip(mult, lam)]
        excess = sum(m * x / (x + k) for m, x in terms) + mpmath.mpf(ridge) / k - n
        slope = sum(m * x * k / (x + k) ** 2 for m, x in terms) + mpmath.mpf(ridge) / k
        return float(excess), float(slope)


@PROPERTY
@given(problems())
def test_kappa_solves_its_defining_equation_to_a_relative_1e_8_in_log_kappa(problem):
    lam, mult, _, n, ridge, _ = problem
    kappa = el.effective_regularisation(lam, n, ridge, mult)
    excess, slope = _mp_excess_and_slope(lam, mult, n, ridge, kappa)
    assert abs(excess) <= 1e-8 * slope  # κ within a factor 1 ± 1e-8 of the exact root


@PROPERTY
@given(st.integers(1, 50), st.floats(-300, 0))
def test_kappa_of_n_equal_modes_and_one_small_mode_is_the_root_of_its_quadratic(n, exponent):
    # n modes of λ = 1 and one of ε at ridge 0: n/(1 + κ) + ε/(ε + κ) = n, so nκ² + (n − 1)εκ − ε = 0
    eps = 10.0**exponent
    root = 2 * eps / ((n - 1) * eps + np.sqrt((n - 1) ** 2 * eps**2 + 4 * n * eps))
    assert el.effective_regularisation([1.0, eps], n, multiplicities=[n, 1]) == pytest.approx(root, rel=1e-9, abs=0)


def test_a_mode_learned_to_within_rounding_leaves_the_overfitting_factor_finite_and_exact():
    # λ = (1, 1, 1e-40) on n = 2: κ = √(ε/2) = 7.07e-21, both large modes have L = 1 to double precision, so
    # n − Σ Lᵢ² evaluated as written is 0; it is Σ Lᵢ(1 − Lᵢ) = 2κ/(1 + κ)² + εκ/(ε + κ)²
    eps = 1e-40
    out = el.predict([1.0, 1.0, eps], [1.0, 1.0, 1.0], n=2, noise=0.5)
    kappa = 2 * eps / (eps + np.sqrt(eps**2 + 8 * eps))
    overfitting = 2 / (2 * kappa / (1 + kappa) ** 2 + eps * kappa / (eps + kappa) ** 2)
    residual = 2 * (kappa / (1 + kappa)) ** 2 + (kappa / (eps + kappa)) ** 2
    assert out.kappa == pytest.approx(kappa, rel=1e-12, abs=0)
    assert out.overfitting == pytest.approx(overfitting, rel=1e-9, abs=0)
    assert out.test_mse == pytest.approx(overfitting * (residual + 0.5) - 0.5, rel=1e-9, abs=0)


@PROPERTY
@given(problems())
def test_learnabilities_are_fractions_that_add_up_to_n_less_ridge_over_kappa(problem):
    lam, mult, v, n, ridge, noise = problem
    out = el.predict(lam, v, n, ridge, noise, mult)
    assert np.all((out.learnabilities >= 0) & (out.learnabilities <= 1))
    assert np.all(out.learnabilities[lam == 0] == 0)
    total = float((mult * out.learnabilities).sum())
    assert total == pytest.approx(n - ridge / out.kappa, rel=1e-9, abs=1e-9 * n)
    if ridge == 0:
        assert total == pytest.approx(n, rel=1e-9, abs=0)


@PROPERTY
@given(problems())
def test_errors_are_bounded_below_by_the_noise_and_the_train_error_by_nothing_more_than_the_test_error(problem):
    lam, mult, v, n, ridge, noise = problem
    out = el.predict(lam, v, n, ridge, noise, mult)
    assert np.isfinite([out.kappa, out.overfitting, out.test_mse, out.train_mse]).all()
    assert out.overfitting >= 1.0 - 1e-12  # E₀ = n/(n − Σ mᵢLᵢ²), up to rounding where every Lᵢ is tiny
    assert out.test_mse >= 0.0
    assert out.test_mse_noisy >= noise
    assert out.test_mse_noisy == pytest.approx(out.test_mse + noise, rel=1e-12, abs=1e-300)
    assert 0.0 <= out.train_mse <= out.test_mse_noisy * (1 + 1e-12)
    if ridge == 0:
        assert out.train_mse == 0.0


@PROPERTY
@given(problems(), st.randoms(use_true_random=False))
def test_the_prediction_does_not_depend_on_the_order_of_the_modes(problem, rnd):
    lam, mult, v, n, ridge, noise = problem
    order = np.array(rnd.sample(range(lam.size), lam.size))
    a = el.predict(lam, v, n, ridge, noise, mult)
    b = el.predict(lam[order], v[order], n, ridge, noise, mult[order])
    assert b.kappa == pytest.approx(a.kappa, rel=1e-10, abs=0)
    np.testing.assert_allclose(b.learnabilities, a.learnabilities[order], rtol=1e-9, atol=0)
    for name in ("overfitting", "test_mse", "train_mse"):
        assert getattr(b, name) == pytest.approx(getattr(a, name), rel=1e-8, abs=1e-300), name


@PROPERTY
@given(problems(), st.floats(-8, 8))
def test_scaling_the_kernel_and_the_ridge_together_scales_kappa_and_changes_nothing_else(problem, exponent):
    lam, mult, v, n, ridge, noise = problem
    c = 10.0**exponent
    a = el.predict(lam, v, n, ridge, noise, mult)
    b = el.predict(lam * c, v, n, ridge * c, noise, mult)
    assert b.kappa == pytest.approx(a.kappa * c, rel=1e-9, abs=0)
    np.testing.assert_allclose(b.learnabilities, a.learnabilities, rtol=1e-8, atol=0)
    for name in ("overfitting", "test_mse", "train_mse"):
        assert getattr(b, name) == pytest.approx(getattr(a, name), rel=1e-7, abs=1e-300), name


@PROPERTY
@given(problems(ridge_zero=False), st.floats(1.01, 4.0))
def test_kappa_falls_as_n_grows_and_rises_with_the_ridge(problem, factor):
    lam, mult, _, n, ridge, _ = problem
    kappa = el.effective_regularisation(lam, n, ridge, mult)
    assert el.effective_regularisation(lam, n * factor, ridge, mult) < kappa
    # a larger ridge never lowers κ; where the ridge is tiny it raises κ by less than rounding, which the root moves by
    assert el.effective_regularisation(lam, n, ridge * factor, mult) >= kappa * (1 - 8 * np.finfo(float).eps)


@PROPERTY
@given(problems(), st.data())
def test_a_bad_eigenvalue_or_coefficient_is_refused_by_name_and_position(problem, data):
    lam, mult, v, n, ridge, noise = problem
    i = data.draw(st.integers(0, lam.size - 1))
    bad = data.draw(st.sampled_from([-1e-3, -np.inf, np.inf, np.nan]))
    broken = lam.copy()
    broken[i] = bad
    with pytest.raises(ValueError, match=rf"eigenvalues\[{i}\]"):
        el.predict(broken, v, n, ridge, noise, mult)
    if not bad < 0:
        broken = v.copy()
        broken[i] = bad
        with pytest.raises(ValueError, match=rf"target_coefficients\[{i}\]"):
            el.predict(lam, broken, n, ridge, noise, mult)
    with pytest.raises(ValueError, match="target_coefficients has"):
        el.predict(lam, np.append(v, 1.0), n, ridge, noise, mult)
    with pytest.raises(ValueError, match="multiplicities has"):
        el.predict(lam, v, n, ridge, noise, np.append(mult, 1.0))
    for bad_n in (0.0, -1.0, np.nan, np.inf):
        with pytest.raises(ValueError, match="n "):
            el.predict(lam, v, bad_n, ridge, noise, mult)


def test_kappa_is_found_when_an_eigenvalue_is_far_below_ridge_over_n():
    # λ = 1e-9, n = 9, δ = 1: κ solves λ/(λ + κ) + 1/κ = n, so nκ² + ((n − 1)λ − 1)κ − λ = 0 (bracketing it once failed)
    lam, n = 1e-9, 9
    b = (n - 1) * lam - 1
    kappa = (-b + np.sqrt(b**2 + 4 * n * lam)) / (2 * n)
    assert el.effective_regularisation([lam], n, ridge=1.0) == pytest.approx(kappa, rel=1e-12, abs=0)


def test_test_error_of_a_barely_learned_mode_under_noise_is_exact_and_not_a_difference_of_near_equal_numbers():
    # λ = 1e-6 alone, n = 1, δ = 1: κ² − κ − λ = 0; a zero target leaves the test MSE σ²L²/(δ/κ + L(1 − L)) ≈ 1e-14
    lam, noise = 1e-6, 0.01
    kappa = (1 + np.sqrt(1 + 4 * lam)) / 2
    learn = lam / (lam + kappa)
    out = el.predict([lam], [0.0], n=1, ridge=1.0, noise=noise)
    assert out.test_mse == pytest.approx(noise * learn**2 / (1 / kappa + learn * (1 - learn)), rel=1e-9, abs=0)
