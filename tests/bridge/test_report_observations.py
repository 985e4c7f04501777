"""``BridgeReport.observations``: what the analysis measured, kept in memory for the figures and written nowhere
(``report.json``, ``report.md``, the report's repr and equality); a report read back from disk has none, and
``observed`` measures again only then."""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np

from bridge.match import Check, Match, check
from bridge.report import BridgeReport, stored_rows


class Probe:
    """An object JSON cannot hold, as an analysis's observations may be (a model, a fitted estimator)."""


def _report(**kw) -> BridgeReport:
    rows = [check("gap", 0.1, "< 1", True), check("converged", 2.0, "< 1", False, role="precondition")]
    return BridgeReport("toy", "quick", 3, checks=rows, figures=["figures/a.png"], notes=["a note"], extra={"sweep": [1.0, 2.5]}, **kw)


def test_observations_never_reach_report_json_or_report_md_and_a_report_read_back_has_none(tmp_path):
    kept = {"kernel": np.eye(4), "probe": Probe(), "fraction": Fraction(1, 3), "bits": {1, 2}}
    report, plain = _report(observations=kept), _report()
    (tmp_path / "kept").mkdir(), (tmp_path / "plain").mkdir()
    report.write(tmp_path / "kept"), plain.write(tmp_path / "plain")
    for name in ("report.json", "report.md"):
        assert (tmp_path / "kept" / name).read_bytes() == (tmp_path / "plain" / name).read_bytes()
    data = json.loads((tmp_path / "kept" / "report.json").read_text())
    assert set(data) == {"case_study", "preset", "seed", "matches", "checks", "verdict", "failed_claims", "failed_preconditions", "figures", "notes", "sweep"}
    assert report.observations is kept and report.observations["probe"] is kept["probe"]  # neither copied nor converted by writing
    assert report == plain and "observations" not in repr(report) and "Probe" not in repr(report)
    back = BridgeReport(data["case_study"], data["preset"], data["seed"], stored_rows(Match, data["matches"]), stored_rows(Check, data["checks"]))
    assert back.observations is None and back.verdict == report.verdict == "invalid"


def test_observed_measures_only_when_the_analysis_kept_nothing():
    calls = []

    def measure() -> dict:
        calls.append(1)
        return {"mse": 0.25}

    assert _report(observations={"mse": 0.5}).observed(measure) == {"mse": 0.5} and calls == []
    assert _report().observed(measure) == {"mse": 0.25} and calls == [1]
