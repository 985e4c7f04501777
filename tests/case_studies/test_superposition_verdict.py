"""Superposition rows on synthetic observables: a value that is not a number (or a spread below 0) fails its row
(with a reason) instead of raising, the k-gon match holds its relative-lag tolerance of 0.2, and sweep entries that
are not numbers of their shape are refused by name, as is a run whose model is not the toy model."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bridge.report import BridgeReport
from case_studies.superposition import PRESETS, Targets, pentagon_rows, sweep_checks
from probes.feature_geometry import polygon

STEP_ROW = "learning coefficient: step from the 4-gon to the pentagon"
KGON = "k-gon transition: learning-coefficient rise coincides with pentagon formation (Chen et al. 2023)"


def _pentagon() -> torch.Tensor:
    angles = torch.arange(5, dtype=torch.float64) * 2 * math.pi / 5 + 0.3
    return torch.stack([angles.cos(), angles.sin()])


def _rows(steps, llc, represented, gap_error):
    matches, checks, _ = pentagon_rows(steps, llc, np.full(len(steps), 0.3), represented, gap_error, polygon(_pentagon()), PRESETS["quick"])
    return {m.prediction: m for m in matches} | {c.name.split(" (")[0]: c for c in checks}


def _verdict(rows) -> str:
    report = BridgeReport("superposition", "quick", 0)
    report.matches = [r for r in rows.values() if hasattr(r, "prediction")]
    report.checks = [r for r in rows.values() if not hasattr(r, "prediction")]
    return report.verdict


# ---------------------------------------------------------------- dimensionalities that are not numbers


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_a_dimensionality_that_is_not_a_number_fails_the_sticky_row_and_says_how_many(bad):
    predicted = np.array([["feature 1"]], dtype=object)
    sweep = [{"dims_per_feature": 0.5, "D": [0.5, 0.5, 0.4, bad]}, {"dims_per_feature": 0.2, "D": [math.nan]}]  # the second is below 3/8
    phases, sticky = sweep_checks(predicted, predicted, sweep, Targets())
    assert phases.passed and phases.value == 1.0
    assert sticky.value == 0.75 and not sticky.passed and sticky.counted  # three of four on a sticky value: the share alone would pass
    assert sticky.reason == "1 of 4 dimensionalities are not numbers"
    assert "values seen [0.5, 0.4]" in sticky.name
    _, clean = sweep_checks(predicted, predicted, [{"dims_per_feature": 0.5, "D": [0.5, 0.5, 0.4, 0.75]}], Targets())
    assert clean.passed and clean.reason == ""


def test_sticky_regime_dimensionalities_that_are_all_not_numbers_fail_with_a_share_of_zero():
    predicted = np.array([["feature 1"]], dtype=object)
    _, sticky = sweep_checks(predicted, predicted, [{"dims_per_feature": 0.5, "D": [math.nan, math.nan]}], Targets())
    assert (sticky.value, sticky.passed, sticky.reason) == (0.0, False, "2 of 2 dimensionalities are not numbers")
    assert "values seen []" in sticky.name


# ---------------------------------------------------------------- λ̂ that is not a number late in training


def _kgon_curves():
    """A regular 4-gon (λ̂ 2.0) from step 200 and a regular pentagon (λ̂ 5.3) from step 750, checkpoints every 50."""
    steps = np.arange(0.0, 1501.0, 50.0)
    represented = np.where(steps < 200, 3.0, np.where(steps < 750, 4.0, 5.0))
    gap_error = np.where(steps < 200, 40.0, np.where(steps < 750, 2.0, 3.0))
    return steps, np.where(steps < 200, -1.0, np.where(steps < 750, 2.0, 5.3)), represented, gap_error


@pytest.mark.parametrize("hole", [1150.0, 1400.0, 1500.0])  # the last quarter is from step 1125 on
def test_a_learning_coefficient_that_is_not_a_number_in_the_last_quarter_fails_its_rows(hole):
    steps, llc, represented, gap_error = _kgon_curves()
    clean = _rows(steps, llc, represented, gap_error)
    assert clean[STEP_ROW].passed and clean[KGON].passed and _verdict(clean) == "pass"
    rows = _rows(steps, np.where(steps == hole, np.nan, llc), represented, gap_error)
    step = rows[STEP_ROW]
    assert not step.passed and math.isnan(step.value) and step.reason == "a learning coefficient or its spread on the 4-gon or the pentagon is not a number"
    assert not rows[KGON].passed and rows[KGON].reason == "dynamics event absent"  # its level, half the final λ̂, is not a number
    assert _verdict(rows) != "pass"


# ---------------------------------------------------------------- the k-gon match tolerance


def _lagged(pentagon_step: float):
    """λ̂ settles above half its final value (4.0) at step 500 exactly; the pentagon event is at ``pentagon_step`` exactly."""
    steps = np.arange(0.0, 1501.0, 25.0)
    llc = np.where(steps < 500, 1.0, np.where(steps == 500, 2.0, 4.0))
    represented = np.where(steps < pentagon_step, 4.0, 5.0)
    gap_error = np.where(steps < pentagon_step, 2.0, np.where(steps == pentagon_step, 36.0, 3.0))  # a 4-gon scores 180 against 72°
    return steps, llc, represented, gap_error


@pytest.mark.parametrize(
    "pentagon_step, lag, passes",
    [(550.0, 0.1, True), (600.0, 0.2, True), (400.0, 0.2, True), (625.0, 0.25, False), (650.0, 0.3, False), (350.0, 0.3, False), (675.0, 0.35, False)],
)
def test_the_kgon_match_allows_a_relative_lag_of_at_most_0_2(pentagon_step, lag, passes):
    assert Targets().match_tolerance == PRESETS["quick"].targets.match_tolerance == 0.2
    row = _rows(*_lagged(pentagon_step))[KGON]
    assert row.observed_step == pytest.approx(500.0) and row.mechanism_step == pytest.approx(pentagon_step)
    assert row.relative_error == pytest.approx(lag) and row.passed is passes
    assert row.reason == ("" if passes else f"relative error {lag:.3g} > tolerance 0.2")


# ---------------------------------------------------------------- spreads and sweep entries that cannot be judged


@pytest.mark.parametrize(("where", "bad"), [("every", -0.3), (400.0, -0.3), (1200.0, -0.3), (400.0, math.nan), (1500.0, math.inf)])  # every step, on the 4-gon, on the pentagon
def test_a_spread_over_chains_that_is_not_a_finite_number_at_least_0_fails_the_step_and_names_the_step(where, bad):
    """A spread of −0.3 everywhere gave standard errors of −0.1 that hypot turned positive, and the step passed."""
    steps, llc, represented, gap_error = _kgon_curves()
    std = np.full(len(steps), bad) if where == "every" else np.where(steps == where, bad, 0.3)
    _, checks, _ = pentagon_rows(steps, llc, std, represented, gap_error, polygon(_pentagon()), PRESETS["quick"])
    (step,) = [c for c in checks if c.name == STEP_ROW]
    assert step.value == pytest.approx(3.3, abs=1e-9) and not step.passed
    named = "[200, 250" if where == "every" else f"[{where:.0f}]"
    assert step.reason.startswith(f"the spread over chains (llc_std) is not a finite number >= 0 at steps {named}")
    unread = np.where(steps == 100.0, -0.3, 0.3)  # a checkpoint before the 4-gon: its spread is not read
    (clean,) = [c for c in pentagon_rows(steps, llc, unread, represented, gap_error, polygon(_pentagon()), PRESETS["quick"])[1] if c.name == STEP_ROW]
    assert clean.passed and clean.reason == ""


@pytest.mark.parametrize(("field", "bad"), [("D", [[0.5, 0.5], [0.5, 0.5]]), ("D", ["0.5", 0.5]), ("D", "0.5"), ("dims_per_feature", "0.5"), ("dims_per_feature", np.array([0.5, 0.6]))])
def test_a_sweep_model_whose_entries_are_not_numbers_of_their_shape_is_refused_by_name(field, bad):
    """A 2-D D gave numpy's 'truth value of an array is ambiguous'; D = ["0.5", 0.5] was read as two numbers."""
    predicted = np.array(["feature 1"], dtype=object)
    model = {"dims_per_feature": 0.5, "D": [0.5]} | {field: bad}
    with pytest.raises(ValueError, match=rf"^sweep\[1\]\['{field}'\] must be a"):
        sweep_checks(predicted, predicted.copy(), [{"dims_per_feature": 0.5, "D": [0.5]}, model], Targets())


def test_weights_that_are_text_are_refused_by_name():
    from bridge.theory.superposition import dimensions_per_feature

    with pytest.raises(ValueError, match=r"^W must be a 2-D array of numbers \(m dimensions, n features\), got \[\['0.5', '1'\]\]$"):
        dimensions_per_feature([["0.5", "1"]])


def test_the_weights_drawn_and_judged_are_the_first_instance_of_a_toy_model_and_another_model_is_refused_by_name():
    from types import SimpleNamespace

    from bridge.models.toy_superposition import ToySuperposition, ToySuperpositionConfig
    from case_studies.superposition import _weights

    net = ToySuperposition(ToySuperpositionConfig(n_features=5, n_hidden=2, n_instances=3), seed=0)
    run = SimpleNamespace(model_at=lambda step: net, config=SimpleNamespace(name="toy"))
    w = _weights(run, 10)
    assert tuple(w.shape) == (2, 5) and not w.requires_grad
    torch.testing.assert_close(w, net.W[0].detach(), rtol=0, atol=0)
    other = SimpleNamespace(model_at=lambda step: torch.nn.Linear(5, 2), config=SimpleNamespace(name="linear run"))
    with pytest.raises(TypeError, match="run 'linear run' must hold a ToySuperposition model, got Linear"):
        _weights(other, 10)
