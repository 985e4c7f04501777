"""Curvature: Hessian-vector products, Lanczos, power iteration, Hutchinson, loadings, the sharpness tracker."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.func import functional_call

from bridge.config import RunConfig, ScheduleConfig, TrainConfig
from bridge.estimators.hessian import dense_hessian, hessian_operator, hutchinson_trace, lanczos_top, power_iteration
from bridge.estimators.parameter_groups import block_loading, parameter_names, tensor_loading
from bridge.losses import mse
from bridge.models import DeepLinearConfig, MLPConfig, TransformerConfig, build_model
from bridge.seeding import generator
from bridge.tasks import LinearTeacherConfig, make_task
from bridge.tasks.teacher_mlp import TeacherMLPConfig
from bridge.trackers.curvature import LOADING_OBSERVABLES, CurvatureLoadingTracker, SharpnessTracker

torch.set_num_threads(1)


def tiny_mlp(seed: int = 0, widths=(5, 4)):
    net = build_model(MLPConfig(d_in=3, d_out=2, widths=widths, activation="tanh"), seed=seed).double()
    g = generator(seed + 100)
    x = torch.randn(24, 3, generator=g, dtype=torch.float64)
    y = torch.randn(24, 2, generator=g, dtype=torch.float64)
    return net, x, y


def reference_hessian(net, x, y, loss_fn) -> np.ndarray:
    """Dense Hessian by torch.autograd.functional.hessian over the flat parameter vector."""
    names = [n for n, _ in net.named_parameters()]
    shapes = [p.shape for p in net.parameters()]
    sizes = [p.numel() for p in net.parameters()]
    flat0 = torch.cat([p.detach().reshape(-1) for p in net.parameters()])

    def loss_of(flat):
        params = {n: t.reshape(s) for n, t, s in zip(names, torch.split(flat, sizes), shapes)}
        return loss_fn(functional_call(net, params, (x,)), y)

    return torch.autograd.functional.hessian(loss_of, flat0).numpy()


def test_hvp_matches_reference_hessian_and_finite_differences():
    net, x, y = tiny_mlp()
    h_ref = reference_hessian(net, x, y, mse)
    v = torch.randn(h_ref.shape[0], generator=generator(1), dtype=torch.float64)
    with hessian_operator(net, x, y, mse) as op:
        hv = op.hvp(v).numpy()
        np.testing.assert_allclose(hv, h_ref @ v.numpy(), rtol=1e-9, atol=1e-11)
        np.testing.assert_allclose(dense_hessian(op), h_ref, rtol=1e-9, atol=1e-11)
    # central differences of the gradient along v
    params = list(net.parameters())
    eps = 1e-5

    def grad_at(shift: float) -> np.ndarray:
        with torch.no_grad():
            start = 0
            for p in params:
                p.add_(shift * v[start : start + p.numel()].reshape(p.shape))
                start += p.numel()
        g = torch.autograd.grad(mse(net(x), y), params)
        with torch.no_grad():
            start = 0
            for p in params:
                p.sub_(shift * v[start : start + p.numel()].reshape(p.shape))
                start += p.numel()
        return torch.cat([t.reshape(-1) for t in g]).numpy()

    fd = (grad_at(eps) - grad_at(-eps)) / (2 * eps)
    np.testing.assert_allclose(fd, hv, rtol=1e-5, atol=1e-7)


def test_lanczos_top_eigenvalues_match_dense_eigvalsh():
    net, x, y = tiny_mlp(seed=3)
    exact = np.linalg.eigvalsh(reference_hessian(net, x, y, mse))[::-1]
    with hessian_operator(net, x, y, mse) as op:
        values, vectors = lanczos_top(op, k=3, tol=1e-10)
        residual = op.matvec(vectors[:, 0]) - values[0] * vectors[:, 0]
    assert values[0] == pytest.approx(exact[0], rel=1e-4)
    np.testing.assert_allclose(values, exact[:3], rtol=1e-6)
    assert np.linalg.norm(residual) < 1e-6 * abs(values[0])


def test_lanczos_in_float32_still_meets_1e_4():
    net, x, y = tiny_mlp(seed=4)
    exact = np.linalg.eigvalsh(reference_hessian(net, x, y, mse))[-1]
    net32 = net.float()
    with hessian_operator(net32, x.float(), y.float(), mse) as op:
        values, _ = lanczos_top(op, k=1, tol=1e-8)
    assert values[0] == pytest.approx(exact, rel=1e-4)


def test_power_iteration_agrees_with_lanczos_and_warm_start_is_cheaper():
    net, x, y = tiny_mlp(seed=5)
    exact = np.linalg.eigvalsh(reference_hessian(net, x, y, mse))
    assert exact[-1] > abs(exact[0])  # top eigenvalue dominates: power iteration finds it
    with hessian_operator(net, x, y, mse) as op:
        res = power_iteration(op, rtol=1e-12, max_iter=5000, generator=generator(0))
        assert res.value == pytest.approx(exact[-1], rel=1e-6)
        cold = op.n_hvp
        warm = power_iteration(op, v0=res.vector, rtol=1e-12, max_iter=5000)
        assert warm.iterations < cold / 4
        assert warm.value == pytest.approx(exact[-1], rel=1e-8)


def test_hutchinson_trace_exact_on_diagonal_and_unbiased_on_hessian():
    from scipy.sparse.linalg import aslinearoperator

    diag = np.arange(1.0, 11.0)
    est, _ = hutchinson_trace(aslinearoperator(np.diag(diag)), 1, generator(0))
    assert est == pytest.approx(diag.sum(), rel=1e-12)  # z_i^2 = 1 for Rademacher probes
    net, x, y = tiny_mlp(seed=6)
    h = reference_hessian(net, x, y, mse)
    n_probes = 400
    # Var(zᵀHz) = 2 (‖H‖_F² − Σ H_ii²) for Rademacher z
    sd = np.sqrt(2 * ((h**2).sum() - (np.diag(h) ** 2).sum()) / n_probes)
    with hessian_operator(net, x, y, mse) as op:
        est, err = hutchinson_trace(op, n_probes, generator(1))
    assert abs(est - np.trace(h)) < 4 * sd
    assert err == pytest.approx(sd, rel=0.2)


def test_deep_linear_at_the_origin_has_the_teacher_singular_values_as_eigenvalues():
    # At W = 0 the Hessian of ½E|y − W2 W1 x|² (whitened x) has eigenvalues ±s_i, each d_hidden times.
    data = make_task(LinearTeacherConfig((3.0, 1.5), d_in=4, d_out=3), seed=0)
    net = build_model(DeepLinearConfig(d_in=4, d_hidden=5, d_out=3, init_std=1e-9), seed=0).double()
    x, y = data.train.x.double(), data.train.y.double()
    with hessian_operator(net, x, y, data.loss_fn) as op:
        values, _ = lanczos_top(op, k=6, tol=1e-12)
        dense = dense_hessian(op)
    np.testing.assert_allclose(values, [3.0] * 5 + [1.5], rtol=1e-6)
    full = np.linalg.eigvalsh(dense)
    np.testing.assert_allclose(full[:6], [-3.0] * 5 + [-1.5], rtol=1e-6)
    assert np.trace(dense) == pytest.approx(0.0, abs=1e-9)


def test_tensor_loading_sums_to_one_and_neuron_blocks_are_exact():
    net, x, y = tiny_mlp(seed=7, widths=(4,))
    with hessian_operator(net, x, y, mse) as op:
        _, vectors = lanczos_top(op, k=1)
    top = vectors[:, 0]
    loads = tensor_loading(net, top)
    assert sum(loads.values()) == pytest.approx(1.0, rel=1e-12)
    assert list(loads) == ["layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias"]
    # one hidden layer: neuron j owns row j of W0, b0[j] and column j of W1 -> shares sum to 1 − share(b1)
    shares = block_loading(net, top)
    assert [b.index for b, _ in shares] == [{"layer": 0, "neuron": j} for j in range(4)]
    assert sum(s for _, s in shares) == pytest.approx(1.0 - loads["layers.1.bias"], rel=1e-12)
    w0 = top[:12].reshape(4, 3)
    b0 = top[12:16]
    w1 = top[16:24].reshape(2, 4)
    expected = [(w0[j] ** 2).sum() + b0[j] ** 2 + (w1[:, j] ** 2).sum() for j in range(4)]
    np.testing.assert_allclose([s for _, s in shares], np.array(expected) / (top @ top), rtol=1e-12)


def test_toy_transformer_eigenvalues_and_head_loadings():
    cfg = TransformerConfig(d_vocab=5, n_ctx=3, d_model=8, n_heads=2, d_head=4, n_layers=1, d_mlp=None)
    model = build_model(cfg, seed=0)
    tokens = torch.randint(0, 5, (16, 3), generator=generator(0))
    target = torch.randint(0, 5, (16,), generator=generator(1))
    from bridge.losses import cross_entropy_last

    with hessian_operator(model, tokens, target, cross_entropy_last) as op:
        dense = dense_hessian(op)
        values, vectors = lanczos_top(op, k=2, tol=1e-8)
    exact = np.linalg.eigvalsh(dense)[::-1]
    assert values[0] == pytest.approx(exact[0], rel=1e-4)
    assert values[1] == pytest.approx(exact[1], rel=1e-3)
    names = parameter_names(model)
    assert "blocks.0.attn.q.weight" in names and "embed.weight" in names
    loads = tensor_loading(model, vectors[:, 0])
    assert sum(loads.values()) == pytest.approx(1.0, rel=1e-9)
    heads = block_loading(model, vectors[:, 0])
    assert [b.index for b, _ in heads] == [{"layer": 0, "head": 0}, {"layer": 0, "head": 1}]
    attn = sum(v for k, v in loads.items() if k.startswith("blocks.0.attn.") and k != "blocks.0.attn.o.bias")
    assert sum(s for _, s in heads) == pytest.approx(attn, rel=1e-9)


def test_sharpness_tracker_rows_and_warm_start():
    data = make_task(TeacherMLPConfig(d_in=3, n_train=32, n_test=0, width=8), seed=0)
    net = build_model(MLPConfig(d_in=3, d_out=1, widths=(6,), activation="tanh"), seed=0)
    tracker = SharpnessTracker(k=2, trace_probes=200, seed=0)
    rows = tracker(net, 0, data)
    by = {}
    for r in rows:
        by.setdefault(r["observable"], []).append(r)
    with hessian_operator(net.double(), data.train.x.double(), data.train.y.double(), mse) as op:
        exact = np.linalg.eigvalsh(dense_hessian(op))
    net.float()
    eigs = [r["value"] for r in by["curvature/top_eig"]]
    assert [r["rank"] for r in by["curvature/top_eig"]] == [1, 2]
    np.testing.assert_allclose(eigs, exact[::-1][:2], rtol=1e-4)
    trace, err = by["curvature/trace"][0]["value"], by["curvature/trace_stderr"][0]["value"]
    assert abs(trace - exact.sum()) < 4 * err
    assert sum(r["value"] for r in by["curvature/loading"]) == pytest.approx(1.0, rel=1e-6)
    assert len(by["curvature/neuron_loading"]) == 6
    # warm start from the previous top vector: fewer products for the same answer
    lean = SharpnessTracker(k=1, trace_probes=0, loading=False, seed=0)
    cold = {r["observable"]: r["value"] for r in lean(net, 0, data)}
    warm = {r["observable"]: r["value"] for r in lean(net, 1, data)}
    assert warm["curvature/hvp_count"] < cold["curvature/hvp_count"]
    assert warm["curvature/top_eig"] == pytest.approx(exact[-1], rel=1e-4)
    assert cold["curvature/top_eig"] == pytest.approx(exact[-1], rel=1e-4)


def test_the_top_vector_keeps_its_sign_from_one_checkpoint_to_the_next():
    """``orient`` aligns each new top eigenvector with the previous one, so ``grad_along_top``
    and the stored ``top_vector_`` keep their sign across calls on nearby weights (an
    anti-aligning orient would flip them at every call)."""
    import itertools

    from bridge.trackers.curvature import orient

    rng = np.random.default_rng(0)
    for _ in range(20):
        v, ref = rng.standard_normal(7), rng.standard_normal(7)
        out = orient(v, ref)
        assert out @ ref > 0 and (np.array_equal(out, v) or np.array_equal(out, -v))
        assert np.array_equal(orient(v, v), v) and np.array_equal(orient(-v, v), v)

    data = make_task(TeacherMLPConfig(d_in=3, n_train=32, n_test=0, width=8), seed=0)
    net = build_model(MLPConfig(d_in=3, d_out=1, widths=(6,), activation="tanh"), seed=0)
    tracker = SharpnessTracker(k=1, trace_probes=0, loading=False, seed=0)
    along, tops = [], []
    for step in range(4):
        if step:
            with torch.no_grad():  # nearby weights, as between two checkpoints
                for p in net.parameters():
                    p.mul_(1.0 + 1e-3 * step)
        rows = {r["observable"]: r["value"] for r in tracker(net, step, data)}
        along.append(rows["curvature/grad_along_top"])
        tops.append(tracker.top_vector_.copy())
    assert abs(along[0]) > 1e-4, along
    assert all(np.sign(a) == np.sign(along[0]) for a in along), along
    np.testing.assert_allclose(along, along[0], rtol=0.05)  # the same component, not ± it
    assert all(float(a @ b) > 0.99 for a, b in itertools.pairwise(tops))


def test_sharpness_tracker_online_equals_offline(tmp_path):
    from bridge.training.analyze import analyze
    from bridge.training.loop import train

    cfg = RunConfig(
        TeacherMLPConfig(d_in=3, n_train=32, n_test=0, width=8),
        MLPConfig(d_in=3, d_out=1, widths=(8,), activation="tanh"),
        TrainConfig(optimizer="gd", lr=0.2, steps=20, schedule=ScheduleConfig(n_log=0, every=10)),
        seed=0,
    )
    run = train(cfg, tmp_path / "run", trackers=[SharpnessTracker(trace_probes=0, loading=False)], device="cpu", progress=False)
    online = run.observable("curvature/top_eig", rank=1)
    assert list(online.index) == [0, 10, 20]
    analyze(run, [SharpnessTracker(trace_probes=0, loading=False)], progress=False)
    offline = run.observable("curvature/top_eig", rank=1)
    np.testing.assert_allclose(offline.to_numpy(), online.to_numpy(), rtol=1e-5)
    assert "loss/train" in set(run.metrics["observable"])  # other observables kept


def test_curvature_loading_tracker_adds_loadings_and_keeps_the_online_rows(tmp_path):
    from bridge.training.analyze import analyze
    from bridge.training.loop import train

    cfg = RunConfig(
        TeacherMLPConfig(d_in=3, n_train=32, n_test=0, width=8),
        MLPConfig(d_in=3, d_out=1, widths=(6, 5), activation="tanh"),
        TrainConfig(optimizer="gd", lr=0.2, steps=20, schedule=ScheduleConfig(n_log=0, every=10, track_every=1)),
        seed=0,
    )
    run = train(cfg, tmp_path / "run", trackers=[SharpnessTracker(trace_probes=0, loading=False)], device="cpu", progress=False)
    online = run.metrics.copy()
    analyze(run, [CurvatureLoadingTracker(trace_probes=8, seed=1)], progress=False)
    after = run.metrics
    kept = after[~after["observable"].isin(LOADING_OBSERVABLES)].reset_index(drop=True)
    assert kept[["step", "observable", "value"]].equals(online[["step", "observable", "value"]].reset_index(drop=True))
    # the same rows, in the same order, as the sharpness tracker with loadings, filtered
    full, data = SharpnessTracker(k=1, trace_probes=8, loading=True, seed=1), run.task_data()
    expected = [{"step": s, **r} for s in run.steps for r in full(run.model_at(s), s, data) if r["observable"] in LOADING_OBSERVABLES]
    added = after[after["observable"].isin(LOADING_OBSERVABLES)]
    assert len(added) == len(expected) == 3 * (6 + 11 + 2)  # 3 checkpoints x (6 tensors, 11 neurons, trace, stderr)
    np.testing.assert_array_equal(added["value"].to_numpy(), [r["value"] for r in expected])
    # per step the tensor loadings sum to 1; the neuron loadings match the dense Hessian's top eigenvector
    sums = run.table("curvature/loading", "group").sum(axis=1)
    np.testing.assert_allclose(sums.to_numpy(), 1.0, rtol=1e-9)
    net = run.model_at(20).double()
    with hessian_operator(net, data.train.x.double(), data.train.y.double(), mse) as op:
        _, vecs = np.linalg.eigh(dense_hessian(op))
    dense = {(b.index["layer"], b.index["neuron"]): v for b, v in block_loading(net, vecs[:, -1])}
    shares = run.table("curvature/neuron_loading", ["layer", "neuron"]).loc[20]
    np.testing.assert_allclose([shares[k] for k in sorted(dense)], [dense[k] for k in sorted(dense)], rtol=1e-3, atol=1e-6)


def test_bad_input_is_rejected_before_work():
    net, x, y = tiny_mlp()
    with pytest.raises(ValueError, match="same positive number"):
        with hessian_operator(net, x, y[:3], mse):
            pass
    with hessian_operator(net, x, y, mse) as op:
        with pytest.raises(ValueError, match="k must satisfy"):
            lanczos_top(op, k=0)
        with pytest.raises(ValueError, match="v0 has"):
            lanczos_top(op, k=1, v0=np.ones(3))
    with pytest.raises(RuntimeError, match="freed"):
        op.hvp(torch.zeros(op.shape[0], dtype=torch.float64))
    with pytest.raises(ValueError, match="trainable parameters"):
        tensor_loading(net, np.ones(3))
    with pytest.raises(ValueError, match="k must be"):
        SharpnessTracker(k=0)


def test_deep_linear_unit_blocks_own_their_row_and_column():
    net = build_model(DeepLinearConfig(d_in=3, d_hidden=4, d_out=2, depth=3), seed=0)
    n = sum(p.numel() for p in net.parameters())
    vec = torch.randn(n, generator=generator(2), dtype=torch.float64).numpy()
    w0, w1, w2 = vec[:12].reshape(4, 3), vec[12:28].reshape(4, 4), vec[28:].reshape(2, 4)
    total = vec @ vec
    shares = {(b.index["layer"], b.index["neuron"]): s for b, s in block_loading(net, vec)}
    assert len(shares) == 8
    for j in range(4):
        assert shares[(0, j)] == pytest.approx(((w0[j] ** 2).sum() + (w1[:, j] ** 2).sum()) / total, rel=1e-12)
        assert shares[(1, j)] == pytest.approx(((w1[j] ** 2).sum() + (w2[:, j] ** 2).sum()) / total, rel=1e-12)
    assert sum(tensor_loading(net, vec).values()) == pytest.approx(1.0, rel=1e-12)


def test_sharpness_tracker_on_a_fixed_subset():
    data = make_task(TeacherMLPConfig(d_in=3, n_train=64, n_test=0, width=8), seed=0)
    net = build_model(MLPConfig(d_in=3, d_out=1, widths=(6,), activation="tanh"), seed=0)
    tracker = SharpnessTracker(k=1, trace_probes=0, loading=False, subset=10, seed=3)
    x, y = tracker.batch(data, torch.device("cpu"))
    assert x.shape[0] == 10
    x2, _ = tracker.batch(data, torch.device("cpu"))
    torch.testing.assert_close(x, x2)  # the same subset at every call
    with hessian_operator(net, x, y, mse) as op:
        exact = np.linalg.eigvalsh(dense_hessian(op))[-1]
    value = next(r["value"] for r in tracker(net, 0, data) if r["observable"] == "curvature/top_eig")
    assert value == pytest.approx(exact, rel=1e-4)
    with hessian_operator(net, data.train.x, data.train.y, mse) as op:
        full = lanczos_top(op, 1)[0][0]
    assert abs(full - exact) > 1e-3 * full  # the subset's Hessian is a different matrix


def test_unit_blocks_leave_out_frozen_parameters():
    # MLP 3 -> 4 -> 2 with the hidden bias frozen: the flat vector is W0 (12), W1 (8), b1 (2)
    net, x, y = tiny_mlp(seed=3, widths=(4,))
    net.layers[0].bias.requires_grad_(False)
    vec = torch.randn(22, generator=generator(4), dtype=torch.float64).numpy()
    w0, w1 = vec[:12].reshape(4, 3), vec[12:20].reshape(2, 4)
    shares = [s for _, s in block_loading(net, vec)]
    expected = [((w0[j] ** 2).sum() + (w1[:, j] ** 2).sum()) / (vec @ vec) for j in range(4)]
    np.testing.assert_allclose(shares, expected, rtol=1e-12)
    data = make_task(LinearTeacherConfig((2.0, 1.0), d_in=3, d_out=2, n_train=16), seed=0)
    rows = SharpnessTracker(k=1, trace_probes=0, seed=0)(net.float(), 0, data)  # loading=True: it raised KeyError
    neuron = [r["value"] for r in rows if r["observable"] == "curvature/neuron_loading"]
    assert len(neuron) == 4 and 0.0 < sum(neuron) <= 1.0 + 1e-9
    # deep linear 3 -> 4 -> 2 with the first layer frozen: a first-layer unit keeps only its column out
    dln = build_model(DeepLinearConfig(d_in=3, d_hidden=4, d_out=2), seed=0)
    dln.weights[0].requires_grad_(False)
    vec = torch.randn(8, generator=generator(5), dtype=torch.float64).numpy()
    w1 = vec.reshape(2, 4)
    shares = [s for _, s in block_loading(dln, vec)]
    np.testing.assert_allclose(shares, (w1**2).sum(axis=0) / (vec @ vec), rtol=1e-12)


def test_power_iteration_stops_on_a_relative_change_so_the_operators_scale_does_not_matter():
    """``rtol`` is relative: scaling the operator by 1e-3 or 1e3 changes neither the number of
    products nor the relative error of the top eigenvalue (an absolute test stops a 1e-3-scale
    operator after a handful of products and runs a 1e3-scale one to ``max_iter``)."""
    from scipy.sparse.linalg import aslinearoperator

    spectrum = np.linspace(1.0, 0.5, 20)  # |λ2/λ1| = 0.974: slow, so the stopping rule decides
    runs = {}
    for scale in (1.0, 1e-3, 1e3):
        res = power_iteration(aslinearoperator(np.diag(scale * spectrum)), generator=generator(0))
        runs[scale] = (res.iterations, abs(res.value - scale) / scale)
    iters, err = runs[1.0]
    assert 20 < iters < 500 and 1e-7 < err < 1e-4, runs[1.0]
    for scale in (1e-3, 1e3):
        assert runs[scale][0] == iters, runs
        assert runs[scale][1] == pytest.approx(err, rel=1e-6), runs


def test_the_top_vector_follows_the_previous_calls_orientation_and_the_gradient_cosine_is_normalised():
    data = make_task(TeacherMLPConfig(d_in=3, n_train=32, n_test=0, width=8), seed=0)
    net = build_model(MLPConfig(d_in=3, d_out=1, widths=(6,), activation="tanh"), seed=0)
    tracker = SharpnessTracker(k=1, trace_probes=0, loading=False, seed=0)
    first = {r["observable"]: r["value"] for r in tracker(net, 0, data)}
    v = tracker.top_vector_.copy()
    tracker.top_vector_ = -v  # as if the previous call had oriented it the other way
    again = {r["observable"]: r["value"] for r in tracker(net, 1, data)}
    assert float(tracker.top_vector_ @ v) == pytest.approx(-1.0, abs=1e-4)
    assert again["curvature/grad_along_top"] == pytest.approx(-first["curvature/grad_along_top"], rel=1e-3)
    net.zero_grad()
    mse(net(data.train.x), data.train.y).backward()
    gnorm = float(torch.sqrt(sum((p.grad.double() ** 2).sum() for p in net.parameters())))
    assert abs(first["curvature/grad_along_top"]) > 1e-3 * gnorm
    assert first["curvature/grad_cosine"] == pytest.approx(first["curvature/grad_along_top"] / gnorm, rel=1e-4)


def test_one_trace_probe_gives_a_trace_without_a_standard_error_and_a_subset_one_short_of_the_data_is_drawn():
    data = make_task(TeacherMLPConfig(d_in=3, n_train=12, n_test=0, width=8), seed=0)
    net = build_model(MLPConfig(d_in=3, d_out=1, widths=(4,), activation="tanh"), seed=0)
    names = {r["observable"] for r in SharpnessTracker(trace_probes=1, loading=False)(net, 0, data)}
    assert "curvature/trace" in names and "curvature/trace_stderr" not in names
    x, _ = SharpnessTracker(subset=11, seed=3).batch(data, torch.device("cpu"))
    assert x.shape[0] == 11 and not torch.equal(x, data.train.x[:11])  # a seeded draw, not the first rows
    whole, _ = SharpnessTracker(subset=12, seed=3).batch(data, torch.device("cpu"))
    assert torch.equal(whole, data.train.x)
