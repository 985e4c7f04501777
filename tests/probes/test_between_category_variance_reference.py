"""between_category_variance against its definition by loops, its invariances, and the refusal of bad representations."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from probes.differentiation import between_category_variance


def _between_by_loops(h: np.ndarray, labels: np.ndarray, parents: np.ndarray) -> float:
    """``Σ_p Σ_c n_c ‖μ_c − μ_p‖² / N`` with categories ``(parent, label)``."""
    total = 0.0
    for p in np.unique(parents):
        mu_p = h[parents == p].mean(0)
        for c in np.unique(labels[parents == p]):
            rows = (parents == p) & (labels == c)
            total += rows.sum() * float(((h[rows].mean(0) - mu_p) ** 2).sum())
    return total / len(h)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 12), d=st.integers(1, 4), seed=st.integers(0, 10_000))
def test_the_between_variance_equals_loops_and_ignores_item_order_a_shift_and_a_rotation(n, d, seed):
    rng = np.random.default_rng(seed)
    h = rng.standard_normal((n, d))
    parents, labels = rng.integers(0, 2, n), rng.integers(0, 3, n)
    b, chance = between_category_variance(h, labels, parents)
    assert b == pytest.approx(_between_by_loops(h, labels, parents), rel=1e-9, abs=1e-12)
    perm = rng.permutation(n)
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    for moved in (between_category_variance(h[perm], labels[perm], parents[perm]), between_category_variance(h @ q + 5.0, labels, parents)):
        assert moved[0] == pytest.approx(b, rel=1e-9, abs=1e-12)
        assert moved[1] == pytest.approx(chance, rel=1e-9, abs=1e-12)
    scaled = between_category_variance(3.0 * h, labels, parents)
    assert scaled[0] == pytest.approx(9.0 * b, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize(
    ("h", "message"),
    [
        (np.arange(4.0), r"h must be \(item, d\) representations with at least one item, got h of shape \(4,\)"),  # numpy's axis error
        (np.zeros((0, 3)), r"got h of shape \(0, 3\)"),  # numpy's 'zero-size array to reduction operation'
        (np.array([[0.0], [math.nan], [1.0], [1.0]]), r"h must be finite, got 1 NaN or infinite entries"),  # gave (nan, nan)
        (np.array([[0.0], [math.inf], [1.0], [1.0]]), r"h must be finite, got 1 NaN or infinite entries"),
    ],
)
def test_between_category_variance_refuses_a_representation_that_is_not_a_finite_item_by_d_table(h, message):
    n = len(h)
    with pytest.raises(ValueError, match=message):
        between_category_variance(h, np.arange(n) % 2, np.zeros(n, int))
