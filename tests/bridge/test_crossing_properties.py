"""Property tests of the crossing detectors on a time axis (threshold crossing, settled crossing, half-rise): the
crossing is that of the piecewise-linear curve through the samples, inside its sampling bracket; it moves with the
step axis and does not move when the curve and the level are shifted or scaled together; a curve that never reaches
the level has none, nor does a level that is not a number; a blip that is not a whole number of samples is refused."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bridge.stages import half_rise, settled_crossing, threshold_crossing
from bridge.stages.detectors import _interpolate

PROPERTY = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)

# values on a grid of eighths and integer steps, so that sums, differences and scaling by powers of two are exact
VALUE = st.integers(-80, 80).map(lambda k: k / 8)


@st.composite
def curves(draw, min_size: int = 2, max_size: int = 30):
    """``(steps, values)``: strictly increasing integer steps from an integer start, values on a grid of eighths."""
    n = draw(st.integers(min_size, max_size))
    start = draw(st.integers(-1000, 1000))
    gaps = draw(st.lists(st.integers(1, 50), min_size=n - 1, max_size=n - 1))
    steps = start + np.concatenate(([0], np.cumsum(gaps))).astype(float)
    values = np.array(draw(st.lists(VALUE, min_size=n, max_size=n)))
    return steps, values


DIRECTION = st.sampled_from(["up", "down"])


def _beyond(y, level, direction):
    return y >= level if direction == "up" else y <= level


@PROPERTY
@given(curves(), VALUE, DIRECTION)
def test_a_crossing_is_the_piecewise_linear_crossing_inside_its_bracket_and_no_earlier_sample_is_beyond(curve, level, direction):
    t, y = curve
    event = threshold_crossing(t, y, level, direction)
    beyond = _beyond(y, level, direction)
    if not beyond.any():
        assert event is None
        return
    i = int(np.argmax(beyond))
    assert event.lo <= event.step <= event.hi and event.kind == "threshold"
    if i == 0:
        assert event.step == event.lo == event.hi == t[0]
        return
    assert (event.lo, event.hi) == (t[i - 1], t[i])  # the sampling interval in which the level is first reached
    assert np.interp(event.step, t, y) == pytest.approx(level, abs=1e-9)


@PROPERTY
@given(curves(), VALUE, DIRECTION, st.integers(-10**6, 10**6), st.integers(-40, 40), st.integers(-6, 6))
def test_a_crossing_moves_with_the_steps_and_stays_when_curve_and_level_are_shifted_or_scaled_together(curve, level, direction, shift, offset, power):
    t, y = curve
    event = threshold_crossing(t, y, level, direction)
    moved = threshold_crossing(t + shift, y, level, direction)
    lifted = threshold_crossing(t, y + offset, level + offset, direction)
    scaled = threshold_crossing(t, y * 2.0**power, level * 2.0**power, direction)
    flipped = threshold_crossing(t, -y, -level, "down" if direction == "up" else "up")  # scaling by −1 turns the direction
    if event is None:
        assert moved is None and lifted is None and scaled is None and flipped is None
        return
    for other in (moved,):
        assert (other.step, other.lo, other.hi) == pytest.approx((event.step + shift, event.lo + shift, event.hi + shift), abs=1e-9)
    for other in (lifted, scaled, flipped):
        assert (other.lo, other.hi) == (event.lo, event.hi)
        assert other.step == pytest.approx(event.step, abs=1e-9)


@PROPERTY
@given(curves(), st.integers(1, 40).map(lambda k: k / 8), DIRECTION)
def test_a_monotone_curve_that_ends_short_of_the_level_has_no_crossing(curve, gap, direction):
    t, y = curve
    y = np.sort(y) if direction == "up" else np.sort(y)[::-1]
    level = y[-1] + gap if direction == "up" else y[-1] - gap  # strictly beyond the last (extreme) sample
    assert threshold_crossing(t, y, level, direction) is None
    assert settled_crossing(t, y, level, direction) is None


@PROPERTY
@given(curves(), VALUE, DIRECTION)
def test_on_a_monotone_curve_the_settled_crossing_is_the_first_crossing(curve, level, direction):
    t, y = curve
    y = np.sort(y) if direction == "up" else np.sort(y)[::-1]
    first, settled = threshold_crossing(t, y, level, direction), settled_crossing(t, y, level, direction)
    if first is None or first.hi == t[0]:  # never reached, or already beyond at the first sample: nothing settles
        assert settled is None
        return
    assert (settled.step, settled.lo, settled.hi) == (first.step, first.lo, first.hi)


@PROPERTY
@given(curves(), VALUE, DIRECTION, st.integers(0, 3))
def test_after_a_settled_crossing_the_curve_stays_beyond_the_level_but_for_blips(curve, level, direction, blip):
    t, y = curve
    event = settled_crossing(t, y, level, direction, blip=blip)
    beyond = _beyond(y, level, direction)
    if event is None:
        return
    assert event.lo < event.step <= event.hi and event.kind == "settled"
    i = int(np.searchsorted(t, event.hi))
    assert not beyond[i - 1] and beyond[i] and beyond[-1]
    short = np.flatnonzero(~beyond[i:])
    runs = np.split(short, np.flatnonzero(np.diff(short) > 1) + 1) if len(short) else []
    assert all(len(run) <= blip for run in runs)  # every later excursion short of the level is a blip
    assert np.interp(event.step, t, y) == pytest.approx(level, abs=1e-9)


@PROPERTY
@given(curves())
def test_on_a_monotone_curve_the_half_rise_is_the_crossing_of_half_way_first_or_last(curve):
    t, y = curve
    for ordered in (np.sort(y), np.sort(y)[::-1]):
        first, last = half_rise(t, ordered), half_rise(t, ordered, crossing="last")
        if ordered[0] == ordered[-1]:
            assert first is None and last is None
            continue
        level = (ordered[0] + ordered[-1]) / 2
        direct = threshold_crossing(t, ordered, level, "up" if ordered[-1] > ordered[0] else "down")
        assert (first.step, first.lo, first.hi) == (last.step, last.lo, last.hi) == (direct.step, direct.lo, direct.hi)


@pytest.mark.parametrize("detector", [threshold_crossing, settled_crossing])
def test_a_level_that_is_not_a_number_is_never_reached(detector):
    """A level read off a diverged estimate: the case studies report the event absent, not an error."""
    assert detector([0, 10, 20], [0.0, 0.4, 1.0], float("nan")) is None


@pytest.mark.parametrize("blip", [-1, 1.5, True])
def test_a_blip_that_is_not_a_whole_number_of_samples_is_refused(blip):
    """A negative blip used to pass as 0 and a fractional one as its floor, without a word."""
    with pytest.raises(ValueError, match=f"blip must be a whole number >= 0, got {blip!r}"):
        settled_crossing([0, 10, 20], [0.0, 0.4, 1.0], 0.5, blip=blip)


HUGE = st.floats(8e307, 1.7e308) | st.floats(-1.7e308, -8e307)  # two of opposite signs overflow a difference
FINITE = st.floats(-1.7e308, 1.7e308, allow_nan=False, allow_infinity=False) | HUGE


@PROPERTY
@given(st.lists(FINITE, min_size=3, max_size=3, unique=True), st.booleans(), FINITE, FINITE)
@example([-1e308, 0.0, 1e308], True, 0.0, 10.0)
@example([-1e308, 3e307, 1.7e308], False, -1.5e308, 1.5e308)
def test_the_interpolated_step_is_that_of_exact_arithmetic_for_any_finite_values_and_steps(values, up, a, b):
    """Values near ±1e308 overflowed y1 − y0 to inf: the step fell at the bracket's start."""
    low, mid, high = sorted(values)
    y0, y1 = (low, high) if up else (high, low)
    t0, t1 = sorted((a, b))
    if t0 == t1:
        t1 = math.nextafter(t0, math.inf)
    step = _interpolate(t0, t1, y0, y1, mid)
    exact = Fraction(t0) + (Fraction(mid) - Fraction(y0)) / (Fraction(y1) - Fraction(y0)) * (Fraction(t1) - Fraction(t0))
    assert t0 <= step <= t1
    assert abs(Fraction(step) - exact) <= Fraction(1e-15) * (Fraction(t1) - Fraction(t0)) + 2 * Fraction(math.ulp(max(abs(t0), abs(t1))))


@pytest.mark.parametrize(("values", "level", "expected"), [([-1e308, 1e308], 0.0, 5.0), ([1e308, -1e308], 5e307, 2.5), ([-1.5e308, 1.5e308], 7.5e307, 7.5)])
def test_a_crossing_between_values_near_the_largest_float_is_where_the_line_meets_the_level(values, level, expected):
    direction = "up" if values[1] > values[0] else "down"
    event = threshold_crossing(np.array([0.0, 10.0]), np.array(values), level, direction)
    loop = [0.0 + float((Fraction(level) - Fraction(values[0])) / (Fraction(values[1]) - Fraction(values[0]))) * 10.0]
    assert event.step == pytest.approx(expected, abs=1e-12) and event.step == pytest.approx(loop[0], abs=1e-12) and (event.lo, event.hi) == (0.0, 10.0)
