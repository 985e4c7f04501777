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
    with pytest.raises(ValueError, match="at least two samples to detect an event, got 1"):
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
