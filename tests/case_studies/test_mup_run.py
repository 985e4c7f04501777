"""The mup case study end to end on its quick preset, and the notebook block of its page."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import page_block, run_python
from page_checks import mup_page

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    from case_studies import run_case_study

    out = tmp_path_factory.mktemp("mup-quick") / "out"
    # one seed per grid point (the preset trains three and judges their mean): the whole pipeline at a third of the cost
    return out, run_case_study("mup", "quick", out, seed=0, device="cpu", progress=False, settings=["seeds=1"])


@pytest.mark.slow
def test_mup_quick_preset_end_to_end(quick_run):
    from case_studies import rebuild_report

    out, report = quick_run
    data = json.loads((out / "report.json").read_text())
    # measured with one seed per grid point, for seeds 0-2: seed 0 passes every row; seed 1 fails the μP transfer (its best
    # rate moves two grid steps, from near ties at both ends of the width range) and seed 2 "wider is better" (width 512
    # ends 3% above 256). Those two rows rest on differences of a few per cent, so which of them fail is not pinned; every
    # coordinate-check row passes with a margin of 0.05 or more in every seed
    fragile = ("μP: best learning rate moves", "μP: training loss at the best learning rate")
    assert data["verdict"] == report.verdict and report.verdict in ("pass", "partial")
    assert all(name.startswith(fragile) for name in report.failed_claims), report.failed_claims
    assert sum(c["counted"] for c in data["checks"]) == 12
    assert sorted(report.figures) == ["figures/cka.png", "figures/coordinate_check.png", "figures/lr_transfer.png"]
    assert all((out / f).stat().st_size > 10_000 for f in report.figures)
    again = rebuild_report(out)
    assert [(c.name, c.value) for c in again.checks] == [(c.name, c.value) for c in report.checks]


@pytest.mark.slow
def test_what_the_page_says_of_run_seed_0_is_what_the_quick_run_measures(quick_run):
    mup_page(json.loads((quick_run[0] / "report.json").read_text()))


@pytest.mark.slow
def test_the_notebook_block_on_the_case_study_page_runs_on_the_quick_run(quick_run):
    code = page_block("case_studies/mup.md", '"runs/mup"', quick_run[0])
    check = "\nassert len(best) == 5 and max(best) - min(best) <= 1 and abs(slopes['mup'][1]) <= 0.1\n"
    done = run_python(code + check, 600, cwd=ROOT)
    assert "μP best learning rate per width" in done.stdout
