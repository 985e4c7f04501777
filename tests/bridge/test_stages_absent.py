"""Detectors that say absent: flat, falling and noisy curves give no event; the phenomenon gives its step in the bracket."""

from __future__ import annotations

import numpy as np
import pytest

from bridge.stages import edge_reached, loss_climb, oscillation_share, residual_noise, sharpness_plateau, sustained_rise
from bridge.theory import saxe

T = np.arange(0.0, 601.0, 5.0)
S, U0, LR = 0.433, 2e-4, 0.05  # a level-3 mode of the quick deep-linear preset
NOISE = np.random.default_rng(0).normal(size=len(T))


def test_residual_noise_is_zero_on_a_monotone_curve_and_the_spread_of_white_noise():
    assert residual_noise(saxe.mode_trajectory(T, S, U0, LR)) == 0.0
    noise = np.random.default_rng(1).normal(scale=0.3, size=4000)
    assert 0.15 < residual_noise(noise) < 0.3  # the residual from a 5-sample median is a fraction of the spread
    with pytest.raises(ValueError, match="odd"):
        residual_noise(noise, 4)


@pytest.mark.parametrize(
    "values",
    [
        np.full(len(T), U0),  # flat
        S - saxe.mode_trajectory(T, S, U0, LR),  # falling
        0.02 * NOISE,  # noise
        0.3 + 0.02 * NOISE,  # noise around a level
        0.3 * S * saxe.mode_trajectory(T, S, U0, LR) / S,  # rises, but stops at 0.3·s: short of half-way to s
    ],
    ids=["flat", "falling", "noise", "noise-at-a-level", "stops-short"],
)
def test_a_mode_rise_is_absent_when_the_curve_does_not_make_the_move(values):
    assert sustained_rise(T, values, top=S) is None


def test_a_mode_rise_is_the_saxe_half_rise_within_its_sampling_bracket():
    exact = saxe.half_rise_step(S, U0, LR)
    event = sustained_rise(T, saxe.mode_trajectory(T, S, U0, LR), top=S)
    assert event.lo <= exact <= event.hi and event.hi - event.lo == 5.0
    assert event.step == pytest.approx(exact, abs=2.0)
    noisy = saxe.mode_trajectory(T, S, U0, LR) + 0.005 * NOISE  # noise small against the rise: still found
    found = sustained_rise(T, noisy, top=S)
    assert found is not None and abs(found.step - exact) <= 10.0


def test_a_transient_excursion_is_not_the_rise_and_a_fall_is_found_when_asked():
    curve = saxe.mode_trajectory(T, S, U0, LR)
    bump = curve + 0.4 * np.exp(-(((T - 50) / 8) ** 2))  # an early excursion beyond half-way
    assert sustained_rise(T, bump, top=S).step == pytest.approx(sustained_rise(T, curve, top=S).step)
    fall = sustained_rise(T, S - curve, direction="down", baseline=S, top=0.0)
    assert fall.step == pytest.approx(saxe.half_rise_step(S, U0, LR), abs=2.0)
    with pytest.raises(ValueError, match="direction"):
        sustained_rise(T, curve, direction="sideways")


EDGE = 10.0  # 2/η for η = 0.2
STEPS = np.arange(0.0, 600.0)
RAMP = np.minimum(3 + 7 * STEPS / 200, EDGE) + 0.1 * (-1.0) ** STEPS  # reaches 2/η at step 200, then hovers


@pytest.mark.parametrize(
    "values",
    [
        np.full(len(STEPS), 6.0),  # flat below the edge
        np.full(len(STEPS), 12.0),  # flat above it: no approach from below
        14 - 10 * STEPS / 600,  # falling through it
        6 + 0.5 * np.random.default_rng(2).normal(size=len(STEPS)) + 8.0 * (np.arange(len(STEPS)) % 97 == 0),  # noise with lone spikes past it
        3 + 6.5 * STEPS / 600,  # rising, but ends below it
    ],
    ids=["flat-below", "flat-above", "falling", "noise-with-spikes", "short"],
)
def test_reaching_2_over_eta_is_absent_when_the_sharpness_does_not_get_there(values):
    assert edge_reached(STEPS, values, EDGE) is None


def test_reaching_2_over_eta_is_found_within_its_bracket():
    ramp = 3 + 7 * STEPS / 203.5  # crosses 2/η at step 203.5
    event = edge_reached(STEPS, np.minimum(ramp, 10.5), EDGE)
    assert (event.lo, event.hi) == (203.0, 204.0) and event.step == pytest.approx(203.5, abs=1e-9)
    hovering = edge_reached(STEPS, RAMP, EDGE)  # ±0.1 every step around a ramp that stops at 2/η (step 200)
    assert hovering.hi - hovering.lo == 1.0 and 200 <= hovering.step <= 204


def test_a_sharpness_still_rising_at_the_end_has_no_plateau_and_a_real_one_has():
    assert sharpness_plateau(STEPS, 3 + 7 * STEPS / 600) is None  # a ramp to 2/η cut off by the end
    assert sharpness_plateau(STEPS, 14 - 10 * STEPS / 600) is None  # falling
    late = np.minimum(3 + 7 * STEPS / 560, EDGE)  # reaches the edge 40 steps before the end: mostly ramp
    assert sharpness_plateau(STEPS, late) is None
    stage = sharpness_plateau(STEPS, RAMP)
    assert stage.change == pytest.approx(EDGE, rel=0.02) and 180 <= stage.start <= 200


def test_oscillation_share_needs_flips_of_a_size_above_the_floor():
    t = np.arange(200.0)
    assert oscillation_share(t, 0.9 * (-1.0) ** t, floor=0.08) == 1.0
    assert oscillation_share(t, 1e-4 * (-1.0) ** t, floor=0.08) == 0.0  # flips, but no component along v₁ to speak of
    assert oscillation_share(t, np.full(200, 0.9), floor=0.08) == 0.0  # large, but no flips
    half = np.where(t < 100, 0.9, 1e-4) * (-1.0) ** t  # the oscillation dies half-way
    assert oscillation_share(t, half, floor=0.08) == pytest.approx(99 / 199)


def test_loss_climb_is_zero_on_a_monotone_fall_and_large_on_a_zigzag():
    t = np.arange(300.0)
    assert loss_climb(t, np.exp(-t / 100), start=0) == 0.0
    zigzag = np.exp(-t / 100) * (1 + 0.3 * (t % 2))
    assert loss_climb(t, zigzag, start=0) > 5
    assert loss_climb(t, np.full(300, 0.5), start=0) == 0.0  # flat: no fall, and no rise either


def test_a_rise_that_stops_short_is_absent_even_when_its_last_sample_spikes_past_half_way():
    t = np.arange(0.0, 100.0, 5.0)
    short = np.minimum(t / 50, 0.4)  # 0.4 of the way to the top
    short[-1] = 1.0
    assert sustained_rise(t, short, top=1.0) is None
    full = np.minimum(t / 50, 1.0)
    assert sustained_rise(t, full, top=1.0).step == 25.0


def test_a_sharpness_starting_at_the_edge_does_not_reach_it():
    assert edge_reached(STEPS, EDGE + np.maximum(STEPS - 100, 0) / 100, EDGE) is None  # at 2/η for 100 steps, then above


def test_a_sharpness_falling_to_its_plateau_has_no_progressive_sharpening():
    from bridge.stages import Stage, sharpening

    t = np.arange(100.0)
    falling = np.maximum(20 - t / 5, 10.0)  # reaches 10 at step 50
    assert sharpening(t, falling, Stage("sharpness plateau", 50.0, 99.0, kind="plateau", change=10.0)) is None
