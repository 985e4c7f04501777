"""What a notebook shows for a report, evaluated as a cell's last expression (IPython's display formatter): the
report's own markdown tables, with the verdict and the failed claims, and one short line of text, never the
dataclass or dict holding every row. ``run.report`` stays a dict (``run.report["verdict"]``, ``print`` shows
every field) read back as the report it was written from."""

import json

import pytest
from IPython.core.formatters import DisplayFormatter

from bridge import load_run
from bridge.match import Match, check
from bridge.report import BridgeReport, ReportJSON
from bridge.runs.checksums import record

CONFIG = {"kind": "not needed to read a report"}


def shown(obj) -> dict:
    """The display formatter's output for ``obj``, by MIME type."""
    data, _ = DisplayFormatter().format(obj)
    return data


def partial_report(**fields) -> BridgeReport:
    """A deep-linear report whose claims "mode 0 half-rise" (0.31 relative error, tolerance 0.15) and "modes in order"
    (0.3 for a target of 1) fail and "loss falls" passes."""
    rows = [check("modes in order", 0.3, "== 1", False), check("loss falls 0", 0.01, "<= 0.05", True)]
    match = Match("mode 0 half-rise", 100.0, "rise", 131.0, None, None, 0.31, 0.15, False, claim="Saxe 2014: mode 0 rises at its predicted step")
    return BridgeReport("deep_linear", "quick", 0, matches=[match], checks=rows, figures=["figures/timeline.png"], notes=["seed 0"], **fields)


def test_a_report_shows_its_tables_with_the_verdict_and_the_failed_claims_and_one_short_line():
    report = partial_report()
    data = shown(report)
    assert data["text/plain"] == "BridgeReport('deep_linear', 'quick', seed=0, verdict='partial', failed=['mode 0 half-rise', 'modes in order'])"
    md = data["text/markdown"].splitlines()
    assert md[0] == "# deep_linear — preset quick, seed 0: **PARTIAL**"
    assert "Claims that failed: mode 0 half-rise, modes in order." in md
    assert "| modes in order | 0.3000 | == 1 | ✘ | — |" in md  # by how much: its value and target
    assert "| mode 0 half-rise | 100.0 | rise | 131.0 | — | — | 0.310 | 0.15 | ✘ | — |" in md
    assert data["text/markdown"] == report.to_markdown(images=False)  # the report's own renderer, not a second one


def test_the_line_stays_short_however_many_rows_and_names_failed_preconditions():
    report = partial_report()
    report.checks = [check("converged", 0.4, "< 0.01", False, role="precondition"), *[check(f"row {i}", 1.0, "== 1", True) for i in range(60)]]
    text = shown(report)["text/plain"]
    assert "\n" not in text and 60 <= len(text) <= 160, text
    assert text == "BridgeReport('deep_linear', 'quick', seed=0, verdict='invalid', failed=['mode 0 half-rise'], failed_preconditions=['converged'])"
    assert "Invalid: preconditions failed: converged." in shown(report)["text/markdown"]


def test_in_a_notebook_figures_are_named_not_drawn_and_report_md_still_draws_them():
    report = partial_report()
    assert "- `figures/timeline.png`" in shown(report)["text/markdown"] and "![" not in shown(report)["text/markdown"]
    assert "![timeline](figures/timeline.png)" in report.to_markdown()


@pytest.fixture
def run_dir(tmp_path):
    """A run directory whose finished report set is :func:`partial_report` (report.json on record in run.json)."""
    folder = tmp_path / "run"
    folder.mkdir()
    partial_report(extra={"settings": ["train.lr=0.1"]}).write(folder)
    (folder / "run.json").write_text(json.dumps({"config": CONFIG, "status": "complete", "files": record(folder, ["report.json", "report.md"])}))
    return folder


def test_a_stored_report_is_a_dict_that_a_notebook_shows_as_the_report(run_dir):
    stored = load_run(run_dir).report
    written = json.loads((run_dir / "report.json").read_text())
    assert isinstance(stored, dict) and stored == written and stored["verdict"] == "partial" and stored["settings"] == ["train.lr=0.1"]
    assert repr(stored) == repr(written) and json.loads(json.dumps(stored)) == written  # print and json see the dict
    data = shown(stored)
    assert data["text/plain"] == "ReportJSON('deep_linear', 'quick', seed=0, verdict='partial', failed=['mode 0 half-rise', 'modes in order'])"
    assert data["text/markdown"] == partial_report().to_markdown(images=False)
    assert (run_dir / "report.md").read_text() == BridgeReport.from_dict(stored).to_markdown()  # the file's own tables


def test_a_dict_that_is_not_a_whole_report_shows_as_text_without_an_error():
    data = shown(ReportJSON({"verdict": "pass", "matches": [{"prediction": "no steps"}]}))
    assert "text/markdown" not in data
    assert data["text/plain"] == "ReportJSON(None, None, seed=None, verdict='pass', failed=[])"


def test_from_dict_gives_back_the_report_and_its_extra_fields():
    report = partial_report(extra={"settings": ["train.lr=0.1"], "crossover": {"alpha": 0.5}})
    back = BridgeReport.from_dict(report.to_dict())
    assert back == report and back.extra == {"settings": ["train.lr=0.1"], "crossover": {"alpha": 0.5}} and back.figures == ["figures/timeline.png"]
    with pytest.raises(KeyError, match="seed"):
        BridgeReport.from_dict({"case_study": "toy", "preset": "quick"})


def test_a_stored_report_with_an_infinite_tolerance_shows_its_tables():
    """JSON holds an infinite tolerance (an info row judged by nothing) as null: the stored report's tables still show."""
    info = Match("restricted-loss lag", None, "drop", 120.0, None, None, None, float("inf"), False, role="info")
    report = partial_report()
    report.matches.append(info)
    stored = ReportJSON(json.loads(json.dumps(report.to_dict())))
    md = shown(stored)["text/markdown"].splitlines()
    assert md[0] == "# deep_linear — preset quick, seed 0: **PARTIAL**"
    assert "| restricted-loss lag | — | drop | 120.0 | — | — | — | — | · | — |" in md  # the tolerance JSON left out: "—"
    assert "| restricted-loss lag | — | drop | 120.0 | — | — | — | inf | · | — |" in report.to_markdown().splitlines()


def test_an_error_drawing_a_whole_report_is_raised_not_hidden(monkeypatch):
    stored = ReportJSON(partial_report().to_dict())

    def broken(self, images=True):
        raise TypeError("a bug in the report's tables")

    monkeypatch.setattr(BridgeReport, "to_markdown", broken)
    with pytest.raises(TypeError, match="a bug in the report's tables"):
        stored._repr_markdown_()
