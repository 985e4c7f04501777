"""induction-heads case study: analysis helpers on known curves, and the quick preset end to end (slow)."""

import json

import numpy as np
import pytest
import torch

import bridge
from case_studies.base import run_case_study
from bridge.stages import Stage
from case_studies.induction_analysis import llc_boundary, main_drop, previous_token_demand, rise_between
from helpers import timeout
from pinned import (
    ADAMW_OFF_COVERED_MIN,
    ADAMW_OFF_UNCOVERED_MAX,
    ADAMW_REACH_RANGE,
    ADAMW_SEED0_OFF_POSITION,
    ADAMW_SEED0_OFF_POSITION_TOL,
    ADAMW_SEED0_SMALLEST_SET,
    LAYER0_ALL_SHORTFALL_NATS,
    QUICK_OFF_COVERED,
    QUICK_OFF_COVERED_TOL,
    QUICK_PREV_ABLATION_NATS,
    QUICK_PREV_ABLATION_NATS_TOL,
    QUICK_REACH,
)


def test_rise_between_interpolates_last_exit_below_and_first_entry_above():
    t = np.array([0.0, 100, 200, 300, 400])
    v = np.array([0.1, 0.25, 0.15, 0.35, 0.95])  # dips back below 0.2 before the real rise
    lo, hi = rise_between(t, v, 0.2, 0.5)
    assert lo == pytest.approx(200 + 100 * (0.2 - 0.15) / (0.35 - 0.15))
    assert hi == pytest.approx(300 + 100 * (0.5 - 0.35) / (0.95 - 0.35))
    assert rise_between(t, np.full(5, 0.3), 0.2, 0.5) is None  # never above 0.5
    assert rise_between(t, np.array([0.3, 0.3, 0.4, 0.6, 0.9]), 0.2, 0.5) is None  # never below 0.2


def test_llc_boundary_is_the_end_of_the_main_rise():
    t = np.arange(0.0, 2001.0, 100.0)
    llc = 2.0 + 80.0 / (1.0 + np.exp(-(t - 650.0) / 40.0))  # rises around 650, flat after ~800
    event, stages = llc_boundary(t, llc)
    assert event is not None
    rise = main_drop(stages)
    assert rise.start <= 650.0 <= rise.end
    assert event.step == rise.end and 700.0 <= event.step <= 900.0
    assert event.lo == event.step - rise.end_uncertainty


def test_llc_boundary_of_a_later_drop_is_the_end_of_the_rise_during_it():
    # two stages: a large LLC rise around 500 (an earlier loss fall), a smaller one around 1500 (the drop)
    t = np.arange(0.0, 2001.0, 100.0)
    llc = 30.0 / (1.0 + np.exp(-(t - 500.0) / 40.0)) + 15.0 / (1.0 + np.exp(-(t - 1500.0) / 40.0))
    overall, stages = llc_boundary(t, llc)
    rises = [s for s in stages if s.kind == "drop"]
    assert len(rises) == 2 and rises[0].end < 1000.0 < rises[1].start
    assert overall.step == rises[0].end  # the largest rise
    during, _ = llc_boundary(t, llc, during=(1400.0, 1700.0))
    assert during.step == rises[1].end and 1500.0 <= during.step <= 1700.0
    assert llc_boundary(t, llc, during=(0.0, 1200.0))[0].step == rises[0].end  # only the first overlaps
    assert llc_boundary(t, llc, during=(1000.0, 1100.0))[0] is None  # a plateau of the LLC: no boundary


def test_main_drop_picks_the_largest_decrease():
    stages = [Stage("a", 0, 1, kind="drop", change=-0.2), Stage("b", 1, 2, kind="plateau", change=-5.0), Stage("c", 2, 3, kind="drop", change=-1.5)]
    assert main_drop(stages).name == "c"
    assert main_drop([Stage("p", 0, 1, kind="plateau")]) is None


def test_previous_token_demand_counts_the_keys_induction_needs():
    # sequence 0: prefix 0, block 3 -> keys 1..3; sequence 1: prefix 2, block 4 -> keys 3..6
    demand = previous_token_demand(torch.tensor([0, 2]), torch.tensor([3, 4]), n_ctx=8)
    assert demand.tolist() == [0.0, 0.5, 0.5, 1.0, 0.5, 0.5, 0.5, 0.0]


def test_a_non_empty_out_is_refused_before_any_training(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="already exists"):
        run_case_study("induction-heads", "quick", tmp_path, seed=0, device="cpu", progress=False)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
    assert not list(tmp_path.parent.glob(f".{tmp_path.name}.one_layer.staging"))


def test_a_failed_main_run_leaves_no_half_trained_control_beside_it(tmp_path):
    import dataclasses

    from case_studies.induction_heads import run_induction_heads
    from case_studies.induction_variants import issue_variant

    # SGD at lr 1e4 diverges within a few steps, while the control trains in its own process
    preset = dataclasses.replace(issue_variant(optimizer="sgd", lr=1e4, momentum=0.9, steps=30), n_eval=16, graph_every=20, graph_sequences=8)
    with pytest.raises(FloatingPointError, match="lower train.lr"):
        run_induction_heads(preset, tmp_path / "run", seed=0, device="cpu", progress=False)
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "failed"
    assert [p.name for p in tmp_path.iterdir()] == ["run"]  # the control's staging directory is gone


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("induction") / "run"
    report = run_case_study("induction-heads", "quick", out, seed=0, device="cpu", progress=False)
    return out, report


def _single_head_sets_agree_with_the_judged_ablation(causal: dict) -> dict:
    """Every set of layer-0 heads was mean-ablated together; the judged head's set gives the judged numbers."""
    subsets = causal["prev_ablation_subsets"]
    assert len(subsets["subsets"]) == 15
    by_heads = {tuple(map(tuple, r["heads"])): r for r in subsets["subsets"]}
    judged = causal["prev_ablation_mean"]
    single = by_heads[tuple(map(tuple, judged["heads"]))]
    assert single["loss_increase"] == pytest.approx(judged["loss_increase"], rel=1e-5)
    assert single["max_layer1_induction"] == pytest.approx(max(max(v) for v in judged["layer1_induction"].values()), rel=1e-5)
    every = by_heads[tuple((0, h) for h in range(4))]
    assert every["loss_increase"] >= max(r["loss_increase"] for r in subsets["subsets"]) - LAYER0_ALL_SHORTFALL_NATS  # removing all of layer 0 hurts (about) the most
    return subsets


def _control_has_no_phase_change(data: dict) -> None:
    # its steepest fall of log repeated-token loss is a slow decline, over 10 times slower than the
    # two-layer run's drop (measured, seed 0: 0.53 vs 20 per 1000 steps in quick, 0.56 vs 11.9 in quick-adamw)
    main = max((s for s in data["stages"] if s["kind"] == "drop"), key=lambda s: -s["change"])
    control = data["control_largest_drop"]
    assert -control["change"] / (control["end"] - control["start"]) < 0.1 * -main["change"] / (main["end"] - main["start"])


@pytest.mark.slow
def test_quick_preset_end_to_end(quick_run):
    out, report = quick_run
    data = json.loads((out / "report.json").read_text())
    failed = [c["name"] for c in data["checks"] if not c["passed"]] + [m["prediction"] for m in data["matches"] if not m["passed"]]
    assert data["verdict"] == report.verdict == "pass", failed
    for name in ("losses.png", "head_scores.png", "attention.png", "circuit.png", "coverage.png"):
        assert (out / "figures" / name).stat().st_size > 10_000
    assert (out / "runs" / "one_layer" / "run.json").exists() and (out / "circuits.json").exists()
    _control_has_no_phase_change(data)
    # rotary positions: layer-0 previous-token attention reaches the end of the context, and
    # induction finds its key on the off-position set
    coverage = data["previous_token_coverage"]
    covered = coverage["induction_off"]["covered"]
    assert coverage["reach"] == QUICK_REACH and abs(covered - QUICK_OFF_COVERED) <= QUICK_OFF_COVERED_TOL, (coverage["reach"], covered)
    # SGD grows one previous-token head (every seed of ten): the judged head is the only layer-0 head
    # with score >= 0.3 and the smallest set meeting both ablation targets
    causal = data["causal"]
    subsets = _single_head_sets_agree_with_the_judged_ablation(causal)
    judged = causal["prev_ablation_mean"]["heads"]
    assert judged == [data["previous_token_head"]]
    assert causal["all_prev_ablation_mean"]["heads"] == judged == subsets["smallest_meeting_targets"]["heads"]
    nats = causal["prev_ablation_mean"]["loss_increase"]
    assert abs(nats - QUICK_PREV_ABLATION_NATS) <= QUICK_PREV_ABLATION_NATS_TOL, nats


@pytest.fixture(scope="module")
def adamw_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("induction-adamw") / "run"
    report = run_case_study("induction-heads", "quick-adamw", out, seed=0, device="cpu", progress=False)
    return out, report


@pytest.mark.slow
def test_the_issues_adamw_configuration_misses_the_off_position_target(adamw_run):
    out, report = adamw_run
    data = json.loads((out / "report.json").read_text())
    assert all(m["passed"] for m in data["matches"]), data["matches"]
    _control_has_no_phase_change(data)
    # why the off-position check misses: induction finds its key only where layer-0 previous-token
    # attention reaches (query positions up to 18-19), and not beyond
    coverage = data["previous_token_coverage"]
    assert ADAMW_REACH_RANGE[0] <= coverage["reach"] <= ADAMW_REACH_RANGE[1], coverage["reach"]
    off = coverage["induction_off"]
    assert off["covered"] > ADAMW_OFF_COVERED_MIN and off["uncovered"] < ADAMW_OFF_UNCOVERED_MAX, off
    reach = bridge.load_run(out).observable("heads/previous_token_reach", layer=0, split="test")
    assert reach.iloc[-1] == coverage["reach"] and reach.iloc[0] <= 8  # the tracker and the analysis agree; 6 at init (untrained)
    subsets = _single_head_sets_agree_with_the_judged_ablation(data["causal"])
    assert subsets["smallest_meeting_targets"]["heads"] == ADAMW_SEED0_SMALLEST_SET  # seed 0 has one dominant previous-token head
    # the configuration fails (ten seeds of ten), only on the off-position and ablation targets; seed 0
    # misses the off-position one (its dominant head passes both ablation targets, as above)
    failed = sorted(c["name"] for c in data["checks"] if not c["passed"])
    assert report.verdict == "fail" and failed and all("off-position" in f or "mean-ablating" in f for f in failed), failed
    final_off = next(c["value"] for c in data["checks"] if c["name"].endswith("final induction score (off-position)"))
    assert abs(final_off - ADAMW_SEED0_OFF_POSITION) <= ADAMW_SEED0_OFF_POSITION_TOL and any("off-position" in f for f in failed), (final_off, failed)


@pytest.mark.slow
def test_the_notebook_block_on_the_case_study_page_runs_on_the_quick_run(quick_run):
    import re
    import subprocess
    import sys
    from pathlib import Path

    page = Path(__file__).resolve().parents[1] / "docs" / "case_studies" / "induction-heads.md"
    (block,) = [b for b in re.findall(r"```python\n(.*?)```", page.read_text(), re.S) if "load_run" in b]
    code = block.replace('"runs/induction"', repr(str(quick_run[0])))
    done = subprocess.run([sys.executable, "-c", code + "\nassert loss - clean > 2.0 and float(induction_without.max()) < 0.3\n"], capture_output=True, text=True, timeout=timeout(300))
    assert done.returncode == 0 and not done.stderr, done.stderr[-2000:]
    head, nats = re.match(r"ablating L0H(\d+): \+(\d+\.\d\d) nats; layer-1 induction ", done.stdout).groups()
    # the page's code measures what the report judged (same head, same checkpoint and test sequences) ...
    judged = json.loads((quick_run[0] / "report.json").read_text())["causal"]["prev_ablation_mean"]
    assert judged["heads"] == [[0, int(head)]]
    assert float(nats) == pytest.approx(judged["loss_increase"], abs=0.006)  # printed with two decimals
    # ... and the page quotes it with the precision that holds across seeds and CPUs
    assert f"about +{QUICK_PREV_ABLATION_NATS:.1f} nats" in block
    assert abs(float(nats) - QUICK_PREV_ABLATION_NATS) <= QUICK_PREV_ABLATION_NATS_TOL, done.stdout


def test_preset_variants_change_one_setting_each_and_tabulate(tmp_path):
    import dataclasses

    from case_studies.induction_heads import QUICK_ADAMW
    from case_studies.induction_variants import VARIANTS, main, issue_variant, run_variant, summary_table

    def settings(preset):
        return {**dataclasses.asdict(preset.task), **dataclasses.asdict(preset.model), **dataclasses.asdict(preset.train)}

    base = settings(QUICK_ADAMW)
    changed = {name: {k for k, v in settings(preset).items() if base[k] != v} for name, preset in VARIANTS.items()}
    assert changed == {"quick-adamw": set(), "sgd-rotary": {"optimizer", "lr", "momentum", "positional_embedding"}, "rotary": {"positional_embedding"}, "two-heads": {"n_heads", "d_head"}, "weight-decay": {"weight_decay"}, "small-init": {"init_range"}, "sgd": {"optimizer", "lr", "momentum"}, "bigram": {"background"}}
    with pytest.raises(TypeError, match="no setting 'n_head'"):
        issue_variant(n_head=2)
    with pytest.raises(KeyError, match="unknown variant 'alibi'"):
        run_variant("alibi", 0, "unused")
    unfinished = tmp_path / "rotary" / "seed_0"
    unfinished.mkdir(parents=True)
    (unfinished / "run.json").write_text("{}")
    with pytest.raises(FileExistsError, match="unfinished run of variant 'rotary'"):
        run_variant("rotary", 0, tmp_path)
    with pytest.raises(SystemExit, match="error: .*unfinished run"):
        main(["--variant", "rotary", "--seeds", "0", "--out", str(tmp_path)])
    assert (unfinished / "run.json").read_text() == "{}"
    row = {"variant": "rotary", "seed": 1, "verdict": "fail", "failed": ["x"], "checks": {"L1H0 final induction score (off-position)": 0.9301, "mean-ablating L0H1: repeated-token loss increase (nats)": 1.4}}
    table = summary_table([row]).splitlines()
    assert table[2] == "| rotary | 1 | fail | — | 0.930 | 1.400 | — | x |"


@pytest.mark.slow
def test_the_bigram_snippet_on_the_case_study_page_runs(tmp_path):
    import re
    import subprocess
    import sys
    from pathlib import Path

    page = Path(__file__).resolve().parents[1] / "docs" / "case_studies" / "induction-heads.md"
    (block,) = [b for b in re.findall(r"```python\n(.*?)```", page.read_text(), re.S) if "issue_variant" in b]
    assert "steps=6000" in block and block.count('"runs/bigram-6000"') == 2
    out = tmp_path / "bigram"
    code = block.replace("steps=6000", "steps=100").replace('"runs/bigram-6000"', repr(str(out)))  # the page's code, shortened
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout(600), cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((out / "report.json").read_text())
    floors = report["bigram_background"]
    assert report["preset_config"]["task"]["background"] == "bigram" and floors["bayes"] < floors["chain"] < 4.16


def test_an_unguarded_script_gets_a_clear_error_when_the_control_cannot_start(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    script = tmp_path / "unguarded.py"  # no `if __name__ == "__main__":`: the control's spawned process re-runs it and dies
    script.write_text(
        "import dataclasses, sys\n"
        "from case_studies.induction_heads import run_induction_heads\n"
        "from case_studies.induction_variants import issue_variant\n"
        "preset = dataclasses.replace(issue_variant(steps=20), n_eval=16, graph_every=20, graph_sequences=8)\n"
        "run_induction_heads(preset, sys.argv[1], seed=0, device='cpu', progress=False)\n"
    )
    out = tmp_path / "run"
    done = subprocess.run([sys.executable, str(script), str(out)], capture_output=True, text=True, timeout=timeout(300), cwd=Path(__file__).resolve().parents[1])
    assert done.returncode != 0
    assert done.stderr.strip().splitlines()[-1].startswith("RuntimeError: the one-layer control's process died") and '__name__ == "__main__"' in done.stderr
    assert (out / "run.json").exists() and not (out / "runs").exists()
    assert not list(tmp_path.glob(".run.one_layer.staging"))
