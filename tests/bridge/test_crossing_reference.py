"""The crossing detectors (threshold, settled, half-rise, edge reached) against slow explicit-loop references, on
curves with irregular, non-integer steps, plateaus, samples exactly at the level and samples that are not finite.

A sample exactly at the level is reached there: the event is that sample's step, exactly, and never a rounding
beyond its bracket; between two samples the step is the linear interpolation. Shifting the steps shifts the event,
scaling the values (and the level) by a power of two leaves it unchanged, and ``"up"`` on ``v`` is ``"down"`` on ``−v``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.stages import edge_reached, half_rise, settled_crossing, threshold_crossing

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
DIRECTION = st.sampled_from(["up", "down"])


@st.composite
def curves(draw, min_size: int = 2, max_size: int = 25, gaps: bool = True):
    """``(steps, values, levels)``: irregular steps in thousandths, values from a few levels (plateaus, ties), some
    not finite when ``gaps``; ``levels`` the distinct finite values, so a level drawn from them is met exactly."""
    n = draw(st.integers(min_size, max_size))
    start = draw(st.integers(-10**6, 10**6)) / 1000
    gaps_ = draw(st.lists(st.integers(1, 50_000), min_size=n - 1, max_size=n - 1))
    steps = np.round(start + np.concatenate(([0.0], np.cumsum(gaps_) / 1000)), 3)
    palette = draw(st.lists(st.integers(-200, 200).map(lambda k: k / 16), min_size=1, max_size=5, unique=True))
    extra = [math.nan, math.inf, -math.inf] if gaps else []
    values = np.array(draw(st.lists(st.sampled_from(palette + extra), min_size=n, max_size=n)), dtype=float)
    return steps, values, palette


def _ref_crossing(t, y, level, up, after=0):
    """Explicit loop: the first sample at or after ``after`` beyond ``level`` and the step where the line reaches it."""
    for i in range(after, len(t)):
        if (y[i] >= level) if up else (y[i] <= level):
            if i == after:
                return (t[i], t[i], t[i]) if after == 0 else None
            if y[i] == level:
                return t[i], t[i - 1], t[i]
            frac = (level - y[i - 1]) / (y[i] - y[i - 1])
            return t[i - 1] + frac * (t[i] - t[i - 1]), t[i - 1], t[i]
    return None


def _finite(t, y):
    keep = [i for i in range(len(y)) if math.isfinite(y[i])]
    return np.array([t[i] for i in keep]), np.array([y[i] for i in keep])


def _same(event, ref, level, y_at_hi):
    if ref is None:
        assert event is None
        return
    step, lo, hi = ref
    assert event is not None and (event.lo, event.hi) == (lo, hi)
    assert lo <= event.step <= hi  # never a rounding outside its bracket
    if y_at_hi == level:
        assert event.step == hi  # reached at a sample: that sample's step, exactly
    else:
        assert event.step == pytest.approx(step, rel=1e-12, abs=1e-9)


@PROPERTY
@given(curves(), st.data(), DIRECTION)
def test_a_threshold_crossing_is_that_of_an_explicit_loop(curve, data, direction):
    t, y, palette = curve
    level = data.draw(st.one_of(st.sampled_from(palette), st.integers(-200, 200).map(lambda k: k / 16 + 1 / 64)))
    event = threshold_crossing(t, y, level, direction)
    ft, fy = _finite(t, y)
    ref = _ref_crossing(ft, fy, level, direction == "up") if len(ft) >= 2 else None
    _same(event, ref, level, None if ref is None else fy[list(ft).index(ref[2])])


def _ref_settled(t, y, level, up, blip):
    short = [(v < level) if up else (v > level) for v in y]
    runs, i = [], 0
    while i < len(short):
        if short[i]:
            j = i
            while j + 1 < len(short) and short[j + 1]:
                j += 1
            runs.append((i, j + 1))
            i = j + 1
        else:
            i += 1
    for a, b in runs:
        if a > 0 and b < len(short) and b - a <= blip:
            for k in range(a, b):
                short[k] = False
    last = max((k for k in range(len(short)) if short[k]), default=None)
    if last is None or last == len(short) - 1:
        return None
    return _ref_crossing(t, y, level, up, after=last)


@PROPERTY
@given(curves(), st.data(), DIRECTION, st.integers(0, 3))
def test_a_settled_crossing_is_that_of_an_explicit_loop(curve, data, direction, blip):
    t, y, palette = curve
    level = data.draw(st.one_of(st.sampled_from(palette), st.integers(-200, 200).map(lambda k: k / 16 + 1 / 64)))
    event = settled_crossing(t, y, level, direction, blip=blip)
    ft, fy = _finite(t, y)
    ref = _ref_settled(ft, fy, level, direction == "up", blip) if len(ft) >= 2 else None
    _same(event, ref, level, None if ref is None else fy[list(ft).index(ref[2])])


@PROPERTY
@given(curves(), st.sampled_from(["first", "last"]))
def test_a_half_rise_is_that_of_an_explicit_loop(curve, crossing):
    t, y, _ = curve
    event = half_rise(t, y, crossing=crossing)
    ft, fy = _finite(t, y)
    if len(ft) < 2:
        assert event is None
        return
    up = fy[-1] >= fy[0]
    extreme = max(fy) if up else min(fy)
    if extreme == fy[0]:
        assert event is None
        return
    level = (fy[0] + extreme) / 2
    if crossing == "first":
        ref = _ref_crossing(ft, fy, level, up)
    else:
        behind = [k for k in range(len(fy)) if not ((fy[k] >= level) if up else (fy[k] <= level))]
        ends_beyond = (fy[-1] >= level) if up else (fy[-1] <= level)
        ref = None if not ends_beyond else (_ref_crossing(ft, fy, level, up, after=behind[-1]) if behind else (ft[0], ft[0], ft[0]))
    _same(event, ref, level, None if ref is None else fy[list(ft).index(ref[2])])


@PROPERTY
@given(curves(gaps=False), st.data(), DIRECTION, st.integers(-10**4, 10**4), st.integers(-20, 20))
def test_a_crossing_moves_with_the_steps_and_stays_when_the_values_are_scaled_or_reversed(curve, data, direction, shift, power):
    t, y, palette = curve
    level = data.draw(st.sampled_from(palette))  # a level met at a sample
    flip = "down" if direction == "up" else "up"
    for detect in (threshold_crossing, settled_crossing):
        event = detect(t, y, level, direction)
        moved = detect(t + shift, y, level, direction)
        scaled = detect(t, y * 2.0**power, level * 2.0**power, direction)
        reversed_ = detect(t, -y, -level, flip)
        if event is None:
            assert moved is None and scaled is None and reversed_ is None
            continue
        for other in (scaled, reversed_):  # exact: scaling by a power of two and negating round nothing
            assert (other.step, other.lo, other.hi) == (event.step, event.lo, event.hi)
        assert (moved.lo, moved.hi) == (event.lo + shift, event.hi + shift)
        assert moved.lo <= moved.step <= moved.hi and moved.step == pytest.approx(event.step + shift, rel=1e-12, abs=1e-9)
        if event.step == event.hi:  # met at a sample: exactly that sample's shifted step
            assert moved.step == moved.hi


@PROPERTY
@given(curves(gaps=False), st.data(), st.sampled_from([1, 3, 5]))
def test_the_edge_is_reached_where_an_explicit_loop_over_the_running_median_reaches_it(curve, data, window):
    t, y, palette = curve
    y = np.abs(y) + 0.5  # a sharpness is positive
    edge = data.draw(st.sampled_from(sorted(set((np.abs(palette) + 0.5).tolist()))))
    event = edge_reached(t, y, edge, window=window)
    w = min(window, len(y) - (len(y) % 2 == 0))
    h = w // 2
    core = [sorted(y[i - h : i + h + 1])[h] for i in range(h, len(y) - h)]
    smooth = np.array([core[0]] * h + core + [core[-1]] * h) if w > 1 else y
    ref = None if smooth[0] >= edge else _ref_crossing(t, smooth, edge, True)
    _same(event, ref, edge, None if ref is None else smooth[list(t).index(ref[2])])


@pytest.mark.parametrize(
    ("t0", "t1"), [(2.22, 7.22), (0.1, 0.7), (1e-3, 3e-3 + 1e-9)]
)
def test_a_level_met_exactly_at_a_sample_is_crossed_at_that_samples_step(t0, t1):
    """Before: ``t0 + 1.0 · (t1 − t0)`` rounded to 7.220000000000001, beyond the bracket's end 7.22."""
    for event in (threshold_crossing([t0, t1], [0.0, 1.0], 1.0), threshold_crossing([t0, t1], [1.0, 0.0], 0.0, "down"),
                  settled_crossing([t0, t1], [0.0, 1.0], 1.0), half_rise([t0, t1, t1 + 1.0], [0.0, 0.5, 1.0]), edge_reached([t0, t1], [1.0, 2.0], 2.0)):
        assert (event.step, event.lo, event.hi) == (t1, t0, t1)
