"""Property tests of llc-calibration's judge on drawn numbers (no training, the stored observables of each shape): an
estimate passes strictly within its tolerance of Aoyagi's λ and fails outside on either side; the trained-minimum and
diverged-chain preconditions and the coverage of the formula's branches follow their targets (read from ``Targets``);
the verdict follows the report's rule over the shapes made to fail; the order of the shapes after the main run does not
change a row; a measurement that is not finite, or a training loss below 0, passes no row."""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.estimators.llc import default_nbeta
from case_studies import get_case_study
from case_studies.llc_calibration import PRESETS, Shape
from test_llc_calibration import stored

PRESET = PRESETS["quick"]
TG = PRESET.targets
STUDY = get_case_study("llc-calibration")
LABELS = [s.label for s in PRESET.shapes]
NBETA = default_nbeta(PRESET.task.n_train)
IN, OUT = 1 - 1e-6, 1 + 1e-6
QUICK = settings(max_examples=25, deadline=None)  # one judgement of six stored shapes takes a few milliseconds
NOT_FINITE = st.sampled_from([math.nan, math.inf, -math.inf])


def analyse(preset=PRESET, scale=None, override=None):
    return STUDY.analyse(stored(preset, scale, override), preset)


def estimate_row(report, label):
    (found,) = [c for c in report.checks if c.counted and c.name.startswith(f"λ̂ {label} ")]
    return found


def precondition(report, label, what):
    (found,) = [c for c in report.checks if c.name.startswith(f"{label}: {what}")]
    return found


@QUICK
@given(inside=st.floats(0.0, TG.tolerance * IN), outside=st.floats(TG.tolerance * OUT, 3.0), side=st.sampled_from([-1, 1]), label=st.sampled_from(LABELS))
def test_an_estimate_passes_strictly_within_its_tolerance_of_aoyagis_lambda_on_either_side_only(inside, outside, side, label):
    for error, passes in ((inside, True), (outside, False)):
        found = estimate_row(analyse(scale={label: 1 + side * error}), label)
        assert found.value == pytest.approx(error, rel=1e-9, abs=1e-12) and found.passed is passes
        assert found.target.startswith(f"|λ̂/λ − 1| < {TG.tolerance}")


def test_an_estimate_at_the_regular_value_d_over_2_fails_every_preset_shape_as_the_page_says():
    """The page: for every shape of the presets the band leaves out d/2; a shape of one's own can lose that margin."""
    for preset in PRESETS.values():
        at_regular = {s.label: s.n_params / 2 / s.learning_coefficient for s in preset.shapes}
        report = STUDY.analyse(stored(preset, at_regular), preset)
        assert report.verdict == "fail" and all(not estimate_row(report, label).passed for label in at_regular)
    shape = Shape(M=10, N=10, H=1, r=1)
    assert (shape.learning_coefficient, shape.n_params / 2) == (9.5, 10.0) and abs(10.0 / 9.5 - 1) < TG.tolerance


@QUICK
@given(inside=st.floats(0.0, TG.max_trained_excess * IN), outside=st.floats(TG.max_trained_excess, 10.0), label=st.sampled_from(LABELS))
def test_the_trained_minimum_passes_strictly_below_its_excess_only(inside, outside, label):
    for excess, passes in ((inside, True), (outside, False)):
        report = analyse(override={label: {"loss": excess / NBETA}})
        found = precondition(report, label, "w* is a trained minimum")
        assert found.value == pytest.approx(excess, rel=1e-9, abs=1e-15) and found.passed is passes
        assert (report.verdict == "invalid") is (not passes)


@QUICK
@given(loss=st.floats(-10.0, -1e-300), label=st.sampled_from(LABELS))
def test_a_training_loss_below_0_is_not_a_trained_minimum(loss, label):
    """A squared error is never negative: −1 gave nβ·L_n = −482 < 0.05 and passed the precondition."""
    report = analyse(override={label: {"loss": loss}})
    found = precondition(report, label, "w* is a trained minimum")
    assert not found.passed and found.reason == f"a training loss of {loss:g} is below 0: not a squared error" and report.verdict == "invalid"


@QUICK
@given(diverged=st.integers(1, 16), label=st.sampled_from(LABELS))
def test_any_diverged_chain_fails_its_precondition_and_none_passes(diverged, label):
    report = analyse(override={label: {"diverged": float(diverged)}})
    assert not precondition(report, label, "diverged chains").passed and report.verdict == "invalid"
    assert precondition(analyse(), label, "diverged chains").passed


@QUICK
@given(kept=st.sets(st.sampled_from(LABELS), min_size=1))
def test_the_coverage_passes_iff_every_branch_is_covered_by_at_least_the_least_number_of_shapes(kept):
    shapes = tuple(s for s in PRESET.shapes if s.label in kept)
    preset = dataclasses.replace(PRESET, shapes=shapes)
    (found,) = [c for c in analyse(preset).checks if c.name == "branches of Aoyagi's formula covered"]
    branches = {s.branch for s in shapes}
    assert found.value == len(branches)
    assert found.passed is (len(branches) == 5 and len(shapes) >= TG.min_shapes)


@QUICK
@given(broken=st.sets(st.sampled_from(LABELS)), factor=st.sampled_from([0.5, 1.5]))
def test_the_verdict_is_pass_iff_every_estimate_passes_and_fail_iff_none_does(broken, factor):
    report = analyse(scale={label: factor for label in broken})
    assert {label for label in LABELS if not estimate_row(report, label).passed} == broken
    assert report.verdict == ("pass" if not broken else "fail" if len(broken) == len(LABELS) else "partial")
    assert not report.failed_preconditions


@QUICK
@given(rnd=st.randoms(use_true_random=False), scale=st.lists(st.floats(0.5, 1.5), min_size=len(LABELS), max_size=len(LABELS)))
def test_the_rows_do_not_depend_on_the_order_of_the_shapes_after_the_main_run(rnd, scale):
    order = list(range(1, len(PRESET.shapes)))
    rnd.shuffle(order)
    scales = dict(zip(LABELS, scale))
    base = {(c.name, c.value, c.passed) for c in analyse(scale=scales).checks}
    shuffled = dataclasses.replace(PRESET, shapes=(PRESET.shapes[0], *(PRESET.shapes[i] for i in order)))
    assert {(c.name, c.value, c.passed) for c in analyse(shuffled, scales).checks} == base


@QUICK
@given(bad=NOT_FINITE, label=st.sampled_from(LABELS))
def test_a_measurement_that_is_not_finite_passes_no_row(bad, label):
    assert not estimate_row(analyse(scale={label: bad}), label).passed
    for what, key in (("w* is a trained minimum", "loss"), ("diverged chains", "diverged")):
        report = analyse(override={label: {key: bad}})
        assert not precondition(report, label, what).passed and report.verdict == "invalid", (what, bad)


@QUICK
@given(field=st.sampled_from(["tolerance", "max_trained_excess", "min_shapes"]))
def test_each_row_reads_its_own_target(field):
    """Tightening one field fails only the rows that read it: tolerance the estimates, the excess the trained minima, the count the coverage."""
    tight = {"tolerance": 0.01, "max_trained_excess": 1e-9, "min_shapes": len(LABELS) + 1}[field]
    preset = dataclasses.replace(PRESET, targets=dataclasses.replace(TG, **{field: tight}))
    report = analyse(preset, scale={label: 1.05 for label in LABELS})
    failed = {c.name.split(":")[1].strip() if ":" in c.name else c.name.split(" ")[0] for c in report.checks if not c.passed}
    assert failed == {"tolerance": {"λ̂"}, "max_trained_excess": {"w* is a trained minimum (nβ·L_n(w*))"}, "min_shapes": {"branches"}}[field]


@QUICK
@given(spread=st.one_of(NOT_FINITE, st.floats(-10.0, -1e-300)), label=st.sampled_from(LABELS))
def test_an_estimate_on_theory_fails_when_its_spread_over_chains_is_not_a_finite_number_at_least_0(spread, label):
    """A spread of NaN or −0.1 passed the estimate row (it only showed in the target text)."""
    report = analyse(override={label: {"std": spread}})
    found = estimate_row(report, label)
    assert found.value == 0.0 and not found.passed and found.reason == f"the spread over chains llc/std = {spread} is not a finite number >= 0"
    assert [c.name for c in report.checks if c.counted and not c.passed] == [found.name] and report.verdict == "partial"
    assert estimate_row(analyse(override={label: {"std": 0.0}}), label).passed


@pytest.mark.parametrize("nbeta", [None, 750.0], ids=["n / ln n", "set by sgld.nbeta"])
def test_the_report_names_the_n_beta_the_sampler_used_and_where_it_came_from(nbeta):
    preset = dataclasses.replace(PRESET, sgld=dataclasses.replace(PRESET.sgld, nbeta=nbeta))
    (sampler,) = [n for n in analyse(preset).notes if n.startswith("SGLD:")]
    expected = f"nβ = {preset.nbeta:.4g} (sgld.nbeta)" if nbeta else f"nβ = {NBETA:.4g} (n/ln n with n = {PRESET.task.n_train})"
    assert expected in sampler and (nbeta is None) == ("ln n" in sampler)
