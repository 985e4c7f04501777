"""Settings that are not numbers, and curves the detectors cannot read, are refused with a ValueError naming the
argument, where before a comparison with nan quietly decided the answer (every ramp a plateau, no rise anywhere, no
subtask ever learned) or numpy raised its own error: the rises, sharpness, grokking and subtask detectors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bridge.stages import (
    grokking_phases,
    half_move,
    noise_level,
    oscillation_onset,
    oscillation_share,
    plateau_drift,
    residual_noise,
    sharpness_plateau,
    subtask_drop,
    sustained_rise,
)
from bridge.stages.drops import noise_level as drop_noise_level

NAN = float("nan")
T = np.arange(100.0)
SIGMOID = 1 / (1 + np.exp(-(T - 50) / 5))


@pytest.mark.parametrize("field", ["snr", "min_change"])
def test_a_sustained_rise_refuses_a_setting_that_is_not_a_number(field):
    """Before: nan found no rise on a clean sigmoid (``change > nan`` is false)."""
    with pytest.raises(ValueError, match=f"{field} must be a number >= 0, got nan"):
        sustained_rise(T, SIGMOID, **{field: NAN})


@pytest.mark.parametrize("tail", [1.5, True, 0])
def test_a_sustained_rise_refuses_a_tail_that_is_not_a_whole_number_of_samples(tail):
    """Before: ``tail=1.5`` raised a TypeError about slice indices."""
    with pytest.raises(ValueError, match=f"tail must be a whole number >= 1, got {tail!r}"):
        sustained_rise(T, SIGMOID, tail=tail)


@pytest.mark.parametrize("window", [5.0, 4, 1])
def test_the_residual_noise_and_a_sustained_rise_refuse_a_window_that_is_not_an_odd_whole_number(window):
    for call in (lambda: residual_noise(SIGMOID, window), lambda: sustained_rise(T, SIGMOID, window=window)):
        with pytest.raises(ValueError, match=f"window must be an odd whole number >= 3, got {window!r}"):
            call()


@pytest.mark.parametrize("noise", [residual_noise, noise_level, drop_noise_level])
def test_the_noise_estimates_refuse_values_that_are_not_1d(noise):
    """Before: a (10, 10) array got numpy's message about ``window_shape``, or a noise of 0 from its flattened rows."""
    with pytest.raises(ValueError, match=r"values must be 1-D, got shape \(10, 10\)"):
        noise(np.ones((10, 10)))


def test_a_sharpness_plateau_refuses_a_drift_bound_that_is_not_a_number():
    """Before: ``max_drift=nan`` took the end of a ramp still rising at 1/20 per step for a plateau."""
    with pytest.raises(ValueError, match="max_drift >= 0, got 0.3333333333333333, 0.95, nan"):
        sharpness_plateau(T, 2 + T / 20, max_drift=NAN)


def test_the_plateau_drift_refuses_curves_of_two_lengths_or_steps_that_go_back():
    """Before: 100 steps with 50 values gave a drift, and steps counting down gave 0."""
    with pytest.raises(ValueError, match=r"one length, got \(100,\) and \(50,\)"):
        plateau_drift(T, SIGMOID[:50])
    with pytest.raises(ValueError, match="steps must be strictly increasing, got step 98 at position 1 after 99"):
        plateau_drift(T[::-1], SIGMOID)


def test_the_oscillation_share_refuses_a_floor_that_is_not_a_number():
    """Before: a nan floor counted no flip of a pure period-2 oscillation (share 0)."""
    with pytest.raises(ValueError, match="floor must be >= 0, got nan"):
        oscillation_share(T, 0.9 * (-1.0) ** T, NAN)


@pytest.mark.parametrize("level", [NAN, -0.1, 1.5])
def test_the_oscillation_onset_refuses_a_level_that_is_no_cosine(level):
    """Before: a nan level found no onset on a cosine flipping sign at 0.9 every step."""
    with pytest.raises(ValueError, match=f"level must lie in \\[0, 1\\] \\(a \\|cosine\\|\\), got {level}"):
        oscillation_onset(T, 0.9 * (-1.0) ** T, level=level)


@pytest.mark.parametrize("field", ["min_change", "min_fraction", "snr"])
def test_a_half_move_refuses_a_setting_below_zero_or_not_a_number(field):
    """Before: nan let the move through whatever its size (``move < nan`` is false)."""
    for value in (NAN, -1.0):
        with pytest.raises(ValueError, match=f"{field} must be a number >= 0, got {value}"):
            half_move(T, 1 - SIGMOID, **{field: value})


def test_a_half_move_refuses_steps_that_go_back_or_are_not_finite_and_finds_nothing_on_an_empty_curve():
    """Before: steps counting down gave ``None`` silently, a nan step an event, and an empty curve an IndexError."""
    with pytest.raises(ValueError, match="steps must be strictly increasing"):
        half_move(T[::-1], 1 - SIGMOID)
    with pytest.raises(ValueError, match="steps must be finite"):
        half_move(np.r_[T[:-1], NAN], 1 - SIGMOID)
    with pytest.raises(ValueError, match=r"one length, got \(100,\) and \(99,\)"):
        half_move(T, SIGMOID[1:])
    assert half_move([], []) is None


def test_grokking_phases_refuse_a_least_clean_up_that_is_not_a_number_by_its_own_name():
    """Before: the refusal named ``min_change``, an argument of another function."""
    with pytest.raises(ValueError, match="min_drop must be positive, got nan"):
        grokking_phases(T, np.clip(T / 10, 0, 1), 3 * (1 - SIGMOID) + 0.01, SIGMOID, min_drop=NAN)


@pytest.mark.parametrize("chance", [NAN, 0.0, -1.0, math.inf])
def test_a_subtask_drop_refuses_a_chance_loss_that_is_not_positive_and_finite(chance):
    """Before: each of these found no drop in a loss falling from ln 2 to 0."""
    with pytest.raises(ValueError, match=f"chance must be a positive finite loss, got {chance}"):
        subtask_drop(T, math.log(2) * (1 - SIGMOID), chance=chance)
