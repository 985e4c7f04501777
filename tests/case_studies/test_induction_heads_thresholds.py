"""The induction-heads rows at their stated thresholds and on values that are not numbers (synthetic observables, no training)."""

from __future__ import annotations

import numpy as np
import pytest

from case_studies import get_case_study
from helpers import judged_induction_rows, row_starting

QUICK = get_case_study("induction-heads").presets["quick"]
T = np.arange(0.0, 2001.0, 50.0)


def _judge(**changes):
    return judged_induction_rows(T, QUICK.targets, **changes)


_row = row_starting


@pytest.mark.parametrize("which", ["edge_z_first", "edge_z_last"])
def test_an_edge_z_score_that_is_not_a_number_does_not_show_the_edge_entering(which):
    """With the first graph's z-score NaN the edge was counted as absent there, so 'in the final graph, not the
    initial' passed on a value it could not read; NaN is neither above nor below the threshold."""
    z = np.zeros((4, 4)) if which == "edge_z_first" else np.full((4, 4), 8.0)
    z[0, 0] = np.nan
    rows, verdict = _judge(**{which: z})
    edge = rows["K-composition edge L0H0->L1H0 in final graph, not initial"]
    assert not edge.passed and edge.reason == "a z-score is not a number" and verdict == "partial"
    assert not _row(rows, "K-composition prev-token").passed


def test_a_control_drop_at_a_fifth_of_the_two_layer_rate_is_a_phase_change():
    """The control must fall less than 0.1 x as steeply as the two-layer drop: 4.45 against 21.76 per 1000 steps
    (0.2 x) fails, although the control's final loss (2.6 nats) stays above 0.6 ln V."""
    rows, verdict = _judge(control_loss=4.2 - 1.6 / (1 + np.exp(-(T - 800.0) / 15.0)))
    steep = _row(rows, "one-layer control: steepest fall")
    assert steep.value == "4.45 vs 21.76" and not steep.passed and verdict == "partial"
    assert _row(rows, "one-layer control: final repeated-token").passed


def test_thresholds_of_the_llc_match_and_of_the_drop_are_as_stated():
    """The LLC boundary 400 steps after the drop's end (1800 vs 1400: relative error 0.29) fails the 0.2 tolerance;
    a drop of 2.0 nats is less than 0.5 ln 64 = 2.08 and is no phase change (invalid), 2.2 nats is one."""
    lt = T[T % 100 == 0]
    rows, verdict = _judge(llc=16.0 + 12.0 / (1.0 + np.exp(-(lt - 1750.0) / 30.0)))
    late = _row(rows, "learning-coefficient stage boundary")
    assert late.relative_error == pytest.approx(400 / 1400) and not late.passed and verdict == "partial"
    s = 1.0 / (1.0 + np.exp(-(T - 1300.0) / 15.0))
    assert _judge(loss=2.8 - 2.0 * s)[1] == "invalid"
    assert _row(_judge(loss=2.8 - 2.2 * s)[0], "the phenomenon").passed


@pytest.mark.parametrize(
    ("changes", "name"),
    [
        ({"ablation_loss": np.inf}, "mean-ablating L0H0: repeated-token loss increase (nats)"),
        ({"ablation_induction": -np.inf}, "mean-ablating L0H0: max layer-1 induction score (test and off-position)"),
        ({"control_loss": np.append(3.0 - 0.05 * T[:-1] / T[-1], np.inf)}, "one-layer control: final repeated-token loss (nats)"),
        ({"edge_z_first": np.full((4, 4), -np.inf)}, "K-composition edge L0H0->L1H0 in final graph, not initial"),
        ({"edge_z_last": np.full((4, 4), np.inf)}, "K-composition edge L0H0->L1H0 in final graph, not initial"),
    ],
)
def test_an_infinite_measurement_passes_no_row(changes, name):
    """An infinite ablation effect, control loss or z-score passed its one-sided target (∞ >= 1 nat, −∞ < 0.3, ...)."""
    rows, verdict = _judge(**changes)
    assert not rows[name].passed and verdict == "partial"


def test_an_infinite_final_induction_score_passes_neither_score_row():
    induction = np.tile(np.array([0.05, 0.05, 0.05, 0.05]), (len(T), 1))
    induction[:, 0] = np.where(T >= 1300, np.inf, 0.05)
    rows, _ = _judge(induction=induction, induction_off=induction)
    for which in ("test", "off-position"):
        row = rows[f"L1H0 final induction score ({which})"]
        assert not row.passed and row.reason == "the measurement is not finite (inf)"


def test_a_control_loss_that_reaches_zero_is_judged_a_control_that_copies():
    """A control loss of exactly 0 raised "log=True needs positive values" from the stage detector inside the judge."""
    control = np.where(T < 2000, 3.0 - 0.05 * T / T[-1], 0.0)
    rows, verdict = _judge(control_loss=control)
    final, steep = _row(rows, "one-layer control: final repeated-token"), _row(rows, "one-layer control: steepest fall")
    assert final.value == 0.0 and not final.passed
    assert steep.value == "inf vs 21.76" and not steep.passed
    assert steep.reason == "the control's repeated-token loss reaches 0 at step 2000: its log falls without bound"
    assert verdict == "partial"


@pytest.mark.parametrize(("field", "values", "message"), [
    ("loss", np.where(T < 1900, 2.8, 0.0), r"obs\.loss reaches 0 at step 1900: the repeated-token loss's stages are read on a log scale"),
    ("control_loss", np.where(T < 500, 3.0, -0.25), r"obs\.control_loss must be >= 0 \(a cross-entropy\), got -0\.25 at step 500"),
    ("loss", np.where(T < 500, 2.8, -1e-3), r"obs\.loss must be >= 0 \(a cross-entropy\), got -0\.001 at step 500"),
])
def test_a_loss_the_judge_cannot_read_is_refused_by_name(field, values, message):
    with pytest.raises(ValueError, match=message):
        _judge(**{field: values})
