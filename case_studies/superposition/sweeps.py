"""The superposition study's two in-memory sweeps: the n = 2, m = 1 phase diagram and the dimensions per feature.

Many tiny models are trained at once on fresh samples (one instance per cell and seed, or per density); a model that
diverges is kept as such (its phase ``"diverged"``, its dimensionality NaN) for the report to name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import einops
import numpy as np
import torch
from jaxtyping import Bool, Float
from torch import Tensor

from bridge.config import ConfigError
from bridge.models.toy_superposition import ToySuperposition, ToySuperpositionConfig, fit_fresh_samples, instance_losses
from bridge.runs.errors import Diverged
from bridge.theory.superposition import dimensions_per_feature
from case_studies.superposition.verdict import DIVERGED
from probes.feature_geometry import n2m1_phase


@dataclass(frozen=True)
class PhaseSweep:
    """The n = 2, m = 1 phase diagram: ``importance`` relative importances (log-spaced on [0.1, 10]) × ``density``
    densities (log-spaced on [0.01, 1]), ``seeds`` instances per cell; Adam for ``steps`` steps of fresh samples.

    Examples:
        >>> PhaseSweep().importance * PhaseSweep().density * PhaseSweep().seeds   # instances trained at once
        128
    """

    importance: int = 8
    density: int = 8
    seeds: int = 2
    steps: int = 2000
    batch_size: int = 512
    lr: float = 1e-2

    def __post_init__(self) -> None:
        _positive(self, "phases", ("importance", "density", "seeds", "steps", "batch_size", "lr"))


@dataclass(frozen=True)
class DimsSweep:
    """Dimensions per feature: ``model`` (one instance per density) at densities log-spaced between
    ``10**log_density[0]`` and ``10**log_density[1]``; Adam for ``steps`` steps of fresh samples.

    Examples:
        >>> d = DimsSweep(); (d.model.n_features, d.model.n_hidden, d.model.n_instances), d.log_density
        ((30, 6, 8), (-0.9, -0.15))
    """

    model: ToySuperpositionConfig = ToySuperpositionConfig(n_features=30, n_hidden=6, n_instances=8)
    log_density: tuple[float, float] = (-0.9, -0.15)
    steps: int = 3000
    batch_size: int = 512
    lr: float = 1e-2

    def __post_init__(self) -> None:
        _positive(self, "dims", ("steps", "batch_size", "lr"))


def _positive(sweep: PhaseSweep | DimsSweep, prefix: str, names: tuple[str, ...]) -> None:
    """Refuse a sweep whose sizes, step counts or learning rate are not positive (the sweeps train after the main run)."""
    for name in names:
        value = getattr(sweep, name)
        number = isinstance(value, int | float) if name == "lr" else isinstance(value, int)
        if isinstance(value, bool) or not number or not 0 < value < math.inf:
            raise ConfigError(f"superposition {prefix}.{name} must be a positive {'finite number' if name == 'lr' else 'integer'}, got {value!r}")


def phase_grid(sweep: PhaseSweep) -> tuple[np.ndarray, np.ndarray]:
    """Relative importances ``(importance,)`` (log-spaced on [0.1, 10]) and densities ``(density,)`` (log-spaced on [0.01, 1]).

    Examples:
        >>> [a.tolist() for a in phase_grid(PhaseSweep(importance=3, density=3))]
        [[0.1, 1.0, 10.0], [0.01, 0.1, 1.0]]
    """
    return np.logspace(-1, 1, sweep.importance), np.logspace(-2, 0, sweep.density)


def trained_n2m1_phases(sweep: PhaseSweep, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train every (importance, density, seed) instance at once; the phase ``(importance, density)`` and ``W`` of each cell's best seed
    (the lowest loss among the seeds that did not diverge; ``"diverged"`` where every seed diverged, its ``W`` not finite).

    Returns:
        ``(phases, weights)``: an object array of phase names ``(importance, density)`` and ``W`` ``(importance, density, 2)``.

    Examples:
        >>> phases, W = trained_n2m1_phases(PhaseSweep(importance=2, density=2, seeds=1, steps=20, batch_size=64), seed=0)
        >>> phases.shape, W.shape
        ((2, 2), (2, 2, 2))
    """
    r, p = phase_grid(sweep)
    R, P = np.meshgrid(r, p, indexing="ij")
    cells, seeds = R.size, sweep.seeds
    importance = torch.tensor(np.stack([np.ones(cells), R.ravel()], axis=1), dtype=torch.float32)
    importance = einops.repeat(importance, "cell feature -> (seed cell) feature", seed=seeds)
    density = einops.repeat(torch.tensor(P.ravel(), dtype=torch.float32), "cell -> (seed cell)", seed=seeds)
    model = ToySuperposition(ToySuperpositionConfig(2, 1, n_instances=cells * seeds), seed=seed)
    finite = _fit(model, importance, density, steps=sweep.steps, batch_size=sweep.batch_size, lr=sweep.lr, seed=seed, desc="phase diagram (n=2, m=1)")
    losses = torch.where(finite, instance_losses(model, importance, density, seed=seed + 1), math.inf)  # a diverged seed is never the best
    losses, finite = (einops.rearrange(t, "(seed cell) -> seed cell", seed=seeds) for t in (losses, finite))
    W = einops.rearrange(model.W.detach(), "(seed cell) hidden feature -> seed cell hidden feature", seed=seeds)
    best = losses.argmin(dim=0)
    weights = torch.stack([W[best[c], c] for c in range(cells)])  # (cell, 1, 2)
    found = [n2m1_phase(w) if ok else DIVERGED for w, ok in zip(weights, finite.any(dim=0).tolist())]
    phases = einops.rearrange(np.array(found, dtype=object), "(importance density) -> importance density", importance=len(r))
    return phases, einops.rearrange(weights, "(importance density) 1 feature -> importance density feature", importance=len(r)).numpy()


def dims_sweep(sweep: DimsSweep, seed: int) -> list[dict]:
    """Per density: ``m/‖W‖²`` (``inf`` for weights that are all zero, NaN for a model that diverged, with no ``D``) and the
    dimensions per feature ``D`` of the represented features (``‖W_i‖ > 0.5``).

    Examples:
        >>> from bridge.models.toy_superposition import ToySuperpositionConfig
        >>> out = dims_sweep(DimsSweep(model=ToySuperpositionConfig(n_features=4, n_hidden=2, n_instances=2), steps=20, batch_size=64), seed=0)
        >>> len(out), sorted(out[0])   # one entry per instance (density)
        (2, ['D', 'density', 'dims_per_feature', 'represented'])
    """
    k, n, m = sweep.model.n_instances, sweep.model.n_features, sweep.model.n_hidden
    density = torch.tensor(np.logspace(*sweep.log_density, k), dtype=torch.float32)
    model = ToySuperposition(sweep.model, seed=seed + 7)
    finite = _fit(model, torch.ones(k, n), density, steps=sweep.steps, batch_size=sweep.batch_size, lr=sweep.lr, seed=seed + 7, desc="dimensions per feature")
    out = []
    for i in range(k):
        W = model.W[i].detach()
        if not finite[i]:  # its dimensionalities are no measurement: the sticky row fails and a precondition names it
            out.append({"density": float(density[i]), "dims_per_feature": math.nan, "D": [], "represented": 0})
            continue
        norms, dims = W.norm(dim=0), dimensions_per_feature(W)
        keep = norms > 0.5
        total = float((W**2).sum())  # 0 when training left no weight: m/‖W‖² is not a number, and the sticky row fails saying so
        out.append({"density": float(density[i]), "dims_per_feature": m / total if total > 0 else math.inf, "D": dims[keep].numpy().tolist(), "represented": int(keep.sum())})
    return out


def _fit(model: ToySuperposition, importance: Float[Tensor, "inst n"], density: Float[Tensor, " inst"], *, steps: int, batch_size: int, lr: float, seed: int, desc: str) -> Bool[Tensor, " inst"]:
    """:func:`fit_fresh_samples`; ``(instances,)`` whether each instance's weights ended finite (none, when a step overflowed).

    Its progress follows the report's (:func:`bridge.progress.inherited_progress`: silent under ``--quiet``).
    """
    from bridge.progress import inherited_progress

    try:
        fit_fresh_samples(model, importance, density, steps=steps, batch_size=batch_size, lr=lr, seed=seed, progress=inherited_progress(), desc=desc)
    except Diverged:
        with torch.no_grad():
            for p in (model.W, model.b):
                p.fill_(math.nan)
    return torch.stack([torch.isfinite(p.detach().flatten(1)).all(dim=1) for p in (model.W, model.b)]).all(dim=0)


__all__ = ["DimsSweep", "PhaseSweep", "dims_sweep", "phase_grid", "trained_n2m1_phases"]
