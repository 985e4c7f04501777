"""Verdicts over counted rows: pass, partial, fail and invalid, and how rows are written."""

import json

import numpy as np
import pytest
import torch

from bridge.match import check, match
from bridge.report import BridgeReport
from bridge.stages import Event


def _report(*rows):
    matches = [r for r in rows if hasattr(r, "prediction")]
    checks = [r for r in rows if not hasattr(r, "prediction")]
    return BridgeReport("toy", "quick", 0, matches=matches, checks=checks)


def test_verdict_is_computed_from_counted_rows_only():
    report = _report(
        check("claim a", 1.0, ">= 1", True, claim="a holds", source="Paper 2020, Fig. 1"),
        check("shown only", 0.0, "—", False, role="info"),
    )
    assert report.verdict == "pass"
    assert report.failed_claims == []


@pytest.mark.parametrize(("passes", "verdict"), [((True, True), "pass"), ((True, False), "partial"), ((False, False), "fail")])
def test_pass_partial_and_fail(passes, verdict):
    report = _report(*(check(f"claim {i}", float(p), "== 1", p) for i, p in enumerate(passes)))
    assert report.verdict == verdict
    assert report.failed_claims == [f"claim {i}" for i, p in enumerate(passes) if not p]


def test_a_failed_precondition_makes_the_verdict_invalid_and_names_it():
    report = _report(check("claim", 1.0, "== 1", True), check("converged", 0.2, "< 0.05", False, role="precondition"))
    assert report.verdict == "invalid"
    assert report.failed_preconditions == ["converged"]
    assert "converged" in report.to_markdown().splitlines()[2]


def test_a_report_without_counted_rows_is_invalid():
    assert _report(check("shown", 1.0, "—", True, role="info")).verdict == "invalid"
    assert _report().verdict == "invalid"


def test_an_unknown_role_is_refused():
    with pytest.raises(ValueError, match="role must be one of"):
        check("x", 1.0, "—", True, role="optional")


def test_a_match_with_an_absent_event_fails_and_says_which():
    absent_dynamics = match("mode 0", 100.0, None, Event("diff", 100, 90, 110), 0.5)
    absent_mechanism = match("mode 0", 100.0, Event("rise", 100, 90, 110), None, 0.5)
    assert not absent_dynamics.passed and absent_dynamics.reason == "dynamics event absent"
    assert not absent_mechanism.passed and absent_mechanism.reason == "mechanism event absent"
    far = match("mode 0", 100.0, Event("rise", 200, 190, 210), None, 0.5, require_mechanism=False)
    assert not far.passed and far.reason.startswith("relative error 1 >")


@pytest.mark.parametrize("steps", [(100.0, 105.0, float("nan")), (float("nan"), 105.0, 106.0), (None, 105.0, float("nan"))])
def test_a_match_with_a_step_that_is_not_a_number_fails_and_says_which(steps):
    predicted, observed, mechanism = steps
    m = match("mode 1", predicted, Event("rise", observed, 100, 110), Event("diff", mechanism, 100, 110), 0.15)
    assert not m.passed and m.reason.startswith("not a number")
    assert ("mechanism step" in m.reason) == (mechanism != mechanism) and ("predicted step" in m.reason) == (predicted is not None and predicted != predicted)


def test_report_json_carries_counted_claim_source_and_the_failed_rows(tmp_path):
    report = _report(
        match("mode 0", 100.0, Event("rise", 104, 100, 110), None, 0.1, require_mechanism=False, claim="rise at τ", source="Saxe 2014, eq. 7"),
        check("order", 0.0, "== 1", False, depends_on=("rotary positions",)),
        check("converged", 1.0, "== 1", True, role="precondition"),
    )
    data = json.loads(report.write(tmp_path).read_text())
    assert data["verdict"] == "partial"
    assert data["failed_claims"] == ["order"]
    assert data["failed_preconditions"] == []
    assert [m["counted"] for m in data["matches"]] == [True]
    assert [c["counted"] for c in data["checks"]] == [True, False]
    assert data["matches"][0]["source"] == "Saxe 2014, eq. 7"
    assert data["checks"][0]["depends_on"] == ["rotary positions"]
    md = (tmp_path / "report.md").read_text()
    claims, rest = md.split("## Preconditions and information (not counted)")
    assert "| order |" in claims and "| converged |" in rest and "| converged |" not in claims


def test_a_match_at_exactly_the_tolerance_passes_and_the_mechanism_is_measured_against_the_observed_step():
    at_tolerance = match("mode 0", 100.0, Event("rise", 115, 110, 120), None, 0.15, require_mechanism=False)
    assert at_tolerance.relative_error == 0.15 and at_tolerance.passed and at_tolerance.reason == ""
    # |150 − 100| / 100 = 0.5 (against the observed step), not |100 − 150| / 150 = 1/3
    late = match("mode 0", 100.0, Event("rise", 100, 90, 110), Event("diff", 150, 140, 160), 0.4)
    assert late.relative_error == 0.5 and not late.passed and late.reason == "relative error 0.5 > tolerance 0.4"


def test_relative_error_is_positive_against_a_negative_reference_and_refuses_a_zero_one():
    from bridge.match import relative_error

    assert relative_error(-90.0, -100.0) == pytest.approx(0.1, rel=1e-12)
    assert relative_error(-110.0, -100.0) == pytest.approx(0.1, rel=1e-12)
    with pytest.raises(ValueError, match="zero reference"):
        relative_error(1.0, 0.0)
    with pytest.raises(ValueError, match="zero reference"):
        match("mode 0", 0.0, Event("rise", 5, 4, 6), None, 0.1, require_mechanism=False)


def test_a_match_with_nothing_to_compare_fails_and_says_so():
    m = match("mode 0", None, Event("rise", 100, 90, 110), None, 0.5, require_mechanism=False)
    assert m.relative_error is None and not m.passed and m.reason == "no prediction to compare with"
    assert _report(m).verdict == "fail"


def test_numpy_values_are_plain_numbers_and_report_json_writes_no_nan_or_infinity(tmp_path):
    import numpy as np

    assert type(check("x", np.float32(0.5), "—", True).value) is float
    report = _report(
        match("mode 0", 100.0, Event("rise", 104, 100, 110), None, 0.1, require_mechanism=False, detail={"steps": [1.0, float("nan")], "rates": (float("inf"), 2.0)}),
        check("gap", np.float32("nan"), "< 0.5", False),
        check("ratio", float("-inf"), "> 1", False),
    )
    report.extra["curve"] = [0.5, float("inf")]

    def refuse(constant):
        raise AssertionError(f"{constant} in report.json")

    data = json.loads(report.write(tmp_path).read_text(), parse_constant=refuse)
    assert data["matches"][0]["detail"] == {"steps": [1.0, None], "rates": [None, 2.0]}
    assert [c["value"] for c in data["checks"]] == [None, None]
    assert data["curve"] == [0.5, None]


def test_not_reached_names_a_whole_number_of_steps():
    from bridge.report import not_reached, says_not_reached

    assert not_reached(2500.0) == "not reached within 2500 steps"
    assert says_not_reached("precondition", False, not_reached(2500.0, "accuracy 4%"))


def test_the_markdown_names_failed_claims_of_a_partial_report_and_marks_information_rows():
    partial = _report(check("a", 1.0, "== 1", True), check("b", 0.0, "== 1", False), check("shown", 0.3, "—", False, role="info")).to_markdown()
    assert "Claims that failed: b." in partial.splitlines()
    assert "| shown | 0.3000 | — | · | — |" in partial.splitlines()
    failed = _report(check("a", 0.0, "== 1", False)).to_markdown()
    assert "FAIL" in failed.splitlines()[0] and "Claims that failed" not in failed


def test_two_rows_with_one_key_are_refused_before_anything_is_written(tmp_path):
    rows = [check("gap", 0.1, "< 1", True), check("slope", -1.2, "<= -1", True), check("the gap", 2.0, "< 1", False, key="gap")]
    report = BridgeReport("toy", "quick", seed=3, checks=rows)
    with pytest.raises(ValueError, match=r"toy \[quick, seed 3\] has 2 rows with the key 'gap' \(rows 1 'gap' and 3 'the gap'\)"):
        report.write(tmp_path)
    assert list(tmp_path.iterdir()) == []
    keyed = BridgeReport("toy", "quick", seed=3, checks=[check("gap", 0.1, "< 1", True), check("gap", 2.0, "< 1", False, key="gap at the end")])
    assert json.loads(keyed.write(tmp_path).read_text())["verdict"] == "partial"  # one name, two keys: two rows


def test_two_rows_with_one_key_are_named_in_the_refusal_as_the_concepts_page_says():
    """Rows keyed apart from their names (a head's label in the name): the refusal names both rows, not only their places."""
    match_row = match("L1H3 final induction score", 100.0, Event("jump", step=104.0, lo=100.0, hi=108.0, observable="score"), None, 0.15, require_mechanism=False, key="induction head: final score")
    rows = [check("L0H1 previous-token score", 0.9, ">= 0.5", True, key="previous-token head"), check("L1H2 final induction score", 0.8, ">= 0.5", True, key="induction head: final score")]
    report = BridgeReport("toy", "quick", seed=0, matches=[match_row], checks=rows)
    with pytest.raises(ValueError) as refused:
        report.check_keys()
    assert str(refused.value) == (
        "report of toy [quick, seed 0] has 2 rows with the key 'induction head: final score' "
        "(rows 1 'L1H3 final induction score' and 3 'L1H2 final induction score'): give each row its own name or key"
    )


@pytest.mark.parametrize("value", [float("inf"), -float("inf"), float("nan"), np.float32("inf"), np.float64("nan"), torch.tensor(float("inf"))])
@pytest.mark.parametrize("role", ["claim", "precondition"])
def test_a_value_that_is_not_a_finite_number_never_passes_and_the_reason_names_it(value, role):
    row = check("final score", value, "> 0.85", True, role=role, reason="seen at step 3")
    assert not row.passed
    assert row.reason.startswith(f"the value is {float(value)}, not a finite number") and row.reason.endswith("seen at step 3")
    assert _report(check("other", 1.0, "== 1", True), row).verdict == ("partial" if role == "claim" else "invalid")


@pytest.mark.parametrize("value", [0.0, -1e300, 1e300, 5, True, "a, b", None])
def test_finite_numbers_and_values_that_are_not_numbers_keep_their_judgement(value):
    assert check("x", value, "—", True).passed and check("x", value, "—", True).reason == ""
    assert not check("x", value, "—", False).passed


def test_a_match_whose_dynamics_event_is_at_step_0_fails_with_a_reason_instead_of_dividing_by_zero():
    at_zero = match("frequency 3", 100.0, Event("loss below", 0.0, 0.0, 0.0), Event("norm half-rise", 95.0, 90.0, 100.0), 0.2)
    assert not at_zero.passed and at_zero.relative_error == 1.0
    assert at_zero.reason == "dynamics event at step 0: the mechanism's relative error to it is not defined"
    alone = match("frequency 3", 100.0, Event("loss below", 0.0, 0.0, 0.0), None, 0.2, require_mechanism=False)
    assert alone.relative_error == 1.0 and not alone.passed and alone.reason == "relative error 1 > tolerance 0.2"


def test_outside_names_the_values_beyond_a_range_by_more_than_rounding_in_any_shape():
    from bridge.match import ROUNDING, outside

    assert outside(np.array([[0.5, 1 + ROUNDING / 2], [1 + 4 * ROUNDING, -4 * ROUNDING]]), 0.0, 1.0) == [1 + 4 * ROUNDING, -4 * ROUNDING]
    assert outside([float("nan"), 0.0, 1.0], 0.0, 1.0) == [] and outside(torch.tensor([-1.5, 0.3]), -1.0, 1.0) == [-1.5]
    assert outside(2.0, 0.0, 1.0) == [2.0] and outside([], 0.0, 1.0) == []
