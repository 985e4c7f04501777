"""Stage detectors at their edges: bad step axes, levels met exactly, a first point already past the level,
samples without a value next to the move, and the validated arguments of a sustained rise."""

import numpy as np
import pytest

from bridge.stages import (
    crossing,
    first_increase,
    llc_boundary,
    rise_between,
    sustained_rise,
    threshold_crossing,
)


def test_a_repeated_or_backward_step_is_refused_with_its_value_and_position():
    with pytest.raises(ValueError, match=r"strictly increasing, got step 10 at position 2 after 10"):
        threshold_crossing([0, 10, 10, 20], [0.0, 0.2, 0.6, 1.0], 0.5)
    with pytest.raises(ValueError, match=r"got step 5 at position 3 after 20"):
        first_increase([0, 10, 20, 5], [1.0, 0.9, 0.8, 0.7])


def test_a_curve_of_one_sample_is_refused():
    with pytest.raises(ValueError, match="steps and values need at least 2 samples, got 1"):
        first_increase([0], [1.0])


def test_a_sweep_already_at_the_level_at_its_first_point_has_no_crossing():
    alphas = np.array([100.0, 10.0, 1.0])
    assert crossing(alphas, np.array([0.2, 0.05, 0.3]), 0.1) is None
    assert crossing(alphas, np.array([0.1, 0.05, 0.3]), 0.1) is None  # reaching means >=
    assert crossing(alphas, np.array([0.05, 0.1, 0.3]), 0.1) == pytest.approx(10.0)


def test_a_sweep_point_without_a_value_just_before_the_crossing_is_bridged_by_its_neighbours():
    alphas = np.array([100.0, 10.0, 1.0, 0.1])
    values = np.array([0.0, 0.05, np.nan, 0.15])
    # 0.1 lies half-way from 0.05 (α = 10) to 0.15 (α = 0.1): α = 10^0 in log-space
    assert crossing(alphas, values, 0.1) == pytest.approx(1.0, rel=1e-12)


def test_a_score_resting_exactly_on_the_lower_level_was_never_below_it():
    t = np.arange(0.0, 40.0, 10.0)
    assert rise_between(t, np.array([0.2, 0.2, 0.9, 0.9]), 0.2, 0.5) is None
    assert rise_between(t, np.array([0.1, 0.2, 0.9, 0.9]), 0.2, 0.5) == pytest.approx((10.0, 10.0 + 30.0 / 7.0))


def test_an_llc_rise_exactly_as_large_as_min_rise_qualifies():
    t = np.arange(0.0, 1001.0, 100.0)
    llc = np.where(t < 400, 0.0, np.where(t < 600, (t - 400) / 20, 10.0))  # rises by exactly 10 over 400..600
    event, _ = llc_boundary(t, llc, min_rise=10.0)
    assert event is not None and event.step == pytest.approx(600.0)
    assert llc_boundary(t, llc, min_rise=10.0 + 1e-9)[0] is None


def test_a_sustained_rise_exactly_as_large_as_min_change_counts():
    t = np.arange(0.0, 60.0, 10.0)
    y = np.array([0.0, 0.0, 0.0, 1.0, 1.0, 1.0])
    assert sustained_rise(t, y, min_change=1.0).step == pytest.approx(25.0)
    assert sustained_rise(t, y, min_change=1.0 + 1e-9) is None


@pytest.mark.parametrize("kwargs, name", [({"tail": 0}, "tail"), ({"snr": -1.0}, "snr"), ({"min_change": -0.5}, "min_change")])
def test_a_sustained_rise_refuses_a_negative_or_empty_setting(kwargs, name):
    with pytest.raises(ValueError, match=name):
        sustained_rise([0, 1, 2, 3], [0.0, 0.0, 1.0, 1.0], **kwargs)


def test_a_sustained_rise_leaves_out_samples_without_a_value_as_half_rise_does():
    t = np.arange(0.0, 100.0, 10.0)
    y = np.array([0.0, 0.0, 0.0, 0.1, 0.9, 1.0, 1.0, 1.0, 1.0, 1.0])
    clean = sustained_rise(t, y, top=1.0)
    assert clean is not None and clean.step == pytest.approx(35.0)
    for hole in (2, 6, 9):  # on the plateau before it, on the level after it, at the very end
        holed = y.copy()
        holed[hole] = np.nan
        event = sustained_rise(t, holed, top=1.0)
        assert event is not None and event.step == pytest.approx(35.0) and (event.lo, event.hi) == (30.0, 40.0), hole
    holed = y.copy()
    holed[4] = np.inf  # the sample inside the rise: the crossing is bridged from 30 to 50
    assert sustained_rise(t, holed, top=1.0).step == pytest.approx(30.0 + 20.0 * 0.4 / 0.9)
    assert sustained_rise(t, np.full(len(t), np.nan)) is None


def test_a_plateau_from_the_first_sample_is_measured_against_its_level_over_the_whole_run():
    """Without a rise before it the drift allowed is a tenth of level / (last − first step): 0.0038 per step here."""
    from bridge.stages import sharpness_plateau

    t = np.arange(300.0)
    flat = sharpness_plateau(t, 10 + 0.001 * t, reach=0.8)
    assert (flat.start, flat.change) == (0.0, pytest.approx(10 + 0.001 * 149.5))
    assert sharpness_plateau(t, 10 + 0.005 * t, reach=0.8) is None  # drifts by 0.005 per step: still climbing


def test_the_oscillation_detectors_refuse_a_curve_not_tracked_at_every_step():
    from bridge.stages import alternation_fraction, oscillation_onset, oscillation_share

    t = np.arange(0.0, 20.0, 2.0)
    c = 0.9 * (-1.0) ** np.arange(10)
    for detect in (lambda: oscillation_onset(t, c), lambda: alternation_fraction(t, c), lambda: oscillation_share(t, c, floor=0.1)):
        with pytest.raises(ValueError, match="every step"):
            detect()


def test_a_run_that_generalised_before_it_memorised_has_no_grokking_phases():
    from bridge.stages import grokking_phases

    t = np.arange(0.0, 200.0, 10.0)
    train_acc = np.clip(t / 100, 0, 1)  # reaches 0.99 at step 99
    test_acc = np.where(t >= 50, 1.0, 0.0)  # stays above 0.95 from step 45 on
    test_loss = np.interp(t, [0, 40, 50, 200], [4.0, 4.0, 0.1, 0.1])
    assert grokking_phases(t, train_acc, test_loss, test_acc) == []
    late = np.where(t >= 150, 1.0, 0.0)
    assert [s.name for s in grokking_phases(t, train_acc, np.interp(t, [0, 140, 150, 200], [4.0, 4.0, 0.1, 0.1]), late)] == [
        "memorisation",
        "circuit formation",
        "clean-up",
    ]


def test_grokking_phases_refuse_a_clean_up_of_no_size():
    from bridge.stages import grokking_phases

    t = np.arange(0.0, 50.0, 10.0)
    with pytest.raises(ValueError, match="min_drop must be positive, got 0"):
        grokking_phases(t, np.ones(5), np.ones(5), np.ones(5), min_drop=0.0)


def test_a_half_move_within_ten_times_the_curves_noise_is_absent():
    """A fall of 1.1 on a zigzag of ±0.05: second differences of 0.2, noise 0.2 / (√6 · 0.6745) = 0.121."""
    from bridge.stages import half_move

    t = np.arange(50.0)
    y = np.linspace(3.0, 2.0, 50) + 0.05 * (-1.0) ** t
    assert half_move(t, y) is None  # 1.1 < 10 × 0.121
    event = half_move(t, y, snr=5.0)  # first below 2.5 between y[22] = 2.6010 and y[23] = 2.4806
    assert event is not None and event.step == pytest.approx(22.0 + (y[22] - 2.5) / (y[22] - y[23]), rel=1e-12)


def test_a_subtask_drop_starts_where_the_loss_last_leaves_chance_not_at_an_earlier_dip():
    from bridge.stages import subtask_drop

    t = np.arange(0.0, 70.0, 10.0)
    drop = subtask_drop(t, [1.0, 0.85, 1.0, 1.0, 0.8, 0.4, 0.0], chance=1.0)  # dips below 0.9 at 6.7, falls from 35 on
    assert (drop.onset, drop.step, drop.end) == (pytest.approx(35.0), pytest.approx(47.5), pytest.approx(57.5))


def test_a_half_move_leaves_out_samples_without_a_value():
    from bridge.stages import half_fall, half_move

    t = np.arange(0, 100, 10.0)
    fall = np.array([1.0, 3.0, 3.0, 3.0, 2.5, 2.0, 1.5, 1.0, 1.0, 1.0])
    for hole in (0, 2, 6, 9):
        holed = fall.copy()
        holed[hole] = np.nan
        event = half_move(t, holed, start=5)
        assert event is not None and event.step == pytest.approx(50.0) and event.kind == "half_fall", hole
    holed = fall.copy()
    holed[5] = np.inf  # the half-way sample itself: the crossing of 2 is bridged from 2.5 at 40 to 1.5 at 60
    assert half_move(t, holed, start=5, snr=1.0).step == pytest.approx(50.0)
    assert half_fall(t, np.where(t == 20, np.nan, fall), 5, "drop", "x").step == pytest.approx(50.0)
    rise = half_move(t, np.where(t == 30, np.nan, -fall), start=5, direction="up")
    assert rise is not None and rise.step == pytest.approx(50.0)


def test_a_rise_between_two_levels_refuses_curves_of_two_lengths_or_a_step_axis_that_goes_back():
    # They used to fail on a boolean index, or to return a rise that ends before it starts ((9.0, 6.0)).
    from bridge.stages import formation

    with pytest.raises(ValueError, match=r"1-D of one length, got \(5,\) and \(4,\)"):
        rise_between(np.arange(5.0), np.arange(4.0) / 4, 0.2, 0.5)
    with pytest.raises(ValueError, match=r"1-D of one length, got \(5,\) and \(4,\)"):
        formation(np.arange(5.0), np.arange(4.0) / 4, 0.2, 0.5)
    with pytest.raises(ValueError, match="got step 5 at position 2 after 10"):
        rise_between(np.array([0.0, 10.0, 5.0, 20.0]), np.array([0.0, 0.1, 0.6, 0.9]), 0.2, 0.5)
    assert rise_between([0.0], [0.9], 0.2, 0.5) is None  # one sample: no rise, as before


def test_a_loss_that_rises_over_the_plateau_climbs_back_infinitely_far():
    from bridge.stages import loss_climb

    t = np.arange(20.0)
    assert loss_climb(t, 1.0 + 0.01 * t, start=0) == np.inf  # no net fall: inf, not a negative ratio
    assert loss_climb(t, np.ones(20), start=0) == 0.0  # flat: nothing climbs back
    # ten climbs of 0.05; medians of the first and last two samples 2.025 and 1.125
    assert loss_climb(t, 2.0 - 0.05 * t + 0.1 * (t % 2), start=0) == pytest.approx(0.5 / 0.9, rel=1e-9)


def test_plateau_drift_puts_the_middle_sample_of_an_odd_count_in_the_second_half():
    from bridge.stages import plateau_drift

    # halves [0, 0] at steps 0-1 and [2, 3, 5] at steps 2-4: medians 0 and 3, centres 0.5 and 3
    assert plateau_drift(np.arange(5.0), [0.0, 0.0, 2.0, 3.0, 5.0]) == pytest.approx(3.0 / 2.5, rel=1e-12)
    assert plateau_drift([7.0], [1.0]) == 0.0


def test_the_oscillation_share_and_the_edge_refuse_settings_below_zero():
    from bridge.stages import edge_reached, oscillation_share

    t = np.arange(6.0)
    with pytest.raises(ValueError, match="floor must be >= 0, got -0.1"):
        oscillation_share(t, 0.9 * (-1.0) ** t, floor=-0.1)
    for edge in (0.0, -2.0):
        with pytest.raises(ValueError, match=f"edge must be positive, got {edge}"):
            edge_reached(t, t, edge)


def test_a_log_log_slope_through_two_points_has_no_finite_interval():
    from bridge.stages import loglog_slope

    slope, lo, hi = loglog_slope(np.array([1.0, 100.0]), np.array([2.0, 2e-4]))
    assert slope == pytest.approx(-2.0, rel=1e-12) and (lo, hi) == (-np.inf, np.inf)
    # three points off a line by (−a, 2a, −a), a = ln 2 / 3: standard error ln 2 / (√3 ln 10); half-width t(0.975, 1) = 12.7062 of them
    slope, lo, hi = loglog_slope(np.array([1.0, 10.0, 100.0]), np.array([1.0, 0.2, 1e-2]))
    half = 12.7062 * np.log(2.0) / (np.sqrt(3.0) * np.log(10.0))
    assert slope == pytest.approx(-1.0, rel=1e-12) and (lo, hi) == (pytest.approx(-1.0 - half, rel=1e-5), pytest.approx(-1.0 + half, rel=1e-5))


def test_a_subtask_drop_ends_at_the_first_fall_below_a_tenth_of_chance_even_if_the_loss_comes_back():
    from bridge.stages import subtask_drop

    t = np.arange(0.0, 80.0, 10.0)
    drop = subtask_drop(t, [1.0, 1.0, 0.4, 0.05, 0.2, 0.2, 0.05, 0.0], chance=1.0)
    assert drop.step == pytest.approx(10.0 + 10.0 * 0.5 / 0.6)
    assert drop.end == pytest.approx(20.0 + 10.0 * 0.3 / 0.35)  # not 56.7, where it stays below 0.1
