"""Property tests of the sharpness, oscillation, grokking and subtask detectors: the first increase of the loss, the
oscillation onset and the shares of sign flips are those of explicit loops; a higher level or floor finds a later
onset or a smaller share; the loss's climb and trend do not move when the loss is scaled; the sharpness plateau and
the half-way move of a curve move with the step axis and not with the values' scale; a planted subtask drop is found
with its onset, emergence and end in order and in the brackets of the clean curve's crossings."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.stages import (
    alternation_fraction,
    first_increase,
    half_move,
    loss_climb,
    oscillation_onset,
    oscillation_share,
    plateau_loss_trend,
    sharpness_plateau,
    subtask_drop,
)
from bridge.stages.grokking import noise_level

PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
SEED = st.integers(0, 2**32 - 1)
LOSSES = st.lists(st.floats(0.01, 10.0), min_size=2, max_size=40).map(np.array)
COSINES = st.lists(st.floats(-1.0, 1.0), min_size=2, max_size=40).map(np.array)


@PROPERTY
@given(LOSSES, st.floats(0.0, 0.5), st.integers(-8, 8))
def test_the_first_increase_is_that_of_a_loop_and_does_not_move_when_the_loss_is_scaled(loss, rtol, power):
    t = np.arange(float(len(loss)))
    event = first_increase(t, loss, rtol=rtol)
    rises = [i for i in range(1, len(loss)) if loss[i] > loss[i - 1] * (1 + rtol)]
    if not rises:
        assert event is None
    else:
        assert (event.step, event.lo, event.hi) == (t[rises[0]], t[rises[0] - 1], t[rises[0]])
    assert first_increase(t, 2.0**power * loss, rtol=rtol) == event


@PROPERTY
@given(LOSSES, st.floats(0.0, 0.5), st.floats(0.0, 0.5))
def test_a_larger_tolerance_finds_a_later_first_increase_or_none(loss, a, b):
    t = np.arange(float(len(loss)))
    loose, strict = first_increase(t, loss, rtol=min(a, b)), first_increase(t, loss, rtol=max(a, b))
    assert strict is None or (loose is not None and loose.step <= strict.step)


def _flip(x: float, y: float) -> bool:
    """Opposite signs, read from the signs (a product of two tiny values rounds to 0)."""
    return (x > 0 > y) or (x < 0 < y)


def _onset_by_loop(c: np.ndarray, level: float, run: int) -> int | None:
    for i in range(len(c)):
        if i >= run - 1 and abs(c[i]) >= level and all(_flip(c[j - 1], c[j]) for j in range(i - run + 2, i + 1)):
            return i
    return None


@PROPERTY
@given(COSINES, st.floats(0.0, 1.0), st.floats(0.0, 1.0), st.integers(1, 6), st.integers(-1000, 1000))
def test_the_oscillation_onset_is_that_of_a_loop_and_a_higher_level_finds_it_later(cosine, a, b, run, origin):
    t = origin + np.arange(float(len(cosine)))
    low, high = min(a, b), max(a, b)
    i = _onset_by_loop(cosine, low, run)
    event = oscillation_onset(t, cosine, level=low, run=run)
    assert (event is None) == (i is None)
    if i is not None:
        assert (event.step, event.lo, event.hi) == (t[i], t[i - run + 1], t[i])
    later = oscillation_onset(t, cosine, level=high, run=run)
    longer = oscillation_onset(t, cosine, level=low, run=run + 1)
    for other in (later, longer):
        assert other is None or (event is not None and other.step >= event.step)


@PROPERTY
@given(COSINES, st.floats(0.0, 1.0), st.floats(0.0, 1.0))
def test_the_shares_of_sign_flips_are_those_of_a_loop_and_shrink_with_the_floor(cosine, a, b):
    t = np.arange(float(len(cosine)))
    pairs = list(zip(cosine[:-1], cosine[1:]))
    assert alternation_fraction(t, cosine) == pytest.approx(sum(_flip(x, y) for x, y in pairs) / len(pairs), abs=1e-12)
    low, high = min(a, b), max(a, b)
    share = oscillation_share(t, cosine, low)
    assert share == pytest.approx(sum(_flip(x, y) and abs(x) >= low and abs(y) >= low for x, y in pairs) / len(pairs), abs=1e-12)
    assert oscillation_share(t, cosine, high) <= share <= alternation_fraction(t, cosine)


@PROPERTY
@given(st.lists(st.one_of(st.floats(-1.0, 1.0), st.sampled_from([np.nan, np.inf, -np.inf])), min_size=2, max_size=40).map(np.array))
def test_the_alternation_fraction_leaves_out_the_pairs_with_a_cosine_that_is_not_finite(cosine):
    """A NaN cosine counted as a pair that does not flip: [0.5, nan, 0.5, -0.5] read 1/3, not 1."""
    t = np.arange(float(len(cosine)))
    flips = pairs = 0
    for x, y in zip(cosine[:-1], cosine[1:]):
        if math.isfinite(x) and math.isfinite(y):
            pairs += 1
            flips += _flip(x, y)
    fraction = alternation_fraction(t, cosine)
    if pairs == 0:
        assert math.isnan(fraction)
    else:
        assert fraction == pytest.approx(flips / pairs, abs=1e-12)
    assert alternation_fraction(np.arange(4.0), [0.5, np.nan, 0.5, -0.5]) == 1.0


@PROPERTY
@given(LOSSES, st.integers(-8, 8), st.integers(0, 30))
def test_the_loss_climb_and_trend_do_not_move_when_the_loss_is_scaled(loss, power, start):
    t = np.arange(float(len(loss)))
    start = min(start, len(loss) - 2)
    k = 2.0**power
    assert loss_climb(t, k * loss, start) == pytest.approx(loss_climb(t, loss, start), rel=1e-12)
    assert plateau_loss_trend(t, k * loss, start) == pytest.approx(plateau_loss_trend(t, loss, start), rel=1e-12)


@PROPERTY
@given(st.floats(1.0, 4.0), st.floats(5.0, 20.0), st.floats(30.0, 250.0), st.floats(0.0, 0.2), SEED, st.integers(-4, 4), st.integers(-10**5, 10**5), st.integers(-4, 4))
def test_the_sharpness_plateau_moves_with_the_step_axis_and_scales_with_the_sharpness(first, level, onset, noise, seed, t_power, t_shift, power):
    t = np.arange(400.0)  # the ramp ends at `onset`, before the last third of the run whose median is the plateau level
    rate = (level - first) / onset
    s = np.minimum(first + rate * t, level) * np.exp(noise * 0.1 * np.random.default_rng(seed).normal(size=len(t)))
    stage = sharpness_plateau(t, s)
    k = 2.0**t_power
    moved = sharpness_plateau(k * t + t_shift, s)
    scaled = sharpness_plateau(t, 2.0**power * s)
    if stage is None:
        assert moved is None and scaled is None
        return
    assert (moved.start, moved.end, moved.start_uncertainty, moved.change) == pytest.approx(
        (k * stage.start + t_shift, k * stage.end + t_shift, k * stage.start_uncertainty, stage.change), rel=1e-12)
    assert (scaled.start, scaled.end, scaled.change) == pytest.approx((stage.start, stage.end, 2.0**power * stage.change), rel=1e-12)
    # the clean ramp reaches 0.95 of its level 0.05 level / rate before it ends; the noise (2% at most) moves that by as much again
    assert onset - 0.1 * level / rate - 5 <= stage.start <= onset + 5


def _grokking_noise_by_loop(y: np.ndarray) -> float:
    if len(y) <= 2:
        return 0.0
    return float(np.median([abs(y[i + 1] - 2 * y[i] + y[i - 1]) for i in range(1, len(y) - 1)])) / (math.sqrt(6) * 0.6745)


@PROPERTY
@given(st.lists(st.floats(-1e3, 1e3), min_size=0, max_size=40))
def test_the_grokking_noise_level_is_that_of_a_loop_over_second_differences(values):
    y = np.array(values, dtype=float)
    assert noise_level(y) == pytest.approx(_grokking_noise_by_loop(y), rel=1e-12, abs=1e-9)


@PROPERTY
@given(st.floats(200.0, 800.0), st.floats(5.0, 60.0), st.booleans(), st.integers(-3, 3), st.integers(-64, 64), st.integers(-3, 3), st.integers(-1000, 1000))
def test_a_half_move_is_found_in_the_bracket_of_its_planted_step_and_moves_only_with_the_step_axis(at, width, up, power, offset, t_power, t_shift):
    t = np.arange(0.0, 1000.0, 10.0)
    fall = 1.0 / (1.0 + np.exp((t - at) / width))  # falls from 1 to 0, half-way at `at`
    y = 1.0 - fall if up else fall
    direction = "up" if up else "down"
    event = half_move(t, y, direction=direction)
    assert event is not None and event.lo <= event.step <= event.hi
    half = (y.max() + y.min()) / 2
    assert np.interp(event.step, t, y) == pytest.approx(half, abs=1e-12)
    assert abs(event.step - at) <= 10.0
    k = 2.0**t_power
    moved = half_move(k * t + t_shift, y, direction=direction)
    assert (moved.step, moved.lo, moved.hi) == pytest.approx((k * event.step + t_shift, k * event.lo + t_shift, k * event.hi + t_shift), abs=1e-6)
    scaled = half_move(t, 2.0**power * y + offset, direction=direction)
    assert (scaled.step, scaled.lo, scaled.hi) == pytest.approx((event.step, event.lo, event.hi), abs=1e-6)


@PROPERTY
@given(st.floats(200.0, 800.0), st.floats(2.0, 40.0), st.floats(0.1, 5.0), st.integers(-3, 3), st.integers(-1000, 1000))
def test_a_planted_subtask_drop_is_found_with_onset_emergence_and_end_in_the_brackets_of_their_crossings(at, width, chance, t_power, t_shift):
    t = np.arange(0.0, 1001.0, 10.0)
    loss = chance / (1.0 + np.exp((t - at) / width))  # from chance to 0, at chance/2 at `at`
    drop = subtask_drop(t, loss, chance=chance)
    assert drop is not None and drop.onset <= drop.step <= drop.end
    for level, step in ((0.9, drop.onset), (0.5, drop.step), (0.1, drop.end)):
        true = at + width * math.log(1 / level - 1)  # where the clean logistic is at level × chance
        assert abs(step - true) <= 10.0 and np.interp(step, t, loss) == pytest.approx(level * chance, rel=1e-9)
    assert subtask_drop(t, 2.0 * loss, chance=2.0 * chance) == drop  # scaling loss and chance together changes nothing
    k = 2.0**t_power
    moved = subtask_drop(k * t + t_shift, loss, chance=chance)
    assert (moved.onset, moved.step, moved.end) == pytest.approx((k * drop.onset + t_shift, k * drop.step + t_shift, k * drop.end + t_shift), abs=1e-6)
