"""Predictions for toy models of superposition (Elhage et al. 2022).

**n = 2 features, m = 1 dimension.** The paper's analysis of this case compares
the loss of the three configurations a one-dimensional ReLU model can take:
a dedicated dimension for feature 1 (feature 2 dropped), a dedicated dimension
for feature 2, or both features superposed antipodally (``w₁ > 0 > w₂``). The
predicted phase at (relative importance ``r`` of feature 2, density ``p = 1 − S``)
is the configuration with the lowest expected loss. Each configuration's loss
is minimised over its free parameters (weights and biases) with the expectation
over the data computed by Gauss–Legendre quadrature (features are 0 with
probability ``S`` and uniform on [0, 1] otherwise), so the prediction needs no
training on samples.

**Sticky dimensionalities.** Features that form small uniform polytopes have
dimensionality ``D_i = ‖W_i‖² / Σ_j (Ŵ_i · W_j)²`` at the fractions
:data:`STICKY_FRACTIONS`: 1 (dedicated), 3/4 (tetrahedron), 2/3 (triangle),
1/2 (digon / antipodal pair), 2/5 (pentagon), 3/8 (square antiprism).

Examples:
    >>> phases = predict_n2m1_phases([0.5, 4.0], [1.0, 0.01])
    >>> phases[0, 0], phases[1, 0], phases[0, 1]
    ('feature 1', 'feature 2', 'superposition')
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, TypedDict

import einops
import numpy as np
import torch
from jaxtyping import Float
from numpy.typing import ArrayLike
from torch import Tensor

from bridge.theory.base import require_count, require_positive

if TYPE_CHECKING:
    from typing_extensions import Unpack

STICKY_FRACTIONS: tuple[float, ...] = (1.0, 3 / 4, 2 / 3, 1 / 2, 2 / 5, 3 / 8)
N2M1_PHASES: tuple[str, ...] = ("feature 1", "feature 2", "superposition")
REPRESENTED_NORM = 0.5
"""A feature counts as represented when its weight norm ``‖W_i‖`` exceeds this."""
SUPERPOSITION_STARTS: tuple[tuple[float, float], ...] = ((0.0, 0.0), (0.0, -1.0), (-1.0, 0.0))
"""Starting log-magnitudes ``(log w₁, log w₂)`` of the antipodal configuration's minimisation (the least loss kept)."""


def dimensions_per_feature(W: Float[Tensor, "m n"]) -> Float[Tensor, " n"]:
    """``D_i = ‖W_i‖² / Σ_j (Ŵ_i · W_j)²`` for each column ``W_i`` (0 for a zero column).

    ``D`` does not change with the scale of ``W``: it is computed on ``W`` divided by the power of two
    just above its largest entry, and a column counts as zero when its norm is below ``1e-8`` of that power
    (weights of 1e-9 all read 0 and weights of 1e160 overflowed to ``inf`` when the cut was absolute).

    Returns:
        ``(n,)``, in float64 for float64 weights and in float32 otherwise (as
        :func:`probes.feature_geometry.feature_norms`); the arithmetic is float64 either way.

    Raises:
        ValueError: ``W`` not 2-D ``(m, n)``, not numbers, or not finite.

    Examples:
        >>> import math
        >>> angles = torch.arange(5) * 2 * math.pi / 5
        >>> pentagon = torch.stack([angles.cos(), angles.sin()])
        >>> [round(v, 3) for v in dimensions_per_feature(pentagon).tolist()]
        [0.4, 0.4, 0.4, 0.4, 0.4]
    """
    out_dtype = torch.float64 if isinstance(W, Tensor) and W.dtype == torch.float64 else torch.float32
    if not isinstance(W, Tensor) and np.asarray(W).dtype.kind not in "iuf":  # "0.5" is no weight
        raise ValueError(f"W must be a 2-D array of numbers (m dimensions, n features), got {W!r}")
    W = torch.as_tensor(W, dtype=torch.float64)
    if W.ndim != 2:
        raise ValueError(f"W must be 2-D (m dimensions, n features), got shape {tuple(W.shape)}")
    if not bool(torch.isfinite(W).all()):
        raise ValueError("W must be finite")
    if W.numel():
        W = torch.ldexp(W, torch.tensor(-math.frexp(float(W.abs().max()))[1]))
    norms = W.norm(dim=0)
    unit = W / norms.clamp_min(1e-12)
    interference = ((unit.T @ W) ** 2).sum(dim=1)
    return torch.where(norms > 1e-8, norms**2 / interference.clamp_min(1e-24), torch.zeros_like(norms)).to(out_dtype)


def nearest_sticky(values: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest sticky fraction of each value and the absolute distance to it, both ``(n,)`` for ``(n,)`` values.

    Raises:
        ValueError: ``values`` not 1-D, or a value NaN.

    Examples:
        >>> fractions, gaps = nearest_sticky([0.74, 0.51, 0.3])
        >>> fractions.tolist(), gaps.round(3).tolist()
        ([0.75, 0.5, 0.375], [0.01, 0.01, 0.075])
    """
    values = np.asarray(values, dtype=float)
    if values.ndim != 1:
        raise ValueError(f"values must be 1-D (n,), got shape {values.shape}")
    if np.isnan(values).any():
        raise ValueError("values must be numbers, got NaN")
    values = values[:, None]
    sticky = np.asarray(STICKY_FRACTIONS)[None, :]
    idx = np.abs(values - sticky).argmin(axis=1)
    return sticky[0, idx], np.abs(values[:, 0] - sticky[0, idx])


def _quadrature(n_nodes: int) -> tuple[Tensor, Tensor]:
    nodes, weights = np.polynomial.legendre.leggauss(n_nodes)
    return torch.tensor((nodes + 1) / 2, dtype=torch.float64), torch.tensor(weights / 2, dtype=torch.float64)


def _expected_loss(w1: Tensor, w2: Tensor, b1: Tensor, b2: Tensor, r: Tensor, p: Tensor, u: Tensor, a: Tensor, leak: float = 0.0) -> Tensor:
    """Expected ``(x₁ − x̂₁)² + r (x₂ − x̂₂)²`` for every cell (leading dims of the parameters).

    ``leak``: the slope of the activation below zero (0: the ReLU itself).
    """
    s = 1 - p
    zero = torch.zeros((), dtype=u.dtype)
    # support points: (0, 0), (0, u), (u, 0), (u, v) with their probability weights
    n = len(u)
    x1 = torch.cat([zero[None], torch.zeros_like(u), u, einops.repeat(u, "i -> (i j)", j=n)])
    x2 = torch.cat([zero[None], u, torch.zeros_like(u), einops.repeat(u, "j -> (i j)", i=n)])
    both = einops.rearrange(a[:, None] * a[None, :], "i j -> (i j)")
    wts = [(s**2)[..., None], (s * p)[..., None] * a, (p * s)[..., None] * a, (p**2)[..., None] * both]
    weight = torch.cat([w.expand(*p.shape, -1) for w in wts], dim=-1)
    h = w1[..., None] * x1 + w2[..., None] * x2

    def act(z: Tensor) -> Tensor:
        return torch.relu(z) + leak * torch.clamp(z, max=0.0) if leak else torch.relu(z)

    err = (x1 - act(w1[..., None] * h + b1[..., None])) ** 2 + r[..., None] * (x2 - act(w2[..., None] * h + b2[..., None])) ** 2
    return (weight * err).sum(-1)


class FitOptions(TypedDict, total=False):
    """The fit settings of :func:`n2m1_candidate_losses` that :func:`predict_n2m1_phases` passes on.

    Examples:
        >>> FitOptions(n_nodes=8, steps=100)
        {'n_nodes': 8, 'steps': 100}
    """

    n_nodes: int
    steps: int
    lr: float


def n2m1_candidate_losses(relative_importance: ArrayLike, density: ArrayLike, *, n_nodes: int = 24, steps: int = 800, lr: float = 0.03) -> dict[str, np.ndarray]:
    """The minimal expected loss of each configuration on the grid ``relative_importance × density``.

    Args:
        relative_importance: importances ``r`` of feature 2 (feature 1 has importance 1).
        density: feature densities ``p = 1 − S``.
        n_nodes: quadrature nodes on [0, 1].
        steps, lr: Adam steps minimising each configuration's free parameters (the antipodal one from each of
            :data:`SUPERPOSITION_STARTS`, the least loss kept), the rate decaying to
            zero (cosine). Over the first three quarters the ReLU leaks (slope 0.1 below zero, annealed
            to 0): at a small density an Adam step of ``lr`` can take a bias past zero, where the exact
            ReLU has no gradient, and the output stays off (a dedicated configuration then loses up to
            3 % at density 0.04 against its closed form ``r (p/3 − p²/4)``).

    Raises:
        ValueError: ``relative_importance`` or ``density`` not 1-D, an importance not finite and
            positive, a density outside ``(0, 1]``, ``n_nodes`` or ``steps`` not a positive integer,
            or ``lr`` not finite and positive.

    Returns:
        ``{phase: array (len(relative_importance), len(density))}``; the superposition
        entry is ``inf`` where its optimum drops a feature (norm ≤ :data:`REPRESENTED_NORM`).

    Examples:
        >>> losses = n2m1_candidate_losses([4.0], [1.0], n_nodes=8, steps=100)   # dense: the dropped feature costs r·Var = r/12
        >>> {k: round(float(v[0, 0]), 3) for k, v in losses.items()}
        {'feature 1': 0.333, 'feature 2': 0.083, 'superposition': inf}
    """
    importance, dens = np.asarray(relative_importance, dtype=float), np.asarray(density, dtype=float)
    if importance.ndim != 1 or dens.ndim != 1:
        raise ValueError(f"relative_importance and density must be 1-D, got shapes {importance.shape} and {dens.shape}")
    if not (np.all(importance > 0) and np.all(np.isfinite(importance)) and np.all(dens > 0) and np.all(dens <= 1)):  # NaN fails each
        raise ValueError(f"relative importance must be > 0 and density in (0, 1], got relative_importance={importance.tolist()}, density={dens.tolist()}")
    require_count("n_nodes", n_nodes)
    require_count("steps", steps)
    require_positive("lr", lr)
    r = einops.repeat(torch.tensor(importance), "importance -> importance density", density=len(dens))
    p = einops.repeat(torch.tensor(dens), "density -> importance density", importance=len(importance))
    u, a = _quadrature(n_nodes)
    out = {}
    for phase in N2M1_PHASES:
        # log-magnitudes of the represented weights and raw biases, one set per start and cell; at r = 1 the
        # antipodal loss is symmetric under swapping the features, so a start with w₁ = w₂ stays on that symmetric
        # set (a saddle where the least loss has unequal weights): two unequal starts as well, the least loss kept
        starts = torch.tensor(SUPERPOSITION_STARTS if phase == "superposition" else SUPERPOSITION_STARTS[:1], dtype=torch.float64)
        params = torch.zeros(4, len(starts), *r.shape, dtype=torch.float64)
        params[:2] = starts.T[:, :, None, None]
        params[2:] = 0.05  # biases start positive: ReLU has no gradient at exactly 0
        params.requires_grad_(True)
        opt = torch.optim.Adam([params], lr=lr)
        schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 0.5 * (1 + math.cos(math.pi * k / steps)))

        def weights(q: Tensor, phase: str = phase) -> tuple[Tensor, Tensor]:
            mag1, mag2 = torch.exp(q[0]), torch.exp(q[1])
            if phase == "feature 1":
                return mag1, torch.zeros_like(mag2)
            if phase == "feature 2":
                return torch.zeros_like(mag1), mag2
            return mag1, -mag2

        for k in range(steps):
            opt.zero_grad()
            w1, w2 = weights(params)
            loss = _expected_loss(w1, w2, params[2], params[3], r, p, u, a, leak=0.1 * max(0.0, 1 - k / (0.75 * steps))).sum()
            loss.backward()
            opt.step()
            schedule.step()
        with torch.no_grad():
            w1, w2 = weights(params)
            losses = _expected_loss(w1, w2, params[2], params[3], r, p, u, a).numpy()  # (start, importance, density)
            best = losses.argmin(axis=0)[None]
            best_loss = np.take_along_axis(losses, best, axis=0)[0]
            if phase == "superposition":
                # the antipodal family contains the dedicated ones in its closure (a weight → 0):
                # it counts only where its optimum keeps both features represented
                smaller = np.take_along_axis(np.minimum(w1.abs().numpy(), w2.abs().numpy()), best, axis=0)[0]
                best_loss = np.where(smaller > REPRESENTED_NORM, best_loss, np.inf)
            out[phase] = best_loss
    return out


def predict_n2m1_phases(relative_importance: ArrayLike, density: ArrayLike, **kwargs: Unpack[FitOptions]) -> np.ndarray:
    """The predicted phase name per cell ``(len(relative_importance), len(density))``.

    ``kwargs`` go to :func:`n2m1_candidate_losses`.

    Examples:
        >>> predict_n2m1_phases([0.5, 4.0], [1.0], n_nodes=8, steps=100).tolist()   # dense: the more important feature
        [['feature 1'], ['feature 2']]
    """
    losses = n2m1_candidate_losses(relative_importance, density, **kwargs)
    stacked = np.stack([losses[k] for k in N2M1_PHASES])
    return np.asarray(N2M1_PHASES, dtype=object)[stacked.argmin(axis=0)]


__all__ = ["N2M1_PHASES", "REPRESENTED_NORM", "STICKY_FRACTIONS", "dimensions_per_feature", "n2m1_candidate_losses", "nearest_sticky", "predict_n2m1_phases"]
