"""Property tests of the deep linear mode dynamics: the depth-2 closed form is a monotone sigmoid from ``u0`` to
``s`` that passes half-way at the half-rise step and solves the mode ODE, for strengths over many decades and at any
time; the half-rise step at any depth scales as ``1/lr`` and adds up over the way."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import solve_ivp

from bridge.theory import saxe

PROPERTY = settings(max_examples=100, deadline=None, database=None)
MODES = st.tuples(st.floats(-2, 5), st.floats(-12, -0.01), st.floats(-4, 0)).map(lambda e: (10.0 ** e[0], 10.0 ** (e[0] + e[1]), 10.0 ** e[2]))


@PROPERTY
@given(MODES)
def test_the_depth2_trajectory_is_a_monotone_sigmoid_from_u0_to_s_half_way_at_the_half_rise_step(mode):
    s, u0, lr = mode
    half = saxe.half_rise_step(s, u0, lr)
    assert half == pytest.approx(np.log(s / u0 + 1) / (2 * s * lr), rel=1e-12, abs=0)
    steps = half * np.array([0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 4.0, 1e3, 1e6])
    u = saxe.mode_trajectory(steps, s, u0, lr)
    assert np.isfinite(u).all()
    assert u[0] == pytest.approx(u0, rel=1e-12, abs=0)
    assert np.all(np.diff(u) >= 0) and np.all((u >= u0 * (1 - 1e-12)) & (u <= s))
    assert u[3] == pytest.approx((u0 + s) / 2, rel=1e-9, abs=0)
    assert u[-1] == pytest.approx(s, rel=1e-12, abs=0)


@PROPERTY
@given(MODES)
def test_the_depth2_closed_form_solves_the_mode_ode(mode):
    # du/dτ = 2u(s − u) with τ = ηt, integrated here in τ on the logit z = log(u/(s − u)), for which dz/dτ = 2s
    s, u0, lr = mode
    half = saxe.half_rise_step(s, u0, lr)
    steps = half * np.array([0.3, 1.0, 1.7])
    z0 = np.log(u0 / (s - u0))
    sol = solve_ivp(lambda _t, z: 2 * (s - s / (1 + np.exp(-z))) * (1 + np.exp(z)), (0.0, lr * steps[-1]), [z0], t_eval=lr * steps, rtol=1e-11, atol=1e-12)
    u = s / (1 + np.exp(-sol.y[0]))
    np.testing.assert_allclose(saxe.mode_trajectory(steps, s, u0, lr), u, rtol=1e-7, atol=0)


def test_a_strong_mode_at_late_steps_is_learned_to_s_not_to_an_overflow():
    # s·e^{2sηt} overflows for s = 1e5 once 2sηt is clipped at 700; the trajectory is s there
    u = saxe.mode_trajectory(np.array([0.0, 1e-5, 1.0, 10.0]), s=1e5, u0=1.0, lr=1.0)
    expected = 1e5 / (1 + (1e5 - 1) * np.exp(-2e5 * np.array([0.0, 1e-5, 1.0, 10.0])))
    np.testing.assert_allclose(u, expected, rtol=1e-12, atol=0)


@PROPERTY
@given(MODES, st.integers(2, 5), st.floats(0.05, 0.95), st.floats(-3, 3))
def test_the_half_rise_step_at_any_depth_scales_as_one_over_lr_and_adds_up_over_the_way(mode, depth, share, exponent):
    s, u0, lr = mode
    half = saxe.half_rise_step(s, u0, lr, depth)
    assert saxe.half_rise_step(s, u0, lr * 10.0**exponent, depth) == pytest.approx(half / 10.0**exponent, rel=1e-8, abs=0)
    middle = u0 + share * ((u0 + s) / 2 - u0)
    if middle > u0 and (u0 + s) / 2 > middle:
        parts = saxe.ode_time(s, u0, middle, lr, depth) + saxe.ode_time(s, middle, (u0 + s) / 2, lr, depth)
        assert parts == pytest.approx(half, rel=1e-8, abs=0)


@pytest.mark.parametrize("depth", [3, 4, 5])
@pytest.mark.parametrize(("s", "u0", "lr"), [(0.1, 1e-12, 1.0), (1.0, 1e-8, 0.1), (2.0, 1e-3, 0.01)])
def test_a_deep_trajectory_passes_half_way_at_the_half_rise_step_after_a_long_plateau(depth, s, u0, lr):
    """From a tiny start the plateau is long (10⁷ steps at depth 5): a stepping solver drifted along it (0.072
    instead of 0.05 at depth 5); the trajectory is found by inverting the ODE's time, as the half-rise step is."""
    half = saxe.half_rise_step(s, u0, lr, depth)
    u = saxe.mode_trajectory(half * np.array([0.0, 0.5, 1.0, 2.0, 1e6]), s, u0, lr, depth)
    assert u[0] == u0 and u0 < u[1] < u[2] < u[3] <= u[4] == s
    assert u[2] == pytest.approx((u0 + s) / 2, rel=1e-8, abs=0)
    # the step between two strengths is the ODE's time between them, whichever way it is measured
    assert saxe.ode_time(s, u[1], u[2], lr, depth) == pytest.approx(0.5 * half, rel=1e-8, abs=0)


@pytest.mark.parametrize("depth", [3, 5])
def test_a_deep_trajectory_solves_the_mode_ode(depth):
    """Against a tight explicit solver of the ODE in log u, from a start where it has no long plateau to drift along."""
    s, u0, lr = 2.0, 1e-2, 0.05
    steps = saxe.half_rise_step(s, u0, lr, depth) * np.linspace(0.0, 2.0, 41)
    rhs = lambda _t, logu: lr * depth * np.exp(logu) ** ((depth - 2) / depth) * (s - np.exp(logu))  # noqa: E731
    solved = solve_ivp(rhs, (0.0, steps[-1]), [np.log(u0)], t_eval=steps, method="DOP853", rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(saxe.mode_trajectory(steps, s, u0, lr, depth), np.exp(solved.y[0]), rtol=1e-8, atol=0)
