"""Property tests of edge-of-stability's judge on drawn numbers (no training): each row passes with its measured
value strictly inside its target and fails strictly outside (both sides of the two-sided 2/η band and of the onset
match), the verdict follows the report's rule over the rows made to fail, and a measurement that is not finite
never passes a row."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.report import BridgeReport
from bridge.stages import Event
from case_studies.edge_of_stability import PRESETS, Targets, detect_curves, judge
from test_edge_of_stability import LR, N_PARAMS, T, synthetic

TG = PRESETS["quick"].targets
assert TG == Targets()
EDGE = 2 / LR
IN, OUT = 1 - 1e-6, 1 + 1e-6  # strictly inside / outside a bound, by a relative margin
NAMES = ("median sharpness", "progressive sharpening", "loss falls", "loss non-monotone", "GD oscillates", "loss spikes")
QUICK = settings(max_examples=60, deadline=None)


def found():
    """The detected events of the synthetic edge of stability (every row passes on them), ready to be changed."""
    return detect_curves(LR, *synthetic(), TG)


def rows(f):
    report = BridgeReport("edge-of-stability", "custom", 0)
    judge(f, TG, report, N_PARAMS, len(T))
    by = {name: next(r for r in report.rows if name in r.name) for name in NAMES}
    return report, by


def with_plateau(f, level):
    f["plateau"] = dataclasses.replace(f["plateau"], change=level)
    return f


def step_loss(fall, climb=0.0):
    """A loss of 10 over the plateau's first half that ends at ``10 − fall·10``; with ``climb`` it dips ``climb·fall·10``
    below that end first and climbs back in one step: net fall ``fall·10``, one-step rises ``climb·fall·10``."""
    end = 10 * (1 - fall)
    return T, np.where(T < 400, 10.0, np.where(T < 500, end - climb * 10 * fall, end))


def test_the_synthetic_curves_pass_every_row_so_each_property_changes_one():
    report, by = rows(found())
    assert report.verdict == "pass" and all(r.passed for r in by.values()) and found()["plateau"].start < 400


@QUICK
@given(r=st.floats(-TG.tolerance * IN, TG.tolerance * IN))
def test_a_plateau_inside_the_band_around_2_over_eta_passes(r):
    assert rows(with_plateau(found(), EDGE * (1 + r)))[1]["median sharpness"].passed


@QUICK
@given(r=st.floats(TG.tolerance * OUT, 5.0), side=st.sampled_from([-1, 1]))
def test_a_plateau_outside_the_band_on_either_side_fails(r, side):
    level = EDGE * (1 + side * r) if side > 0 else EDGE * (1 - TG.tolerance * OUT) / (1 + r)
    row = rows(with_plateau(found(), level))[1]["median sharpness"]
    assert row.value == pytest.approx(level, rel=1e-12) and not row.passed


@QUICK
@given(q=st.floats(0.0, TG.start_below * IN), above=st.floats(TG.start_below * OUT, 2.0))
def test_progressive_sharpening_needs_a_start_strictly_below_its_fraction_of_the_plateau(q, above):
    for first, passes in ((q, True), (above, False)):
        f = found()
        t, s = f["sharpness"]
        f["sharpness"] = (t, np.where(t == 0, first * f["plateau"].change, s))
        assert rows(f)[1]["progressive sharpening"].passed is passes


@QUICK
@given(fall=st.floats(0.0, 0.99))
def test_the_loss_falls_row_passes_iff_the_fall_reaches_its_target(fall):
    f = found()
    f["loss"] = step_loss(fall)
    row = rows(f)[1]["loss falls"]
    assert row.value == pytest.approx(fall, abs=1e-12)
    if fall > TG.min_fall * OUT:
        assert row.passed
    elif fall < TG.min_fall * IN:
        assert not row.passed


@QUICK
@given(climb=st.floats(1e-3, 3.0))
def test_the_short_horizon_row_passes_iff_the_climb_reaches_its_target(climb):
    f = found()
    f["loss"] = step_loss(0.1, climb)
    row = rows(f)[1]["loss non-monotone"]
    assert row.value == pytest.approx(climb, rel=1e-9)
    if climb > TG.min_climb * OUT:
        assert row.passed
    elif climb < TG.min_climb * IN:
        assert not row.passed


@QUICK
@given(level=st.floats(0.01, 50.0))
def test_a_loss_that_does_not_move_on_the_plateau_does_not_go_up_and_down(level):
    """A flat loss has no one-step rise: 0 rises over 0 fall is no climb (it read ``inf`` and passed)."""
    f = found()
    f["loss"] = (T, np.where(T < 150, 60.0, level))
    row = rows(f)[1]["loss non-monotone"]
    assert row.value == 0.0 and not row.passed


@QUICK
@given(ends=st.integers(252, 599))
def test_the_oscillation_row_passes_iff_its_share_of_flipping_steps_reaches_the_target(ends):
    f = found()
    cos = np.where(T < 250, np.abs(f["cosine"][1]), np.where(T < ends, 0.9, 1e-4)) * (-1.0) ** T
    f["cosine"] = (T, cos)
    row = rows(f)[1]["GD oscillates"]
    share = (ends - 251) / 349
    assert row.value == pytest.approx(share, abs=1e-12) and row.passed is (share >= TG.min_alternation)


@QUICK
@given(e=st.floats(0.0, TG.onset_tolerance * IN), out=st.floats(TG.onset_tolerance * OUT, 0.9), side=st.sampled_from([-1, 1]))
def test_the_spike_matches_the_onset_within_the_tolerance_on_either_side_and_no_further(e, out, side):
    """The match's error is |onset − spike| / spike: a spike at onset / (1 ± e) is e off."""
    for err, passes in ((e, True), (out, False)):
        f = found()
        at = f["onset"].step / (1 + side * err)
        f["spike"] = Event("loss turns non-monotone", at, at - 1, at, "loss/train", "first_increase")
        row = rows(f)[1]["loss spikes"]
        assert row.relative_error == pytest.approx(err, rel=1e-9, abs=1e-12) and row.passed is passes


BREAK = {
    "median sharpness": lambda f: with_plateau(f, 1.5 * EDGE),
    "progressive sharpening": lambda f: f.update(sharpness=(f["sharpness"][0], np.where(T == 0, 100.0, f["sharpness"][1]))),
    "loss falls": lambda f: f.update(loss=(T, np.where(T < 251, 1.0, 0.99 - 0.001 * (T % 2)))),  # a zigzag around a 1 % fall
    "loss non-monotone": lambda f: f.update(loss=(T, np.exp(-T / 300))),
    "loss falls and loss non-monotone": lambda f: f.update(loss=(T, np.where(T < 251, 1.0, 1 - 0.01 * (T - 250) / 349))),  # a monotone 1 % fall
    "GD oscillates": lambda f: f.update(cosine=(T, np.where(T < 250, f["cosine"][1], 1e-4 * (-1.0) ** T))),
    "loss spikes": lambda f: f.update(spike=Event("loss turns non-monotone", 400.0, 399.0, 400.0, "loss/train", "first_increase")),
}


@QUICK
@given(broken=st.sets(st.sampled_from(NAMES)))
def test_the_verdict_is_pass_iff_every_counted_row_passes(broken):
    f = found()
    onset = f["onset"]
    both = {"loss falls", "loss non-monotone"} <= broken
    for name in broken - ({"loss falls", "loss non-monotone"} if both else set()):
        BREAK[name](f)
    if both:
        BREAK["loss falls and loss non-monotone"](f)
    f["onset"] = onset
    report, by = rows(f)
    failed = {name for name, r in by.items() if not r.passed}
    assert failed == set(broken)
    assert report.verdict == ("pass" if not broken else "fail" if len(broken) == len(NAMES) else "partial")


@QUICK
@given(bad=st.sampled_from([np.nan, np.inf, -np.inf]))
def test_a_plateau_level_that_is_not_finite_fails_the_2_over_eta_row(bad):
    assert not rows(with_plateau(found(), bad))[1]["median sharpness"].passed


@QUICK
@given(bad=st.sampled_from([np.nan, np.inf]), first=st.integers(190, 240), length=st.integers(1, 60), where=st.sampled_from(["start", "end", "all"]))
def test_a_loss_that_is_not_finite_on_the_plateau_never_passes_the_loss_rows_on_it(bad, first, length, where):
    """Non-finite samples at the plateau's start, its end, or throughout: the short-horizon row never passes, and
    the long-horizon row passes only if both of its medians are finite numbers (the fall stays measured)."""
    f = found()
    start = f["plateau"].start
    on = T[T >= start]
    k = max(len(on) // 10, 1)
    span = {"start": (T >= first) & (T < first + length), "end": T >= T[-1] - length, "all": T >= start}[where]
    loss = np.where(span, bad, f["loss"][1])
    f["loss"] = (T, loss)
    by = rows(f)[1]
    assert not by["loss non-monotone"].passed
    head, tail = loss[T >= start][:k], loss[T >= start][-k:]
    if not (np.isfinite(np.median(head)) and np.isfinite(np.median(tail))):
        assert not by["loss falls"].passed and by["loss falls"].reason == "the loss is not finite on the plateau"


@QUICK
@given(bad=st.sampled_from([np.nan, np.inf, -np.inf]), at=st.integers(250, 300))
def test_a_cosine_or_a_spike_step_that_is_not_finite_passes_no_row(bad, at):
    """From step ``at`` on the cosine is not a number or infinite with alternating sign (no cosine is): no flip counts."""
    f = found()
    f["cosine"] = (T, np.where(T >= at, bad * (-1.0) ** T, f["cosine"][1]))
    f["spike"] = Event("loss turns non-monotone", bad, bad, bad, "loss/train", "first_increase")
    by = rows(f)[1]
    assert not by["GD oscillates"].passed and not by["loss spikes"].passed
