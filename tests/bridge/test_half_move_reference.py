"""The half-way move of a grokking curve (:func:`half_move`) and a subtask's drop (:func:`subtask_drop`) against
slow explicit-loop references, on curves with irregular steps, plateaus, samples at the level and samples that are
not finite; a move ``"down"`` on ``v`` is the move ``"up"`` on ``−v``, and scaling the values by a power of two
(with the scales the caller sets) moves neither."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.stages import half_move, subtask_drop

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)


@st.composite
def curves(draw, min_size: int = 2, max_size: int = 25):
    """``(steps, values)``: irregular steps in thousandths, values from a few levels (plateaus, ties), some not finite."""
    n = draw(st.integers(min_size, max_size))
    start = draw(st.integers(-10**6, 10**6)) / 1000
    gaps = draw(st.lists(st.integers(1, 50_000), min_size=n - 1, max_size=n - 1))
    steps = np.round(start + np.concatenate(([0.0], np.cumsum(gaps) / 1000)), 3)
    palette = draw(st.lists(st.integers(0, 200).map(lambda k: k / 16), min_size=1, max_size=5, unique=True))
    values = np.array(draw(st.lists(st.sampled_from(palette + [math.nan, math.inf]), min_size=n, max_size=n)), dtype=float)
    return steps, values


def _median(v):
    s = sorted(v)
    k = len(s)
    return s[k // 2] if k % 2 else (s[k // 2 - 1] + s[k // 2]) / 2


def _ref_half_move(t, y, start, direction, min_change, min_fraction, snr):
    """Explicit loop over the rules :func:`half_move` states; ``(step, lo, hi)`` or ``None``."""
    keep = [i for i in range(len(t)) if (start is None or t[i] >= start) and math.isfinite(y[i])]
    if len(keep) < 2:
        return None
    t, y = [t[i] for i in keep], [y[i] for i in keep]
    down = direction == "down"
    first = max(range(len(y)), key=lambda i: (y[i] if down else -y[i], -i))  # the first peak (trough)
    t, y = t[first:], y[first:]
    if len(y) < 2:
        return None
    extreme = min(y) if down else max(y)
    move = y[0] - extreme if down else extreme - y[0]
    level = (y[0] + extreme) / 2
    second = [abs(y[i + 1] - 2 * y[i] + y[i - 1]) for i in range(1, len(y) - 1)]
    noise = _median(second) / (math.sqrt(6) * 0.6745) if second else 0.0
    back = y[-1] > level if down else y[-1] < level
    if move <= 0 or move < min_change or move < min_fraction * abs(y[0]) or move < snr * noise or back:
        return None
    for i in range(1, len(y)):
        if (y[i] <= level) if down else (y[i] >= level):
            if y[i] == level:
                return t[i], t[i - 1], t[i]
            return t[i - 1] + (level - y[i - 1]) / (y[i] - y[i - 1]) * (t[i] - t[i - 1]), t[i - 1], t[i]
    return None


@PROPERTY
@given(curves(), st.data(), st.sampled_from(["up", "down"]), st.sampled_from([0.0, 0.5, 2.0]), st.sampled_from([0.0, 0.5, 1.0]), st.sampled_from([0.0, 1.0, 10.0]))
def test_a_half_move_is_that_of_an_explicit_loop(curve, data, direction, min_change, min_fraction, snr):
    t, y = curve
    start = data.draw(st.one_of(st.none(), st.sampled_from(list(t)), st.sampled_from([-math.inf, math.inf])))
    event = half_move(t, y, start, direction, min_change, min_fraction, snr)
    ref = _ref_half_move(list(t), list(y), start, direction, min_change, min_fraction, snr)
    if ref is None:
        assert event is None
        return
    assert event is not None and (event.lo, event.hi) == (ref[1], ref[2]) and event.lo <= event.step <= event.hi
    assert event.step == pytest.approx(ref[0], rel=1e-12, abs=1e-9)
    assert event.kind == ("half_fall" if direction == "down" else "half_rise")


@PROPERTY
@given(curves(), st.sampled_from(["up", "down"]), st.integers(-20, 20), st.sampled_from([0.0, 0.5]), st.sampled_from([0.0, 0.5]))
def test_a_half_move_does_not_move_when_the_values_are_scaled_or_negated_with_the_direction(curve, direction, power, min_change, min_fraction):
    t, y = curve
    event = half_move(t, y, None, direction, min_change, min_fraction, snr=1.0)
    scaled = half_move(t, y * 2.0**power, None, direction, min_change * 2.0**power, min_fraction, snr=1.0)
    negated = half_move(t, -y, None, "up" if direction == "down" else "down", min_change, min_fraction, snr=1.0)
    if event is None:
        assert scaled is None and negated is None
        return
    for other in (scaled, negated):  # exact: scaling by a power of two and negating round nothing
        assert (other.step, other.lo, other.hi) == (event.step, event.lo, event.hi)


@PROPERTY
@given(curves(min_size=3), st.sampled_from([1.0, 3.0, 8.0, 16.0]))
def test_a_subtask_drop_is_that_of_explicit_loops_over_its_three_levels(curve, chance):
    t, y = curve
    drop = subtask_drop(t, y, chance=chance)
    keep = [i for i in range(len(t)) if math.isfinite(y[i])]
    ft, fy = [t[i] for i in keep], [y[i] for i in keep]

    def crossing(ts, ys, level, a):  # down-crossing of level between samples a - 1 and a
        if ys[a] == level:
            return ts[a]
        return ts[a - 1] + (level - ys[a - 1]) / (ys[a] - ys[a - 1]) * (ts[a] - ts[a - 1])

    def settled(ts, ys, level, blip):  # index after the last sample above level (runs of <= blip above, between, not counted)
        above = [v > level for v in ys]
        runs, i = [], 0
        while i < len(above):
            if above[i]:
                j = i
                while j + 1 < len(above) and above[j + 1]:
                    j += 1
                runs.append((i, j + 1))
                i = j + 1
            else:
                i += 1
        real = [(a, b) for a, b in runs if not (a > 0 and b < len(above) and b - a <= blip)]
        if len(ys) < 2 or not real or real[-1][1] == len(ys):
            return None
        return real[-1][1]

    half = settled(ft, fy, chance / 2, 2)
    if half is None:
        assert drop is None
        return
    assert drop is not None and drop.step == pytest.approx(crossing(ft, fy, chance / 2, half), rel=1e-12, abs=1e-9)
    assert (drop.event.lo, drop.event.hi) == (ft[half - 1], ft[half])
    before = [k for k in range(len(ft)) if ft[k] <= ft[half]]
    onset = settled([ft[k] for k in before], [fy[k] for k in before], 0.9 * chance, 0)
    if onset is None:
        assert math.isnan(drop.onset)
    else:
        assert drop.onset == pytest.approx(crossing(ft, fy, 0.9 * chance, onset), rel=1e-12, abs=1e-9)
    end = next((k for k in range(half - 1, len(ft)) if fy[k] <= 0.1 * chance), None)
    if end is None:
        assert math.isnan(drop.end)
    else:
        assert drop.end == pytest.approx(crossing(ft, fy, 0.1 * chance, end), rel=1e-12, abs=1e-9)
