"""induction-heads case study: its detectors on known curves, its runs and offline job, its figures' parts, and the
quick preset end to end (slow)."""

import dataclasses
import json
import math
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import bridge
from bridge.config import ConfigError, TrainConfig, config_to_dict
from bridge.plots import new_figure, plot_induction_by_key, plot_loss_stages, plot_previous_token_coverage, plot_reach
from bridge.stages import Stage, llc_boundary, main_drop, rise_between
from case_studies import get_case_study, run_case_study
from helpers import judged_induction_rows, page_block, row_starting, run_python
from page_checks import induction_heads_page
from pinned import ADAMW_OFF_COVERED_MIN, ADAMW_OFF_UNCOVERED_MAX, ADAMW_REACH_RANGE, QUICK_OFF_COVERED, QUICK_OFF_COVERED_TOL, QUICK_PREV_ABLATION_NATS, QUICK_PREV_ABLATION_NATS_TOL, QUICK_REACH
from probes.induction import previous_token_demand

ROOT = Path(__file__).resolve().parents[2]
STUDY = get_case_study("induction-heads")
QUICK = STUDY.presets["quick"]


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


def test_the_control_is_the_main_run_with_one_layer():
    runs = STUDY.runs(QUICK, seed=4)
    assert list(runs) == ["main", "one_layer"]
    main, control = (config_to_dict(c) for c in runs.values())
    assert control["model"].pop("n_layers") == 1 and main["model"].pop("n_layers") == 2
    assert (main.pop("name"), control.pop("name")) == ("induction-heads", "induction-heads-control")
    assert main == control and runs["main"].seed == 4


def test_the_learning_coefficient_is_an_offline_job_every_100_steps_at_a_per_token_temperature():
    run = SimpleNamespace(steps=[0, 1, 2, 50, 100, 150, 200, 1000], config=SimpleNamespace(seed=7))
    (job,) = STUDY.offline(QUICK, "main", run)
    (tracker,) = job.trackers
    assert list(job.steps) == [0, 100, 200, 1000]
    assert tracker.max_examples == 32 and tracker.seed == 7 and not tracker.warn
    assert tracker.sgld.nbeta == pytest.approx(32 * 31 / math.log(32 * 31))  # 143.7 for 992 predicted tokens
    assert dataclasses.replace(tracker.sgld, nbeta=None) == QUICK.sgld
    assert STUDY.offline(QUICK, "one_layer", run) == []


def test_a_non_empty_out_is_refused_before_any_training(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="already exists"):
        run_case_study("induction-heads", "quick", tmp_path, seed=0, device="cpu", progress=False)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_a_bad_config_is_refused_before_any_training(tmp_path):
    bad = dataclasses.replace(QUICK, model=dataclasses.replace(QUICK.model, d_vocab=32))  # the task has 64 tokens
    with pytest.raises(ConfigError, match="does not fit task"):
        run_case_study("induction-heads", bad, tmp_path / "run", seed=0, device="cpu", progress=False)
    assert not (tmp_path / "run").exists()


def test_a_diverging_main_run_gets_an_invalid_report_before_the_control_trains(tmp_path):
    train = TrainConfig(optimizer="sgd", lr=1e4, momentum=0.9, steps=30, batch_size=64, schedule=QUICK.train.schedule)  # diverges in a few steps
    preset = dataclasses.replace(QUICK, train=train, n_eval=16, graph_every=20, graph_sequences=8)
    report = run_case_study("induction-heads", preset, tmp_path / "run", seed=0, device="cpu", progress=False)
    assert report.verdict == "invalid" and report.failed_preconditions == ["run 'main' trained without diverging"]
    written = json.loads((tmp_path / "run" / "report.json").read_text())
    assert written["verdict"] == "invalid" and 0 <= written["diverged"]["step"] < 30 and written["diverged"]["run"] == "main"
    assert "diverged at step" in written["checks"][0]["reason"]
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "failed"
    assert not (tmp_path / "run" / "runs").exists()


# ---------------------------------------------------------------- rows that can fail

T = np.arange(0.0, 2001.0, 50.0)


def _sigmoid(at: float, width: float = 15.0) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-(T - at) / width))


def _judge(**changes):
    return judged_induction_rows(T, QUICK.targets, **changes)


_row = row_starting


def test_every_counted_row_passes_on_a_run_with_the_phase_change_and_names_its_claim():
    rows, verdict = _judge()
    assert verdict == "pass"
    counted = [r for r in rows.values() if r.counted]
    assert len(counted) == 13 and all(r.passed and r.claim and r.source for r in counted)
    assert _row(rows, "one-layer control: max induction").role == "info"
    assert {name for name, r in rows.items() if r.depends_on == ("rotary positions", "SGD")} == {
        "L1H0 final induction score (off-position)", "mean-ablating L0H0: repeated-token loss increase (nats)",
        "mean-ablating L0H0: max layer-1 induction score (test and off-position)"}
    match = _row(rows, "induction-score jump")
    assert match.observed_step == pytest.approx(1300.0, abs=1.0) and match.mechanism_step == pytest.approx(1300.0, abs=25.0)


def test_a_run_without_induction_fails_every_match_and_says_which_event_is_absent():
    # the shape measured in a run where no induction head formed: layer-1 induction <= 0.34, the
    # previous-token score falling from 0.12 to 0.05, a loss falling steadily, no K-composition edge
    scores = np.zeros((len(T), 4)) + 0.05 + 0.29 * (T / T[-1])[:, None]
    rows, verdict = _judge(loss=4.16 * np.exp(-T / 2500.0), induction=scores, induction_off=scores,
                           previous_token=np.zeros((len(T), 4)) + np.linspace(0.12, 0.05, len(T))[:, None], edge_z_last=np.zeros((4, 4)))
    matches = [r for r in rows.values() if hasattr(r, "prediction")]
    assert [(m.passed, m.reason) for m in matches] == [(False, "dynamics event absent")] * 4
    phenomenon = rows["the phenomenon: an abrupt drop of the repeated-token loss"]
    assert verdict == "invalid" and not phenomenon.passed and phenomenon.reason == f"not reached within {int(T[-1])} steps: the repeated-token loss shows no abrupt drop"
    # with a real drop but no head forming, the three circuit matches miss their mechanism event
    rows, verdict = _judge(induction=scores, induction_off=scores, previous_token=np.zeros((len(T), 4)) + np.linspace(0.12, 0.05, len(T))[:, None], edge_z_last=np.zeros((4, 4)))
    assert [m.reason for m in rows.values() if hasattr(m, "prediction")][:3] == ["mechanism event absent"] * 3
    assert verdict == "partial"  # the control and ablation rows of this synthetic run still hold


@pytest.mark.parametrize(
    "changes, failing",
    [
        ({"induction": np.zeros((len(T), 4)) + 0.05 + 0.9 * _sigmoid(500.0)[:, None]}, ["induction-score jump", "a layer-1 head", "L0H0 previous-token score rises"]),
        ({"previous_token": np.zeros((len(T), 4)) + 0.05 + 0.9 * _sigmoid(300.0)[:, None]}, ["previous-token head forms"]),
        ({"previous_token": np.zeros((len(T), 4)) + 0.05 + 0.9 * _sigmoid(1700.0)[:, None]}, ["previous-token head forms", "L0H0 previous-token score rises"]),
        ({"k_composition": np.zeros((len(T), 4, 4)) + 0.1 + 0.3 * _sigmoid(400.0)[:, None, None]}, ["K-composition prev-token"]),
        ({"edge_z_first": np.full((4, 4), 8.0)}, ["K-composition prev-token", "K-composition edge"]),
        ({"llc": 16.0 + 12.0 / (1.0 + np.exp(-(T[T % 100 == 0] - 500.0) / 30.0))}, ["learning-coefficient stage boundary"]),
        ({"llc": 16.0 + 0.5 * np.sin(T[T % 100 == 0])}, ["learning-coefficient stage boundary"]),
        ({"induction": np.zeros((len(T), 4)) + 0.05 + 0.65 * _sigmoid(1300.0)[:, None]}, ["L1H0 final induction score (test)"]),
        ({"induction_off": np.zeros((len(T), 4)) + 0.8}, ["L1H0 final induction score (off-position)"]),
        ({"ablation_loss": 0.5}, ["mean-ablating L0H0: repeated-token loss increase"]),
        ({"ablation_induction": 0.5}, ["mean-ablating L0H0: max layer-1 induction score"]),
        ({"control_loss": np.linspace(3.0, 1.5, len(T))}, ["one-layer control: final repeated-token loss"]),
        ({"control_loss": 2.8 - 2.0 * _sigmoid(800.0)}, ["one-layer control: final repeated-token loss", "one-layer control: steepest fall"]),
    ],
    ids=["induction-early", "prev-early", "prev-late", "kcomp-early", "edge-at-init", "llc-early", "llc-noise", "induction-low", "off-low",
         "ablation-loss", "ablation-induction", "control-copies", "control-drops"],
)
def test_each_counted_row_fails_when_its_claim_is_false(changes, failing):
    rows, verdict = _judge(**changes)
    failed = [name for name, r in rows.items() if r.counted and not r.passed]
    assert sorted(failed) == sorted(next(name for name in rows if name.startswith(f)) for f in failing), failed
    assert verdict == "partial"


def test_the_control_loss_is_judged_against_the_task_scale():
    rows, _ = _judge(control_loss=np.full(len(T), 2.6))
    assert _row(rows, "one-layer control: final repeated-token").passed  # 2.6 > 0.6 ln 64 = 2.50
    from case_studies.induction_heads.verdict import judge, synthetic_observed

    big = judge(dataclasses.replace(synthetic_observed(T), control_loss=np.full(len(T), 2.6)), d_vocab=512, n_chains=2, targets=QUICK.targets)
    (row,) = [c for c in big.checks if c.name.startswith("one-layer control: final")]
    assert not row.passed and row.target == "> 0.6 ln V = 3.74"  # the same loss is no longer high for 512 tokens


# ---------------------------------------------------------------- figure parts


def test_plot_losses_draws_curves_bands_the_llc_on_a_twin_axis_and_its_boundary():
    fig, ax = new_figure()
    stages = [Stage("p", 0, 40, kind="plateau"), Stage("d", 40, 60, kind="drop")]
    curves = {"repeated": ([0, 50, 100], [4.1, 2.0, 0.3], "C0-"), "control": ([0, 50, 100], [4.1, 3.0, 2.9], "C3-")}
    plot_loss_stages(ax, curves, stages=stages, reference=(math.log(64), "ln V"), llc=([0, 100], [1.0, 30.0], [0.5, 2.0]), boundary=60.0, title="t")
    assert [line.get_label() for line in ax.lines][:3] == ["repeated", "control", "ln V"]
    np.testing.assert_allclose(ax.lines[1].get_ydata(), [4.1, 3.0, 2.9])
    assert ax.lines[2].get_ydata()[0] == pytest.approx(math.log(64)) and list(ax.lines[3].get_xdata()) == [60.0, 60.0]
    assert len(ax.patches) == 2  # one band per stage
    (twin,) = [a for a in fig.axes if a is not ax]
    np.testing.assert_allclose(np.asarray(twin.lines[0].get_ydata(), dtype=float), [1.0, 30.0])
    assert twin.containers[0].has_yerr
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["repeated", "control", "ln V", "LLC (right)"]


def _coverage() -> dict:
    return {
        "previous_token_by_position": {"L0H0": [0.9, 0.8, 0.2], "L0H1": [0.05, 0.1, 0.1]},
        "reach": 2,
        "demand": [0.5, 1.0, 0.25],
        "induction_test": {"by_key": [None, 0.9, 0.8, 0.1], "count": [0, 10, 10, 3]},
    }


def test_coverage_panels_draw_the_attention_by_position_and_by_key():
    fig, axes = new_figure(ncols=3)
    plot_reach(axes[0], {"test": ([0, 50, 100], [5, 20, 31])}, stages=[Stage("d", 40, 60, kind="drop")])
    assert list(axes[0].lines[0].get_ydata()) == [5, 20, 31] and len(axes[0].patches) == 1
    plot_previous_token_coverage(axes[1], _coverage())
    (total,) = [line for line in axes[1].lines if line.get_label() == "sum over heads"]
    np.testing.assert_allclose(total.get_ydata(), [0.95, 0.9, 0.3])
    assert list(axes[1].lines[0].get_xdata()) == [1, 2, 3] and axes[1].lines[-1].get_xdata()[0] == 2.5  # queries 1..3; the reach
    plot_induction_by_key(axes[2], _coverage(), "L1H3")
    keys = axes[2].lines[0]
    assert list(keys.get_xdata()) == [1, 2] and list(keys.get_ydata()) == [0.9, 0.8]  # key 3 seen < 5 times
    assert axes[2].get_title() == "L1H3 induction attention by key position"


# ---------------------------------------------------------------- end to end


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
    assert every["loss_increase"] >= max(r["loss_increase"] for r in subsets["subsets"]) - 0.3  # removing all of layer 0 hurts (about) the most
    return subsets


def _control_has_no_phase_change(data: dict) -> None:
    # its steepest fall of log repeated-token loss is a slow decline, over 10 times slower than the
    # two-layer run's drop (measured, seed 0: 0.65 vs 11.7 per 1000 steps in quick)
    main = max((s for s in data["stages"] if s["kind"] == "drop"), key=lambda s: -s["change"])
    control = data["control_largest_drop"]
    assert -control["change"] / (control["end"] - control["start"]) < 0.1 * -main["change"] / (main["end"] - main["start"])


@pytest.mark.slow
def test_quick_preset_end_to_end(quick_run):
    out, report = quick_run
    data = json.loads((out / "report.json").read_text())
    failed = [c["name"] for c in data["checks"] if not c["passed"]] + [m["prediction"] for m in data["matches"] if not m["passed"]]
    # the LLC rule (the end of the largest rise) takes a rise during the plateau: boundary 800 against the drop's
    # end 1700, error 0.53 (seed 0, on the CPU the page quotes)
    assert failed == ["learning-coefficient stage boundary at the end of the loss drop"], failed
    assert data["verdict"] == report.verdict == "partial"
    assert data["figures"] == [f"figures/{n}.png" for n in ("losses", "head_scores", "attention", "circuit", "coverage")]
    run = bridge.load_run(out)
    assert (run.info["case_study"], run.info["preset"]) == ("induction-heads", "quick")
    assert bridge.load_run(out / "runs" / "one_layer").config.model.n_layers == 1
    llc = run.observable("llc/mean")
    assert list(llc.index) == list(range(0, 2001, 100)) and llc.iloc[-1] > 10  # the offline job, every 100 steps
    graphs = json.loads((out / "circuits.json").read_text())
    assert sorted(map(int, graphs)) == list(range(0, 2001, 200))
    assert {e["type"] for e in json.loads((out / "events.json").read_text())} == {"stage", "event"}
    _control_has_no_phase_change(data)
    # rotary positions: layer-0 previous-token attention reaches the end of the context, and
    # induction finds its key on the off-position set (measured, seed 0: 0.80)
    coverage = data["previous_token_coverage"]
    covered = coverage["induction_off"]["covered"]
    assert coverage["reach"] == QUICK_REACH and abs(covered - QUICK_OFF_COVERED) <= QUICK_OFF_COVERED_TOL, (coverage["reach"], covered)
    # SGD grows one previous-token head: it is the only layer-0 head with score >= 0.3, and the
    # smallest set meeting both ablation targets (measured, seed 0: L0H1, +3.51 nats, induction 0.10)
    causal = data["causal"]
    subsets = _single_head_sets_agree_with_the_judged_ablation(causal)
    assert causal["all_prev_ablation_mean"]["heads"] == causal["prev_ablation_mean"]["heads"] == [[0, 1]]
    assert subsets["smallest_meeting_targets"]["heads"] == [[0, 1]]


@pytest.mark.slow
def test_the_pages_seed_0_row_is_that_of_the_quick_run(quick_run):
    induction_heads_page(quick_run[0])


@pytest.mark.slow
def test_the_figures_of_the_quick_run_show_the_judged_heads(quick_run, monkeypatch):
    import case_studies.induction_heads as module

    out, report = quick_run
    drawn = {}

    def keep(fig, path):
        drawn[Path(path).name] = fig
        return Path(path)

    monkeypatch.setattr(module, "save_figure", keep)
    runs = {"main": bridge.load_run(out), "one_layer": bridge.load_run(out / "runs" / "one_layer")}
    STUDY.figures(runs, report, QUICK)
    losses = drawn["losses.png"].axes[0]
    [legend] = drawn["losses.png"].legends  # under the panel, clear of the curves
    assert losses.get_legend() is None and [t.get_text() for t in legend.get_texts()][:4] == ["repeated tokens (test)", "repeated tokens (off-position)", "first occurrences (test)", "1-layer control, repeated"]
    np.testing.assert_allclose(losses.lines[0].get_ydata(), runs["main"].curve("icl/loss_repeated", split="test")[1])
    heads = drawn["head_scores.png"].axes[1]
    assert [t.get_text() for t in heads.get_yticklabels()] == [f"L{layer}H{head}" for layer in range(2) for head in range(4)]
    h = report.extra["induction_head"][1]  # the judged head (seed 0: L1H0 on the CPU the page quotes, L1H2 on another)
    final = next(c for c in report.checks if c.name == f"L1H{h} final induction score (test)")
    assert heads.images[0].get_array()[4 + h, -1] == pytest.approx(final.value)
    assert [ax.get_title() for ax in drawn["attention.png"].axes[:2]][1].startswith(f"L1H{h} (induction head)")
    assert [ax.get_title() for ax in drawn["circuit.png"].axes][:2] == ["step 0: K-composition z ≥ 5", "step 2000: K-composition z ≥ 5"]
    assert drawn["coverage.png"].axes[2].get_title() == f"L1H{h} induction attention by key position"


@pytest.mark.slow
def test_the_notebook_block_on_the_case_study_page_runs_on_the_quick_run(quick_run):
    code = page_block("case_studies/induction-heads.md", '"runs/induction"', quick_run[0], where="load_run")
    done = run_python(code + "\nassert loss - clean > 2.0 and float(induction_without.max()) < 0.3\n", 300)
    assert not done.stderr, done.stderr[-2000:]
    # seed 0: mean-ablating its one previous-token head costs about 3.5 nats
    head, nats = re.match(r"ablating L0H(\d): \+(\d+\.\d\d) nats", done.stdout).groups()
    assert abs(float(nats) - QUICK_PREV_ABLATION_NATS) <= QUICK_PREV_ABLATION_NATS_TOL, done.stdout


@pytest.mark.slow
def test_with_adamw_and_learned_positions_the_off_position_target_is_missed(tmp_path):
    from experiments.induction_variants import run_variants

    [row] = run_variants(["adamw"], [0], tmp_path / "variants")  # a sweep of one point: the base preset, seed 0
    out = tmp_path / "variants" / "points" / "seed=0"
    data = json.loads((out / "report.json").read_text())
    assert row["verdict"] == data["verdict"] and row["seed"] == 0
    assert data["preset"] == "custom" and all(m["passed"] for m in data["matches"]), data["matches"]
    _control_has_no_phase_change(data)
    # induction finds its key only where layer-0 previous-token attention reaches (query positions
    # up to 19 for seed 0; measured 0.89 inside vs 0.00 beyond)
    coverage = data["previous_token_coverage"]
    assert ADAMW_REACH_RANGE[0] <= coverage["reach"] <= ADAMW_REACH_RANGE[1]
    assert coverage["induction_off"]["covered"] > ADAMW_OFF_COVERED_MIN and coverage["induction_off"]["uncovered"] < ADAMW_OFF_UNCOVERED_MAX
    reach = bridge.load_run(out).observable("heads/previous_token_reach", layer=0, split="test")
    assert reach.iloc[-1] == coverage["reach"] and reach.iloc[0] <= 8  # the tracker and the analysis agree; 6 at init
    subsets = _single_head_sets_agree_with_the_judged_ablation(data["causal"])
    assert subsets["smallest_meeting_targets"]["heads"] == [[0, 2]]  # seed 0 has one dominant previous-token head, L0H2
    # seed 0 misses one target: the off-position induction score ends at 0.82 < 0.85
    failed = sorted(c["name"] for c in data["checks"] if not c["passed"])
    # (in ten seeds of ten only the off-position or the ablation checks fail; seed 0's score sits 0.02 below
    # the target, near the cross-machine spread, so which of them fail is not pinned)
    claims = data["failed_claims"]
    assert data["verdict"] == "partial" and claims and all("off-position" in f or "ablating" in f for f in claims), failed


def _circuit(edges, heads=4):
    import networkx as nx

    from probes.circuits import node_name

    g = nx.DiGraph()
    for layer in (0, 1):
        for head in range(heads):
            g.add_node(node_name(layer, head), layer=layer, head=head)
    for (a, b), z in edges.items():
        g.add_edge(node_name(0, a), node_name(1, b), k_comp_z=z)
    return g


def test_the_same_circuit_over_seeds_is_judged_up_to_head_relabelling(tmp_path):
    from case_studies.induction_heads import seed_circuits
    from probes.circuits import write_graphs

    circuits = {
        0: _circuit({(0, 2): 12.0, (1, 2): 2.0}),  # one previous-token head feeds the induction head
        1: _circuit({(3, 1): 9.0, (0, 0): 1.0}),  # the same wiring carried by other heads
        2: _circuit({(1, 3): 8.0, (2, 3): 7.0}),  # two previous-token heads: a different circuit
    }
    for seed, graph in circuits.items():
        (tmp_path / f"seed-{seed}").mkdir()
        write_graphs(tmp_path / f"seed-{seed}" / "circuits.json", {0: _circuit({}), 100: graph})
    outs = {s: tmp_path / f"seed-{s}" for s in circuits}
    same, feeding = seed_circuits({s: outs[s] for s in (0, 1)}, edge_z=5.0)
    assert same.passed and same.value == 1.0 and same.counted
    assert feeding.role == "info" and feeding.value == "seed 0: 1, seed 1: 1"
    same, feeding = seed_circuits(outs, edge_z=5.0)
    assert not same.passed and same.value == pytest.approx(2 / 3) and "seeds [2]" in same.reason
    assert feeding.value == "seed 0: 1, seed 1: 1, seed 2: 2"


def test_an_llc_rise_counts_only_beyond_three_standard_errors_of_the_chain_mean():
    """A spread of 0.5 over 4 chains is a standard error of 0.25 (3 s.e. = 0.75) and over 16 chains 0.125 (0.375):
    the LLC's rise stage of 0.41 is noise for the first and a stage boundary for the second."""
    from case_studies.induction_heads.verdict import dynamics, synthetic_observed

    obs = synthetic_observed(T)
    llc = 16.0 + 0.6 / (1.0 + np.exp(-(obs.llc_steps - 1350.0) / 30.0))
    found = {n: dynamics(obs.steps, obs.loss, obs.llc_steps, llc, np.full(len(llc), 0.5), d_vocab=64, n_chains=n) for n in (4, 16)}
    (rise,) = [s for s in found[4][3] if s.kind == "drop"]
    assert -rise.change == pytest.approx(0.409, abs=1e-3)
    assert found[4][2] is None and found[16][2].step == 1400.0


def test_a_layer_1_head_rises_inside_the_window_only_when_it_starts_and_ends_its_rise_there():
    from case_studies.induction_heads.verdict import induction_candidates

    t = np.arange(0.0, 1001.0, 50.0)
    slow = np.clip(0.1 + 0.8 * (t - 400) / 600, 0.1, 0.9)  # leaves 0.2 at 475, inside (400, 600), reaches 0.5 only at 700
    _, heads = induction_candidates(t, slow[:, None], slow[:, None], (400.0, 600.0), QUICK.targets)
    assert heads[0]["rise"] == pytest.approx((475.0, 700.0)) and not heads[0]["inside"] and heads[0]["met"] == 2
    early = np.clip(0.1 + 0.8 * (t - 200) / 600, 0.1, 0.9)  # leaves 0.2 at 275, before the window, reaches 0.5 at 500, inside it
    _, heads = induction_candidates(t, early[:, None], early[:, None], (400.0, 600.0), QUICK.targets)
    assert heads[0]["rise"] == pytest.approx((275.0, 500.0)) and not heads[0]["inside"]


def test_the_induction_head_is_the_one_meeting_most_targets_not_the_highest_scoring():
    from case_studies.induction_heads.verdict import induction_candidates

    t = np.arange(0.0, 1001.0, 50.0)
    early = np.where(t >= 200, 0.99, 0.1)  # the highest final score, but it rises before the window
    inside = np.where(t >= 500, 0.9, 0.1)
    head, heads = induction_candidates(t, np.stack([early, inside], 1), np.stack([early, inside], 1), (400.0, 600.0), QUICK.targets)
    assert head == 1 and [heads[h]["met"] for h in (0, 1)] == [2, 3]


def test_a_previous_token_head_forming_within_one_sample_after_the_induction_head_is_with_it():
    """The two half-rises are compared by their sampling brackets: 1321.7 (bracket 1300-1350) is with 1300 (1250-1300)."""
    rows, verdict = _judge(previous_token=np.zeros((len(T), 4)) + 0.05 + 0.9 * _sigmoid(1320.0)[:, None])
    row = _row(rows, "L0H0 previous-token score rises")
    assert row.passed and row.value.startswith("half-rise 1322 vs 1300") and verdict == "pass"


def test_the_previous_token_gain_is_measured_from_the_first_checkpoint():
    prev = np.where(T < 300, 0.45, 0.05) + 0.5 * _sigmoid(1300.0)  # starts at 0.45, falls to 0.05, forms to 0.55 with the drop
    rows, _ = _judge(previous_token=np.zeros((len(T), 4)) + prev[:, None] * np.array([1.0, 0.1, 0.1, 0.1]))
    row = _row(rows, "L0H0 previous-token score rises")
    assert not row.passed and row.value.endswith("gain 0.10")


def test_the_control_is_judged_on_its_final_loss_not_its_lowest():
    dip = 3.0 - 1.0 * np.exp(-(((T - 800.0) / 100.0) ** 2))  # down to 2.0 at step 800, back to 3.0 by the end
    rows, _ = _judge(control_loss=dip)
    row = _row(rows, "one-layer control: final repeated-token loss")
    assert row.value == pytest.approx(3.0, abs=1e-6) and row.passed
