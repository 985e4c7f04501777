"""Property tests of the superposition theory: dimensions per feature against ``‖W_i‖⁴ / Σ_j (W_i · W_j)²`` in
exact rational arithmetic, unchanged by the scale of ``W`` (over 60 decades), a rotation of its space, a feature's
sign and the order of features; the nearest sticky fraction against a search over all of them; the dedicated
configurations' losses against their closed forms and the antipodal one's symmetry under swapping the features."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.theory.superposition import STICKY_FRACTIONS, dimensions_per_feature, n2m1_candidate_losses, nearest_sticky

PROPERTY = settings(max_examples=80, deadline=None, database=None)
INTEGER_W = st.tuples(st.integers(1, 4), st.integers(1, 6)).flatmap(
    lambda mn: st.lists(st.lists(st.integers(-5, 5), min_size=mn[1], max_size=mn[1]), min_size=mn[0], max_size=mn[0])
)


def _exact_dimensions(rows: list[list[int]]) -> list[Fraction]:
    cols = list(zip(*rows))
    dot = lambda a, b: sum(Fraction(x) * y for x, y in zip(a, b))  # noqa: E731
    return [dot(c, c) ** 2 / sum(dot(c, d) ** 2 for d in cols) if any(c) else Fraction(0) for c in cols]


@PROPERTY
@given(INTEGER_W, st.floats(-30, 30))
def test_dimensions_are_the_exact_ratio_at_any_scale_of_w(rows, exponent):
    exact = [float(v) for v in _exact_dimensions(rows)]
    W = torch.tensor(rows, dtype=torch.float64)
    for scaled in (W, W * 10.0**exponent):
        D = dimensions_per_feature(scaled)
        assert D.shape == (W.shape[1],) and bool(((D >= 0) & (D <= 1 + 1e-6)).all())
        np.testing.assert_allclose(D.numpy(), exact, rtol=1e-6, atol=0)


@PROPERTY
@given(st.integers(1, 4), st.integers(1, 7), st.integers(0, 2**31 - 1))
def test_dimensions_do_not_change_with_a_rotation_a_sign_or_the_order_of_features(m, n, seed):
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(m, n, generator=g, dtype=torch.float64)
    D = dimensions_per_feature(W)
    Q, _ = torch.linalg.qr(torch.randn(m, m, generator=g, dtype=torch.float64))
    order = torch.randperm(n, generator=g)
    signs = torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0).double()
    torch.testing.assert_close(dimensions_per_feature(Q @ W), D, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(dimensions_per_feature((W * signs)[:, order]), D[order], rtol=1e-6, atol=1e-7)
    # a feature orthogonal to all the others has a dimension of its own
    alone = torch.cat([torch.cat([W, torch.zeros(1, n, dtype=torch.float64)]), torch.zeros(m + 1, 1, dtype=torch.float64)], dim=1)
    alone[m, n] = 0.3
    assert dimensions_per_feature(alone)[n].item() == pytest.approx(1.0, rel=1e-7)


@pytest.mark.parametrize("scale", [1e-9, 1e-30, 1e160, 1e300])
def test_a_polytope_at_any_scale_has_its_sticky_dimension(scale):
    """The cut for a zero column was an absolute norm of 1e-8: a digon and a triangle of weights 1e-9 read 0 (and
    1e160 overflowed the squared norms to inf, D = inf)."""
    angles = torch.arange(3, dtype=torch.float64) * 2 * torch.pi / 3
    triangle = torch.stack([angles.cos(), angles.sin()])
    torch.testing.assert_close(dimensions_per_feature(scale * triangle), torch.full((3,), 2 / 3, dtype=torch.float64), rtol=1e-6, atol=0)
    torch.testing.assert_close(dimensions_per_feature(torch.tensor([[scale, -scale]], dtype=torch.float64)), torch.full((2,), 0.5, dtype=torch.float64), rtol=1e-6, atol=0)
    torch.testing.assert_close(dimensions_per_feature(torch.tensor([[scale, 0.0], [0.0, 0.0]], dtype=torch.float64)), torch.tensor([1.0, 0.0], dtype=torch.float64))


@PROPERTY
@given(st.lists(st.floats(-2, 3, allow_nan=False), max_size=20))
def test_the_nearest_sticky_fraction_is_the_closest_of_all_of_them(values):
    fractions, gaps = nearest_sticky(values)
    assert fractions.shape == gaps.shape == (len(values),)
    for v, f, gap in zip(values, fractions, gaps):
        assert f in STICKY_FRACTIONS and gap == abs(v - f) == min(abs(v - s) for s in STICKY_FRACTIONS)


def test_nearest_sticky_refuses_nan_and_more_than_one_axis():
    with pytest.raises(ValueError, match="values must be numbers, got NaN"):
        nearest_sticky([0.5, float("nan")])
    with pytest.raises(ValueError, match=r"values must be 1-D \(n,\), got shape \(1, 2\)"):
        nearest_sticky([[0.5, 0.4]])


@pytest.fixture(scope="module")
def grid_losses():
    importance, density = np.array([0.5, 2.0]), np.array([0.05, 0.5])
    return importance, density, n2m1_candidate_losses(importance, density, steps=300)


def test_the_dedicated_configurations_lose_the_variance_of_the_dropped_feature(grid_losses):
    # feature 1 is reconstructed exactly; feature 2 is at best its mean p/2, losing r·Var = r (p/3 − p²/4)
    importance, density, losses = grid_losses
    variance = density / 3 - density**2 / 4
    np.testing.assert_allclose(losses["feature 1"], importance[:, None] * variance[None, :], rtol=1e-6, atol=0)
    np.testing.assert_allclose(losses["feature 2"], np.broadcast_to(variance, (2, 2)), rtol=1e-6, atol=0)


def test_the_antipodal_loss_is_symmetric_under_swapping_the_features(grid_losses):
    # swapping the features maps importance r to 1/r and scales the loss by r: L(r)/r = L(1/r)
    importance, density, losses = grid_losses
    sup = losses["superposition"]
    assert np.isfinite(sup[:, 0]).all()
    np.testing.assert_allclose(sup[1] / importance[1], sup[0], rtol=1e-3)
    # each cell is minimised on its own: one cell alone gives the grid's value
    alone = n2m1_candidate_losses([2.0], [0.05], steps=300)
    for phase, value in alone.items():
        np.testing.assert_allclose(value[0, 0], losses[phase][1, 0], rtol=1e-9)


@pytest.mark.parametrize(("importance", "density"), [([float("nan")], [0.5]), ([1.0], [0.0]), ([-1.0, 1.0], [1.0]), ([1.0], [1.5])])
def test_a_grid_outside_the_domain_is_refused_with_the_values_received(importance, density):
    with pytest.raises(ValueError) as refused:
        n2m1_candidate_losses(importance, density, steps=1)
    assert str(refused.value) == f"relative importance must be > 0 and density in (0, 1], got relative_importance={importance}, density={density}"


def test_dimensions_come_in_the_floating_dtype_of_the_weights():
    """float64 weights gave float32 dimensions (the pentagon's 0.4 read 0.4000000059604645)."""
    angles = torch.arange(5, dtype=torch.float64) * 2 * torch.pi / 5
    pentagon = torch.stack([angles.cos(), angles.sin()])
    D = dimensions_per_feature(pentagon)
    assert D.dtype == torch.float64
    np.testing.assert_allclose(D.numpy(), 0.4, rtol=1e-13, atol=0)
    assert dimensions_per_feature(pentagon.float()).dtype == torch.float32
    assert dimensions_per_feature(pentagon.tolist()).dtype == torch.float32   # not a float64 tensor: float32, as feature_norms
