"""Representation similarity between two sets of activations on the same inputs: linear CKA and RSA.

Both take ``(n, d1)`` and ``(n, d2)`` activations (tensors or arrays; row ``i``
of each is the representation of input ``i``) and compute in float64.

* :func:`linear_cka` is centred kernel alignment with linear kernels
  (Kornblith et al. 2019): ``HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L))`` with
  ``K = X Xᵀ``, ``L = Y Yᵀ``. The biased estimator uses the plug-in HSIC
  ``tr(K H L H)`` (``H`` the centring matrix); it equals
  ``‖YᵀX‖²_F / (‖XᵀX‖_F ‖YᵀY‖_F)`` for column-centred features and is
  invariant to orthogonal transforms and isotropic scaling of either side. On
  few samples it is biased upwards, even for independent features (see
  :func:`linear_cka_null`). ``debiased=True`` uses the unbiased HSIC
  U-statistic (Song et al. 2012), as proposed for CKA by Nguyen et al. (2021),
  whose expectation for independent features is 0 (it needs ``n ≥ 4`` and may
  be slightly negative).
* :func:`rsa` correlates the upper triangles of the two representational
  dissimilarity matrices (RDMs). Dissimilarity is Euclidean distance by
  default (``"euclidean"``: invariant to orthogonal transforms and translations,
  scaled by isotropic scaling) or ``"correlation"`` (``1 − Pearson`` between
  the two rows across features: invariant to scaling and to shifting a row,
  but not to rotations). The comparison is Spearman's rank correlation by
  default (``"spearman"``), or Pearson's (``"pearson"``).

Examples:
    >>> import torch
    >>> x = torch.randn(50, 8, generator=torch.Generator().manual_seed(0))
    >>> q, _ = torch.linalg.qr(torch.randn(8, 8, generator=torch.Generator().manual_seed(1)))
    >>> round(linear_cka(x, 3.0 * x @ q), 6), round(rsa(x, 3.0 * x @ q), 6)
    (1.0, 1.0)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from jaxtyping import Float
from torch import Tensor

Features = Float[Tensor, "n d"] | np.ndarray


def _as_pair(x: Any, y: Any, min_n: int) -> tuple[Tensor, Tensor]:
    """Both inputs as float64 ``(n, d)`` tensors with the same ``n`` (checked)."""
    out = []
    for name, v in (("x", x), ("y", y)):
        t = v.detach().cpu() if isinstance(v, Tensor) else torch.as_tensor(np.asarray(v))
        if t.ndim != 2:
            raise ValueError(f"{name} must be 2-D (n, d) activations, got shape {tuple(t.shape)}; flatten other axes into d first")
        if not torch.isfinite(t).all():
            raise ValueError(f"{name} has non-finite values")
        out.append(t.to(torch.float64))
    if out[0].shape[0] != out[1].shape[0]:
        raise ValueError(f"x and y must have one row per input each, got {out[0].shape[0]} and {out[1].shape[0]} rows")
    if out[0].shape[0] < min_n:
        raise ValueError(f"need at least {min_n} inputs (rows), got {out[0].shape[0]}")
    return out[0], out[1]


def _constant_rows(x: Tensor) -> bool:
    """Whether every row of ``x`` equals the first (a representation that does not vary over inputs)."""
    return bool((x == x[:1]).all())


def _hsic_biased(k: Tensor, l: Tensor) -> Tensor:
    """Plug-in ``tr(K H L H)`` (the ``1/(n−1)²`` factor cancels in CKA), via centred Gram matrices."""
    return (_centre_gram(k) * _centre_gram(l)).sum()


def _centre_gram(k: Tensor) -> Tensor:
    """``H K H`` without forming ``H``."""
    return k - k.mean(0, keepdim=True) - k.mean(1, keepdim=True) + k.mean()


def _hsic_unbiased(k: Tensor, l: Tensor) -> Tensor:
    """Song et al. (2012) unbiased HSIC U-statistic of Gram matrices (diagonals set to zero); needs ``n ≥ 4``."""
    n = k.shape[0]
    k = k - torch.diag(torch.diagonal(k))
    l = l - torch.diag(torch.diagonal(l))
    kl_sum = k.sum(0) @ l.sum(1)  # 1ᵀ K L 1
    value = (k * l).sum() + k.sum() * l.sum() / ((n - 1) * (n - 2)) - 2.0 * kl_sum / (n - 2)
    return value / (n * (n - 3))


def linear_cka(x: Features, y: Features, *, debiased: bool = False) -> float:
    """Linear CKA between ``x`` and ``y`` (1 for identical representations up to rotation and scale).

    Args:
        x: ``(n, d1)`` activations, one row per input.
        y: ``(n, d2)`` activations on the same ``n`` inputs, in the same order.
        debiased: use the unbiased HSIC estimator (needs ``n ≥ 4``); its value for
            independent features is 0 in expectation, where the biased one is not.

    Returns:
        CKA as a float; ``nan`` when either representation is constant over inputs.

    Raises:
        ValueError: inputs not 2-D, with different numbers of rows, too few rows, or non-finite.

    Examples:
        >>> import torch
        >>> x = torch.randn(40, 5, generator=torch.Generator().manual_seed(0))
        >>> round(linear_cka(x, x), 6), round(linear_cka(x, x, debiased=True), 6)
        (1.0, 1.0)
    """
    x, y = _as_pair(x, y, 4 if debiased else 2)
    if _constant_rows(x) or _constant_rows(y):  # centring leaves rounding, on which the debiased estimator is not 0
        return math.nan
    x = x - x.mean(0, keepdim=True)
    y = y - y.mean(0, keepdim=True)
    k, l = x @ x.T, y @ y.T
    hsic = _hsic_unbiased if debiased else _hsic_biased
    kl, kk, ll = hsic(k, l), hsic(k, k), hsic(l, l)
    denom = kk * ll
    if denom <= 0:
        return math.nan
    return float(kl / denom.sqrt())


def linear_cka_null(n: int, d1: int, d2: int) -> float:
    """Biased linear CKA expected for independent isotropic Gaussian features, to leading order.

    With ``m = n − 1`` effective samples after centring, ``E‖YᵀX‖²_F = m d1 d2``
    and ``E‖XᵀX‖²_F = m d1 (m + d1 + 1)`` (the second moment of a Wishart
    matrix), so the ratio of expectations is
    ``sqrt(d1 d2 / ((m + d1 + 1)(m + d2 + 1)))``. The expectation of the ratio
    differs from this by terms of relative order ``1/(m d)``.

    Examples:
        >>> round(linear_cka_null(101, 10, 10), 4)
        0.0901
    """
    if n < 2 or d1 < 1 or d2 < 1:
        raise ValueError(f"need n ≥ 2 and d1, d2 ≥ 1, got n={n}, d1={d1}, d2={d2}")
    m = n - 1
    return math.sqrt(d1 * d2 / ((m + d1 + 1) * (m + d2 + 1)))


def rdm(x: Features, metric: str = "euclidean") -> Float[Tensor, "n n"]:
    """Representational dissimilarity matrix of the rows of ``x`` (float64).

    Args:
        x: ``(n, d)`` activations.
        metric: ``"euclidean"`` (distance between rows) or ``"correlation"``
            (1 − Pearson correlation between rows across features; a constant row
            has no correlation, so its row and column are NaN, and so is :func:`rsa` on it).

    Returns:
        ``(n, n)`` dissimilarities, zero on the diagonal.

    Examples:
        >>> rdm(torch.tensor([[0.0, 0.0], [3.0, 4.0]])).tolist()
        [[0.0, 5.0], [5.0, 0.0]]
        >>> d = rdm(torch.tensor([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0], [2.0, 4.0, 6.0]]), "correlation")
        >>> round(float(d[0, 1]), 6), abs(float(d[0, 2])) < 1e-6   # a reversed row: 1 − (−1); a scaled row: 1 − 1
        (2.0, True)
    """
    x, _ = _as_pair(x, x, 2)
    if metric == "euclidean":
        return torch.cdist(x, x)
    if metric == "correlation":
        if x.shape[1] < 2:
            raise ValueError("correlation dissimilarity needs at least 2 features")
        z = x - x.mean(1, keepdim=True)
        z = z / z.norm(dim=1, keepdim=True)
        d = 1.0 - z @ z.T
        constant = (x == x[:, :1]).all(1)  # centring such a row leaves rounding, which the division would blow up
        return d.masked_fill(constant[:, None] | constant[None, :], math.nan)
    raise ValueError(f"unknown metric {metric!r}; use 'euclidean' or 'correlation'")


def _ranks(v: Tensor) -> Tensor:
    """Ranks with ties given their average rank (as Spearman's correlation needs)."""
    from scipy.stats import rankdata

    return torch.as_tensor(rankdata(v.numpy()), dtype=torch.float64)


def rsa(x: Features, y: Features, *, metric: str = "euclidean", method: str = "spearman") -> float:
    """Correlation between the upper triangles (off-diagonal) of the RDMs of ``x`` and ``y``.

    Args:
        x: ``(n, d1)`` activations, one row per input.
        y: ``(n, d2)`` activations on the same inputs.
        metric: dissimilarity, ``"euclidean"`` (default) or ``"correlation"`` (see :func:`rdm`).
        method: ``"spearman"`` (default) or ``"pearson"``.

    Returns:
        The correlation in [−1, 1]; ``nan`` when either RDM is constant.

    Examples:
        >>> import torch
        >>> x = torch.randn(30, 4, generator=torch.Generator().manual_seed(0))
        >>> round(rsa(x, x + 1.0, method="pearson"), 6)
        1.0
    """
    if method not in ("spearman", "pearson"):
        raise ValueError(f"unknown method {method!r}; use 'spearman' or 'pearson'")
    x, y = _as_pair(x, y, 3)
    n = x.shape[0]
    i, j = torch.triu_indices(n, n, offset=1)
    a, b = rdm(x, metric)[i, j], rdm(y, metric)[i, j]
    if method == "spearman":
        a, b = _ranks(a), _ranks(b)
    a, b = a - a.mean(), b - b.mean()
    denom = a.norm() * b.norm()
    if denom == 0:
        return math.nan
    return float((a @ b) / denom)


__all__ = ["linear_cka", "linear_cka_null", "rdm", "rsa"]
