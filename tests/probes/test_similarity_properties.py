"""Property tests of linear CKA and RSA: CKA equals its textbook formula with an explicit centring matrix and its
feature-space form, lies in [0, 1], is symmetric, 1 for a representation against itself and unchanged by rotations,
isotropic scaling and translations of either side; a representation that does not vary over inputs gives NaN, not a
number made of rounding; RDMs are symmetric with a zero diagonal and equal an explicit double loop; bad inputs are
refused by name."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from probes.similarity import linear_cka, rdm, rsa

PROPERTY = settings(max_examples=60, deadline=None, database=None)


@st.composite
def pairs(draw, min_n: int = 2, max_n: int = 12):
    """Two float64 ``(n, d1)``, ``(n, d2)`` arrays on the same inputs, partly correlated, at any scale and offset."""
    n = draw(st.integers(min_n, max_n))
    d1, d2 = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scale = 10.0 ** draw(st.floats(-3, 3))
    x = scale * (rng.normal(size=(n, d1)) + draw(st.floats(-5, 5)))  # an offset of a few spreads, as activations have
    y = rng.normal(size=(n, d2))
    share = draw(st.floats(0, 3))
    k = min(d1, d2)
    y[:, :k] += share * (x[:, :k] - x[:, :k].mean(0)) / (x[:, :k].std() + 1e-300)
    return x, y


def orthogonal(d: int, seed: int) -> np.ndarray:
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(d, d)))
    return q


def textbook_cka(x: np.ndarray, y: np.ndarray) -> float:
    """``tr(K H L H) / sqrt(tr(K H K H) tr(L H L H))`` with ``H = I − 11ᵀ/n`` and the raw Gram matrices."""
    n = x.shape[0]
    h = np.eye(n) - np.ones((n, n)) / n
    k, l = x @ x.T, y @ y.T
    hsic = lambda a, b: np.trace(a @ h @ b @ h)  # noqa: E731
    return hsic(k, l) / math.sqrt(hsic(k, k) * hsic(l, l))


@PROPERTY
@given(pairs())
def test_cka_equals_the_textbook_formula_and_the_feature_space_form_and_lies_in_the_unit_interval(pair):
    x, y = pair
    value = linear_cka(x, y)
    assert value == pytest.approx(textbook_cka(x, y), rel=1e-8, abs=1e-10)
    xc, yc = x - x.mean(0), y - y.mean(0)
    feature = np.linalg.norm(yc.T @ xc) ** 2 / (np.linalg.norm(xc.T @ xc) * np.linalg.norm(yc.T @ yc))
    assert value == pytest.approx(feature, rel=1e-8, abs=1e-10)
    assert -1e-12 <= value <= 1 + 1e-12


@PROPERTY
@given(pairs(min_n=4), st.booleans())
def test_cka_is_symmetric_and_one_for_a_representation_against_itself(pair, debiased):
    x, y = pair
    assert linear_cka(x, y, debiased=debiased) == pytest.approx(linear_cka(y, x, debiased=debiased), rel=1e-12, abs=1e-14)
    assert linear_cka(x, x, debiased=debiased) == pytest.approx(1.0, rel=0, abs=1e-10)


@PROPERTY
@given(pairs(min_n=4), st.booleans(), st.floats(-4, 4), st.floats(-10, 10), st.integers(0, 1000))
def test_cka_does_not_change_under_a_rotation_an_isotropic_scale_and_a_translation(pair, debiased, exponent, shift, seed):
    x, y = pair
    base = linear_cka(x, y, debiased=debiased)
    moved = 10.0**exponent * x @ orthogonal(x.shape[1], seed) + shift
    assert linear_cka(moved, y, debiased=debiased) == pytest.approx(base, rel=1e-7, abs=1e-9)
    assert linear_cka(x, moved, debiased=debiased) == pytest.approx(1.0, rel=0, abs=1e-9)


@PROPERTY
@given(pairs(min_n=4, max_n=30), st.booleans(), st.floats(-6, 6), st.data())
def test_a_representation_constant_over_inputs_gives_nan_whatever_its_value(pair, debiased, exponent, data):
    # centring a column of equal values leaves one rounding residue in every row; the debiased estimator gave
    # numbers such as 0.0 or -1.9e-09 on it, which read as "no similarity" instead of "undefined"
    x, y = pair
    row = np.array(data.draw(st.lists(st.floats(-1, 1), min_size=x.shape[1], max_size=x.shape[1]))) * 10.0**exponent
    constant = np.tile(row, (x.shape[0], 1))
    assert math.isnan(linear_cka(constant, y, debiased=debiased))
    assert math.isnan(linear_cka(y, constant, debiased=debiased))


def test_the_debiased_cka_of_constant_features_whose_centring_leaves_rounding_is_nan():
    x = np.tile([-577.434, 1702.669], (14, 1))
    assert np.abs(x - x.mean(0)).max() > 0  # the rounding residue the old code turned into -2.4e-09
    y = np.random.default_rng(1).normal(size=(14, 2))
    assert math.isnan(linear_cka(x, y, debiased=True))


@PROPERTY
@given(pairs(min_n=3), st.sampled_from(["euclidean", "correlation"]))
def test_rdm_equals_an_explicit_double_loop_and_is_symmetric_with_a_zero_diagonal(pair, metric):
    x, _ = pair
    if metric == "correlation" and x.shape[1] < 2:
        x = np.hstack([x, x[:, :1] ** 2])
    n = x.shape[0]
    slow = np.empty((n, n))
    for i in range(n):
        for j in range(n):
            if metric == "euclidean":
                slow[i, j] = math.sqrt(sum((a - b) ** 2 for a, b in zip(x[i], x[j])))
            else:
                a, b = x[i] - x[i].mean(), x[j] - x[j].mean()
                slow[i, j] = 1 - (a @ b) / math.sqrt((a @ a) * (b @ b))
    d = rdm(x, metric).numpy()
    scale = np.abs(slow).max()
    np.testing.assert_allclose(d, slow, rtol=1e-7, atol=1e-7 * max(scale, 1))
    np.testing.assert_allclose(d, d.T, rtol=4e-16, atol=4e-16)  # a product z zᵀ may differ from its transpose by an ulp
    assert np.abs(np.diag(d)).max() <= 1e-7 * max(scale, 1)


@PROPERTY
@given(pairs(min_n=3), st.floats(-6, 6), st.data())
def test_a_constant_row_has_a_nan_row_and_column_in_the_correlation_rdm_and_rsa_is_nan(pair, exponent, data):
    x, y = pair
    x, y = np.hstack([x, -x[:, :1]]), np.hstack([y, y[:, :1] ** 2])  # at least two features
    i = data.draw(st.integers(0, x.shape[0] - 1))
    x[i] = data.draw(st.floats(-1, 1)) * 10.0**exponent
    d = rdm(x, "correlation").numpy()
    assert np.isnan(d[i]).all() and np.isnan(d[:, i]).all()
    others = np.delete(np.delete(d, i, 0), i, 1)
    assert not np.isnan(others).any()
    assert math.isnan(rsa(x, y, metric="correlation"))


def test_a_row_of_equal_values_that_centring_does_not_zero_is_still_constant_for_the_correlation_rdm():
    x = np.array([[0.1, 0.1, 0.1], [1.0, 2.0, 3.0], [3.0, 1.0, 2.0]])
    assert np.abs(x[0] - x[0].mean()).max() > 0  # the old code normalised this residue into a direction
    d = rdm(x, "correlation")
    assert torch.isnan(d[0]).all() and torch.isnan(d[:, 0]).all()
    assert float(d[1, 2]) == pytest.approx(1.5, abs=1e-12)


@PROPERTY
@given(pairs(min_n=3), st.sampled_from(["spearman", "pearson"]), st.floats(-4, 4), st.floats(-10, 10), st.integers(0, 1000))
def test_rsa_is_symmetric_bounded_one_against_itself_and_unchanged_by_rigid_moves_and_scale(pair, method, exponent, shift, seed):
    x, y = pair
    value = rsa(x, y, method=method)
    if math.isnan(value):  # n = 3 with two equal distances can leave an RDM constant
        return
    assert -1 - 1e-12 <= value <= 1 + 1e-12
    assert rsa(y, x, method=method) == pytest.approx(value, rel=1e-12, abs=1e-12)
    moved = 10.0**exponent * x @ orthogonal(x.shape[1], seed) + shift
    assert rsa(moved, y, method=method) == pytest.approx(value, abs=1e-6)
    assert rsa(x, x, method=method) == pytest.approx(1.0, abs=1e-12)


@PROPERTY
@given(pairs(min_n=4), st.sampled_from(["x", "y"]), st.sampled_from([np.nan, np.inf, -np.inf]), st.data())
def test_non_finite_activations_and_wrong_shapes_are_refused_by_name(pair, side, bad, data):
    x, y = pair
    broken = (x if side == "x" else y).copy()
    broken[data.draw(st.integers(0, broken.shape[0] - 1)), data.draw(st.integers(0, broken.shape[1] - 1))] = bad
    args = (broken, y) if side == "x" else (x, broken)
    for f in (linear_cka, rsa):
        with pytest.raises(ValueError, match=rf"^{side} has non-finite values"):
            f(*args)
    flat = (x[:, 0], y) if side == "x" else (x, y[:, 0])
    with pytest.raises(ValueError, match=rf"^{side} must be 2-D \(n, d\) activations, got shape \({x.shape[0]},\)"):
        linear_cka(*flat)
    with pytest.raises(ValueError, match=rf"one row per input each, got {x.shape[0]} and {x.shape[0] - 1} rows"):
        linear_cka(x, y[:-1])


def test_one_input_is_too_few_for_any_similarity():
    one = np.ones((1, 3))
    with pytest.raises(ValueError, match="need at least 2 inputs \\(rows\\), got 1"):
        linear_cka(one, one)
    with pytest.raises(ValueError, match="need at least 4 inputs \\(rows\\), got 1"):
        linear_cka(one, one, debiased=True)
    with pytest.raises(ValueError, match="need at least 3 inputs \\(rows\\), got 1"):
        rsa(one, one)
