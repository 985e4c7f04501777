"""Kernel and feature-alignment trackers: numbers against closed forms and against the estimator on checkpoints."""

import math

import pytest
import torch
from torch import nn

from bridge import RunConfig, ScheduleConfig, TrainConfig, analyze, load_run, train
from bridge.estimators import empirical_ntk, kernel_distance
from bridge.models import DeepLinearConfig, MLPConfig, build_model
from bridge.tasks import LinearTeacherConfig, make_task
from bridge.tasks.base import Split, TaskData
from bridge.trackers import FeatureAlignmentTracker, KernelTracker, get_tracker


def values(rows, name):
    return [r["value"] for r in rows if r["observable"] == name]


def gd_steps(model, x, y, lr, steps):
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        ((model(x) - y) ** 2).mean().backward()
        opt.step()


def deep_linear_kernel(net, x):
    """Trace NTK of ``f = W₂W₁x`` with ``O`` outputs: ``O · xᵀW₁ᵀW₁x' + ‖W₂‖_F² x·x'``."""
    w1, w2 = (w.detach() for w in net.weights)
    return w2.shape[0] * (x @ w1.T @ w1 @ x.T) + (w2**2).sum() * (x @ x.T)


def test_kernel_tracker_on_a_deep_linear_network_reads_the_closed_form_kernel():
    data = make_task(LinearTeacherConfig((2.0, 1.0), d_in=4, d_out=3, n_train=24), seed=0)
    data = TaskData(Split(data.train.x.double(), data.train.y.double()), None, data.loss, data.info)
    net = build_model(DeepLinearConfig(4, 6, 3, init_std=0.4), seed=0).double()
    tracker = KernelTracker(n_probe=10, k=3, chunk_size=4)
    x, y = tracker.probes(data)
    assert x.shape == (10, 4) and torch.equal(tracker.probes(data)[0], x)  # a fixed seeded subset
    k0 = deep_linear_kernel(net, x)
    rows = tracker(net, 0, data)
    assert values(rows, "kernel/distance")[0] == pytest.approx(0.0, abs=1e-14)
    alignment = float(torch.einsum("io,ij,jo->", y, k0, y) / (k0.norm() * (y.T @ y).norm()))
    assert values(rows, "kernel/alignment")[0] == pytest.approx(alignment, rel=1e-10)
    torch.testing.assert_close(torch.tensor(values(rows, "kernel/eigenvalue"), dtype=torch.float64), torch.linalg.eigvalsh(k0).flip(0)[:3], rtol=1e-10, atol=1e-10)
    assert [r["mode"] for r in rows if r["observable"] == "kernel/eigenvalue"] == [0, 1, 2]
    assert values(rows, "kernel/effective_rank")[0] == pytest.approx(float(torch.trace(k0) ** 2 / (k0**2).sum()), rel=1e-10)
    assert values(rows, "kernel/trace")[0] == pytest.approx(float(torch.trace(k0)), rel=1e-12)

    gd_steps(net, data.train.x, data.train.y, lr=0.05, steps=40)
    kt = deep_linear_kernel(net, x)
    later = tracker(net, 40, data)
    expected = 1 - float((k0 * kt).sum() / (k0.norm() * kt.norm()))
    assert expected > 0.01  # the weights moved the kernel
    assert values(later, "kernel/distance")[0] == pytest.approx(expected, rel=1e-8)
    assert values(later, "kernel/trace")[0] == pytest.approx(float(torch.trace(kt)), rel=1e-10)  # the current kernel's, not K₀'s
    assert float(torch.trace(kt)) > 1.01 * float(torch.trace(k0))
    torch.testing.assert_close(torch.tensor(values(later, "kernel/eigenvalue"), dtype=torch.float64), torch.linalg.eigvalsh(kt).flip(0)[:3], rtol=1e-10, atol=1e-10)
    assert tracker.initial_step_ == 0


def test_probes_are_a_seeded_subset_in_split_order_and_at_most_n_probe_eigenvalues_are_reported():
    x = torch.arange(40.0).reshape(20, 2)
    data = TaskData(Split(x, x[:, :1]), None, "mse")
    probes, targets = KernelTracker(n_probe=6, seed=3).probes(data)
    index = (probes[:, 0] / 2).long()
    assert len(set(index.tolist())) == 6 and torch.equal(index, index.sort().values) and torch.equal(targets, x[index, :1])
    assert not torch.equal(KernelTracker(n_probe=6, seed=4).probes(data)[0], probes)
    rows = KernelTracker(n_probe=3, k=5)(nn.Linear(2, 1).double(), 0, TaskData(Split(x[:3].double(), x[:3, :1].double()), None, "mse"))
    assert [r["mode"] for r in rows if r["observable"] == "kernel/eigenvalue"] == [0, 1, 2]


def test_a_single_linear_layer_has_a_constant_kernel():
    # f = Wx + b: Θ = O (x·x' + 1) whatever W is, so training never moves it
    g = torch.Generator().manual_seed(0)
    x = torch.randn(32, 5, generator=g, dtype=torch.float64)
    y = x @ torch.randn(5, 2, generator=g, dtype=torch.float64)
    data = TaskData(Split(x, y), None, "mse")
    net = nn.Linear(5, 2).double()
    tracker = KernelTracker(n_probe=12)
    first = tracker(net, 0, data)
    before = net.weight.detach().clone()
    gd_steps(net, x, y, lr=0.1, steps=30)
    assert float((net.weight.detach() - before).norm()) > 0.5
    rows = tracker(net, 30, data)
    assert values(rows, "kernel/distance")[0] == pytest.approx(0.0, abs=1e-14)
    xp, _ = tracker.probes(data)
    assert values(rows, "kernel/trace")[0] == pytest.approx(float(2 * (xp.pow(2).sum() + len(xp))), rel=1e-12)
    assert values(first, "kernel/alignment") == pytest.approx(values(rows, "kernel/alignment"), rel=1e-12)


def test_distance_rises_from_zero_in_training_and_online_equals_offline(tmp_path):
    cfg = RunConfig(
        task=LinearTeacherConfig((3.0, 1.0), d_in=4, d_out=2, n_train=32),
        model=MLPConfig(d_in=4, d_out=2, widths=(16,), activation="tanh"),
        train=TrainConfig(optimizer="gd", lr=0.2, steps=200, schedule=ScheduleConfig(n_log=6, every=100)),
        seed=0,
    )
    run = train(cfg, tmp_path / "run", trackers=[KernelTracker(n_probe=16, k=2)], progress=False)
    distance = run.observable("kernel/distance")
    assert distance.index[0] == 0 and distance.iloc[0] == pytest.approx(0.0, abs=1e-12)
    assert distance.iloc[-1] > 0.02
    assert distance.iloc[-1] > distance.iloc[len(distance) // 2] > 0  # keeps moving
    alignment = run.observable("kernel/alignment")
    assert alignment.iloc[-1] > alignment.iloc[0] + 0.03  # the kernel turns towards the target (0.39 → 0.46)
    # the online value is the estimator's distance between the first and last checkpoints' kernels
    tracker = KernelTracker(n_probe=16, k=2)
    x, _ = tracker.probes(run.task_data())
    k0, kt = (empirical_ntk(run.model_at(s), x) for s in (0, run.steps[-1]))
    assert distance.iloc[-1] == pytest.approx(float(kernel_distance(k0, kt)), rel=1e-4)
    # offline over the checkpoints gives the same rows
    analyze(run, [get_tracker("kernel", n_probe=16, k=2)], progress=False)
    offline = load_run(run.path).observable("kernel/distance")
    torch.testing.assert_close(torch.tensor(offline.values), torch.tensor(distance.values), rtol=1e-5, atol=1e-7)


def test_feature_alignment_share_of_set_weights_and_of_an_isotropic_init():
    net = build_model(MLPConfig(d_in=6, d_out=1, widths=(3,)), seed=0)
    with torch.no_grad():
        net.layers[0].weight.copy_(torch.tensor([[1.0, 2.0, 0.0, 0.0, 0.0, 1.0], [0.0, 1.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 3.0, 0.0, 1.0]]))
    rows = FeatureAlignmentTracker(support=(0, 1))(net, 0, None)
    assert values(rows, "features/support_share")[0] == pytest.approx(6 / 17, rel=1e-12)
    assert values(rows, "features/support_enrichment")[0] == pytest.approx(6 / 17 * 6 / 2, rel=1e-12)
    # support read from the task; weights drawn independently of the coordinates give |S|/d
    wide = build_model(MLPConfig(d_in=20, d_out=1, widths=(4096,)), seed=1)
    data = TaskData(Split(torch.zeros(2, 20), torch.zeros(2, 1)), None, "mse", info={"support": [3, 7, 11, 19]})
    share = values(FeatureAlignmentTracker()(wide, 0, data), "features/support_share")[0]
    assert share == pytest.approx(4 / 20, rel=0.03)
    # a named parameter in another layout: a deep linear network's first matrix, or an embedding read along axis 0
    deep = build_model(DeepLinearConfig(5, 4, 2, init_std=1.0), seed=0)
    w = deep.weights[0].detach()
    expected = float((w[:, [2]] ** 2).sum() / (w**2).sum())
    assert values(FeatureAlignmentTracker(support=(2,), parameter="weights.0")(deep, 0, None), "features/support_share")[0] == pytest.approx(expected, rel=1e-6)
    emb = nn.Sequential(nn.Embedding(5, 3))
    e = emb[0].weight.detach()
    expected = float((e[[1, 4]] ** 2).sum() / (e**2).sum())
    assert values(FeatureAlignmentTracker(support=(1, 4), input_axis=0)(emb, 0, None), "features/support_share")[0] == pytest.approx(expected, rel=1e-6)


def test_feature_alignment_on_a_subspace_is_the_coordinate_share_rotated_and_ignores_the_basis_chosen():
    torch.manual_seed(0)
    w = torch.randn(7, 5, dtype=torch.float64)
    net = nn.Sequential(nn.Linear(5, 7, bias=False).double())
    with torch.no_grad():
        net[0].weight.copy_(w)
    by_coordinates = FeatureAlignmentTracker(support=(1, 3))(net, 0, None)
    unit = torch.eye(5, dtype=torch.float64)[[1, 3]]
    by_subspace = FeatureAlignmentTracker(subspace=unit)(net, 0, None)
    assert [r["value"] for r in by_subspace] == pytest.approx([r["value"] for r in by_coordinates], rel=1e-12)
    # another basis of the same plane (not orthonormal) gives the same share
    mixed = torch.tensor([[2.0, 1.0], [1.0, -3.0]], dtype=torch.float64) @ unit
    assert values(FeatureAlignmentTracker(subspace=mixed)(net, 0, None), "features/support_share")[0] == pytest.approx(values(by_coordinates, "features/support_share")[0], rel=1e-12)
    # rotating the inputs and the subspace together leaves the share unchanged; the dense reference is ‖W Bᵀ(BBᵀ)⁻¹B‖² / ‖W‖²
    rotation, _ = torch.linalg.qr(torch.randn(5, 5, dtype=torch.float64))
    basis = torch.randn(2, 5, dtype=torch.float64)
    projector = basis.T @ torch.linalg.inv(basis @ basis.T) @ basis
    expected = float((w @ projector).pow(2).sum() / w.pow(2).sum())
    assert values(FeatureAlignmentTracker(subspace=basis)(net, 0, None), "features/support_share")[0] == pytest.approx(expected, rel=1e-12)
    with torch.no_grad():
        net[0].weight.copy_(w @ rotation.T)
    rows = FeatureAlignmentTracker(subspace=basis @ rotation.T)(net, 0, None)
    assert values(rows, "features/support_share")[0] == pytest.approx(expected, rel=1e-10)
    assert values(rows, "features/support_enrichment")[0] == pytest.approx(expected * 5 / 2, rel=1e-10)
    # weights drawn independently of the subspace give k/d
    wide = build_model(MLPConfig(d_in=20, d_out=1, widths=(4096,)), seed=1)
    share = values(FeatureAlignmentTracker(subspace=torch.randn(3, 20))(wide, 0, None), "features/support_share")[0]
    assert share == pytest.approx(3 / 20, rel=0.05)


def test_feature_alignment_concentrates_when_a_small_init_network_learns_a_sparse_target():
    # a small-init deep linear net learns y = x₀ + x₁ as a rank-one map W₂W₁ ≈ u vᵀ with v ∝ e₀ + e₁:
    # the first layer's weight moves onto the support, from a share ≈ 2/10 at init to ≈ 1
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 10, generator=g, dtype=torch.float64)
    y = (x[:, 0] + x[:, 1])[:, None]
    net = build_model(DeepLinearConfig(10, 16, 1, init_std=0.01), seed=0).double()
    tracker = FeatureAlignmentTracker(support=(0, 1))
    at_init = values(tracker(net, 0, None), "features/support_share")[0]
    gd_steps(net, x, y, lr=0.1, steps=400)
    trained = values(tracker(net, 400, None), "features/support_share")[0]
    assert at_init == pytest.approx(0.2, abs=0.08)
    assert trained > 0.98 and trained > 3 * at_init


def test_bad_settings_raise_clear_errors():
    with pytest.raises(ValueError, match="n_probe"):
        KernelTracker(n_probe=1)
    with pytest.raises(ValueError, match="split"):
        KernelTracker(split="val")
    with pytest.raises(ValueError, match="support"):
        FeatureAlignmentTracker(support=(1, 1))
    with pytest.raises(ValueError, match="not both"):
        FeatureAlignmentTracker(support=(0,), subspace=[[1.0, 0.0, 0.0]])
    with pytest.raises(ValueError, match="not linearly independent"):
        FeatureAlignmentTracker(subspace=[[1.0, 2.0, 0.0], [2.0, 4.0, 0.0]])
    with pytest.raises(ValueError, match="basis vectors as rows"):
        FeatureAlignmentTracker(subspace=[1.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="non-finite"):
        FeatureAlignmentTracker(subspace=[[float("nan"), 0.0, 0.0]])
    net = build_model(MLPConfig(d_in=3, d_out=1, widths=(4,)), seed=0)
    data = TaskData(Split(torch.zeros(4, 3), torch.zeros(4, 1)), None, "mse")
    with pytest.raises(ValueError, match="support"):
        FeatureAlignmentTracker()(net, 0, data)
    for coordinate in (5, 3):  # 3 is one past the layer's last input
        with pytest.raises(ValueError, match=f"support coordinate {coordinate} is outside the layer's 3 inputs"):
            FeatureAlignmentTracker(support=(coordinate,))(net, 0, data)
    with pytest.raises(ValueError, match="3 vectors in 2 coordinates are not linearly independent"):
        FeatureAlignmentTracker(subspace=[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    with pytest.raises(ValueError, match="4 coordinates, the layer has 3 inputs"):
        FeatureAlignmentTracker(subspace=[[1.0, 0.0, 0.0, 0.0]])(net, 0, data)
    with pytest.raises(ValueError, match="test split"):
        KernelTracker(split="test")(net, 0, data)
    tracker = KernelTracker(n_probe=4)
    assert math.isnan(values(tracker(net, 0, data), "kernel/alignment")[0])  # undefined for zero targets
    with pytest.raises(ValueError, match="reset"):
        tracker(net, 1, TaskData(Split(torch.zeros(3, 3), torch.zeros(3, 1)), None, "mse"))


def test_alignment_with_integer_class_labels_is_against_the_same_class_matrix():
    """Labels 0, 2, 1, 2, 0 are one-hot, so Y Yᵀ is 1 on same-class pairs: the row is ⟨K, Y Yᵀ⟩_F / (‖K‖_F ‖Y Yᵀ‖_F)."""
    x = torch.randn(5, 3, generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([0, 2, 1, 2, 0])
    data = TaskData(Split(x, labels), None, "cross_entropy", {})
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 3))
    rows = KernelTracker(n_probe=5, k=2)(net, 0, data)
    k = empirical_ntk(net, x).double()
    same = (labels[:, None] == labels[None, :]).double()
    expected = float((k * same).sum() / (torch.linalg.norm(k) * torch.linalg.norm(same)))
    assert values(rows, "kernel/alignment") == [pytest.approx(expected, rel=1e-6)]


def test_feature_alignment_refuses_a_negative_coordinate_and_a_zero_first_layer():
    """A negative index would read a coordinate counted from the end; a zero layer has no share to report."""
    with pytest.raises(ValueError, match=r"distinct non-negative coordinate indices, got \(-1,\)"):
        FeatureAlignmentTracker(support=(-1,))
    net = nn.Sequential(nn.Linear(3, 2, bias=False))
    data = TaskData(Split(torch.zeros(4, 3), torch.zeros(4, 1)), None, "mse", {"support": (0, -1)})
    with pytest.raises(ValueError, match=r"distinct non-negative coordinate indices, got \(0, -1\)"):
        FeatureAlignmentTracker()(net, 0, data)
    nn.init.zeros_(net[0].weight)
    with pytest.raises(ValueError, match="the first-layer weight is zero: its support share is undefined"):
        FeatureAlignmentTracker(support=(0,))(net, 0, None)
    with pytest.raises(ValueError, match="the first-layer weight is zero: its subspace share is undefined"):
        FeatureAlignmentTracker(subspace=[[1.0, 0.0, 0.0]])(net, 0, None)
