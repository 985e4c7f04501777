"""The SGLD learning-coefficient estimate on a loss that is exactly quadratic in ``d`` parameters,
``L(w) = L(w*) + ½ Σᵢ hᵢ (wᵢ − w*ᵢ)²``, against the closed form of the discrete chain.

Started at ``w*``, each coordinate ``zᵢ = wᵢ − w*ᵢ`` follows ``z ← c z + √ε ξ`` with ``c = 1 − ε aᵢ/2`` and
``aᵢ = nβ hᵢ + γ``, so ``z_t`` is Gaussian with variance ``ε (1 − c^{2t}) / (1 − c²)`` and
``Cov(z_s, z_t) = c^{t−s} Var(z_s)``: the estimator's mean ``nβ/2 Σᵢ hᵢ mean_t E[z²ᵢ,t]`` and its standard deviation
over the chains are known exactly for any step, localisation, burn-in and number of draws. For ``γ ≪ nβ hᵢ`` and
``ε aᵢ ≪ 1`` the mean tends to the regular model's ``d/2``."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.estimators.llc import LLCWarning, SGLDConfig, default_nbeta, estimate_llc
from bridge.seeding import generator

PROPERTY = settings(max_examples=8, deadline=None, database=None)


def quadratic(h: np.ndarray, w_star: np.ndarray, offset: float = 0.0):
    """A bias-free float64 linear map at ``w*`` and ``n = 2d`` examples, ``x = √(d hᵢ) eᵢ`` twice with
    ``y = x·w* ± offset``: its half_sse loss is ``½ offset² + ½ Σᵢ hᵢ (wᵢ − w*ᵢ)²`` (the residuals ±offset cancel in the
    gradient, so the offset is an irreducible loss that leaves the minimum at ``w*``)."""
    d = len(h)
    net = torch.nn.Linear(d, 1, bias=False).double()
    with torch.no_grad():
        net.weight.copy_(torch.tensor(w_star, dtype=torch.float64)[None])
    x = torch.diag(torch.tensor(np.sqrt(d * h), dtype=torch.float64)).repeat(2, 1)
    sign = torch.cat([torch.ones(d), -torch.ones(d)]).double()
    return net, (x, (x @ torch.tensor(w_star, dtype=torch.float64) + offset * sign)[:, None])


def closed_form(h: np.ndarray, eps: float, gamma: float, nbeta: float, n_burnin: int, n_draws: int, n_chains: int) -> tuple[float, float]:
    """``(E[λ̂], sd[λ̂])`` of the chain-averaged estimate on the quadratic, from the Gaussian AR(1) moments."""
    t = np.arange(n_burnin, n_burnin + n_draws)
    mean, var = 0.0, 0.0
    for hi in h:
        c = 1.0 - 0.5 * eps * (nbeta * hi + gamma)
        v_t = eps * (1.0 - c ** (2 * t)) / (1.0 - c * c)  # Var z_t: the loss at step t is read before its update
        lag = np.abs(t[:, None] - t[None, :])
        cov = c**lag * v_t[np.minimum.outer(np.arange(n_draws), np.arange(n_draws))]  # Cov(z_s, z_t) = c^{|t−s|} Var z_min
        weight = 0.5 * nbeta * hi
        mean += weight * v_t.mean()
        var += weight**2 * 2.0 * (cov**2).sum() / n_draws**2  # Cov(z_s², z_t²) = 2 Cov(z_s, z_t)²
    return mean, math.sqrt(var / n_chains)


def quiet(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LLCWarning)
        return estimate_llc(*args, **kwargs)


@st.composite
def quadratics(draw):
    d = draw(st.sampled_from([2, 4, 6]))
    h = np.array(draw(st.lists(st.floats(0.2, 5.0), min_size=d, max_size=d)))
    w_star = np.array(draw(st.lists(st.floats(-2.0, 2.0), min_size=d, max_size=d)))
    nbeta, gamma = draw(st.floats(5.0, 200.0)), draw(st.floats(0.0, 50.0))
    eps = draw(st.floats(0.05, 1.0)) / (nbeta * h.max() + gamma)  # ε·aᵢ ≤ 1: every coordinate contracts
    sgld = SGLDConfig(n_chains=draw(st.integers(2, 4)), n_draws=draw(st.integers(40, 150)), n_burnin=draw(st.integers(0, 40)), step_size=eps, gamma=gamma, nbeta=nbeta)
    return h, w_star, draw(st.floats(-1.0, 1.0)), sgld


@PROPERTY
@given(quadratics(), st.integers(0, 2**16))
def test_the_estimate_is_the_documented_formula_of_its_losses_and_within_five_sd_of_the_closed_form(case, seed):
    h, w_star, offset, sgld = case
    net, split = quadratic(h, w_star, offset)
    res = quiet(net, "half_sse", split, sgld, seed=seed)
    # λ̂ = nβ (E[L_w] − L(w*)), chain by chain, from the losses it returns
    assert res.init_loss == pytest.approx(0.5 * offset**2, rel=1e-12, abs=1e-15)
    assert res.nbeta == sgld.nbeta and res.n_params == len(h)
    assert res.trace.shape == (sgld.n_chains, sgld.n_draws) and res.burnin_trace.shape == (sgld.n_chains, sgld.n_burnin)
    np.testing.assert_allclose(res.per_chain, sgld.nbeta * (res.trace.mean(axis=1) - res.init_loss), rtol=1e-12, atol=1e-12)
    assert res.mean == pytest.approx(res.per_chain.mean(), rel=1e-12) and res.std == pytest.approx(res.per_chain.std(ddof=1), rel=1e-12)
    # and its value against the discrete chain's exact mean, within five of its exact standard deviations
    expected, sd = closed_form(h, sgld.step_size, sgld.gamma, sgld.nbeta, sgld.n_burnin, sgld.n_draws, sgld.n_chains)
    assert abs(res.mean - expected) <= 5.0 * sd, (res.mean, expected, sd)


def test_a_regular_quadratic_gives_half_its_dimension_within_the_spread_its_draws_allow():
    """d = 6, γ/(nβ hᵢ) ≤ 0.005 and ε aᵢ ≤ 0.1: the closed form sits 1.6% above d/2 = 3 (the step's ε aᵢ/4 less the
    localisation's γ/(nβ hᵢ)), and 8 chains of 4000 draws, each coordinate relaxing over 10 to 20 steps, put the
    estimate's standard deviation near 0.05: the estimate must land within that bias and 4 of those deviations of 3."""
    h = np.array([1.0, 1.2, 1.4, 1.6, 1.8, 2.0])
    nbeta, gamma = 200.0, 1.0
    sgld = SGLDConfig(n_chains=8, n_draws=4000, n_burnin=200, step_size=0.1 / (nbeta * h.max() + gamma), gamma=gamma, nbeta=nbeta)
    net, split = quadratic(h, np.linspace(-1.0, 1.0, 6), offset=0.5)
    expected, sd = closed_form(h, sgld.step_size, gamma, nbeta, sgld.n_burnin, sgld.n_draws, sgld.n_chains)
    assert 0.03 < expected - 3.0 < 0.06 and 0.04 < sd < 0.06
    res = quiet(net, "half_sse", split, sgld, seed=0)
    assert abs(res.mean - 3.0) <= abs(expected - 3.0) + 4.0 * sd, (res.mean, expected, sd)


@PROPERTY
@given(quadratics(), st.integers(0, 2**16), st.integers(1, 2**16))
def test_the_seed_sets_the_noise_and_nothing_else(case, seed, offset):
    """The same seed (an int or the generator it names) gives the same numbers bit for bit; another seed other chains;
    without noise the seed is irrelevant, and a chain started at the minimum stays there."""
    h, w_star, _, sgld = case
    net, split = quadratic(h, w_star)
    before = net.weight.detach().clone()
    a, b = quiet(net, "half_sse", split, sgld, seed=seed), quiet(net, "half_sse", split, sgld, seed=generator(seed))
    for field in ("trace", "burnin_trace", "per_chain", "diverged"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert (a.mean, a.std, a.init_loss) == (b.mean, b.std, b.init_loss)
    other = quiet(net, "half_sse", split, sgld, seed=seed + offset)
    assert not np.array_equal(a.trace, other.trace) and other.init_loss == a.init_loss
    cold = SGLDConfig(**{**sgld.__dict__, "noise_level": 0.0})
    still = [quiet(net, "half_sse", split, cold, seed=s) for s in (seed, seed + offset)]
    np.testing.assert_array_equal(still[0].trace, still[1].trace)
    np.testing.assert_array_equal(still[0].trace, np.full_like(still[0].trace, still[0].init_loss))
    assert still[0].mean == 0.0
    torch.testing.assert_close(net.weight, before, rtol=0, atol=0)


def test_the_default_inverse_temperature_is_n_over_log_n():
    h = np.ones(4)
    net, (x, y) = quadratic(h, np.zeros(4))
    x, y = x.repeat(5, 1), y.repeat(5, 1)  # n = 40: the same loss, more examples
    res = quiet(net, "half_sse", (x, y), SGLDConfig(n_chains=2, n_draws=5, n_burnin=0, step_size=1e-3, gamma=1.0), seed=0)
    assert res.nbeta == default_nbeta(40) == pytest.approx(40 / math.log(40), rel=1e-15)
    np.testing.assert_allclose(res.per_chain, res.nbeta * (res.trace.mean(axis=1) - res.init_loss), rtol=1e-12)
