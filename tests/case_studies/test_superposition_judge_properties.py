"""Property tests of superposition's judge on drawn numbers (no training): the pentagon, k-gon match, λ̂ step, phase
and sticky rows pass strictly inside their targets (read from ``Targets``) and fail strictly outside, with the
boundary each row's target states; the verdict follows the report's rule over the rows made to fail; the rows do not
depend on the labels of the features, the order of the sweep's models and cells, the unit of a step or of λ̂; and
inputs that cannot be judged are refused by name or fail their row with a reason."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.report import BridgeReport
from case_studies.superposition import PRESETS, pentagon_rows, sweep_checks
from probes.feature_geometry import polygon

PRESET = PRESETS["quick"]
TG = PRESET.targets
IN, OUT = 1 - 1e-6, 1 + 1e-6
QUICK = settings(max_examples=25, deadline=None)
KGON, PENTAGON, STEP = "k-gon transition", "pentagon for n=5", "learning coefficient: step"


def pentagon_weights(turn: float = 0.3, moved: float = 0.0, stretch: float = 0.0) -> torch.Tensor:
    """A regular pentagon of unit norms turned by ``turn`` radians, feature 0 moved by ``moved`` degrees and stretched by ``1 + stretch``."""
    angles = torch.arange(5, dtype=torch.float64) * 2 * math.pi / 5 + turn
    angles[0] += math.radians(moved)
    W = torch.stack([angles.cos(), angles.sin()])
    W[:, 0] *= 1 + stretch
    return W


def kgon_curves(four_llc: float = 2.0, std: float = 0.3):
    """A regular 4-gon (λ̂ ``four_llc``) from step 200 and a regular pentagon (λ̂ 5.3) from step 750, checkpoints every 50."""
    steps = np.arange(0.0, 1501.0, 50.0)
    represented = np.where(steps < 200, 3.0, np.where(steps < 750, 4.0, 5.0))
    gap_error = np.where(steps < 200, 40.0, np.where(steps < 750, 2.0, 3.0))
    llc = np.where(steps < 200, -1.0, np.where(steps < 750, four_llc, 5.3))
    return steps, llc, np.full(len(steps), std), represented, gap_error


def rows(steps, llc, std, represented, gap_error, W=None, preset=PRESET) -> dict:
    matches, checks, _ = pentagon_rows(steps, llc, std, represented, gap_error, polygon(pentagon_weights() if W is None else W), preset)
    return {next(short for short in (KGON, PENTAGON, STEP) if r.name.startswith(short)): r for r in matches + checks}


def with_targets(**fields):
    return dataclasses.replace(PRESET, targets=dataclasses.replace(TG, **fields))


def phases(cells: int, agree: int):
    predicted = np.array(["feature 1"] * cells, dtype=object)
    trained = predicted.copy()
    trained[agree:] = "superposition"
    return predicted, trained


# ---------------------------------------------------------------- each row against its target


@QUICK
@given(inside=st.floats(0.0, TG.angle_tol * IN), outside=st.floats(TG.angle_tol * OUT, 30.0), sign=st.sampled_from([-1, 1]))
def test_the_pentagon_passes_iff_its_largest_gap_error_is_within_angle_tol_on_either_side(inside, outside, sign):
    for moved, passes in ((inside, True), (outside, False)):
        found = rows(*kgon_curves(), W=pentagon_weights(moved=sign * moved))[PENTAGON]  # one gap opens by the move, the next closes by it
        assert found.passed is passes and found.value == pytest.approx(moved, abs=1e-6)


@QUICK
@given(inside=st.floats(0.0, TG.norm_tol * IN), outside=st.floats(TG.norm_tol * OUT, 1.0))
def test_the_pentagon_passes_iff_its_norm_spread_is_within_norm_tol(inside, outside):
    assert rows(*kgon_curves(), W=pentagon_weights(stretch=inside))[PENTAGON].passed
    assert not rows(*kgon_curves(), W=pentagon_weights(stretch=outside))[PENTAGON].passed


def lagged(pentagon_step: float):
    """λ̂ settles above half its final value (4.0) at step 500 exactly; the pentagon event is at ``pentagon_step`` exactly."""
    steps = np.arange(0.0, 1501.0, 5.0)
    llc = np.where(steps < 500, 1.0, np.where(steps == 500, 2.0, 4.0))
    represented = np.where(steps < pentagon_step, 4.0, 5.0)
    gap_error = np.where(steps < pentagon_step, 2.0, np.where(steps == pentagon_step, TG.pentagon_settle, 3.0))
    return steps, llc, np.full(len(steps), 0.3), represented, gap_error


@QUICK
@given(at=st.integers(60, 160), tolerance=st.sampled_from([TG.match_tolerance, 0.1, 0.3]))
def test_the_kgon_match_passes_iff_the_relative_lag_is_at_most_match_tolerance_on_either_side(at, tolerance):
    pentagon_step = 5.0 * at  # 300 ... 800: lags from -0.4 to 0.6 in steps of 0.01; 0.2 exactly at 400 and 600
    found = rows(*lagged(pentagon_step), preset=with_targets(match_tolerance=tolerance))[KGON]
    lag = abs(pentagon_step - 500.0) / 500.0
    assert found.relative_error == pytest.approx(lag, abs=1e-12) and found.tolerance == tolerance
    assert found.passed is (found.relative_error <= tolerance)


@QUICK
@given(size=st.floats(0.01, 5.0), sigmas=st.sampled_from([TG.llc_sigmas, 1.0, 6.0]), std=st.floats(0.05, 1.0))
def test_the_step_passes_iff_it_exceeds_llc_sigmas_standard_errors_of_the_difference(size, sigmas, std):
    error = math.hypot(std, std) / math.sqrt(PRESET.sgld.n_chains)
    found = rows(*kgon_curves(four_llc=5.3 - size, std=std), preset=with_targets(llc_sigmas=sigmas))[STEP]
    assert found.value == pytest.approx(size, abs=1e-3)
    if abs(size - sigmas * error) > 1e-9:
        assert found.passed is (size > sigmas * error)


@QUICK
@given(cells=st.integers(1, 40), agree=st.integers(0, 40), target=st.sampled_from([TG.phase_agreement, 0.5, 1.0]))
def test_the_phase_row_passes_iff_the_share_of_agreeing_cells_reaches_phase_agreement(cells, agree, target):
    agree = min(agree, cells)
    found = sweep_checks(*phases(cells, agree), [], dataclasses.replace(TG, phase_agreement=target))[0]
    assert found.value == agree / cells and found.passed is (agree / cells >= target) and found.target == f">= {target}"


@QUICK
@given(on=st.integers(0, 12), off=st.integers(0, 12), share=st.sampled_from([TG.sticky_share, 0.5, 1.0]))
def test_the_sticky_row_passes_iff_the_share_on_sticky_values_reaches_sticky_share(on, off, share):
    values = [0.5] * on + [0.6] * off  # 0.6 is 0.067 from 2/3, 0.1 from 1/2: off every sticky value
    if not values:
        return
    found = sweep_checks(*phases(5, 5), [{"dims_per_feature": 1.0, "D": values}], dataclasses.replace(TG, sticky_share=share))[1]
    assert found.value == on / len(values) and found.passed is (on / len(values) >= share)


@QUICK
@given(tol=st.floats(0.005, 0.05))
def test_the_sticky_tolerance_is_read_from_sticky_tol(tol):
    near = [0.5 + tol * 0.9, 0.5 - tol * 0.9]
    far = [0.5 + tol * 1.1]  # 0.5 + 1.1·0.05 is still 0.11 from 2/3
    found = sweep_checks(*phases(5, 5), [{"dims_per_feature": 1.0, "D": near + far}], dataclasses.replace(TG, sticky_tol=tol))[1]
    assert found.value == pytest.approx(2 / 3) and f"±{tol}" in found.name


# ---------------------------------------------------------------- the verdict rule

BREAK = {
    "pentagon": {PENTAGON, STEP},  # a final polygon that is not regular fails the step too: "the run does not end in a regular pentagon"
    "k-gon": {KGON},
    "step": {STEP},
    "phases": {"phases"},
    "sticky": {"sticky"},
}


@settings(max_examples=32, deadline=None)
@given(broken=st.sets(st.sampled_from(sorted(BREAK))))
def test_the_verdict_follows_the_rows_made_to_fail(broken):
    curves = kgon_curves(four_llc=4.3 if "k-gon" in broken else 2.0, std=5.0 if "step" in broken else 0.3)  # 4.3: λ̂ rises half-way with the 4-gon
    found = rows(*curves, W=pentagon_weights(stretch=0.5) if "pentagon" in broken else None)
    sweep = [{"dims_per_feature": 1.0, "D": [0.6, 0.6] if "sticky" in broken else [0.5, 0.4]}]
    phase, sticky = sweep_checks(*phases(5, 3 if "phases" in broken else 5), sweep, TG)
    found |= {"phases": phase, "sticky": sticky}
    expected = set().union(*(BREAK[b] for b in broken)) if broken else set()
    assert {k for k, r in found.items() if not r.passed} == expected and all(r.counted for r in found.values())
    report = BridgeReport("superposition", "quick", 0, matches=[found[KGON]], checks=[r for k, r in found.items() if k != KGON])
    assert report.verdict == ("pass" if not expected else "fail" if len(expected) == 5 else "partial")


# ---------------------------------------------------------------- invariances


@QUICK
@given(order=st.permutations(range(5)), turn=st.floats(0.0, 2 * math.pi), moved=st.floats(0.0, 30.0))
def test_the_pentagon_row_does_not_depend_on_the_labels_of_the_features_or_a_rotation(order, turn, moved):
    base = rows(*kgon_curves(), W=pentagon_weights(moved=moved))[PENTAGON]
    relabelled = rows(*kgon_curves(), W=pentagon_weights(turn=turn, moved=moved)[:, list(order)])[PENTAGON]
    assert relabelled.passed is base.passed and relabelled.value == pytest.approx(base.value, abs=1e-6)


@QUICK
@given(data=st.data(), n=st.integers(1, 6))
def test_the_sweep_rows_do_not_depend_on_the_order_of_the_models_or_the_cells(data, n):
    sweep = [{"dims_per_feature": data.draw(st.floats(0.1, 2.0)), "D": data.draw(st.lists(st.sampled_from([0.5, 0.4, 0.6, 1.0, 0.75]), max_size=5))} for _ in range(n)]
    predicted = np.array(data.draw(st.lists(st.sampled_from(["feature 1", "feature 2", "superposition"]), min_size=1, max_size=9)), dtype=object)
    trained = np.array(data.draw(st.lists(st.sampled_from(["feature 1", "feature 2", "superposition"]), min_size=len(predicted), max_size=len(predicted))), dtype=object)
    base = sweep_checks(predicted, trained, sweep, TG)
    cells = data.draw(st.permutations(range(len(predicted))))
    models = data.draw(st.permutations(range(n)))
    moved = sweep_checks(predicted[list(cells)], trained[list(cells)], [sweep[i] for i in models], TG)
    assert [(r.name, r.value, r.passed, r.reason) for r in moved] == [(r.name, r.value, r.passed, r.reason) for r in base]


@QUICK
@given(unit=st.floats(0.01, 100.0), scale=st.floats(0.01, 100.0), four_llc=st.sampled_from([2.0, 4.3, 5.0]))
def test_the_pentagon_rows_do_not_depend_on_the_unit_of_a_step_or_of_the_learning_coefficient(unit, scale, four_llc):
    steps, llc, std, represented, gap_error = kgon_curves(four_llc=four_llc)
    base = rows(steps, llc, std, represented, gap_error)
    other = rows(steps * unit, llc * scale, std * scale, represented, gap_error)
    assert [r.passed for r in other.values()] == [r.passed for r in base.values()]
    assert other[KGON].relative_error == pytest.approx(base[KGON].relative_error, rel=1e-9)
    assert other[STEP].value == pytest.approx(base[STEP].value * scale, rel=1e-3, abs=1e-3 * scale)


# ---------------------------------------------------------------- inputs that cannot be judged


@pytest.mark.parametrize("trained_shape", [(2,), (1, 2), (4,)])
def test_phases_of_another_shape_than_the_prediction_are_refused_by_name(trained_shape):
    """A (2,) trained array against a (2, 2) prediction was broadcast and judged (share 0.5); (4,) raised numpy's broadcast error."""
    predicted = np.array([["feature 1", "superposition"], ["feature 2", "feature 2"]], dtype=object)
    with pytest.raises(ValueError, match=rf"predicted and trained phases must have one shape .* got \(2, 2\) and {re_shape(trained_shape)}"):
        sweep_checks(predicted, np.full(trained_shape, "feature 1", dtype=object), [], TG)
    with pytest.raises(ValueError, match="at least one cell"):
        sweep_checks(predicted[:0], predicted[:0], [], TG)


def re_shape(shape: tuple) -> str:
    return str(shape).replace("(", r"\(").replace(")", r"\)")


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_a_model_whose_dimensions_per_feature_is_not_finite_fails_the_sticky_row(bad):
    """Such a model was left out of the sticky regime silently, and the others passed the row."""
    sweep = [{"dims_per_feature": 0.5, "D": [0.5, 0.5]}, {"dims_per_feature": bad, "D": []}]
    phase, sticky = sweep_checks(*phases(5, 5), sweep, TG)
    assert phase.passed and sticky.value == 1.0 and not sticky.passed
    assert sticky.reason == "1 of 2 models have m/‖W‖² that is not a finite number"


@pytest.mark.parametrize(("cut", "message"), [
    (lambda c: (c[0][:1], *(x[:1] for x in c[1:])), r"steps must be 1-D with at least 2 checkpoints, got shape \(1,\)"),
    (lambda c: (c[0][:0], *(x[:0] for x in c[1:])), r"steps must be 1-D with at least 2 checkpoints, got shape \(0,\)"),
    (lambda c: (c[0], c[1][:-1], *c[2:]), r"llc must have one value per checkpoint, shape \(31,\), got shape \(30,\)"),
    (lambda c: (*c[:4], c[4][:-2]), r"gap_error must have one value per checkpoint, shape \(31,\), got shape \(29,\)"),
])
def test_curves_that_do_not_fit_the_checkpoints_are_refused_by_name(cut, message):
    """An empty run raised a bare IndexError, a curve one value short numpy's boolean-index error."""
    with pytest.raises(ValueError, match=message):
        rows(*cut(kgon_curves()))


def test_a_dims_sweep_model_trained_to_zero_weights_fails_the_sticky_row_instead_of_dividing_by_zero(monkeypatch):
    """m/‖W‖² of all-zero weights raised a bare ZeroDivisionError inside the analysis."""
    import case_studies.superposition.sweeps as sup
    from bridge.models.toy_superposition import ToySuperpositionConfig

    monkeypatch.setattr(sup, "fit_fresh_samples", lambda model, *args, **kwargs: model.W.data.zero_())
    sweep = sup.dims_sweep(sup.DimsSweep(model=ToySuperpositionConfig(n_features=4, n_hidden=2, n_instances=2), steps=1, batch_size=8), seed=0)
    assert [(s["dims_per_feature"], s["D"], s["represented"]) for s in sweep] == [(math.inf, [], 0)] * 2
    sticky = sweep_checks(*phases(5, 5), sweep, TG)[1]
    assert not sticky.passed and sticky.reason == "no model in the sticky regime; 2 of 2 models have m/‖W‖² that is not a finite number"
