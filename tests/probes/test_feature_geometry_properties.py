"""Property tests of the feature-geometry probes on hand-built feature matrices: norms against a per-column loop,
regular polygons at any rotation and scale, the angles of random directions against ``atan2`` one by one (gaps adding
up to 360° and independent of the order of the columns), and the n = 2, m = 1 phase against its decision table."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from probes.feature_geometry import feature_norms, n2m1_phase, polygon, represented

PROPERTY = settings(max_examples=50, deadline=None, database=None)


@PROPERTY
@given(st.integers(1, 4), st.integers(1, 6), st.integers(0, 2**32 - 1), st.floats(0.05, 2.0))
def test_feature_norms_and_the_represented_mask_equal_a_loop_over_columns(m, n, seed, threshold):
    W = np.random.default_rng(seed).normal(size=(m, n))
    norms = feature_norms(torch.as_tensor(W)).numpy()
    reference = [math.sqrt(sum(W[i, j] ** 2 for i in range(m))) for j in range(n)]
    np.testing.assert_allclose(norms, reference, rtol=1e-6)
    assert represented(torch.as_tensor(W), threshold).tolist() == [r > threshold for r in norms]  # float64 weights: float64 norms
    # orthogonal columns of a rotation are all of norm 1; antipodal pairs share one norm
    q, _ = np.linalg.qr(np.random.default_rng(seed + 1).normal(size=(m, m)))
    np.testing.assert_allclose(feature_norms(torch.as_tensor(np.c_[q, -2 * q])).numpy(), [1.0] * m + [2.0] * m, rtol=1e-6)


@PROPERTY
@given(st.integers(1, 9), st.floats(0, 360, exclude_max=True), st.floats(0.6, 5.0))
def test_a_regular_polygon_at_any_rotation_and_scale_has_equal_gaps_and_no_norm_spread(k, rotation, scale):
    angles = np.radians(rotation + 360.0 * np.arange(k) / k)
    W = scale * np.stack([np.cos(angles), np.sin(angles)])
    poly = polygon(torch.as_tensor(W))
    assert poly.k == k
    assert poly.gaps == pytest.approx((360.0 / k,) * k, abs=1e-3)
    assert poly.max_gap_error == pytest.approx(0.0, abs=1e-3) and poly.norm_spread == pytest.approx(0.0, abs=1e-5)
    assert poly.is_regular(k, angle_tol=1e-2, norm_tol=1e-4) and not poly.is_regular(k + 1)
    assert all(0.0 <= a < 360.0 for a in poly.angles) and list(poly.angles) == sorted(poly.angles)


@PROPERTY
@given(st.integers(1, 8), st.integers(0, 2**32 - 1), st.randoms(use_true_random=False))
def test_polygon_angles_are_atan2_of_each_represented_column_and_ignore_the_column_order(n, seed, rnd):
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(2, n)) * rng.uniform(0.0, 2.0, size=n)
    poly = polygon(torch.as_tensor(W), threshold=0.3)
    cols = [j for j in range(n) if math.hypot(*W[:, j]) > 0.3]  # float64 weights are measured in float64
    assert poly.k == len(cols)
    if not cols:
        assert poly.angles == () and poly.max_gap_error == math.inf
        return
    reference = sorted(math.degrees(math.atan2(W[1, j], W[0, j])) % 360.0 for j in cols)
    assert poly.angles == pytest.approx(reference, abs=1e-9)
    assert sum(poly.gaps) == pytest.approx(360.0) and min(poly.gaps) >= 0.0
    assert poly.max_gap_error == pytest.approx(max(abs(g - 360.0 / len(cols)) for g in poly.gaps))
    norms = [math.hypot(*W[:, j]) for j in cols]
    assert poly.norm_spread == pytest.approx(max(norms) / min(norms) - 1, rel=1e-5, abs=1e-6)
    order = list(range(n))
    rnd.shuffle(order)
    assert polygon(torch.as_tensor(W[:, order]), threshold=0.3) == poly


@PROPERTY
@given(st.floats(-3, 3), st.floats(-3, 3), st.floats(0.05, 1.0))
def test_the_n2m1_phase_follows_its_decision_table(w1, w2, threshold):
    on1, on2 = abs(np.float32(w1)) > threshold, abs(np.float32(w2)) > threshold
    if on1 and on2:
        expected = "superposition" if np.float32(w1) * np.float32(w2) < 0 else "other"
    else:
        expected = "feature 1" if on1 else "feature 2" if on2 else "none"
    assert n2m1_phase(torch.tensor([[w1, w2]]), threshold) == expected
    assert n2m1_phase(torch.tensor([w1, w2]), threshold) == expected
