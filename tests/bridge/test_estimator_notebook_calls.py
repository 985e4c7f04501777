"""The public estimators called on a researcher's own models: training-mode dropout and batch norm, frozen parameters,
selections that name nothing or everything, parameter lists that are not the model's, losses linear in the parameters
or not scalar. Each gets the number of a slow dense reference written here, or a ValueError naming the argument."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn

from bridge.estimators import (
    SGLDConfig,
    dense_hessian,
    empirical_ntk,
    estimate_llc,
    hessian_operator,
    hutchinson_trace,
    jacobian_ntk,
    lanczos_top,
    select_params,
)


def _mse(out, target):
    return ((out - target) ** 2).mean()


def _reference_ntk(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``J Jᵀ`` summed over outputs, ``J`` built one example and one output at a time over the parameters that require grad."""
    params = [p for p in model.parameters() if p.requires_grad]
    rows = []
    for i in range(x.shape[0]):
        out = model(x[i : i + 1]).reshape(-1)
        grads = [torch.autograd.grad(out[o], params, retain_graph=True) for o in range(out.numel())]
        rows.append(torch.stack([torch.cat([g.reshape(-1) for g in gs]) for gs in grads]))
    jac = torch.stack(rows)
    return torch.einsum("iop,jop->ij", jac, jac).detach()


def _data(n: int = 6, d_in: int = 3, d_out: int = 2):
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, d_in, generator=g, dtype=torch.float64), torch.randn(n, d_out, generator=g, dtype=torch.float64)


def _flags(model: nn.Module) -> list[bool]:
    return [m.training for m in model.modules()]


# ---------------------------------------------------------------- the kernel of a model in training mode


@pytest.mark.parametrize("kernel", [empirical_ntk, jacobian_ntk])
def test_the_kernel_of_a_training_mode_model_with_dropout_is_that_of_the_model_without_dropout(kernel):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Dropout(0.5), nn.Linear(5, 2)).double().train()
    net[1].eval()  # a flag of the user's own, kept
    flags = _flags(net)
    x, _ = _data()
    expected = _reference_ntk(nn.Sequential(net[0], net[1], net[3]), x)
    for _ in range(2):  # dropout drew no mask: the same kernel twice
        np.testing.assert_allclose(kernel(net, x).numpy(), expected.numpy(), rtol=1e-12, atol=1e-12)
    assert _flags(net) == flags


@pytest.mark.parametrize("kernel", [empirical_ntk, jacobian_ntk])
def test_the_kernel_of_a_training_mode_batch_norm_model_is_its_eval_kernel_and_leaves_the_running_statistics_alone(kernel):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Tanh(), nn.Linear(4, 1)).double()
    with torch.no_grad():
        net[1].running_mean.copy_(torch.tensor([0.1, -0.2, 0.3, 0.0]))
        net[1].running_var.copy_(torch.tensor([1.5, 0.5, 2.0, 1.0]))
    x, _ = _data()
    expected = _reference_ntk(net.eval(), x)
    net.train()
    state = {k: v.clone() for k, v in net.state_dict().items()}
    np.testing.assert_allclose(kernel(net, x).numpy(), expected.numpy(), rtol=1e-12, atol=1e-12)
    assert all(torch.equal(state[k], v) for k, v in net.state_dict().items())
    assert net.training and net[1].training


# ---------------------------------------------------------------- frozen parameters in the dense kernel


def test_the_dense_kernel_holds_frozen_parameters_fixed_as_the_chunked_one_does():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()
    net[0].weight.requires_grad_(False)
    x, _ = _data()
    expected = _reference_ntk(net, x)
    np.testing.assert_allclose(jacobian_ntk(net, x).numpy(), expected.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(empirical_ntk(net, x).numpy(), expected.numpy(), rtol=1e-12, atol=1e-12)
    assert not net[0].weight.requires_grad and net[0].bias.requires_grad


def test_the_dense_kernel_of_a_model_without_a_trainable_parameter_is_refused_by_name():
    with pytest.raises(ValueError, match="no parameter that requires grad"):
        jacobian_ntk(nn.Tanh(), torch.ones(2, 3))


# ---------------------------------------------------------------- params selections


NET = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
X, Y = torch.ones(4, 3), torch.zeros(4, 2)
QUIET = SGLDConfig(n_chains=1, n_draws=2, n_burnin=0)


@pytest.mark.parametrize(("call", "message"), [
    (lambda: select_params(NET, ""), r"params must .* got ''"),
    (lambda: select_params(NET, ["2.", ""]), r"params must .* got \['2.', ''\]"),
    (lambda: select_params(NET, [0]), r"params must .* an entry of type int"),
    (lambda: select_params(NET, 3), r"params must .* got 3"),
    (lambda: empirical_ntk(NET, X, params=""), r"params must .* got ''"),
    (lambda: empirical_ntk(NET, X, params=[NET[0].weight]), r"params must .* an entry of type Parameter"),
    (lambda: estimate_llc(NET, _mse, (X, Y), QUIET, params=""), r"params must .* got ''"),
])
def test_a_params_selection_that_is_an_empty_name_or_not_names_is_refused_by_name(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_a_selection_by_prefix_still_picks_its_parameters():
    assert select_params(NET, ["2."]) == ["2.weight", "2.bias"]
    assert select_params(NET, ("0.weight",)) == ["0.weight"]


# ---------------------------------------------------------------- the Hessian operator's params


class _Counting(nn.Sequential):
    calls = 0

    def forward(self, x):
        type(self).calls += 1
        return super().forward(x)


def test_the_hessian_operator_refuses_params_that_are_not_the_models_trainable_tensors_before_any_forward():
    net = _Counting(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()
    net[2].bias.requires_grad_(False)
    other = nn.Linear(3, 4).double()
    x, y = _data()
    cases = [
        ([], r"params is empty"),
        ("0.", r"params must be a sequence of the model's parameter tensors, got a str"),
        (["0.weight"], r"params\[0\] is a str, not a parameter of the model"),
        ([net[0].weight, other.weight], r"params\[1\] is a tensor of shape \(4, 3\) that is not a parameter of the model"),
        ([net[0].bias, net[0].bias], r"params\[1\] repeats a parameter"),
        ([net[2].bias], r"params\[0\] .*shape \(2,\).* does not require grad"),
    ]
    for params, message in cases:
        with pytest.raises(ValueError, match="hessian_operator: " + message):
            with hessian_operator(net, x, y, _mse, params=params):
                pass
    assert _Counting.calls == 0
    with hessian_operator(net, x, y, _mse, params=(net[2].weight, net[0].bias)) as op:
        assert op.shape == (12, 12)


def test_the_hessian_of_a_loss_linear_in_the_parameters_is_zero():
    torch.manual_seed(0)
    net = nn.Linear(3, 2).double()
    x, y = _data()

    def loss(out, target):
        return -(out * target).mean()

    flat = torch.cat([p.detach().reshape(-1) for p in net.parameters()])

    def of_vector(v):
        w, b = v[:6].reshape(2, 3), v[6:]
        return loss(x @ w.T + b, y)

    expected = torch.autograd.functional.hessian(of_vector, flat).numpy()
    assert np.abs(expected).max() == 0.0
    with hessian_operator(net, x, y, loss) as op:
        np.testing.assert_array_equal(dense_hessian(op), expected)
        values, _ = lanczos_top(op, k=2)
        trace, _ = hutchinson_trace(op, 3, torch.Generator().manual_seed(0))
    np.testing.assert_array_equal(values, [0.0, 0.0])
    assert trace == 0.0


# ---------------------------------------------------------------- losses that are not one number


def test_a_loss_that_is_not_one_number_is_refused_by_name_and_one_in_a_1_element_tensor_is_taken():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()
    x, y = _data()

    def per_output(out, target):
        return ((out - target) ** 2).mean(0)

    def boxed(out, target):
        return _mse(out, target).reshape(1, 1)

    with pytest.raises(ValueError, match=r"hessian_operator: loss_fn must return one number, got shape \(2,\)"):
        with hessian_operator(net, x, y, per_output):
            pass
    cfg = SGLDConfig(n_chains=2, n_draws=3, n_burnin=0, step_size=1e-4, gamma=10.0)
    with pytest.raises(ValueError, match=r"loss_fn must return one number, got shape \(2,\)"):
        estimate_llc(net, per_output, (x, y), cfg)
    with hessian_operator(net, x, y, boxed) as op:
        got = dense_hessian(op)
    with hessian_operator(net, x, y, _mse) as op:
        np.testing.assert_array_equal(got, dense_hessian(op))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = estimate_llc(net, _mse, (x, y), cfg, seed=1)
        for vectorize in (True, False):
            res = estimate_llc(net, boxed, (x, y), cfg, seed=1, vectorize=vectorize)
            np.testing.assert_allclose(res.trace, plain.trace, rtol=1e-12)


# ---------------------------------------------------------------- the kernel's other arguments


def test_a_second_batch_that_is_not_a_tensor_is_refused_by_name_and_a_numpy_chunk_size_is_a_count():
    x, _ = _data()
    with pytest.raises(ValueError, match=r"x2 must hold examples shaped like x1's \(3,\), got a list"):
        empirical_ntk(NET, x, [[1.0, 2.0, 3.0]])
    np.testing.assert_array_equal(empirical_ntk(NET, x, chunk_size=np.int64(2)).numpy(), empirical_ntk(NET, x, chunk_size=2).numpy())


def test_lanczos_on_a_deep_linear_network_at_the_origin_reads_the_zero_hessian():
    from bridge.models import DeepLinearConfig, build_model

    net = build_model(DeepLinearConfig(3, 4, 2, depth=3), seed=0).double()
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
    x, y = _data()
    flat = torch.zeros(sum(p.numel() for p in net.parameters()), dtype=torch.float64)

    def of_vector(v):
        w0, w1, w2 = v[:12].reshape(4, 3), v[12:28].reshape(4, 4), v[28:].reshape(2, 4)
        return _mse(x @ w0.T @ w1.T @ w2.T, y)

    expected = np.linalg.eigvalsh(torch.autograd.functional.hessian(of_vector, flat).numpy())[::-1][:2]
    start = np.linspace(-1.0, 1.0, flat.numel())
    with hessian_operator(net, x, y, _mse) as op:
        values, vectors = lanczos_top(op, k=2, v0=start)
    np.testing.assert_array_equal(values, expected)
    np.testing.assert_allclose(vectors.T @ vectors, np.eye(2), atol=1e-12)
    np.testing.assert_allclose(vectors[:, 0], start / np.linalg.norm(start), rtol=1e-12)
