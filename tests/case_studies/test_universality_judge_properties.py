"""Property tests of the universality rows on drawn numbers (no training): the key-frequency count and the Gini row
pass strictly inside their targets and fail outside, with the Gini floor itself passing as ``>=`` says; both rows
cannot pass when the task has no more frequencies than ``n_top``; the rows do not depend on the unit of the norms, the
order of the frequencies or the labels of the seeds; the tracking row is the same whatever the order of the runs and
judges every seed's path; the seed verdict follows the across-seed rows made to fail."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import case_studies.generality.universality as univ
from case_studies.generality.seeds import SeedReport
from case_studies.grokking import Targets

TG = Targets()
F = 29  # the quick preset's p = 59
QUICK = settings(max_examples=40, deadline=None)


def spectrum(values, f=F, constant=1.0):
    """Per-frequency norms: the constant, then ``values`` on frequencies 1, 2, …, zeros after."""
    norms = torch.zeros(f + 1, dtype=torch.float64)
    norms[0] = constant
    norms[1 : len(values) + 1] = torch.as_tensor(values, dtype=torch.float64)
    return norms


def counted(spectra, skipped=()):
    count, spread, *_ = univ.sparse_fourier_rows(spectra, TG, skipped)
    return count, spread


@QUICK
@given(n=st.integers(1, F), seed=st.integers(0, 99))
def test_the_count_passes_for_one_to_n_top_equal_frequencies_only(n, seed):
    count, _ = counted({seed: spectrum([1.0] * n)})
    expected = math.ceil(TG.key_mass * n - 1e-9)
    assert count.value == expected and count.passed is (1 <= expected <= TG.n_top)
    assert count.reason == ("" if count.passed else f"seed {seed}: {expected}")


@QUICK
@given(n=st.integers(1, F - 1), f=st.integers(TG.n_top + 1, 120), unit=st.floats(1e-6, 1e6))
def test_n_equal_frequencies_pass_the_gini_row_iff_n_is_at_most_n_top_the_floor_itself_included(n, f, unit):
    """n_top equal frequencies have exactly the Gini floor 1 − n_top/F: float rounding put them below it at F = 56 (p = 113)."""
    n = min(n, f - 1)
    _, spread = counted({0: spectrum([unit] * n, f=f)})
    assert spread.value == pytest.approx(1 - n / f, rel=1e-12) and spread.passed is (n <= TG.n_top)


@QUICK
@given(level=st.floats(0.0, 1.0), unit=st.floats(1e-3, 1e3), order=st.permutations(range(F)), labels=st.lists(st.integers(0, 50), min_size=3, max_size=3, unique=True))
def test_the_rows_do_not_depend_on_the_unit_of_the_norms_the_order_of_frequencies_or_the_seed_labels(level, unit, order, labels):
    rng = np.random.default_rng(0)
    draws = [np.concatenate([[1.0, 0.9, 0.8], level * rng.random(F - 3)]) for _ in range(3)]
    base = counted({s: spectrum(d) for s, d in enumerate(draws)})
    moved = counted({labels[s]: spectrum(unit * d[list(order)], constant=7.0) for s, d in enumerate(draws)})
    for a, b in zip(base, moved):
        assert a.passed is b.passed and b.value == pytest.approx(a.value, rel=1e-9)


@pytest.mark.parametrize("f", [1, 5, TG.n_top])
def test_with_no_more_frequencies_than_n_top_both_rows_fail_with_a_reason(f):
    """1 − n_top/F ≤ 0 and at most F key frequencies: a dense embedding (every norm equal) passed both rows."""
    count, spread = counted({3: spectrum([1.0] * f, f=f)})
    reason = f"seed 3: {f} frequencies, not more than n_top = {TG.n_top}, so any embedding would pass"
    assert not count.passed and not spread.passed and count.reason == spread.reason == reason


@pytest.mark.parametrize("norms", [torch.ones(1), torch.ones(3, 30), torch.tensor(2.0)])
def test_a_spectrum_without_a_frequency_is_refused_naming_its_seed(norms):
    with pytest.raises(ValueError, match=r"spectra\[4\] must be 1-D per-frequency norms"):
        univ.sparse_fourier_rows({4: norms}, TG)


def test_a_gini_row_that_fails_names_the_seed_below_its_floor():
    _, spread = counted({0: spectrum([1.0] * 3), 1: spectrum([1.0] * 12)})
    assert not spread.passed and spread.reason == f"seed 1: {1 - 12 / F:.3g} < {1 - TG.n_top / F:.3g}"


STEPS = np.arange(0.0, 600.0, 100.0)


def _curves(monkeypatch, gaps):
    """Runs named by their path; the measured curve of (a, b) lies ``gaps[(a, b)]`` above the predicted one at step 200."""
    import bridge.runs.run as run_module

    predicted = np.array([0.0, 0.1, 0.5, 0.8, 0.95, 1.0])

    def curves(a, b):
        measured = predicted.copy()
        measured[2] += gaps[(a, b)]
        return STEPS, measured, predicted

    monkeypatch.setattr(run_module, "load_run", lambda path: path)
    monkeypatch.setattr(univ, "differentiation_curves", curves)


@settings(max_examples=20, deadline=None)
@given(gaps=st.lists(st.floats(0.0, 0.3), min_size=6, max_size=6), order=st.permutations("abc"))
def test_the_tracking_row_is_the_largest_gap_over_ordered_pairs_whatever_the_order_of_the_runs(gaps, order):
    """Each pair was judged one way only (a's path toward b's end): the value changed with the order of the runs,
    and the last run's own path was never judged (seed 2 of deep-linear's width 128 is the worst: 0.023, not 0.021)."""
    pairs = [(a, b) for a in "abc" for b in "abc" if a != b]
    with pytest.MonkeyPatch.context() as monkeypatch:
        _curves(monkeypatch, dict(zip(pairs, gaps)))
        claim, _ = univ.differentiation_tracking({name: name for name in order})
    assert claim.value == pytest.approx(max(gaps), abs=1e-12) and claim.passed is (max(gaps) <= univ.TRACKING)
    assert "over steps and 6 ordered pairs" in claim.name


@pytest.mark.parametrize(("above", "passes"), [(1e-12, True), (1e-6, False), (0.5, False)])
def test_a_measured_cka_above_1_beyond_rounding_fails_the_tracking_row_with_a_reason(above, passes):
    """The last checkpoint's CKA at 1 + 1e-6 (its gap to the prediction 1e-6) passed the tracking row."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        _curves(monkeypatch, {pair: 0.0 for pair in (("a", "b"), ("b", "a"))})
        curves = univ.differentiation_curves
        monkeypatch.setattr(univ, "differentiation_curves", lambda a, b: (lambda s, m, p: (s, np.r_[m[:-1], 1.0 + above], p))(*curves(a, b)))
        claim, _ = univ.differentiation_tracking({"a": "a", "b": "b"})
    assert claim.value == pytest.approx(above, rel=1e-6) and claim.passed is passes
    assert claim.reason.endswith("" if passes else f"a debiased CKA outside [−1, 1]: a vs b at step 500: measured {1 + above:.6g}; b vs a at step 500: measured {1 + above:.6g}")
    assert passes or claim.reason.startswith("a debiased CKA" if above < univ.TRACKING else "worst: a vs b at step 500")


def test_labels_that_are_the_same_text_are_refused_before_a_run_is_read(tmp_path):
    """0 and "0" named one run: the other silently left the judgement (with three runs, two were judged)."""
    with pytest.raises(ValueError, match=r"labels that differ as text, got \[0, '0', 1\]"):
        univ.universality({0: tmp_path / "a", "0": tmp_path / "b", 1: tmp_path / "c"})


@QUICK
@given(broken=st.sets(st.sampled_from(["sparse", "tracking"])), verdicts=st.lists(st.sampled_from(["pass", "partial"]), min_size=3, max_size=3))
def test_the_seed_verdict_passes_iff_the_seeds_reach_the_threshold_and_no_across_seed_claim_fails(broken, verdicts):
    """Twelve equal frequencies fail the count (10 key frequencies) and the Gini row; the tracking row fails above 0.1."""
    rows = univ.sparse_fourier_rows({0: spectrum([1.0] * (12 if "sparse" in broken else 3))}, TG)
    tracking = univ.check("tracking", 0.2 if "tracking" in broken else 0.01, "<= 0.1", "tracking" not in broken)
    report = SeedReport("toy", "quick", [0, 1, 2], dict(enumerate(verdicts)), threshold=0.8, across_seeds=[*rows, tracking])
    failed = {r.name.split(" ")[0] for r in report.across_seeds if r.counted and not r.passed}
    assert failed == ({"key", "Gini"} if "sparse" in broken else set()) | ({"tracking"} if "tracking" in broken else set())
    assert report.verdict == ("pass" if not broken and verdicts.count("pass") / 3 >= 0.8 else "fail")
