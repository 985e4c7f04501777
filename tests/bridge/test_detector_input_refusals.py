"""Degenerate inputs to the stage detectors: a curve that is not one (steps that go back or repeat, are not finite,
or differ in length from the values), a setting that cannot be read (an even running-median window, a level below
its partner, a start or bound that is not a number, a baseline or top that is not finite) is refused by name before
any work; a sample that is not finite is left out, so it neither makes an event nor hides one."""

from __future__ import annotations

import numpy as np
import pytest

from bridge.stages import (
    Stage,
    abrupt_drop,
    alternation_fraction,
    edge_reached,
    first_increase,
    formation,
    generalised,
    grokking_phases,
    half_move,
    half_rise,
    llc_boundary,
    loss_climb,
    oscillation_onset,
    plateau_drift,
    plateau_loss_trend,
    plateaus_and_drops,
    rise_between,
    settled_crossing,
    sharpening,
    sharpness_plateau,
    subtask_drop,
    sustained_rise,
    threshold_crossing,
    value_at,
)

T = np.arange(10.0)
Y = np.linspace(0.0, 1.0, 10)
PLATEAU = Stage("sharpness plateau", 5.0, 9.0, kind="plateau", change=5.0)
DETECTORS = {
    "threshold_crossing": lambda t, y: threshold_crossing(t, y, 0.5),
    "settled_crossing": lambda t, y: settled_crossing(t, y, 0.5),
    "half_rise": half_rise,
    "plateaus_and_drops": lambda t, y: plateaus_and_drops(t, y + 0.1),
    "sustained_rise": sustained_rise,
    "rise_between": lambda t, y: rise_between(t, y, 0.2, 0.5),
    "abrupt_drop": lambda t, y: abrupt_drop(t, y + 0.1, 0.1),
    "formation": lambda t, y: formation(t, y, 0.2, 0.5),
    "llc_boundary": llc_boundary,
    "generalised": generalised,
    "grokking_phases": lambda t, y: grokking_phases(t, y, y + 0.1, y),
    "half_move": half_move,
    "subtask_drop": subtask_drop,
    "value_at": lambda t, y: value_at(t, y, 1.0),
    "sharpness_plateau": lambda t, y: sharpness_plateau(t, y + 0.1),
    "edge_reached": lambda t, y: edge_reached(t, y + 0.1, 0.5),
    "sharpening": lambda t, y: sharpening(t, y, PLATEAU),
    "first_increase": lambda t, y: first_increase(t, y + 0.1),
    "plateau_loss_trend": lambda t, y: plateau_loss_trend(t, y + 0.1, 0.0),
    "loss_climb": lambda t, y: loss_climb(t, y + 0.1, 0.0),
    "plateau_drift": plateau_drift,
    "oscillation_onset": oscillation_onset,
    "alternation_fraction": alternation_fraction,
}
BAD_CURVES = {
    "going back": (np.r_[T[:5], 3.0, T[6:]], Y, "strictly increasing, got step 3 at position 5 after 4"),
    "a repeated step": (np.r_[T[:5], 4.0, T[6:]], Y, "strictly increasing, got step 4 at position 5 after 4"),
    "a nan step": (np.r_[T[:5], np.nan, T[6:]], Y, "steps must be finite"),
    "an infinite step": (np.r_[T[:9], np.inf], Y, "steps must be finite"),
    "one value short": (T, Y[:-1], r"of one length, got \(10,\)(,| and) \(9,\)"),
}


@pytest.mark.parametrize("detector", DETECTORS)
@pytest.mark.parametrize("case", BAD_CURVES)
def test_a_curve_whose_steps_are_not_a_time_axis_for_its_values_is_refused_by_name(detector, case):
    t, y, message = BAD_CURVES[case]
    with pytest.raises(ValueError, match=message):
        DETECTORS[detector](t, y)


@pytest.mark.parametrize("detect", [lambda t, s, w: sharpness_plateau(t, s, window=w), lambda t, s, w: edge_reached(t, s, 3.0, window=w)])
@pytest.mark.parametrize("window", [8, 0, -3, 2.0])
def test_a_running_median_window_that_is_not_odd_is_refused_on_a_short_curve_too(detect, window):
    """Before: window=8 on five samples was cut to 5 and passed, on fifty it was refused; the refusal hung on the curve."""
    for n in (5, 50):
        t = np.arange(float(n))
        with pytest.raises(ValueError, match=f"window must be a positive odd whole number, got {window!r}"):
            detect(t, 1.0 + t / 10, window)


def test_a_sharpening_whose_first_sample_is_not_finite_is_found_on_the_rest_of_the_curve():
    """Before: a NaN first sample skipped the "already at the plateau" check, and a curve starting above the
    plateau level (6 over 5) was reported as progressive sharpening at step 1.1, a half-way point of its fall."""
    t = np.arange(100.0)
    s = np.minimum(1 + t / 10, 5.0)
    plateau = sharpness_plateau(t, s)
    falling = s.copy()
    falling[:2] = [np.nan, 6.0]
    assert sharpening(t, falling, plateau) is None
    rising = s.copy()
    rising[0] = np.nan  # the rise from 1.1 to 5 is still found, at the step it has without the missing sample
    assert sharpening(t, rising, plateau).step == pytest.approx(sharpening(t[1:], s[1:], plateau).step, abs=1e-12)
    assert sharpening(t, rising, plateau).step == pytest.approx(1 + (3.05 - 1.1) * 10, abs=1e-9)


def test_a_score_that_formed_is_found_whatever_its_last_sample_is():
    """Before: a NaN last sample failed ``y[-1] > above`` and the formed score was reported absent."""
    t = np.arange(0.0, 600.0, 100.0)
    score = np.array([0.05, 0.1, 0.6, 0.9, 0.95, np.nan])
    event = formation(t, score, 0.2, 0.5)
    assert event is not None and event.step == pytest.approx(180.0, abs=1e-9)
    assert formation(t, np.array([0.05, 0.1, 0.6, 0.9, 0.4, np.nan]), 0.2, 0.5) is None  # fell back below 0.5 at its last measurement


@pytest.mark.parametrize("detect", [lambda t, v: rise_between(t, v, 0.5, 0.2), lambda t, v: formation(t, v, 0.5, 0.2)])
def test_a_rise_whose_lower_level_is_above_its_upper_one_is_refused(detect):
    """Before: ``rise_between(..., lo=0.5, hi=0.2)`` gave (20.0, 12.0), a rise that ends before it starts."""
    with pytest.raises(ValueError, match="lo must not exceed hi, got lo=0.5 and hi=0.2"):
        detect(np.array([0.0, 10, 20, 30]), np.array([0.1, 0.15, 0.4, 0.9]))


def test_a_half_move_from_a_start_that_is_not_a_number_is_refused():
    """Before: ``start=nan`` kept no sample and the fall was reported absent without a word."""
    t = np.arange(0, 100, 10.0)
    fall = np.array([1.0, 3.0, 3.0, 3.0, 2.5, 2.0, 1.5, 1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="start must be a number, got nan"):
        half_move(t, fall, start=float("nan"))
    assert half_move(t, fall, start=-np.inf).step == pytest.approx(50.0, abs=1e-12)  # from the beginning
    assert half_move(t, fall, start=np.inf) is None  # after the last sample: nothing to move


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"min_rise": float("nan")}, "min_rise must be a number, got nan"),
    ({"during": (1700.0, 1400.0)}, r"during must be \(start, end\) with start <= end, got \(1700.0, 1400.0\)"),
    ({"during": (float("nan"), 1700.0)}, r"during must be \(start, end\) with start <= end, got \(nan, 1700.0\)"),
])
def test_an_llc_boundary_setting_that_cannot_be_met_or_missed_is_refused(kwargs, message):
    """Before: each gave ``None`` (no critical point) on a curve with two clear rises."""
    t = np.arange(0.0, 2001.0, 100.0)
    two_stages = 30 / (1 + np.exp(-(t - 500) / 40)) + 15 / (1 + np.exp(-(t - 1500) / 40))
    with pytest.raises(ValueError, match=message):
        llc_boundary(t, two_stages, **kwargs)


@pytest.mark.parametrize("detect", [half_rise, sustained_rise])
@pytest.mark.parametrize("field", ["baseline", "top"])
@pytest.mark.parametrize("value", [-np.inf, np.inf, np.nan])
def test_a_baseline_or_top_that_is_not_finite_is_refused(detect, field, value):
    """Before: ``baseline=±inf`` put half-way at ±inf, which every sample is beyond: an event at the first step."""
    with pytest.raises(ValueError, match=f"{field} must be a finite number, got {value}"):
        detect([0, 10, 20, 30], [0.0, 0.1, 0.9, 1.0], **{field: value})
