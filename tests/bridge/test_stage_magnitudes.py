"""Stage read-outs on values near the float range and on curves with samples that are not finite: the crossing of a
sweep and the rise between two levels are interpolated without overflow, and the noise measures leave out what is
not a measurement."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.stages import crossing, residual_noise, rise_between
from bridge.stages.drops import noise_level as difference_noise
from bridge.stages.grokking import noise_level as second_difference_noise

BIG = 1e308


def test_a_sweep_crossing_between_values_near_the_float_range_is_interpolated_in_log_alpha():
    alphas = np.array([100.0, 10.0, 1.0])
    # half-way from -1e308 to 1e308 at alpha 10 -> 1: sqrt(10); the level 0.99e308 is 99.5 % of the way
    assert crossing(alphas, np.array([-BIG, -BIG, BIG]), 0.0) == pytest.approx(math.sqrt(10.0), rel=1e-12)
    assert crossing(alphas, np.array([-BIG, -BIG, BIG]), 0.99 * BIG) == pytest.approx(10 ** (1 - 0.995), rel=1e-12)


def test_a_rise_between_values_near_the_float_range_is_interpolated():
    t_lo, t_hi = rise_between([0.0, 10.0, 20.0], [-BIG, -BIG, BIG], -0.5 * BIG, 0.5 * BIG)
    assert t_lo == pytest.approx(12.5, rel=1e-12) and t_hi == pytest.approx(17.5, rel=1e-12)


@settings(max_examples=50, deadline=None)
@given(st.floats(1e300, BIG), st.floats(1e300, BIG), st.floats(0.01, 0.99))
def test_crossing_and_rise_between_match_the_line_through_the_bracket_at_any_scale(below, above, share):
    y0, y1 = -below, above  # both finite, their difference overflows for most draws
    level = 2 * (y0 / 2 + share * (y1 / 2 - y0 / 2))
    share = (level / 2 - y0 / 2) / (y1 / 2 - y0 / 2)  # the level's share of the bracket, in halves: no overflow
    assert crossing(np.array([100.0, 1.0]), np.array([y0, y1]), level) == pytest.approx(100.0 ** (1 - share), rel=1e-9)
    lo = rise_between([0.0, 1.0], [y0, y1], level, level)
    assert lo is not None and lo[0] == pytest.approx(share, rel=1e-9, abs=1e-12) and lo[1] == pytest.approx(share, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize(("noise", "window"), [(residual_noise, {}), (difference_noise, {}), (second_difference_noise, {})])
def test_a_sample_that_is_not_finite_is_left_out_of_the_noise(noise, window, bad):
    rng = np.random.default_rng(0)
    curve = np.linspace(0.0, 5.0, 60) + rng.normal(0.0, 0.1, 60)
    holed = curve.copy()
    holed[[7, 31]] = bad
    expected = noise(np.delete(curve, [7, 31]), **window)
    got = noise(holed, **window)
    assert math.isfinite(got) and got == pytest.approx(expected, rel=1e-12)
    assert noise(3.0 * np.arange(12.0) * np.where(np.arange(12) == 4, bad, 1.0)) == pytest.approx(0.0, abs=1e-12)  # a line but for the hole
    assert noise(np.full(3, bad)) == 0.0  # nothing measured: no noise measured
