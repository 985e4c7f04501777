"""Feature geometry on constructed weights whose answer is known: orthogonal and antipodal features of chosen
norms, feature order and dtype; weights that are not an (m, n) matrix and a phase of NaN weights are refused."""

import math
import re

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from probes.feature_geometry import feature_norms, n2m1_phase, polygon, represented


@settings(max_examples=30, deadline=None)
@given(m=st.integers(2, 6), seed=st.integers(0, 10_000), data=st.data())
def test_orthogonal_features_of_chosen_norms_keep_them_in_any_order_and_dtype(m, seed, data):
    n = data.draw(st.integers(1, m))
    scales = np.array(data.draw(st.lists(st.floats(0.0, 3.0), min_size=n, max_size=n)))
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((m, m)))
    W = q[:, :n] * scales  # columns orthogonal: no interference, norm = scale
    assert np.abs((W.T @ W) - np.diag(scales**2)).max() < 1e-9
    norms = feature_norms(torch.as_tensor(W))
    assert norms.dtype == torch.float64
    np.testing.assert_allclose(norms.numpy(), scales, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(feature_norms(torch.as_tensor(W, dtype=torch.float32)).numpy(), scales, rtol=1e-5, atol=1e-6)
    perm = np.random.default_rng(seed + 1).permutation(n)
    np.testing.assert_allclose(feature_norms(torch.as_tensor(W[:, perm])).numpy(), scales[perm], rtol=1e-12, atol=1e-12)
    assert represented(torch.as_tensor(W), 0.5).tolist() == [bool(s > 0.5) for s in scales]


@settings(max_examples=30, deadline=None)
@given(k=st.integers(2, 9), turn=st.floats(0.0, 2 * math.pi), norm=st.floats(0.6, 50.0), seed=st.integers(0, 10_000))
def test_a_polygon_of_antipodal_or_evenly_spaced_features_read_in_any_column_order(k, turn, norm, seed):
    angles = turn + 2 * math.pi * np.arange(k) / k
    W = norm * np.stack([np.cos(angles), np.sin(angles)])
    perm = np.random.default_rng(seed).permutation(k)
    for weights in (W, W[:, perm], W.astype(np.float32)):
        shape = polygon(torch.as_tensor(weights))
        assert shape.k == k
        assert shape.max_gap_error == pytest.approx(0.0, abs=1e-3)
        assert shape.norm_spread == pytest.approx(0.0, abs=1e-5)
        assert sum(shape.gaps) == pytest.approx(360.0, abs=1e-9)
        assert shape.angles[0] == pytest.approx(min(np.degrees(angles) % 360.0), abs=1e-3)


@pytest.mark.parametrize("shape", [(2,), (5,), (2, 3, 4), ()])
def test_feature_norms_and_the_represented_mask_refuse_weights_that_are_not_an_m_by_n_matrix(shape):
    W = torch.ones(shape)
    with pytest.raises(ValueError, match=r"W must be \(m, n\) weights.*got W of shape " + re.escape(str(shape))):
        feature_norms(W)  # a 1-D W gave one norm of every entry (sqrt(2) for [1, -1]), a 3-D one a table
    with pytest.raises(ValueError, match=r"W must be \(m, n\) weights"):
        represented(W)


def test_one_hidden_dimension_gives_one_norm_per_feature():
    assert feature_norms(torch.tensor([[1.0, -2.0, 0.0]])).tolist() == [1.0, 2.0, 0.0]


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_the_phase_of_weights_with_a_nan_or_infinite_entry_is_refused_naming_them(bad):
    with pytest.raises(ValueError, match=r"n2m1_phase needs finite weights, got W = \[1\.0, (nan|inf|-inf)\]"):
        n2m1_phase(torch.tensor([[1.0, bad]]))  # NaN read as not represented: 'feature 1'
    with pytest.raises(ValueError, match=r"n2m1_phase needs finite weights"):
        n2m1_phase(torch.tensor([[bad, bad]]))  # it read 'none'


def test_a_float64_phase_keeps_weights_past_the_float32_range():
    assert n2m1_phase(torch.tensor([[1e300, -1e300]], dtype=torch.float64)) == "superposition"
    assert n2m1_phase(torch.tensor([[1e-300, 1.0]], dtype=torch.float64)) == "feature 2"
