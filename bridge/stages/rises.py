"""A rise that really happened: the half-rise of a curve that moves the right way, beyond its noise, and stays.

:func:`~bridge.stages.detectors.half_rise` finds a half-way point on any curve
that moves at all, so a flat curve with one wiggle, a falling curve or pure
noise each get an event. :func:`sustained_rise` says *absent* (``None``) unless
the curve makes the move:

- **direction**: its final level (median of its last samples) lies beyond its
  start in the requested direction;
- **size against noise**: that change exceeds ``snr`` times the curve's own
  sampling noise (the robust spread of its residuals from a centred running
  median, which is zero on any monotone curve) and at least ``min_change``;
- **final level**: the curve ends beyond half-way to ``top`` and stays there
  (the crossing after which it no longer falls back).

Examples:
    >>> import numpy as np
    >>> t = np.arange(0.0, 200.0, 5.0)
    >>> sigmoid = 1 / (1 + np.exp(-(t - 100) / 10))
    >>> round(sustained_rise(t, sigmoid).step, 1)
    100.0
    >>> sustained_rise(t, sigmoid[::-1]) is None, sustained_rise(t, np.full(len(t), 0.3)) is None
    (True, True)
"""

from __future__ import annotations

import numpy as np
from jaxtyping import Float
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import ArrayLike

from bridge.stages.detectors import Event, _check_levels, _crossing, _finite_curve
from bridge.stages.levels import half_way

MAD_TO_SD = 1.4826  # median absolute deviation of a Gaussian, in standard deviations


def residual_noise(values: Float[ArrayLike, " n"], window: int = 5) -> float:
    """Robust standard deviation of a curve's residuals from its centred running median.

    Only interior samples (a full window around them) count. A monotone curve,
    however steep, has zero residual noise: the centred median of a monotone
    window is its middle sample. A sample that is not finite is no measurement
    and is left out, as :func:`sustained_rise` leaves it out.

    Args:
        values: the curve, shape ``(n,)``.
        window: odd window of the running median.

    Returns:
        ``1.4826 · median |y_i − median(y_{i−h..i+h})|`` (0 with fewer than ``window`` finite samples).

    Raises:
        ValueError: ``window`` not an odd whole number >= 3, or ``values`` not 1-D.

    Examples:
        >>> residual_noise(np.arange(10.0) ** 2)
        0.0
    """
    if not isinstance(window, int | np.integer) or isinstance(window, bool) or window < 3 or window % 2 == 0:
        raise ValueError(f"window must be an odd whole number >= 3, got {window!r}")
    y = np.asarray(values, dtype=float)
    if y.ndim != 1:
        raise ValueError(f"values must be 1-D, got shape {y.shape}")
    y = y[np.isfinite(y)]  # a NaN made the noise NaN, an inf a residual of inf beside finite ones
    if len(y) < window:
        return 0.0
    half = window // 2
    centre = np.median(sliding_window_view(y, window), axis=1)
    return float(MAD_TO_SD * np.median(np.abs(y[half : len(y) - half] - centre)))


def sustained_rise(
    steps: Float[np.ndarray, " n"],
    values: Float[np.ndarray, " n"],
    name: str = "",
    observable: str = "",
    *,
    direction: str = "up",
    baseline: float | None = None,
    top: float | None = None,
    min_change: float = 0.0,
    snr: float = 5.0,
    window: int = 5,
    tail: int = 3,
) -> Event | None:
    """Half-way step of a rise (or fall) that moved the right way, beyond noise, and stayed; else ``None``.

    Args:
        steps, values: the sampled curve, shape ``(n,)``.
        name, observable: the event's name and the observable it is detected on.
        direction: ``"up"`` (a rise) or ``"down"`` (a fall).
        baseline: the starting level (default: ``values[0]``).
        top: the level the curve moves to (default: its extreme in ``direction``);
            give the task's own scale here (a mode's singular value) so that a
            curve stopping short of it has no half-way step.
        min_change: the smallest change (final level − start, in ``direction``) that counts.
        snr: the change must exceed ``snr`` × :func:`residual_noise`.
        window: window of the running median that measures the noise.
        tail: the final level is the median of the last ``tail`` samples.

    Returns:
        The event at the crossing of half-way after which the curve stays beyond it
        (``lo``/``hi``: the sampling interval), or ``None`` when the curve does not
        make the move. Samples whose value is not finite are left out, as
        :func:`~bridge.stages.detectors.half_rise` leaves them out (``None`` with fewer
        than two finite samples).

    Raises:
        ValueError: ``snr`` or ``min_change`` below 0 or not a number, ``tail`` not a whole number >= 1,
            a ``baseline`` or ``top`` that is not finite,
            ``window`` as :func:`residual_noise` refuses it, or a curve :func:`~bridge.stages.detectors.half_rise` refuses.

    Examples:
        >>> rng = np.random.default_rng(0)
        >>> sustained_rise(np.arange(100.0), rng.normal(size=100)) is None   # noise alone
        True
        >>> e = sustained_rise([0, 10, 20, 30], [0.0, 0.1, 0.9, 1.0], top=1.0)
        >>> e.step, (e.lo, e.hi)
        (15.0, (10.0, 20.0))
    """
    if direction not in ("up", "down"):
        raise ValueError(f"direction must be 'up' or 'down', got {direction!r}")
    for field, value in (("snr", snr), ("min_change", min_change)):
        if not value >= 0:  # nan would find no rise on any curve
            raise ValueError(f"{field} must be a number >= 0, got {value}")
    if not isinstance(tail, int | np.integer) or isinstance(tail, bool) or tail < 1:
        raise ValueError(f"tail must be a whole number >= 1, got {tail!r}")
    residual_noise([], window)  # refuses a window it cannot use before any work
    _check_levels(baseline=baseline, top=top)
    t, y = _finite_curve(steps, values)
    if len(t) < 2:
        return None
    sign = 1.0 if direction == "up" else -1.0
    z = sign * y
    start = z[0] if baseline is None else sign * float(baseline)
    final = float(np.median(z[-min(tail, len(z)) :]))
    change = final - start
    if not (change > 0 and change >= min_change and change > snr * residual_noise(z, window)):
        return None
    extreme = float(z.max()) if top is None else sign * float(top)
    level = half_way(start, extreme)
    if final < level:
        return None
    hit = _crossing(t, z, level, True, last=True)
    if hit is None:
        return None
    return Event(name or f"{observable} half-rise", hit[0], hit[1], hit[2], observable, "sustained_rise")


__all__ = ["residual_noise", "sustained_rise"]
