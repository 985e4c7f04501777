"""Grokking detectors say "absent" when the observable does not make the move: flat, wrong-way, noisy, undone
and memorise-only curves give no event; the phenomenon gives its step within the sampling bracket."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bridge.stages.grokking import generalised, grokking_phases, half_fall, half_move, noise_level

T = np.arange(0, 2000, 20.0)
LN_P = math.log(59)  # the cross-entropy of a uniform guess over 59 residues


def sigmoid(centre, width, start, end):
    return start + (end - start) / (1 + np.exp(-(T - centre) / width))


def noise(scale, seed=0):
    return scale * np.random.default_rng(seed).normal(size=len(T))


@pytest.mark.parametrize(
    ("curve", "direction"),
    [
        (np.full(len(T), 3.0), "down"),  # flat
        (sigmoid(900, 40, 0.5, 4.0), "down"),  # rises: no fall
        (sigmoid(900, 40, 4.0, 0.5), "up"),  # falls: no rise
        (3.0 + noise(0.1), "down"),  # noise only
        (3.0 + noise(0.1), "up"),
        (sigmoid(600, 30, 8.0, 2.0) + sigmoid(1200, 30, 0.0, 6.0), "down"),  # falls, then comes back
    ],
)
def test_half_move_is_absent_without_the_move(curve, direction):
    assert half_move(T, curve, None, direction, min_fraction=0.5) is None


@pytest.mark.parametrize(("centre", "direction"), [(700.0, "down"), (1300.0, "up")])
def test_half_move_finds_the_step_of_a_real_move_within_its_bracket(centre, direction):
    start, end = (8.0, 0.01) if direction == "down" else (0.1, 0.6)
    clean = sigmoid(centre, 30, start, end)
    event = half_move(T, clean + noise(1e-3), None, direction)
    assert event.lo <= centre <= event.hi and event.hi - event.lo == 20
    assert event.step == pytest.approx(centre, abs=2)


def test_half_fall_needs_the_loss_to_fall_by_its_fraction_of_the_peak():
    shallow = sigmoid(700, 30, 8.0, 5.0)  # falls by 3 of 8: less than half
    assert half_fall(T, shallow, 0, "x", "loss") is not None
    assert half_fall(T, shallow, 0, "x", "loss", min_fraction=0.5) is None
    assert half_fall(T, shallow, 0, "x", "loss", min_change=0.5 * LN_P).step == pytest.approx(700, abs=2)


def test_noise_level_of_white_noise_and_of_a_smooth_curve():
    assert noise_level(noise(0.3, seed=1)) == pytest.approx(0.3, rel=0.15)
    assert noise_level(sigmoid(900, 100, 0.0, 1.0)) < 1e-3


def test_generalised_requires_test_accuracy_to_end_above_its_threshold():
    assert generalised(T, sigmoid(1000, 30, 0.02, 1.0)).step == pytest.approx(1000 + 30 * math.log(0.93 / 0.03), abs=20)
    spike = np.where((T > 800) & (T < 860), 0.97, 0.04)
    assert generalised(T, spike) is None
    assert generalised(T, np.full(len(T), 0.04)) is None


def memorise(test_accuracy, test_loss):
    return grokking_phases(T, sigmoid(80, 10, 0.02, 1.0), test_loss, test_accuracy, min_drop=0.5 * LN_P)


def test_no_phases_in_flat_memorise_only_or_noisy_runs():
    high = sigmoid(100, 20, LN_P, 10.0)
    # flat: nothing is learned at all
    assert grokking_phases(T, np.full(len(T), 1 / 59), np.full(len(T), LN_P), np.full(len(T), 1 / 59)) == []
    # memorised, never generalised; the test loss dips during an instability and comes back
    dip = high - sigmoid(1200, 20, 0.0, 6.0) + sigmoid(1400, 20, 0.0, 6.0)
    assert memorise(0.04 + 0.01 * np.abs(noise(1.0)), dip) == []
    # noise around chance
    assert memorise(np.clip(1 / 59 + noise(0.01), 0, 1), LN_P + noise(0.3)) == []


def test_the_clean_up_must_drop_the_test_loss_by_its_share_of_ln_p():
    generalises = sigmoid(1000, 30, 0.02, 1.0)
    small = sigmoid(100, 20, LN_P, 4.5) - sigmoid(1000, 30, 0.0, 1.0)  # a 1-nat drop < 0.5 ln 59 = 2.04
    assert [s.name for s in memorise(generalises, small)] == ["memorisation"]


def test_phases_of_a_grokking_run_bracket_the_drop():
    test_loss = sigmoid(100, 20, LN_P, 10.0) - sigmoid(1000, 30, 0.0, 10.0 - 1e-3)
    stages = memorise(sigmoid(1000, 30, 0.02, 1.0), test_loss)
    assert [s.name for s in stages] == ["memorisation", "circuit formation", "clean-up"]
    mem, circuit, cleanup = stages
    assert mem.end == pytest.approx(80 - 10 * math.log(0.98 / 0.97 - 1), abs=mem.end_uncertainty) and mem.end_uncertainty == 20  # 99% train accuracy
    assert circuit.start == mem.end and circuit.end == cleanup.start
    assert cleanup.start < 1000 < cleanup.end and cleanup.change < -8


def test_each_phase_carries_the_test_loss_change_over_it_and_the_sampling_interval_at_its_ends():
    t = np.arange(0, 110, 10.0)
    train_acc, test_acc = np.minimum(t / 20, 1), np.interp(t, [50, 80], [0, 1])  # memorised at 19.8, in (10, 20)
    test_loss = np.interp(t, [0, 20, 50, 80], [4.0, 3.5, 3.0, 0.5])
    mem, circuit, cleanup = grokking_phases(t, train_acc, test_loss, test_acc)
    loss_at_mem = 4.0 - 0.5 * 19.8 / 20
    assert (mem.start, mem.end, mem.change) == pytest.approx((0.0, 19.8, loss_at_mem - 4.0))
    assert (circuit.start, circuit.end, circuit.change) == pytest.approx((19.8, 50.0, 3.0 - loss_at_mem))
    assert (cleanup.start, cleanup.end, cleanup.change) == pytest.approx((50.0, 80.0, -2.5))
    assert [(s.start_uncertainty, s.end_uncertainty) for s in (mem, circuit, cleanup)] == [(0.0, 10.0), (10.0, 10.0), (10.0, 10.0)]


def test_the_clean_up_is_the_largest_drop_after_memorisation_not_the_first():
    t = np.arange(0, 110, 10.0)
    test_loss = np.interp(t, [0, 30, 40, 70, 80], [4.0, 4.0, 3.0, 3.0, 0.5])  # a 1-nat drop, then a 2.5-nat one
    stages = grokking_phases(t, np.minimum(t / 20, 1), test_loss, np.interp(t, [50, 80], [0, 1]))
    assert [(s.name, s.start, s.end, s.change) for s in stages[1:]] == [("circuit formation", 19.8, 70.0, -1.0), ("clean-up", 70.0, 80.0, -2.5)]


def test_two_samples_after_memorisation_are_too_few_for_a_clean_up():
    t = np.arange(0, 100, 10.0)
    test_acc, test_loss = np.where(t >= 90, 1.0, 0.0), np.where(t >= 90, 0.5, 3.0)
    assert [s.name for s in grokking_phases(t, np.where(t >= 80, 1.0, 0.0), test_loss, test_acc)] == ["memorisation"]  # 80, 90 follow 79.9
    assert [s.name for s in grokking_phases(t, np.where(t >= 70, 1.0, 0.0), test_loss, test_acc)] == ["memorisation", "circuit formation", "clean-up"]


def test_a_move_that_ends_exactly_half_way_back_is_not_undone():
    t = np.arange(0, 170, 10.0)
    y = np.r_[np.full(5, 3.0), np.linspace(3.0, 1.0, 9)[1:], np.linspace(1.0, 2.0, 5)[1:]]  # 3 -> 1, then back up to 2
    event = half_move(t, y, None, "down")
    assert (event.step, event.lo, event.hi) == (80.0, 70.0, 80.0)
    assert half_move(t, np.r_[y[:-1], 2.25], None, "down") is None  # back beyond half-way


def test_a_peak_at_the_start_step_itself_starts_the_move():
    t = np.arange(0, 100, 10.0)
    y = np.array([1.0, 4.0, 3.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    assert half_move(t, y, 10.0, "down").step == 25.0  # half-way from 4 to 1
    assert half_move(t, 5.0 - y, 10.0, "up").step == 25.0


def test_phases_in_order_need_positive_lengths_and_no_gaps():
    from bridge.stages import Stage, phase_ordered

    def phases(*bounds):
        return [Stage(name, a, b) for name, (a, b) in zip(("memorisation", "circuit formation", "clean-up"), bounds)]

    assert phase_ordered(phases((0, 10), (10, 50), (50, 60)))
    assert not phase_ordered(phases((0, 10), (10, 10), (10, 60)))  # an empty circuit formation
    assert not phase_ordered(phases((0, 10), (12, 50), (50, 60)))  # a gap between memorisation and circuit formation


def test_a_missing_test_loss_sample_is_left_out_of_the_phase_changes():
    """A NaN first test-loss sample gave memorisation a change of NaN; it is a missing measurement, as elsewhere:
    memorisation's change is read from the first measured sample (step 10, loss 3.8) to its end (19.8, 3.604)."""
    t = np.arange(0, 110, 10.0)
    train_acc, test_acc = np.minimum(t / 20, 1), np.interp(t, [50, 80], [0, 1])
    whole = np.interp(t, [0, 50, 80], [4.0, 3.0, 0.5])
    phases = grokking_phases(t, train_acc, whole, test_acc)
    assert [(s.name, s.start, s.end) for s in phases] == [("memorisation", 0.0, 19.8), ("circuit formation", 19.8, 50.0), ("clean-up", 50.0, 80.0)]
    assert [s.change for s in phases] == pytest.approx([-0.396, -0.604, -2.5], abs=1e-12)
    gappy = whole.copy()
    gappy[0], gappy[6] = math.nan, math.inf  # the first sample and one inside the clean-up
    phases = grokking_phases(t, train_acc, gappy, test_acc)
    assert [(s.name, s.start, s.end) for s in phases] == [("memorisation", 0.0, 19.8), ("circuit formation", 19.8, 50.0), ("clean-up", 50.0, 80.0)]
    assert [s.change for s in phases] == pytest.approx([-0.196, -0.604, -2.5], abs=1e-12)
