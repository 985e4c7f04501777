"""Detectors for the edge of stability: the sharpness plateau, progressive sharpening, reaching 2/η, loss spikes,
oscillation, and the loss's trend on the plateau.

They read observables of :class:`~bridge.trackers.curvature.SharpnessTracker`
and the loss tracker and return :class:`~bridge.stages.detectors.Event` /
:class:`~bridge.stages.detectors.Stage` objects. None of them uses the predicted
threshold ``2/η``: the plateau is found from the sharpness curve alone, so
its level can be compared with the prediction.

A sharpness or loss sample whose value is not finite (an estimate that diverged
at that step) is not a measurement: :func:`sharpness_plateau`, :func:`edge_reached`
and :func:`first_increase` leave it out, as
:func:`~bridge.stages.detectors.half_rise` does, so it neither hides an event nor
moves it; with fewer than two finite samples they find nothing.

Examples:
    >>> import numpy as np
    >>> t = np.arange(300.0)
    >>> s = np.minimum(2 + t / 20, 10) + 0.1 * np.cos(np.pi * t)   # rises, then hovers at 10
    >>> stage = sharpness_plateau(t, s)
    >>> round(stage.change, 1), stage.start
    (9.9, 150.0)
    >>> sharpening(t, s, stage).step < stage.start
    True
"""

from __future__ import annotations

import numpy as np
from jaxtyping import Float
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import ArrayLike

from bridge.stages.detectors import Event, Stage, _as_arrays, _finite_curve, _interpolate, half_rise


def running_median(values: Float[ArrayLike, " n"], window: int) -> Float[np.ndarray, " n"]:
    """Centred running median with an odd ``window`` (edges use the nearest full window): ``(n,)`` to ``(n,)``.

    Raises:
        ValueError: ``window`` not a positive odd whole number, or ``values`` not 1-D.

    Examples:
        >>> running_median([1.0, 9.0, 2.0, 3.0, 4.0], 3).tolist()   # the spike at 9 is gone
        [2.0, 2.0, 3.0, 3.0, 3.0]
    """
    if not isinstance(window, int | np.integer) or isinstance(window, bool) or window < 1 or window % 2 == 0:
        raise ValueError(f"window must be a positive odd whole number, got {window!r}")
    y = np.asarray(values, dtype=float)
    if y.ndim != 1:
        raise ValueError(f"values must be 1-D, got shape {y.shape}")
    if window == 1 or len(y) < window:
        return y.copy()
    half = window // 2
    core = np.median(sliding_window_view(y, window), axis=1)
    return np.concatenate([np.full(half, core[0]), core, np.full(half, core[-1])])


def sharpness_plateau(
    steps: Float[np.ndarray, " n"],
    sharpness: Float[np.ndarray, " n"],
    *,
    tail: float = 1 / 3,
    reach: float = 0.95,
    window: int = 9,
    max_drift: float = 0.1,
    observable: str = "curvature/top_eig",
) -> Stage | None:
    """The final plateau of a sharpness curve, found without reference to any predicted level.

    The plateau level is the median over the last ``tail`` of training; the
    plateau starts at the first step where the running median (``window``
    samples) reaches ``reach`` × that level, and runs to the end. A candidate
    that still climbs (or sinks) is no plateau: its drift per step (difference of
    the medians of its two halves over the steps between their centres) must stay
    below ``max_drift`` × the mean rate at which the sharpness rose to it
    (``(level − first value) / (start − first step)``; without a rise before it,
    ``level / (last − first step)``).

    Returns:
        A :class:`Stage` (``kind="plateau"``, ``change`` = the median sharpness over
        the plateau), or ``None`` when the curve never reaches its tail level or is
        still moving there (a ramp cut off by the end of training). Samples whose value is
        not finite are left out, as :func:`~bridge.stages.detectors.half_rise` leaves them
        out (``None`` with fewer than two finite samples).

    Raises:
        ValueError: ``tail`` or ``reach`` outside (0, 1], ``max_drift`` below 0 or not a number, or ``window`` not
            a positive odd whole number (however short the curve).

    Examples:
        >>> t = np.arange(300.0)
        >>> sharpness_plateau(t, 2 + t / 20) is None      # still rising at the end: no plateau
        True
    """
    if not 0 < tail <= 1 or not 0 < reach <= 1 or not max_drift >= 0:  # a nan max_drift took every ramp for a plateau
        raise ValueError(f"tail and reach must be in (0, 1] and max_drift >= 0, got {tail}, {reach}, {max_drift}")
    running_median([], window)  # refuses an even window on a short curve too (it was cut to the curve's length)
    t, y = _finite_curve(steps, sharpness)
    if len(t) < 2:
        return None
    level = float(np.median(y[t >= t[-1] - tail * (t[-1] - t[0])]))
    smooth = running_median(y, min(window, len(y) - (len(y) % 2 == 0)))
    hits = np.nonzero(smooth >= reach * level)[0]
    if level <= 0 or len(hits) == 0:
        return None
    i = int(hits[0])
    median = float(np.median(y[i:]))
    if plateau_drift(t[i:], y[i:]) > max_drift * _rise_rate(t, y, i, median):
        return None
    dt = float(np.median(np.diff(t)))
    return Stage("sharpness plateau", float(t[i]), float(t[-1]), observable, "plateau", start_uncertainty=dt * (window // 2), change=median)


def plateau_drift(steps: Float[np.ndarray, " n"], values: Float[np.ndarray, " n"]) -> float:
    """|median of the second half − median of the first half| per step between the halves' centres (0 with < 2 samples).

    ``steps`` and ``values`` are 1-D of one length, ``steps`` finite and strictly increasing (else ``ValueError``).

    Examples:
        >>> round(plateau_drift(np.arange(101.0), np.arange(101.0) / 10), 12)
        0.1
    """
    t, y = _as_arrays(steps, values, min_samples=0)
    if len(y) < 2:
        return 0.0
    h = len(y) // 2
    span = float(np.median(t[h:]) - np.median(t[:h]))
    return float(abs(np.median(y[h:]) - np.median(y[:h])) / span) if span > 0 else 0.0


def _rise_rate(t: np.ndarray, y: np.ndarray, i: int, level: float) -> float:
    if t[i] > t[0] and level > y[0]:
        return float((level - y[0]) / (t[i] - t[0]))
    return float(abs(level) / (t[-1] - t[0]))


def edge_reached(
    steps: Float[np.ndarray, " n"], sharpness: Float[np.ndarray, " n"], edge: float, *, window: int = 9, observable: str = "curvature/top_eig"
) -> Event | None:
    """The step at which the sharpness, coming from below, reaches ``edge`` (e.g. the stability threshold 2/η).

    The crossing is read on the running median (``window`` samples), so isolated
    spikes of up to ``window // 2`` samples neither make nor move it.

    Returns:
        The event (``lo``/``hi``: the sampling interval of the crossing), or ``None``
        when the running median starts at or above ``edge`` (no approach from below)
        or never reaches it. Samples whose value is not finite are left out, as
        :func:`~bridge.stages.detectors.half_rise` leaves them out (``None`` with fewer
        than two finite samples).

    Raises:
        ValueError: ``edge`` not positive, or ``window`` not a positive odd whole number (however short the curve).

    Examples:
        >>> t = np.arange(100.0)
        >>> edge_reached(t, t / 10, 5.0).step
        50.0
        >>> edge_reached(t, 10 - t / 10, 5.0) is None, edge_reached(t, np.full(100, 4.9), 5.0) is None
        (True, True)
    """
    if not edge > 0:
        raise ValueError(f"edge must be positive, got {edge}")
    running_median([], window)  # refuses an even window on a short curve too
    t, y = _finite_curve(steps, sharpness)
    if len(t) < 2:
        return None
    smooth = running_median(y, min(window, len(y) - (len(y) % 2 == 0)))
    if smooth[0] >= edge:
        return None
    hits = np.nonzero(smooth >= edge)[0]
    if len(hits) == 0:
        return None
    i = int(hits[0])
    step = _interpolate(t[i - 1], t[i], smooth[i - 1], smooth[i], edge)
    return Event("sharpness reaches 2/η", step, float(t[i - 1]), float(t[i]), observable, "edge_reached")


def sharpening(steps: Float[np.ndarray, " n"], sharpness: Float[np.ndarray, " n"], plateau: Stage | None) -> Event | None:
    """Progressive sharpening: the half-rise of the sharpness from its start to the plateau level,
    detected on the curve before the plateau starts (``None`` when there is no such rise).

    Args:
        steps, sharpness: the sampled curve, shape ``(n,)``.
        plateau: from :func:`sharpness_plateau` (its ``change`` is the plateau level).

    Samples whose value is not finite are left out, as :func:`sharpness_plateau` leaves them out: the rise
    starts at the first finite sample (``None`` when that is already at the plateau level).

    Examples:
        >>> t = np.arange(100.0)
        >>> s = np.minimum(1 + t / 10, 5.0)   # rises from 1 to 5: half-way (3) at step 20
        >>> sharpening(t, s, sharpness_plateau(t, s)).step
        20.0
    """
    if plateau is None:
        return None
    t, y = _finite_curve(steps, sharpness)  # a missing first sample must not pass for a start below the plateau
    before = t <= plateau.start
    if before.sum() < 2 or y[0] >= plateau.change:
        return None
    event = half_rise(t[before], y[before], name="progressive sharpening (half-rise)", observable=plateau.observable, top=plateau.change)
    return event


def first_increase(steps: Float[np.ndarray, " n"], loss: Float[np.ndarray, " n"], rtol: float = 1e-4, observable: str = "loss/train") -> Event | None:
    """First step at which the loss rises above the previous sample by more than ``rtol`` (relative).

    Samples whose value is not finite are left out, as :func:`~bridge.stages.detectors.half_rise`
    leaves them out, so a rise is measured from the last finite sample before it (``None`` with
    fewer than two finite samples).

    Args:
        steps, loss: the sampled curve, shape ``(n,)``.
        rtol: the relative rise that counts, a finite number >= 0 (else ``ValueError``).

    Examples:
        >>> e = first_increase([0, 1, 2, 3], [1.0, 0.8, 0.9, 0.7])
        >>> e.step, (e.lo, e.hi)
        (2.0, (1.0, 2.0))
    """
    _check_rtol(rtol)
    t, y = _finite_curve(steps, loss)
    up = np.nonzero(y[1:] > y[:-1] * (1 + rtol))[0]
    if len(up) == 0:
        return None
    i = int(up[0]) + 1
    return Event("loss turns non-monotone", float(t[i]), float(t[i - 1]), float(t[i]), observable, "first_increase")


def _check_rtol(rtol: float) -> None:
    if not (np.isfinite(rtol) and rtol >= 0):  # nan would find no increase, a negative one would take a fall for one
        raise ValueError(f"rtol must be a finite number >= 0, got {rtol}")


def plateau_loss_trend(steps: Float[np.ndarray, " n"], loss: Float[np.ndarray, " n"], start: float, rtol: float = 1e-4) -> tuple[float, int]:
    """How the loss moves from step ``start`` on (on the plateau): ``(end / start ratio, rises)``.

    The ratio is the median of the last tenth of the samples over the median of
    the first tenth (below 1: the loss keeps falling; ``nan`` when either median is not
    finite, as the fall is not measured); ``rises`` counts samples above the previous one
    by more than ``rtol`` (relative; above 0: non-monotone).

    Examples:
        >>> t = np.arange(100.0)
        >>> ratio, rises = plateau_loss_trend(t, np.exp(-t / 50) * (1 + 0.1 * (t % 2)), start=40)
        >>> round(ratio, 3), rises
        (0.34, 30)
    """
    _check_rtol(rtol)
    t, y = _as_arrays(steps, loss)
    on = y[t >= start]
    if len(on) < 2:
        raise ValueError(f"need at least two loss samples from step {start:g} on, got {len(on)}")
    k = max(len(on) // 10, 1)
    head, tail = np.median(on[:k]), np.median(on[-k:])
    ratio = float(tail / head) if np.isfinite(head) and np.isfinite(tail) else float("nan")  # an infinite start read as a fall of 100 %
    return ratio, int(np.sum(on[1:] > on[:-1] * (1 + rtol)))


def loss_climb(steps: Float[np.ndarray, " n"], loss: Float[np.ndarray, " n"], start: float) -> float:
    """How far the loss climbs back on short horizons, relative to its net fall, from step ``start`` on.

    The sum of every one-sample rise of the loss, divided by its net fall (median
    of the first tenth of the samples − median of the last tenth): 0 for a
    monotone fall, above 1 when the loss's step-to-step climbs add up to more
    than it loses over the whole stretch; ``inf`` when it rises somewhere but does not fall
    overall; 0 when it never rises (a flat loss does not go up and down); ``nan`` when a
    loss sample from ``start`` on is not finite (its rises and fall are not measured).

    Examples:
        >>> t = np.arange(100.0)
        >>> round(loss_climb(t, np.exp(-t / 50), start=0), 6)
        0.0
        >>> round(loss_climb(t, np.exp(-t / 50) * (1 + 0.1 * (t % 2)), start=0), 2)   # a 10% zigzag on the fall
        2.16
        >>> loss_climb(t, np.where(t < 95, np.exp(-t / 50), np.nan), start=0)   # diverged at the end: not a number, not "no fall"
        nan
        >>> loss_climb(t, np.full(100, 0.3), start=0), loss_climb(t, 0.3 + 0.01 * (t % 2), start=0)   # flat: no climb; up and down without a fall
        (0.0, inf)
    """
    t, y = _as_arrays(steps, loss)
    on = y[t >= start]
    if len(on) < 2:
        raise ValueError(f"need at least two loss samples from step {start:g} on, got {len(on)}")
    if not np.all(np.isfinite(on)):
        return float("nan")
    k = max(len(on) // 10, 1)
    fall = float(np.median(on[:k]) - np.median(on[-k:]))
    rises = float(np.clip(np.diff(on), 0, None).sum())
    if fall > 0:
        return rises / fall
    return float("inf") if rises > 0 else 0.0  # 0/0 on a flat loss is no climb, not an infinite one


def _require_every_step(t: np.ndarray) -> None:
    if np.any(np.diff(t) != 1):
        raise ValueError("oscillation detectors need the observable at every step (track_every=1)")


def oscillation_onset(
    steps: Float[np.ndarray, " n"], cosine: Float[np.ndarray, " n"], level: float = 0.5, run: int = 4, observable: str = "curvature/grad_cosine"
) -> Event | None:
    """Onset of period-2 oscillation along the top eigenvector.

    The first step at which ``|cos(g, v₁)| >= level`` and the sign of ``g · v₁``
    has alternated over the last ``run`` consecutive steps (``cosine`` is
    ``curvature/grad_cosine`` sampled at every step, shape ``(n,)``).

    Examples:
        >>> t = np.arange(10.0)
        >>> c = np.where(t < 4, 0.05, 0.8 * (-1.0) ** t)   # flips sign from step 5 on
        >>> e = oscillation_onset(t, c)   # the third flip in a row
        >>> e.step, e.lo
        (7.0, 4.0)
    """
    if not isinstance(run, int | np.integer) or isinstance(run, bool) or run < 1:  # run <= 0 read samples from the curve's end
        raise ValueError(f"run must be a whole number >= 1, got {run!r}")
    if not 0 <= level <= 1:  # a |cosine|; nan found no onset on any curve
        raise ValueError(f"level must lie in [0, 1] (a |cosine|), got {level}")
    t, c = _as_arrays(steps, cosine)
    _require_every_step(t)
    flips = np.concatenate([[False], np.sign(c[1:]) * np.sign(c[:-1]) < 0])
    for i in range(run - 1, len(c)):
        if abs(c[i]) >= level and flips[i - run + 2 : i + 1].all():
            return Event("oscillation along top eigenvector", float(t[i]), float(t[i - run + 1]), float(t[i]), observable, "oscillation_onset")
    return None


def alternation_fraction(steps: Float[np.ndarray, " n"], cosine: Float[np.ndarray, " n"]) -> float:
    """Share of consecutive steps where ``g · v₁`` changes sign (1: pure period-2 oscillation, ~0.5: none).

    A cosine that is not finite is no measurement: the two pairs of consecutive steps it belongs to are left
    out of the count and of the pairs counted (as the module leaves such samples out), so a missing sample
    neither reads as "no flip" nor pairs two steps that are not consecutive. ``nan`` when no pair of
    consecutive steps has two finite cosines.

    Args:
        steps, cosine: ``curvature/grad_cosine`` at every step, shape ``(n,)``.

    Examples:
        >>> t = np.arange(5.0)
        >>> alternation_fraction(t, [0.5, -0.5, 0.5, -0.5, 0.5]), alternation_fraction(t, [0.5, 0.5, -0.5, -0.5, 0.5])
        (1.0, 0.5)
        >>> alternation_fraction(t, [0.5, -0.5, np.nan, -0.5, 0.5]), alternation_fraction(t[:2], [0.5, np.nan])
        (1.0, nan)
    """
    t, c = _as_arrays(steps, cosine)
    _require_every_step(t)
    measured = np.isfinite(c[1:]) & np.isfinite(c[:-1])  # an infinite cosine is no measurement either (|cos| <= 1)
    if not measured.any():
        return float("nan")
    return float(np.mean((np.sign(c[1:]) * np.sign(c[:-1]) < 0)[measured]))


def oscillation_share(steps: Float[np.ndarray, " n"], cosine: Float[np.ndarray, " n"], floor: float) -> float:
    """Share of consecutive steps where ``g · v₁`` flips sign *and* ``|cos(g, v₁)| >= floor`` at both.

    :func:`alternation_fraction` counts sign flips of any size, so a gradient with
    no component along v₁ beyond noise can score high; here a flip counts only
    when the gradient really points along v₁ (``floor``: e.g. a few times
    ``1/√P``, the spread of the cosine between a random direction and v₁ among
    ``P`` parameters). 1: a period-2 oscillation at every step; 0: none. A cosine that
    is not finite (no cosine is) is no flip.

    Examples:
        >>> t = np.arange(6.0)
        >>> oscillation_share(t, 0.9 * (-1.0) ** t, floor=0.1), oscillation_share(t, 1e-3 * (-1.0) ** t, floor=0.1)
        (1.0, 0.0)
    """
    if not floor >= 0:  # nan counted no flip at all
        raise ValueError(f"floor must be >= 0, got {floor}")
    t, c = _as_arrays(steps, cosine)
    _require_every_step(t)
    big = np.isfinite(c) & (np.abs(c) >= floor)  # an infinite cosine is no measurement (|cos| <= 1): not a flip
    return float(np.mean((np.sign(c[1:]) * np.sign(c[:-1]) < 0) & big[1:] & big[:-1]))


__all__ = [
    "alternation_fraction",
    "edge_reached",
    "first_increase",
    "loss_climb",
    "oscillation_onset",
    "oscillation_share",
    "plateau_drift",
    "plateau_loss_trend",
    "running_median",
    "sharpening",
    "sharpness_plateau",
]
