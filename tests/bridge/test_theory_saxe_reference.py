"""The deep mode ODE's times and strengths against a 30-digit quadrature (mpmath), at depths 3 to 5.

``du/dt = η L u^{2(L−1)/L} (s − u)`` gives ``t(u_a → u_b) = ∫ du / (η L u^{2(L−1)/L} (s − u))``; the reference
integrates it in ``x = log u`` with mpmath's tanh-sinh rule at 30 digits and inverts it with mpmath's root finder.
The library's quadrature asks for a relative 1e-10, so agreement is asked to 1e-8.
"""

import mpmath as mp
import numpy as np
import pytest

from bridge.theory import saxe

CASES = [(2.0, 1e-3, 0.01, 3), (0.5, 1e-8, 0.1, 4), (1.0, 1e-12, 1.0, 5), (3.0, 0.2, 0.05, 3)]


def _reference_time(s, u_from, u_to, lr, depth):
    with mp.workdps(30):
        s, u_from, u_to, lr = (mp.mpf(v) for v in (s, u_from, u_to, lr))
        power = mp.mpf(2 * (depth - 1)) / depth
        integrand = lambda x: mp.exp(x * (1 - power)) / (lr * depth * (s - mp.exp(x)))  # noqa: E731
        cut = [mp.log(s / 2)] if u_from < s / 2 < u_to else []  # split where the integrand's character changes
        return mp.quad(integrand, [mp.log(u_from), *cut, mp.log(u_to)])


def _reference_strength(s, u0, steps, lr, depth):
    """The strength ``steps`` after ``u0``: bisection on ``y``, ``u = s / (1 + e^{−y})``, to a relative 1e-12 in ``u``."""
    with mp.workdps(30):
        strength = lambda y: mp.mpf(s) / (1 + mp.exp(-y))  # noqa: E731
        low, high = mp.log(mp.mpf(u0) / (s - mp.mpf(u0))), mp.mpf(40)  # from u0 to within e^{-40} of s
        while high - low > 1e-13:
            middle = (low + high) / 2
            low, high = (middle, high) if _reference_time(s, u0, strength(middle), lr, depth) < steps else (low, middle)
        return float(strength((low + high) / 2))


@pytest.mark.parametrize("s,u0,lr,depth", CASES)
def test_half_rise_and_ode_time_equal_the_high_precision_quadrature(s, u0, lr, depth):
    half = _reference_time(s, u0, (u0 + s) / 2, lr, depth)
    assert saxe.half_rise_step(s, u0, lr, depth) == pytest.approx(float(half), rel=1e-8)
    near_end = s * (1 - 1e-6)  # the far side of the rise, where the integrand's pole at s is close
    assert saxe.ode_time(s, u0, near_end, lr, depth) == pytest.approx(float(_reference_time(s, u0, near_end, lr, depth)), rel=1e-8)


@pytest.mark.parametrize("s,u0,lr,depth", CASES[:2])
def test_trajectory_and_strength_before_invert_the_high_precision_quadrature(s, u0, lr, depth):
    half = float(_reference_time(s, u0, (u0 + s) / 2, lr, depth))
    steps = np.array([0.5 * half, half, 1.5 * half])
    expected = [_reference_strength(s, u0, t, lr, depth) for t in steps]
    np.testing.assert_allclose(saxe.mode_trajectory(steps, s, u0, lr, depth), expected, rtol=1e-7)
    # carried back from the strength the reference reaches at the half-rise step, to step 0 (at 1.5× it is s to
    # double precision at depth 4, outside strength_before's domain)
    assert saxe.strength_before(s, expected[1], steps[1], lr, depth) == pytest.approx(u0, rel=1e-6)


def test_the_depth_two_closed_form_equals_the_high_precision_quadrature():
    s, u0, lr = 1.3, 1e-5, 0.02
    for u_to in (0.1, (u0 + s) / 2, s * (1 - 1e-9)):
        assert saxe.ode_time(s, u0, u_to, lr, 2) == pytest.approx(float(_reference_time(s, u0, u_to, lr, 2)), rel=1e-12)
