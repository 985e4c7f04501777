"""Universality rows: deep-linear representations across seeds and widths, their rise over training, grokking's Fourier algorithm."""

import dataclasses
import json
import types

import numpy as np
import pandas as pd
import pytest
import torch

import bridge
import case_studies.generality.universality as univ
from bridge.config import RunConfig, ScheduleConfig, TrainConfig
from bridge.match import check
from bridge.models import DeepLinearConfig
from bridge.tasks import HierarchyConfig
from bridge.tasks.hierarchy import make_hierarchy
from bridge.theory import saxe
from bridge.theory.balanced_flow import balanced_flow
from case_studies.generality.universality import (
    differentiation_curves,
    differentiation_tracking,
    sparse_fourier_rows,
    universality,
    width_grid,
)
from case_studies.grokking import Targets


def test_width_grid_halves_and_doubles_the_preset_width():
    assert width_grid(128) == (64, 128, 256)
    assert width_grid(3) == (2, 3, 6)


def _descend(x, y, w1, w2, lr, checkpoints):
    """Full-batch gradient descent on ½·mean over items of ‖W₂W₁x − y‖²; ``W₁ᵀW₁`` and ``W₂W₁`` at the checkpoints."""
    n, seen = x.shape[0], {}
    for step in range(checkpoints[-1] + 1):
        if step in checkpoints:
            seen[step] = (w1.T @ w1, w2 @ w1)
        err = x @ w1.T @ w2.T - y
        g2, g1 = err.T @ (x @ w1.T) / n, w2.T @ err.T @ x / n
        w1, w2 = w1 - lr * g1, w2 - lr * g2
    return seen


def test_balanced_flow_follows_gradient_descent_from_small_random_weights():
    """Theory vs simulation: from small random (not balanced, not aligned) weights, the hidden layer's Gram
    matrix W₁ᵀW₁ and the map W₂W₁ follow the exact balanced flow at every step, through the alignment."""
    task = make_hierarchy(HierarchyConfig(depth=2), seed=0)
    x, y, teacher = task.train.x.double(), task.train.y.double(), task.info["teacher"].double()
    gen = torch.Generator().manual_seed(0)
    w1 = 0.01 * torch.randn(32, x.shape[1], generator=gen, dtype=torch.float64)
    w2 = 0.01 * torch.randn(y.shape[1], 32, generator=gen, dtype=torch.float64)
    lr, checkpoints = 0.005, [0, 300, 600, 800, 1000, 1300, 1700, 2500, 4000]
    seen = _descend(x, y, w1, w2, lr, checkpoints)
    flow = balanced_flow(np.array(checkpoints, float), teacher.numpy(), w1.numpy(), w2.numpy(), lr)
    d_in = x.shape[1]
    for i, step in enumerate(checkpoints):
        gram, end_to_end = (torch.from_numpy(b) for b in (flow[i, :d_in, :d_in], flow[i, d_in:, :d_in]))
        torch.testing.assert_close(seen[step][0], gram, rtol=0, atol=0.03 * float(gram.abs().max()))
        torch.testing.assert_close(seen[step][1], end_to_end, rtol=0, atol=0.03 * float(teacher.abs().max()))
    assert float((seen[600][0] - seen[4000][0]).abs().max()) > 0.5 * float(seen[4000][0].abs().max())  # the checkpoints catch the rise


def test_balanced_flow_from_a_balanced_aligned_start_is_the_mode_by_mode_solution():
    s, u0, lr = np.array([3.0, 1.0]), 1e-3, 0.01
    teacher = np.diag(s)
    w = np.sqrt(u0) * np.eye(2)  # hidden = modes, balanced and aligned
    steps = np.array([0.0, 100.0, 200.0, 400.0, 1000.0])
    flow = balanced_flow(steps, teacher, w, w, lr)
    for m in range(2):
        np.testing.assert_allclose(flow[:, 2 + m, m], saxe.mode_trajectory(steps, float(s[m]), u0, lr), rtol=1e-9)
        np.testing.assert_allclose(flow[:, m, m], saxe.mode_trajectory(steps, float(s[m]), u0, lr), rtol=1e-9)  # W₁ᵀW₁ = u on each mode
    assert abs(flow[-1, 2, 0] - 3.0) < 1e-9 and abs(flow[:, 2, 1]).max() < 1e-12  # learned, and the modes stay apart


def _spectrum(freqs, p=59, noise=0.0, seed=0):
    norms = noise * torch.rand((p - 1) // 2 + 1, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    norms[list(freqs)] += 1.0
    return norms


def test_sparse_fourier_rows_pass_for_a_few_frequencies_and_report_their_overlap():
    rows = sparse_fourier_rows({0: _spectrum([4, 9, 17], noise=0.05), 1: _spectrum([4, 21, 25, 28], noise=0.05, seed=1)}, Targets())
    count, spread, overlap, sets = rows
    assert count.passed and count.value == 4 and count.counted
    assert spread.passed and spread.value > 1 - 8 / 29
    assert not overlap.counted and overlap.value == pytest.approx(1 / 6)  # {4} shared of {4, 9, 17, 21, 25, 28}
    assert sets.value == "0: [4, 9, 17]; 1: [4, 21, 25, 28]"


def test_sparse_fourier_rows_fail_for_a_dense_embedding_and_without_a_grokking_seed():
    dense = _spectrum([], noise=1.0) + 0.2  # every frequency about as strong: a memorising embedding
    count, spread, *_ = sparse_fourier_rows({0: _spectrum([4, 9, 17]), 1: dense}, Targets())
    assert not count.passed and count.value > 8
    assert not spread.passed and spread.value < 1 - 8 / 29
    nothing = sparse_fourier_rows({}, Targets(), skipped=[0, 1])
    assert not nothing[0].passed and not nothing[1].passed and nothing[0].reason == "no seed grokked"


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory):
    """Deep linear networks on the 16-item hierarchy: seeds 0, 1 at width 64 and seed 2 at width 32."""
    root = tmp_path_factory.mktemp("dl")
    train = TrainConfig(optimizer="gd", lr=0.05, steps=500, schedule=ScheduleConfig(n_log=25, every=50))
    outs = {}
    for seed, width in ((0, 64), (1, 64), (2, 32)):
        cfg = RunConfig(HierarchyConfig(depth=4), DeepLinearConfig(d_in=16, d_hidden=width, d_out=31, depth=2, init_std=0.005), train, seed=seed, name="deep-linear")
        bridge.train(cfg, root / f"w{width}-s{seed}", progress=False)
        outs[(seed, width)] = root / f"w{width}-s{seed}"
    return outs


def test_runs_of_any_seed_and_width_share_their_final_representation_but_not_their_start(tiny_runs):
    end, start = universality(tiny_runs), universality(tiny_runs, step=0)
    assert end.passed and end.value > 0.99 and "hidden widths 32, 64" in end.name
    assert not start.passed and abs(start.value) < 0.5  # independent random starts: debiased CKA near 0
    assert "lowest pair" in start.reason


class _Mislabelled:
    """A run that claims another learning rate than it was trained with (theory then predicts another time course)."""

    def __init__(self, run, lr):
        self._run = run
        self.config = dataclasses.replace(run.config, train=dataclasses.replace(run.config.train, lr=lr))

    def __getattr__(self, name):
        return getattr(self._run, name)


def test_cka_over_training_rises_to_one_and_the_prediction_depends_on_the_time_course(tiny_runs):
    a, b = bridge.load_run(tiny_runs[(0, 64)]), bridge.load_run(tiny_runs[(1, 64)])
    steps, measured, predicted = differentiation_curves(a, b)
    assert abs(measured[0]) < 0.5 and measured[-1] > 0.99 and predicted[-1] > 0.99
    assert np.abs(measured - predicted).max() < 0.05, np.abs(measured - predicted).max()  # the rise included
    _, _, slow = differentiation_curves(_Mislabelled(a, 0.0125), _Mislabelled(b, 0.0125))  # a quarter of the real rate
    assert np.abs(measured - slow).max() > 0.3  # a wrong time course is caught


def test_the_differentiation_row_is_the_largest_gap_of_every_pair(tiny_runs):
    outs = {s: tiny_runs[(s, 64)] for s in (0, 1)}
    claim, info = differentiation_tracking(outs)
    _, measured, predicted = differentiation_curves(bridge.load_run(outs[0]), bridge.load_run(outs[1]))
    assert claim.counted and not info.counted
    assert claim.value == pytest.approx(float(np.abs(measured - predicted).max()))
    assert claim.passed and claim.value <= 0.1
    assert info.value.startswith("0.5: ") and "; 0.9: " in info.value


@pytest.mark.slow
def test_deep_linear_quick_at_three_widths_end_to_end(tmp_path):
    import json

    from case_studies.generality.universality import run_widths

    result = run_widths(tmp_path / "widths", seeds=[0, 1], device="cpu", progress=False)
    assert sorted(result["seed_reports"]) == [64, 128, 256]
    row = result["universality"]
    assert row.passed and row.value > 0.99 and "every pair of 6 runs" in row.name
    saved = json.loads((tmp_path / "widths" / "universality.json").read_text())
    assert saved["seeds"] == [0, 1] and set(saved["widths"]) == {"64", "128", "256"}
    for report in result["seed_reports"].values():
        assert report.pass_fraction == 1.0
        claim, info = (r for r in report.across_seeds if "settles above" in r.name or "follows the predicted differentiation" in r.name)
        assert claim.counted and claim.passed == (claim.value <= 0.1)
        measured, predicted = (float(x) for x in info.value.split("0.9: ")[1].split(" vs "))
        assert abs(measured - predicted) / predicted < 0.15  # once the strong modes are learned, the curves agree


def test_claims_over_every_pair_fail_when_a_pair_was_not_measured(monkeypatch):
    """A CKA that is not a number (an HSIC term not positive) fails the row over every pair and names the pair."""
    import types

    import pandas as pd

    import bridge.runs.run as run_module
    import bridge.training.compare as compare_module
    import case_studies.generality.universality as univ
    from case_studies.deep_linear import seed_similarity

    run = types.SimpleNamespace(steps=[0, 600], task_data=lambda: types.SimpleNamespace(train=types.SimpleNamespace(x=None)),
                                config=types.SimpleNamespace(model=types.SimpleNamespace(d_hidden=16)))
    monkeypatch.setattr(run_module, "load_run", lambda path: run)
    table = pd.DataFrame({"run_a": ["seed 0", "seed 0", "seed 1"], "run_b": ["seed 1", "seed 2", "seed 2"], "cka_debiased": [0.99, np.nan, 0.98]})
    monkeypatch.setattr(compare_module, "compare", lambda *args, **kwargs: table)
    for row in (seed_similarity({0: "a", 1: "b", 2: "c"}), universality({0: "a", 1: "b", 2: "c"})):
        assert not row.passed and np.isnan(row.value) and "seed 0 vs seed 2 (CKA not a number)" in row.reason

    steps = np.arange(0.0, 600.0, 50.0)
    predicted = np.linspace(0.2, 1.0, steps.size)
    monkeypatch.setattr(univ, "differentiation_curves", lambda a, b: (steps, np.full(steps.size, np.nan), predicted))
    row = univ.differentiation_tracking({0: "a", 1: "b"})[0]
    assert not row.passed and np.isnan(row.value)
    measured = predicted + 0.01
    measured[3] = np.nan   # one step not measured, the others within 0.01
    monkeypatch.setattr(univ, "differentiation_curves", lambda a, b: (steps, measured, predicted))
    row = univ.differentiation_tracking({0: "a", 1: "b"})[0]
    assert not row.passed and "at step 150" in row.reason


def test_the_gini_row_reads_the_non_constant_frequencies_against_the_floor_of_n_top_equal_ones():
    # 3 equal frequencies of F = 29 and nothing else: Gini 1 − 3/29, whatever the constant component
    spectrum = _spectrum([4, 9, 17])
    spectrum[0] = 10.0
    _, spread, *_ = sparse_fourier_rows({0: spectrum}, Targets())
    assert spread.value == pytest.approx(1 - 3 / 29, rel=1e-12)
    assert f"{1 - 8 / 29:.3f}" in spread.target
    # 7 equal frequencies and an eighth at 0.8: Gini 0.7303, above 1 − 8/29 = 0.7241 (below 1 − 8/30)
    near = _spectrum([])
    near[1:8], near[8] = 1.0, 0.8
    _, spread, *_ = sparse_fourier_rows({0: near}, Targets())
    assert spread.value == pytest.approx(0.7303271441, rel=1e-9) and spread.passed


def test_n_top_equal_frequencies_and_nothing_else_sit_exactly_at_the_gini_floor_and_pass():
    _, spread, *_ = sparse_fourier_rows({0: _spectrum(range(1, 9))}, Targets())  # 8 = n_top equal frequencies of F = 29
    assert spread.value == pytest.approx(1 - 8 / 29, rel=1e-12) and spread.passed


def test_a_seed_with_no_fourier_norm_has_no_key_frequency_and_fails_the_count():
    count, *_ = sparse_fourier_rows({0: _spectrum([4, 9]), 1: _spectrum([])}, Targets())
    assert count.value == 2 and not count.passed  # seed 1: 0 key frequencies, not "1 to n_top"


def test_runs_of_different_lengths_are_compared_at_the_last_step_they_share(tiny_runs, tmp_path):
    from probes.activations import cached_activation
    from probes.similarity import linear_cka

    train = TrainConfig(optimizer="gd", lr=0.05, steps=250, schedule=ScheduleConfig(n_log=25, every=50))
    cfg = RunConfig(HierarchyConfig(depth=4), DeepLinearConfig(d_in=16, d_hidden=64, d_out=31, depth=2, init_std=0.005), train, seed=3, name="deep-linear")
    bridge.train(cfg, tmp_path / "short", progress=False)
    row = universality({"long": tiny_runs[(0, 64)], "short": tmp_path / "short"})
    long, short = bridge.load_run(tiny_runs[(0, 64)]), bridge.load_run(tmp_path / "short")
    x = long.task_data().train.x
    expected = linear_cka(cached_activation(long.model_at(250), x, "hook_hidden.0"), cached_activation(short.model_at(250), x, "hook_hidden.0"), debiased=True)
    assert "at step 250" in row.name
    assert row.value == pytest.approx(expected, abs=1e-6)


def test_one_run_is_refused_before_it_is_read(tmp_path):
    for judge in (universality, differentiation_tracking):
        with pytest.raises(ValueError, match="needs at least 2 runs, got 1"):
            judge({0: tmp_path / "not-a-run"})


STEPS = np.arange(0.0, 600.0, 100.0)
MEASURED = np.array([0.0, 0.2, 0.8, 0.85, 0.95, 1.0])  # settles above 0.5 at step 150, above 0.9 at 350
PREDICTED = np.array([0.0, 0.0, 0.4, 0.6, 0.8, 1.0])  # at 250 and 450


def _curves(monkeypatch, by_pair):
    """Runs that are their path, and the measured and predicted curves of each pair of paths (the same both ways unless given)."""
    import bridge.runs.run as run_module
    import case_studies.generality.universality as univ

    monkeypatch.setattr(run_module, "load_run", lambda path: path)
    monkeypatch.setattr(univ, "differentiation_curves", lambda a, b: by_pair[(a, b)] if (a, b) in by_pair else by_pair[(b, a)])


def test_a_pair_not_measured_fails_the_row_whatever_the_pairs_after_it(monkeypatch):
    good = (STEPS, PREDICTED + 0.01, PREDICTED)
    _curves(monkeypatch, {("a", "b"): (STEPS, np.full(6, np.nan), PREDICTED), ("a", "c"): good, ("b", "c"): good})
    claim, _ = differentiation_tracking({0: "a", 1: "b", 2: "c"})
    assert not claim.passed and np.isnan(claim.value) and claim.reason.startswith("worst: 0 vs 1 at step 0")
    assert "over steps and 6 ordered pairs" in claim.name


def test_two_seeds_without_key_frequencies_fail_the_count_and_share_their_empty_set():
    count, _, overlap, sets = sparse_fourier_rows({0: _spectrum([]), 1: _spectrum([])}, Targets())
    assert not count.passed and count.value == 0
    assert overlap.value == 1.0 and sets.value == "0: []; 1: []"


@pytest.mark.parametrize(("seeds", "factors"), [([0], (1.0,)), ([0], (1.0, 1.001)), ([0, 1], ())])
def test_run_widths_refuses_fewer_than_two_runs_before_training(tmp_path, seeds, factors):
    from case_studies.generality.universality import run_widths

    with pytest.raises(ValueError, match="at least 2 runs"):
        run_widths(tmp_path / "w", seeds=seeds, factors=factors, device="cpu")
    assert not (tmp_path / "w").exists()


def test_the_predicted_final_representation_of_seed_b_follows_seed_b_s_own_time_course(tiny_runs):
    a, b = bridge.load_run(tiny_runs[(0, 64)]), bridge.load_run(tiny_runs[(1, 64)])
    _, _, predicted = differentiation_curves(a, b)
    _, _, early_b = differentiation_curves(a, _Mislabelled(b, 0.0025))  # b's last step read as a twentieth of its training
    gap = np.abs(predicted - early_b)
    assert gap[-1] > 0.1, gap  # 0.19: the end of a against a b that has learned only its strongest modes


def test_a_cka_exactly_at_the_threshold_passes(monkeypatch):
    import bridge.runs.run as run_module
    import bridge.training.compare as compare_module

    run = types.SimpleNamespace(steps=[0, 600], task_data=lambda: types.SimpleNamespace(train=types.SimpleNamespace(x=None)),
                                config=types.SimpleNamespace(model=types.SimpleNamespace(d_hidden=16)))
    monkeypatch.setattr(run_module, "load_run", lambda path: run)
    monkeypatch.setattr(compare_module, "compare", lambda *args, **kwargs: pd.DataFrame({"run_a": ["0"], "run_b": ["1"], "cka_debiased": [0.95]}))
    row = universality({0: "a", 1: "b"})
    assert row.passed and row.value == 0.95 and row.reason == ""
    row = universality({0: "a", 1: "b"}, threshold=0.96)
    assert not row.passed and row.reason == "lowest pair: 0 vs 1"


def test_the_tracking_row_passes_at_its_tolerance_and_reports_where_each_curve_settles(monkeypatch):
    _curves(monkeypatch, {("a", "b"): (STEPS, MEASURED, PREDICTED)})
    claim, info = differentiation_tracking({0: "a", 1: "b"}, tolerance=0.4)
    assert claim.value == pytest.approx(0.4) and claim.passed  # |0.8 − 0.4| at step 200
    exact = float(np.abs(MEASURED - PREDICTED).max())
    assert differentiation_tracking({0: "a", 1: "b"}, tolerance=exact)[0].passed
    assert info.value == "0.5: 150 vs 250; 0.9: 350 vs 450" and not info.counted
    assert "over steps and 2 ordered pairs" in claim.name


def test_run_widths_runs_every_width_after_the_user_s_settings_and_judges_all_runs(tmp_path, monkeypatch):
    import case_studies.generality.seeds as seeds_module

    calls, judged = [], {}

    def run_seeds(name, preset, out, seeds, *, settings, **options):
        out.mkdir(parents=True)
        calls.append((name, preset, out.name, list(seeds), list(settings), options))
        return types.SimpleNamespace(verdict="pass" if out.name == "width-20" else "partial")

    monkeypatch.setattr(seeds_module, "run_seeds", run_seeds)
    monkeypatch.setattr(univ, "universality", lambda outs: judged.update(outs) or check("same", 0.99, ">= 0.95", True))
    result = univ.run_widths(tmp_path / "w", seeds=[0, 1], factors=(0.5, 2.0), settings=["model.d_hidden=40", "train.steps=50"], device="cpu")
    assert [c[2] for c in calls] == ["width-20", "width-80"]
    assert calls[0] == ("deep-linear", "quick", "width-20", [0, 1], ["model.d_hidden=40", "train.steps=50", "model.d_hidden=20"], {"device": "cpu"})
    assert judged == {f"seed {s}, width {w}": tmp_path / "w" / f"width-{w}" / f"seed-{s}" for w in (20, 80) for s in (0, 1)}
    saved = json.loads((tmp_path / "w" / "universality.json").read_text())
    assert saved["seeds"] == [0, 1] and saved["widths"] == {"20": "pass", "80": "partial"} and saved["universality"]["value"] == 0.99
    assert sorted(result["seed_reports"]) == [20, 80] and result["universality"].passed


def _accuracy_run(train, test):
    steps = np.arange(0.0, 1001.0, 100.0)
    curves = {"accuracy/train": train(steps), "accuracy/test": test(steps)}
    return types.SimpleNamespace(curve=lambda name: (steps, curves[name]))


def test_a_run_that_never_generalises_or_never_memorises_has_not_grokked():
    memorises = lambda t: np.minimum(1.0, t / 200)
    assert univ.grokked(_accuracy_run(memorises, lambda t: (t >= 700).astype(float)), Targets())
    assert not univ.grokked(_accuracy_run(memorises, lambda t: 0.1 + 0 * t), Targets())
    assert not univ.grokked(_accuracy_run(lambda t: 0.3 + 0 * t, lambda t: 0.1 + 0 * t), Targets())


def test_the_overlap_is_the_mean_jaccard_over_pairs_and_the_count_names_the_seeds_that_did_not_grok():
    count, _, overlap, sets = sparse_fourier_rows({0: _spectrum([1, 2]), 1: _spectrum([1, 3]), 2: _spectrum([4, 5])}, Targets(), skipped=[3, 4])
    assert overlap.value == pytest.approx(1 / 9)  # 1/3, 0 and 0
    assert "(3 of 5)" in count.name and count.reason == "seeds that did not grok: [3, 4]" and count.passed
    assert sets.value == "0: [1, 2]; 1: [1, 3]; 2: [4, 5]"


def test_fourier_algorithm_reads_the_final_embedding_of_every_seed_that_grokked(monkeypatch):
    import bridge.runs.run as run_module
    import probes.fourier
    import probes.modular

    def run(path):
        return types.SimpleNamespace(path=path, steps=[0, 100, 200], model_at=lambda step: step, config=types.SimpleNamespace(task=types.SimpleNamespace(p=59)))

    monkeypatch.setattr(run_module, "load_run", run)
    monkeypatch.setattr(univ, "grokked", lambda r, targets, label: r.path != "b")
    monkeypatch.setattr(probes.modular, "residue_embedding", lambda model, p: (model, p))
    monkeypatch.setattr(probes.fourier, "frequency_norms", lambda embedding: _spectrum([3, 7]) if embedding == (200, 59) else _spectrum(range(1, 30)))
    count, _, _, sets = univ.fourier_algorithm({0: "a", 1: "b", 2: "c"}, Targets())
    assert count.passed and count.value == 2 and "(2 of 3)" in count.name and count.reason == "seeds that did not grok: [1]"
    assert sets.value == "0: [3, 7]; 2: [3, 7]"
