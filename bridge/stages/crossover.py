"""Where a sweep crosses over: the value of a swept parameter at which an observable reaches a level, and power-law slopes.

Examples:
    >>> import numpy as np
    >>> crossing(np.array([100.0, 10.0, 1.0]), np.array([0.0, 0.0, 0.2]), 0.1)   # half-way from 10 to 1 in log α
    3.1622776601683795
"""

from __future__ import annotations

import numpy as np

from bridge.stages.detectors import _interpolate


def crossing(alphas: np.ndarray, values: np.ndarray, level: float) -> float | None:
    """The swept value (interpolated in log α and linearly in value) where ``values`` first reaches ``level``.

    Args:
        alphas: the swept parameter, decreasing (the sweep is read from its first point), shape ``(points,)``.
        values: the observable at each point, shape ``(points,)``.
        level: the level to reach (``values >= level``).

    Returns:
        The crossing, or ``None`` when ``values`` never reaches ``level`` (a ``level`` that is not a number
        never is) or already does at the first point. A point whose value is not finite is left out.

    Raises:
        ValueError: ``alphas`` and ``values`` not 1-D of one length, or ``alphas`` not finite, positive and
            strictly decreasing.

    Examples:
        >>> round(crossing(np.array([100.0, 10.0, 1.0]), np.array([0.0, 0.05, 0.15]), 0.1), 4)
        3.1623
    """
    alphas, values = np.asarray(alphas, dtype=float), np.asarray(values, dtype=float)
    if alphas.shape != values.shape or alphas.ndim != 1:
        raise ValueError(f"alphas and values must be 1-D of one length, got {alphas.shape} and {values.shape}")
    _check_positive("alphas", alphas)
    back = np.flatnonzero(np.diff(alphas) >= 0)
    if len(back):
        i = int(back[0]) + 1
        raise ValueError(f"alphas must be strictly decreasing, got {alphas[i]:g} at position {i} after {alphas[i - 1]:g}")
    finite = np.isfinite(values)
    alphas, values = alphas[finite], values[finite]
    if len(values) == 0:
        return None
    above = values >= level
    if above[0] or not above.any():
        return None
    i = int(np.argmax(above))
    if values[i] == level:  # reached at a point: that point's α, not exp(log α) one rounding off it
        return float(alphas[i])
    # in −log α, which increases along the sweep; values near ±1e308 whose difference overflows are halved first
    log_alpha = -_interpolate(-np.log(alphas[i - 1]), -np.log(alphas[i]), values[i - 1], values[i], level)
    return float(np.clip(np.exp(log_alpha), alphas[i], alphas[i - 1]))  # within the bracket


def loglog_slope(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Least-squares slope of ``log y`` on ``log x`` with its 95 % interval ``(slope, lo, hi)``.

    Args:
        x, y: the points, shape ``(points,)``, finite and positive; at least two distinct ``x``. With two
            points the interval is ``(-inf, inf)`` (no residual to estimate the spread from).

    Raises:
        ValueError: ``x`` and ``y`` not 1-D of one length, fewer than two points, a value that is not finite
            and positive, or a single ``x`` value.

    Examples:
        >>> [round(v, 6) for v in loglog_slope(np.array([1.0, 10.0, 100.0]), np.array([1.0, 1e-2, 1e-4]))]
        [-2.0, -2.0, -2.0]
    """
    from scipy import stats

    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"x and y must be 1-D of one length, got {x.shape} and {y.shape}")
    if len(x) < 2:
        raise ValueError(f"need at least 2 points to fit a slope, got {len(x)}")
    _check_positive("x", x)
    _check_positive("y", y)
    if np.all(x == x[0]):
        raise ValueError(f"x must take at least two distinct values, got {len(x)} points all at {x[0]:g}")
    lx, ly = np.log(x), np.log(y)
    lx, ly = lx - lx.mean(), ly - ly.mean()
    sxx = float(lx @ lx)
    slope = float(lx @ ly) / sxx
    if len(x) == 2:
        return slope, float("-inf"), float("inf")
    # the standard error from the residuals themselves: on an exact power law (a flat one too) it is ~0, not the
    # NaN or the square root of the rounding error that a formula through the correlation coefficient gives
    residual = ly - slope * lx
    half = float(stats.t.ppf(0.975, len(x) - 2)) * float(np.sqrt(residual @ residual / (len(x) - 2) / sxx))
    return slope, slope - half, slope + half


def _check_positive(name: str, v: np.ndarray) -> None:
    bad = np.flatnonzero(~(np.isfinite(v) & (v > 0)))
    if len(bad):
        raise ValueError(f"{name} must be finite and positive (they are read in log scale), got {name}[{bad[0]}] = {v[bad[0]]:g}")


__all__ = ["crossing", "loglog_slope"]
