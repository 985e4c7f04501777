"""Property tests of the AGF theory: the dormant flow's blow-up time against its quadrature in 30-digit arithmetic
for real unbalanced starts, its exact scaling as ``1/(κ r₀)`` at any size of start, its phase and ``û ↔ v̂``
symmetries; Fourier components against an inverse FFT; the rate's scaling; plateau losses against exact rational
sums; the acquisition order in time, each step the fastest neuron's blow-up time."""

from __future__ import annotations

from fractions import Fraction

import mpmath
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.theory import agf

PROPERTY = settings(max_examples=30, deadline=None, database=None)
FEW = settings(max_examples=8, deadline=None, database=None)  # each example integrates the flow several times
mpmath.mp.dps = 30
STARTS = st.lists(st.tuples(st.floats(0.2, 1.0), st.floats(0.2, 1.0), st.floats(0.2, 1.0)), min_size=1, max_size=4)


def _exact_blowup(a: float, b: float, c: float, kappa: float) -> float:
    # real positive start: a' = κbc, b' = κac, c' = κab keep a² − b² and a² − c² (a the largest), so the time to
    # infinity is ∫ da / (κ √(a² − A) √(a² − C)) from a₀
    a, b, c = sorted([a, b, c], reverse=True)
    A, C = mpmath.mpf(a) ** 2 - mpmath.mpf(b) ** 2, mpmath.mpf(a) ** 2 - mpmath.mpf(c) ** 2
    return float(mpmath.quad(lambda s: 1 / (mpmath.sqrt(s * s - A) * mpmath.sqrt(s * s - C)), [a, 2 * a, mpmath.inf]) / kappa)


@settings(max_examples=15, deadline=None, database=None)
@given(STARTS, st.floats(-3, 3))
def test_the_blowup_time_of_a_real_start_is_the_quadrature_of_the_conserved_flow(starts, log_kappa):
    kappa = 10.0**log_kappa
    u, v, w = (np.array(z, complex) for z in zip(*starts))
    times = agf.blowup_times(u, v, w, kappa=kappa)
    np.testing.assert_allclose(times, [_exact_blowup(*z, kappa) for z in starts], rtol=1e-6, atol=0)


@FEW
@given(STARTS, st.lists(st.floats(-np.pi, np.pi), min_size=3, max_size=3), st.floats(-150, 150), st.floats(-100, 100))
def test_the_blowup_time_scales_as_one_over_kappa_r0_and_keeps_the_flow_symmetries(starts, phases, log_size, log_kappa):
    u, v, w = (np.array(z, complex) * np.exp(1j * phase) for z, phase in zip(zip(*starts), phases))
    times = agf.blowup_times(u, v, w, kappa=1.0)
    size, kappa = 10.0**log_size, 10.0**log_kappa
    if np.isfinite(1 / (size * kappa)) and 1 / (size * kappa) > 1e-300:
        np.testing.assert_allclose(agf.blowup_times(size * u, size * v, size * w, kappa=kappa), times / size / kappa, rtol=1e-12)
    # û → e^{iα}û, v̂ → e^{iβ}v̂, ŵ → e^{i(α+β)}ŵ maps the flow to itself, and so does swapping û and v̂
    alpha, beta = phases[1], phases[2]
    np.testing.assert_allclose(agf.blowup_times(u * np.exp(1j * alpha), v * np.exp(1j * beta), w * np.exp(1j * (alpha + beta)), kappa=1.0), times, rtol=1e-6)
    np.testing.assert_allclose(agf.blowup_times(v, u, w, kappa=1.0), times, rtol=1e-12)


@pytest.mark.parametrize("size", [1e-160, 1e-300, 1e200, 1e300])
def test_an_aligned_start_of_any_size_blows_up_at_one_over_kappa_r0(size):
    """Components of 1e200 overflowed κ r² (a NaN time); of 1e-160 underflowed it (5e-6 off) and of 1e-300 never moved."""
    z = np.array([size + 0j])
    assert agf.blowup_times(z, z, z, kappa=1.0)[0] == pytest.approx(1 / size, rel=1e-8, abs=0)


@PROPERTY
@given(st.integers(1, 5), st.integers(1, 12), st.integers(-30, 30), st.integers(0, 2**31 - 1))
def test_fourier_components_are_the_inverse_fft_periodic_and_conjugate_in_k(n, p, k, seed):
    x = torch.randn(n, p, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    hat = agf.fourier_components(x, k)
    np.testing.assert_allclose(hat, p * np.fft.ifft(x.numpy(), axis=1)[:, k % p], rtol=0, atol=1e-12 * p)
    np.testing.assert_allclose(agf.fourier_components(x, k + p), hat, rtol=0, atol=1e-11 * p)
    np.testing.assert_allclose(agf.fourier_components(x, -k), np.conj(hat), rtol=0, atol=1e-12 * p)


@PROPERTY
@given(st.integers(1, 10**6), st.floats(-6, 6), st.floats(-6, 6))
def test_the_rate_is_linear_in_lr_and_magnitude_and_falls_as_one_over_p_squared(p, log_m, log_lr):
    m, lr = 10.0**log_m, 10.0**log_lr
    assert agf.rate(p, m, lr) == pytest.approx(float(Fraction(2) * Fraction(lr) * Fraction(m) / p**2), rel=1e-15, abs=0)
    assert agf.rate(np.int64(p), np.float32(m), lr) == pytest.approx(agf.rate(p, float(np.float32(m)), lr), rel=1e-15, abs=0)


def test_the_rate_of_a_numpy_modulus_past_two_to_the_32_is_not_a_wrapped_square():
    """np.int64(2**32)**2 wrapped to 0: the rate was inf."""
    assert agf.rate(np.int64(2**32), 1.0, 1.0) == pytest.approx(2.0 / 2.0**64, rel=1e-15, abs=0)


@PROPERTY
@given(st.dictionaries(st.integers(1, 40), st.floats(1e-3, 1e3), min_size=1, max_size=8), st.randoms(use_true_random=False))
def test_plateau_losses_are_the_exact_remaining_sums_and_fall_by_each_drop(magnitudes, rnd):
    order = list(magnitudes)
    rnd.shuffle(order)
    losses = agf.plateau_losses(magnitudes, order)
    exact = [sum(Fraction(magnitudes[k]) ** 2 / 2 for k in order[i:]) for i in range(len(order) + 1)]
    np.testing.assert_allclose(losses, [float(e) for e in exact], rtol=1e-14, atol=0)
    assert losses[-1] == 0.0 and all(a >= b for a, b in zip(losses, losses[1:]))
    by_size = agf.magnitude_order(magnitudes)
    assert sorted(by_size) == sorted(magnitudes) and all(magnitudes[a] >= magnitudes[b] for a, b in zip(by_size, by_size[1:]))


def test_plateau_losses_refuse_a_nan_magnitude_by_name():
    """A NaN magnitude gave NaN plateaus until its acquisition, then numbers."""
    with pytest.raises(ValueError, match=r"magnitudes must be numbers, got NaN at \{1: nan\}"):
        agf.plateau_losses({1: float("nan"), 2: 1.0}, [1])


@settings(max_examples=3, deadline=None, database=None)
@given(st.integers(0, 2**31 - 1), st.floats(-2, 2), st.floats(-3, 1))
def test_acquisitions_come_in_time_order_each_at_its_fastest_neurons_blowup_and_scale_with_init_and_lr(seed, log_size, log_lr):
    g = torch.Generator().manual_seed(seed)
    p, lr, size = 11, 10.0**log_lr, 10.0**log_size
    U, V, W = (0.01 * torch.randn(s, generator=g, dtype=torch.float64) for s in [(6, p), (6, p), (p, 6)])
    mags = {1: 1.0, 3: 0.7, 5: 0.4}
    preds = agf.predict_acquisitions(U, V, W, mags, lr)
    steps = [q.step for q in preds]
    assert steps == sorted(steps)
    assert [q.value for q in preds] == agf.plateau_losses(mags, [q.extra["frequency"] for q in preds])[1:]
    for q in preds:
        k = q.extra["frequency"]
        times = agf.blowup_times(agf.fourier_components(U, k), agf.fourier_components(V, k), agf.fourier_components(W.T, k), agf.rate(p, mags[k], lr))
        assert q.step == times.min() and q.extra["neuron"] == int(times.argmin())
        assert q.extra["rank"] == agf.magnitude_order(mags).index(k) and q.extra["drop"] == mags[k] ** 2 / 2
    scaled = agf.predict_acquisitions(size * U, size * V, size * W, mags, 2 * lr)
    np.testing.assert_allclose([q.step for q in scaled], np.array(steps) / size / 2, rtol=1e-10)
