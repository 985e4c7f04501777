"""Detectors on the stages of a loss drop: the largest drop, a score's rise between two levels, and the end of a
rise that goes with a drop (a critical point of the learning coefficient).

Examples:
    >>> from bridge.stages import plateaus_and_drops
    >>> t = np.arange(100.0)
    >>> loss = np.where(t < 40, 2.0, np.where(t < 50, 2.0 * 0.5 ** ((t - 40) / 2), 0.0625))
    >>> drop = main_drop(plateaus_and_drops(t, loss))
    >>> drop.start, drop.end, stage_end(drop, "end of the drop").step
    (40.0, 50.0, 50.0)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from jaxtyping import Float

from bridge.stages.detectors import Event, Stage, plateaus_and_drops


def main_drop(stages: Sequence[Stage]) -> Stage | None:
    """The drop stage with the largest decrease (``None`` when there is no drop).

    Examples:
        >>> main_drop([Stage("a", 0, 1, kind="drop", change=-0.2), Stage("b", 1, 2, kind="drop", change=-1.5)]).name
        'b'
    """
    drops = [s for s in stages if s.kind == "drop"]
    return min(drops, key=lambda s: s.change) if drops else None


def drop_window(stage: Stage | None) -> tuple[float, float] | None:
    """``(start, end)`` of a stage widened by its sampling uncertainties (``None`` for no stage).

    Examples:
        >>> drop_window(Stage("d", 100.0, 200.0, kind="drop", start_uncertainty=50.0, end_uncertainty=25.0))
        (50.0, 225.0)
    """
    return None if stage is None else (stage.start - stage.start_uncertainty, stage.end + stage.end_uncertainty)


def stage_end(stage: Stage | None, name: str) -> Event | None:
    """The end of ``stage`` as an event (kind ``"stage_boundary"``) with its sampling uncertainty; ``None`` for no stage."""
    if stage is None:
        return None
    u = stage.end_uncertainty
    return Event(name, stage.end, stage.end - u, stage.end + u, stage.observable, "stage_boundary")


def rise_between(steps: Float[np.ndarray, " n"], values: Float[np.ndarray, " n"], lo: float, hi: float) -> tuple[float, float] | None:
    """Interpolated steps at which a rising score last leaves ``< lo`` and first reaches ``> hi``.

    ``None`` when the score never exceeds ``hi`` or was never below ``lo`` before it did.

    Examples:
        >>> rise_between(np.array([0.0, 10, 20, 30]), np.array([0.1, 0.15, 0.4, 0.9]), 0.2, 0.5)
        (12.0, 22.0)
    """
    steps, values = np.asarray(steps, dtype=float), np.asarray(values, dtype=float)
    above = np.nonzero(values > hi)[0]
    if len(above) == 0 or above[0] == 0:
        return None
    j = int(above[0])
    t_hi = float(np.interp(hi, values[j - 1 : j + 1], steps[j - 1 : j + 1]))
    below = np.nonzero(values[:j] < lo)[0]
    if len(below) == 0:
        return None
    i = int(below[-1])
    t_lo = float(np.interp(lo, values[i : i + 2], steps[i : i + 2]))
    return t_lo, t_hi


def llc_boundary(
    steps: Float[np.ndarray, " n"], llc: Float[np.ndarray, " n"], during: tuple[float, float] | None = None
) -> tuple[Event | None, list[Stage]]:
    """Critical point of the LLC curve at a transition: the end of the LLC rise that goes with it.

    Rises are found with :func:`~bridge.stages.detectors.plateaus_and_drops` on
    ``−llc`` (linear scale, default thresholds). Each rise's end is a critical
    point (a stage boundary, where the growth stops); the boundary returned is
    the end of the largest rise overlapping ``during = (start, end)`` (a loss
    drop's window), or of the largest rise overall when ``during`` is ``None``;
    ``None`` when no rise qualifies. Its uncertainty is the sampling interval.

    A run with two stages (a first loss fall, a plateau, then the induction drop)
    has an LLC rise in each; the boundary of the induction drop is the end of the
    second, even when the first rise is larger.

    Args:
        steps, llc: the sampled curve, shape ``(n,)``.
        during: the window a rise must overlap.

    Returns:
        ``(event, stages)``: the boundary (kind ``"critical_point"``) and every
        stage of the LLC curve (its rises have kind ``"drop"``: falls of ``−llc``).

    Examples:
        >>> t = np.arange(0.0, 2001.0, 100.0)
        >>> two_stages = 30 / (1 + np.exp(-(t - 500) / 40)) + 15 / (1 + np.exp(-(t - 1500) / 40))
        >>> llc_boundary(t, two_stages)[0].step, llc_boundary(t, two_stages, during=(1400, 1700))[0].step
        (600.0, 1600.0)
    """
    stages = plateaus_and_drops(steps, -np.asarray(llc, dtype=float), name="LLC", observable="llc/mean", log=False)
    rises = [s for s in stages if s.kind == "drop" and (during is None or (s.start <= during[1] and s.end >= during[0]))]
    rise = main_drop(rises)
    if rise is None:
        return None, stages
    u = rise.end_uncertainty
    return Event("LLC stage boundary (end of rise)", rise.end, rise.end - u, rise.end + u, "llc/mean", "critical_point"), stages


__all__ = ["drop_window", "llc_boundary", "main_drop", "rise_between", "stage_end"]
