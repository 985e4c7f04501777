"""What a notebook shows for results over many runs (IPython's display formatter on a cell's last expression): a
seed report and a robustness table as their own markdown (the verdict, which runs and rows failed), and one short
line of text naming the failures, never the dataclass holding every row or the whole JSON."""

from pathlib import Path

from IPython.core.formatters import DisplayFormatter

from bridge.match import check
from bridge.report import BridgeReport
from bridge.runs.checksums import stamp
from bridge.runs.storage import json_bytes
from case_studies.generality.robustness import summarise as robustness_table
from case_studies.generality.robustness import to_markdown
from case_studies.generality.seeds import summarise
from case_studies.generality.tables import RobustnessJSON, WidthsRecord, load_robustness


def shown(obj) -> dict:
    data, _ = DisplayFormatter().format(obj)
    return data


def reports(n=3):
    """Seed 0 passes; in the others the claim "modes in order" fails (0.3 for a target of 1)."""
    return {s: BridgeReport("toy", "quick", s, checks=[check("modes in order", 1.0 if s == 0 else 0.3, "== 1", s == 0), check("loss falls", 0.01, "<= 0.05", True)]) for s in range(n)}


def test_a_seed_report_shows_its_tables_and_one_line_with_the_verdict_and_each_failed_claims_pass_fraction():
    report = summarise(reports(), "toy", "quick", 0.5, [check("same circuit in every seed", 0.5, "== 1", False)])
    data = shown(report)
    assert data["text/plain"] == ("SeedReport('toy', 'quick', seeds=[0, 1, 2], verdict='fail', pass_fraction=0.33, failed={'modes in order': 0.33}, "
                                  "failed_across_seeds=['same circuit in every seed'])")
    md = data["text/markdown"]
    assert md == report.to_markdown() and md.startswith("# toy — preset quick, seeds 0–2: **FAIL**")
    assert "| modes in order | claim | 0.5333 | 0.4041 | 0.3 | 1 | 0.33 |" in md.splitlines()


def test_a_robustness_table_read_back_shows_robustness_md_and_one_line_naming_the_failed_runs(tmp_path):
    table = robustness_table({"train.lr=0.1": reports()}, "toy", "quick") | {"markdown_stamped": True}
    data = json_bytes(table)
    (tmp_path / "robustness.json").write_bytes(data)
    (tmp_path / "robustness.md").write_text(stamp(to_markdown(table), "robustness.json", data))
    shown_table = shown(load_robustness(tmp_path))
    assert shown_table["text/markdown"] == to_markdown(table) and "| train.lr=0.1 | 1 | partial | modes in order |" in shown_table["text/markdown"]
    assert shown_table["text/plain"] == (f"RobustnessTable('toy', 'quick', path={str(tmp_path)!r}, passing=1 of 3, "
                                         "failed={'train.lr=0.1/seed-1': ['modes in order'], 'train.lr=0.1/seed-2': ['modes in order']})")


def test_the_table_run_robustness_returns_is_a_dict_shown_as_its_markdown_and_a_line_of_at_most_three_failed_runs():
    table = RobustnessJSON(robustness_table({"train.lr=0.1": reports(6), "train.lr=0.2": {0: "RuntimeError: diverged at step 6"}}, "toy", "quick"))
    assert table["pass_fraction"] == 1 / 7 and isinstance(table, dict)
    assert shown(table)["text/markdown"] == to_markdown(table)
    text = shown(table)["text/plain"]
    assert text == ("RobustnessJSON('toy', 'quick', passing=1 of 7, failed={'train.lr=0.1/seed-1': ['modes in order'], "
                    "'train.lr=0.1/seed-2': ['modes in order'], 'train.lr=0.1/seed-3': ['modes in order'], '...': '3 more'})")
    assert "'error'" not in text and len(text) < 250


def test_a_run_over_widths_shows_one_line():
    row = {"name": "same representation", "value": 0.91, "target": ">= 0.95", "passed": False, "claim": "x" * 200, "source": "y" * 200}
    text = shown(WidthsRecord(Path("w"), {"seeds": [0, 1], "widths": {"128": "pass", "64": "fail"}, "universality": row}))["text/plain"]
    assert text == "WidthsRecord('w', widths={64: 'fail', 128: 'pass'}, universality=0.91 (>= 0.95), passed=False)"
