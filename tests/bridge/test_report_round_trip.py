"""``report.json`` gives back the report it was written from: over random matches and checks (every role, passed
or not, NaN, infinite and huge values, unicode text, reasons saying "not reached") and extra fields, the file is
standard JSON whose verdict and failed rows are the report's, the rows read back (``stored_rows``) make a report
with the same rows and verdict, and the robustness table's reader sees the same verdict, rows and "not reached".
The verdict is the documented function of the rows: invalid on a failed precondition or no claim, else pass,
fail or partial by the claims alone."""

from __future__ import annotations

import dataclasses
import json
import re
from fractions import Fraction

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge import RunConfig, TrainConfig, load_run
from bridge.config import config_to_dict
from bridge.match import Check, Match
from bridge.models import DeepLinearConfig
from bridge.report import BridgeReport, not_reached, stored_rows
from bridge.runs.checksums import record
from bridge.tasks import LinearTeacherConfig
from case_studies.generality.robustness import StoredReport, StoredRow

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
CONFIG = config_to_dict(RunConfig(LinearTeacherConfig((2.0,), d_in=2, d_out=2), DeepLinearConfig(2, 4, 2), TrainConfig(steps=3)))
OWN = {"case_study", "preset", "seed", "matches", "checks", "verdict", "failed_claims", "failed_preconditions", "figures", "notes"}

text = st.text(max_size=5)
number = st.none() | st.floats() | st.integers(-(10**30), 10**30) | st.floats(width=32).map(np.float32)
reason = st.sampled_from(["", "dynamics event absent"]) | st.builds(not_reached, st.integers(0, 10**6), text)
role = st.sampled_from(["claim", "precondition", "info"])
common = {"role": role, "claim": text, "source": text, "depends_on": st.lists(text, max_size=2).map(tuple), "reason": reason, "key": text}
checks = st.builds(Check, name=text, value=number | text, target=text, passed=st.booleans(), **common)
step = st.none() | st.floats()
matches = st.builds(
    Match, prediction=text, predicted_step=step, dynamics_event=text, observed_step=step, mechanism=st.none() | text, mechanism_step=step,
    relative_error=step, tolerance=st.floats(0, 1), passed=st.booleans(), detail=st.dictionaries(text, number, max_size=2), **common,
)
extra = st.dictionaries(st.sampled_from(["settings", "diverged", "extended", "sweep"]), number | text | st.lists(number, max_size=2), max_size=2)


def standard_json(data: bytes):
    """The JSON in ``data``, refusing NaN and Infinity (not standard JSON)."""
    def refuse(constant):
        raise AssertionError(f"report.json holds {constant}, which is not standard JSON")

    return json.loads(data, parse_constant=refuse)


def documented_verdict(rows) -> str:
    claims = [r.passed for r in rows if r.role == "claim"]
    if any(r.role == "precondition" and not r.passed for r in rows) or not claims:
        return "invalid"
    return "pass" if all(claims) else "fail" if not any(claims) else "partial"


def run_with_report(folder, report):
    """A run directory whose finished report set is ``report`` (its report.json on record in run.json)."""
    folder.mkdir()
    report.write(folder)
    (folder / "run.json").write_text(json.dumps({"config": CONFIG, "status": "complete", "files": record(folder, ["report.json", "report.md"])}))
    return folder


@PROPERTY
@given(ms=st.lists(matches, max_size=3), cs=st.lists(checks, max_size=4), more=extra, keyed=st.integers(0, 3))
def test_report_json_gives_back_the_rows_and_verdict_it_was_written_from(tmp_path_factory, ms, cs, more, keyed):
    if keyed:  # most reports: rows of distinct keys
        ms, cs = [dataclasses.replace(m, key=f"m{i}") for i, m in enumerate(ms)], [dataclasses.replace(c, key=f"c{i}") for i, c in enumerate(cs)]
    report = BridgeReport("toy", "quick", 3, matches=ms, checks=cs, extra=more)
    assert report.verdict == documented_verdict(report.rows)
    keys = [r.row_key for r in report.rows]
    if len(set(keys)) < len(keys):
        with pytest.raises(ValueError, match="rows with the key"):
            report.to_dict()
        return
    folder = run_with_report(tmp_path_factory.mktemp("report") / "run", report)
    data = standard_json((folder / "report.json").read_bytes())
    assert (data["verdict"], data["failed_claims"], data["failed_preconditions"]) == (report.verdict, report.failed_claims, report.failed_preconditions)
    assert [r["counted"] for r in data["matches"] + data["checks"]] == [r.role == "claim" for r in report.rows]
    back = BridgeReport(data["case_study"], data["preset"], data["seed"], stored_rows(Match, data["matches"]), stored_rows(Check, data["checks"]), extra={k: data[k] for k in more})
    assert back.to_dict() == data  # the same rows (NaN and infinities already None), fields and verdict
    assert BridgeReport.from_dict(data) == back and BridgeReport.from_dict(data).extra == {k: data[k] for k in more}
    assert load_run(folder).report._repr_markdown_() == back.to_markdown(images=False)  # what a notebook shows of the stored report
    assert [(r.row_key, r.role, r.passed, r.reason) for r in back.rows] == [(r.row_key, r.role, r.passed, r.reason) for r in report.rows]
    assert (back.verdict, back.not_reached) == (report.verdict, report.not_reached)
    stored = StoredReport.read(folder)
    assert (stored.verdict, stored.failed_claims, stored.failed_preconditions, stored.not_reached) == (report.verdict, report.failed_claims, report.failed_preconditions, report.not_reached)
    assert stored.rows == [StoredRow(r.row_key, r.passed) for r in report.rows]


@PROPERTY
@given(cs=st.lists(checks, max_size=3), field=st.sampled_from(sorted(OWN)), value=number | text)
def test_an_extra_field_named_as_one_of_the_reports_own_is_refused(cs, field, value):
    """It replaced the report's own field in report.json: a "verdict" or "checks" its rows do not give."""
    report = BridgeReport("toy", "quick", 0, checks=[Check(f"c{i}", c.value, c.target, c.passed, c.role) for i, c in enumerate(cs)], extra={field: value})
    with pytest.raises(ValueError, match=rf"has extra fields named as its own \['{field}'\]"):
        report.to_dict()


def test_numpy_and_torch_values_that_are_not_finite_are_written_as_null(tmp_path):
    """_finite knew Python floats only: an np.float32 NaN in a match or its detail, or an array in the extra
    fields, was written as NaN or Infinity, which is not standard JSON."""
    row = Match("m", 1.0, "rise", np.float32("nan"), None, None, np.float32("inf"), 0.1, False, detail={"a": np.float32("nan"), "b": np.array([1.0, np.nan])})
    report = BridgeReport("toy", "quick", 0, matches=[row], extra={"sweep": {"t": torch.tensor([float("inf"), 2.0])}})
    data = standard_json(report.write(tmp_path).read_bytes())
    assert (data["matches"][0]["observed_step"], data["matches"][0]["relative_error"], data["matches"][0]["detail"]) == (None, None, {"a": None, "b": [1.0, None]})
    assert data["sweep"] == {"t": [None, 2.0]}


def test_the_robustness_reader_sees_a_match_whose_precondition_was_not_reached(tmp_path):
    """It looked at the checks alone, while the report's not_reached looks at every row."""
    late = Match("rise", 100.0, "not detected", None, None, None, None, 0.1, False, role="precondition", reason=not_reached(500, "no rise"))
    report = BridgeReport("toy", "quick", 0, matches=[late], checks=[Check("gap", 0.1, "< 1", True)])
    assert report.not_reached and report.verdict == "invalid"
    assert StoredReport.read(run_with_report(tmp_path / "run", report)).not_reached


key = st.text(max_size=3) | st.integers(-3, 3) | st.floats(allow_nan=False, width=16) | st.booleans() | st.none() | st.sampled_from(["1", "1.0", "true", "null", "-0.0"])


@PROPERTY
@given(table=st.dictionaries(key, st.integers(0, 9), max_size=5), depth=st.integers(0, 2))
def test_a_table_whose_keys_json_writes_as_one_text_is_refused_naming_its_path_and_no_entry_is_lost(tmp_path_factory, table, depth):
    """JSON writes a key as text: {1.0: a, "1.0": b} was written as {"1.0": b}, an entry lost without a word."""
    texts = [next(iter(json.loads(json.dumps({k: 0})))) for k in table]  # each key's text, as the json module writes it alone
    value, path = table, "sweep" + "[0].at" * depth
    for _ in range(depth):
        value = [{"at": value}]
    report = BridgeReport("toy", "quick", 0, extra={"sweep": value})
    if len(set(texts)) < len(texts):
        with pytest.raises(ValueError, match=rf"^report of toy \[quick, seed 0\]: {re.escape(path)} has the keys .* both written as \".*\" in JSON: give them distinct keys$"):
            report.write(tmp_path_factory.mktemp("report"))
        return
    data = standard_json(report.write(tmp_path_factory.mktemp("report")).read_bytes())["sweep"]
    for _ in range(depth):
        data = data[0]["at"]
    assert data == dict(zip(texts, table.values())) and len(data) == len(table)  # every entry, its key as text


@pytest.mark.parametrize(("value", "kind"), [(dataclasses.make_dataclass("D", [("x", int)])(1), "D"), ({2, 3}, "set"), (Fraction(1, 3), "Fraction"), (b"ab", "bytes")])
def test_a_value_json_cannot_hold_is_refused_naming_its_field_path(tmp_path, value, kind):
    """The error was `not JSON serialisable: D`: the type, not the field."""
    report = BridgeReport("toy", "quick", 0, extra={"sweep": {"points": [1.0, {"fit": value}]}})
    with pytest.raises(TypeError, match=rf"^report of toy \[quick, seed 0\]: sweep\.points\[1\]\.fit is a {kind}, which JSON cannot hold"):
        report.write(tmp_path)
    if kind != "D":  # a row is written through dataclasses.asdict, which makes a dataclass in it a table
        row = Match("m", 1.0, "rise", 2.0, None, None, 0.5, 0.1, True, detail={"why": [value]})
        with pytest.raises(TypeError, match=rf"matches\[0\]\.detail\.why\[0\] is a {kind}"):
            BridgeReport("toy", "quick", 0, matches=[row]).to_dict()
    with pytest.raises(TypeError, match=r"^report of toy \[quick, seed 0\]: sweep has the key \(1, 2\) \(tuple\)"):
        BridgeReport("toy", "quick", 0, extra={"sweep": {(1, 2): 0.5}}).to_dict()
    assert not (tmp_path / "report.json").exists()
