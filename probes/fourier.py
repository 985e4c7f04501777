"""Fourier analysis over Z_p: the basis, per-frequency norms, key frequencies, sparsity, neuron clusters.

The real Fourier basis of functions on ``Z_p`` (``p`` odd) has one constant
row and a cosine and a sine row for each frequency ``k = 1 … (p-1)/2``; its
rows are orthonormal. A matrix whose first axis is indexed by residues (an
embedding ``W_E[:p]``, the ``a``-block of a first-layer weight) has a
per-frequency norm: the norm of its cos-k and sin-k coefficients together.
Nanda et al. (2023) read grokked modular-addition networks through these
norms: a handful of *key frequencies* carry nearly all of it.

Examples:
    >>> import torch
    >>> basis = fourier_basis(7)
    >>> torch.allclose(basis @ basis.T, torch.eye(7, dtype=basis.dtype), atol=1e-6)
    True
    >>> w = 3 * basis[2 * 2 - 1][:, None]          # an embedding that is pure cos(2·2πx/7)
    >>> frequency_norms(w).round(decimals=4).tolist()
    [0.0, 0.0, 3.0, 0.0]
"""

from __future__ import annotations

import math
import numbers

import einops
import torch
from jaxtyping import Float
from torch import Tensor


def _check_finite(name: str, x: Tensor) -> None:
    """Refuse a tensor with NaN or infinite entries, naming the argument, before any work is done."""
    if not bool(torch.isfinite(x.detach()).all()):
        bad = int((~torch.isfinite(x.detach())).sum())
        raise ValueError(f"{name} must be finite, got {bad} NaN or infinite entries of {x.numel()} (shape {tuple(x.shape)})")


def _check_p(p: int) -> None:
    if not isinstance(p, int) or p < 3 or p % 2 == 0:
        raise ValueError(f"the Fourier basis here needs an odd p >= 3, got {p!r}")


def n_frequencies(p: int) -> int:
    """Number of non-constant frequencies ``(p - 1) // 2``.

    Examples:
        >>> n_frequencies(7)
        3
    """
    _check_p(p)
    return (p - 1) // 2


def fourier_basis(p: int, dtype: torch.dtype = torch.float64) -> Float[Tensor, "p p"]:
    """Orthonormal real Fourier basis of ``Z_p``; row ``0`` constant, ``2k-1`` cos k, ``2k`` sin k.

    Args:
        p: odd modulus.
        dtype: floating dtype of the result.

    Returns:
        ``B`` of shape ``(p, p)`` with ``B @ B.T = I``; ``B[2k-1, x] = √(2/p) cos(2πkx/p)``.

    Examples:
        >>> fourier_basis(5)[0].tolist() == [5 ** -0.5] * 5
        True
    """
    _check_p(p)
    x = torch.arange(p, dtype=torch.float64)
    rows = [torch.full((p,), 1.0 / math.sqrt(p), dtype=torch.float64)]
    for k in range(1, n_frequencies(p) + 1):
        angle = 2 * math.pi * k * x / p
        rows += [math.sqrt(2.0 / p) * torch.cos(angle), math.sqrt(2.0 / p) * torch.sin(angle)]
    return torch.stack(rows).to(dtype)


def basis_labels(p: int) -> list[str]:
    """Names of the basis rows: ``["const", "cos 1", "sin 1", …]``.

    Examples:
        >>> basis_labels(5)
        ['const', 'cos 1', 'sin 1', 'cos 2', 'sin 2']
    """
    return ["const"] + [f"{f} {k}" for k in range(1, n_frequencies(p) + 1) for f in ("cos", "sin")]


def fourier_coefficients(x: Float[Tensor, " p *rest"]) -> Float[Tensor, " p *rest"]:
    """Coefficients of ``x`` along its first (residue) axis in :func:`fourier_basis`: ``(p, ...)`` to ``(p, ...)`` (float64).

    Examples:
        >>> c = fourier_coefficients(torch.cos(2 * torch.pi * torch.arange(5.0) / 5))   # √(5/2) × the cos-1 row
        >>> basis_labels(5)[int(c.abs().argmax())], round(float(c[1]), 4), round(float(c.norm()), 4)
        ('cos 1', 1.5811, 1.5811)
    """
    _check_finite("x", x)
    basis = fourier_basis(x.shape[0], torch.float64)
    return torch.tensordot(basis, x.detach().to(torch.float64), dims=([1], [0]))


def frequency_norms(x: Float[Tensor, " p *rest"]) -> Float[Tensor, " freq"]:
    """Per-frequency norm of ``x`` over its residue axis: entry ``k`` is ‖(cos-k, sin-k coefficients)‖.

    Args:
        x: ``(p, ...)``, first axis indexed by residues (e.g. ``W_E[:p]``, ``(p, d_model)``).

    Returns:
        ``(n_frequencies + 1,)``; entry ``0`` is the constant component's norm.

    Raises:
        ValueError: ``x`` with NaN or infinite entries.

    Examples:
        >>> frequency_norms(torch.ones(5, 3)).round(decimals=4).tolist()   # constant columns: √5 each, √15 together
        [3.873, 0.0, 0.0]
    """
    c = fourier_coefficients(x).reshape(x.shape[0], -1)
    sq = (c**2).sum(-1)
    return torch.cat([sq[:1], sq[1::2] + sq[2::2]]).sqrt()


def _finite_squares(norms: Tensor) -> Tensor:
    """Squares of the non-constant entries ``norms[1:]`` (float64), refusing NaN or infinite norms and a table that is not 1-D."""
    if norms.ndim != 1:
        raise ValueError(f"norms must be 1-D, one entry per frequency (from frequency_norms), got shape {tuple(norms.shape)}")
    sq = norms[1:].detach().to(torch.float64) ** 2
    if not bool(torch.isfinite(sq).all()):
        raise ValueError(f"norms must be finite, got {norms.tolist() if norms.numel() <= 8 else 'non-finite entries'}")
    return sq


def key_frequencies(norms: Float[Tensor, " freq"], mass: float = 0.8) -> list[int]:
    """Smallest set of frequencies (``≥ 1``) carrying ``mass`` of the non-constant squared norm.

    Args:
        norms: per-frequency norms from :func:`frequency_norms` (entry 0 is ignored).
        mass: share of the squared norm to cover, in (0, 1].

    Returns:
        Frequencies in decreasing order of norm (empty when all norms are zero).

    Examples:
        >>> key_frequencies(torch.tensor([9.0, 0.1, 3.0, 0.2, 2.0]), mass=0.9)
        [2, 4]
    """
    if not 0 < mass <= 1:
        raise ValueError(f"mass must be in (0, 1], got {mass}")
    sq = _finite_squares(norms)
    total = float(sq.sum())
    if total == 0:
        return []
    order = torch.argsort(sq, descending=True)
    cum = torch.cumsum(sq[order], 0) / total
    n = int(torch.searchsorted(cum, torch.tensor(mass - 1e-12, dtype=torch.float64)).item()) + 1
    return [int(i) + 1 for i in order[:n]]


def top_share(norms: Float[Tensor, " freq"], n: int) -> float:
    """Share of the non-constant squared norm carried by the ``n`` largest frequencies.

    Examples:
        >>> top_share(torch.tensor([5.0, 3.0, 4.0, 0.0]), 1)
        0.64
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    sq = _finite_squares(norms)
    total = float(sq.sum())
    return float(torch.sort(sq, descending=True).values[:n].sum() / total) if total > 0 else 0.0


def gini(x: Float[Tensor, " n"]) -> float:
    """Gini coefficient of non-negative values: 0 when all equal, ``1 − 1/n`` when one carries all.

    Raises:
        ValueError: ``x`` not 1-D (a ``(2, 2)`` table was flattened and read as four values), empty, or with a
            negative, NaN or infinite value.

    Examples:
        >>> gini(torch.ones(4)), gini(torch.tensor([0.0, 0.0, 0.0, 2.0]))
        (0.0, 0.75)
    """
    if x.ndim != 1:
        raise ValueError(f"gini needs a 1-D vector x, got x of shape {tuple(x.shape)}")
    v = x.detach().to(torch.float64)
    if v.numel() == 0 or bool((v < 0).any()) or not bool(torch.isfinite(v).all()):
        raise ValueError("gini needs a non-empty vector of finite non-negative values")
    total = float(v.sum())
    if total == 0:
        return 0.0
    diff = (v[:, None] - v[None, :]).abs().sum()
    return float(diff / (2 * v.numel() * total))


def neuron_frequency_fve(acts: Float[Tensor, "p p neuron"]) -> Float[Tensor, "freq neuron"]:
    """Share of each neuron's variance over ``(a, b)`` explained by one frequency's terms.

    The 2-D Fourier transform of a neuron's activation table ``acts[a, b]``
    has coefficients on products of basis rows; the terms of frequency ``k``
    are those built only from ``{const, cos k, sin k}`` in ``a`` and in ``b``
    (without the constant–constant term). Their squared mass over the total
    non-constant mass is the neuron's FVE by ``k`` (Nanda et al.'s neuron clusters).

    Args:
        acts: ``(p, p, neurons)``, entry ``[a, b, n]`` neuron ``n``'s activation on the pair ``(a, b)``.

    Returns:
        ``(n_frequencies + 1, neurons)``; row 0 is zero.

    Raises:
        ValueError: ``acts`` not ``(p, p, neurons)``, or with NaN or infinite entries.

    Examples:
        >>> a, b = torch.meshgrid(torch.arange(5.0), torch.arange(5.0), indexing="ij")
        >>> acts = torch.stack([torch.cos(2 * torch.pi * (a + b) / 5), torch.sin(2 * torch.pi * 2 * b / 5)], -1)
        >>> neuron_frequency_fve(acts).round(decimals=4).tolist()   # neuron 0 is all frequency 1, neuron 1 all frequency 2
        [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]
    """
    if acts.ndim != 3:
        raise ValueError(f"acts must be (p, p, neurons), got shape {tuple(acts.shape)}")
    p = acts.shape[0]
    if acts.shape[1] != p:
        raise ValueError(f"acts must be (p, p, neurons), got {tuple(acts.shape)}")
    _check_finite("acts", acts)
    basis = fourier_basis(p)
    c = einops.einsum(basis, acts.detach().to(torch.float64), basis, "row_a a, a b neuron, row_b b -> row_a row_b neuron") ** 2
    total = c.sum((0, 1)) - c[0, 0]
    k_max = n_frequencies(p)
    out = torch.zeros(k_max + 1, acts.shape[2], dtype=torch.float64)
    for k in range(1, k_max + 1):
        idx = torch.tensor([0, 2 * k - 1, 2 * k])
        out[k] = c[idx][:, idx].sum((0, 1)) - c[0, 0]
    return out / total.clamp_min(1e-30)


def cluster_neurons(fve: Float[Tensor, "freq neuron"], threshold: float = 0.5) -> tuple[Tensor, Tensor]:
    """Each neuron's dominant frequency (``-1`` when its best FVE is below ``threshold``) and that FVE.

    Args:
        fve: ``(n_frequencies + 1, neurons)`` from :func:`neuron_frequency_fve` (row 0 is ignored).
        threshold: smallest FVE that assigns a neuron to a frequency.

    Returns:
        ``(frequency (neurons,), best FVE (neurons,))``.

    Raises:
        ValueError: ``fve`` not 2-D with a row past row 0 (a 1-D ``fve`` was read as one neuron), with NaN or
            infinite entries in the rows read, or ``threshold`` not a number in [0, 1] (an FVE is a share: above 1
            no neuron is assigned, below 0 every one).

    Examples:
        >>> freq, best = cluster_neurons(torch.tensor([[0.0, 0.0], [0.9, 0.2], [0.05, 0.3]], dtype=torch.float64))
        >>> freq.tolist(), best.tolist()
        ([1, -1], [0.9, 0.3])
    """
    if fve.ndim != 2 or fve.shape[0] < 2:
        raise ValueError(f"fve must be (n_frequencies + 1, neurons) with at least one frequency row, got fve of shape {tuple(fve.shape)}")
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) or not 0 <= threshold <= 1:  # NaN fails the range
        raise ValueError(f"threshold must be a number in [0, 1] (a share of variance), got {threshold!r}")
    _check_finite("fve", fve[1:])
    best, freq = fve[1:].max(0)
    freq = torch.where(best >= threshold, freq + 1, torch.full_like(freq, -1))
    return freq, best


__all__ = [
    "basis_labels",
    "cluster_neurons",
    "fourier_basis",
    "fourier_coefficients",
    "frequency_norms",
    "gini",
    "key_frequencies",
    "n_frequencies",
    "neuron_frequency_fve",
    "top_share",
]
