"""Property tests of the edge-of-stability theory: gradient descent on ``½ λ x²`` against its recurrence in 50-digit
arithmetic, the threshold ``(2 + 2β)/η`` as the curvature where a long simulation turns from converging to
diverging, the threshold's scaling in ``η`` and rise with ``β``, and divergent or near-overflow runs that stay signed
infinities and finite numbers instead of NaN."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.theory import eos

PROPERTY = settings(max_examples=60, deadline=None, database=None)
mpmath.mp.dps = 50
LRS = st.floats(-4, 1).map(lambda e: 10.0**e)
MOMENTA = st.one_of(st.just(0.0), st.floats(0.0, 0.95))


def _exact_run(curvature: float, lr: float, steps: int, x0: float, momentum: float) -> list[float]:
    m, c, b = mpmath.mpf(lr), mpmath.mpf(curvature), mpmath.mpf(momentum)
    x = prev = mpmath.mpf(x0)
    out = [x]
    for _ in range(steps):
        x, prev = x - m * c * x + b * (x - prev), x
        out.append(x)
    return [float(v) for v in out]


@PROPERTY
@given(LRS, st.floats(-1.5, 3.5), st.integers(0, 60), st.floats(-1e3, 1e3), MOMENTA)
def test_the_iterates_are_the_heavy_ball_recurrence_in_exact_arithmetic(lr, edge_share, steps, x0, momentum):
    curvature = edge_share * eos.stability_threshold(lr, momentum)
    xs = eos.gd_on_quadratic(curvature, lr, steps, x0=x0, momentum=momentum)
    exact = _exact_run(curvature, lr, steps, x0, momentum)
    assert xs.shape == (steps + 1,) and xs[0] == x0
    scale = max(abs(v) for v in exact)
    np.testing.assert_allclose(xs, exact, rtol=0, atol=1e-12 * (steps + 1) * max(scale, 1e-300))
    if momentum == 0 and steps:  # one step multiplies by 1 − ηλ
        assert xs[1] == pytest.approx(x0 * eos.oscillation_multiplier(lr, curvature), rel=1e-14, abs=1e-300)


@PROPERTY
@given(LRS, MOMENTA, st.floats(0.01, 0.3))
def test_a_long_run_converges_just_below_the_threshold_and_diverges_just_above_it(lr, momentum, gap):
    threshold = eos.stability_threshold(lr, momentum)
    below = eos.gd_on_quadratic(threshold * (1 - gap), lr, 3000, momentum=momentum)
    above = eos.gd_on_quadratic(threshold * (1 + gap), lr, 3000, momentum=momentum)
    assert abs(below[-1]) < 1e-6 and abs(above[-1]) > 1e6
    # past the edge the run oscillates with period 2 along the curvature direction: the signs alternate
    tail = above[-20:]
    assert np.all(np.sign(tail[1:]) == -np.sign(tail[:-1]))


@PROPERTY
@given(LRS, st.floats(-3, 3), MOMENTA, st.floats(0.0, 0.95))
def test_the_threshold_scales_as_one_over_lr_and_rises_with_momentum(lr, exponent, momentum, other):
    threshold = eos.stability_threshold(lr, momentum)
    assert threshold == pytest.approx((2 + 2 * momentum) / lr, rel=1e-15, abs=0)
    assert eos.stability_threshold(lr * 10.0**exponent, momentum) == pytest.approx(threshold / 10.0**exponent, rel=1e-14, abs=0)
    assert (eos.stability_threshold(lr, other) - threshold) * (other - momentum) >= 0
    assert eos.oscillation_multiplier(lr, eos.stability_threshold(lr)) == pytest.approx(-1.0, abs=1e-15)
    assert eos.predict_plateau(lr, momentum).value == threshold


def test_a_diverging_run_stays_a_signed_infinity_instead_of_turning_nan():
    """Multiplier −2 overflows after 1024 steps: the next step was inf − 3·inf, NaN from then on."""
    xs = eos.gd_on_quadratic(3.0, 1.0, 1030)
    assert not np.isnan(xs).any()
    np.testing.assert_array_equal(xs[:1024], (-2.0) ** np.arange(1024))
    np.testing.assert_array_equal(xs[1024:], [math.inf, -math.inf] * 3 + [math.inf])
    with_momentum = eos.gd_on_quadratic(50.0, 1.0, 400, momentum=0.5)
    assert not np.isnan(with_momentum).any() and np.isinf(with_momentum[-1])
    assert np.all(np.sign(with_momentum[-10:][1:]) == -np.sign(with_momentum[-10:][:-1]))


def test_a_converging_run_from_near_the_float_range_stays_finite():
    """x0 = 1e308 with ηλ = 1.9 (multiplier −0.9): ηλ·x0 overflowed and the run was −inf, then NaN."""
    xs = eos.gd_on_quadratic(1.9, 1.0, 5, x0=1e308)
    np.testing.assert_allclose(xs, 1e308 * (-0.9) ** np.arange(6), rtol=1e-15)
    xs = eos.gd_on_quadratic(0.1, 1.0, 5, x0=1.7e308, momentum=0.9)
    np.testing.assert_allclose(xs, _exact_run(0.1, 1.0, 5, 1.7e308, 0.9), rtol=1e-14)


def test_a_single_precision_step_size_gives_a_double_precision_threshold():
    """η as a numpy float32 gave a float32 threshold (6.6666665 for η = 0.3) and multiplier."""
    lr = np.float32(0.3)
    threshold = eos.stability_threshold(lr)
    assert type(threshold) is float and threshold == 2 / float(lr)
    assert type(eos.oscillation_multiplier(lr, 5.0)) is float and eos.oscillation_multiplier(lr, 5.0) == 1 - float(lr) * 5.0


@pytest.mark.parametrize(("call", "message"), [
    (lambda: eos.stability_threshold(0.0), "lr must be positive and finite, got 0.0"),
    (lambda: eos.stability_threshold(float("nan")), "lr must be positive and finite, got nan"),
    (lambda: eos.stability_threshold(0.1, momentum=1.0), r"momentum must be in \[0, 1\), got 1.0"),
    (lambda: eos.stability_threshold(0.1, momentum=float("nan")), r"momentum must be in \[0, 1\), got nan"),
    (lambda: eos.predict_plateau(-0.1), "lr must be positive and finite, got -0.1"),
    (lambda: eos.gd_on_quadratic(1.0, 0.1, -1), "steps must be a non-negative integer, got -1"),
    (lambda: eos.gd_on_quadratic(1.0, 0.1, True), "steps must be a non-negative integer, got True"),
    (lambda: eos.gd_on_quadratic(float("inf"), 0.1, 3), "curvature must be finite, got inf"),
    (lambda: eos.gd_on_quadratic(1.0, 0.1, 3, x0=float("nan")), "x0 must be finite, got nan"),
    (lambda: eos.gd_on_quadratic(1.0, 0.1, 3, momentum=-0.1), r"momentum must be in \[0, 1\), got -0.1"),
    (lambda: eos.oscillation_multiplier(0.1, float("nan")), "sharpness must be finite, got nan"),
    (lambda: eos.oscillation_multiplier(float("inf"), 1.0), "lr must be positive and finite, got inf"),
])
def test_input_outside_the_domain_is_refused_by_name(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize("momentum", [0.0, 0.5])
def test_a_step_times_curvature_past_the_float_range_keeps_zero_and_small_starts_exact(momentum):
    """η = λ = 1e300 (ηλ = 1e600 overflows to inf): x0 = 0 ran 0, NaN, NaN (inf · 0), x0 = 1e-300 ran 1e-300, −inf
    where the exact next iterate is −1e300."""
    np.testing.assert_array_equal(eos.gd_on_quadratic(1e300, 1e300, 4, x0=0.0, momentum=momentum), np.zeros(5))
    xs = eos.gd_on_quadratic(1e300, 1e300, 3, x0=1e-300, momentum=momentum)
    exact = _exact_run(1e300, 1e300, 3, 1e-300, momentum)
    assert exact[1] == pytest.approx(-1e300, rel=1e-12) and math.isinf(exact[2])
    np.testing.assert_allclose(xs[:2], exact[:2], rtol=1e-14, atol=0)
    np.testing.assert_array_equal(xs[2:], [math.inf, -math.inf])
    flipped = eos.gd_on_quadratic(-1e300, 1e300, 2, x0=-1e-300, momentum=momentum)
    np.testing.assert_allclose(flipped, _exact_run(-1e300, 1e300, 2, -1e-300, momentum), rtol=1e-14, atol=0)


@PROPERTY
@given(st.floats(300, 308).map(lambda e: 10.0**e), st.floats(300, 308).map(lambda e: 10.0**e), st.integers(-330, -300), MOMENTA)
def test_an_overflowing_step_times_curvature_matches_exact_arithmetic(lr, curvature, exponent, momentum):
    x0 = 10.0**exponent
    xs = eos.gd_on_quadratic(curvature, lr, 3, x0=x0, momentum=momentum)
    exact = _exact_run(curvature, lr, 3, x0, momentum)
    assert not np.isnan(xs).any()
    for got, want in zip(xs, exact):
        assert got == pytest.approx(want, rel=1e-12, abs=0) if math.isfinite(want) else got == want


@pytest.mark.parametrize(("call", "message"), [
    (lambda: eos.gd_on_quadratic(3.0, True, 2), r"lr must be a number, got True \(bool\)"),
    (lambda: eos.stability_threshold(0.1, momentum=False), r"momentum must be a number, got False \(bool\)"),
    (lambda: eos.gd_on_quadratic("3", 1.0, 2), r"curvature must be a number, got '3' \(str\)"),
    (lambda: eos.gd_on_quadratic(3.0, 1.0, 2, x0=None), r"x0 must be a number, got None \(NoneType\)"),
    (lambda: eos.oscillation_multiplier(0.1, "3"), r"sharpness must be a number, got '3' \(str\)"),
    (lambda: eos.predict_plateau("0.1"), r"lr must be a number, got '0.1' \(str\)"),
])
def test_a_bool_or_a_string_is_not_read_as_a_number(call, message):
    """lr = True ran as η = 1 and momentum = False as β = 0; a string raised numpy's "ufunc 'isfinite' not supported"
    or Python's "'<' not supported between instances"."""
    with pytest.raises(ValueError, match=message):
        call()
    assert eos.stability_threshold(np.array(0.25)) == 8.0 and eos.stability_threshold(np.float32(0.25)) == 8.0
