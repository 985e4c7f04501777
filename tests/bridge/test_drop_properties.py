"""Property tests of the drop and edge-of-stability detectors: an abrupt drop planted in a noisy plateau is found
with the planted step in its bracket, and a noisy plateau with none planted has none; the plateaus and drops of a
curve move with its step axis (shifted, stretched); the edge is reached inside its sampling bracket and moves with
the steps; settings that make no sense are refused."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.stages import abrupt_drop, edge_reached, oscillation_onset, plateaus_and_drops, running_median

PROPERTY = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
T = np.arange(0.0, 2001.0, 50.0)


def _plateau_then_drop(at: float, fall: float, width: float) -> np.ndarray:
    """A loss resting at 3 nats that falls by ``fall`` around step ``at`` over a few ``width``."""
    return 3.0 - fall * 0.5 * (1.0 + np.tanh((T - at) / (2.0 * width)))  # a logistic step


@PROPERTY
@given(st.floats(500.0, 1600.0), st.floats(1.5, 2.8), st.floats(2.0, 20.0), st.floats(0.0, 0.02), st.integers(0, 2**32 - 1))
def test_an_abrupt_drop_planted_in_a_noisy_plateau_is_found_with_its_step_in_the_bracket(at, fall, width, noise, seed):
    loss = _plateau_then_drop(at, fall, width) * np.exp(np.random.default_rng(seed).normal(0.0, noise, len(T)))
    drop = abrupt_drop(T, loss, min_fall=1.0)
    assert drop is not None and drop.kind == "drop"
    assert drop.start <= at <= drop.end
    assert drop.end - drop.start <= 4 * 50.0 + 8 * width  # the steep part and a sample either side, not the plateau


@PROPERTY
@given(st.floats(0.5, 3.0), st.floats(0.0, 0.05), st.integers(0, 2**32 - 1))
def test_a_noisy_plateau_without_a_planted_drop_has_no_abrupt_drop(level, noise, seed):
    loss = level * np.exp(np.random.default_rng(seed).normal(0.0, noise, len(T)))
    assert abrupt_drop(T, loss, min_fall=0.5) is None


@PROPERTY
@given(st.floats(300.0, 1700.0), st.floats(0.3, 2.8), st.floats(2.0, 200.0), st.integers(-4, 4), st.integers(-10**6, 10**6), st.integers(0, 2**32 - 1))
def test_plateaus_and_drops_move_with_the_step_axis(at, fall, width, power, shift, seed):
    loss = _plateau_then_drop(at, fall, width) * np.exp(np.random.default_rng(seed).normal(0.0, 0.01, len(T)))
    k = 2.0**power  # steps stretched and moved exactly: the same samples at the same places on the new axis
    stages = plateaus_and_drops(T, loss)
    moved = plateaus_and_drops(k * T + shift, loss)
    assert [(s.kind, s.change) for s in moved] == [(s.kind, s.change) for s in stages]
    assert [(s.start, s.end, s.start_uncertainty, s.end_uncertainty) for s in moved] == [
        (k * s.start + shift, k * s.end + shift, k * s.start_uncertainty, k * s.end_uncertainty) for s in stages
    ]


@st.composite
def sharpness_curves(draw):
    """A sharpness that rises at a drawn rate from a drawn start, with noise, on integer steps from a drawn origin."""
    n = draw(st.integers(12, 120))
    origin = draw(st.integers(-1000, 1000))
    rate = draw(st.floats(0.01, 1.0))
    noise = draw(st.floats(0.0, 0.5))
    seed = draw(st.integers(0, 2**32 - 1))
    t = origin + np.arange(float(n))
    return t, 1.0 + rate * np.arange(n) + noise * np.random.default_rng(seed).normal(size=n)


@PROPERTY
@given(sharpness_curves(), st.floats(1.0, 60.0), st.integers(-10**5, 10**5))
def test_the_edge_is_reached_inside_its_bracket_on_the_running_median_and_moves_with_the_steps(curve, edge, shift):
    t, s = curve
    event = edge_reached(t, s, edge)
    smooth = running_median(s, 9)
    if smooth[0] >= edge or not (smooth >= edge).any():
        assert event is None
        return
    i = int(np.argmax(smooth >= edge))
    assert (event.lo, event.hi) == (t[i - 1], t[i]) and event.lo <= event.step <= event.hi
    assert np.interp(event.step, t, smooth) == pytest.approx(edge, abs=1e-9)
    moved = edge_reached(t + shift, s, edge)
    assert (moved.step, moved.lo, moved.hi) == pytest.approx((event.step + shift, event.lo + shift, event.hi + shift), abs=1e-9)


@pytest.mark.parametrize("run", [0, -3])
def test_an_oscillation_onset_over_no_steps_is_refused(run):
    """Before: ``run=-3`` reported an oscillation on a cosine that never changes sign."""
    t = np.arange(6.0)
    with pytest.raises(ValueError, match=f"run must be a whole number >= 1, got {run}"):
        oscillation_onset(t, np.full(6, 0.9), run=run)
