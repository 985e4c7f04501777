"""The deep-linear page's results: its table and differentiation steps are what seeds 0-2 of the quick preset give."""

import re
from pathlib import Path

import numpy as np
import pytest

from bridge import load_run

PAGE = Path(__file__).resolve().parents[2] / "docs" / "case_studies" / "deep-linear.md"


def _page_results() -> tuple[list[str], dict[int, list[str]]]:
    text = PAGE.read_text().split("## Results (quick preset)")[1].split("Much of the median error")[0]
    rows = [line for line in text.splitlines() if re.match(r"\| \d \|", line)]
    steps = {int(s): list(rest) for s, *rest in re.findall(r"seed (\d) at ([\d.]+) / ([\d.]+) / ([\d.]+) / ([\d.]+)", " ".join(text.split()))}
    return rows, steps


def _row(seed: int, report: dict) -> str:
    """A row of the page's table from a seed's report.json."""
    errors = [m["relative_error"] for m in report["matches"]]
    claims = [c for c in report["checks"] if c["role"] == "claim"]
    level, worst = max(((int(c["name"].split()[1]), c["value"]) for c in claims if "closed-form" in c["name"]), key=lambda lv: lv[1])
    return (f"| {seed} | {report['verdict']} | {sum(m['passed'] for m in report['matches'])}/{len(errors)} | "
            f"{sum(c['passed'] for c in claims)}/{len(claims)} | {max(errors):.3f} / {np.median(errors):.3f} | {worst:.3f} ({level}) |")


@pytest.mark.slow
def test_the_results_table_and_differentiation_steps_are_those_of_seeds_0_to_2(tmp_path):
    from case_studies.generality.seeds import run_seeds

    run_seeds("deep-linear", "quick", tmp_path, seeds=range(3), device="cpu", progress=False)
    rows, steps = _page_results()
    assert rows == [_row(s, load_run(tmp_path / f"seed-{s}").report) for s in range(3)]
    for s in range(3):
        events = {e["name"]: e["step"] for e in load_run(tmp_path / f"seed-{s}").events}
        assert steps[s] == [f"{events[f'level {k} differentiation']:.1f}" for k in range(1, 5)]
