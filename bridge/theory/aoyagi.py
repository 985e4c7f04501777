"""The learning coefficient of reduced-rank regression in closed form.

Aoyagi, M. & Watanabe, S. (2005). *Stochastic complexities of reduced rank
regression in Bayesian estimation.* Neural Networks 18(7), 924–933.

The model is the linear network ``x ↦ B A x`` with ``A`` of shape ``(H, M)`` and
``B`` of shape ``(N, H)`` (``M`` inputs, ``H`` hidden units, ``N`` outputs; the
parameter count is ``d = H (M + N)``), fit to a teacher ``B₀ A₀`` of rank
``r ≤ H`` with inputs whose covariance has full rank. The real log canonical
threshold λ (the learning coefficient) is:

1. ``N + r ≤ M + H``, ``M + r ≤ N + H``, ``H + r ≤ M + N`` ("central" branch):
   ``λ = [2(H + r)(M + N) − (M − N)² − (H + r)²] / 8`` when ``M + H + N + r`` is
   even, and the same plus ``1/8`` when it is odd (multiplicity 2 in that case);
2. ``M + H < N + r``: ``λ = (H M − H r + N r) / 2``;
3. ``N + H < M + r``: ``λ = (H N − H r + M r) / 2``;
4. ``M + N < H + r``: ``λ = M N / 2``.

Every function takes the sizes by name (``M=, N=, H=, r=``): Aoyagi writes the
shape as ``(M, H, N, r)``, this module's dataclass lists ``(M, N, H, r)``, and a
positional call could silently swap ``N`` and ``H``. A rank-0 teacher (the zero
map) is allowed: the truth is then the origin, the most singular point.

The four branches partition every valid shape. When the model is regular at the
truth the value is half the dimension of the smooth model it reduces to:
``r = H`` gives ``(H(M + N) − H²)/2`` (the rank-``H`` matrices), and ``H ≥ M + N``
saturates at ``M N / 2`` (all ``N × M`` matrices).

Examples:
    >>> rrr_learning_coefficient(M=4, N=4, H=2, r=2)   # regular: (2·8 − 4)/2
    6.0
    >>> rrr_branch(M=10, N=2, H=2, r=1)
    'N+H<M+r'
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

BRANCHES = ("central-even", "central-odd", "M+H<N+r", "N+H<M+r", "M+N<H+r")


@dataclass(frozen=True, kw_only=True)
class RRRShape:
    """A reduced-rank-regression shape: ``M`` inputs, ``H`` hidden, ``N`` outputs, teacher rank ``r`` (0: the zero map).

    Sizes are keyword-only, in any order; NumPy integers are accepted and stored as Python ints.

    Raises:
        ValueError: ``M``, ``N`` or ``H`` not a positive integer, or ``r`` not an integer in ``[0, min(H, M, N)]``
            (a bool is not a size).

    Examples:
        >>> RRRShape(M=4, H=3, N=4, r=1) == RRRShape(M=4, N=4, H=3, r=1)
        True
        >>> RRRShape(4, 3, 4, 1)
        Traceback (most recent call last):
        ...
        TypeError: RRRShape.__init__() takes 1 positional argument but 5 were given
    """

    M: int
    N: int
    H: int
    r: int

    def __post_init__(self) -> None:
        for name in ("M", "N", "H", "r"):
            value = getattr(self, name)
            if isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)):
                object.__setattr__(self, name, int(value))  # a NumPy integer is a size too; kept as a Python int, which cannot overflow
        for name in ("M", "N", "H"):
            if not (type(getattr(self, name)) is int and getattr(self, name) >= 1):
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if not (type(self.r) is int and 0 <= self.r <= min(self.H, self.M, self.N)):
            raise ValueError(f"teacher rank r must be an integer in [0, min(H, M, N)] = [0, {min(self.H, self.M, self.N)}], got {self.r!r}")

    @property
    def n_params(self) -> int:
        """``d = H (M + N)``."""
        return self.H * (self.M + self.N)


def rrr_branch(*, M: int, N: int, H: int, r: int) -> str:
    """Which branch of Aoyagi's formula applies (one of :data:`BRANCHES`).

    Examples:
        >>> rrr_branch(M=3, N=3, H=3, r=0)
        'central-odd'
    """
    s = RRRShape(M=M, N=N, H=H, r=r)
    M, N, H, r = s.M, s.N, s.H, s.r
    if M + N < H + r:
        return "M+N<H+r"
    if M + H < N + r:
        return "M+H<N+r"
    if N + H < M + r:
        return "N+H<M+r"
    return "central-even" if (M + H + N + r) % 2 == 0 else "central-odd"


def rrr_learning_coefficient_exact(*, M: int, N: int, H: int, r: int) -> Fraction:
    """The learning coefficient λ as an exact fraction (see the module docstring).

    Examples:
        >>> rrr_learning_coefficient_exact(M=3, N=3, H=3, r=0)
        Fraction(7, 2)
    """
    s = RRRShape(M=M, N=N, H=H, r=r)
    M, N, H, r = s.M, s.N, s.H, s.r  # Python ints: exact at any size
    branch = rrr_branch(M=M, N=N, H=H, r=r)
    if branch == "M+N<H+r":
        return Fraction(M * N, 2)
    if branch == "M+H<N+r":
        return Fraction(H * M - H * r + N * r, 2)
    if branch == "N+H<M+r":
        return Fraction(H * N - H * r + M * r, 2)
    value = Fraction(2 * (H + r) * (M + N) - (M - N) ** 2 - (H + r) ** 2, 8)
    return value + Fraction(1, 8) if branch == "central-odd" else value


def rrr_learning_coefficient(*, M: int, N: int, H: int, r: int) -> float:
    """The learning coefficient λ of reduced-rank regression (Aoyagi & Watanabe 2005) as a float.

    Args:
        M: input dimension; N: output dimension; H: hidden width; r: teacher rank
            (``0 ≤ r ≤ min(M, N, H)``). All keyword-only.

    Examples:
        >>> rrr_learning_coefficient(M=5, N=5, H=10, r=1)   # M+N < H+r: all 5×5 matrices
        12.5
    """
    return float(rrr_learning_coefficient_exact(M=M, N=N, H=H, r=r))


__all__ = ["BRANCHES", "RRRShape", "rrr_branch", "rrr_learning_coefficient", "rrr_learning_coefficient_exact"]
