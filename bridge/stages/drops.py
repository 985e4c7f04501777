"""Detectors on the stages of a loss drop: the largest drop, an abrupt drop after a plateau, a score's rise between
two levels and the half-way point of a score that forms, and the end of a rise that goes with a drop (a critical
point of the learning coefficient).

Each detector that stands for a phenomenon says "absent" (``None``) when the curve does not make its move: the
wrong direction, a move no larger than the curve's noise, or an end short of the stated level.

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

from bridge.stages.detectors import Event, Stage, _as_arrays, _interpolate, half_rise, plateaus_and_drops


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
    """The end of ``stage`` as an event (kind ``"stage_boundary"``) with its sampling uncertainty; ``None`` for no stage.

    Examples:
        >>> e = stage_end(Stage("loss drop", 40.0, 50.0, kind="drop", end_uncertainty=5.0), "end of the drop")
        >>> e.step, e.lo, e.hi, e.kind
        (50.0, 45.0, 55.0, 'stage_boundary')
    """
    if stage is None:
        return None
    u = stage.end_uncertainty
    return Event(name, stage.end, stage.end - u, stage.end + u, stage.observable, "stage_boundary")


def rise_between(steps: Float[np.ndarray, " n"], values: Float[np.ndarray, " n"], lo: float, hi: float) -> tuple[float, float] | None:
    """Interpolated steps at which a rising score last leaves ``< lo`` and first reaches ``> hi``.

    ``None`` when the score never exceeds ``hi`` or was never below ``lo`` before it did. Samples whose
    score is not finite are left out (the crossings are interpolated between measured neighbours).
    ``steps`` and ``values`` are 1-D of one length, ``steps`` finite and strictly increasing, and ``lo <= hi``
    (else ``ValueError``).

    Examples:
        >>> rise_between(np.array([0.0, 10, 20, 30]), np.array([0.1, 0.15, 0.4, 0.9]), 0.2, 0.5)
        (12.0, 22.0)
    """
    if lo > hi:
        raise ValueError(f"lo must not exceed hi, got lo={lo:g} and hi={hi:g}")
    steps, values = _as_arrays(steps, values, min_samples=0)
    steps, values = steps[np.isfinite(values)], values[np.isfinite(values)]
    above = np.nonzero(values > hi)[0]
    if len(above) == 0 or above[0] == 0:
        return None
    j = int(above[0])
    t_hi = _interpolate(steps[j - 1], steps[j], values[j - 1], values[j], hi)  # no overflow for values near ±1e308
    below = np.nonzero(values[:j] < lo)[0]
    if len(below) == 0:
        return None
    i = int(below[-1])
    t_lo = _interpolate(steps[i], steps[i + 1], values[i], values[i + 1], lo)
    return t_lo, t_hi


def noise_level(values: Float[np.ndarray, " n"]) -> float:
    """Robust standard deviation of a curve's sample-to-sample noise: 1.4826 × the median absolute deviation of its
    successive differences, over √2 (a smooth curve gives about 0, white noise of std σ about σ). A sample that is
    not finite is no measurement and is left out (0 with fewer than two finite samples).

    Examples:
        >>> round(noise_level(np.random.default_rng(0).normal(0.0, 0.5, 2000)), 1)
        0.5
        >>> noise_level(np.linspace(4.0, 0.0, 50)) < 1e-12
        True
    """
    y = np.asarray(values, dtype=float)
    if y.ndim != 1:
        raise ValueError(f"values must be 1-D, got shape {y.shape}")
    d = np.diff(y[np.isfinite(y)])  # a NaN made the noise NaN, an inf two infinite differences
    if len(d) == 0:
        return 0.0
    return float(1.4826 * np.median(np.abs(d - np.median(d))) / np.sqrt(2.0))


def abrupt_drop(
    steps: Float[np.ndarray, " n"],
    loss: Float[np.ndarray, " n"],
    min_fall: float,
    *,
    noise_sigmas: float = 5.0,
    name: str = "",
    observable: str = "",
) -> Stage | None:
    """The largest drop of a loss curve, when it is a plateau followed by an abrupt fall; else ``None``.

    The drop is :func:`main_drop` of :func:`~bridge.stages.detectors.plateaus_and_drops` (log scale). It is
    absent when there is no drop; when it starts at the first sample (a curve falling from the start is a
    steady decline, not a plateau left abruptly); when the loss falls across it (the median of the samples up to its start minus the median from its end on) by less than ``min_fall``
    (in the loss's units, e.g. nats; state it on the task's scale, such as a fraction of ln V); or by less
    than ``noise_sigmas`` × :func:`noise_level` of the curve. Samples whose loss is not finite are left out.

    Args:
        steps, loss: the sampled curve, shape ``(n,)``, loss positive.
        min_fall: the smallest fall across the drop that counts.
        noise_sigmas: the smallest fall in units of the curve's noise.

    Raises:
        ValueError: ``min_fall`` or ``noise_sigmas`` below 0 or not a number.

    Examples:
        >>> t = np.arange(0.0, 2000.0, 50.0)
        >>> loss = np.where(t < 1000, 3.0, np.where(t < 1200, 3.0 * 0.03 ** ((t - 1000) / 200), 0.09))
        >>> drop = abrupt_drop(t, loss, min_fall=2.0)
        >>> drop.start, drop.end
        (1000.0, 1200.0)
        >>> abrupt_drop(t, 3.0 * np.exp(-t / 500), min_fall=2.0) is None  # falling from the start: no plateau
        True
    """
    for field, value in (("min_fall", min_fall), ("noise_sigmas", noise_sigmas)):
        if not value >= 0:  # also refuses nan, which no fall is less than
            raise ValueError(f"{field} must be a number >= 0, got {value}")
    t, y = np.asarray(steps, dtype=float), np.asarray(loss, dtype=float)
    drop = main_drop(plateaus_and_drops(t, y, name=name, observable=observable))
    t, y = t[np.isfinite(y)], y[np.isfinite(y)]  # as the detector leaves them out (a NaN median would pass every size check)
    if drop is None or drop.start <= t[0]:
        return None
    fall = float(np.median(y[t <= drop.start]) - np.median(y[t >= drop.end]))
    if fall < min_fall or fall < noise_sigmas * noise_level(y):
        return None
    return drop


def formation(
    steps: Float[np.ndarray, " n"], values: Float[np.ndarray, " n"], below: float, above: float, name: str = "", observable: str = ""
) -> Event | None:
    """Half-way point of a score that forms: it rises from below ``below`` to above ``above`` and ends above it.

    The event is :func:`~bridge.stages.detectors.half_rise` (from the first value to the maximum, first crossing);
    ``None`` (the score did not form) when :func:`rise_between` finds no rise between the two levels or the score
    ends at or below ``above`` (its last finite sample), e.g. a score that falls, stays flat, or rises and falls back.
    ``ValueError`` as :func:`rise_between` refuses the curve or the levels (``below > above``).

    Examples:
        >>> t = np.arange(0.0, 500.0, 100.0)
        >>> formation(t, np.array([0.05, 0.1, 0.6, 0.9, 0.95]), 0.2, 0.5).step
        180.0
        >>> formation(t, np.array([0.12, 0.1, 0.08, 0.06, 0.05]), 0.2, 0.5) is None  # falls: no head forms
        True
    """
    t, y = np.asarray(steps, dtype=float), np.asarray(values, dtype=float)
    if rise_between(t, y, below, above) is None or not y[np.isfinite(y)][-1] > above:  # the last measured score
        return None
    return half_rise(t, y, name=name, observable=observable)


def llc_boundary(
    steps: Float[np.ndarray, " n"], llc: Float[np.ndarray, " n"], during: tuple[float, float] | None = None, min_rise: float = 0.0
) -> tuple[Event | None, list[Stage]]:
    """Critical point of the LLC curve at a transition: the end of the LLC rise that goes with it.

    Rises are found with :func:`~bridge.stages.detectors.plateaus_and_drops` on
    ``−llc`` (linear scale, default thresholds). Each rise's end is a critical
    point (a stage boundary, where the growth stops); the boundary returned is
    the end of the largest rise overlapping ``during = (start, end)`` (a loss
    drop's window), or of the largest rise overall when ``during`` is ``None``;
    a rise smaller than ``min_rise`` (e.g. a few standard errors of the
    estimate) is noise and does not qualify; ``None`` when no rise qualifies.
    Its uncertainty is the sampling interval.

    A run with two stages (a first loss fall, a plateau, then the induction drop)
    has an LLC rise in each; the boundary of the induction drop is the end of the
    second, even when the first rise is larger.

    Args:
        steps, llc: the sampled curve, shape ``(n,)``.
        during: the window a rise must overlap.
        min_rise: the smallest increase of the LLC across a rise that counts.

    Raises:
        ValueError: ``min_rise`` not a number, ``during`` not ``(start, end)`` with ``start <= end``, or a curve
            :func:`~bridge.stages.detectors.plateaus_and_drops` refuses.

    Returns:
        ``(event, stages)``: the boundary (kind ``"critical_point"``) and every
        stage of the LLC curve (its rises have kind ``"drop"``: falls of ``−llc``).

    Examples:
        >>> t = np.arange(0.0, 2001.0, 100.0)
        >>> two_stages = 30 / (1 + np.exp(-(t - 500) / 40)) + 15 / (1 + np.exp(-(t - 1500) / 40))
        >>> llc_boundary(t, two_stages)[0].step, llc_boundary(t, two_stages, during=(1400, 1700))[0].step
        (600.0, 1600.0)
    """
    if not min_rise == min_rise:  # nan: no rise would qualify
        raise ValueError(f"min_rise must be a number, got {min_rise}")
    if during is not None and not during[0] <= during[1]:
        raise ValueError(f"during must be (start, end) with start <= end, got {tuple(during)}")
    t, y = np.asarray(steps, dtype=float), np.asarray(llc, dtype=float)
    stages = plateaus_and_drops(t, -y, name="LLC", observable="llc/mean", log=False)
    t, y = t[np.isfinite(y)], y[np.isfinite(y)]  # as the detector leaves them out
    rises = [
        s for s in stages
        if s.kind == "drop" and (during is None or (s.start <= during[1] and s.end >= during[0])) and np.interp(s.end, t, y) - np.interp(s.start, t, y) >= min_rise
    ]
    rise = main_drop(rises)
    if rise is None:
        return None, stages
    u = rise.end_uncertainty
    return Event("LLC stage boundary (end of rise)", rise.end, rise.end - u, rise.end + u, "llc/mean", "critical_point"), stages


__all__ = ["abrupt_drop", "drop_window", "formation", "llc_boundary", "main_drop", "noise_level", "rise_between", "stage_end"]
