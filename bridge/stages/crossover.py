"""Where a sweep crosses over: the value of a swept parameter at which an observable reaches a level, and power-law slopes.

Examples:
    >>> import numpy as np
    >>> crossing(np.array([100.0, 10.0, 1.0]), np.array([0.0, 0.0, 0.2]), 0.1)   # half-way from 10 to 1 in log α
    3.1622776601683795
"""

from __future__ import annotations

import numpy as np


def crossing(alphas: np.ndarray, values: np.ndarray, level: float) -> float | None:
    """The swept value (interpolated in log α and linearly in value) where ``values`` first reaches ``level``.

    Args:
        alphas: the swept parameter, decreasing (the sweep is read from its first point), shape ``(points,)``.
        values: the observable at each point, shape ``(points,)``.
        level: the level to reach (``values >= level``).

    Returns:
        The crossing, or ``None`` when ``values`` never reaches ``level`` or already does at the first point.
        A point whose value is not finite is left out.

    Examples:
        >>> round(crossing(np.array([100.0, 10.0, 1.0]), np.array([0.0, 0.05, 0.15]), 0.1), 4)
        3.1623
    """
    alphas, values = np.asarray(alphas, dtype=float), np.asarray(values, dtype=float)
    if alphas.shape != values.shape or alphas.ndim != 1:
        raise ValueError(f"alphas and values must be 1-D of one length, got {alphas.shape} and {values.shape}")
    finite = np.isfinite(values)
    alphas, values = alphas[finite], values[finite]
    if len(values) == 0:
        return None
    above = values >= level
    if above[0] or not above.any():
        return None
    i = int(np.argmax(above))
    x0, x1, y0, y1 = np.log(alphas[i - 1]), np.log(alphas[i]), values[i - 1], values[i]
    return float(np.exp(x0 + (level - y0) / (y1 - y0) * (x1 - x0)))


def loglog_slope(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Least-squares slope of ``log y`` on ``log x`` with its 95 % interval ``(slope, lo, hi)``.

    Examples:
        >>> [round(v, 6) for v in loglog_slope(np.array([1.0, 10.0, 100.0]), np.array([1.0, 1e-2, 1e-4]))]
        [-2.0, -2.0, -2.0]
    """
    from scipy import stats

    fit = stats.linregress(np.log(x), np.log(y))
    half = float(stats.t.ppf(0.975, len(x) - 2) * fit.stderr) if len(x) > 2 else float("inf")
    return float(fit.slope), float(fit.slope - half), float(fit.slope + half)


__all__ = ["crossing", "loglog_slope"]
