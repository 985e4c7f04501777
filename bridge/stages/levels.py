"""The half-way level between two values, which the detectors of a move (half-rise, sustained rise, half-move)
look for the crossing of.

Examples:
    >>> half_way(1.0e308, 1.7e308)   # (a + b) / 2 overflows to inf here
    1.35e+308
"""

from __future__ import annotations

import math


def half_way(a: float, b: float) -> float:
    """``(a + b) / 2`` rounded once, for every pair of floats: without overflow near ±1.8e308, where ``a + b`` is
    inf but the midpoint is not, and without the loss of a bit in subnormals that ``a / 2 + b / 2`` has.

    Args:
        a, b: scalars (Python or NumPy floats); the result is a Python float.

    Returns:
        The float nearest to the exact midpoint (``inf`` or ``nan`` when an argument is).

    Examples:
        >>> half_way(2.0, 3.0), half_way(1.0e308, 1.7e308), half_way(5e-324, 5e-324)
        (2.5, 1.35e+308, 5e-324)
    """
    a, b = float(a), float(b)
    mid = (a + b) / 2  # a + b rounds once and halving is exact but below 2**-1021, where the sum is exact
    if math.isinf(mid) and math.isfinite(a) and math.isfinite(b):
        return a / 2 + b / 2  # both near the largest float: each half exact, their sum rounds once
    return mid
