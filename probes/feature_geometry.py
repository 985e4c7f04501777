"""Mechanism side of superposition: feature directions, which features are represented, polytopes.

Measured on the weights ``W`` (``(m, n)``: column ``i`` is feature ``i``'s
direction) of :class:`bridge.models.toy_superposition.ToySuperposition`.

Examples:
    >>> import math, torch
    >>> angles = torch.arange(5) * 2 * math.pi / 5
    >>> pentagon = torch.stack([angles.cos(), angles.sin()])
    >>> polygon(pentagon).k, round(polygon(pentagon).max_gap_error, 3)
    (5, 0.0)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from jaxtyping import Float
from torch import Tensor

from bridge.theory.superposition import REPRESENTED_NORM


def feature_norms(W: Float[Tensor, "m n"]) -> Float[Tensor, " n"]:
    """``‖W_i‖`` per feature: ``(m, n)`` weights to ``(n,)`` norms, in float64 for float64 weights, else float32.

    Each column is divided by a power of two near its largest entry before it is squared (which
    changes no rounding), so weights of 1e-25 in float32 or of 1e170 in float64, whose squares
    leave the dtype's range, keep their norm instead of reading 0 or inf.

    Raises:
        ValueError: ``W`` not 2-D (a 1-D ``W`` would give one norm of every entry, not one per feature).

    Examples:
        >>> feature_norms(torch.tensor([[3.0, 0.0, 1.0], [4.0, 0.0, 0.0]])).tolist()
        [5.0, 0.0, 1.0]
        >>> [round(v / 1e-25, 6) for v in feature_norms(1e-25 * torch.tensor([[3.0], [4.0]])).tolist()]   # 0 if squared as they are
        [5.0]
    """
    w = _floating(W)
    if w.ndim != 2:
        raise ValueError(f"W must be (m, n) weights, column i feature i's direction, got W of shape {tuple(w.shape)}")
    top = w.abs().amax(0) if w.shape[0] else w.new_zeros(w.shape[1:])
    scale = torch.where(top > 0, torch.ldexp(torch.ones_like(top), torch.frexp(top).exponent - 1), torch.ones_like(top))  # ≤ top: finite
    return (w / scale).norm(dim=0) * scale


def _floating(W: Tensor) -> Tensor:
    """``W`` detached, in float64 when it is float64 and in float32 otherwise."""
    w = torch.as_tensor(W).detach()
    return w if w.dtype == torch.float64 else w.float()


def represented(W: Float[Tensor, "m n"], threshold: float = REPRESENTED_NORM) -> Float[Tensor, " n"]:
    """Boolean mask ``(n,)`` of features whose norm exceeds ``threshold``.

    A feature whose column holds a NaN or infinite weight is neither represented nor not represented, so it is
    refused (``NaN > threshold`` is False: it read as not represented, and a pentagon with one NaN column as a
    clean square). Training ends a run whose weights are not finite before any tracker reads them, and
    :func:`feature_norms` still gives such a feature's norm (NaN or inf) for a reader that wants it.

    Raises:
        ValueError: ``W`` not 2-D, or a column with a NaN or infinite weight (the features are named).

    Examples:
        >>> represented(torch.tensor([[3.0, 0.0, 0.2], [4.0, 0.0, 0.0]]), threshold=0.5).tolist()
        [True, False, False]
    """
    norms = feature_norms(W)
    _require_finite_features(_floating(W), "represented")
    return norms > threshold


def _require_finite_features(w: Tensor, caller: str) -> None:
    """Refuse ``(m, n)`` weights with a NaN or infinite entry, naming the features (columns) that hold one."""
    bad = (~torch.isfinite(w)).any(0)
    if bool(bad.any()):
        idx = bad.nonzero().flatten().tolist()
        raise ValueError(f"{caller} needs finite weights: feature(s) {idx} of W hold NaN or infinite weights, columns {w[:, idx].T.tolist()}")


@dataclass(frozen=True)
class Polygon:
    """The 2-D arrangement of the represented features.

    Attributes:
        k: number of represented features.
        angles: their directions in degrees, sorted, in [0, 360).
        gaps: angular gaps between neighbours (degrees, sum 360).
        max_gap_error: largest ``|gap − 360/k|`` in degrees.
        norm_spread: ``max‖W_i‖ / min‖W_i‖ − 1`` over represented features.

    Examples:
        >>> square = polygon(torch.tensor([[1.0, 0.0, -1.0, 0.0], [0.0, 1.0, 0.0, -1.0]]))
        >>> square.k, square.gaps, square.is_regular(4)
        (4, (90.0, 90.0, 90.0, 90.0), True)
    """

    k: int
    angles: tuple[float, ...]
    gaps: tuple[float, ...]
    max_gap_error: float
    norm_spread: float

    def is_regular(self, k: int, angle_tol: float = 10.0, norm_tol: float = 0.2) -> bool:
        """A regular ``k``-gon within ``angle_tol`` degrees and ``norm_tol`` relative norm spread."""
        return self.k == k and self.max_gap_error <= angle_tol and self.norm_spread <= norm_tol


def polygon(W: Float[Tensor, "2 n"], threshold: float = REPRESENTED_NORM) -> Polygon:
    """Angles and gaps of the represented feature directions of a 2-D hidden space.

    Args:
        W: ``(2, n)`` weights, column ``i`` feature ``i``'s direction.
        threshold: norm above which a feature counts as represented.

    Raises:
        ValueError: ``W`` not ``(2, n)``, or a column with a NaN or infinite weight (as :func:`represented`).

    Examples:
        >>> p = polygon(torch.tensor([[2.0, 0.0, -1.0, 0.1], [0.0, 1.0, 0.0, 0.0]]))   # the last feature is not represented
        >>> p.k, p.angles, p.gaps, p.norm_spread
        (3, (0.0, 90.0, 180.0), (90.0, 90.0, 180.0), 1.0)
    """
    W = _floating(W)
    if W.ndim != 2 or W.shape[0] != 2:
        raise ValueError(f"polygon needs W of shape (2, n): a 2-dimensional hidden space, got W of shape {tuple(W.shape)}")
    _require_finite_features(W, "polygon")
    keep = represented(W, threshold)
    cols = W[:, keep]
    k = int(keep.sum())
    if k == 0:
        return Polygon(0, (), (), float("inf"), float("inf"))
    angles = np.degrees(np.arctan2(cols[1].double().numpy(), cols[0].double().numpy())) % 360.0
    angles = np.sort(np.where(angles >= 360.0, 0.0, angles))  # a tiny negative angle rounds up to 360: it is 0
    gaps = np.diff(np.concatenate([angles, [angles[0] + 360.0]]))
    norms = feature_norms(cols).double().numpy()  # no squares out of range for tiny or huge weights
    return Polygon(k, tuple(angles.tolist()), tuple(gaps.tolist()), float(np.abs(gaps - 360.0 / k).max()), float(norms.max() / norms.min() - 1))


def n2m1_phase(W: Float[Tensor, "1 2"], threshold: float = REPRESENTED_NORM) -> str:
    """Phase of a trained n=2, m=1 model: ``feature 1``, ``feature 2``, ``superposition`` or ``none``/``other``.

    ``W`` is ``(1, 2)``; ``superposition`` needs both features represented with opposite signs.

    Raises:
        ValueError: ``W`` of another shape, or with a NaN or infinite entry (whose phase is none of these).

    Examples:
        >>> [n2m1_phase(torch.tensor([w])) for w in ([1.0, -1.0], [1.0, 1.0], [0.0, 1.0], [0.1, 0.0])]
        ['superposition', 'other', 'feature 2', 'none']
    """
    if tuple(torch.as_tensor(W).shape) not in ((1, 2), (2,)):  # (2, 1) would be another model: two hidden dimensions, one feature
        raise ValueError(f"n2m1_phase needs W of shape (1, 2), got {tuple(torch.as_tensor(W).shape)}")
    w = _floating(W).reshape(-1)
    if not bool(torch.isfinite(w).all()):  # NaN > threshold is False: a diverged model read as 'none'
        raise ValueError(f"n2m1_phase needs finite weights, got W = {w.tolist()}")
    on = w.abs() > threshold
    if on.all():
        return "superposition" if w[0] * w[1] < 0 else "other"
    if on[0]:
        return "feature 1"
    if on[1]:
        return "feature 2"
    return "none"


__all__ = ["Polygon", "feature_norms", "n2m1_phase", "polygon", "represented"]
