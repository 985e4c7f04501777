"""The grokking report on synthetic observables, no training: every counted row passes on curves where its claim
holds and fails (with the verdict no longer ``pass``) on curves where it does not; a run that memorised and never
generalised is ``invalid`` and has no grokking phases."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from torch import nn

from bridge.models import build_model
from bridge.report import BridgeReport
from bridge.theory import agf
from case_studies.grokking import PRESETS, Grokking, Targets, analyse_agf, analyse_main, analyse_sweep, run_configs, sweep_key

QUICK = PRESETS["quick"]
P = QUICK.task.p
T = np.arange(0, 2510, 10.0)  # loss and accuracy every 10 steps
CK = np.arange(0, 2550, 50.0)  # checkpoints every 50 steps


def sigmoid(t, centre, width, start, end):
    return start + (end - start) / (1 + np.exp(-(np.asarray(t, float) - centre) / width))


def reaches(level, centre, width, start, end):
    """The step at which :func:`sigmoid` reaches ``level``."""
    return centre - width * math.log((end - start) / (level - start) - 1)


class FakeRun:
    """What the analysis reads of a run: its config, its curves (by observable and frequency) and its weights."""

    def __init__(self, config, curves, model=None):
        self.config, self.curves, self.model = config, curves, model
        self.steps = [0, int(T[-1])]

    def curve(self, name, **index):
        t, y = self.curves[(name, index.get("frequency"))]
        return np.asarray(t, float), np.asarray(y, float)

    def model_at(self, step):
        return self.model


class Embedding(nn.Module):
    def __init__(self, weight):
        super().__init__()
        self.embed = nn.Embedding(*weight.shape)
        with torch.no_grad():
            self.embed.weight.copy_(weight)


def embedding(sparse: bool) -> nn.Module:
    """W_E over the p residues (+ the '=' token): three frequencies only, or dense noise."""
    g = torch.Generator().manual_seed(0)
    if not sparse:
        return Embedding(torch.randn(P + 1, 64, generator=g))
    a = torch.arange(P + 1, dtype=torch.float32)[:, None]
    waves = torch.cat([torch.cos(2 * math.pi * k * a / P) for k in (4, 11, 23)] + [torch.sin(2 * math.pi * k * a / P) for k in (4, 11, 23)], 1)
    return Embedding(waves @ torch.randn(6, 64, generator=g) + 1e-3 * torch.randn(P + 1, 64, generator=g))


def main_curves(**change):
    """A grokking run: memorised by ~120, circuit forms (restricted loss falls, excluded loss rises), clean-up ~1000."""
    c = {
        ("accuracy/train", None): (T, sigmoid(T, 80, 10, 0.02, 1.0)),
        ("accuracy/test", None): (T, sigmoid(T, 1000, 30, 0.02, 1.0)),
        ("loss/test", None): (T, sigmoid(T, 100, 20, math.log(P), 10.0) - sigmoid(T, 1000, 30, 0, 10.0 - 1e-3)),
        ("fourier/restricted_loss", None): (CK, sigmoid(CK, 500, 60, 4.0, 1e-3)),
        ("fourier/excluded_loss", None): (CK, sigmoid(CK, 60, 15, 4.0, 1.5) + sigmoid(CK, 600, 80, 0, 10.0) - sigmoid(CK, 1300, 80, 0, 4.0)),
        ("fourier/embed_gini", None): (CK, sigmoid(CK, 50, 20, 0.03, 0.15) + sigmoid(CK, 1050, 60, 0, 0.45)),
    }
    return c | {(name, None): curve for name, curve in change.items()}


def main_run(sparse=True, **change):
    return FakeRun(run_configs(QUICK, 0)["main"], main_curves(**change), embedding(sparse))


def judge(run, analyse=analyse_main) -> BridgeReport:
    report = BridgeReport("grokking", "quick", 0)
    analyse(report, run, Targets())
    return report


def row(report, start):
    (found,) = [r for r in report.rows if r.name.startswith(start)]
    return found


def test_a_grokking_run_passes_every_counted_row_of_the_main_run():
    report = judge(main_run())
    assert report.verdict == "pass", [(r.name, r.value if hasattr(r, "value") else r.relative_error, r.reason) for r in report.rows if not r.passed]
    assert [r.name for r in report.rows if r.counted] == [
        "W_E Gini half-rise with the test-loss half-drop",
        "test acc > 95% step / train acc > 99% step",
        "restricted loss falls before test loss (half-drop steps)",
        "excluded loss rise over circuit formation (end / start)",
        "share of final embedding Fourier norm² in the top 8 frequencies",
    ]
    assert all(r.claim and r.source for r in report.rows if r.counted)
    grokking_over_memorisation = reaches(0.95, 1000, 30, 0.02, 1.0) / reaches(0.99, 80, 10, 0.02, 1.0)
    assert row(report, "test acc").value == pytest.approx(grokking_over_memorisation, rel=0.01)
    phases = [e for e in report.events if getattr(e, "kind", "") == "phase"]
    assert [s.name for s in phases] == ["memorisation", "circuit formation", "clean-up"]
    assert phases[0].end == pytest.approx(reaches(0.99, 80, 10, 0.02, 1.0), abs=10) and phases[2].start < 1000 < phases[2].end
    assert row(report, "share of final").value > 0.99
    gini = row(report, "W_E Gini")
    assert gini.observed_step == pytest.approx(1000, abs=10) and gini.mechanism_step == pytest.approx(1050, abs=25)


@pytest.mark.parametrize(
    ("name", "change", "sparse"),
    [
        ("test acc", {"accuracy/test": (T, sigmoid(T, 200, 20, 0.02, 1.0))}, True),  # generalises soon after memorising
        ("restricted loss falls before", {"fourier/restricted_loss": (CK, sigmoid(CK, 1500, 60, 4.0, 1e-3))}, True),  # the circuit comes last
        ("restricted loss falls before", {"fourier/restricted_loss": (CK, np.full(len(CK), 4.0))}, True),  # never forms
        ("excluded loss rise", {"fourier/excluded_loss": (CK, sigmoid(CK, 600, 80, 4.0, 0.5))}, True),  # falls over circuit formation
        ("share of final", {}, False),  # a dense embedding
        ("W_E Gini", {"fourier/embed_gini": (CK, sigmoid(CK, 2000, 60, 0.1, 0.6))}, True),  # sparsifies long after clean-up
        ("W_E Gini", {"fourier/embed_gini": (CK, 0.2 + 0.001 * np.sin(CK))}, True),  # never sparsifies
    ],
)
def test_each_counted_row_of_the_main_run_fails_when_its_claim_is_false(name, change, sparse):
    report = judge(main_run(sparse, **change))
    failed = row(report, name)
    assert failed.counted and not failed.passed
    assert report.verdict in ("partial", "fail") and failed.name in report.failed_claims
    assert not report.failed_preconditions


def test_absent_gini_rise_names_the_absent_event():
    report = judge(main_run(**{"fourier/embed_gini": (CK, 0.2 + 0.001 * np.sin(CK))}))
    assert row(report, "W_E Gini").reason == "mechanism event absent"


def test_a_run_that_memorised_and_never_generalised_is_invalid_and_has_no_phases():
    # test accuracy stays near 4%; the test loss dips during an instability and comes back
    dip = 10.0 - sigmoid(T, 1400, 30, 0, 5.0) + sigmoid(T, 1700, 30, 0, 5.0)
    report = judge(main_run(**{"accuracy/test": (T, 0.04 + 0.005 * np.sin(T)), "loss/test": (T, sigmoid(T, 100, 20, math.log(P), 1.0) * dip / 1.0)}))
    assert report.verdict == "invalid" and report.failed_preconditions == ["the run generalised"]
    assert row(report, "the run generalised").reason == f"not reached within {int(T[-1])} steps: test accuracy ends at 3.7%, below 95%"
    assert row(report, "grokking phases").value == "none"
    assert not any(e for e in report.events if getattr(e, "kind", "") == "phase")
    assert not row(report, "excluded loss rise").passed and "no grokking phases" in row(report, "excluded loss rise").reason
    assert not row(report, "restricted loss falls before").passed and "test loss never falls" in row(report, "restricted loss falls before").reason
    assert not row(report, "test acc").passed


def test_generalising_before_memorising_or_only_for_a_spike_is_not_the_phenomenon():
    """The precondition: train accuracy reaches 99 %, *then* test accuracy reaches 95 % and stays there to the end."""
    early = judge(main_run(**{"accuracy/train": (T, sigmoid(T, 1500, 10, 0.02, 1.0))}))  # test 95 % near step 1090, train 99 % near 1540
    assert early.failed_preconditions == ["the run generalised"] and row(early, "the run generalised").reason == "generalised before memorising"
    spike = 0.04 + 0.93 * np.exp(-(((T - 1000) / 30) ** 2))  # test accuracy touches 97 % once, then falls back
    flat = judge(main_run(**{"accuracy/test": (T, spike)}))
    assert flat.verdict == "invalid" and row(flat, "the run generalised").reason.startswith("not reached within")


def test_half_way_events_need_the_loss_to_halve_and_the_gini_to_rise_by_a_tenth():
    """A test loss that falls by 40 % of its peak has no half-drop; a W_E Gini that rises by 0.06 has no half-rise."""
    shallow = sigmoid(T, 100, 20, math.log(P), 10.0) - sigmoid(T, 1000, 30, 0, 4.0)  # 10 nats -> 6 nats
    report = judge(main_run(**{"loss/test": (T, shallow)}))
    assert "test loss never falls half-way" in row(report, "restricted loss falls before").reason and not row(report, "W_E Gini").passed
    small = judge(main_run(**{"fourier/embed_gini": (CK, sigmoid(CK, 1050, 60, 0.2, 0.26))}))
    assert not row(small, "W_E Gini").passed and row(small, "W_E Gini").reason == "mechanism event absent"


# --- AGF: the two-layer quadratic network -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def agf_setup():
    cfg = run_configs(QUICK, 0)["agf"]
    net = build_model(cfg.model, seed=0)
    p = cfg.task.p
    w1 = net.layers[0].weight.detach()
    preds = agf.predict_acquisitions(w1[:, :p], w1[:, p:], net.layers[1].weight.detach(), dict(zip(cfg.task.template_frequencies, cfg.task.template_magnitudes)), cfg.train.lr)
    return cfg, net, {pred.extra["frequency"]: (pred.step, pred.extra["magnitude"]) for pred in preds}


def agf_run(setup, loss_at=None, norm_at=None, flat_norm=(), norm_top=3.0):
    """Each frequency's loss share falls from m²/2 (the total loss steps down with it) and its norm rises ten-fold,
    at the given steps (default: AGF's)."""
    cfg, net, predicted = setup
    t = np.arange(0, 4510, 10.0)
    curves, total = {}, 0.0
    for k, (step, m) in predicted.items():
        share = sigmoid(t, (loss_at or {}).get(k, step), 40, m**2 / 2, 1e-5)
        curves[("template/loss", k)] = (t, share)
        norm = np.full(len(t), 0.3) if k in flat_norm else sigmoid(t, (norm_at or {}).get(k, step), 40, 0.3, norm_top)
        curves[("fourier/embed_norm", k)] = (t, norm)
        total = total + share
    curves[("loss/train", None)] = (t, total)
    return FakeRun(cfg, curves, net)


def test_agf_rows_pass_when_each_frequency_is_learned_at_its_predicted_step(agf_setup):
    report = judge(agf_run(agf_setup), analyse_agf)
    assert report.verdict == "pass", [(r.name, r.reason) for r in report.rows if not r.passed]
    assert sum(r.counted for r in report.rows) == 6 and all(r.depends_on for r in report.rows if r.counted)
    for m in report.matches:
        assert m.relative_error < 0.02


def test_agf_rows_fail_when_the_claims_are_false(agf_setup):
    _, _, predicted = agf_setup
    first, second = sorted(predicted, key=lambda k: predicted[k][0])[:2]
    late = judge(agf_run(agf_setup, loss_at={second: 1.3 * predicted[second][0]}, norm_at={second: 1.3 * predicted[second][0]}), analyse_agf)
    assert late.failed_claims == [f"AGF: frequency {second} (m={predicted[second][1]:g}) acquired"] and late.verdict == "partial"

    swapped = {first: predicted[second][0], second: predicted[first][0]}
    weights = judge(agf_run(agf_setup, norm_at=swapped), analyse_agf)
    assert {"AGF: frequencies emerge in the weights in the predicted order", "AGF: frequencies emerge in the weights in order of target magnitude"} <= set(weights.failed_claims)

    shares = judge(agf_run(agf_setup, loss_at={second: 1.5 * predicted[second][0]}), analyse_agf)  # only the info row sees it
    assert not row(shares, "AGF: each frequency's loss share").passed and not row(shares, "AGF: each frequency's loss share").counted

    never = judge(agf_run(agf_setup, flat_norm=(second,)), analyse_agf)
    missing = row(never, f"AGF: frequency {second} ")
    assert not missing.passed and missing.reason == "mechanism event absent"
    assert f"frequency {second} not detected" in row(never, "AGF: frequencies emerge in the weights in the predicted order").reason
    assert never.verdict == "partial"


def test_a_frequency_norm_that_does_not_double_has_not_emerged(agf_setup):
    """An AGF frequency emerges in the weights only when its norm at least doubles (0.3 -> 0.45 is not enough)."""
    report = judge(agf_run(agf_setup, norm_top=0.45), analyse_agf)
    assert [m.reason for m in report.matches] == ["mechanism event absent"] * 4 and report.verdict == "fail"
    assert not row(report, "AGF: frequencies emerge in the weights in the predicted order").passed  # no frequency emerged: no order
    assert judge(agf_run(agf_setup, norm_top=0.65), analyse_agf).verdict == "pass"  # a bit more than doubled


# --- the weight-decay sweep ---------------------------------------------------------------------------------------


def sweep_runs(exponent, points=QUICK.sweep.points, grokked=None):
    runs, rng = [], np.random.default_rng(0)
    for lr, wd in points:
        cfg = run_configs(dataclasses.replace(QUICK, sweep=dataclasses.replace(QUICK.sweep, points=points)), 0)[sweep_key(lr, wd)]
        step = 500 * (lr * wd / 6e-3) ** exponent * math.exp(rng.normal(0, 0.15))  # grokking step, 15% scatter
        test = sigmoid(T, step - (reaches(0.95, 0, 3, 0.02, 1.0)), 3, 0.02, 1.0) if grokked is None or wd in grokked else np.full(len(T), 0.05)
        runs.append(FakeRun(cfg, {("accuracy/train", None): (T, sigmoid(T, 80, 10, 0.02, 1.0)), ("accuracy/test", None): (T, test)}))
    return runs


def test_sweep_exponent_row_passes_at_minus_one_and_fails_when_minus_one_is_outside_the_interval():
    good = judge(sweep_runs(-1.0), analyse_sweep)
    fit = good.extra["sweep"]["fit"]
    assert fit["exponent"] == pytest.approx(-1.0, abs=0.1) and fit["ci_low"] <= -1 <= fit["ci_high"]
    assert good.verdict == "pass"
    bad = judge(sweep_runs(-0.5), analyse_sweep)
    assert bad.extra["sweep"]["fit"]["ci_high"] < -0.3 and not bad.extra["sweep"]["theory_exponent_in_ci"]
    assert bad.failed_claims == ["sweep: exponent of grokking step vs lr·wd (theory: -1)"] and bad.verdict == "fail"


def test_sweep_exponent_row_fails_when_minus_one_lies_above_the_interval():
    """−1 must lie inside the interval, not only above its lower end: a grokking step falling as (lr·wd)^−2 fails."""
    points = ((6e-3, 0.5), (6e-3, 1.0), (6e-3, 2.0), (6e-3, 4.0), (1.2e-2, 1.0), (3e-3, 2.0))  # lr·wd from 3e-3: every point groks by step 2000
    steep = judge(sweep_runs(-2.0, points=points), analyse_sweep)
    fit = steep.extra["sweep"]["fit"]
    assert fit["exponent"] == pytest.approx(-2.0, abs=0.2) and fit["ci_high"] < -1
    assert not row(steep, "sweep: exponent").passed and steep.verdict == "fail"


def test_a_sweep_where_too_few_weight_decays_grok_is_invalid():
    report = judge(sweep_runs(-1.0, grokked=(1.0, 2.0)), analyse_sweep)
    assert report.failed_preconditions == ["sweep: weight decays that grokked"] and report.verdict == "invalid"


def test_the_whole_report_is_partial_and_names_the_sweep_row_when_only_the_exponent_is_wrong(agf_setup):
    runs = {"main": main_run(), "agf": agf_run(agf_setup)} | {sweep_key(r.config.train.lr, r.config.train.weight_decay): r for r in sweep_runs(-0.5)}
    report = Grokking().analyse(runs, QUICK)
    assert report.verdict == "partial" and report.failed_claims == ["sweep: exponent of grokking step vs lr·wd (theory: -1)"]
    runs |= {sweep_key(r.config.train.lr, r.config.train.weight_decay): r for r in sweep_runs(-1.0)}
    assert Grokking().analyse(runs, QUICK).verdict == "pass"


def test_the_auxiliary_runs_follow_the_main_operation_and_multiplication_is_refused_before_any_work(tmp_path):
    from bridge.config import ConfigError
    from bridge.overrides import apply
    from case_studies import run_case_study

    study = Grokking()
    for op in ("+", "-"):
        runs = study.runs(apply(PRESETS["quick"], [f"task.op={op}"]), seed=0)
        assert "agf" in runs and {cfg.task.op for cfg in runs.values()} == {op}
    with pytest.raises(ConfigError, match=r"task.op must be '\+' or '-', got '\*' \(a·b mod p needs a discrete-log relabelling"):
        run_case_study("grokking", "quick", tmp_path / "times", settings=["task.op=*"], device="cpu", progress=False)
    assert not (tmp_path / "times").exists()


def test_a_minus_b_is_a_plus_b_with_the_b_columns_relabelled():
    """What the AGF prediction on a − b relies on: the one-hot data of a − b is that of a + b with b → −b."""
    from bridge.tasks.modular import ModularConfig, make_modular

    p = 11
    template = dict(template_frequencies=(3, 1), template_magnitudes=(1.0, 0.5))
    plus, minus = (make_modular(ModularConfig(p=p, train_fraction=1.0, encoding="onehot", op=op, **template), seed=0) for op in ("+", "-"))
    x_minus = minus.train.x.clone()
    x_minus[:, p:] = minus.train.x[:, p:][:, (-np.arange(p)) % p]  # the column of b becomes the column of −b
    by_input = {tuple(x.tolist()): y for x, y in zip(plus.train.x, plus.train.y)}
    assert len(by_input) == p * p
    for x, y in zip(x_minus, minus.train.y):
        torch.testing.assert_close(by_input[tuple(x.tolist())], y)


def test_the_excluded_loss_rise_is_read_at_the_ends_of_circuit_formation():
    report = judge(main_run())
    formation = next(e for e in report.events if getattr(e, "kind", "") == "phase" and e.name == "circuit formation")
    _, excluded = main_curves()[("fourier/excluded_loss", None)]
    expected = np.interp(formation.end, CK, excluded) / np.interp(formation.start, CK, excluded)
    assert row(report, "excluded loss rise").value == pytest.approx(expected, rel=1e-12) and expected > 2


def test_a_run_memorised_from_the_first_step_has_no_grokking_ratio():
    report = judge(main_run(**{"accuracy/train": (T, np.ones(len(T)))}))
    ratio = row(report, "test acc")
    assert ratio.value is None and not ratio.passed and ratio.reason == "no memorisation or no generalisation step"


def test_a_sweep_with_two_grokking_points_is_not_fitted():
    report = judge(sweep_runs(-1.0, grokked=(0.5, 4.0)), analyse_sweep)
    exponent = row(report, "sweep: exponent")
    assert exponent.value == "no fit" and exponent.reason == "no fit" and "fit" not in report.extra["sweep"]
    assert [p["grok_step"] is not None for p in report.extra["sweep"]["points"]] == [True, False, False, True, False, False]


@pytest.mark.parametrize(("preset", "frequencies"), [("quick", 29), ("full", 56)])
def test_n_top_at_or_above_the_number_of_frequencies_is_refused_before_any_work(preset, frequencies):
    """With n_top = (p − 1)/2 the top n_top frequencies are all of them: a dense embedding has share 1 and passed."""
    from bridge.config import ConfigError
    from bridge.overrides import apply
    from probes.fourier import top_share

    dense = torch.ones(frequencies + 1)
    assert top_share(dense, frequencies) == 1.0 and top_share(dense, frequencies - 1) == pytest.approx(1 - 1 / frequencies, rel=1e-12)
    for n_top in (frequencies, frequencies + 3):
        with pytest.raises(ConfigError, match=rf"^targets.n_top={n_top} must be below the {frequencies} Fourier frequencies of task.p={2 * frequencies + 1}"):
            apply(PRESETS[preset], [f"targets.n_top={n_top}"])
    assert apply(PRESETS[preset], [f"targets.n_top={frequencies - 1}"]).targets.n_top == frequencies - 1
    with pytest.raises(ConfigError, match=r"^targets.n_top=8 must be below the 8 Fourier frequencies of task.p=17"):
        apply(PRESETS[preset], ["task.p=17"])


def test_more_weight_decays_than_the_sweep_has_are_refused_and_no_sweep_asks_for_none():
    from bridge.config import ConfigError
    from bridge.overrides import apply

    with pytest.raises(ConfigError, match=r"^targets.sweep_weight_decays=5 asks for more weight decays than the 4 of sweep.points \[0.5, 1.0, 2.0, 4.0\]"):
        apply(PRESETS["quick"], ["targets.sweep_weight_decays=5"])
    assert apply(PRESETS["quick"], ["targets.sweep_weight_decays=4"]).targets.sweep_weight_decays == 4
    assert dataclasses.replace(PRESETS["quick"], sweep=None, targets=Targets(sweep_weight_decays=9)).targets.sweep_weight_decays == 9


@pytest.mark.parametrize(("above", "passes"), [(1e-12, True), (1e-6, False), (0.5, False)])
def test_a_test_accuracy_above_1_beyond_rounding_fails_the_generalised_precondition_with_a_reason(above, passes):
    """An accuracy lies in [0, 1]: a test accuracy ending at 1 + 1e-6 passed the precondition like any other."""
    test = sigmoid(T, 1000, 30, 0.02, 1.0 + above)
    found = row(judge(main_run(**{"accuracy/test": (T, test)})), "the run generalised")
    assert found.passed is passes and found.reason == ("" if passes else f"accuracy/test has accuracies outside [0, 1]: {test[test > 1 + 1e-9].tolist()[:5]}")


def test_a_sweep_train_accuracy_above_1_fails_the_sweep_precondition_naming_the_point():
    runs = sweep_runs(-1.0)
    t, train = runs[1].curves[("accuracy/train", None)]
    runs[1].curves[("accuracy/train", None)] = (t, train * 1.5)
    (found,) = [r for r in judge(runs, analyse_sweep).rows if r.name == "sweep: weight decays that grokked"]
    assert not found.passed and found.reason.startswith("lr=0.003, wd=1: accuracy/train has accuracies outside [0, 1]: [1.")
    assert [r for r in judge(sweep_runs(-1.0), analyse_sweep).rows if r.name == "sweep: weight decays that grokked"][0].passed


def test_the_analysis_curve_reader_passes_an_index_column_named_as_its_own_arguments():
    from types import SimpleNamespace

    from case_studies.grokking.analysis import curve

    seen = {}
    run = SimpleNamespace(config=SimpleNamespace(name="g"), curve=lambda observable, /, **index: seen.update(index) or (np.arange(3.0), np.ones(3)))
    steps, _ = curve(run, "fourier/embed_norm", name=3, run=1)
    assert seen == {"name": 3, "run": 1} and steps.tolist() == [0.0, 1.0, 2.0]
