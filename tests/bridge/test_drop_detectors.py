"""Detectors of a loss drop, a forming score and the LLC's stage boundary: absent when the curve does not make the
move (flat, steadily falling, noise, falling back, too small), and the step within its bracket when it does."""

import math

import numpy as np
import pytest

from bridge.stages import abrupt_drop, formation, llc_boundary
from bridge.stages.drops import noise_level

T = np.arange(0.0, 2001.0, 50.0)
LN_V = math.log(64)  # the quick preset's vocabulary; the drop must remove half of ln V (2.08 nats)


def _escape(t, at=1300.0, width=15.0):
    """A plateau at 2.8 nats left abruptly at ``at`` for 0.1 nats (the shape of the induction drop)."""
    return 2.8 - 2.7 / (1.0 + np.exp(-(t - at) / width))


def test_a_plateau_then_an_abrupt_drop_is_found_in_its_bracket():
    drop = abrupt_drop(T, _escape(T), 0.5 * LN_V)
    assert drop is not None and drop.start <= 1300.0 <= drop.end
    assert 1200.0 <= drop.start and drop.end <= 1400.0  # within the steep part (width 15 steps, samples every 50)
    noisy = _escape(T) * np.exp(np.random.default_rng(0).normal(0.0, 0.02, len(T)))
    drop = abrupt_drop(T, noisy, 0.5 * LN_V)
    assert drop is not None and drop.start <= 1300.0 <= drop.end


@pytest.mark.parametrize(
    "curve",
    [
        np.full(len(T), 2.8),  # flat
        2.8 * np.exp(-T / 600.0),  # falling from the start: no plateau before it
        2.8 + np.random.default_rng(1).normal(0.0, 0.05, len(T)),  # noise about a plateau
        2.8 - 0.6 / (1.0 + np.exp(-(T - 1300.0) / 15.0)),  # abrupt but small: 0.6 nats < ln V / 2
        1.0 + 2.0 / (1.0 + np.exp(-(T - 1300.0) / 15.0)),  # rising
    ],
    ids=["flat", "falling", "noise", "small", "rising"],
)
def test_no_abrupt_drop_in_curves_without_one(curve):
    assert abrupt_drop(T, curve, 0.5 * LN_V) is None


def test_a_drop_no_larger_than_five_times_the_noise_is_absent():
    base = 5.0 - 2.5 / (1.0 + np.exp(-(T - 1300.0) / 15.0))  # a fall of 2.5 nats, above ln V / 2
    rng = np.random.default_rng(2)
    quiet, loud = base + rng.normal(0.0, 0.1, len(T)), base + rng.normal(0.0, 0.6, len(T))
    assert noise_level(loud) > 0.5
    drop = abrupt_drop(T, quiet, 0.5 * LN_V)
    assert drop is not None and drop.start <= 1300.0 <= drop.end
    assert abrupt_drop(T, loud, 0.5 * LN_V) is None  # 2.5 nats is under 5 × the noise


def test_noise_level_of_white_noise_and_of_a_smooth_curve():
    rng = np.random.default_rng(3)
    assert noise_level(rng.normal(0.0, 0.3, 5000)) == pytest.approx(0.3, rel=0.05)
    assert noise_level(_escape(T)) < 0.05


def test_a_score_forms_only_when_it_rises_through_both_levels_and_ends_above():
    rise = 0.05 + 0.9 / (1.0 + np.exp(-(T - 1300.0) / 15.0))
    event = formation(T, rise, 0.2, 0.5)
    assert event is not None and event.lo <= 1300.0 <= event.hi and abs(event.step - 1300.0) <= 50.0
    assert formation(T, np.full(len(T), 0.1), 0.2, 0.5) is None  # flat
    assert formation(T, np.linspace(0.12, 0.05, len(T)), 0.2, 0.5) is None  # falls (a score 0.12 -> 0.05)
    assert formation(T, 0.05 + 0.29 / (1.0 + np.exp(-(T - 1300.0) / 15.0)), 0.2, 0.5) is None  # rises to 0.34 only
    bump = 0.05 + 0.8 * np.exp(-(((T - 800.0) / 100.0) ** 2))
    assert formation(T, bump, 0.2, 0.5) is None  # rises above 0.5, then falls back
    assert formation(T, np.full(len(T), 0.6), 0.2, 0.5) is None  # above from the start: never below 0.2
    noise = 0.1 + np.random.default_rng(4).normal(0.0, 0.05, len(T))
    assert formation(T, noise, 0.2, 0.5) is None


def test_llc_boundary_ignores_rises_within_the_estimate_noise():
    t = np.arange(0.0, 2001.0, 100.0)
    rng = np.random.default_rng(5)
    flat = 16.0 + rng.normal(0.0, 1.0, len(t))
    assert llc_boundary(t, flat, min_rise=3.0 * 1.0 / math.sqrt(2) * 4)[0] is None  # rises smaller than the noise scale
    step = 16.0 + 12.0 / (1.0 + np.exp(-(t - 1350.0) / 30.0)) + rng.normal(0.0, 0.3, len(t))
    event, _ = llc_boundary(t, step, min_rise=3.0 * 0.3)
    assert event is not None and 1300.0 <= event.step <= 1500.0
    assert llc_boundary(t, step, min_rise=20.0)[0] is None  # a rise of 12 is not one of 20


def test_an_llc_estimate_that_diverged_at_one_checkpoint_is_left_out():
    # a chain that diverged gives a NaN mean at one checkpoint; the rise around it is still the boundary
    t = np.arange(0.0, 2001.0, 100.0)
    llc = 16.0 + 12.0 / (1.0 + np.exp(-(t - 1350.0) / 30.0))
    holed = llc.copy()
    holed[[5, 13]] = np.nan
    event, _ = llc_boundary(t, holed, min_rise=1.0)
    kept = np.isfinite(holed)
    assert event is not None and event == llc_boundary(t[kept], llc[kept], min_rise=1.0)[0]
    assert 1300.0 <= event.step <= 1500.0


def test_a_sweep_crossing_leaves_out_points_without_a_value():
    from bridge.stages.crossover import crossing

    alphas = np.array([100.0, 30.0, 10.0, 3.0, 1.0])
    values = np.array([0.0, np.nan, 0.05, 0.15, 0.3])
    assert crossing(alphas, values, 0.1) == pytest.approx(np.sqrt(10.0 * 3.0))  # half-way in log α between 10 and 3
    assert crossing(alphas, np.full(5, np.nan), 0.1) is None
    with pytest.raises(ValueError, match="one length"):
        crossing(alphas, values[:3], 0.1)


def test_a_score_that_only_reaches_the_upper_level_has_not_risen_through_it():
    from bridge.stages import rise_between

    t = np.arange(0.0, 50.0, 10.0)
    assert rise_between(t, np.array([0.1, 0.3, 0.5, 0.5, 0.5]), 0.2, 0.5) is None  # never above 0.5
    assert rise_between(t, np.array([0.1, 0.3, 0.9, 0.9, 0.9]), 0.2, 0.5) == pytest.approx((5.0, 40.0 / 3.0))
    assert formation(t, np.array([0.05, 0.1, 0.9, 0.7, 0.5]), 0.2, 0.5) is None  # ends at 0.5, not above it


def test_the_fall_across_a_drop_counts_the_sample_at_its_start_and_may_equal_min_fall():
    """The fall is median(loss up to and including the drop's start) − median(loss from its end on)."""
    t = np.arange(0.0, 1000.0, 50.0)
    loss = np.r_[3.2, 3.0, 3.0, np.full(len(t) - 3, 1.0)]  # the drop runs from 100 to 150: a fall of 3.0 − 1.0
    drop = abrupt_drop(t, loss, 2.0)
    assert drop is not None and (drop.start, drop.end) == (100.0, 150.0)
    assert abrupt_drop(t, loss, 2.0 + 1e-9) is None
    sharp = np.where(T < 1000, 3.0, np.where(T < 1200, 3.0 * 0.25 ** ((T - 1000) / 200), 0.75))  # falls 2.25 exactly
    assert abrupt_drop(T, sharp, 2.25) is not None and abrupt_drop(T, sharp, 2.25 + 1e-9) is None



def test_a_sample_without_a_value_does_not_make_a_small_drop_abrupt():
    small = 2.8 - 0.6 / (1.0 + np.exp(-(T - 1300.0) / 15.0))  # 0.6 nats < ln V / 2
    holed = small.copy()
    holed[3] = np.nan  # a checkpoint whose loss could not be measured
    assert abrupt_drop(T, small, 0.5 * LN_V) is None and abrupt_drop(T, holed, 0.5 * LN_V) is None
    big = _escape(T)
    big[[3, 35]] = np.nan  # one before the drop and one after it: the fall is measured on the other samples
    kept = np.isfinite(big)
    assert abrupt_drop(T, big, 0.5 * LN_V) == abrupt_drop(T[kept], big[kept], 0.5 * LN_V) is not None


def test_a_score_without_a_value_next_to_a_crossing_is_left_out_of_the_rise():
    from bridge.stages import rise_between

    t = np.array([0.0, 10.0, 20.0, 30.0, 40.0])
    holed = np.array([0.1, 0.1, np.nan, 0.9, 0.9])  # the checkpoint before the crossing could not be measured
    assert rise_between(t, holed, 0.2, 0.5) == pytest.approx((10.0 + 20.0 / 8.0, 10.0 + 20.0 * 0.4 / 0.8))
    assert rise_between(t, np.array([0.1, np.nan, 0.1, 0.9, 0.9]), 0.2, 0.5) == pytest.approx((21.25, 25.0))
