"""The domain of every field of a case study's ``Targets``: the values that keep its check meaningful.

A tolerance below 0 fails every row whatever was measured; a share above 1 or a ratio at or below 0 asks for
something no measurement can give (or that every one gives); a lower bound above its upper bound makes the band
empty. :func:`target_domains` declares each field's domain on the ``Targets`` class, and a value outside it is
refused when the targets are built (``--set targets.X=value`` included) by a ``ConfigError`` naming
``targets.<field>`` and the value, before anything is trained.

Domains: ``"tolerance"`` (a number >= 0), ``"positive"`` (> 0), ``"share"`` (in (0, 1]: a check that at least
this share passes; 0 would pass everything), ``"fraction"`` (in [0, 1]), ``"factor"`` (>= 1: values agree within
this factor), ``"number"`` (any finite number: a predicted value), ``"count"`` (an integer >= 1), ``"count0"``
(an integer >= 0) and ``"interval"`` (two numbers ``0 <= lo < hi <= 1``).

Examples:
    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... @target_domains(tolerance="tolerance", share="share")
    ... class Targets:
    ...     tolerance: float = 0.1
    ...     share: float = 0.8
    >>> Targets(tolerance=0.0).tolerance
    0.0
    >>> Targets(share=1.5)
    Traceback (most recent call last):
    ...
    bridge.config.ConfigError: targets.share must be in (0, 1], got 1.5
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar

from bridge.config import ConfigError


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _integer(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _interval(v: Any) -> bool:
    return isinstance(v, tuple | list) and len(v) == 2 and all(_number(x) for x in v) and 0 <= v[0] < v[1] <= 1


_C = TypeVar("_C", bound=type)  # a Targets class, given back as itself by its decorator

DOMAINS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "tolerance": (lambda v: _number(v) and v >= 0, "a number >= 0"),
    "positive": (lambda v: _number(v) and v > 0, "a positive number"),
    "share": (lambda v: _number(v) and 0 < v <= 1, "in (0, 1]"),
    "fraction": (lambda v: _number(v) and 0 <= v <= 1, "in [0, 1]"),
    "factor": (lambda v: _number(v) and v >= 1, "a factor >= 1"),
    "number": (_number, "a finite number"),
    "count": (lambda v: _integer(v) and v >= 1, "an integer >= 1"),
    "count0": (lambda v: _integer(v) and v >= 0, "an integer >= 0"),
    "interval": (_interval, "two numbers (lo, hi) with 0 <= lo < hi <= 1"),
}


def check_targets(targets: Any, domains: dict[str, str], below: tuple[tuple[str, str], ...] = ()) -> None:
    """Raise a ``ConfigError`` naming ``targets.<field>`` and its value for the first field of ``targets`` outside
    its domain (``domains``: field → a key of :data:`DOMAINS`), or the first pair ``(a, b)`` of ``below`` whose
    ``a`` is not below ``b`` (a bound two checks share: at or above it one value passes both).

    Examples:
        >>> from types import SimpleNamespace as T
        >>> check_targets(T(lo=0.3, hi=0.1), {"lo": "positive", "hi": "positive"}, below=(("lo", "hi"),))
        Traceback (most recent call last):
        ...
        bridge.config.ConfigError: targets.lo=0.3 must be below targets.hi=0.1: at or above it one measured value passes both checks
    """
    for name, domain in domains.items():
        ok, what = DOMAINS[domain]
        value = getattr(targets, name)
        if not ok(value):
            raise ConfigError(f"targets.{name} must be {what}, got {value!r}")
    for a, b in below:
        if not getattr(targets, a) < getattr(targets, b):
            raise ConfigError(f"targets.{a}={getattr(targets, a)!r} must be below targets.{b}={getattr(targets, b)!r}: at or above it one measured value passes both checks")


def target_domains(below: tuple[tuple[str, str], ...] = (), **domains: str) -> Callable[[_C], _C]:
    """Class decorator, placed under ``@dataclass``: every field of the ``Targets`` class gets its domain (a key
    of :data:`DOMAINS`), checked by :func:`check_targets` when an instance is built.

    Raises:
        TypeError: a field without a domain, a domain for no field or an unknown domain (when the class is defined).

    Examples:
        >>> @target_domains(gap="share")
        ... class Targets:
        ...     tol: float = 0.1
        Traceback (most recent call last):
        ...
        TypeError: Targets: fields without a domain ['tol'], domains without a field ['gap']
    """

    def wrap(cls: _C) -> _C:
        names = list(cls.__dict__.get("__annotations__", {}))
        unknown = sorted({d for d in domains.values() if d not in DOMAINS})
        missing, extra = [n for n in names if n not in domains], [n for n in domains if n not in names]
        if missing or extra or unknown:
            raise TypeError(f"{cls.__name__}: fields without a domain {missing}, domains without a field {extra}" + (f", unknown domains {unknown}" if unknown else ""))

        def __post_init__(self: Any) -> None:
            check_targets(self, domains, below)

        cls.__post_init__ = __post_init__  # type: ignore[attr-defined]
        cls.domains = dict(domains)  # type: ignore[attr-defined]
        return cls

    return wrap


__all__ = ["DOMAINS", "check_targets", "target_domains"]
