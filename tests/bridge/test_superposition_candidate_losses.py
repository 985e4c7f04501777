"""The n = 2, m = 1 candidate losses against an independent integration of the toy model (Elhage et al. 2022).

Features are 0 with probability 1 − p and uniform on [0, 1] otherwise; ``x̂ = ReLU(Wᵀ W x + b)``; the loss is
``(x₁ − x̂₁)² + r (x₂ − x̂₂)²`` in expectation. The dedicated configurations have the closed form
``r_dropped (p/3 − p²/4)`` (the kept feature is copied exactly, the dropped one predicted by its mean). The
antipodal one (``w₁ > 0 > −w₂``, both biases free) is integrated here without the library: over the four
supports (neither, one, the other, both features on), each output's error is a piecewise polynomial whose
pieces end where the ReLU turns on; the inner integral over the other feature is taken in closed form and each
piece in the outer one by 8-node Gauss–Legendre (exact for degree ≤ 15), so the reference is exact to rounding
(a Monte Carlo of 4·10⁶ samples at one point agreed within its standard error of 2·10⁻³ relative). It is
minimised over ``(log w₁, log w₂, b₁, b₂)`` by Nelder–Mead from two starts.

The library integrates with one Gauss–Legendre rule on [0, 1] across the kinks; measured against this reference
on the quick preset's 8 × 8 grid it is within 1.4·10⁻³ relative (above or below), so the tolerance is 2.5·10⁻³.
At r = 1 the loss is symmetric under swapping the features and a start with equal weights stayed on that saddle:
at p = 0.85 it gave 0.10257 (both weights 0.76, below the dedicated 0.10271: 'superposition'), where the least loss
is 0.10200 with weights 0.93 and 0.42 (a feature dropped, so no superposition).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize

from bridge.theory.superposition import n2m1_candidate_losses

IMPORTANCE = (0.3, 1.0, 3.0)
DENSITY = (0.02, 0.1, 0.5, 0.85, 1.0)
RTOL = 2.5e-3
GX, GW = np.polynomial.legendre.leggauss(8)


def _integrate(g, breaks) -> float:
    """``∫₀¹ g`` split at ``breaks``: 8-node Gauss–Legendre per piece."""
    points = np.unique(np.clip([0.0, 1.0, *(x for x in breaks if np.isfinite(x))], 0.0, 1.0))
    return float(sum((hi - lo) / 2 * np.dot(GW, g(lo + (hi - lo) * (GX + 1) / 2)) for lo, hi in zip(points[:-1], points[1:]) if hi > lo))


def _relu(z):
    return np.maximum(z, 0.0)


def _output_error(a: float, c: float, b: float, p: float) -> float:
    """``E (x − ReLU(a x − c y + b))²`` for one output: own feature ``x``, other feature ``y``, ``a, c > 0``."""
    s = 1 - p
    alone = _integrate(lambda u: (u - _relu(a * u + b)) ** 2, [-b / a])  # y = 0

    def inner(u):  # ∫₀¹ dv (u − ReLU(α − c v))², α = a u + b: on for v < α / c
        alpha = a * u + b
        t = np.clip(alpha / c, 0.0, 1.0)
        k = u - alpha
        return ((k + c * t) ** 3 - k**3) / (3 * c) + u**2 * (1 - t)

    other = _integrate(lambda v: _relu(b - c * v) ** 2, [b / c])  # x = 0
    both = _integrate(inner, [-b / a, (c - b) / a])
    return s * s * _relu(b) ** 2 + p * s * (alone + other) + p * p * both


def antipodal_loss(w1: float, w2: float, b1: float, b2: float, r: float, p: float) -> float:
    """Expected loss with ``W = [w₁, −w₂]``: ``x̂₁ = ReLU(w₁² x₁ − w₁w₂ x₂ + b₁)``, ``x̂₂ = ReLU(w₂² x₂ − w₁w₂ x₁ + b₂)``."""
    return _output_error(w1 * w1, w1 * w2, b1, p) + r * _output_error(w2 * w2, w1 * w2, b2, p)


def best_antipodal(r: float, p: float) -> tuple[float, float]:
    """The least antipodal loss and the smaller weight magnitude at it."""
    scale = p * p  # the loss is about p² (1 + r) / 6 when sparse: minimise a number near 1
    best = min(
        (minimize(lambda q: antipodal_loss(np.exp(q[0]), np.exp(q[1]), q[2], q[3], r, p) / scale, start, method="Nelder-Mead", options={"xatol": 1e-8, "fatol": 1e-11, "maxiter": 4000, "maxfev": 4000})
         for start in ([0.0, 0.0, 0.0, 0.0], [0.2, -0.2, 0.02, -0.05])),
        key=lambda res: res.fun,
    )
    return best.fun * scale, float(np.exp(best.x[:2]).min())


@pytest.fixture(scope="module")
def library() -> dict[str, np.ndarray]:
    return n2m1_candidate_losses(IMPORTANCE, DENSITY)


def test_the_reference_integration_against_a_point_worked_by_hand():
    # W = [1, −1], b = 0: x̂₁ = ReLU(x₁ − x₂), x̂₂ = ReLU(x₂ − x₁); each output's error is 0 alone, and with
    # both on the square gives ∫∫ min(x₁, x₂)² = 1/6: the loss is p² (1 + r) / 6
    for r, p in ((1.0, 0.3), (2.5, 0.05), (0.4, 1.0)):
        assert antipodal_loss(1.0, 1.0, 0.0, 0.0, r, p) == pytest.approx(p * p * (1 + r) / 6, rel=1e-13)
    # a negative bias costs nothing when all is off, and y alone gives 0 error on x: b² (1 − p)² + ...
    assert antipodal_loss(1.0, 1.0, 0.1, 0.0, 0.0, 0.0) == pytest.approx(0.01, rel=1e-13)


@pytest.mark.parametrize("i", range(len(IMPORTANCE)))
@pytest.mark.parametrize("j", range(len(DENSITY)))
def test_the_dedicated_configurations_cost_the_dropped_features_variance(library, i, j):
    r, p = IMPORTANCE[i], DENSITY[j]
    variance = p / 3 - p * p / 4
    assert library["feature 1"][i, j] == pytest.approx(r * variance, rel=1e-9)
    assert library["feature 2"][i, j] == pytest.approx(variance, rel=1e-9)


@pytest.mark.parametrize("i", range(len(IMPORTANCE)))
@pytest.mark.parametrize("j", range(len(DENSITY)))
def test_the_antipodal_loss_is_the_least_expected_loss_of_its_configuration(library, i, j):
    r, p = IMPORTANCE[i], DENSITY[j]
    expected, smaller = best_antipodal(r, p)
    got = library["superposition"][i, j]
    assert not 0.45 < smaller < 0.55, (r, p, smaller)  # no cell where the threshold of 0.5 is a near call
    if smaller < 0.5:  # the least loss drops a feature: the library counts the configuration out
        assert got == np.inf, (r, p, smaller, got, expected)
    else:
        assert got == pytest.approx(expected, rel=RTOL), (r, p, smaller, got, expected)
        assert expected < min(library["feature 1"][i, j], library["feature 2"][i, j]) or p >= 0.5  # sparse: superposition wins
