"""The SGLD sampler's deterministic parts: the update and its noise stream, the seed, the warnings' thresholds,
the vmap fallback, and the parameter slots it swaps."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from bridge.config import ConfigError
from bridge.estimators.llc import LLCWarning, SGLDConfig, estimate_llc, select_params
from bridge.estimators.reparam import ParameterSlots
from bridge.seeding import generator

torch.set_num_threads(1)


def _quadratic(n: int = 30, target: float = 1.0, w_star: float = 0.0, bias: bool = False):
    """``x = 1``, ``y = target``: half_sse is ½(w (+ b) − target)², a one-dimensional quadratic in float64."""
    net = torch.nn.Linear(1, 1, bias=bias).double()
    with torch.no_grad():
        net.weight.fill_(w_star)
        if bias:
            net.bias.fill_(0.0)
    return net, (torch.ones(n, 1, dtype=torch.float64), torch.full((n, 1), target, dtype=torch.float64))


def _quiet(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LLCWarning)
        return estimate_llc(*args, **kwargs)


# ---------------------------------------------------------------- update, noise and seed


def test_the_chains_follow_the_langevin_update_with_one_gaussian_draw_per_parameter_and_step():
    """w ← w − ε/2 (nβ ∇L + γ (w − w*)) + noise_level·√ε·ξ, with ξ drawn per parameter (weight, then bias) for all chains at once."""
    net, split = _quadratic(bias=True, w_star=0.3)
    chains, steps, eps, gamma, nbeta, level = 3, 12, 0.02, 5.0, 8.0, 0.7
    cfg = SGLDConfig(n_chains=chains, n_draws=steps - 2, n_burnin=2, step_size=eps, gamma=gamma, nbeta=nbeta, noise_level=level)
    res = _quiet(net, "half_sse", split, cfg, seed=11)

    g = generator(11)
    w, b = torch.full((chains, 1, 1), 0.3, dtype=torch.float64), torch.zeros(chains, 1, dtype=torch.float64)
    losses = []
    for _ in range(steps):
        resid = (w[:, 0, 0] + b[:, 0] - 1.0)  # ∂L/∂w = ∂L/∂b = w + b − 1
        losses.append(0.5 * resid**2)
        w_new = w - 0.5 * eps * (nbeta * resid[:, None, None] + gamma * (w - 0.3)) + level * math.sqrt(eps) * torch.randn(w.shape, generator=g, dtype=torch.float64)
        b_new = b - 0.5 * eps * (nbeta * resid[:, None] + gamma * b) + level * math.sqrt(eps) * torch.randn(b.shape, generator=g, dtype=torch.float64)
        w, b = w_new, b_new
    expected = torch.stack(losses, dim=1).numpy()
    np.testing.assert_allclose(res.burnin_trace, expected[:, :2], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(res.trace, expected[:, 2:], rtol=1e-12, atol=1e-15)
    assert res.init_loss == pytest.approx(0.5 * 0.7**2, rel=1e-15)
    np.testing.assert_allclose(res.per_chain, nbeta * (expected[:, 2:].mean(axis=1) - 0.245), rtol=1e-12)
    assert res.mean == pytest.approx(res.per_chain.mean(), rel=1e-15)


def test_an_int_seed_is_the_generator_it_names_and_other_seeds_give_other_chains():
    net, split = _quadratic()
    cfg = SGLDConfig(n_chains=2, n_draws=10, n_burnin=0, step_size=1e-3, gamma=1.0)
    by_int = _quiet(net, "half_sse", split, cfg, seed=4)
    by_generator = _quiet(net, "half_sse", split, cfg, seed=generator(4))
    other = _quiet(net, "half_sse", split, cfg, seed=5)
    np.testing.assert_array_equal(by_int.trace, by_generator.trace)
    assert not np.array_equal(by_int.trace, other.trace)
    assert not np.array_equal(by_int.trace[0], by_int.trace[1])  # chains draw their own noise


@pytest.mark.parametrize("seed", [1.5, 1.0, True, "3", None, 2**64, -(2**63) - 1])
def test_a_seed_that_is_not_an_integer_in_torchs_range_is_refused_before_sampling(seed):
    """A float or a bool was read through int(): seed 1.5 and seed True gave the chains of seed 1, "3" those of 3,
    and a seed past torch's range failed with an overflow message that named no argument."""
    net, split = _quadratic()
    with warnings.catch_warnings():
        warnings.simplefilter("error", LLCWarning)
        with pytest.raises(ValueError, match=r"seed must be an integer in \[-2\*\*63, 2\*\*64\) or a torch.Generator, got "):
            estimate_llc(net, "half_sse", split, SGLDConfig(n_chains=2, n_draws=3, n_burnin=0, nbeta=4.0), seed=seed)
    for ok in (np.int64(1), 2**64 - 1, -(2**63)):  # numpy integers and both ends of the range are seeds
        _quiet(net, "half_sse", split, SGLDConfig(n_chains=2, n_draws=3, n_burnin=0, nbeta=4.0), seed=ok)


# ---------------------------------------------------------------- warnings and settings


def test_an_estimate_of_exactly_zero_warns_of_nothing():
    """A weight the loss never sees: every draw has L_n(w*), λ̂ = 0, which is not negative."""
    net = torch.nn.Linear(1, 1, bias=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = estimate_llc(net, "half_sse", (torch.zeros(8, 1), torch.zeros(8, 1)), SGLDConfig(n_chains=3, n_draws=30, n_burnin=0, gamma=1.0))
    assert res.mean == 0.0 and res.warnings == []


@pytest.mark.parametrize(
    ("nbeta", "step_size", "gamma", "expected"),
    [
        (20.0, 0.5, 2.0, []),  # ε·γ = 1, nβ = n, ε·nβ = 10: each at its limit, none above
        (20.0, 0.5, 2.5, ["localisation term overshoots"]),
        (20.5, 0.5, 2.0, ["exceeds n = 20", "step_size·nbeta = 10.2 > 10"]),
        (20.0, 0.52, 1.0, ["step_size·nbeta = 10.4 > 10"]),
    ],
)
def test_the_settings_warnings_start_just_above_their_limits(nbeta, step_size, gamma, expected):
    net = torch.nn.Linear(1, 1, bias=False)  # the loss never sees the weight: no chain warning can join in
    cfg = SGLDConfig(n_chains=2, n_draws=4, n_burnin=0, step_size=step_size, gamma=gamma, nbeta=nbeta)
    res = _quiet(net, "half_sse", (torch.zeros(20, 1), torch.zeros(20, 1)), cfg)
    assert len(res.warnings) == len(expected) and all(e in w for e, w in zip(expected, res.warnings)), res.warnings


@pytest.mark.parametrize("bad", [dict(nbeta=0.0), dict(nbeta=math.inf), dict(noise_level=math.inf), dict(noise_level=-0.1), dict(step_size=math.inf), dict(gamma=math.nan), dict(n_burnin=-1), dict(n_chains=2.0)])
def test_settings_outside_their_range_are_refused(bad):
    with pytest.raises(ConfigError, match=rf"sgld[.:] ?{next(iter(bad))}"):
        SGLDConfig(**bad)


def _descent(n_chains: int, n_draws: int, n_burnin: int, step_size: float):
    """Noiseless chains (all alike) descending from w* = 0 towards the minimum at 1: ½(w_t − 1)² = ½ρ^{2t}, ρ = 1 − 2ε."""
    net, split = _quadratic()
    cfg = SGLDConfig(n_chains=n_chains, n_draws=n_draws, n_burnin=n_burnin, step_size=step_size, gamma=0.0, nbeta=4.0, noise_level=0.0)
    res = _quiet(net, "half_sse", split, cfg)
    t = np.arange(n_burnin, n_burnin + n_draws)
    trace = 0.5 * (1.0 - 2.0 * step_size) ** (2 * t)
    np.testing.assert_allclose(res.trace, np.broadcast_to(trace, (n_chains, n_draws)), rtol=1e-12)
    half = n_draws // 2
    shift = 4.0 * (trace[half:].mean() - trace[:half].mean())  # nβ·Δ between the two halves
    return res, abs(shift) / abs(4.0 * (trace.mean() - 0.5)), shift


def test_a_trace_still_drifting_between_its_two_halves_is_warned_from_20_draws_and_3_chains():
    res, ratio, shift = _descent(n_chains=3, n_draws=20, n_burnin=10, step_size=0.01)
    assert 0.2 < ratio < 0.5  # a drift that matters: above a tenth of the estimate
    assert res.mean < 0 and any("not a local minimum" in w for w in res.warnings)
    assert any(f"still drifts between the two halves of the draws (nβ·Δ = {shift:.3g}," in w for w in res.warnings), (shift, res.warnings)
    assert not any("still drifts" in w for w in _descent(n_chains=2, n_draws=20, n_burnin=10, step_size=0.01)[0].warnings)
    assert not any("still drifts" in w for w in _descent(n_chains=3, n_draws=19, n_burnin=10, step_size=0.01)[0].warnings)


def test_a_drift_below_a_tenth_of_the_estimate_is_not_warned():
    res, ratio, _ = _descent(n_chains=3, n_draws=20, n_burnin=20, step_size=0.02)  # nearly settled by the draws
    assert 0.05 < ratio < 0.1
    assert res.mean < 0 and not any("still drifts" in w for w in res.warnings)


def test_a_chain_exactly_at_the_divergence_limit_is_kept():
    """The limit is 2·d/nβ + 1e-6·(1 + |L_n(w*)|) above the start: 1.000001 for d = 1, nβ = 2, L_n(w*) = 0."""
    from bridge.estimators.llc import _chain_divergence

    limit = 2.0 * 1 / 2.0 + 1e-6 * (1.0 + 0.0)
    late = np.array([[limit, limit], [np.nextafter(limit, 2.0)] * 2])
    trace = np.concatenate([np.zeros((2, 2)), late], axis=1)
    np.testing.assert_array_equal(_chain_divergence(trace, 0.0, 2.0, 1), [False, True])


# ---------------------------------------------------------------- vmap fallback


class _Branchy(torch.nn.Module):
    """A linear map whose forward branches on a tensor's value, which vmap refuses."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.lin(x)
        return out if bool(out.sum() > -1e9) else -out


def test_a_model_vmap_refuses_runs_in_a_loop_unless_vmap_is_forced():
    net = _Branchy()
    x = torch.randn(20, 2, generator=generator(0))
    split = (x, net(x).detach())
    cfg = SGLDConfig(n_chains=2, n_draws=6, n_burnin=1, step_size=1e-3, gamma=10.0)
    fallback = _quiet(net, "half_sse", split, cfg, seed=2)
    assert not fallback.vectorized and any(w.startswith("vmap failed") for w in fallback.warnings)
    loop = _quiet(net, "half_sse", split, cfg, seed=2, vectorize=False)
    np.testing.assert_array_equal(fallback.trace, loop.trace)
    assert not any("vmap" in w for w in loop.warnings)
    with pytest.raises(RuntimeError):
        _quiet(net, "half_sse", split, cfg, seed=2, vectorize=True)


# ---------------------------------------------------------------- parameter slots


def test_a_predicate_selects_a_parameter_by_any_of_its_names():
    lin = torch.nn.Linear(2, 2)
    net = torch.nn.Sequential(lin, lin)  # one layer, reached as 0. and 1.
    assert select_params(net, lambda name: name.startswith("1.")) == ["0.weight", "0.bias"]
    assert select_params(net, lambda name: name == "1.bias") == ["0.bias"]


class _Aliased(torch.nn.Module):
    """A linear layer whose state_dict also lists its weight, detached, as ``alias.weight``."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(2, 1)
        self._register_state_dict_hook(lambda module, state, prefix, local: state.__setitem__(prefix + "alias.weight", module.lin.weight.detach()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x)


def test_a_state_dict_key_holding_a_parameters_storage_is_one_of_its_names():
    net = _Aliased()
    assert "alias.weight" in net.state_dict()
    assert ParameterSlots(net).aliases["lin.weight"] == {"lin.weight", "alias.weight"}
    assert select_params(net, "alias") == ["lin.weight"]


def test_swapping_in_an_unknown_parameter_or_buffer_is_refused_and_leaves_the_model_as_it_was():
    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    slots = ParameterSlots(net)
    weight = net[0].weight
    with pytest.raises(ValueError, match=r"not parameters of the model: \['0.wieght'\]"):
        with slots.swapped({"0.weight": torch.zeros(2, 2), "0.wieght": torch.zeros(2, 2)}):
            pass
    with pytest.raises(ValueError, match=r"not buffers of the model: \['1.running_means'\]"):
        with slots.swapped({}, buffers={"1.running_means": torch.zeros(2)}):
            pass
    assert net[0].weight is weight
    with slots.swapped({"0.weight": torch.zeros(2, 2)}, buffers={"1.running_mean": torch.ones(2)}) as m:
        assert torch.equal(m[0].weight, torch.zeros(2, 2)) and torch.equal(m[1].running_mean, torch.ones(2))
    assert net[0].weight is weight and torch.equal(net[1].running_mean, torch.zeros(2))


@pytest.mark.parametrize(("x", "y", "message"), [
    (torch.ones(30, 1), torch.ones(29, 1), r"split: x and y must hold the same positive number of examples, got shapes \(30, 1\) and \(29, 1\)"),
    (torch.ones(0, 1), torch.ones(0, 1), r"same positive number of examples, got shapes \(0, 1\) and \(0, 1\)"),
    (torch.ones(30, 1), torch.full((30, 1), math.nan), r"split.y must be finite, got split.y\[0, 0\] = nan"),
    (torch.full((30, 1), math.inf), torch.ones(30, 1), r"split.x must be finite, got split.x\[0, 0\] = inf"),
])
def test_a_split_of_mismatched_sizes_or_a_non_finite_loss_at_w_star_is_refused_before_sampling(x, y, message):
    net = torch.nn.Linear(1, 1, bias=False)
    cfg = SGLDConfig(n_chains=2, n_draws=3, n_burnin=0, nbeta=4.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", LLCWarning)  # refused, not returned as a diverged estimate
        with pytest.raises(ValueError, match=message):
            estimate_llc(net, "half_sse", (x, y), cfg)


def test_a_parameter_shared_by_two_modules_is_swapped_in_both():
    """Tied weights (one Parameter in two Linear layers): inside the block both layers compute with the new tensor."""
    net = torch.nn.Sequential(torch.nn.Linear(2, 2, bias=False), torch.nn.Linear(2, 2, bias=False))
    net[1].weight = net[0].weight
    slots = ParameterSlots(net)
    x = torch.tensor([[1.0, -2.0]])
    with slots.swapped({"0.weight": 2.0 * torch.eye(2)}) as model:
        torch.testing.assert_close(model(x), 4.0 * x, rtol=0, atol=0)
    torch.testing.assert_close(net(x), x @ net[0].weight.T @ net[0].weight.T)
