"""Linear CKA and RSA: invariances, nulls for independent features, and slow dense references."""

import itertools

import numpy as np
import pytest
import torch

from probes.similarity import linear_cka, linear_cka_null, rdm, rsa


def gaussian(n, d, seed):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def orthogonal(d, seed):
    q, _ = torch.linalg.qr(gaussian(d, d, seed))
    return q


def dense_hsic_biased(k, l):
    n = k.shape[0]
    h = np.eye(n) - np.ones((n, n)) / n
    return np.trace(k @ h @ l @ h) / (n - 1) ** 2


def dense_hsic_unbiased(k, l):
    """The U-statistic by its definition: mean over ordered distinct (i, j, q, r) of k_ij l_ij + k_ij l_qr − 2 k_ij l_iq."""
    n = k.shape[0]
    total = sum(k[i, j] * l[i, j] + k[i, j] * l[q, r] - 2 * k[i, j] * l[i, q] for i, j, q, r in itertools.permutations(range(n), 4))
    return total / (n * (n - 1) * (n - 2) * (n - 3))


def dense_cka(x, y, hsic):
    x, y = x.numpy(), y.numpy()
    k, l = x @ x.T, y @ y.T
    return hsic(k, l) / np.sqrt(hsic(k, k) * hsic(l, l))


@pytest.mark.parametrize("debiased", [False, True])
def test_cka_matches_a_dense_reference_with_centring_matrices(debiased):
    x, y = gaussian(8, 3, 0) + 0.5, gaussian(8, 5, 1) @ torch.diag(torch.arange(1.0, 6.0, dtype=torch.float64))
    y[:, :3] += 0.7 * x  # correlated, so the value is far from 0 and 1
    reference = dense_cka(x, y, dense_hsic_unbiased if debiased else dense_hsic_biased)
    assert 0.2 < reference < 0.99
    assert linear_cka(x, y, debiased=debiased) == pytest.approx(reference, rel=1e-8, abs=1e-8)


@pytest.mark.parametrize("debiased", [False, True])
def test_cka_is_one_for_x_with_itself_and_invariant_to_rotation_and_scale(debiased):
    x = gaussian(40, 6, 2)
    assert linear_cka(x, x, debiased=debiased) == pytest.approx(1.0, abs=1e-12)
    y = gaussian(40, 9, 3)
    base = linear_cka(x, y, debiased=debiased)
    for scale in (1e-3, 7.0):
        moved = scale * x @ orthogonal(6, 4)
        assert linear_cka(x, moved, debiased=debiased) == pytest.approx(1.0, abs=1e-6)
        assert linear_cka(moved, scale * y @ orthogonal(9, 5), debiased=debiased) == pytest.approx(base, abs=1e-6)
    # an isotropic map into a wider space (orthonormal columns) keeps CKA at 1 too
    wide = orthogonal(10, 6)[:6]
    assert linear_cka(x, 2.0 * x @ wide, debiased=debiased) == pytest.approx(1.0, abs=1e-6)
    # a non-isotropic map does not
    assert linear_cka(x, x @ torch.diag(torch.tensor([10.0, 1, 1, 1, 1, 0.1], dtype=torch.float64)), debiased=debiased) < 0.9


def test_cka_accepts_arrays_and_float32():
    x = gaussian(20, 4, 7)
    y = gaussian(20, 3, 8)
    assert linear_cka(x.numpy(), y.float()) == pytest.approx(linear_cka(x, y), rel=1e-6)


@pytest.mark.parametrize("n,d1,d2", [(20, 5, 5), (50, 10, 20), (30, 64, 64)])
def test_independent_features_biased_cka_at_its_null_and_debiased_at_zero(n, d1, d2):
    repeats = 300
    biased, debiased = np.empty(repeats), np.empty(repeats)
    for r in range(repeats):
        x, y = gaussian(n, d1, 1000 + 2 * r), gaussian(n, d2, 1001 + 2 * r)
        biased[r], debiased[r] = linear_cka(x, y), linear_cka(x, y, debiased=True)
    se_b, se_d = biased.std(ddof=1) / np.sqrt(repeats), debiased.std(ddof=1) / np.sqrt(repeats)
    null = linear_cka_null(n, d1, d2)
    assert abs(biased.mean() - null) < 4 * se_b and abs(biased.mean() - null) < 0.05 * null
    assert abs(debiased.mean()) < 4 * se_d
    assert biased.mean() > 0.05  # the bias the debiased estimator removes is real
    assert abs(debiased.mean()) < biased.mean() / 10


def test_rsa_invariances_and_its_dense_reference():
    x, y = gaussian(25, 5, 10), gaussian(25, 7, 11)
    y[:, :5] += 2.0 * x
    base = rsa(x, y)
    assert 0.2 < base < 0.99
    assert rsa(x, x) == pytest.approx(1.0, abs=1e-12)
    for method in ("spearman", "pearson"):
        ref = rsa(x, y, method=method)
        moved = 3.0 * x @ orthogonal(5, 12) + 2.0
        assert rsa(moved, y, method=method) == pytest.approx(ref, abs=1e-9)
        assert rsa(x, 0.01 * y @ orthogonal(7, 13), method=method) == pytest.approx(ref, abs=1e-9)
    # dense reference: explicit double loop for the RDMs, scipy for the correlations
    from scipy.stats import pearsonr, spearmanr

    for metric in ("euclidean", "correlation"):
        def slow(z, metric=metric):
            z = z.numpy()
            if metric == "euclidean":
                return np.array([[np.linalg.norm(a - b) for b in z] for a in z])
            return np.array([[1 - np.corrcoef(a, b)[0, 1] for b in z] for a in z])

        torch.testing.assert_close(rdm(x, metric), torch.as_tensor(slow(x)), rtol=1e-8, atol=1e-10)
        iu = np.triu_indices(25, 1)
        a, b = slow(x)[iu], slow(y)[iu]
        assert rsa(x, y, metric=metric) == pytest.approx(spearmanr(a, b)[0], abs=1e-8)
        assert rsa(x, y, metric=metric, method="pearson") == pytest.approx(pearsonr(a, b)[0], abs=1e-8)


def test_rsa_of_independent_features_is_near_zero():
    values = np.array([rsa(gaussian(30, 6, 2000 + 2 * r), gaussian(30, 6, 2001 + 2 * r)) for r in range(100)])
    assert abs(values.mean()) < 4 * values.std(ddof=1) / 10


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="rows"):
        linear_cka(gaussian(5, 2, 0), gaussian(6, 2, 0))
    with pytest.raises(ValueError, match="2-D"):
        linear_cka(torch.zeros(5), gaussian(5, 2, 0))
    with pytest.raises(ValueError, match="at least 4"):
        linear_cka(gaussian(3, 2, 0), gaussian(3, 2, 1), debiased=True)
    with pytest.raises(ValueError, match="metric"):
        rsa(gaussian(5, 2, 0), gaussian(5, 2, 1), metric="cosine")
    with pytest.raises(ValueError, match="non-finite"):
        rsa(torch.full((5, 2), float("nan")), gaussian(5, 2, 1))


def test_rdm_and_rsa_refuse_what_they_cannot_compute():
    with pytest.raises(ValueError, match="correlation dissimilarity needs at least 2 features"):
        rdm(gaussian(5, 1, 0), "correlation")  # one feature: every centred row is zero
    with pytest.raises(ValueError, match="unknown method 'kendall'; use 'spearman' or 'pearson'"):
        rsa(gaussian(5, 2, 0), gaussian(5, 2, 1), method="kendall")
    with pytest.raises(ValueError, match="at least 3 inputs"):
        rsa(gaussian(2, 2, 0), gaussian(2, 2, 1))  # one pair: nothing to correlate


def test_spearman_rsa_gives_tied_dissimilarities_their_average_rank():
    from scipy.stats import spearmanr

    x = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 0.0]], dtype=torch.float64)  # a grid: many equal distances
    y = x + 0.3 * gaussian(5, 2, 20)
    iu = np.triu_indices(5, 1)
    a, b = rdm(x).numpy()[iu], rdm(y).numpy()[iu]
    assert len(set(np.round(a, 12))) < len(a)  # ties present
    assert rsa(x, y) == pytest.approx(spearmanr(a, b)[0], abs=1e-12)
