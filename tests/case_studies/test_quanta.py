"""The quanta case study: every counted row fails on synthetic observables where its claim is false; one quick run."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

from bridge.config import ConfigError, ScheduleConfig, TrainConfig
from bridge.tasks.sparse_parity import SparseParityConfig
from bridge.theory.quanta import data_exponent, zipf_frequencies
from case_studies import get_case_study
from case_studies.quanta import PRESETS, QuantaPreset, Targets
from case_studies.quanta.analysis import (
    SweepObservables,
    WidthCurves,
    fit_power_law,
    judge,
    predicted_from_learned,
)
from page_checks import quanta_page

LN2 = math.log(2)
ALPHA, N_TASKS = 0.4, 12
STEPS = np.arange(0.0, 40001.0, 50.0)


def _drops(times, width_frac=0.02):
    """Loss curves ``(step, subtask)`` of logistic drops from ln 2 at ``times``; 0.9 → 0.1 of chance takes ``width_frac`` × time."""
    scale = np.array([width_frac * t / (2 * math.log(9)) for t in times])
    z = np.clip((STEPS[:, None] - np.array(times)[None, :]) / scale[None, :], -50, 50)
    return LN2 / (1 + np.exp(z))


def _curves(width, losses, p, share=None, mean=None):
    mean = (losses * p).sum(1) if mean is None else mean
    return WidthCurves(width, 30 * width, STEPS, losses, mean, share)


def _synthetic(order=None, width_frac=0.02, share_peak=0.9, share_lead=0.5, counts=(1, 2, 4, 6, 8, 11), final_exponent=ALPHA, step_mean=None):
    """A sweep where every claim holds, unless an argument breaks one.

    Main run: subtask k (rank order, or ``order``) emerges at ``400 (k + 1)^{1.4}``; its relevant-bit share
    rises from chance to ``share_peak`` ending ``share_lead`` × time before the drop. Narrower widths
    learn the ``counts`` most frequent subtasks with final mean loss ∝ N^{−final_exponent}."""
    p = zipf_frequencies(ALPHA, N_TASKS)
    rank = np.arange(N_TASKS) if order is None else np.asarray(order)
    times = 400.0 * (rank + 1.0) ** (1 + ALPHA)
    losses = _drops(times, width_frac)
    chance = 3 / 10
    rise = np.clip((STEPS[:, None] - (1 - share_lead - 0.3) * times) / (0.3 * times), 0, 1)
    share = chance + (share_peak - chance) * rise
    curves = []
    for i, k in enumerate(counts):
        final = np.full(N_TASKS, LN2)
        final[:k] = 1e-3
        narrow = np.tile(final, (len(STEPS), 1))
        mean = np.full(len(STEPS), 2.0 * (30 * 2.0 ** (i + 3)) ** -final_exponent)
        curves.append(_curves(2 ** (i + 3), narrow, p, mean=mean))
    main_mean = (losses * p).sum(1) if step_mean is None else step_mean(losses, p)
    curves.append(_curves(2 ** (len(counts) + 3), losses, p, share=share, mean=main_mean))
    return SweepObservables(ALPHA, p, chance, curves, {"sharing": {"units_per_subtask": 3.0, "monogenic_share": 1.0}})


def _row(report, start):
    rows = [r for r in report.rows if r.name.startswith(start)]
    assert len(rows) == 1, [r.name for r in report.rows]
    return rows[0]


def _power_in_window(exponent):
    """A main-run mean loss ∝ S^{−exponent} (the subtask curves unchanged)."""

    def mean(losses, p):
        return 0.5 * np.maximum(STEPS, 1.0) ** -exponent

    return mean


ROWS = {
    "order": "Spearman ρ",
    "abrupt": "largest drop width",
    "hidden": "least relevant-bit share",
    "growth": "quanta learned by width",
    "params": "exponent of final mean loss vs parameters",
    "steps": "exponent of mean loss vs steps",
    "bridge": "largest |predicted − measured|",
}


def test_every_counted_row_passes_where_its_claim_holds():
    report = judge(_synthetic(step_mean=None), Targets())
    for key in ("order", "abrupt", "hidden", "growth", "params", "bridge"):
        assert _row(report, ROWS[key]).passed, (key, _row(report, ROWS[key]))
    assert not report.failed_preconditions
    steps = judge(_synthetic(step_mean=_power_in_window(data_exponent(ALPHA))), Targets())
    assert _row(steps, ROWS["steps"]).passed
    assert _row(steps, ROWS["steps"]).value == pytest.approx(data_exponent(ALPHA), rel=1e-6)
    assert {r.name for r in report.rows if r.counted} == {_row(report, v).name for v in ROWS.values()}


@pytest.mark.parametrize(
    ("key", "broken"),
    [
        ("order", {"order": np.arange(N_TASKS)[::-1]}),  # rarest first
        ("abrupt", {"width_frac": 1.5}),  # gradual falls
        ("hidden", {"share_peak": 0.5}),  # the share never reaches 2× chance
        ("hidden", {"share_lead": -0.4}),  # it rises only after the drop
        ("growth", {"counts": (4, 6, 3, 8, 9, 11)}),  # a wider model learns fewer
        ("params", {"final_exponent": 2 * ALPHA}),
        ("steps", {"step_mean": _power_in_window(2 * data_exponent(ALPHA))}),
        ("bridge", {"step_mean": lambda losses, p: (losses * p).sum(1) * 1.2}),  # loss not made of the quanta
        ("bridge", {"width_frac": 1.5}),  # overlapping drops: quanta are rarely learned-or-not, the premise fails
    ],
)
def test_each_counted_row_fails_where_its_claim_is_false(key, broken):
    row = _row(judge(_synthetic(**broken), Targets()), ROWS[key])
    assert row.counted and not row.passed, row


def test_preconditions_make_the_verdict_invalid():
    obs = _synthetic()
    obs.curves[-1].losses[:] = LN2  # the widest model learns nothing
    report = judge(obs, Targets())
    assert report.verdict == "invalid" and "subtasks learned by the widest model" in report.failed_preconditions
    assert report.not_reached  # more steps may help: `--budget` trains on
    obs = _synthetic()
    obs.curves[0].losses[-1, 5] = 1e-3  # one more quantum in the last quarter: not converged
    report = judge(obs, Targets())
    row = next(c for c in report.checks if c.name.startswith("width 8:"))
    assert row.name in report.failed_preconditions and report.not_reached
    assert row.reason.startswith(f"not reached within {int(obs.curves[0].steps[-1])} steps: the count of quanta still moves")
    assert not judge(_synthetic(), Targets()).not_reached


def test_power_law_fit_and_prediction_from_learned_quanta():
    x = np.array([10.0, 20, 40, 80, 160])
    s, lo, hi = fit_power_law(x, 3 * x**-0.4 * np.array([1.02, 0.98, 1.01, 0.99, 1.0]))
    assert s == pytest.approx(0.4, abs=0.02) and lo < 0.4 < hi
    p = zipf_frequencies(ALPHA, 4)
    losses = np.array([[LN2] * 4, [0.01, LN2, LN2, LN2], [0.0, 0.0, 0.0, 0.5]])
    np.testing.assert_allclose(predicted_from_learned(losses, p), [LN2, LN2 * p[1:].sum(), LN2 * p[3]])


def test_power_law_interval_is_the_two_sided_student_t_interval_of_the_log_log_slope():
    """A ``level`` interval is ``s ± t_{(1+level)/2, n−2} · stderr(slope)`` (two-sided), so
    0.95 uses the 0.975 quantile: 3.182 at n = 5, not the one-sided 2.353."""
    from scipy import stats

    x = np.array([10.0, 20, 40, 80, 160])
    y = 3 * x**-0.4 * np.array([1.05, 0.93, 1.04, 0.97, 1.02])
    ref = stats.linregress(np.log(x), np.log(y))
    assert ref.stderr > 0.01
    for level, quantile in ((0.95, 0.975), (0.8, 0.9)):
        s, lo, hi = fit_power_law(x, y, level=level)
        half = stats.t.ppf(quantile, len(x) - 2) * ref.stderr
        assert s == pytest.approx(-ref.slope, rel=1e-12)
        assert hi - s == pytest.approx(half, rel=1e-9) and s - lo == pytest.approx(half, rel=1e-9)
    assert (hi - lo) / 2 == pytest.approx(1.6377 * ref.stderr, rel=1e-3)  # t_{0.9, 3}


def test_preset_validation_and_runs():
    with pytest.raises(ConfigError, match="widths"):
        QuantaPreset(widths=(8,))
    with pytest.raises(ConfigError, match="batch_size"):
        QuantaPreset(train=TrainConfig(optimizer="adam", steps=10))
    study = get_case_study("quanta")
    runs = study.runs(PRESETS["quick"], seed=0)
    assert sorted(runs) == ["main", "width_128", "width_16", "width_32", "width_64", "width_8"]
    widths = PRESETS["quick"].widths
    assert len(widths) >= 6 and max(widths) / min(widths) >= 16
    assert runs["main"].model.widths == (256,) and runs["main"].model.d_in == 32


@pytest.mark.slow
def test_a_small_sweep_runs_end_to_end(tmp_path):
    from case_studies import run_case_study

    preset = dataclasses.replace(
        PRESETS["quick"],
        task=SparseParityConfig(n_tasks=4, n_bits=6, k_bits=2, alpha=0.4, n_train=8000, n_test_per_task=64),
        widths=(4, 8, 16),
        train=TrainConfig(optimizer="adam", lr=1e-2, steps=600, batch_size=256, schedule=ScheduleConfig(n_log=2, every=300, track_every=25)),
    )
    report = run_case_study("quanta", preset, tmp_path / "out", seed=0, progress=False)
    saved = json.loads((tmp_path / "out" / "report.json").read_text())
    assert saved["verdict"] == report.verdict
    assert len([r for r in saved["checks"] if r["counted"]]) == 7
    assert (tmp_path / "out" / "runs" / "width_4" / "run.json").exists()
    for figure in report.figures:
        assert (tmp_path / "out" / figure).stat().st_size > 5000
    assert report.extra["quanta"]["widths"] == [4, 8, 16]
    learned = report.extra["quanta"]["quanta_learned"]
    assert learned[-1] >= 2  # two-bit parities: the widest model learns the frequent ones within 600 steps
    from bridge import load_run
    from case_studies.base import run_dir

    study = get_case_study("quanta")
    runs = {key: load_run(run_dir(tmp_path / "out", key)) for key in study.runs(preset, 0)}
    assert study.analyse(runs, preset).to_dict()["checks"] == report.to_dict()["checks"]  # analysis is a pure function of the runs


def test_the_page_example_runs(tmp_path):
    import re
    import subprocess
    import sys
    from pathlib import Path

    from helpers import timeout

    page = Path(__file__).resolve().parents[2] / "docs" / "case_studies" / "quanta.md"
    (block,) = re.findall(r"## In a notebook\n.*?```python\n(.*?)```", page.read_text(), re.DOTALL)
    done = subprocess.run([sys.executable, "-c", block], cwd=tmp_path, capture_output=True, text=True, timeout=timeout(300), check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert lines[0].startswith("emergence steps: [") and "None" not in lines[0].split("[")[1].split(",")[0]  # the most frequent subtask is learned
    predicted, measured = float(lines[1].split()[5]), float(lines[1].split()[-1])
    assert abs(predicted - measured) < 0.1


@pytest.mark.slow
def test_quick_preset_end_to_end(tmp_path):
    """The quick preset, seed 0, with bounds that hold for each of seeds 0, 1 and 2 as measured (page table):
    only widths 32 and 64 may still gain a quantum in the last quarter (seeds 1 and 2: invalid; seed 0: partial), the
    frequency order holds, the other claims fail for the reasons the page gives."""
    from case_studies import run_case_study

    out = tmp_path / "quick"
    report = run_case_study("quanta", "quick", out, seed=0, device="cpu", progress=False)
    saved = json.loads((out / "report.json").read_text())
    rows = {r["name"]: r for r in saved["checks"]}
    counted = [r for r in rows.values() if r["counted"]]
    assert len(counted) == 7 and all(r["claim"] and r["source"] for r in counted)
    failed = saved["failed_preconditions"]
    assert all(name.startswith(("width 32:", "width 64:")) for name in failed), failed
    assert saved["verdict"] == report.verdict == ("invalid" if failed else "partial")
    assert rows["subtasks learned by the widest model"]["value"] == 16
    assert 0.9 <= rows["Spearman ρ: frequency rank vs emergence step"]["value"] <= 1.0
    learned = report.extra["quanta"]["quanta_learned"]
    assert learned[0] <= 3 and learned[-2:] == [16, 16] and learned[3] >= 8
    # failing as measured: slow tails of the drops, no relevant-bit lead, exponents of 16 quanta, binary premise
    assert rows["largest drop width / emergence step"]["value"] > 1.0
    assert not rows["least relevant-bit share at a drop's onset / chance"]["passed"]
    steps_row = next(r for name, r in rows.items() if name.startswith("exponent of mean loss vs steps"))
    assert 0.8 <= steps_row["value"] <= 1.5 and not steps_row["passed"]
    assert not next(r for name, r in rows.items() if name.startswith("largest |predicted"))["passed"]
    assert report.extra["quanta"]["final_mean_loss"][-1] < 0.01
    assert saved["figures"] == [f"figures/{n}.png" for n in ("subtask_losses", "scaling", "hidden_progress", "quanta_per_width")]
    quanta_page(saved)  # the page's seed-0 numbers are this run's


def test_the_parameter_exponent_row_keeps_its_key_when_its_interval_changes():
    """Seed reports and robustness tables gather a row by its key, which holds no measured number."""
    keys = [_row(judge(_synthetic(final_exponent=e), Targets()), ROWS["params"]) for e in (ALPHA, 1.3 * ALPHA)]
    assert keys[0].name != keys[1].name or "CI" not in keys[0].name
    assert {r.key for r in keys} == {"exponent of final mean loss vs parameters"}


def test_a_learned_subtask_without_a_drop_width_or_share_fails_its_row_and_is_named():
    t = np.arange(0.0, 8001.0, 50.0)
    n, ln2 = 16, math.log(2)
    freqs = zipf_frequencies(0.4, n)
    loss = np.full((t.size, n), ln2)
    for k, s in enumerate([1000.0, 2000.0, 3000.0, 4000.0, 5000.0]):
        loss[:, k] = ln2 / (1 + np.exp((t - s) / 40))
    loss[:, 4] = 0.1 + (ln2 - 0.1) / (1 + np.exp((t - 5000.0) / 40))  # learned (below ln2/2), but ends above 0.1·ln2: no drop width
    share = np.full((t.size, n), 0.5)
    share[:, 2] = np.nan  # no share measured for subtask 2
    narrow = WidthCurves(8, 100, t, np.full_like(loss, ln2), np.full(t.size, ln2))
    report = judge(SweepObservables(0.4, freqs, 3 / 16, [narrow, WidthCurves(256, 10000, t, loss, loss @ freqs, share)]), Targets())
    rows = {c.name: c for c in report.checks}
    abrupt, hidden = rows["largest drop width / emergence step"], rows["least relevant-bit share at a drop's onset / chance"]
    assert not abrupt.passed and math.isnan(abrupt.value) and "subtask(s) [4]" in abrupt.reason
    assert not hidden.passed and math.isnan(hidden.value) and "subtask(s) [2]" in hidden.reason


def test_the_prediction_from_learned_quanta_is_drawn_only_where_positive_on_the_log_panel(tmp_path, monkeypatch):
    """Once every subtask is learned the prediction is exactly 0: left out of the log axis (NaN), and the legend says so."""
    from types import SimpleNamespace

    import case_studies.quanta.analysis as analysis

    obs = _synthetic()
    drawn = {}
    monkeypatch.setattr(analysis, "observables", lambda runs: obs)
    monkeypatch.setattr(analysis, "save_figure", lambda fig, path: drawn.setdefault(path.name, fig) and path)
    main = SimpleNamespace(figures_dir=tmp_path / "figures", path=tmp_path, config=SimpleNamespace(seed=0))
    analysis.figures({"main": main}, judge(obs, Targets()))
    panel = drawn["scaling.png"].axes[1]
    (line,) = [ln for ln in panel.lines if ln.get_label().startswith("from quanta learned")]
    steps, y = line.get_xdata(), line.get_ydata()
    predicted = predicted_from_learned(obs.main.losses[np.isin(obs.main.steps, steps)], obs.frequencies)
    assert (predicted == 0).sum() == 541 and predicted[0] > 0  # every subtask learned from step 13000 of 40000 on
    np.testing.assert_array_equal(np.isnan(y), predicted == 0)
    np.testing.assert_array_equal(y[predicted > 0], predicted[predicted > 0])
    assert line.get_label() == "from quanta learned (0 once all are learned)"


def test_a_quantum_gained_before_three_quarters_of_training_leaves_the_width_converged():
    obs = _synthetic()
    obs.curves[0].losses[STEPS >= 0.6 * STEPS[-1], 5] = 1e-3  # width 8 learns subtask 5 at 60 % of training, then keeps it
    row = _row(judge(obs, Targets()), "width 8:")
    assert row.value == "2 / 2" and row.passed


def test_subtasks_never_learned_rank_after_every_learned_one_in_the_order_row():
    from scipy import stats

    obs = _synthetic()
    obs.main.losses[:, 9:] = LN2  # the three rarest are never learned
    rho = _row(judge(obs, Targets()), ROWS["order"])
    assert rho.value == pytest.approx(stats.spearmanr(np.arange(N_TASKS), np.r_[np.arange(9), [9, 9, 9]]).statistic, rel=1e-12) and rho.passed


def test_the_abrupt_and_hidden_progress_rows_are_judged_on_their_worst_subtask():
    obs = _synthetic()
    gradual = _drops(400.0 * (np.arange(N_TASKS) + 1.0) ** (1 + ALPHA), width_frac=1.5)
    obs.main.losses[:, 5] = gradual[:, 5]  # one gradual fall among abrupt ones
    obs.main.share[:, 3] = obs.chance_share  # one subtask without hidden progress
    report = judge(obs, Targets())
    abrupt, hidden = _row(report, ROWS["abrupt"]), _row(report, ROWS["hidden"])
    assert not abrupt.passed and abrupt.value > 1.0
    assert not hidden.passed and hidden.value == pytest.approx(1.0, rel=1e-12)
    shares = report.extra["quanta"]["onset_share_over_chance"]  # each learned subtask's share at its onset over chance
    assert shares["3"] == pytest.approx(1.0, rel=1e-12) and min(shares.values()) == pytest.approx(hidden.value, rel=1e-12)
    assert all(v > 1.0 for k, v in shares.items() if k != "3")  # the report held {"0": 0, "1": 1, ...}, the subtasks' indices


def test_as_many_quanta_at_the_widest_as_at_the_narrowest_is_no_growth():
    growth = _row(judge(_synthetic(counts=(12,) * 6), Targets()), ROWS["growth"])
    assert growth.value == str([12] * 7) and not growth.passed


def test_the_parameter_exponent_needs_three_widths_below_the_floor():
    row = _row(judge(_synthetic(counts=(1, 2, 12, 12, 12, 12)), Targets()), ROWS["params"])
    assert row.value is None and not row.passed and row.reason == "only 2 widths below the floor (all quanta learned); need 3"


@pytest.mark.parametrize(("factor", "passes"), [(1.2, True), (1.3, False)])
def test_the_exponents_are_judged_within_a_tolerance_relative_to_their_prediction(factor, passes):
    """25 % of α = 0.4 is 0.1 and of α/(α+1) = 0.286 is 0.071 (not 0.25 in absolute terms)."""
    params = _row(judge(_synthetic(final_exponent=factor * ALPHA), Targets()), ROWS["params"])
    assert params.value == pytest.approx(factor * ALPHA, rel=1e-9) and params.passed is passes
    steps = _row(judge(_synthetic(step_mean=_power_in_window(factor * data_exponent(ALPHA))), Targets()), ROWS["steps"])
    assert steps.value == pytest.approx(factor * data_exponent(ALPHA), rel=1e-9) and steps.passed is passes


def test_a_quantum_counts_as_learned_only_below_half_of_chance():
    obs = _synthetic()
    obs.curves[0].losses[:, 5] = 0.6 * LN2  # width 8 ends subtask 5 above ln 2 / 2: not learned
    assert _row(judge(obs, Targets()), ROWS["growth"]).value == str([1, 2, 4, 6, 8, 11, 12])


@pytest.mark.parametrize(("order", "rho", "passes"), [((5, 4, 3, 2, 1, 0, 6, 7, 8, 9, 10, 11), 1 - 6 * 70 / 1716, False), ((1, 0, 3, 2, 5, 4, 6, 7, 8, 9, 10, 11), 1 - 6 * 6 / 1716, True)])
def test_the_order_row_needs_a_spearman_rho_of_at_least_0_8(order, rho, passes):
    """The six most frequent subtasks learned in reverse gives ρ = 0.755 (fails 0.8); three swapped neighbours, 0.979."""
    row = _row(judge(_synthetic(order=order), Targets()), ROWS["order"])
    assert row.value == pytest.approx(rho, rel=1e-12) and row.passed is passes


@pytest.mark.parametrize(("width_frac", "passes"), [(0.7, False), (0.3, True)])
def test_a_drop_is_abrupt_only_within_half_of_its_emergence_step(width_frac, passes):
    row = _row(judge(_synthetic(width_frac=width_frac), Targets()), ROWS["abrupt"])
    assert row.value == pytest.approx(width_frac, rel=0.15) and row.passed is passes  # sampled every 50 steps


@pytest.mark.parametrize(("factor", "error", "passes"), [(1.05, 0.139, False), (1.0, 0.096, True)])
def test_the_bridge_is_judged_within_ten_percent_of_the_measured_loss(factor, error, passes):
    """On the synthetic sweep the quanta's prediction is 9.6 % off the measured loss at its worst settled step (a learned
    subtask's residual loss counts as 0); a measured loss 5 % higher is 13.9 % off and fails the 0.1 target."""
    row = _row(judge(_synthetic(step_mean=lambda losses, p: (losses * p).sum(1) * factor), Targets()), ROWS["bridge"])
    assert row.value == pytest.approx(error, abs=1e-3) and row.passed is passes


def test_the_steps_exponent_is_fitted_between_the_first_and_the_last_emergence_only():
    """A mean loss on the power law S^(−α/(α+1)) until the last emergence (step 400·12^1.4) and flat after it passes:
    the flat tail lies outside the fitted window."""
    last = 400.0 * N_TASKS ** (1 + ALPHA)

    def mean(losses, p):
        return 0.5 * np.maximum(np.minimum(STEPS, last), 1.0) ** -data_exponent(ALPHA)

    row = _row(judge(_synthetic(step_mean=mean), Targets()), ROWS["steps"])
    assert row.value == pytest.approx(data_exponent(ALPHA), rel=1e-6) and row.passed
