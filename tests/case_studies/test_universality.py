"""Universality rows: deep-linear representations across seeds and widths, their rise over training, grokking's Fourier algorithm."""

import dataclasses

import numpy as np
import pytest
import torch

import bridge
from bridge.config import RunConfig, ScheduleConfig, TrainConfig
from bridge.models import DeepLinearConfig
from bridge.tasks import HierarchyConfig
from bridge.tasks.hierarchy import make_hierarchy
from bridge.theory import saxe
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


def test_representation_trajectory_matches_gradient_descent_from_a_balanced_start():
    """Theory vs simulation: the hidden Gram matrix of a balanced depth-2 network is n·V·diag(u(t))·Vᵀ at every step."""
    task = make_hierarchy(HierarchyConfig(depth=2), seed=0)
    x, y = task.train.x.double(), task.train.y.double()
    u, s, v = task.info["U"].double(), task.info["S"].double(), task.info["V"].double()
    n, modes, hidden, lr, u0 = x.shape[0], len(s), 12, 0.005, 1e-3
    r, _ = torch.linalg.qr(torch.randn(hidden, modes, generator=torch.Generator().manual_seed(0), dtype=torch.float64))
    w1 = (r * u0**0.5) @ v.T
    w2 = u @ (r * u0**0.5).T
    checkpoints = [0, 400, 550, 700, 800, 1000, 1250, 1500, 3200]  # half-rises at 543, 781 and 1243
    grams = {}
    for step in range(checkpoints[-1] + 1):
        if step in checkpoints:
            h = x @ w1.T
            grams[step] = h @ h.T
        err = x @ w1.T @ w2.T - y  # loss ½·mean over items of ‖ŷ − y‖²
        g2, g1 = err.T @ (x @ w1.T) / n, w2.T @ err.T @ x / n
        w1, w2 = w1 - lr * g1, w2 - lr * g2
    items = (x @ v).numpy()
    predicted = saxe.representation_trajectory(np.array(checkpoints, float), s.numpy(), np.full(modes, u0), lr, items)
    for i, step in enumerate(checkpoints):
        p = torch.from_numpy(predicted[i] @ predicted[i].T)
        torch.testing.assert_close(grams[step], p, rtol=0, atol=0.03 * float(p.abs().max()))  # discrete steps vs the ODE: ~1%
    assert float((grams[550] - grams[3200]).abs().max()) > 0.2 * float(grams[3200].abs().max())  # the checkpoints catch the rise


def test_representation_trajectory_adds_a_decaying_anti_balanced_part():
    items, s, u0 = np.eye(2), np.array([2.0, 1.0]), np.array([1e-4, 1e-4])
    anti = np.array([[0.1, 0.0], [0.0, 0.2], [0.0, 0.0]])  # (hidden, mode)
    h = saxe.representation_trajectory(np.array([0.0, 50.0]), s, u0, 0.01, items, anti)
    assert h.shape == (2, 2, 5)
    np.testing.assert_allclose(h[0, :, 2:], items @ anti.T, rtol=1e-12)
    np.testing.assert_allclose(h[1, :, 2:], items @ np.diag(np.exp(-s * 0.01 * 50)) @ anti.T, rtol=1e-12)
    with pytest.raises(ValueError, match="items must be"):
        saxe.representation_trajectory(np.array([0.0]), s, u0, 0.01, np.eye(3))


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
    late = steps >= 200  # every mode learned: the balanced solution holds
    assert np.abs(measured - predicted)[late].max() < 0.05
    _, _, slow = differentiation_curves(_Mislabelled(a, 0.0125), _Mislabelled(b, 0.0125))  # a quarter of the real rate
    assert np.abs(measured - slow).max() > 0.3  # a wrong time course is caught


def test_the_differentiation_row_is_the_largest_gap_of_every_pair(tiny_runs):
    outs = {s: tiny_runs[(s, 64)] for s in (0, 1)}
    claim, info = differentiation_tracking(outs)
    _, measured, predicted = differentiation_curves(bridge.load_run(outs[0]), bridge.load_run(outs[1]))
    assert claim.counted and not info.counted
    assert claim.value == pytest.approx(float(np.abs(measured - predicted).max()))
    assert claim.passed == (claim.value <= 0.1)
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
