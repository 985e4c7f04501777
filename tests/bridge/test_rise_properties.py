"""Property tests of the sustained rise and of the plateaus and drops of a curve: the residual noise is that of an
explicit loop over the windows; a planted logistic rise is found inside the bracket of its half-way step, and the
answer does not move when the curve is shifted and scaled (up to a change of direction) and moves with the step axis;
a stricter least change or signal-to-noise ratio finds the same rise or none; the drops at a larger least change are
among those at a smaller one; a loss multiplied by a constant has the same drops on the log scale."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.stages import plateaus_and_drops, residual_noise, sustained_rise

PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
T = np.arange(0.0, 400.0, 5.0)
SEED = st.integers(0, 2**32 - 1)


def _residual_noise_by_loop(y: np.ndarray, window: int) -> float:
    half = window // 2
    if len(y) < window:
        return 0.0
    residuals = [abs(y[i] - sorted(y[i - half : i + half + 1])[half]) for i in range(half, len(y) - half)]
    return 1.4826 * float(np.median(residuals))


@PROPERTY
@given(st.lists(st.floats(-1e3, 1e3), min_size=0, max_size=40), st.sampled_from([3, 5, 7, 9]))
def test_the_residual_noise_is_that_of_an_explicit_loop_over_the_windows(values, window):
    y = np.array(values, dtype=float)
    assert residual_noise(y, window) == pytest.approx(_residual_noise_by_loop(y, window), rel=1e-12, abs=1e-9)


def _logistic(at: float, width: float, noise: float, seed: int) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-(T - at) / width)) + noise * np.random.default_rng(seed).normal(size=len(T))


@PROPERTY
@given(st.floats(60.0, 340.0), st.floats(0.5, 30.0))
def test_a_planted_rise_from_0_to_1_is_found_in_the_bracket_of_its_half_way_step(at, width):
    y = _logistic(at, width, 0.0, 0)
    event = sustained_rise(T, y, baseline=0.0, top=1.0)
    assert event is not None and event.kind == "sustained_rise"
    # the logistic is monotone: 0.5 is reached in the bracket (up to the rounding of y at a sample a few ulps from `at`)
    assert event.lo - 1e-9 < at <= event.hi + 1e-9 and event.hi - event.lo == 5.0
    assert np.interp(event.step, T, y) == pytest.approx(0.5, abs=1e-12)


@PROPERTY
@given(st.floats(60.0, 340.0), st.floats(1.0, 30.0), st.floats(0.0, 0.05), SEED,
       st.integers(-3, 3), st.integers(-64, 64), st.booleans(), st.integers(-3, 3), st.integers(-1000, 1000))
def test_a_sustained_rise_does_not_move_with_the_values_scale_and_moves_with_the_step_axis(at, width, noise, seed, power, offset, flip, t_power, t_shift):
    y = _logistic(at, width, noise, seed)
    event = sustained_rise(T, y, min_change=0.2)
    a = 2.0**power * (-1.0 if flip else 1.0)  # exact in floating point: a power of two and an integer offset
    moved_values = sustained_rise(T, a * y + offset, direction="down" if flip else "up", min_change=0.2 * abs(a))
    k = 2.0**t_power
    moved_steps = sustained_rise(k * T + t_shift, y, min_change=0.2)
    if event is None:
        assert moved_values is None and moved_steps is None
        return
    assert (moved_values.step, moved_values.lo, moved_values.hi) == pytest.approx((event.step, event.lo, event.hi), abs=1e-9)
    assert (moved_steps.step, moved_steps.lo, moved_steps.hi) == pytest.approx(
        (k * event.step + t_shift, k * event.lo + t_shift, k * event.hi + t_shift), abs=1e-6)


@PROPERTY
@given(st.floats(60.0, 340.0), st.floats(1.0, 60.0), st.floats(0.0, 0.3), SEED, st.floats(0.0, 1.5), st.floats(0.0, 1.5), st.floats(0.0, 40.0), st.floats(0.0, 40.0))
def test_a_stricter_least_change_or_snr_finds_the_same_rise_or_none(at, width, noise, seed, change_a, change_b, snr_a, snr_b):
    y = _logistic(at, width, noise, seed)
    loose = sustained_rise(T, y, min_change=min(change_a, change_b), snr=min(snr_a, snr_b))
    strict = sustained_rise(T, y, min_change=max(change_a, change_b), snr=max(snr_a, snr_b))
    assert strict is None or strict == loose


@PROPERTY
@given(st.integers(2, 60), SEED)
def test_a_curve_that_ends_short_of_half_way_to_its_top_has_no_sustained_rise(n, seed):
    y = np.sort(np.random.default_rng(seed).uniform(0.0, 0.49, n))  # rising, ends below half of top=1
    assert sustained_rise(np.arange(float(n)), y, top=1.0, snr=0.0) is None
    assert sustained_rise(np.arange(float(n)), y, baseline=0.0, top=1.0, snr=0.0) is None


def _drop_curve(at: float, fall: float, width: float, seed: int) -> np.ndarray:
    return (3.0 - fall * 0.5 * (1.0 + np.tanh((T - at) / (2.0 * width)))) * np.exp(np.random.default_rng(seed).normal(0.0, 0.02, len(T)))


@PROPERTY
@given(st.floats(50.0, 350.0), st.floats(0.3, 2.8), st.floats(2.0, 60.0), SEED, st.floats(0.0, 3.0), st.floats(0.0, 3.0))
def test_the_drops_at_a_larger_least_change_are_among_those_at_a_smaller(at, fall, width, seed, a, b):
    loss = _drop_curve(at, fall, width, seed)
    small = plateaus_and_drops(T, loss, min_change=min(a, b))
    large = plateaus_and_drops(T, loss, min_change=max(a, b))
    drops_small = {(s.start, s.end, s.change) for s in small if s.kind == "drop"}
    drops_large = {(s.start, s.end, s.change) for s in large if s.kind == "drop"}
    assert drops_large <= drops_small
    assert all(-c >= max(a, b) for (_, _, c) in drops_large)
    for stages in (small, large):  # the stages tile the curve from its first step to its last
        assert stages[0].start == T[0] and stages[-1].end == T[-1]
        assert all(x.end == y.start for x, y in zip(stages, stages[1:]))


@PROPERTY
@given(st.floats(50.0, 350.0), st.floats(0.3, 2.8), st.floats(2.0, 60.0), SEED, st.integers(-20, 20))
def test_a_loss_multiplied_by_a_power_of_two_has_the_same_drops_on_the_log_scale(at, fall, width, seed, power):
    loss = _drop_curve(at, fall, width, seed)
    stages = plateaus_and_drops(T, loss)
    scaled = plateaus_and_drops(T, 2.0**power * loss)
    assert [(s.kind, s.start, s.end) for s in scaled] == [(s.kind, s.start, s.end) for s in stages]
    assert [s.change for s in scaled] == pytest.approx([s.change for s in stages], abs=1e-9)
