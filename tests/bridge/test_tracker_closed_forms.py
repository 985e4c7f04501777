"""Tracker rows on hand-built models whose values are known in closed form: differentiation of a hierarchy,
feature geometry of toy superposition, Fourier concentration of an embedding, and accuracy on request."""

import math

import pytest
import torch
import torch.nn.functional as F

from bridge.models import MLP, DeepLinearConfig, MLPConfig, ToySuperposition, ToySuperpositionConfig, build_model
from bridge.tasks import HierarchyConfig, ModularConfig, make_task
from bridge.tasks.base import Split, TaskData
from bridge.trackers.differentiation import DifferentiationTracker
from bridge.trackers.feature_geometry import FeatureGeometryTracker
from bridge.trackers.fourier import FourierTracker
from bridge.trackers.loss import LossTracker


def by_observable(rows, index):
    return {(r["observable"], r.get(index)): r["value"] for r in rows}


def test_differentiation_rows_of_a_representation_that_splits_the_two_subtrees():
    model = build_model(DeepLinearConfig(4, 1, 7), seed=0)
    with torch.no_grad():
        model.weights[0].copy_(torch.tensor([[0.0, 0.0, 1.0, 1.0]]))  # inputs 2·I: hidden 0, 0, 2, 2
    got = by_observable(DifferentiationTracker()(model, 0, make_task(HierarchyConfig(depth=2, branching=2), seed=0)), "level")
    # level 1: B = ¼ Σ ‖μ_c − μ‖² n_c = 1; chance = (b − 1) m/(m − 1) σ² / n = 1 · 4/3 · 1 / 4 = 1/3
    assert got[("differentiation/between", 1)] == pytest.approx(1.0) and got[("differentiation/chance", 1)] == pytest.approx(1 / 3)
    assert got[("differentiation/ratio", 1)] == pytest.approx(3.0) and got[("differentiation/ratio_sd", 1)] == pytest.approx(math.sqrt(2.0))
    assert got[("differentiation/between", 2)] == 0.0 and got[("differentiation/chance", 2)] == 0.0  # leaves of one subtree coincide
    assert got[("differentiation/ratio_sd", 2)] == pytest.approx(1.0)  # √(2 / (d · 2 contrasts))
    assert {k for _, k in got} == {1, 2}


def square(scale):
    model = ToySuperposition(ToySuperpositionConfig(n_features=4, n_hidden=2))
    with torch.no_grad():
        model.W.copy_(scale * torch.tensor([[[1.0, 0.0, -1.0, 0.0], [0.0, 1.0, 0.0, -1.0]]]))
    return model


def test_feature_geometry_counts_features_above_its_own_threshold_and_marks_an_empty_polygon():
    small = square(0.4)
    assert by_observable(FeatureGeometryTracker()(small, 0, None), "feature")[("features/represented", None)] == 0.0
    got = by_observable(FeatureGeometryTracker(threshold=0.3)(small, 0, None), "feature")
    assert got[("features/represented", None)] == 4.0 and got[("features/polygon_gap_error", None)] == pytest.approx(0.0, abs=1e-9)
    assert [got[("features/norm", i)] for i in range(4)] == pytest.approx([0.4] * 4)
    none = by_observable(FeatureGeometryTracker()(square(0.0), 0, None), "feature")
    assert none[("features/represented", None)] == 0.0 and none[("features/polygon_gap_error", None)] == 360.0  # no polygon: the largest error


def test_feature_geometry_reads_the_instance_it_is_given_and_refuses_one_the_model_lacks():
    model = ToySuperposition(ToySuperpositionConfig(n_features=4, n_hidden=2, n_instances=2))
    with torch.no_grad():
        model.W.zero_()
        model.W[1] = 0.7 * torch.tensor([[1.0, 0.0, -1.0, 0.0], [0.0, 1.0, 0.0, -1.0]])  # a square in instance 1 only
    first, second = (by_observable(FeatureGeometryTracker(instance=i)(model, 0, None), "feature") for i in (0, 1))
    assert first[("features/represented", None)] == 0.0 and second[("features/represented", None)] == 4.0
    assert [second[("features/norm", i)] for i in range(4)] == pytest.approx([0.7] * 4)
    for instance in (2, -1):  # -1 would silently read the last instance
        with pytest.raises(ValueError, match=rf"instance must be in 0\.\.1 \(the model's instances\), got {instance}"):
            FeatureGeometryTracker(instance=instance)(model, 0, None)


def test_embedding_concentration_of_two_frequencies():
    p = 7
    net = MLP(MLPConfig(d_in=2 * p, d_out=p, widths=(4,)))
    i = torch.arange(2 * p, dtype=torch.float64)
    wave = torch.cos(2 * math.pi * 2 * i / p) + 0.5 * torch.cos(2 * math.pi * 3 * i / p)  # frequency 2, and 3 at half its size
    with torch.no_grad():
        net.layers[0].weight.copy_(wave.float().expand(4, 2 * p))
    data = make_task(ModularConfig(p=p, encoding="onehot"), seed=0)
    got = by_observable(FourierTracker(neurons=False, logits=False, n_top=1)(net, 0, data), "frequency")
    norms = [got[("fourier/embed_norm", k)] for k in range(4)]
    assert norms[0] == pytest.approx(0.0, abs=1e-5) and norms[1] == pytest.approx(0.0, abs=1e-5)
    assert norms[3] / norms[2] == pytest.approx(0.5, rel=1e-5)
    assert got[("fourier/embed_top_share", None)] == pytest.approx(1 / 1.25, rel=1e-5)  # 1² / (1² + 0.5²)
    assert got[("fourier/embed_gini", None)] == pytest.approx(4 / 9, rel=1e-5)  # Σ|xᵢ − xⱼ| / (2n Σx) over (0, 1, 0.5)
    assert got[("fourier/embed_n_key", None)] == 1.0
    both = by_observable(FourierTracker(neurons=False, logits=False, n_top=2)(net, 0, data), "frequency")
    assert both[("fourier/embed_top_share", None)] == pytest.approx(1.0, rel=1e-6)


def test_accuracy_is_recorded_when_asked_for_and_left_out_when_refused():
    x = torch.eye(3)
    model = torch.nn.Linear(3, 3, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 1.0, 1.0]]))  # argmax per row: 0, 2, 2
    floats = TaskData(Split(x, torch.tensor([0.0, 2.0, 1.0])), None, lambda out, y: F.cross_entropy(out, y.long()))
    assert [r["observable"] for r in LossTracker()(model, 0, floats)] == ["loss/train"]  # float targets: not class labels
    rows = {r["observable"]: r["value"] for r in LossTracker(accuracy=True)(model, 0, floats)}
    assert rows["accuracy/train"] == pytest.approx(2 / 3)
    labels = TaskData(Split(x, torch.tensor([0, 2, 1])), None, F.cross_entropy)
    assert [r["observable"] for r in LossTracker()(model, 0, labels)] == ["loss/train", "accuracy/train"]
    assert [r["observable"] for r in LossTracker(accuracy=False)(model, 0, labels)] == ["loss/train"]


def test_stacked_loss_rows_are_refused_when_the_models_targets_differ_in_shape():
    x = torch.randn(4, 3, generator=torch.Generator().manual_seed(0))
    datas = [TaskData(Split(x, torch.zeros(4, k)), None, "mse") for k in (2, 1)]
    assert LossTracker().stacked(lambda xs: xs[..., :2], datas) is None
    same = [TaskData(Split(x, torch.zeros(4, 2)), None, "mse") for _ in range(2)]
    rows = LossTracker().stacked(lambda xs: xs[..., :2], same)
    assert [r["observable"] for each in rows for r in each] == ["loss/train", "loss/train"]
    assert [r["value"] for each in rows for r in each] == pytest.approx([float((x[:, :2] ** 2).mean())] * 2)


@pytest.mark.parametrize("max_examples", [0, -2])
def test_the_loss_tracker_refuses_a_count_of_examples_below_one(max_examples):
    with pytest.raises(ValueError, match=f"max_examples must be positive or None, got {max_examples}"):
        LossTracker(max_examples=max_examples)
