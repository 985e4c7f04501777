"""The half-way level of the move detectors, ``bridge.stages.levels.half_way``: the exact midpoint rounded once,
for every pair of floats, and the detectors that use it on curves near the largest float."""

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.stages import half_move, half_rise, sustained_rise
from bridge.stages.levels import half_way

finite = st.floats(allow_nan=False, allow_infinity=False, allow_subnormal=True)


@settings(max_examples=400, deadline=None)
@given(finite, finite)
def test_half_way_is_the_exact_midpoint_rounded_once(a, b):
    assert half_way(a, b) == float((Fraction(a) + Fraction(b)) / 2)
    assert half_way(a, b) == half_way(b, a)


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=1e307, max_value=1.7976931348623157e308), st.floats(min_value=1e307, max_value=1.7976931348623157e308), st.sampled_from([1, -1]))
def test_half_way_of_two_values_near_the_largest_float_is_finite_and_between_them(a, b, sign):
    mid = half_way(sign * a, sign * b)
    assert math.isfinite(mid) and min(sign * a, sign * b) <= mid <= max(sign * a, sign * b)
    assert mid == float((Fraction(a) + Fraction(b)) * sign / 2)


def test_half_way_at_the_edges():
    assert (half_way(5e-324, 5e-324), half_way(5e-324, 0.0), half_way(-5e-324, 1e-323)) == (5e-324, 0.0, 0.0)  # a / 2 + b / 2 gave 0 for the first
    assert half_way(np.float64(1e308), np.float64(1.7e308)) == 1.35e308 and type(half_way(np.float64(1.0), 2.0)) is float
    assert half_way(math.inf, 1.0) == math.inf and math.isnan(half_way(math.inf, -math.inf))


@pytest.mark.parametrize("scale", [1.0, 2.0**1000])
def test_the_move_detectors_find_the_same_step_on_a_curve_near_the_largest_float(scale):
    """``(start + extreme) / 2`` overflowed to inf for values near 1e308: half_rise, sustained_rise and half_move
    found no crossing, and half_move of a fall found one at the first step, at level inf."""
    t = np.arange(8.0)
    y = np.array([1.0, 1.0, 1.0, 1.7, 1.7, 1.7, 1.7, 1.7]) * 2.0**23 * scale  # 1.0e308 and 1.7e308 or so at the largest scale
    found = {
        "half_rise": half_rise(t, y),
        "sustained_rise": sustained_rise(t, y, snr=0),
        "half_move up": half_move(t, y, direction="up", min_fraction=0, snr=0),
        "half_move down": half_move(t, y[::-1].copy(), direction="down", min_fraction=0, snr=0),
    }
    steps = {name: None if e is None else (e.step, e.lo, e.hi) for name, e in found.items()}
    assert steps == {"half_rise": (2.5, 2.0, 3.0), "sustained_rise": (2.5, 2.0, 3.0), "half_move up": (2.5, 2.0, 3.0), "half_move down": (4.5, 4.0, 5.0)}
