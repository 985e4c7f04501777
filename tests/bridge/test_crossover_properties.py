"""Property tests of the crossover over a swept parameter and of log-log slopes: the crossing is the exact one of the
curve linear in log α between the two bracketing points, scales with α and does not move when values and level are
shifted together; exact power laws give their exponent with an interval that holds it, whatever their prefactor;
parameters that cannot be read in log scale, or too few of them, are refused before any fit."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.stages import crossing, loglog_slope

PROPERTY = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
VALUE = st.integers(-80, 80).map(lambda k: k / 8)


@st.composite
def sweeps(draw, min_size: int = 2, max_size: int = 15):
    """``(alphas, values)``: α strictly decreasing over several decades, values on a grid of eighths."""
    n = draw(st.integers(min_size, max_size))
    top = draw(st.floats(-3.0, 3.0))
    gaps = draw(st.lists(st.floats(0.05, 1.0), min_size=n - 1, max_size=n - 1))
    alphas = 10.0 ** (top - np.concatenate(([0.0], np.cumsum(gaps))))
    values = np.array(draw(st.lists(VALUE, min_size=n, max_size=n)))
    return alphas, values


@PROPERTY
@given(sweeps(), VALUE)
def test_a_sweep_crossing_is_the_log_linear_crossing_between_its_bracketing_points(sweep, level):
    alphas, values = sweep
    found = crossing(alphas, values, level)
    above = values >= level
    if above[0] or not above.any():
        assert found is None
        return
    i = int(np.argmax(above))
    assert alphas[i] <= found <= alphas[i - 1]
    # values linear in log α between the two points reach the level exactly there
    x0, x1 = np.log(alphas[i - 1]), np.log(alphas[i])
    assert values[i - 1] + (values[i] - values[i - 1]) * (np.log(found) - x0) / (x1 - x0) == pytest.approx(level, abs=1e-9)


@PROPERTY
@given(sweeps(), VALUE, st.floats(1e-3, 1e3), st.integers(-40, 40))
def test_a_sweep_crossing_scales_with_alpha_and_stays_when_values_and_level_are_shifted_together(sweep, level, factor, offset):
    alphas, values = sweep
    found = crossing(alphas, values, level)
    scaled, shifted = crossing(alphas * factor, values, level), crossing(alphas, values + offset, level + offset)
    if found is None:
        assert scaled is None and shifted is None
        return
    assert scaled == pytest.approx(found * factor, rel=1e-9)
    assert shifted == pytest.approx(found, rel=1e-9)


@PROPERTY
@given(
    st.lists(st.floats(-3.0, 3.0), min_size=2, max_size=12, unique=True).filter(lambda v: np.ptp(v) > 0.1),
    st.floats(-4.0, 4.0),
    st.floats(-20.0, 20.0),
)
def test_an_exact_power_law_gives_its_exponent_and_an_interval_holding_it_whatever_its_prefactor(log10_x, exponent, log_prefactor):
    x = 10.0 ** np.array(log10_x)
    y = x**exponent
    slope, lo, hi = loglog_slope(x, y)
    assert slope == pytest.approx(exponent, abs=1e-9)
    assert lo - 1e-9 <= exponent <= hi + 1e-9 and lo <= slope <= hi
    if len(x) == 2:
        assert (lo, hi) == (-np.inf, np.inf)
    else:
        assert hi - lo < 1e-9  # no residual: no spread
    again = loglog_slope(x, np.exp(log_prefactor) * y)
    assert again == pytest.approx((slope, lo, hi), abs=1e-9)
    assert loglog_slope(x[::-1], y[::-1]) == pytest.approx((slope, lo, hi), abs=1e-9)  # the order of the points does not matter


@PROPERTY
@given(st.lists(st.floats(-2.0, 2.0), min_size=3, max_size=12).filter(lambda v: np.ptp(v) > 0.1), st.lists(st.floats(-1.0, 1.0), min_size=12, max_size=12))
def test_a_noisy_power_law_interval_is_symmetric_about_the_slope_and_the_slope_is_the_least_squares_one(log10_x, noise):
    x = 10.0 ** np.array(log10_x)
    ly = -1.5 * np.log(x) + np.array(noise[: len(x)])
    slope, lo, hi = loglog_slope(x, np.exp(ly))
    assert slope == pytest.approx(np.polyfit(np.log(x), ly, 1)[0], abs=1e-9)
    assert hi - slope == pytest.approx(slope - lo, abs=1e-9) and lo <= slope <= hi


@pytest.mark.parametrize(
    "alphas,message",
    [
        ([10.0, 0.0, -1.0], r"alphas must be finite and positive \(they are read in log scale\), got alphas\[1\] = 0"),
        ([10.0, np.nan, 1.0], r"got alphas\[1\] = nan"),
        ([1.0, 10.0, 100.0], r"alphas must be strictly decreasing, got 10 at position 1 after 1"),
        ([10.0, 10.0, 1.0], r"strictly decreasing, got 10 at position 1 after 10"),
    ],
)
def test_a_sweep_whose_alphas_cannot_be_read_in_log_scale_or_go_back_is_refused(alphas, message):
    """Before: a warning and a NaN crossing for α <= 0 or NaN, and a crossing read off a sweep in the wrong order."""
    with pytest.raises(ValueError, match=message):
        crossing(np.array(alphas), np.array([0.0, 0.05, 0.2]), 0.1)


def test_a_sweep_level_that_is_not_a_number_is_never_reached():
    assert crossing(np.array([100.0, 10.0, 1.0]), np.array([0.0, 0.05, 0.2]), float("nan")) is None


@pytest.mark.parametrize(
    "x,y,message",
    [
        ([1.0, 10.0, 100.0], [1.0, 0.1], r"x and y must be 1-D of one length, got \(3,\) and \(2,\)"),
        ([1.0], [1.0], "need at least 2 points to fit a slope, got 1"),
        ([1.0, 10.0, 100.0], [1.0, 0.0, 0.01], r"y must be finite and positive \(they are read in log scale\), got y\[1\] = 0"),
        ([1.0, -10.0, 100.0], [1.0, 0.1, 0.01], r"got x\[1\] = -10"),
        ([1.0, 10.0, 100.0], [1.0, np.nan, 0.01], r"got y\[1\] = nan"),
        ([1.0, 10.0, np.inf], [1.0, 0.1, 0.01], r"got x\[2\] = inf"),
        ([3.0, 3.0, 3.0], [1.0, 0.1, 0.01], "x must take at least two distinct values, got 3 points all at 3"),
    ],
)
def test_a_log_log_slope_refuses_points_it_cannot_fit(x, y, message):
    """Before: a broadcasting error, a NaN slope with a warning, or a slope of NaN passed on without a word."""
    with pytest.raises(ValueError, match=message):
        loglog_slope(np.array(x), np.array(y))


def test_a_flat_power_law_has_slope_zero_and_an_interval_of_no_width():
    """Before: the slope 0 came with a NaN interval (the correlation coefficient of a constant is 0/0)."""
    assert loglog_slope(np.array([1.0, 10.0, 100.0]), np.array([2.0, 2.0, 2.0])) == (0.0, 0.0, 0.0)


def test_an_exact_power_law_through_three_points_has_an_interval_of_no_width():
    """Before: 1.5 ± 4e-7, the square root of the rounding error of 1 − r²."""
    slope, lo, hi = loglog_slope(np.array([1.0, 10.0, 100.0]), np.array([1.0, 10.0, 100.0]) ** 1.5)
    assert slope == pytest.approx(1.5, abs=1e-12) and hi - lo < 1e-12


def test_a_sweep_reaching_the_level_at_a_point_crosses_at_that_points_alpha_exactly():
    """Before: exp(log 0.3) = 0.2999999999999999, a crossing outside the bracket [0.3, 30]."""
    assert crossing(np.array([30.0, 0.3]), np.array([0.0, 1.0]), 1.0) == 0.3
