"""What a theory says: a predicted event time, curve or value, with its assumptions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Prediction:
    """A theory's prediction.

    Attributes:
        name: what is predicted (``"mode 0 half-rise"``).
        step: predicted event step (optimizer steps), if an event.
        value: predicted value, if a number.
        curve: ``(steps, values)`` of a predicted observable, if a curve.
        assumptions: conditions under which the theory holds.
        theory: which theory (``"saxe"``).
        extra: further theory-specific fields, merged into :meth:`to_dict`.

    Examples:
        >>> p = Prediction("mode 0 half-rise", step=120.0, theory="saxe", extra={"mode": 0})
        >>> p.to_dict()
        {'name': 'mode 0 half-rise', 'theory': 'saxe', 'step': 120.0, 'value': None, 'assumptions': [], 'mode': 0}
    """

    name: str
    step: float | None = None
    value: float | None = None
    curve: tuple[np.ndarray, np.ndarray] | None = None
    assumptions: tuple[str, ...] = ()
    theory: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "theory": self.theory,
            "step": self.step,
            "value": self.value,
            "assumptions": list(self.assumptions),
            **self.extra,
        }


def require_positive(name: str, value: float) -> None:
    """Refuse a ``value`` that is not a finite positive number (NaN included; a bool or a string is not a number), naming it.

    Examples:
        >>> require_positive("lr", float("nan"))
        Traceback (most recent call last):
        ...
        ValueError: lr must be positive and finite, got nan
    """
    require_number(name, value)
    if not 0 < value < np.inf:  # NaN fails too
        raise ValueError(f"{name} must be positive and finite, got {value}")


def require_number(name: str, value: object) -> None:
    """Refuse a bool (True read as 1), a string or anything else ``float`` does not take as a number, naming it.

    Examples:
        >>> require_number("lr", True)
        Traceback (most recent call last):
        ...
        ValueError: lr must be a number, got True (bool)
    """
    if isinstance(value, (bool, np.bool_, str, bytes)):
        raise ValueError(f"{name} must be a number, got {value!r} ({type(value).__name__})")
    try:
        float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r} ({type(value).__name__})") from None


def require_count(name: str, value: int, low: int = 1) -> None:
    """Refuse a ``value`` that is not an integer (a bool is not) of at least ``low`` (0 or 1), naming it.

    Examples:
        >>> require_count("steps", -1, low=0)
        Traceback (most recent call last):
        ...
        ValueError: steps must be a non-negative integer, got -1
    """
    if isinstance(value, bool) or not (isinstance(value, (int, np.integer)) and value >= low):
        raise ValueError(f"{name} must be a {'positive' if low == 1 else 'non-negative'} integer, got {value!r}")


def require_entries(name: str, values: np.ndarray, ok: np.ndarray, what: str) -> None:
    """Refuse an array ``values`` unless ``ok`` holds at every entry, naming the first entry where it does not.

    Args:
        name: the argument's name; values: the array; ok: boolean, ``values``' shape; what: what every entry must be.

    Examples:
        >>> require_entries("eigenvalues", np.array([1.0, 0.5, -2.0]), np.array([1.0, 0.5, -2.0]) >= 0, "non-negative")
        Traceback (most recent call last):
        ...
        ValueError: eigenvalues must be non-negative, got eigenvalues[2] = -2.0
    """
    if not np.all(ok):
        at = tuple(int(i) for i in np.argwhere(~np.asarray(ok, dtype=bool))[0])
        raise ValueError(f"{name} must be {what}, got {name}[{', '.join(map(str, at))}] = {np.asarray(values)[at].item()!r}")


def require_psd(what: str, eigenvalues: np.ndarray) -> None:
    """Refuse a symmetric matrix (given by its ``eigenvalues``) with a negative eigenvalue beyond rounding: below
    ``−1e-6`` of the largest, what a float32 kernel's rounding stays within. ``what`` names the matrix.

    Examples:
        >>> require_psd("kernel", np.array([2.0, 1e-9, -1e-8]))   # rounding: taken
        >>> require_psd("kernel", np.array([2.0, -0.5]))
        Traceback (most recent call last):
        ...
        ValueError: kernel is not positive semi-definite (eigenvalues from -0.5 to 2)
    """
    if eigenvalues.min() < -1e-6 * max(eigenvalues.max(), 0.0):
        raise ValueError(f"{what} is not positive semi-definite (eigenvalues from {eigenvalues.min():.6g} to {eigenvalues.max():.6g})")
