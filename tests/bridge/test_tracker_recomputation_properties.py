"""Property tests of tracker rows against slow recomputations from the model's weights and the task's data, over
drawn small models, tasks and seeds: Walsh coefficients by a loop over cube points and subsets, Fourier norms and
restricted/excluded losses by numpy's FFT, mode strengths and alignments from the SVD of the product of a deep linear
network's matrices, coordinate sizes, losses and kernels computed by hand; and the invariances the rows claim
(hidden units permuted, a deep linear network's hidden space rotated)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import bridge.trackers as T
from bridge.models import MLP, DeepLinearConfig, MLPConfig, build_model
from bridge.tasks import BooleanCubeConfig, LinearTeacherConfig, ModularConfig, TeacherMLPConfig, make_task

PROPERTY = settings(max_examples=20, deadline=None, database=None)


def keyed(rows):
    """``{(observable, index items): value}``, asserting one row per observable and index."""
    out = {(r["observable"], tuple(sorted((k, v) for k, v in r.items() if k not in ("observable", "value")))): r["value"] for r in rows}
    assert len(out) == len(rows)
    return out


def permuted(net: MLP, seed: int) -> MLP:
    """A copy of a one- or two-hidden-layer MLP with the units of every hidden layer permuted: the same function."""
    other = MLP(net.config, seed=0)
    with torch.no_grad():
        last = None
        for i, (a, b) in enumerate(zip(net.layers, other.layers)):
            w = a.weight.detach().clone()
            if last is not None:
                w = w[:, last]
            perm = torch.randperm(w.shape[0], generator=torch.Generator().manual_seed(seed + i)) if i < len(net.layers) - 1 else torch.arange(w.shape[0])
            b.weight.copy_(w[perm])
            if a.bias is not None:
                b.bias.copy_(a.bias.detach()[perm])
            last = perm
    return other


# --- Walsh ----------------------------------------------------------------------------------------------------


@st.composite
def cube_cases(draw):
    d = draw(st.integers(2, 4))
    subsets = draw(st.lists(st.sets(st.integers(0, d - 1), max_size=d).map(lambda s: tuple(sorted(s))), min_size=1, max_size=3, unique=True))
    coefficients = draw(st.lists(st.sampled_from([-1.0, -0.5, 0.25, 0.75, 1.5]), min_size=len(subsets), max_size=len(subsets)))
    width = draw(st.integers(1, 6))
    activation = draw(st.sampled_from(["tanh", "relu", "quadratic"]))
    return d, tuple(subsets), tuple(coefficients), width, activation, draw(st.booleans()), draw(st.integers(0, 99))


@PROPERTY
@given(cube_cases())
def test_walsh_rows_equal_a_loop_over_cube_points_and_subsets(case):
    d, subsets, coefficients, width, activation, bias, seed = case
    data = make_task(BooleanCubeConfig(d=d, subsets=subsets, coefficients=coefficients, n_train=2), seed=seed)
    net = build_model(MLPConfig(d_in=d, d_out=1, widths=(width,), activation=activation, bias=bias), seed=seed)
    got = keyed(T.WalshTracker()(net, 0, data))
    points = list(itertools.product([-1.0, 1.0], repeat=d))
    with torch.no_grad():
        values = [float(v) for v in net(torch.tensor(points))[:, 0]]
    target = {sum(1 << j for j in s): c for s, c in zip(subsets, coefficients)}
    coef = {m: math.fsum(f * math.prod(x[j] for j in range(d) if m >> j & 1) for f, x in zip(values, points)) / len(points) for m in range(2**d)}
    scale = max(1.0, max(map(abs, values)))
    for i, (s, c) in enumerate(zip(subsets, coefficients)):
        assert got[("walsh/fraction", (("term", i),))] == pytest.approx(coef[sum(1 << j for j in s)] / c, rel=1e-9, abs=1e-12 * scale)
    for k in range(d + 1):
        level = [m for m in range(2**d) if bin(m).count("1") == k]
        assert got[("walsh/residual", (("degree", k),))] == pytest.approx(math.fsum((coef[m] - target.get(m, 0.0)) ** 2 for m in level), rel=1e-9, abs=1e-12 * scale**2)
        assert got[("walsh/power", (("degree", k),))] == pytest.approx(math.fsum(coef[m] ** 2 for m in level), rel=1e-9, abs=1e-12 * scale**2)
    f_star = [math.fsum(c * math.prod(x[j] for j in range(d) if m >> j & 1) for m, c in target.items()) for x in points]
    assert got[("walsh/cube_mse", ())] == pytest.approx(math.fsum((f - t) ** 2 for f, t in zip(values, f_star)) / len(points), rel=1e-9, abs=1e-12 * scale**2)
    assert len(got) == len(subsets) + 2 * (d + 1) + 1


# --- Fourier --------------------------------------------------------------------------------------------------


@st.composite
def modular_cases(draw):
    p = draw(st.sampled_from([5, 7]))
    keys = tuple(draw(st.sets(st.integers(1, (p - 1) // 2), min_size=1)))
    return p, draw(st.sampled_from(["+", "-"])), draw(st.integers(2, 8)), draw(st.sampled_from(["relu", "quadratic"])), keys, draw(st.integers(0, 99))


def _grid_logits(net: MLP, p: int) -> np.ndarray:
    a, b = torch.arange(p).repeat_interleave(p), torch.arange(p).repeat(p)
    with torch.no_grad():
        return net(torch.cat([F.one_hot(a, p), F.one_hot(b, p)], 1).float()).double().numpy()


def _masked_inverse(spectrum: np.ndarray, cells: list[tuple[int, int]]) -> np.ndarray:
    kept = np.zeros_like(spectrum)
    for a, b in cells:
        kept[a, b] = spectrum[a, b]
    return np.fft.ifft2(kept, axes=(0, 1)).real


@PROPERTY
@given(modular_cases())
def test_fourier_rows_equal_a_plain_dft_of_the_embedding_and_of_the_logit_table(case):
    p, op, width, activation, keys, seed = case
    data = make_task(ModularConfig(p=p, encoding="onehot", op=op), seed=seed)
    net = build_model(MLPConfig(d_in=2 * p, d_out=p, widths=(width,), activation=activation), seed=seed)
    got = keyed(T.FourierTracker(key_frequencies=keys, neurons=False)(net, 0, data))
    w = net.layers[0].weight.detach().double().numpy()
    embed = np.fft.fft(np.concatenate([w[:, :p].T, w[:, p:].T], 1), axis=0)  # (residue frequency, 2·width)
    sign = 1 if op == "+" else -1
    logits = _grid_logits(net, p)
    spectrum = np.fft.fft2(logits.reshape(p, p, p), axes=(0, 1))  # (a frequency, b frequency, output)
    for k in range((p - 1) // 2 + 1):
        share = 1.0 if k == 0 else 2.0  # a real frequency k > 0 is the pair k, p − k of the complex transform
        assert got[("fourier/embed_norm", (("frequency", k),))] == pytest.approx(math.sqrt(share / p * (np.abs(embed[k]) ** 2).sum()), rel=1e-9, abs=1e-12)
        assert got[("fourier/logit_norm", (("frequency", k),))] == pytest.approx(math.sqrt(share * (np.abs(spectrum[k, sign * k % p]) ** 2).sum()) / p, rel=1e-9, abs=1e-9)
    cells = [(k, sign * k % p) for k in keys] + [(p - k, -sign * k % p) for k in keys]
    restricted = _masked_inverse(spectrum, [(0, 0), *cells]).reshape(p * p, p)
    excluded = logits - _masked_inverse(spectrum, cells).reshape(p * p, p)
    labels, train = data.info["table"].reshape(-1), data.info["train_index"]
    for name, table in (("restricted", restricted), ("excluded", excluded), ("full", logits)):
        expected = float(F.cross_entropy(torch.from_numpy(table)[train], labels[train]))
        assert got[(f"fourier/{name}_loss", ())] == pytest.approx(expected, rel=1e-9), name
    assert got[("weights/norm", ())] == pytest.approx(math.sqrt(sum(float((q.detach().double() ** 2).sum()) for q in net.parameters())), rel=1e-12)
    assert got[("fourier/n_key", ())] == len(keys)


@PROPERTY
@given(modular_cases())
def test_fourier_rows_do_not_change_when_the_hidden_units_are_permuted(case):
    p, op, width, activation, _, seed = case
    data = make_task(ModularConfig(p=p, encoding="onehot", op=op), seed=seed)
    net = build_model(MLPConfig(d_in=2 * p, d_out=p, widths=(width,), activation=activation), seed=seed)
    first, second = (keyed(T.FourierTracker()(n, 0, data)) for n in (net, permuted(net, seed)))
    assert first.keys() == second.keys()
    for key, value in first.items():  # the same function; embedding norms sum the same squares in another order
        assert second[key] == pytest.approx(value, rel=1e-5, abs=1e-6), key


# --- Modes of a deep linear network ---------------------------------------------------------------------------


@st.composite
def linear_cases(draw):
    d_in, d_out = draw(st.integers(2, 4)), draw(st.integers(2, 4))
    n_modes = draw(st.integers(1, min(d_in, d_out)))
    values = sorted(draw(st.lists(st.sampled_from([0.5, 1.0, 1.5, 2.0, 3.0]), min_size=n_modes, max_size=n_modes, unique=True)), reverse=True)
    return d_in, d_out, tuple(values), draw(st.integers(2, 6)), draw(st.integers(2, 3)), draw(st.integers(0, 99))


@PROPERTY
@given(linear_cases())
def test_mode_rows_equal_the_teachers_modes_projected_on_the_product_of_the_matrices_and_its_svd(case):
    d_in, d_out, values, width, depth, seed = case
    data = make_task(LinearTeacherConfig(values, d_in=d_in, d_out=d_out, n_train=8), seed=seed)
    net = build_model(DeepLinearConfig(d_in, width, d_out, depth=depth, init_std=0.6), seed=seed)
    got = keyed(T.ModeTracker()(net, 0, data))
    product = torch.eye(d_in, dtype=torch.float64)
    for w in net.weights:
        product = w.detach().double() @ product
    u, v = data.info["U"].double(), data.info["V"].double()
    left, _, right = torch.linalg.svd(product, full_matrices=False)
    for m in range(len(values)):  # distinct singular values: every mode is its own group
        assert got[("mode/strength", (("mode", m),))] == pytest.approx(float(u[:, m] @ product @ v[:, m]), rel=1e-5, abs=1e-6)
        best = max(abs(float(u[:, m] @ left[:, j])) * abs(float(v[:, m] @ right[j])) for j in range(left.shape[1]))
        assert got[("mode/alignment", (("mode", m),))] == pytest.approx(best, rel=1e-4, abs=1e-5)
    assert len(got) == 2 * len(values)


@PROPERTY
@given(linear_cases())
def test_mode_rows_do_not_change_when_a_hidden_space_is_rotated(case):
    d_in, d_out, values, width, depth, seed = case
    data = make_task(LinearTeacherConfig(values, d_in=d_in, d_out=d_out, n_train=8), seed=seed)
    net = build_model(DeepLinearConfig(d_in, width, d_out, depth=depth, init_std=0.6), seed=seed)
    turned = build_model(DeepLinearConfig(d_in, width, d_out, depth=depth, init_std=0.6), seed=seed)
    q, _ = torch.linalg.qr(torch.randn(width, width, generator=torch.Generator().manual_seed(seed)))
    with torch.no_grad():  # W₁ W₀ = (W₁ Qᵀ)(Q W₀)
        turned.weights[0].copy_(q @ net.weights[0])
        turned.weights[1].copy_(net.weights[1] @ q.T)
    first, second = keyed(T.ModeTracker()(net, 0, data)), keyed(T.ModeTracker()(turned, 0, data))
    for key, value in first.items():
        assert second[key] == pytest.approx(value, rel=1e-4, abs=1e-5), key


# --- Coordinates, loss, kernel --------------------------------------------------------------------------------


@st.composite
def mlp_cases(draw):
    widths = tuple(draw(st.lists(st.integers(2, 6), min_size=1, max_size=2)))
    return widths, draw(st.sampled_from(["tanh", "relu"])), draw(st.booleans()), draw(st.integers(1, 12)), draw(st.integers(0, 99))


@PROPERTY
@given(mlp_cases())
def test_coordinate_sizes_are_the_rms_of_each_layers_output_by_hand_and_ignore_the_order_of_hidden_units(case):
    widths, activation, bias, n, seed = case
    data = make_task(TeacherMLPConfig(d_in=3, n_train=12, n_test=0), seed=seed)
    net = MLP(MLPConfig(d_in=3, d_out=2, widths=widths, activation=activation, bias=bias), seed=seed)
    got = keyed(T.CoordinatesTracker(max_examples=n)(net, 0, data))
    h = data.train.x[:n].double()
    for i, layer in enumerate(net.layers):
        out = h @ layer.weight.detach().double().T + (0.0 if layer.bias is None else layer.bias.detach().double())
        assert got[("coordinates/act", (("layer", i),))] == pytest.approx(math.sqrt(float((out**2).mean())), rel=1e-5)
        assert got[("coordinates/delta", (("layer", i),))] == 0.0 and got[("coordinates/update", (("layer", i),))] == 0.0
        h = torch.tanh(out) if activation == "tanh" else torch.relu(out)
    again = keyed(T.CoordinatesTracker(max_examples=n)(permuted(net, seed), 0, data))
    for key, value in got.items():
        assert again[key] == pytest.approx(value, rel=1e-5, abs=1e-7), key


@PROPERTY
@given(mlp_cases(), st.one_of(st.none(), st.integers(1, 20)))
def test_loss_rows_are_the_tasks_loss_on_the_first_examples_of_the_split_they_name(case, max_examples):
    widths, activation, bias, _, seed = case
    data = make_task(LinearTeacherConfig((2.0, 1.0), d_in=3, d_out=2, n_train=12, n_test=7), seed=seed)
    net = MLP(MLPConfig(d_in=3, d_out=2, widths=widths, activation=activation, bias=bias), seed=seed)
    got = keyed(T.LossTracker(max_examples=max_examples)(net, 0, data))
    assert set(got) == {("loss/train", ()), ("loss/test", ())}
    for name, split in (("train", data.train), ("test", data.test)):
        x, y = split.x[:max_examples].double(), split.y[:max_examples].double()
        h = x
        for i, layer in enumerate(net.layers):
            h = h @ layer.weight.detach().double().T + (0.0 if layer.bias is None else layer.bias.detach().double())
            if i < len(net.layers) - 1:
                h = torch.tanh(h) if activation == "tanh" else torch.relu(h)
        assert got[(f"loss/{name}", ())] == pytest.approx(float(data.loss_fn(h, y)), rel=1e-5)
    again = keyed(T.LossTracker(max_examples=max_examples)(permuted(net, seed), 0, data))
    assert again == pytest.approx(got, rel=1e-5)


@settings(max_examples=8, deadline=None, database=None)
@given(mlp_cases(), st.integers(2, 6))
def test_kernel_rows_equal_the_gram_matrix_of_per_example_gradients_and_ignore_the_order_of_hidden_units(case, n_probe):
    widths, activation, bias, _, seed = case
    data = make_task(LinearTeacherConfig((2.0, 1.0), d_in=3, d_out=2, n_train=10), seed=seed)
    net = MLP(MLPConfig(d_in=3, d_out=2, widths=widths, activation=activation, bias=bias), seed=seed)
    tracker = T.KernelTracker(n_probe=n_probe, k=n_probe, seed=seed)
    got = keyed(tracker(net, 0, data))
    x, y = tracker.probes(data)
    rows = []
    for xi in x:
        for o in range(2):
            rows.append(torch.cat([g.reshape(-1) for g in torch.autograd.grad(net(xi[None])[0, o], list(net.parameters()))]).double())
    jac = torch.stack(rows).reshape(len(x), 2, -1)
    kernel = torch.einsum("iop,jop->ij", jac, jac)
    scale = float(kernel.abs().max())
    for m, value in enumerate(torch.linalg.eigvalsh(kernel).flip(0).tolist()):
        assert got[("kernel/eigenvalue", (("mode", m),))] == pytest.approx(value, abs=1e-5 * scale)
    assert got[("kernel/trace", ())] == pytest.approx(float(kernel.trace()), rel=1e-5)
    assert got[("kernel/effective_rank", ())] == pytest.approx(float(kernel.trace() ** 2 / (kernel**2).sum()), rel=1e-5)
    target = y.double() @ y.double().T
    assert got[("kernel/alignment", ())] == pytest.approx(float((kernel * target).sum() / kernel.norm() / target.norm()), rel=1e-5)
    assert 0.0 <= got[("kernel/distance", ())] <= 1e-12  # the first call is its own reference
    again = keyed(T.KernelTracker(n_probe=n_probe, k=n_probe, seed=seed)(permuted(net, seed), 0, data))
    for key, value in got.items():
        assert again[key] == pytest.approx(value, rel=1e-4, abs=1e-6 * max(scale, 1.0)), key
