"""Edge-of-stability detectors on curves with known answers: the plateau's level, start and uncertainty,
the sharpening before it, the loss's trend, the oscillation's onset and share, and samples without a value."""

from __future__ import annotations

import numpy as np
import pytest

from bridge.stages import (
    edge_reached,
    first_increase,
    oscillation_onset,
    oscillation_share,
    plateau_loss_trend,
    sharpening,
    sharpness_plateau,
)

STEPS = np.arange(600.0)
RAMP = np.minimum(3 + 7 * STEPS / 200, 10.0) + 0.1 * (-1.0) ** STEPS  # reaches 10 at step 200, then hovers


def test_the_plateau_start_uncertainty_is_half_the_running_median_window_in_steps():
    assert sharpness_plateau(STEPS, RAMP).start_uncertainty == 4.0  # window 9, one step apart
    assert sharpness_plateau(2 * STEPS, RAMP, window=5).start_uncertainty == 4.0  # window 5, two steps apart


def test_the_plateau_does_not_depend_on_where_the_step_count_starts():
    ramp = np.minimum(3 + 7 * STEPS / 350, 10.0)  # the plateau is the last 250 of 600 samples
    stage = sharpness_plateau(STEPS, ramp)
    assert (stage.start, stage.change) == (325.0, 10.0)  # the running median first reaches 0.95 · 10 at 3 + 7 t / 350 = 9.5
    later = sharpness_plateau(STEPS + 10000, ramp)
    assert (later.start, later.end, later.change) == (10325.0, 10599.0, 10.0)


def test_a_slow_drift_on_the_plateau_is_measured_against_the_rise_that_led_to_it():
    """Drift 0.003 per step after a rise of 0.1 per step: within a tenth of the mean rate of the rise to the plateau
    (level over the steps before it), though more than a tenth of level over the whole run."""
    y = np.where(STEPS < 100, STEPS / 10, 10 + 0.003 * (STEPS - 100))
    stage = sharpness_plateau(STEPS, y)
    assert stage.start == 313.0  # 10 + 0.003 (t − 100) reaches 0.95 × the median of the last third, 11.1985
    assert stage.change == pytest.approx(10 + 0.003 * 356)  # the median from step 313 on
    assert sharpness_plateau(STEPS, np.where(STEPS < 100, STEPS / 10, 10 + 0.006 * (STEPS - 100))) is None


def test_sharpening_is_read_up_to_and_including_the_plateau_start():
    t = np.arange(100.0)
    jump = np.where(t < 50, 1.0, 5.0)
    plateau = sharpness_plateau(t, jump)
    assert plateau.start == 50.0
    event = sharpening(t, jump, plateau)
    assert (event.step, event.lo, event.hi) == (49.5, 49.0, 50.0)


def test_the_first_increase_is_relative_to_the_loss():
    assert first_increase([0, 1, 2], [1e-6, 0.8e-6, 0.9e-6]).step == 2.0  # a rise of an eighth at a small loss
    assert first_increase([0, 1], [1000.0, 1000.05]) is None  # 5e-5 relative: under rtol
    assert first_increase([0, 1], [1000.0, 1000.2]).step == 1.0


def test_the_loss_trend_on_a_short_plateau_compares_single_samples():
    assert plateau_loss_trend(np.arange(5.0), [4.0, 3.0, 3.5, 2.5, 2.0], start=0) == (0.5, 1)  # fewer than 10 samples: a tenth is one
    assert plateau_loss_trend(np.arange(6.0), [9.0, 4.0, 3.0, 3.5, 2.5, 2.0], start=1) == (0.5, 1)


def test_oscillation_at_exactly_the_level_counts_and_flips_need_both_sides_above_the_floor():
    t = np.arange(10.0)
    c = np.where(t < 4, 0.05, 0.5 * (-1.0) ** t)
    event = oscillation_onset(t, c, level=0.5)
    assert (event.step, event.lo, event.hi) == (7.0, 4.0, 7.0)
    t = np.arange(200.0)
    starts = np.where(t < 100, 1e-4, 0.9) * (-1.0) ** t  # the oscillation starts half-way
    assert oscillation_share(t, starts, floor=0.08) == pytest.approx(99 / 199)


@pytest.mark.parametrize("hole", [0, 20, 49, 50, 51, 99])  # before the edge, the samples around it, the very end
def test_the_edge_is_reached_at_the_same_step_when_one_sample_has_no_value(hole):
    t = np.arange(100.0)
    y = t / 10  # reaches 5 at step 50
    holed = y.copy()
    holed[hole] = np.nan
    event = edge_reached(t, holed, 5.0)
    assert event is not None and event.step == pytest.approx(50.0), hole
    assert event.lo <= 50.0 <= event.hi and event.hi - event.lo <= 2.0  # the bracket bridges at most the hole
    assert edge_reached(t, np.where(t == 70, np.inf, y), 5.0).step == pytest.approx(50.0)
    assert edge_reached(t, np.full(100, np.nan), 5.0) is None


@pytest.mark.parametrize("hole", [0, 100, 190, 196, 300, 599])  # on the rise, at its start, on the plateau, the last sample
def test_the_plateau_is_found_at_the_same_start_and_level_when_one_sample_has_no_value(hole):
    clean = sharpness_plateau(STEPS, RAMP)
    assert (clean.start, clean.change) == (186.0, pytest.approx(9.9))
    holed = RAMP.copy()
    holed[hole] = np.nan
    stage = sharpness_plateau(STEPS, holed)
    assert stage is not None, hole
    assert (stage.start, stage.change, stage.start_uncertainty) == (186.0, pytest.approx(9.9), 4.0)
    assert stage.end == (598.0 if hole == 599 else 599.0)  # the last sample with a value
    assert sharpness_plateau(STEPS, np.full(len(STEPS), np.nan)) is None


def test_the_first_increase_right_after_a_sample_without_a_value_is_measured_from_the_sample_before():
    y = [1.0, 0.9, 0.8, 0.95, 0.7]  # rises at step 3
    clean = first_increase(range(5), y)
    assert (clean.step, clean.lo, clean.hi) == (3.0, 2.0, 3.0)
    event = first_increase(range(5), [1.0, 0.9, np.nan, 0.95, 0.7])  # 0.95 is above 0.9 at step 1
    assert event is not None and (event.step, event.lo, event.hi) == (3.0, 1.0, 3.0)
    assert first_increase(range(5), [1.0, 0.9, np.nan, 0.85, 0.7]) is None  # below the last sample with a value: no rise
    assert first_increase(range(5), [np.inf, 0.9, 0.8, 0.95, 0.7]).step == 3.0
    assert first_increase(range(5), [np.nan] * 5) is None
