"""Restricted and excluded loss, and the logits' variance explained by ``cos(w_k(a+b−c))`` (Nanda et al. 2023).

The logit table ``L[(a, b), c]`` of a modular-addition network (rows all
``p²`` pairs, row index ``a·p + b``) is split, for every output ``c``, along
the ``(a, b)`` axis: the part in the span of ``cos(w_k(a+b))`` and
``sin(w_k(a+b))`` for the key frequencies ``k`` (``w_k = 2πk/p``), and the
rest. Each frequency is kept on its own — no products of two frequencies —
which is what the trigonometric algorithm uses, since
``cos(w_k(a+b−c)) = cos(w_k(a+b))cos(w_k c) + sin(w_k(a+b))sin(w_k c)``.

- **restricted logits**: the ``(a, b)``-mean of ``L`` plus its key-frequency part;
- **excluded logits**: ``L`` minus its key-frequency part;

and the restricted (excluded) loss is the cross-entropy of those logits on the
training pairs. Nanda et al. project the MLP activations instead of the
logits; since the projection acts on the ``(a, b)`` axis and the unembedding
on the feature axis, the two agree on the MLP's contribution, and the version
here also applies to models without an MLP readout. For subtraction the same
holds with ``a − b`` in place of ``a + b``.

Examples:
    >>> import math, einops, torch
    >>> p = 5
    >>> a, b, c = torch.meshgrid(torch.arange(p), torch.arange(p), torch.arange(p), indexing="ij")
    >>> table = einops.rearrange(4 * torch.cos(2 * math.pi * 2 * (a + b - c) / p), "a b c -> (a b) c")
    >>> round(logit_fve(table, [2], "+"), 6)
    1.0
    >>> float(excluded_logits(table, [2], "+").abs().max()) < 1e-5
    True
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import einops
import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor

from probes.fourier import n_frequencies


def _sign(op: str) -> int:
    if op == "+":
        return 1
    if op == "-":
        return -1
    raise ValueError(f"Fourier directions exist for op '+' or '-', not {op!r} (multiplication needs a discrete-log relabelling)")


def _check_table(logits: Tensor, p: int | None = None) -> int:
    if logits.ndim != 2:
        raise ValueError(f"logits must be a (p*p, outputs) table, got shape {tuple(logits.shape)}")
    n = logits.shape[0]
    root = math.isqrt(n)
    if root * root != n or (p is not None and root != p):
        raise ValueError(f"logits must have p*p rows (all pairs a·p + b), got {n}")
    n_frequencies(root)
    return root


def _check_freqs(freqs: Sequence[int], p: int) -> list[int]:
    out = [int(k) for k in freqs]
    bad = [k for k in out if not 1 <= k <= n_frequencies(p)]
    if bad or len(set(out)) != len(out):
        raise ValueError(f"frequencies must be distinct integers in 1..{n_frequencies(p)}, got {list(freqs)}")
    return out


def _phase_table(p: int, s: int) -> Float[Tensor, "pairs out"]:
    """``a + s·b − c`` over the ``(a, b, c)`` grid, rows the pairs ``a·p + b`` (float64)."""
    a, b, c = torch.meshgrid(*(torch.arange(p, dtype=torch.float64),) * 3, indexing="ij")
    return einops.rearrange(a + s * b - c, "a b c -> (a b) c")


def sum_directions(p: int, freqs: Sequence[int], op: str = "+") -> Float[Tensor, "pairs dirs"]:
    """Orthonormal columns ``cos(w_k(a±b))``, ``sin(w_k(a±b))`` over all ``p²`` pairs, two per frequency.

    Examples:
        >>> q = sum_directions(7, [1, 3])
        >>> torch.allclose(q.T @ q, torch.eye(4, dtype=q.dtype), atol=1e-9)
        True
    """
    n_frequencies(p)
    freqs = _check_freqs(freqs, p)
    s = _sign(op)
    a, b = torch.meshgrid(torch.arange(p, dtype=torch.float64), torch.arange(p, dtype=torch.float64), indexing="ij")
    phase = einops.rearrange(a + s * b, "a b -> (a b)")
    cols = []
    for k in freqs:
        angle = 2 * math.pi * k * phase / p
        cols += [torch.cos(angle), torch.sin(angle)]
    if not cols:
        return torch.zeros(p * p, 0, dtype=torch.float64)
    return torch.stack(cols, 1) * (math.sqrt(2.0) / p)


def key_part(logits: Float[Tensor, "pairs out"], freqs: Sequence[int], op: str = "+") -> Float[Tensor, "pairs out"]:
    """The component of each logit column in the span of :func:`sum_directions`: ``(p², out)`` to ``(p², out)`` (float64).

    Examples:
        >>> table = sum_directions(5, [2]) @ torch.randn(2, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
        >>> torch.allclose(key_part(table, [2]), table), float(key_part(table, [1]).abs().max()) < 1e-12
        (True, True)
    """
    p = _check_table(logits)
    q = sum_directions(p, freqs, op)
    lg = logits.detach().to(torch.float64)
    return q @ (q.T @ lg)


def restricted_logits(logits: Float[Tensor, "pairs out"], freqs: Sequence[int], op: str = "+") -> Float[Tensor, "pairs out"]:
    """``(a, b)``-mean of the logits plus their key-frequency part: ``(p², out)`` to ``(p², out)`` (float64).

    Examples:
        >>> table = 3.0 + sum_directions(5, [1, 2]) @ torch.ones(4, 5, dtype=torch.float64)
        >>> torch.allclose(restricted_logits(table, [1, 2]), table), torch.allclose(restricted_logits(table, []), torch.full_like(table, 3.0))
        (True, True)
    """
    return logits.detach().to(torch.float64).mean(0, keepdim=True) + key_part(logits, freqs, op)


def excluded_logits(logits: Float[Tensor, "pairs out"], freqs: Sequence[int], op: str = "+") -> Float[Tensor, "pairs out"]:
    """The logits with their key-frequency part removed: ``(p², out)`` to ``(p², out)`` (float64).

    Examples:
        >>> excluded_logits(3.0 + sum_directions(5, [2]) @ torch.ones(2, 5, dtype=torch.float64), [2]).round(decimals=6).unique().tolist()
        [3.0]
    """
    return logits.detach().to(torch.float64) - key_part(logits, freqs, op)


def _ce(logits: Tensor, labels: Tensor, index: Tensor) -> float:
    n = logits.shape[0]
    if labels.ndim != 1 or labels.shape[0] != n:
        raise ValueError(f"labels must have one entry per pair ({n}), got shape {tuple(labels.shape)}")
    if index.ndim != 1 or index.numel() == 0 or index.dtype.is_floating_point or int(index.min()) < 0 or int(index.max()) >= n:
        raise ValueError(f"index must be a non-empty 1-D integer tensor of rows in [0, {n}), got {index.tolist() if index.numel() <= 8 else tuple(index.shape)}")
    return float(F.cross_entropy(logits[index], labels[index].to(logits.device)))


def restricted_loss(
    logits: Float[Tensor, "pairs out"], labels: Int[Tensor, " pairs"], index: Int[Tensor, " n"], freqs: Sequence[int], op: str = "+"
) -> float:
    """Cross-entropy of :func:`restricted_logits` on the pairs ``index`` (the training split).

    Args:
        logits: ``(p², out)``; labels: ``(p²,)``; index: ``(n,)`` rows to score.

    Raises:
        ValueError: labels not one per row, or an empty index or one with rows outside ``[0, p²)``.

    Examples:
        >>> a, b, c = torch.meshgrid(*(torch.arange(5.0),) * 3, indexing="ij")
        >>> table, labels = (10 * torch.cos(2 * torch.pi * (a + b - c) / 5)).reshape(25, 5), ((a + b) % 5)[:, :, 0].reshape(25).long()
        >>> round(restricted_loss(table, labels, torch.arange(25), [1]), 4), round(restricted_loss(table, labels, torch.arange(25), [2]), 4)   # all kept; only the mean: ln 5
        (0.002, 1.6094)
    """
    return _ce(restricted_logits(logits, freqs, op), labels, index)


def excluded_loss(
    logits: Float[Tensor, "pairs out"], labels: Int[Tensor, " pairs"], index: Int[Tensor, " n"], freqs: Sequence[int], op: str = "+"
) -> float:
    """Cross-entropy of :func:`excluded_logits` on the pairs ``index`` (the training split).

    Args:
        logits: ``(p², out)``; labels: ``(p²,)``; index: ``(n,)`` rows to score.

    Raises:
        ValueError: labels not one per row, or an empty index or one with rows outside ``[0, p²)``.

    Examples:
        >>> a, b, c = torch.meshgrid(*(torch.arange(5.0),) * 3, indexing="ij")
        >>> table, labels = (10 * torch.cos(2 * torch.pi * (a + b - c) / 5)).reshape(25, 5), ((a + b) % 5)[:, :, 0].reshape(25).long()
        >>> round(excluded_loss(table, labels, torch.arange(25), [1]), 4), round(excluded_loss(table, labels, torch.arange(25), [2]), 4)   # nothing left: ln 5; all left
        (1.6094, 0.002)
    """
    return _ce(excluded_logits(logits, freqs, op), labels, index)


def logit_frequency_norms(logits: Float[Tensor, "pairs out"], op: str = "+") -> Float[Tensor, " freq"]:
    """Norm of the logits' part along each single frequency's ``(a±b)`` directions; entry 0: the ``(a, b)``-mean part.

    ``(p², out)`` logits to ``(n_frequencies + 1,)`` norms.

    Examples:
        >>> logit_frequency_norms(sum_directions(5, [2]) @ torch.ones(2, 5, dtype=torch.float64)).round(decimals=4).tolist()   # ‖ones(2, 5)‖ = √10
        [0.0, 0.0, 3.1623]
    """
    p = _check_table(logits)
    lg = logits.detach().to(torch.float64)
    norms = [lg.mean(0).norm() * p]
    for k in range(1, n_frequencies(p) + 1):
        q = sum_directions(p, [k], op)
        norms.append((q.T @ lg).norm())
    return torch.stack(norms)


def logit_fve(logits: Float[Tensor, "pairs out"], freqs: Sequence[int], op: str = "+") -> float:
    """Fraction of the logits' variance over ``c`` explained by ``cos(w_k(a±b−c))`` terms, ``k`` in ``freqs``.

    The logits are first centred over the output axis (softmax ignores a
    per-pair constant); the terms are orthogonal over the full ``(a, b, c)``
    grid, so the fit is a sum of independent projections.

    Examples:
        >>> a, b, c = torch.meshgrid(*(torch.arange(5.0),) * 3, indexing="ij")
        >>> table = (torch.cos(2 * torch.pi * (a + b - c) / 5) + 2 * torch.cos(2 * torch.pi * 2 * (a + b - c) / 5)).reshape(25, 5)
        >>> round(logit_fve(table, [2]), 4), round(logit_fve(table, [1, 2]), 4)   # 2² / (1² + 2²)
        (0.8, 1.0)
    """
    p = _check_table(logits)
    if logits.shape[1] != p:
        raise ValueError(f"logit_fve needs one output per residue ({p}), got {logits.shape[1]}")
    freqs = _check_freqs(freqs, p)
    lg = logits.detach().to(torch.float64)
    lg = lg - lg.mean(1, keepdim=True)
    total = float((lg**2).sum())
    if total == 0:
        return 0.0
    phase = _phase_table(p, _sign(op))
    explained = 0.0
    for k in freqs:
        f = torch.cos(2 * math.pi * k * phase / p)
        explained += float((lg * f).sum()) ** 2 / float((f * f).sum())
    return explained / total


def template_loss_components(outputs: Float[Tensor, "pairs out"], template: dict[int, float], op: str = "+") -> dict[int, float]:
    """Share of the mean squared error towards ``y_c = Σ m_k cos(w_k(a±b−c))`` carried by each frequency ``k``.

    The grid functions ``cos(w_k(a±b−c))`` and ``sin(w_k(a±b−c))`` are
    orthogonal over all ``(a, b, c)``, and the target lies in their span, so
    the MSE splits exactly into ``½[(α_k − m_k)² + β_k²]`` per template
    frequency (``α_k, β_k`` the output's coefficients on them) plus the
    squared norm of everything else.

    Raises:
        ValueError: ``outputs`` without one column per residue, or template frequencies that are
            not distinct integers in ``1 … (p−1)/2`` (``0`` is the constant; ``k`` and ``p − k`` are one frequency).

    Examples:
        >>> import math, einops
        >>> p = 5
        >>> a, b, c = torch.meshgrid(*(torch.arange(p),) * 3, indexing="ij")
        >>> f = einops.rearrange(0.5 * torch.cos(2 * math.pi * 2 * (a + b - c) / p), "a b c -> (a b) c")
        >>> {k: round(v, 6) for k, v in template_loss_components(f, {2: 1.5, 1: 1.0}).items()}
        {2: 0.5, 1: 0.5}
    """
    p = _check_table(outputs)
    if outputs.shape[1] != p:
        raise ValueError(f"template_loss_components needs one output per residue ({p}), got {outputs.shape[1]}")
    _check_freqs(list(template), p)
    phase = (2 * math.pi / p) * _phase_table(p, _sign(op))
    f = outputs.detach().to(torch.float64)
    out = {}
    for k, m in template.items():
        alpha = float((f * torch.cos(k * phase)).sum()) / (p**3 / 2)
        beta = float((f * torch.sin(k * phase)).sum()) / (p**3 / 2)
        out[int(k)] = 0.5 * ((alpha - m) ** 2 + beta**2)
    return out


__all__ = [
    "template_loss_components",
    "excluded_logits",
    "excluded_loss",
    "key_part",
    "logit_frequency_norms",
    "logit_fve",
    "restricted_logits",
    "restricted_loss",
    "sum_directions",
]
