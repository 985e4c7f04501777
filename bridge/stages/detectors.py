"""Detectors that turn an observable (a sampled curve) into events and stages.

An :class:`Event` is a point in training time with an uncertainty interval
(the sampling bracket it was located in, widened by any smoothing); a
:class:`Stage` is an interval, e.g. a loss plateau or a drop.

A sample whose value is not finite (an estimate whose chains diverged at that
checkpoint) is not a measurement: :func:`threshold_crossing`,
:func:`settled_crossing`, :func:`half_rise` and :func:`plateaus_and_drops` leave it
out before they look for an event, so it neither counts as beyond a level nor
hides a crossing; with fewer than two finite samples they find nothing.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from jaxtyping import Float

from bridge.stages.levels import half_way


@dataclass(frozen=True)
class Event:
    """A detected point in training time.

    Attributes:
        name: what happened (``"mode 0 half-rise"``).
        step: the detected step (interpolated, so possibly fractional).
        lo, hi: uncertainty interval in steps (``lo <= step <= hi``).
        observable: the observable it was detected on.
        kind: the detector (``"half_rise"``, ``"threshold"``, ``"drop"`` ...).

    Examples:
        >>> e = Event("accuracy crosses 0.7", step=15.0, lo=10.0, hi=20.0, observable="accuracy", kind="threshold")
        >>> e.hi - e.lo, e.to_dict()["type"]
        (10.0, 'event')
    """

    name: str
    step: float
    lo: float
    hi: float
    observable: str = ""
    kind: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"type": "event", **asdict(self)}


@dataclass(frozen=True)
class Stage:
    """An interval of training time (``start`` to ``end``) with the same uncertainty convention.

    Attributes:
        name: what the interval is (``"loss drop"``).
        start, end: its first and last step.
        observable, kind: as in :class:`Event` (``kind`` e.g. ``"plateau"``, ``"drop"``).
        start_uncertainty, end_uncertainty: the sampling interval, in steps, at each boundary.
        change: the observable's change over the stage, end − start (of the log-loss for
            :func:`plateaus_and_drops` with ``log``).

    Examples:
        >>> t = np.arange(100.0)
        >>> loss = np.where(t < 40, 2.0, np.where(t < 50, 2.0 * 0.5 ** ((t - 40) / 2), 0.0625))
        >>> drop = plateaus_and_drops(t, loss)[1]
        >>> drop.kind, drop.start, drop.end, round(drop.change, 4)   # ln(0.0625 / 2) = −5 ln 2
        ('drop', 40.0, 50.0, -3.4657)
    """

    name: str
    start: float
    end: float
    observable: str = ""
    kind: str = ""
    start_uncertainty: float = 0.0
    end_uncertainty: float = 0.0
    change: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"type": "stage", **asdict(self)}


def _as_arrays(steps: Any, values: Any, min_samples: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """The curve as float arrays, checked: 1-D, one length, at least ``min_samples`` samples, finite increasing steps."""
    t = np.asarray(steps, dtype=float)
    y = np.asarray(values, dtype=float)
    if t.ndim != 1 or t.shape != y.shape:
        raise ValueError(f"steps and values must be 1-D of one length, got {t.shape} and {y.shape}")
    if not np.isfinite(t).all():
        raise ValueError("steps must be finite")
    back = np.flatnonzero(np.diff(t) <= 0)
    if len(back):
        i = int(back[0]) + 1
        raise ValueError(f"steps must be strictly increasing, got step {t[i]:g} at position {i} after {t[i - 1]:g}")
    if len(t) < min_samples:
        raise ValueError(f"steps and values need at least {min_samples} sample{'s' if min_samples > 1 else ''}, got {len(t)}")
    return t, y


def _finite_curve(steps: Any, values: Any) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_as_arrays` without the samples whose value is not finite (possibly fewer than two)."""
    t, y = _as_arrays(steps, values)
    keep = np.isfinite(y)
    return t[keep], y[keep]


def _crossing(t: np.ndarray, y: np.ndarray, level: float, up: bool, last: bool = False) -> tuple[float, float, float] | None:
    """``(step, lo, hi)`` of the first crossing of ``level`` (``last``: the crossing after which ``y`` stays beyond it)."""
    above = y >= level if up else y <= level
    if last:
        if not above[-1]:
            return None
        behind = np.nonzero(~above)[0]
        i = int(behind[-1]) + 1 if len(behind) else 0
    else:
        hits = np.nonzero(above)[0]
        if len(hits) == 0:
            return None
        i = int(hits[0])
    if i == 0:
        return float(t[0]), float(t[0]), float(t[0])
    return _interpolate(t[i - 1], t[i], y[i - 1], y[i], level), float(t[i - 1]), float(t[i])


def _interpolate(t0: float, t1: float, y0: float, y1: float, level: float) -> float:
    """The step in ``[t0, t1]`` where the line from ``(t0, y0)`` to ``(t1, y1)`` meets ``level`` (``y0`` short of it).

    A level met at the sample is met at its step exactly (``t0 + 1.0 · (t1 − t0)`` can round past ``t1``), and no
    rounding puts the step outside the bracket. Values near ±1e308 whose difference overflows are halved first,
    and so are steps whose span overflows (``y1 − y0 = inf`` put the step at ``t0``).
    """
    t0, t1, y0, y1, level = float(t0), float(t1), float(y0), float(y1), float(level)
    if y1 == level:
        return t1
    rise = y1 - y0  # |level − y0| <= |y1 − y0|: finite when this is
    fraction = (level - y0) / rise if math.isfinite(rise) else (level / 2 - y0 / 2) / (y1 / 2 - y0 / 2)
    span = t1 - t0
    step = t0 + fraction * span if math.isfinite(span) else 2 * (t0 / 2 + fraction * (t1 / 2 - t0 / 2))
    return min(max(step, t0), t1)


def threshold_crossing(
    steps: Float[np.ndarray, " n"], values: Float[np.ndarray, " n"], threshold: float, direction: str = "up", name: str = "", observable: str = ""
) -> Event | None:
    """First step at which ``values`` crosses ``threshold`` (linear interpolation), or ``None``.

    A ``threshold`` that is not a number (a level read off a diverged estimate) is never reached: ``None``.

    Examples:
        >>> threshold_crossing([0, 10, 20], [0.0, 0.4, 1.0], 0.7).step
        15.0
    """
    if direction not in ("up", "down"):
        raise ValueError(f"direction must be 'up' or 'down', got {direction!r}")
    t, y = _finite_curve(steps, values)
    hit = _crossing(t, y, threshold, direction == "up") if len(t) >= 2 else None
    if hit is None:
        return None
    return Event(name or f"{observable} crosses {threshold:g}", hit[0], hit[1], hit[2], observable, "threshold")


def settled_crossing(
    steps: Float[np.ndarray, " n"], values: Float[np.ndarray, " n"], threshold: float, direction: str = "up", name: str = "", observable: str = "", blip: int = 0
) -> Event | None:
    """The crossing of ``threshold`` after which ``values`` stay beyond it, or ``None``.

    A noisy observable (an SGLD estimate at each checkpoint) can cross a level by
    chance before its real transition; the settling crossing ignores such excursions.
    ``None`` when the values end short of ``threshold`` or never were short of it.
    ``blip``: a later excursion back short of ``threshold`` that lasts at most this many
    samples, after which the values return beyond it, does not unsettle them (a one-step
    training spike is not forgetting).

    Raises:
        ValueError: ``direction`` not ``"up"``/``"down"``, or a ``blip`` that is not a whole number >= 0.

    Examples:
        >>> settled_crossing([0, 10, 20, 30, 40], [0.0, 0.8, 0.2, 0.8, 1.0], 0.5).step  # not the chance crossing at 5
        25.0
        >>> settled_crossing([0, 10, 20], [1.0, 0.6, 0.2], 0.4, "down").step
        15.0
        >>> settled_crossing([0, 10, 20, 30, 40], [1.0, 0.2, 0.1, 0.9, 0.1], 0.5, "down", blip=1).step  # the spike at 30 is a blip
        6.25
    """
    if direction not in ("up", "down"):
        raise ValueError(f"direction must be 'up' or 'down', got {direction!r}")
    if not isinstance(blip, int | np.integer) or isinstance(blip, bool) or blip < 0:
        raise ValueError(f"blip must be a whole number >= 0, got {blip!r}")
    t, y = _finite_curve(steps, values)
    if len(t) < 2:
        return None
    mask = y < threshold if direction == "up" else y > threshold
    if blip > 0:
        edges = np.flatnonzero(np.diff(np.concatenate(([0], mask.astype(np.int8), [0]))))
        for a, b in zip(edges[::2], edges[1::2]):  # runs [a, b) of samples short of the threshold
            if a > 0 and b < len(mask) and b - a <= blip:
                mask[a:b] = False
    short = np.nonzero(mask)[0]
    if len(short) == 0 or short[-1] == len(t) - 1:
        return None
    start = int(short[-1])
    hit = _crossing(t[start:], y[start:], threshold, direction == "up")
    if hit is None:
        return None
    return Event(name or f"{observable} settles beyond {threshold:g}", hit[0], hit[1], hit[2], observable, "settled")


def half_rise(
    steps: Float[np.ndarray, " n"],
    values: Float[np.ndarray, " n"],
    name: str = "",
    observable: str = "",
    baseline: float | None = None,
    top: float | None = None,
    crossing: str = "first",
) -> Event | None:
    """Step at which a rising (or falling) curve is half-way from its start to its extreme.

    Args:
        steps, values: the sampled curve, shape ``(n,)``.
        baseline: the starting value (default: ``values[0]``).
        top: the value the curve rises (or falls) to, which also sets the
            direction (default: its maximum, or its minimum when the curve
            ends below its start).
        crossing: ``"first"``: the first time the curve gets half-way;
            ``"last"``: the time after which it stays beyond half-way, so a
            transient excursion earlier in training is not taken for the rise
            (the same step on a monotone curve).

    Returns:
        The event, or ``None`` when the curve never moves (with ``"last"``:
        also when it does not end beyond half-way).

    Raises:
        ValueError: ``crossing`` not ``"first"``/``"last"``, a ``baseline`` or ``top`` that is not finite, or a
            curve that is not one (steps not finite and strictly increasing, or of another length than the values).

    Examples:
        >>> half_rise([0, 1, 2, 3], [0.0, 0.2, 0.8, 1.0]).step
        1.5
        >>> bump = [0.0, 1.0, 0.1, 0.2, 0.8, 1.0]       # a transient bump at step 1, the rise at 3-4
        >>> half_rise(range(6), bump).step, half_rise(range(6), bump, crossing="last").step
        (0.5, 3.5)
    """
    if crossing not in ("first", "last"):
        raise ValueError(f"crossing must be 'first' or 'last', got {crossing!r}")
    _check_levels(baseline=baseline, top=top)
    t, y = _finite_curve(steps, values)
    if len(t) < 2:
        return None
    start = y[0] if baseline is None else baseline
    up = bool(y[-1] >= start) if top is None else bool(top >= start)
    extreme = (y.max() if up else y.min()) if top is None else top
    if extreme == start:
        return None
    hit = _crossing(t, y, half_way(start, extreme), up, last=crossing == "last")
    if hit is None:
        return None
    return Event(name or f"{observable} half-rise", hit[0], hit[1], hit[2], observable, "half_rise")


def _check_levels(**levels: float | None) -> None:
    """Refuse a given level that is not finite (half-way to ±inf is beyond every sample: an event at the first step)."""
    for field, value in levels.items():
        if value is not None and not np.isfinite(value):
            raise ValueError(f"{field} must be a finite number, got {value}")


def _smooth(y: np.ndarray, window: int) -> np.ndarray:
    if window <= 1:
        return y
    pad = window // 2
    padded = np.pad(y, pad, mode="edge")
    return np.array([np.median(padded[i : i + window]) for i in range(len(y))])


def plateaus_and_drops(
    steps: Float[np.ndarray, " n"],
    values: Float[np.ndarray, " n"],
    name: str = "",
    observable: str = "",
    log: bool = True,
    drop_fraction: float = 0.25,
    min_change: float = 0.1,
    smooth: int = 3,
) -> list[Stage]:
    """Split a loss curve into plateaus and drops (change points of its slope).

    A drop is a maximal run of sampling intervals over which the (log-)loss
    falls faster per step than ``drop_fraction`` of its steepest rate and falls
    by at least ``min_change`` in total (nats when ``log``); plateaus are the
    stretches between drops. The steepest rate is measured over spans of at
    least the median sampling interval, so that on a grid with dense early
    checkpoints (1, 2, 3, 5, …, then every 250 steps) a fall over a few early
    steps does not set it and the same curve gives the same drops however it
    is sampled. Uncertainties are the sampling intervals at each
    boundary. A sample much closer to its predecessor than the spacing around it
    (a log-spaced checkpoint beside a regular one: 250, 252, 300) is left out, so
    that a rate over two noisy steps does not set the steepest rate.

    Returns:
        Stages in time order, each named ``"{name} plateau"`` or ``"{name} drop"``
        with ``change`` the (log-)loss difference end − start.

    Raises:
        ValueError: ``drop_fraction`` outside (0, 1], a negative ``min_change``, or ``smooth``
            not an odd positive integer (a median window centred on each sample).

    Examples:
        >>> t = np.arange(100.0)
        >>> loss = np.where(t < 40, 2.0, np.where(t < 50, 2.0 * 0.5 ** ((t - 40) / 2), 0.0625))
        >>> [(s.kind, s.start, s.end) for s in plateaus_and_drops(t, loss)]
        [('plateau', 0.0, 40.0), ('drop', 40.0, 50.0), ('plateau', 50.0, 99.0)]
    """
    if not 0.0 < drop_fraction <= 1.0:
        raise ValueError(f"drop_fraction must lie in (0, 1], got {drop_fraction}")
    if not min_change >= 0.0:
        raise ValueError(f"min_change must be >= 0, got {min_change}")
    if not isinstance(smooth, int | np.integer) or isinstance(smooth, bool) or smooth < 1 or smooth % 2 == 0:
        raise ValueError(f"smooth must be an odd positive integer (a centred median window), got {smooth!r}")
    t, y = _finite_curve(steps, values)
    if len(t) < 2:
        return []
    if log:
        if np.any(y <= 0):
            raise ValueError("log=True needs positive values")
        y = np.log(y)
    t, y = _without_near_duplicates(t, y)
    y = _smooth(y, smooth)
    rate = -np.diff(y) / np.diff(t)
    peak = _steepest_rate(t, y)
    label = name or observable or "loss"
    if peak <= 0:
        return [_stage(f"{label} plateau", t, y, 0, len(t) - 1, observable, "plateau")]
    steep = rate > drop_fraction * peak
    stages: list[Stage] = []
    i, cursor = 0, 0
    while i < len(rate):
        if not steep[i]:
            i += 1
            continue
        j = i
        while j + 1 < len(rate) and steep[j + 1]:
            j += 1
        change = y[j + 1] - y[i]
        if -change >= min_change:
            if i > cursor:
                stages.append(_stage(f"{label} plateau", t, y, cursor, i, observable, "plateau"))
            stages.append(_stage(f"{label} drop", t, y, i, j + 1, observable, "drop"))
            cursor = j + 1
        i = j + 1
    if cursor < len(t) - 1:
        stages.append(_stage(f"{label} plateau", t, y, cursor, len(t) - 1, observable, "plateau"))
    return stages


def _steepest_rate(t: np.ndarray, y: np.ndarray) -> float:
    """The largest fall per step of ``y`` over spans of at least the median sampling interval, shape ``(n,)`` each.

    Each span starts at a sample and ends at the first sample at least the median
    interval later (the last sample at the end of the curve); on an evenly spaced
    grid the spans are the sampling intervals.
    """
    n = len(t)
    ends = np.clip(np.searchsorted(t, t[:-1] + np.median(np.diff(t))), np.arange(1, n), n - 1)
    return float(np.max((y[:-1] - y[ends]) / (t[ends] - t[:-1])))


def _without_near_duplicates(t: np.ndarray, y: np.ndarray, ratio: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Leave out samples closer to their predecessor than ``ratio`` of the spacings on both sides.

    A log-spaced checkpoint two steps after a regular one (250, 252) gives a rate
    over two steps whose noise is 25 times that of its neighbours'; as the
    steepest rate it would set the drop threshold. Log-spaced runs (1, 2, 4, 8)
    keep every sample.
    """
    gap = np.diff(t)
    keep = np.ones(len(t), dtype=bool)
    for i in range(1, len(t) - 1):
        around = gap[i] if i == 1 else min(gap[i - 2], gap[i])
        keep[i] = gap[i - 1] >= ratio * around
    return t[keep], y[keep]


def _stage(name: str, t: np.ndarray, y: np.ndarray, a: int, b: int, observable: str, kind: str) -> Stage:
    return Stage(name, float(t[a]), float(t[b]), observable, kind, _gap(t, a), _gap(t, b), float(y[b] - y[a]))


def _gap(t: np.ndarray, i: int) -> float:
    left = t[i] - t[i - 1] if i > 0 else 0.0
    right = t[i + 1] - t[i] if i + 1 < len(t) else 0.0
    return float(max(left, right))
