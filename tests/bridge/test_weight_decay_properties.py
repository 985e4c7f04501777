"""Property tests of the weight-decay theory: the decayed norm and the step it reaches a target at against the same
closed forms in 50-digit arithmetic, for per-step decays ``η·λ`` over many decades (down to below 2⁻⁵³, where
``1 − η·λ`` rounds to 1); the time scale at extreme factors; the power-law fit against the least-squares normal
equations in exact rational arithmetic, and its invariances under rescaling and reordering."""

from __future__ import annotations

import math
from fractions import Fraction

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.theory.weight_decay import decay_prediction, decayed_norm, fit_power_law, time_scale

PROPERTY = settings(max_examples=60, deadline=None, database=None)
mpmath.mp.dps = 50
# per-step decays η·λ = 10^e and the factors η, λ that give them
DECAYS = st.tuples(st.floats(-20, -0.01), st.floats(0, 1)).map(lambda e: (10.0 ** (e[0] * e[1]), 10.0 ** (e[0] * (1 - e[1]))))


def _exact_norm(norm0: float, lr: float, weight_decay: float, t: float) -> float:
    return float(mpmath.mpf(norm0) * (1 - mpmath.mpf(lr) * mpmath.mpf(weight_decay)) ** mpmath.mpf(t))


@PROPERTY
@given(DECAYS, st.floats(0, 3), st.floats(1e-3, 1e3))
def test_the_decayed_norm_is_the_closed_form_for_any_per_step_decay(factors, decades, norm0):
    lr, weight_decay = factors
    t = np.array([0.0, 1.0, 10.0**decades / (lr * weight_decay)])  # out to 1000 e-folding times
    norms = decayed_norm(norm0, lr, weight_decay, t)
    expected = [_exact_norm(norm0, lr, weight_decay, s) for s in t]
    assert norms[0] == norm0
    np.testing.assert_allclose(norms, expected, rtol=1e-12 * max(1.0, 10.0**decades), atol=1e-300)


@PROPERTY
@given(DECAYS, st.floats(1.0001, 1e6), st.floats(-1e6, 1e6))
def test_the_predicted_step_is_where_the_closed_form_reaches_the_target(factors, shrink, t_start):
    lr, weight_decay = factors
    pred = decay_prediction(t_start, 2.0 * shrink, 2.0, lr, weight_decay)
    exact = t_start + mpmath.log(mpmath.mpf(1) / shrink) / mpmath.log(1 - mpmath.mpf(lr) * mpmath.mpf(weight_decay))
    assert pred.step == pytest.approx(float(exact), rel=1e-12, abs=1e-9 * abs(t_start))
    assert pred.value == 2.0 and pred.extra["tau"] == pytest.approx(1 / (lr * weight_decay), rel=1e-15, abs=0)


def test_a_per_step_decay_below_the_float_resolution_of_one_still_decays():
    """η·λ = 1e-17 rounds 1 − η·λ to 1: the predicted step was a division by zero and the norm never decayed."""
    assert decay_prediction(0, 2.0, 1.0, 1e-9, 1e-8).step == pytest.approx(math.log(2) * 1e17, rel=1e-12, abs=0)
    assert decayed_norm(1.0, 1e-9, 1e-8, np.array([1e17]))[0] == pytest.approx(math.exp(-1), rel=1e-12, abs=0)


def test_a_per_step_decay_of_1e_8_is_not_rounded_into_the_step():
    """1 − 1e-8 rounded first moved the step at which the norm halves by 0.35 steps and the norm by 5e-9 relative."""
    assert decay_prediction(0, 2.0, 1.0, 1e-4, 1e-4).step == pytest.approx(math.log(2) / -math.log1p(-1e-8), rel=1e-14, abs=0)
    assert decayed_norm(1.0, 1e-4, 1e-4, np.array([1e8]))[0] == pytest.approx(math.exp(1e8 * math.log1p(-1e-8)), rel=1e-14, abs=0)


def test_a_norm_shrinking_past_the_float_range_has_a_finite_step():
    """norm_target / norm_start = 1e-600 underflowed to 0 and its log was a math domain error."""
    step = decay_prediction(0, 1e300, 1e-300, 1e-2, 1.0).step
    assert step == pytest.approx(600 * math.log(10) / -math.log1p(-1e-2), rel=1e-13, abs=0)


def test_single_precision_factors_are_used_at_their_value_in_double_precision():
    """η, λ as numpy float32 scalars computed 1 − η·λ in float32: the norm after 1e5 steps was 0.14 % off."""
    lr, weight_decay = np.float32(1e-3), np.float32(1e-2)
    exact = _exact_norm(1.0, float(lr), float(weight_decay), 1e5)
    assert decayed_norm(1.0, lr, weight_decay, np.array([1e5]))[0] == pytest.approx(exact, rel=1e-12, abs=0)
    tau = time_scale(lr, weight_decay)
    assert type(tau) is float and tau == pytest.approx(1 / (float(lr) * float(weight_decay)), rel=1e-15, abs=0)


@pytest.mark.parametrize(("lr", "weight_decay", "expected"), [(1e-200, 1e-200, math.inf), (1e200, 1e200, 0.0), (1e-160, 1e-140, 1e300), (3e-3, 2.0, 500 / 3)])
def test_the_time_scale_at_extreme_factors_is_the_rounded_reciprocal_not_a_division_by_zero(lr, weight_decay, expected):
    """η·λ = 1e-400 underflowed to 0: a Python float raised ZeroDivisionError where a numpy float gave inf."""
    for cast in (float, np.float64):
        assert time_scale(cast(lr), cast(weight_decay)) == pytest.approx(expected, rel=1e-15, abs=0)


def _exact_slope(x: np.ndarray, t: np.ndarray) -> Fraction:
    lx, lt = [Fraction(v) for v in np.log(x)], [Fraction(v) for v in np.log(t)]
    mx, mt = sum(lx) / len(lx), sum(lt) / len(lt)
    return sum((a - mx) * (b - mt) for a, b in zip(lx, lt)) / sum((a - mx) ** 2 for a in lx)


POINTS = st.lists(st.tuples(st.floats(-6, 2), st.floats(-2, 6)), min_size=3, max_size=12).filter(lambda pts: np.ptp([p[0] for p in pts]) > 0.1)


@PROPERTY
@given(POINTS, st.floats(-3, 3), st.floats(-3, 3), st.randoms(use_true_random=False))
def test_the_power_law_fit_is_least_squares_on_logs_and_invariant_to_scale_and_order(points, x_scale, t_scale, rnd):
    x, t = 10.0 ** np.array(points).T
    fit = fit_power_law(x, t)
    assert fit.exponent == pytest.approx(float(_exact_slope(x, t)), rel=1e-9, abs=1e-9)
    assert fit.ci_low <= fit.exponent <= fit.ci_high and 0 <= fit.r2 <= 1 + 1e-12 and fit.n == len(x)
    # the fitted line passes through the centroid of the logs
    assert math.log(fit.predict(math.exp(np.log(x).mean()))) == pytest.approx(np.log(t).mean(), abs=1e-9)
    order = list(range(len(x)))
    rnd.shuffle(order)
    moved = fit_power_law(x[order] * 10.0**x_scale, t[order] * 10.0**t_scale)
    assert moved.exponent == pytest.approx(fit.exponent, rel=1e-8, abs=1e-9)
    assert moved.stderr == pytest.approx(fit.stderr, rel=1e-6, abs=1e-9) and moved.r2 == pytest.approx(fit.r2, abs=1e-9)
    assert moved.prefactor == pytest.approx(fit.prefactor * 10.0**t_scale * 10.0 ** (-x_scale * fit.exponent), rel=1e-7, abs=0)


def test_a_constant_step_is_an_exact_fit_with_exponent_zero_not_a_nan():
    """All grokking steps equal: the correlation is 0/0 and the standard error, interval and r² were NaN."""
    fit = fit_power_law([1e-3, 2e-3, 4e-3], [300.0, 300.0, 300.0])
    assert (fit.exponent, fit.stderr, fit.ci_low, fit.ci_high, fit.r2) == (0.0, 0.0, 0.0, 0.0, 1.0)
    assert fit.prefactor == pytest.approx(300.0, rel=1e-15, abs=0)


def test_distinct_x_with_one_log_are_refused_by_name():
    """Neighbouring floats near 1e300 have one log: the regression had no x spread (a library error about identical x)."""
    x = [1e300, float(np.nextafter(1e300, 2e300)), 1e300]
    with pytest.raises(ValueError, match=r"at least 3 positive points at 2 or more distinct x, got x=\[1e\+300"):
        fit_power_law(x, [1.0, 2.0, 3.0])


def test_a_prefactor_beyond_the_float_range_is_refused_naming_x_and_t():
    """x near 1e100 with t near 1e300 fits t = 4e400 · x^-1: math.exp raised a bare OverflowError."""
    with pytest.raises(ValueError) as refused:
        fit_power_law([1e100, 2e100, 4e100], [4e300, 2e300, 1e300])
    assert str(refused.value) == ("the fitted prefactor exp(922.42) of t = prefactor * x^exponent is beyond the float range for x=[1e+100, 2e+100, 4e+100], t=[4e+300, 2e+300, 1e+300]; rescale x or t")
    # a large prefactor inside the range is still fitted: t = 4e200 · x^-1
    fit = fit_power_law([1e100, 2e100, 4e100], [4e100, 2e100, 1e100])
    assert fit.exponent == pytest.approx(-1.0, abs=1e-12) and fit.prefactor == pytest.approx(4e200, rel=1e-9, abs=0)
