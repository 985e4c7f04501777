"""Property tests of grokking's judge on drawn numbers (no training): each counted row of the main run, the AGF run
and the sweep passes strictly inside its target (read from ``Targets``) and fails outside, on both sides of the
two-sided lags; the boundaries are those the page and the rows' targets state; the verdict follows the report's rule
over the rows made to fail; the rows do not depend on the unit of a loss or of a step count, nor on the order of the
sweep's runs; a curve that is not a measurement (empty, a single sample, constant, not finite, a loss that is not
positive, an event at step 0) fails its row with a reason or is refused naming the observable, never passes."""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from torch import nn

from bridge.models import build_model
from bridge.theory import agf
from case_studies.grokking import Targets, analyse_agf, analyse_main, analyse_sweep
from probes.fourier import fourier_basis, n_frequencies
from test_grokking import CK, QUICK, FakeRun, T, agf_run, judge, main_curves, main_run, row, run_configs, sigmoid, sweep_runs

TG = Targets()
IN, OUT = 1 - 1e-6, 1 + 1e-6
QUICK_SETTINGS = settings(max_examples=12, deadline=None)  # one judgement of the main run takes about 0.05 s
NOT_FINITE = st.sampled_from([math.nan, math.inf, -math.inf])
BASE = judge(main_run())
TEST_DROP = BASE.matches[0].observed_step  # the test loss's half-drop step, ~1000
FORMATION = next(e for e in BASE.events if getattr(e, "name", "") == "circuit formation")
ROWS = {"ratio": "test acc >", "restricted": "restricted loss falls before", "excluded": "excluded loss rise", "share": "share of final", "gini": "W_E Gini"}


def step_curve(t, at: float, low: float, high: float, down: bool):
    """A curve sampled at ``t`` and at ``at``: ``high`` before ``at`` and ``low`` after (or the reverse), and
    exactly half-way at ``at``, so that its half-way move (and its crossing of that level) is at ``at`` exactly."""
    grid = np.union1d(np.asarray(t, float), [at])
    first, last = (high, low) if down else (low, high)
    return grid, np.where(grid < at, first, np.where(grid == at, (low + high) / 2, last))


def accuracies(mem: float, grok: float) -> dict:
    """Train accuracy reaching ``TG.memorised`` at step ``mem`` exactly, test accuracy ``TG.grokked`` at ``grok``, each kept."""
    curves = {}
    for name, at, level in (("accuracy/train", mem, TG.memorised), ("accuracy/test", grok, TG.grokked)):
        grid = np.union1d(T, [at])
        curves[name] = (grid, np.where(grid < at, 0.5, np.where(grid == at, level, 1.0)))
    return curves


def with_embedding(shares: np.ndarray) -> FakeRun:
    """The main run with a float64 W_E whose frequency k (1 … (p − 1)/2) carries ``shares[k − 1]`` of the squared norm."""
    p, run = QUICK.task.p, main_run()
    coefficients = torch.zeros(p, n_frequencies(p), dtype=torch.float64)
    for k, share in enumerate(shares, start=1):
        coefficients[2 * k - 1, k - 1] = math.sqrt(share)  # the cos-k row of the basis, one column per frequency
    weight = torch.cat([fourier_basis(p).T @ coefficients, torch.zeros(1, n_frequencies(p), dtype=torch.float64)])
    run.model = nn.Module()
    run.model.embed = nn.Embedding(p + 1, n_frequencies(p), dtype=torch.float64, _weight=weight)
    return run


def top_shares(top: float) -> np.ndarray:
    """``TG.n_top`` frequencies carrying ``top`` of the squared norm, the others the rest evenly (each below a top one)."""
    n = n_frequencies(QUICK.task.p)
    return np.r_[np.full(TG.n_top, top / TG.n_top), np.full(n - TG.n_top, (1 - top) / (n - TG.n_top))]


def test_the_base_observations_pass_every_counted_row():
    assert BASE.verdict == "pass" and all(row(BASE, start).passed for start in ROWS.values())


@QUICK_SETTINGS
@given(inside=st.floats(TG.grok_ratio * OUT, 20.0), outside=st.floats(1.0, TG.grok_ratio * IN))
def test_the_grokking_ratio_passes_at_or_above_its_target_only(inside, outside):
    for ratio, passes in ((inside, True), (outside, False)):
        found = row(judge(main_run(**accuracies(100.0, 100.0 * ratio))), ROWS["ratio"])
        assert found.value == pytest.approx(ratio, rel=1e-12) and found.passed is passes


def test_a_grokking_ratio_exactly_at_its_target_passes_as_the_row_says():
    found = row(judge(main_run(**accuracies(100.0, 100.0 * TG.grok_ratio))), ROWS["ratio"])
    assert found.target == f">= {TG.grok_ratio:g}" and found.value == TG.grok_ratio and found.passed


@QUICK_SETTINGS
@given(before=st.floats(1e-6, 0.5), after=st.floats(0.0, 0.5))
def test_the_restricted_loss_passes_only_when_its_half_drop_comes_strictly_before_the_test_losss(before, after):
    for step, passes in ((TEST_DROP * (1 - before), True), (TEST_DROP * (1 + after), False)):
        found = row(judge(main_run(**{"fourier/restricted_loss": step_curve(CK, step, 0.0, 4.0, down=True)})), ROWS["restricted"])
        assert found.value == f"{step:.0f} vs {TEST_DROP:.0f}" and found.passed is passes


@QUICK_SETTINGS
@given(inside=st.floats(TG.excluded_rise * OUT, 20.0), outside=st.floats(0.0, TG.excluded_rise), unit=st.floats(1e-3, 1e3))
def test_the_excluded_loss_passes_strictly_above_its_rise_whatever_the_unit_of_the_loss(inside, outside, unit):
    for rise, passes in ((inside, True), (outside, False)):
        grid = np.union1d(CK, [FORMATION.start, FORMATION.end])
        excluded = unit * np.interp(grid, [FORMATION.start, FORMATION.end], [1.0, rise])
        found = row(judge(main_run(**{"fourier/excluded_loss": (grid, excluded)})), ROWS["excluded"])
        assert found.value == pytest.approx(rise, rel=1e-12) and found.passed is passes
    at_target = np.interp(grid, [FORMATION.start, FORMATION.end], [1.0, TG.excluded_rise])
    assert not row(judge(main_run(**{"fourier/excluded_loss": (grid, at_target)})), ROWS["excluded"]).passed  # "> 1"


@pytest.mark.parametrize("ends", [(-1.0, -2.0), (0.0, 2.0), (0.0, 0.0)])
def test_an_excluded_loss_that_is_not_positive_fails_its_rise_with_a_reason(ends):
    """A cross-entropy is positive: −1 → −2 read as a rise of 2 passed; a start at 0 divided by zero."""
    grid = np.union1d(CK, [FORMATION.start, FORMATION.end])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        found = row(judge(main_run(**{"fourier/excluded_loss": (grid, np.interp(grid, [FORMATION.start, FORMATION.end], list(ends)))})), ROWS["excluded"])
    assert found.value is None and not found.passed
    assert found.reason == f"the excluded loss is {ends[0]:g} at the start and {ends[1]:g} at the end of circuit formation: a ratio needs finite positive losses"


@QUICK_SETTINGS
@given(inside=st.floats(TG.sparse_share * OUT, 0.99), outside=st.floats(0.3, TG.sparse_share * IN))
def test_the_fourier_share_passes_strictly_above_its_target_only(inside, outside):
    for top, passes in ((inside, True), (outside, False)):
        found = row(judge(with_embedding(top_shares(top))), ROWS["share"])
        assert found.value == pytest.approx(top, rel=1e-9) and found.passed is passes


@QUICK_SETTINGS
@given(inside=st.floats(0.0, TG.lag_tolerance * IN), outside=st.floats(TG.lag_tolerance * OUT, 0.6), side=st.sampled_from([-1, 1]))
def test_the_gini_half_rise_passes_within_its_lag_of_the_test_loss_half_drop_on_either_side_only(inside, outside, side):
    for lag, passes in ((inside, True), (outside, False)):
        step = TEST_DROP * (1 + side * lag)
        found = row(judge(main_run(**{"fourier/embed_gini": step_curve(CK, step, 0.25, 0.75, down=False)})), ROWS["gini"])
        assert found.mechanism_step == pytest.approx(step, rel=1e-12) and found.relative_error == pytest.approx(lag, rel=1e-9, abs=1e-12)
        assert found.passed is passes


def test_a_gini_lag_exactly_at_its_tolerance_passes_as_the_page_says():
    """The page: relative lag ≤ 0.5. A test loss half-way down at step 1024 and a Gini half-rise at 1024·(1 ± lag)."""
    loss = step_curve(T, 1024.0, 0.0, 10.0, down=True)
    for side in (-1, 1):
        gini = step_curve(CK, 1024.0 * (1 + side * TG.lag_tolerance), 0.25, 0.75, down=False)
        found = row(judge(main_run(**{"loss/test": loss, "fourier/embed_gini": gini})), ROWS["gini"])
        assert found.observed_step == 1024.0 and found.relative_error == TG.lag_tolerance and found.passed


BREAK = {
    "ratio": {"accuracy/test": (T, sigmoid(T, 200, 20, 0.02, 1.0))},
    "restricted": {"fourier/restricted_loss": (CK, sigmoid(CK, 1500, 60, 4.0, 1e-3))},
    "excluded": {"fourier/excluded_loss": (CK, sigmoid(CK, 600, 80, 4.0, 0.5))},
    "gini": {"fourier/embed_gini": (CK, sigmoid(CK, 2000, 60, 0.1, 0.6))},
}


@settings(max_examples=16, deadline=None)
@given(broken=st.sets(st.sampled_from([*BREAK, "share"])))
def test_the_verdict_is_pass_iff_every_counted_row_passes_and_fail_iff_none_does(broken):
    change = {k: v for name in broken if name != "share" for k, v in BREAK[name].items()}
    report = judge(main_run("share" not in broken, **change))
    assert {name for name, start in ROWS.items() if not row(report, start).passed} == broken
    assert report.verdict == ("pass" if not broken else "fail" if len(broken) == len(ROWS) else "partial")


@QUICK_SETTINGS
@given(unit=st.floats(0.01, 100.0))
def test_the_main_rows_do_not_depend_on_the_unit_of_a_step(unit):
    base, scaled = BASE, judge(FakeRun(run_configs(QUICK, 0)["main"], {key: (t * unit, y) for key, (t, y) in main_curves().items()}, main_run().model))
    for start in ROWS.values():
        a, b = row(base, start), row(scaled, start)
        assert a.passed is b.passed
        if isinstance(getattr(a, "value", None), float) or hasattr(a, "relative_error"):
            assert (a.relative_error if hasattr(a, "relative_error") else a.value) == pytest.approx(b.relative_error if hasattr(b, "relative_error") else b.value, rel=1e-9)


@QUICK_SETTINGS
@given(bad=NOT_FINITE)
def test_a_fourier_loss_or_gini_that_is_not_finite_passes_no_row(bad):
    for name, key in (("fourier/excluded_loss", "excluded"), ("fourier/restricted_loss", "restricted"), ("fourier/embed_gini", "gini")):
        t, y = main_curves()[(name, None)]
        found = row(judge(main_run(**{name: (t, np.full(len(t), bad))})), ROWS[key])
        assert not found.passed and found.reason, (name, bad)


@pytest.mark.parametrize("name", ["accuracy/train", "accuracy/test", "loss/test", "fourier/restricted_loss", "fourier/excluded_loss", "fourier/embed_gini"])
@pytest.mark.parametrize("n", [0, 1])
def test_a_curve_of_fewer_than_two_samples_is_refused_naming_the_observable(name, n):
    """An empty test loss failed inside numpy ('array of sample points is empty'); an empty accuracy curve in the detector,
    naming no curve."""
    with pytest.raises(ValueError, match=f"run 'grokking': observable '{name}' has {n} samples?; the analysis needs at least 2"):
        judge(main_run(**{name: (np.arange(n, dtype=float), np.full(n, 0.5))}))


@pytest.mark.parametrize("name", ["accuracy/train", "accuracy/test", "fourier/restricted_loss", "fourier/excluded_loss", "fourier/embed_gini"])
def test_a_constant_curve_passes_no_row_it_is_judged_on(name):
    t, _ = main_curves()[(name, None)]
    report = judge(main_run(**{name: (t, np.full(len(t), 0.5))}))
    judged = {"accuracy/train": "ratio", "accuracy/test": "ratio", "fourier/restricted_loss": "restricted", "fourier/excluded_loss": "excluded", "fourier/embed_gini": "gini"}[name]
    assert not row(report, ROWS[judged]).passed and report.verdict != "pass"


# --- AGF: each frequency's three events placed exactly ---------------------------------------------------------


@pytest.fixture(scope="module")
def agf_setup():
    cfg = run_configs(QUICK, 0)["agf"]
    net, p = build_model(cfg.model, seed=0), cfg.task.p
    w1 = net.layers[0].weight.detach()
    preds = agf.predict_acquisitions(w1[:, :p], w1[:, p:], net.layers[1].weight.detach(), dict(zip(cfg.task.template_frequencies, cfg.task.template_magnitudes)), cfg.train.lr)
    return cfg, net, {pred.extra["frequency"]: (pred.step, pred.extra["magnitude"]) for pred in preds}


def agf_exact(setup, at: dict[int, float]) -> FakeRun:
    """Each frequency's loss share, the total loss's step and its norm's half-rise all at ``at[k]`` (default: AGF's step)."""
    cfg, net, predicted = setup
    steps = {k: at.get(k, step) for k, (step, _) in predicted.items()}
    grid = np.union1d(np.arange(0, 4510, 10.0), list(steps.values()))
    curves, total = {}, np.zeros(len(grid))
    for k, (_, m) in predicted.items():
        _, share = step_curve(grid, steps[k], 0.0, m**2 / 2, down=True)
        curves[("template/loss", k)] = (grid, share)
        curves[("fourier/embed_norm", k)] = step_curve(grid, steps[k], 0.25, 3.0, down=False)
        total = total + share
    curves[("loss/train", None)] = (grid, total)
    return FakeRun(cfg, curves, net)


@settings(max_examples=2, deadline=None)  # one AGF judgement takes about 1 s (the prediction from the initial weights)
@given(inside=st.floats(0.0, TG.agf_tolerance * 0.999), outside=st.floats(TG.agf_tolerance * 1.001, 0.25), side=st.sampled_from([-1, 1]), which=st.integers(0, 3))
def test_an_agf_acquisition_passes_within_its_tolerance_of_the_predicted_step_on_either_side_only(agf_setup, inside, outside, side, which):
    _, _, predicted = agf_setup
    k = sorted(predicted)[which]
    for shift, passes in ((inside, True), (outside, False)):
        report = judge(agf_exact(agf_setup, {k: predicted[k][0] * (1 + side * shift)}), analyse_agf)
        found = row(report, f"AGF: frequency {k} ")
        assert found.relative_error == pytest.approx(shift, rel=1e-6, abs=1e-9) and found.passed is passes
        assert [m.passed for m in report.matches if m is not found] == [True] * 3


def test_a_training_loss_below_every_agf_level_from_step_0_fails_each_acquisition_with_a_reason(agf_setup):
    """The loss's crossing is then at step 0, against which the norm's relative error divided by zero (a bare ValueError)."""
    run = agf_run(agf_setup)
    t, _ = run.curves[("loss/train", None)]
    run.curves[("loss/train", None)] = (t, np.full(len(t), 1e-6))
    report = judge(run, analyse_agf)
    assert [m.observed_step for m in report.matches] == [0.0] * 4 and not any(m.passed for m in report.matches)
    assert {m.reason for m in report.matches} == {"dynamics event at step 0: the mechanism's relative error to it is not defined"}
    assert report.verdict == "partial"  # the order claims still pass: the norms rise in order


@pytest.mark.parametrize("name", ["loss/train", "fourier/embed_norm", "template/loss"])
def test_an_agf_curve_of_one_sample_is_refused_naming_it(agf_setup, name):
    run = agf_run(agf_setup)
    k = None if name == "loss/train" else sorted(agf_setup[2])[0]
    run.curves[(name, k)] = (np.array([0.0]), np.array([1.0]))
    where = f"observable '{name}'" + ("" if k is None else f" at frequency={k}")
    with pytest.raises(ValueError, match=f"run 'grokking-agf': {where} has 1 sample; the analysis needs at least 2"):
        judge(run, analyse_agf)


# --- the sweep ---------------------------------------------------------------------------------------------------


def exponent_row(report):
    return row(report, "sweep: exponent")


@settings(max_examples=10, deadline=None)
@given(exponent=st.floats(-2.0, -0.3))
def test_the_sweep_exponent_passes_iff_the_theory_exponent_lies_inside_the_95_percent_interval(exponent):
    report = judge(sweep_runs(exponent), analyse_sweep)
    points = [p for p in report.extra["sweep"]["points"] if p["grok_step"] is not None]
    x, y = np.log([p["lr_wd"] for p in points]), np.log([p["grok_step"] for p in points])
    fit = stats.linregress(x, y)
    half = stats.t.ppf(0.975, len(x) - 2) * fit.stderr
    assert report.extra["sweep"]["fit"]["exponent"] == pytest.approx(fit.slope, rel=1e-9)
    assert exponent_row(report).passed is bool(fit.slope - half <= TG.sweep_exponent <= fit.slope + half)


@settings(max_examples=10, deadline=None)
@given(rnd=st.randoms(use_true_random=False), unit=st.floats(0.1, 10.0))
def test_the_sweep_rows_do_not_depend_on_the_order_of_its_runs_nor_on_the_unit_of_a_step(rnd, unit):
    order = list(range(len(QUICK.sweep.points)))
    rnd.shuffle(order)
    runs = sweep_runs(-1.0)
    base = judge(runs, analyse_sweep)
    shuffled = [runs[i] for i in order]
    for run in shuffled:
        run.curves = {key: (t * unit, y) for key, (t, y) in run.curves.items()}
    again = judge(shuffled, analyse_sweep)
    assert [(r.name, r.passed) for r in again.rows] == [(r.name, r.passed) for r in base.rows]
    for field in ("exponent", "ci_low", "ci_high"):
        assert again.extra["sweep"]["fit"][field] == pytest.approx(base.extra["sweep"]["fit"][field], rel=1e-9, abs=1e-12)


@settings(max_examples=10, deadline=None)
@given(grokked=st.sets(st.sampled_from(sorted({wd for _, wd in QUICK.sweep.points})), min_size=1))
def test_the_sweep_precondition_passes_iff_enough_weight_decays_grok(grokked):
    report = judge(sweep_runs(-1.0, grokked=tuple(grokked)), analyse_sweep)
    precondition = row(report, "sweep: weight decays that grokked")
    fitted = "fit" in report.extra["sweep"]
    assert precondition.value == len(grokked) and precondition.passed is (fitted and len(grokked) >= TG.sweep_weight_decays)
    assert (report.verdict == "invalid") is (not precondition.passed)


def test_a_sweep_point_at_its_test_threshold_from_step_0_is_left_out_of_the_fit_and_named():
    """Its grokking step 0 has no logarithm: the fit raised 'needs at least 3 positive points' and the report failed."""
    runs = sweep_runs(-1.0)
    t, _ = runs[0].curves[("accuracy/test", None)]
    runs[0].curves[("accuracy/test", None)] = (t, np.ones(len(t)))
    report = judge(runs, analyse_sweep)
    lr, wd = QUICK.sweep.points[0]
    assert report.extra["sweep"]["fit"]["n"] == len(runs) - 1
    assert row(report, "sweep: weight decays that grokked").reason == f"lr={lr:g}, wd={wd:g}: test accuracy ≥ {TG.grokked:.0%} at step 0, left out of the fit"
    assert row(report, "sweep: weight decays that grokked").value == len({w for _, w in QUICK.sweep.points}) - 1


def test_the_targets_each_row_reads_are_its_own():
    """Each row follows its own field: moving one target moves one row's outcome."""
    for field, value, name in (("grok_ratio", 100.0, "ratio"), ("excluded_rise", 100.0, "excluded"), ("sparse_share", 0.9999999, "share"), ("lag_tolerance", 1e-9, "gini")):
        report = BASE.__class__("grokking", "quick", 0)
        analyse_main(report, main_run(), dataclasses.replace(TG, **{field: value}))
        assert {key for key, start in ROWS.items() if not row(report, start).passed} == {name}, field
