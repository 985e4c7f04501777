"""Property tests of quanta's judge on drawn numbers (no training): the parameter exponent and the hidden-progress
factor pass strictly inside their targets and fail strictly outside (both sides of the two-sided exponent band), the
verdict follows the report's rule over the rows made to fail, a final mean loss that is not finite never passes the
exponent row, and the exponent does not depend on the unit of the loss. Few examples: each judgement of the synthetic
sweep is slow."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from case_studies.quanta import PRESETS
from case_studies.quanta.analysis import judge
from test_quanta import ALPHA, ROWS, _row, _synthetic

TG = PRESETS["quick"].targets
IN, OUT = 1 - 1e-6, 1 + 1e-6
QUICK = settings(max_examples=4, deadline=None)  # one judgement of the synthetic sweep takes about 0.4 s
NOT_FINITE = st.sampled_from([math.nan, math.inf, -math.inf])


def value(obs, key):
    return _row(judge(obs, TG), ROWS[key])


def scaled_mean(factor: float):
    return lambda losses, p: (losses * p).sum(1) * factor


@QUICK
@given(r=st.floats(-TG.exponent_tolerance * IN, TG.exponent_tolerance * IN), out=st.floats(TG.exponent_tolerance * OUT, 2.0), side=st.sampled_from([-1, 1]))
def test_the_parameter_exponent_passes_inside_its_band_around_alpha_and_fails_outside_on_either_side(r, out, side):
    inside = value(_synthetic(final_exponent=ALPHA * (1 + r)), "params")
    assert inside.passed and inside.value == pytest.approx(ALPHA * (1 + r), rel=1e-9, abs=1e-12)
    s = ALPHA * (1 + side * min(out, 0.99))
    assert not value(_synthetic(final_exponent=s), "params").passed


@QUICK
@given(inside=st.floats(TG.hidden_factor * OUT, 3.0), outside=st.floats(1.0, TG.hidden_factor * IN))
def test_hidden_progress_passes_iff_the_share_at_each_onset_reaches_its_multiple_of_chance(inside, outside):
    chance = 3 / 10
    for factor, passes in ((inside, True), (outside, False)):
        row = value(_synthetic(share_peak=chance * factor), "hidden")
        assert row.value == pytest.approx(factor, rel=1e-9) and row.passed is passes


BREAK = {"params": {"final_exponent": 2 * ALPHA}, "hidden": {"share_peak": 0.5}, "bridge": {"step_mean": scaled_mean(1.2)}}


@settings(max_examples=8, deadline=None)
@given(broken=st.sets(st.sampled_from(sorted(BREAK))))
def test_the_verdict_follows_the_rows_made_to_fail(broken):
    """The synthetic sweep's loss over steps is not a power law in steps, so that row fails in every draw: the verdict is "partial"."""
    kwargs = {k: v for name in broken for k, v in BREAK[name].items()}
    report = judge(_synthetic(**kwargs), TG)
    failed = {key for key, start in ROWS.items() if not _row(report, start).passed}
    assert failed == broken | {"steps"} and report.verdict == "partial" and not report.failed_preconditions


@QUICK
@given(bad=NOT_FINITE, width=st.integers(0, 5))
def test_a_final_mean_loss_that_is_not_finite_fails_the_parameter_exponent(bad, width):
    obs = _synthetic()
    obs.curves[width].mean_loss[-1] = bad
    assert not value(obs, "params").passed


@QUICK
@given(unit=st.floats(1e-3, 1e3))
def test_the_parameter_exponent_does_not_depend_on_the_unit_of_the_mean_loss(unit):
    obs = _synthetic(step_mean=scaled_mean(1.05))
    base = judge(obs, TG)
    for c in obs.curves[:-1]:
        c.mean_loss = c.mean_loss * unit
    scaled = judge(obs, TG)
    assert _row(scaled, ROWS["params"]).value == pytest.approx(_row(base, ROWS["params"]).value, rel=1e-9)
    assert _row(scaled, ROWS["params"]).passed is _row(base, ROWS["params"]).passed
