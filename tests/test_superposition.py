"""Toy models of superposition: task, model, geometry probes, phase theory, and the case study."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bridge.models import build_model
from bridge.models.toy_superposition import ToySuperposition, ToySuperpositionConfig, fit_fresh_samples, instance_losses
from bridge.tasks import make_task
from bridge.tasks.sparse_features import ImportanceWeightedMSE, SparseFeaturesConfig, sample_sparse_features
from bridge.theory.superposition import STICKY_FRACTIONS, dimensions_per_feature, n2m1_candidate_losses, nearest_sticky, predict_n2m1_phases
from bridge.trackers import get_tracker
from probes.feature_geometry import n2m1_phase, polygon

torch.set_num_threads(1)


def _regular_polygon(k: int, radius: float = 1.0, phase: float = 0.3) -> torch.Tensor:
    angles = torch.arange(k, dtype=torch.float64) * 2 * math.pi / k + phase
    return radius * torch.stack([angles.cos(), angles.sin()])


def test_dimensions_per_feature_on_the_known_polytopes():
    torch.testing.assert_close(dimensions_per_feature(torch.eye(3)), torch.ones(3))  # dedicated
    torch.testing.assert_close(dimensions_per_feature(torch.tensor([[1.0, -1.0]])), torch.full((2,), 0.5))  # digon
    torch.testing.assert_close(dimensions_per_feature(_regular_polygon(3)), torch.full((3,), 2 / 3))  # triangle
    torch.testing.assert_close(dimensions_per_feature(_regular_polygon(5, radius=1.3)), torch.full((5,), 0.4))  # pentagon
    tetra = torch.tensor([[1.0, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]]).T / math.sqrt(3)
    torch.testing.assert_close(dimensions_per_feature(tetra), torch.full((4,), 0.75))
    # square antiprism with z² = 1/3: a unit-norm tight frame of 8 vectors in 3-D, D = 3/8
    theta = torch.arange(8, dtype=torch.float64) * math.pi / 4
    z = torch.tensor([1.0, -1.0] * 4, dtype=torch.float64) / math.sqrt(3)
    a = math.sqrt(2 / 3)
    antiprism = torch.stack([a * theta.cos(), a * theta.sin(), z])
    torch.testing.assert_close(dimensions_per_feature(antiprism), torch.full((8,), 3 / 8))
    W = torch.tensor([[1.0, 0.0], [0.0, 0.0]])  # a dropped feature has dimensionality 0
    torch.testing.assert_close(dimensions_per_feature(W), torch.tensor([1.0, 0.0]))
    values, dist = nearest_sticky([0.41, 0.52, 0.9])
    np.testing.assert_allclose(values, [0.4, 0.5, 1.0])
    np.testing.assert_allclose(dist, [0.01, 0.02, 0.1], atol=1e-12)
    assert STICKY_FRACTIONS == (1.0, 0.75, 2 / 3, 0.5, 0.4, 0.375)


def test_polygon_and_phase_classification():
    pent = polygon(_regular_polygon(5))
    assert pent.is_regular(5) and pent.max_gap_error == pytest.approx(0.0, abs=1e-4)
    square_plus = torch.cat([_regular_polygon(4), torch.tensor([[0.2], [0.9]], dtype=torch.float64)], dim=1)
    poly = polygon(square_plus)
    assert poly.k == 5 and not poly.is_regular(5)
    assert poly.max_gap_error > 10
    weak = torch.cat([_regular_polygon(4), torch.tensor([[0.1], [0.1]], dtype=torch.float64)], dim=1)
    assert polygon(weak).k == 4 and polygon(weak).is_regular(4)
    assert n2m1_phase(torch.tensor([[1.0, -0.9]])) == "superposition"
    assert n2m1_phase(torch.tensor([[1.0, 0.1]])) == "feature 1"
    assert n2m1_phase(torch.tensor([[0.0, 1.0]])) == "feature 2"
    assert n2m1_phase(torch.tensor([[0.8, 0.9]])) == "other"
    with pytest.raises(ValueError):
        polygon(torch.zeros(3, 4))


def test_dedicated_configuration_losses_match_the_closed_form():
    # feature 1 dedicated (w₁ = 1, b₁ = 0 is exact) and feature 2 predicted by its mean:
    # loss = r (E[x₂²] − E[x₂]²) = r (p/3 − p²/4)
    r, p = np.array([0.5, 2.0]), np.array([0.1, 0.6, 1.0])
    losses = n2m1_candidate_losses(r, p, n_nodes=24, steps=800)
    np.testing.assert_allclose(losses["feature 1"], r[:, None] * (p / 3 - p**2 / 4)[None, :], rtol=2e-3)
    np.testing.assert_allclose(losses["feature 2"], np.broadcast_to(p / 3 - p**2 / 4, (2, 3)), rtol=2e-3)


def test_predicted_phases_at_the_corners_of_the_diagram():
    phases = predict_n2m1_phases([0.1, 1.0, 10.0], [0.01, 1.0])
    assert phases[0, 1] == "feature 1"  # dense, feature 2 unimportant
    assert phases[2, 1] == "feature 2"  # dense, feature 2 dominant
    assert phases[1, 0] == "superposition"  # sparse, equal importance


def test_task_statistics_and_weighted_loss():
    data = make_task(SparseFeaturesConfig(n_features=4, sparsity=0.7, importance_decay=0.5, n_train=20000, n_test=10), seed=3)
    x = data.train.x
    assert float((x == 0).float().mean()) == pytest.approx(0.7, abs=0.01)
    assert float(x[x > 0].mean()) == pytest.approx(0.5, abs=0.01)
    torch.testing.assert_close(data.info["importance"], torch.tensor([1.0, 0.5, 0.25, 0.125]))
    out = torch.zeros_like(x[:5])
    expected = (torch.tensor([1.0, 0.5, 0.25, 0.125]) * x[:5] ** 2).sum(-1).mean()
    torch.testing.assert_close(data.loss_fn(out, x[:5]), expected)
    with pytest.raises(ValueError):
        SparseFeaturesConfig(n_features=4, sparsity=1.0)
    per_instance = sample_sparse_features(1000, torch.tensor([0.0, 1.0]), 3, torch.Generator().manual_seed(0))
    assert bool((per_instance[:, 0] == 0).all()) and bool((per_instance[:, 1] > 0).all())


def test_model_matches_the_formula_and_instances_are_independent():
    model = build_model(ToySuperpositionConfig(n_features=5, n_hidden=2, n_instances=3), seed=0)
    with torch.no_grad():
        model.b.normal_()
    x = torch.rand(7, 3, 5)
    expected = torch.stack([torch.relu(x[:, i] @ model.W[i].T @ model.W[i] + model.b[i]) for i in range(3)], dim=1)
    torch.testing.assert_close(model(x), expected)
    importance = torch.rand(3, 5)
    loss = ImportanceWeightedMSE(importance)(model(x), x)
    (g_all,) = torch.autograd.grad(loss, model.W)
    alone = (importance[1] * (model(x)[:, 1] - x[:, 1]) ** 2).sum(-1).mean()
    (g_one,) = torch.autograd.grad(alone, model.W)
    torch.testing.assert_close(g_all[1], g_one[1])
    single = ToySuperposition(ToySuperpositionConfig(n_features=5, n_hidden=2), seed=0)
    assert tuple(single(torch.rand(4, 5)).shape) == (4, 5)
    with pytest.raises(ValueError, match="importance"):
        fit_fresh_samples(model, torch.ones(2, 5), torch.ones(3), steps=1)


def test_fresh_sample_training_learns_an_antipodal_pair_when_sparse():
    # 4 seeds of a sparse pair of equal importance; some land in a local minimum that drops a feature
    density = torch.full((4,), 0.05)
    model = ToySuperposition(ToySuperpositionConfig(n_features=2, n_hidden=1, n_instances=4), seed=1)
    history = fit_fresh_samples(model, torch.ones(4, 2), density, steps=1500, batch_size=512, lr=1e-2, seed=0)
    assert history[-100:].mean() < history[:10].mean()
    losses = instance_losses(model, torch.ones(4, 2), density)
    best = int(losses.argmin())
    assert n2m1_phase(model.W[best].detach()) == "superposition"  # both features, antipodal
    dropped = [i for i in range(4) if n2m1_phase(model.W[i].detach()) != "superposition"]
    assert all(losses[i] > 2 * losses[best] for i in dropped)  # superposition has the lower loss


def test_feature_geometry_tracker_rows():
    model = ToySuperposition(ToySuperpositionConfig(n_features=5, n_hidden=2), seed=0)
    with torch.no_grad():
        model.W[0] = _regular_polygon(5).float()
    data = make_task(SparseFeaturesConfig(n_features=5, n_train=8, n_test=8), seed=0)
    rows = get_tracker("feature_geometry")(model, 0, data)
    by_name = {(r["observable"], r.get("feature")): r["value"] for r in rows}
    assert by_name[("features/represented", None)] == 5
    assert by_name[("features/dims", 2)] == pytest.approx(0.4, rel=1e-5)
    assert by_name[("features/polygon_gap_error", None)] == pytest.approx(0.0, abs=1e-3)


@pytest.mark.slow
def test_superposition_quick_preset_passes(tmp_path):
    from case_studies.superposition import PRESETS, run_superposition

    report = run_superposition(PRESETS["quick"], tmp_path / "run", seed=0, progress=False)
    assert report.verdict == "pass", report.to_markdown()
    assert (tmp_path / "run" / "report.json").exists()
    for fig in report.figures:
        assert (tmp_path / "run" / fig).stat().st_size > 10_000


def test_presets_build_valid_configs():
    from case_studies.superposition import PRESETS

    for preset in PRESETS.values():
        cfg = preset.pentagon_config(seed=3)
        assert (cfg.model.n_features, cfg.model.n_hidden) == (5, 2)
        assert preset.pentagon_candidates >= 1 and preset.dims_log_density[0] < preset.dims_log_density[1]
