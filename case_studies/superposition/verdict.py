"""The rows of the ``superposition`` report, judged from plain observables (curves over checkpoints, the final
polygon, the sweeps' results): the pentagon, the k-gon match, the learning coefficient's step from the 4-gon to the
pentagon, the phase diagram and the sticky dimensionalities. Pure, so a test can hand them observables in which a
claim is false and see that row fail.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Real
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from bridge.match import check, match
from bridge.stages.detectors import settled_crossing
from bridge.theory.superposition import nearest_sticky
from case_studies.base.targets import target_domains
from probes.feature_geometry import Polygon

ELHAGE = "Elhage et al. 2022, Toy models of superposition"
CHEN = "Chen et al. 2023, Dynamical versus Bayesian phase transitions in a toy model of superposition"


@dataclass(frozen=True)
@target_domains(phase_agreement="share", sticky_tol="tolerance", sticky_share="share", angle_tol="tolerance", norm_tol="tolerance", llc_fraction="share", pentagon_settle="positive", llc_sigmas="tolerance", match_tolerance="tolerance")
class Targets:
    """What the superposition report judges.

    Args:
        phase_agreement: share of phase-diagram cells whose trained phase must equal the predicted one.
        sticky_tol, sticky_share: a feature is on a sticky value within ``sticky_tol``; the share of
            represented features (of models in the sticky regime m/‖W‖² ≥ 3/8) that must be.
        angle_tol, norm_tol: regular-polygon tolerances of the final pentagon (degrees from 360°/k, relative
            norm spread); the 4-gon checkpoints before it are held to ``angle_tol`` only (no norms are tracked).
        llc_fraction: the learning coefficient's event: it settles above this fraction of its final value
            (the mean over the last quarter of training).
        pentagon_settle: the pentagon's event: five features represented and every gap settles within this
            many degrees of 72° (half a gap).
        llc_sigmas: the learning coefficient at the pentagon exceeds its value at the 4-gon by more than this
            many standard errors of the difference.
        match_tolerance: relative lag allowed between the learning-coefficient rise and pentagon formation.

    Examples:
        >>> Targets().phase_agreement, Targets().sticky_tol, Targets().llc_sigmas
        (0.8, 0.03, 3.0)
    """

    phase_agreement: float = 0.8
    sticky_tol: float = 0.03
    sticky_share: float = 0.75
    angle_tol: float = 10.0
    norm_tol: float = 0.2
    llc_fraction: float = 0.5
    pentagon_settle: float = 36.0
    llc_sigmas: float = 3.0
    match_tolerance: float = 0.2


DIVERGED = "diverged"  # the phase of an n=2, m=1 cell whose every trained instance diverged


def diverged_rows(grid: tuple[np.ndarray, np.ndarray], trained: np.ndarray, sweep: list[dict], phase_lr: float, dims_lr: float) -> list:
    """A failed precondition per sweep in which a model diverged, naming the models (none when every one trained).

    As a case study's diverged run is, a diverged sweep model is a failed precondition: the claims on its sweep cannot
    be judged. ``grid`` is ``(importance, density)`` of the phase diagram, ``trained`` its phases (``"diverged"``
    where every seed of a cell diverged), ``sweep`` the dimensions sweep (a model that diverged has NaN
    ``dims_per_feature``); ``phase_lr``, ``dims_lr`` the sweeps' learning rates, named in the reason.

    Examples:
        >>> grid = (np.array([0.1, 10.0]), np.array([0.01, 1.0]))
        >>> trained = np.array([["feature 1", "diverged"], ["feature 2", "feature 2"]], dtype=object)
        >>> [(r.name, r.value, r.passed, r.reason) for r in diverged_rows(grid, trained, [{"density": 0.5, "dims_per_feature": float("nan")}], 1e30, 1e-2)]
        [('n=2, m=1 phase sweep trained without diverging', 1, False, 'every seed diverged in 1 of 4 cells (importance 0.1, density 1); lower phases.lr (1e+30)'), ('dimensions-per-feature sweep trained without diverging', 1, False, 'diverged: 1 of 1 models (density 0.5); lower dims.lr (0.01)')]
    """
    rows = []
    cells = [(float(grid[0][i]), float(grid[1][j])) for i, j in zip(*np.nonzero(np.asarray(trained, dtype=object) == DIVERGED))]
    if cells:
        where = ", ".join(f"(importance {a:.3g}, density {b:.3g})" for a, b in cells[:4]) + (", …" if len(cells) > 4 else "")
        reason = f"every seed diverged in {len(cells)} of {np.size(trained)} cells {where}; lower phases.lr ({phase_lr:g})"
        rows.append(check("n=2, m=1 phase sweep trained without diverging", len(cells), "== 0", False, role="precondition", claim="every cell of the phase diagram has a trained model", reason=reason))
    lost = [float(s["density"]) for s in sweep if isinstance(s["dims_per_feature"], Real) and math.isnan(s["dims_per_feature"])]
    if lost:
        where = ", ".join(f"density {d:.3g}" for d in lost[:4]) + (", …" if len(lost) > 4 else "")
        reason = f"diverged: {len(lost)} of {len(sweep)} models ({where}); lower dims.lr ({dims_lr:g})"
        rows.append(check("dimensions-per-feature sweep trained without diverging", len(lost), "== 0", False, role="precondition", claim="every model of the dimensions sweep trained", reason=reason))
    return rows


def sweep_checks(predicted: np.ndarray, trained: np.ndarray, sweep: list[dict], targets: Targets) -> list:
    """The phase-diagram and sticky-dimensionality checks from the sweeps' results.

    Args:
        predicted, trained: phases per (importance, density) cell, object arrays of one shape.
        sweep: per model of the dimensions sweep, ``dims_per_feature`` (m/‖W‖²) and ``D`` (its represented
            features' dimensionalities), as :func:`dims_sweep` returns.
        targets: the study's targets.

    A model of the sweep whose m/‖W‖² is not a finite number fails the sticky row (whether it is in the sticky
    regime is unknown), as does a dimensionality that is not a number.

    Raises:
        ValueError: ``predicted`` and ``trained`` of different shapes, or with no cell; a model's ``dims_per_feature``
            that is not a number or ``D`` that is not a 1-D sequence of numbers (``"0.5"`` included), naming the model.

    Examples:
        >>> predicted = np.array([["feature 1", "superposition"], ["feature 2", "feature 2"]], dtype=object)
        >>> trained = predicted.copy(); trained[0, 0] = "superposition"   # 3 of 4 cells agree; 3 of 4 D on a sticky value
        >>> [(r.value, r.passed) for r in sweep_checks(predicted, trained, [{"dims_per_feature": 0.5, "D": [0.5, 0.5, 0.49, 0.6]}], Targets())]
        [(0.75, False), (0.75, True)]
    """
    if np.shape(predicted) != np.shape(trained) or not np.size(predicted):
        raise ValueError(f"predicted and trained phases must have one shape (one per cell, at least one cell), got {np.shape(predicted)} and {np.shape(trained)}")
    for i, model in enumerate(sweep):  # numpy would read "0.5" as 0.5 and a 2-D D as rows of truth values
        ratio, dims = model["dims_per_feature"], np.asarray(model["D"])
        if not isinstance(ratio, Real) or isinstance(ratio, bool):
            raise ValueError(f"sweep[{i}]['dims_per_feature'] must be a number (m/‖W‖²), got {ratio!r}")
        if dims.ndim != 1 or dims.dtype.kind not in "iuf":
            raise ValueError(f"sweep[{i}]['D'] must be a 1-D sequence of numbers (one dimensionality per represented feature), got {model['D']!r}")
    agreement = float(np.mean(predicted == trained))
    ratios = np.array([float(s["dims_per_feature"]) for s in sweep])
    unknown = int((~np.isfinite(ratios)).sum())  # a model whose m/‖W‖² is not a number: in the sticky regime or not is unknown
    sticky_d = np.concatenate([np.asarray(s["D"], dtype=float) for s in sweep if s["dims_per_feature"] >= 3 / 8] or [np.zeros(0)])
    fractions, distances = sticky_distances(sticky_d)
    share = float(np.mean(distances <= targets.sticky_tol)) if sticky_d.size else 0.0
    seen = sorted({round(float(v), 3) for v, dist in zip(fractions, distances) if dist <= targets.sticky_tol}, reverse=True)
    bad = int((~np.isfinite(sticky_d)).sum())
    reason = "; ".join(filter(None, [
        "no model in the sticky regime" if not sticky_d.size else (f"{bad} of {sticky_d.size} dimensionalities are not numbers" if bad else ""),
        f"{unknown} of {len(sweep)} models have m/‖W‖² that is not a finite number" if unknown else "",
    ]))
    return [
        check("n=2, m=1 phase diagram: share of cells in the predicted phase", agreement, f">= {targets.phase_agreement}", agreement >= targets.phase_agreement,
              claim="trained n=2, m=1 models fall in the phase of lowest expected loss", source=f"{ELHAGE}, n=2, m=1 phase diagram; bridge.theory.superposition"),
        check(f"dimensions per feature on sticky values ±{targets.sticky_tol} (represented features of models with m/‖W‖² ≥ 3/8; values seen {seen})", share,
              f">= {targets.sticky_share}", share >= targets.sticky_share and sticky_d.size > 0 and not bad and not unknown, claim="feature dimensionalities sit at the sticky fractions",
              source=f"{ELHAGE}, feature dimensionality; bridge.theory.superposition", reason=reason,
              key=f"dimensions per feature on sticky values ±{targets.sticky_tol}"),
    ]


def sticky_distances(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`~bridge.theory.superposition.nearest_sticky` of ``(n,)`` dimensionalities, ``(n,)`` each, where a value
    that is not a number is on no sticky fraction (fraction NaN, distance ``inf``) instead of refused.

    Examples:
        >>> fractions, distances = sticky_distances(np.array([0.74, np.nan]))
        >>> fractions.tolist(), distances.round(3).tolist()
        ([0.75, nan], [0.01, inf])
    """
    values = np.asarray(values, dtype=float)
    finite = np.isfinite(values)
    fractions, distances = np.full(values.shape, np.nan), np.full(values.shape, np.inf)
    if finite.any():
        fractions[finite], distances[finite] = nearest_sticky(values[finite])
    return fractions, distances


def pentagon_rows(steps: ArrayLike, llc: ArrayLike, llc_std: ArrayLike, represented: ArrayLike, gap_error: ArrayLike, final: Polygon, preset: Any) -> tuple[list, list, list]:
    """The pentagon check, the k-gon match and the learning coefficient's step across the 4-gon -> 5-gon transition.

    Args:
        steps: checkpoints, shape ``(n,)``; ``llc``, ``llc_std``: the learning coefficient's mean and spread over
            chains there; ``represented``: represented features; ``gap_error``: the polygon's largest gap error
            (degrees from 360°/k for the k represented features).
        final: the final polygon of the feature directions.

    Returns:
        ``(matches, checks, events)``. The step is ``λ̂(5-gon) − λ̂(4-gon)``: the mean over the last quarter of training
        minus the mean over the checkpoints before it where four features form a regular 4-gon, each with a
        standard error of its median spread over ``√n_chains``; it fails, saying why, when the run ends in no
        pentagon, never rests in a 4-gon, or a spread it reads is not a finite number >= 0.

    Raises:
        ValueError: ``steps`` not 1-D with at least two checkpoints, or a curve with another shape than ``steps``.

    Examples:
        >>> import torch; from probes.feature_geometry import polygon; from case_studies.superposition import PRESETS
        >>> a = torch.arange(5) * 2 * torch.pi / 5; steps = np.arange(0.0, 1001.0, 50.0); four = steps < 300   # a 4-gon (λ̂ 1) until step 300, then a pentagon (λ̂ 4)
        >>> matches, checks, events = pentagon_rows(steps, np.where(four, 1.0, 4.0), np.full(21, 0.1), np.where(four, 4, 5), np.where(four, 2.0, 1.0), polygon(torch.stack([a.cos(), a.sin()])), PRESETS["quick"])
        >>> [round(e.step) for e in events], [c.passed for c in checks], checks[1].value, matches[0].passed
        ([267, 290], [True, True], 3.0, True)
    """
    steps = np.asarray(steps, dtype=float)
    if steps.ndim != 1 or steps.size < 2:
        raise ValueError(f"steps must be 1-D with at least 2 checkpoints, got shape {steps.shape}")
    curves = {"llc": llc, "llc_std": llc_std, "represented": represented, "gap_error": gap_error}
    for key, curve in curves.items():
        if np.shape(curve) != steps.shape:
            raise ValueError(f"{key} must have one value per checkpoint, shape {steps.shape}, got shape {np.shape(curve)}")
    llc, llc_std, represented, gap_error = (np.asarray(curve, dtype=float) for curve in curves.values())
    tg, chains = preset.targets, preset.sgld.n_chains
    name = "pentagon for n=5, m=2 (max gap error °)"
    pentagon = final.is_regular(5, tg.angle_tol, tg.norm_tol)
    target = f"5 features, gaps within {tg.angle_tol}° of 72°, norms within {tg.norm_tol:.0%} (S={preset.task.sparsity}; gaps {[round(g, 1) for g in final.gaps]})"
    checks = [check(name, final.max_gap_error, target, pentagon,
                    claim="five features in two dimensions at high sparsity end as a regular pentagon", source=f"{ELHAGE}, the n=5, m=2 pentagon")]
    pentagon_error = np.where(represented == 5, gap_error, 180.0)  # a regular 4-gon is not a pentagon
    late = steps >= steps[-1] * 0.75
    top = float(np.mean(llc[late]))
    level = tg.llc_fraction * top
    dynamics = settled_crossing(steps, llc, level, "up", name=f"learning coefficient settles above {tg.llc_fraction:g} of its final (pentagon) value", observable="llc/mean")
    mechanism = settled_crossing(steps, pentagon_error, tg.pentagon_settle, "down", name=f"feature directions settle into a pentagon (5 represented, gaps within {tg.pentagon_settle:g}° of 72°)", observable="features/polygon_gap_error")
    matches = [match("k-gon transition: learning-coefficient rise coincides with pentagon formation (Chen et al. 2023)", None, dynamics, mechanism, tg.match_tolerance,
                     detail={"final_llc": top, "level": level}, claim="the learning coefficient rises to its pentagon value when the feature directions become a pentagon",
                     source=f"{CHEN} (dynamical k-gon transitions)")]
    formed = mechanism.step if mechanism is not None else steps[-1] * 0.75
    four = (represented == 4) & (gap_error <= tg.angle_tol) & (steps < formed) & ~late
    target, value, passed, reason = f"> {tg.llc_sigmas:g} standard errors of the difference", None, False, ""
    if not (represented[-1] == 5 and pentagon):
        reason = "the run does not end in a regular pentagon"
    elif not four.any():
        reason = "no checkpoint rests in a regular 4-gon before the pentagon: the step is not measured"
    else:
        four_llc, error = float(np.mean(llc[four])), float(np.hypot(_standard_error(llc_std[four], chains), _standard_error(llc_std[late], chains)))
        used = four | late  # a spread over chains is a finite number >= 0: a negative one would still give a positive s.e. through hypot
        unmeasured = [float(t) for t, v in zip(steps[used], llc_std[used]) if not (np.isfinite(v) and v >= 0)]
        value, passed = round(top - four_llc, 3), bool(top - four_llc > tg.llc_sigmas * error) and not unmeasured
        target += f" (4-gon {four_llc:.2f} over {int(four.sum())} checkpoints, pentagon {top:.2f}, s.e. {error:.2f})"
        if unmeasured:
            reason = f"the spread over chains (llc_std) is not a finite number >= 0 at steps {[round(t) for t in unmeasured]}"
        elif not np.isfinite(top - four_llc) or not np.isfinite(error):
            reason = "a learning coefficient or its spread on the 4-gon or the pentagon is not a number"
        else:
            reason = "" if passed else f"step {top - four_llc:.2f} <= {tg.llc_sigmas:g} x {error:.2f}"
    checks.append(check("learning coefficient: step from the 4-gon to the pentagon", value, target, passed, claim="the pentagon's learning coefficient exceeds the 4-gon's",
                        source=f"{CHEN} (the local learning coefficient grows with k across k-gon transitions)", reason=reason))
    return matches, checks, [e for e in (dynamics, mechanism) if e is not None]


def _standard_error(spread: np.ndarray, chains: int) -> float:
    """Standard error of a learning-coefficient estimate: the median spread over chains, over √chains."""
    return float(np.median(spread)) / np.sqrt(chains)


__all__ = ["CHEN", "ELHAGE", "Targets", "pentagon_rows", "sticky_distances", "sweep_checks"]
