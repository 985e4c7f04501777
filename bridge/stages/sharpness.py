"""Detectors for the edge of stability: the sharpness plateau, progressive sharpening, loss spikes, oscillation,
and the loss's trend on the plateau.

They read observables of :class:`~bridge.trackers.curvature.SharpnessTracker`
and the loss tracker and return :class:`~bridge.stages.detectors.Event` /
:class:`~bridge.stages.detectors.Stage` objects. None of them uses the predicted
threshold ``2/η``: the plateau is found from the sharpness curve alone, so
its level can be compared with the prediction.

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

from bridge.stages.detectors import Event, Stage, _as_arrays, half_rise


def running_median(values: Float[np.ndarray, " n"], window: int) -> Float[np.ndarray, " n"]:
    """Centred running median with an odd ``window`` (edges use the nearest full window)."""
    if window < 1 or window % 2 == 0:
        raise ValueError(f"window must be a positive odd number, got {window}")
    y = np.asarray(values, dtype=float)
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
    observable: str = "curvature/top_eig",
) -> Stage | None:
    """The final plateau of a sharpness curve, found without reference to any predicted level.

    The plateau level is the median over the last ``tail`` of training; the
    plateau starts at the first step where the running median (``window``
    samples) reaches ``reach`` × that level, and runs to the end.

    Returns:
        A :class:`Stage` (``kind="plateau"``, ``change`` = the median sharpness over
        the plateau), or ``None`` when the curve never reaches its tail level.
    """
    if not 0 < tail <= 1 or not 0 < reach <= 1:
        raise ValueError(f"tail and reach must be in (0, 1], got {tail}, {reach}")
    t, y = _as_arrays(steps, sharpness)
    level = float(np.median(y[t >= t[-1] - tail * (t[-1] - t[0])]))
    smooth = running_median(y, min(window, len(y) - (len(y) % 2 == 0)))
    hits = np.nonzero(smooth >= reach * level)[0]
    if level <= 0 or len(hits) == 0:
        return None
    i = int(hits[0])
    median = float(np.median(y[i:]))
    dt = float(np.median(np.diff(t)))
    return Stage("sharpness plateau", float(t[i]), float(t[-1]), observable, "plateau", start_uncertainty=dt * (window // 2), change=median)


def sharpening(steps: Float[np.ndarray, " n"], sharpness: Float[np.ndarray, " n"], plateau: Stage | None) -> Event | None:
    """Progressive sharpening: the half-rise of the sharpness from its start to the plateau level,
    detected on the curve before the plateau starts (``None`` when there is no such rise)."""
    if plateau is None:
        return None
    t, y = _as_arrays(steps, sharpness)
    before = t <= plateau.start
    if before.sum() < 2 or y[0] >= plateau.change:
        return None
    event = half_rise(t[before], y[before], name="progressive sharpening (half-rise)", observable=plateau.observable, top=plateau.change)
    return event


def first_increase(steps: Float[np.ndarray, " n"], loss: Float[np.ndarray, " n"], rtol: float = 1e-4, observable: str = "loss/train") -> Event | None:
    """First step at which the loss rises above the previous sample by more than ``rtol`` (relative)."""
    t, y = _as_arrays(steps, loss)
    up = np.nonzero(y[1:] > y[:-1] * (1 + rtol))[0]
    if len(up) == 0:
        return None
    i = int(up[0]) + 1
    return Event("loss turns non-monotone", float(t[i]), float(t[i - 1]), float(t[i]), observable, "first_increase")


def plateau_loss_trend(steps: Float[np.ndarray, " n"], loss: Float[np.ndarray, " n"], start: float, rtol: float = 1e-4) -> tuple[float, int]:
    """How the loss moves from step ``start`` on (on the plateau): ``(end / start ratio, rises)``.

    The ratio is the median of the last tenth of the samples over the median of
    the first tenth (below 1: the loss keeps falling); ``rises`` counts samples
    above the previous one by more than ``rtol`` (relative; above 0: non-monotone).

    Examples:
        >>> t = np.arange(100.0)
        >>> ratio, rises = plateau_loss_trend(t, np.exp(-t / 50) * (1 + 0.1 * (t % 2)), start=40)
        >>> round(ratio, 3), rises
        (0.34, 30)
    """
    t, y = _as_arrays(steps, loss)
    on = y[t >= start]
    if len(on) < 2:
        raise ValueError(f"need at least two loss samples from step {start:g} on, got {len(on)}")
    k = max(len(on) // 10, 1)
    ratio = float(np.median(on[-k:]) / np.median(on[:k]))
    return ratio, int(np.sum(on[1:] > on[:-1] * (1 + rtol)))


def _require_every_step(t: np.ndarray) -> None:
    if np.any(np.diff(t) != 1):
        raise ValueError("oscillation detectors need the observable at every step (track_every=1)")


def oscillation_onset(
    steps: Float[np.ndarray, " n"], cosine: Float[np.ndarray, " n"], level: float = 0.5, run: int = 4, observable: str = "curvature/grad_cosine"
) -> Event | None:
    """Onset of period-2 oscillation along the top eigenvector.

    The first step at which ``|cos(g, v₁)| >= level`` and the sign of ``g · v₁``
    has alternated over the last ``run`` consecutive steps (``cosine`` is
    ``curvature/grad_cosine`` sampled at every step).
    """
    t, c = _as_arrays(steps, cosine)
    _require_every_step(t)
    flips = np.concatenate([[False], np.sign(c[1:]) * np.sign(c[:-1]) < 0])
    for i in range(run - 1, len(c)):
        if abs(c[i]) >= level and flips[i - run + 2 : i + 1].all():
            return Event("oscillation along top eigenvector", float(t[i]), float(t[i - run + 1]), float(t[i]), observable, "oscillation_onset")
    return None


def alternation_fraction(steps: Float[np.ndarray, " n"], cosine: Float[np.ndarray, " n"]) -> float:
    """Share of consecutive steps where ``g · v₁`` changes sign (1: pure period-2 oscillation, ~0.5: none)."""
    t, c = _as_arrays(steps, cosine)
    _require_every_step(t)
    return float(np.mean(np.sign(c[1:]) * np.sign(c[:-1]) < 0))


__all__ = ["alternation_fraction", "first_increase", "oscillation_onset", "plateau_loss_trend", "running_median", "sharpening", "sharpness_plateau"]
