"""Curvature on operators with known answers: start vectors, stopping rules, Hutchinson's estimate and error, input checks."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from scipy.sparse.linalg import LinearOperator, aslinearoperator

from bridge.estimators.hessian import dense_hessian, hessian_operator, hutchinson_trace, lanczos_top, power_iteration
from bridge.losses import mse
from bridge.seeding import generator

torch.set_num_threads(1)

SPECTRUM = np.array([5.0, 4.0, 3.0, 2.0, 1.0, 0.5])


def test_lanczos_takes_tol_zero_as_machine_precision_and_refuses_a_negative_tol():
    op = aslinearoperator(np.diag(SPECTRUM))
    values, vectors = lanczos_top(op, k=2, tol=0.0)
    np.testing.assert_allclose(values, [5.0, 4.0], rtol=1e-13)
    np.testing.assert_allclose(np.abs(vectors[:2]), np.eye(2), atol=1e-7)
    with pytest.raises(ValueError, match="tol must be >= 0"):
        lanczos_top(op, k=2, tol=-1e-9)


def test_a_zero_start_vector_falls_back_to_the_seeded_gaussian_one():
    op = aslinearoperator(np.diag(SPECTRUM))
    zero = np.zeros(len(SPECTRUM))
    values, vectors = lanczos_top(op, k=2, v0=zero, generator=generator(3))
    ref_values, ref_vectors = lanczos_top(op, k=2, generator=generator(3))
    np.testing.assert_array_equal(values, ref_values)
    np.testing.assert_array_equal(vectors, ref_vectors)
    res, ref = power_iteration(op, v0=zero, generator=generator(3)), power_iteration(op, generator=generator(3))
    assert np.isfinite(res.vector).all() and res.history == ref.history and res.value == pytest.approx(5.0, rel=1e-5)


def test_power_iteration_started_on_an_eigenvector_stops_after_two_equal_estimates_even_at_rtol_zero():
    op = aslinearoperator(np.diag([3.0, 1.0]))
    res = power_iteration(op, v0=np.array([2.0, 0.0]), rtol=0.0, max_iter=50)
    assert res.iterations == 2 and res.history == (3.0, 3.0) and res.value == 3.0
    np.testing.assert_array_equal(res.vector, [1.0, 0.0])


def test_power_iteration_on_the_zero_operator_returns_zero_and_a_unit_vector_after_one_product():
    op = aslinearoperator(np.zeros((3, 3)))
    res = power_iteration(op, v0=np.array([0.0, 3.0, 4.0]), max_iter=20)
    assert res.value == 0.0 and res.iterations == 1 and res.history == (0.0,)
    np.testing.assert_allclose(res.vector, [0.0, 0.6, 0.8], rtol=1e-15)


def test_hutchinson_returns_the_probe_mean_and_the_sample_standard_error():
    """Probes drawn from the generator in order, one Rademacher vector each: zᵀHz = tr H + 2 Σ_{i<j} H_ij z_i z_j."""
    h = np.array([[1.0, 2.0, -1.0], [2.0, 0.5, 3.0], [-1.0, 3.0, 2.0]])
    g = generator(3)
    probes = [(torch.randint(0, 2, (3,), generator=g, dtype=torch.int64) * 2 - 1).double().numpy() for _ in range(4)]
    samples = np.array([z @ h @ z for z in probes])
    assert sorted(samples) == [-8.5, 3.5, 7.5, 7.5]  # mean 2.5, median 5.5
    est, err = hutchinson_trace(aslinearoperator(h), 4, generator(3))
    assert est == pytest.approx(2.5, rel=1e-12)
    assert err == pytest.approx(np.sqrt(((samples - 2.5) ** 2).sum() / 3) / 2, rel=1e-12)  # ddof = 1
    one, nan = hutchinson_trace(aslinearoperator(h), 1, generator(3))
    assert one == samples[0] and np.isnan(nan)
    with pytest.raises(ValueError, match="n_probes must be an integer >= 1"):
        hutchinson_trace(aslinearoperator(h), 0, generator(3))


def test_dense_hessian_refuses_more_than_5000_parameters_before_any_product():
    calls = []
    op = LinearOperator((5001, 5001), matvec=lambda v: calls.append(1) or v, dtype=np.float64)
    with pytest.raises(ValueError, match="5001 parameters is too many"):
        dense_hessian(op)
    assert calls == []


def test_an_empty_batch_and_a_vector_of_the_wrong_size_are_refused():
    net = torch.nn.Linear(3, 2)
    with pytest.raises(ValueError, match="same positive number of examples, got 0 and 0"):
        with hessian_operator(net, torch.zeros(0, 3), torch.zeros(0, 2), mse):
            pass
    with hessian_operator(net, torch.ones(4, 3), torch.zeros(4, 2), mse) as op:
        with pytest.raises(ValueError, match=r"vector has shape \(7,\), expected \(8,\)"):
            op.hvp(torch.zeros(7))


def test_the_hessian_of_a_model_with_dropout_is_taken_in_eval_mode():
    """A training-mode dropout layer is switched off inside the block: the Hessian is the deterministic one."""
    g = generator(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Dropout(0.5), torch.nn.Linear(4, 1)).double()
    plain = torch.nn.Sequential(net[0], net[1], net[3])  # the same parameters, no dropout
    x, y = torch.randn(16, 3, generator=g, dtype=torch.float64), torch.randn(16, 1, generator=g, dtype=torch.float64)
    net.train()
    with hessian_operator(plain, x, y, mse) as op:
        expected = dense_hessian(op)
    for _ in range(2):
        with hessian_operator(net, x, y, mse) as op:
            np.testing.assert_allclose(dense_hessian(op), expected, rtol=1e-12, atol=1e-14)
    assert net.training and net[2].training


# ---------------------------------------------------------------- loadings of a toy transformer's heads and neurons


def test_transformer_head_and_neuron_blocks_hold_their_own_rows_and_columns():
    """d_model 12, 2 heads of 4, 5 MLP neurons (no square matrix): head h owns rows 4h..4h+3 of q, k, v (and their
    biases) and those columns of o; neuron j owns row j of mlp.in (and its bias) and column j of mlp.out."""
    from bridge.estimators.parameter_groups import block_loading, parameter_slices
    from bridge.models import TransformerConfig, build_model

    model = build_model(TransformerConfig(d_vocab=7, n_ctx=3, d_model=12, n_heads=2, d_head=4, d_mlp=5), seed=0)
    slices = parameter_slices(model)
    vec = torch.randn(sum(p.numel() for p in model.parameters()), generator=generator(1), dtype=torch.float64).numpy()
    part = {name: vec[s].reshape(shape) for name, (s, shape) in slices.items()}
    total = vec @ vec
    expected = []
    for h in range(2):
        rows = slice(4 * h, 4 * h + 4)
        mass = sum((part[f"blocks.0.attn.{m}.weight"][rows] ** 2).sum() + (part[f"blocks.0.attn.{m}.bias"][rows] ** 2).sum() for m in "qkv")
        expected.append(((("head", {"layer": 0, "head": h})), (mass + (part["blocks.0.attn.o.weight"][:, rows] ** 2).sum()) / total))
    for j in range(5):
        mass = (part["blocks.0.mlp.in.weight"][j] ** 2).sum() + part["blocks.0.mlp.in.bias"][j] ** 2 + (part["blocks.0.mlp.out.weight"][:, j] ** 2).sum()
        expected.append((("neuron", {"layer": 0, "neuron": j}), mass / total))
    found = block_loading(model, vec)
    assert [(b.kind, b.index) for b, _ in found] == [key for key, _ in expected]
    np.testing.assert_allclose([s for _, s in found], [s for _, s in expected], rtol=1e-12)


def test_a_heads_block_is_what_computes_that_head():
    """Zeroing the parameters of head 0's block zeroes head 0's output hook_z and leaves head 1's."""
    from bridge.estimators.parameter_groups import blocks
    from bridge.models import TransformerConfig, build_model

    model = build_model(TransformerConfig(d_vocab=7, n_ctx=3, d_model=12, n_heads=2, d_head=4, d_mlp=None), seed=0)
    tokens = torch.tensor([[1, 2, 3], [4, 5, 6]])
    _, before = model.run_with_cache(tokens, names_filter="blocks.0.attn.hook_z")
    state = model.state_dict()
    head0 = next(b for b in blocks(model) if b.index == {"layer": 0, "head": 0})
    with torch.no_grad():
        for name, idx in head0.parts:
            if ".v." in name:
                state[name][idx] = 0.0
    _, after = model.run_with_cache(tokens, names_filter="blocks.0.attn.hook_z")
    z0, z1 = before["blocks.0.attn.hook_z"], after["blocks.0.attn.hook_z"]  # (batch, pos, head, d_head)
    assert z0[:, :, 0].abs().max() > 0 and z1[:, :, 0].abs().max() == 0
    torch.testing.assert_close(z1[:, :, 1], z0[:, :, 1], rtol=0, atol=0)


def test_loadings_of_a_zero_or_non_finite_vector_are_refused():
    from bridge.estimators.parameter_groups import block_loading, tensor_loading

    net = torch.nn.Linear(2, 1)
    for fn, name in ((tensor_loading, "tensor_loading"), (block_loading, "block_loading")):
        with pytest.raises(ValueError, match=f"{name}: the vector is zero"):
            fn(net, np.zeros(3))
        with pytest.raises(ValueError, match="vector must be finite, got nan at entry 1"):
            fn(net, np.array([1.0, np.nan, 0.0]))  # NaN shares before
        with pytest.raises(ValueError, match="vector must be finite, got inf at entry 2"):
            fn(net, np.array([1.0, 0.0, np.inf]))


@pytest.mark.parametrize("frozen", ["blocks.0.mlp.out.weight", "blocks.0.mlp.in.weight"])
def test_transformer_neuron_blocks_leave_out_a_frozen_mlp_weight(frozen):
    """With one MLP weight frozen (absent from the flat vector) each neuron's share is its rows and columns of the
    trainable MLP tensors only; freezing mlp.out.weight raised KeyError before."""
    from bridge.estimators.parameter_groups import block_loading, parameter_slices
    from bridge.models import TransformerConfig, build_model

    model = build_model(TransformerConfig(d_vocab=7, n_ctx=3, d_model=12, n_heads=2, d_head=4, d_mlp=5), seed=0)
    model.state_dict(keep_vars=True)[frozen].requires_grad_(False)
    slices = parameter_slices(model)
    assert frozen not in slices
    vec = torch.randn(sum(p.numel() for p in model.parameters() if p.requires_grad), generator=generator(2), dtype=torch.float64).numpy()
    part = {name: vec[s].reshape(shape) for name, (s, shape) in slices.items()}
    owned = {"blocks.0.mlp.in.weight": lambda t, j: t[j], "blocks.0.mlp.in.bias": lambda t, j: t[j], "blocks.0.mlp.out.weight": lambda t, j: t[:, j]}
    expected = [sum((pick(part[name], j) ** 2).sum() for name, pick in owned.items() if name != frozen) / (vec @ vec) for j in range(5)]
    neurons = [(b.index, s) for b, s in block_loading(model, vec) if b.kind == "neuron"]
    assert [index for index, _ in neurons] == [{"layer": 0, "neuron": j} for j in range(5)]
    np.testing.assert_allclose([s for _, s in neurons], expected, rtol=1e-12)


def test_the_dense_hessian_is_exactly_symmetric_and_equals_its_products():
    """Columns built from float32 products differ from the rows by rounding; the reference is their exact mean."""
    from bridge.models import MLPConfig, build_model

    net = build_model(MLPConfig(d_in=3, d_out=2, widths=(5,), activation="tanh"), seed=0)
    x = torch.randn(16, 3, generator=generator(0))
    y = torch.randn(16, 2, generator=generator(1))
    with hessian_operator(net, x, y, mse) as op:
        h = dense_hessian(op)
        columns = np.stack([op.matvec(e) for e in np.eye(op.shape[0])], axis=1)
    assert h.shape == (32, 32) and np.array_equal(h, h.T)
    assert not np.array_equal(columns, columns.T)  # so the symmetrising is needed
    np.testing.assert_allclose(h, columns, rtol=0, atol=1e-5 * np.abs(columns).max())


@pytest.mark.parametrize("source", [None, 0])
def test_hutchinson_needs_a_generator_and_leaves_the_global_state_alone(source):
    op = aslinearoperator(np.diag(SPECTRUM))
    before = torch.get_rng_state()
    with pytest.raises(TypeError, match=f"generator must be a torch.Generator, got {type(source).__name__}"):
        hutchinson_trace(op, 4, source)
    assert torch.equal(torch.get_rng_state(), before)


def test_a_parameter_reached_by_two_state_dict_keys_is_named_by_the_first():
    from bridge.estimators.parameter_groups import parameter_names, parameter_slices, tensor_loading

    shared = torch.nn.Linear(2, 2)
    net = torch.nn.Sequential(shared, torch.nn.Tanh(), shared, torch.nn.Linear(2, 1))  # state_dict keys 0.* and 2.* share storage
    assert parameter_names(net) == ["0.weight", "0.bias", "3.weight", "3.bias"]
    assert list(parameter_slices(net)) == parameter_names(net)
    shares = tensor_loading(net, np.arange(1.0, 10.0))
    assert shares["0.weight"] == pytest.approx(30.0 / 285.0, rel=1e-12) and "2.weight" not in shares


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda op: lanczos_top(op, k=True), "k must satisfy 1 <= k < n=3 as an integer, got True"),
        (lambda op: lanczos_top(op, k=1.5), "k must satisfy 1 <= k < n=3 as an integer, got 1.5"),
        (lambda op: lanczos_top(op, k=1, v0=np.array([np.inf, 1.0, 1.0])), "v0 must be finite, got inf at entry 0"),
        (lambda op: lanczos_top(op, k=1, v0=np.array([1.0, np.nan, 1.0])), "v0 must be finite, got nan at entry 1"),
        (lambda op: lanczos_top(op, k=1, tol=float("nan")), "tol must be >= 0, got nan"),
        (lambda op: power_iteration(op, v0=np.array([np.inf, 1.0, 1.0])), "v0 must be finite, got inf at entry 0"),
        (lambda op: power_iteration(op, max_iter=2.5), "max_iter must be an integer >= 1, got 2.5"),
        (lambda op: power_iteration(op, rtol=float("nan")), "rtol must be >= 0, got nan"),
        (lambda op: power_iteration(op, rtol=-1e-6), "rtol must be >= 0, got -1e-06"),
        (lambda op: hutchinson_trace(op, True, torch.Generator()), "n_probes must be an integer >= 1, got True"),
        (lambda op: hutchinson_trace(op, 2.0, torch.Generator()), "n_probes must be an integer >= 1, got 2.0"),
    ],
)
def test_a_non_integer_count_a_non_finite_start_vector_or_a_nan_tolerance_is_refused_by_name(call, message):
    """An infinite start vector came out as a NaN eigenvalue, a NaN one was replaced by a random start, a NaN rtol ran
    every iteration, and a float or bool count reached ARPACK or range()."""
    calls = []
    op = LinearOperator(shape=(3, 3), dtype=np.float64, matvec=lambda v: calls.append(1) or np.diag([3.0, 2.0, 1.0]) @ v)
    with pytest.raises(ValueError, match=re.escape(message)):
        call(op)
    assert not calls  # refused before any product


def test_lanczos_and_power_iteration_take_numpy_integer_counts():
    op = aslinearoperator(np.diag([3.0, 2.0, 1.0]))
    assert lanczos_top(op, k=np.int64(2))[0].round(8).tolist() == [3.0, 2.0]
    assert round(power_iteration(op, max_iter=np.int64(200)).value, 4) == 3.0
