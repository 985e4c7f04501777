"""Property tests of superposition's sweep checks, called on drawn numbers: the phase-diagram share passes at
exactly its target (``>=``) and fails one cell below, a dimensionality within ``sticky_tol`` of a sticky fraction
counts and one just beyond does not, only models with m/‖W‖² ≥ 3/8 count, a NaN never passes, and the verdict of
the two rows follows the report's rule."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from bridge.report import BridgeReport
from bridge.theory.superposition import STICKY_FRACTIONS
from case_studies.superposition.verdict import Targets, sweep_checks

TARGETS = Targets()
TOL = TARGETS.sticky_tol
# sticky fractions with no other one within 2·tol on the given side: a value moved that way by up to 2·tol is off every one
OUTSIDE = [(1.0, +1), (0.75, +1), (2 / 3, -1), (0.5, +1), (0.5, -1)]


def _phases(cells: int, agree: int) -> tuple[np.ndarray, np.ndarray]:
    predicted = np.array(["feature 1"] * cells, dtype=object)
    trained = predicted.copy()
    trained[agree:] = "superposition"
    return predicted, trained


@given(j=st.integers(1, 20))
def test_the_phase_share_passes_at_exactly_its_target_and_fails_one_cell_below(j):
    """``phase_agreement`` is 0.8: ``4j`` of ``5j`` cells is exactly it."""
    assert TARGETS.phase_agreement == 0.8
    on = sweep_checks(*_phases(5 * j, 4 * j), [], TARGETS)[0]
    below = sweep_checks(*_phases(5 * j, 4 * j - 1), [], TARGETS)[0]
    assert (on.value, on.passed, on.counted) == (0.8, True, True)
    assert below.value == (4 * j - 1) / (5 * j) and not below.passed


@given(
    inside=st.lists(st.tuples(st.sampled_from(STICKY_FRACTIONS), st.floats(-TOL * (1 - 1e-6), TOL * (1 - 1e-6))), min_size=1, max_size=12),
    outside=st.lists(st.tuples(st.sampled_from(OUTSIDE), st.floats(TOL * (1 + 1e-6), 1.9 * TOL)), max_size=12),
    ignored=st.lists(st.floats(0.0, 2.0), max_size=6),
    ratio=st.floats(3 / 8, 4.0),
)
def test_the_sticky_share_counts_values_within_the_tolerance_of_models_in_the_sticky_regime(inside, outside, ignored, ratio):
    values = [s + d for s, d in inside] + [s + sign * d for (s, sign), d in outside]
    sweep = [{"dims_per_feature": ratio, "D": values}, {"dims_per_feature": np.nextafter(3 / 8, 0), "D": ignored}]
    row = sweep_checks(*_phases(5, 5), sweep, TARGETS)[1]
    share = len(inside) / len(values)
    assert row.value == share and row.passed == (share >= TARGETS.sticky_share) and row.counted


@given(finite=st.lists(st.sampled_from(STICKY_FRACTIONS), max_size=10), nans=st.integers(1, 3))
def test_a_dimensionality_that_is_not_a_number_fails_the_sticky_row_and_says_so(finite, nans):
    values = finite + [float("nan")] * nans
    row = sweep_checks(*_phases(5, 5), [{"dims_per_feature": 1.0, "D": values}], TARGETS)[1]
    assert not row.passed and row.reason == f"{nans} of {len(values)} dimensionalities are not numbers"


def test_no_model_in_the_sticky_regime_fails_the_sticky_row():
    row = sweep_checks(*_phases(5, 5), [{"dims_per_feature": 0.37, "D": [1.0, 0.5]}], TARGETS)[1]
    assert (row.value, row.passed, row.reason) == (0.0, False, "no model in the sticky regime")


@given(phase_ok=st.booleans(), sticky_ok=st.booleans())
def test_the_verdict_of_the_two_rows_is_pass_partial_or_fail(phase_ok, sticky_ok):
    sweep = [{"dims_per_feature": 1.0, "D": [1.0, 0.5, 0.4, 0.75] if sticky_ok else [1.0, 0.9, 0.9, 0.9]}]
    rows = sweep_checks(*_phases(5, 5 if phase_ok else 3), sweep, TARGETS)
    assert [r.passed for r in rows] == [phase_ok, sticky_ok]
    verdict = BridgeReport("superposition", "quick", 0, checks=rows).verdict
    assert verdict == ("pass" if phase_ok and sticky_ok else "fail" if not (phase_ok or sticky_ok) else "partial")
