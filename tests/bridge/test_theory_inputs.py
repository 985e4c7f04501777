"""Edge inputs of the theory modules: an empty list of steps or domain, a NaN weight, and rates or decays past the
ends of the float range. Each gets the right number (a closed form or 50-digit arithmetic) or a ValueError naming
the argument."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import torch

from bridge.theory import agf, balanced_flow, eigenlearning, linearised, saxe, weight_decay


def test_fourier_components_refuse_a_non_finite_weight_by_name():
    """A NaN entry gave NaN components without a word."""
    x = torch.tensor([[1.0, 0.0, -1.0], [0.0, math.nan, 1.0]])
    with pytest.raises(ValueError, match=r"x must be finite, got x\[1, 1\] = nan"):
        agf.fourier_components(x, 1)
    with pytest.raises(ValueError, match=r"x must be finite, got x\[0, 0\] = -inf"):
        agf.fourier_components(torch.tensor([[-math.inf, 1.0]]), 1)


def test_the_balanced_flow_at_no_step_is_an_empty_stack_of_the_right_shape():
    """No step raised numpy's "need at least one array to stack"."""
    teacher, w_in, w_out = np.array([[2.0, 0.0]]), np.full((3, 2), 0.1), np.full((1, 3), 0.1)
    out = balanced_flow.balanced_flow(np.array([]), teacher, w_in, w_out, 0.01)
    assert out.shape == (0, 3, 3)
    start = balanced_flow.balanced_flow(np.array([0.0]), teacher, w_in, w_out, 0.01)
    q = np.concatenate([w_in.T, w_out])
    np.testing.assert_allclose(start[0], q @ q.T, rtol=1e-12, atol=1e-15)


def test_the_domain_spectrum_of_an_empty_domain_is_refused_by_name():
    """N = 0 raised numpy's "zero-size array to reduction operation minimum"."""
    with pytest.raises(ValueError, match=r"kernel must be \(N, N\) and target \(N,\) with N >= 1, got \(0, 0\) and \(0,\)"):
        eigenlearning.domain_spectrum(np.zeros((0, 0)), np.zeros(0))


def test_gradient_flow_residuals_keep_one_at_the_start_and_for_a_still_mode():
    """η λ̂/n past the float range gave NaN at t = 0 (inf · 0), and λ̂ = 0 gave NaN at t = inf."""
    out = linearised.mode_residuals([1e300, 2.0, 0.0], [0, 1, math.inf], lr=1e10, n=3, discrete=False)
    expected = np.array([[1.0, 1.0, 1.0], [0.0, math.exp(-1e10 * 2 / 3), 1.0], [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(out, expected, rtol=1e-14, atol=0)
    finite = linearised.mode_residuals([4.0, 1.0], [0, 10, 2.5], lr=0.1, n=4, discrete=False)
    np.testing.assert_allclose(finite, np.exp(-np.outer([0, 10, 2.5], [0.1, 0.025])), rtol=1e-14, atol=0)


def test_the_decay_prediction_for_a_decay_rate_below_the_float_range_is_its_exact_value():
    """η·λ = 1e-400 underflowed to 0 (a ZeroDivisionError); η·λ = 1e-320, a subnormal, lost five digits."""
    start, target = 1.0, 1.0 - 2.0**-52
    mpmath.mp.dps = 50
    exact = float(mpmath.log(mpmath.mpf(target) / start) / mpmath.log1p(-mpmath.mpf(1e-170) * mpmath.mpf(1e-150)))
    assert exact == pytest.approx(2.220446049250313e304, rel=1e-12)
    assert weight_decay.decay_prediction(0.0, start, target, 1e-170, 1e-150).step == pytest.approx(exact, rel=1e-14)
    assert weight_decay.decay_prediction(5.0, 1.0, 0.5, 1e-200, 1e-200).step == math.inf  # ln 2 · 1e400 steps
    small = weight_decay.decay_prediction(0.0, 2.0, 1.0, 1e-9, 1e-9)
    assert small.step == pytest.approx(math.log(2) * 1e18, rel=1e-14)


def _depth2_exact(s: float, u0: float, lr: float, t: float) -> float:
    mpmath.mp.dps = 50
    g = mpmath.exp(2 * mpmath.mpf(s) * mpmath.mpf(lr) * mpmath.mpf(t))
    return float(mpmath.mpf(s) * g / (g - 1 + mpmath.mpf(s) / mpmath.mpf(u0)))


@pytest.mark.parametrize(("s", "u0", "lr"), [(1e300, 1e-300, 1e10), (1e200, 1e-200, 1.0), (1e10, 1e-300, 1e-12)])
def test_a_depth_two_mode_with_s_over_u0_or_2s_lr_past_the_float_range_follows_its_closed_form(s, u0, lr):
    """s/u0 = 1e600 made the closed form inf · 0 = NaN at every step; the half-rise step was inf / inf = NaN."""
    steps = np.array([0.0, 1e-320, 1e-300, 1.0, 50.0, 1e6])
    got = saxe.mode_trajectory(steps, s, u0, lr)
    exact = [_depth2_exact(s, u0, lr, t) for t in steps]
    assert got[0] == u0 and not np.isnan(got).any()
    np.testing.assert_allclose(got, exact, rtol=1e-12, atol=0)
    half = (mpmath.mpf(u0) + s) / 2  # u(t) = (u0 + s)/2 at t = ln g / (2sη), g = half · (s/u0 − 1) / (s − half)
    t_half = float(mpmath.log(half * (mpmath.mpf(s) / u0 - 1) / (s - half)) / (2 * mpmath.mpf(s) * lr))
    assert saxe.half_rise_step(s, u0, lr) == pytest.approx(t_half, rel=1e-12)
