"""Verdicts over counted rows: pass, partial, fail and invalid, and how rows are written."""

import json

import pytest

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
