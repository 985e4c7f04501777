"""What a config field's annotation allows: the type check behind :func:`bridge.config.check_fields`.

Examples:
    >>> import numpy as np
    >>> mismatch(2.5, int), mismatch(None, int | None), mismatch(float("nan"), float)
    ('an integer', None, 'a finite number')
    >>> plain([np.int64(3), np.float32(0.5), 2], tuple[int, float, float]), shown(10**400)
    ((3, 0.5, 2.0), 'an integer of about 400 digits')
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import types
import typing
from typing import Any

MAX_INT = 2**63 - 1


def shown(value: Any) -> str:
    """``repr(value)``; an integer too long to print (Python refuses beyond 4300 digits) is shown by its size.

    Examples:
        >>> shown("relu"), shown(3), shown(-10**5000)
        ("'relu'", '3', 'an integer of about 5000 digits')
    """
    if isinstance(value, numbers.Integral) and int(value).bit_length() > 256:
        return f"an integer of about {round(int(value).bit_length() * math.log10(2))} digits"
    return repr(value)


def finite(value: numbers.Real) -> bool:
    """``math.isfinite``, false for an integer too large for a float.

    Examples:
        >>> finite(1.5), finite(float("nan")), finite(10**400)
        (True, False, False)
    """
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def plain(value: Any, annotation: Any) -> Any:
    """``value`` (already checked against ``annotation``) with every integer a Python ``int``, every number of a
    float field a Python ``float``, and lists as tuples: what the config's JSON and ``--set`` text read back as.

    Examples:
        >>> import numpy as np
        >>> plain([1, np.float32(0.5)], tuple[float, ...]), type(plain(np.int64(3), int | None))
        ((1.0, 0.5), <class 'int'>)
    """
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        fits = [a for a in args if mismatch(value, a) is None]
        return plain(value, fits[0]) if fits else value
    if annotation is int and type(value) is not int:
        return int(value)
    if annotation is float and type(value) is not float:  # an integer too: 10**300 would not read back from its text as a float
        return float(value)
    if origin is tuple and isinstance(value, tuple | list):
        kinds = [args[0]] * len(value) if len(args) == 2 and args[1] is Ellipsis else list(args) or [Any] * len(value)
        return tuple(plain(v, k) for v, k in zip(value, kinds))
    return value


def mismatch(value: Any, annotation: Any) -> str | None:
    """What ``value`` should have been under ``annotation``, or ``None`` if it fits (unknown annotations fit).

    Examples:
        >>> mismatch((1, 2), tuple[int, int, int]), mismatch(True, int), mismatch(3, float), mismatch("x", int | None)
        ('a tuple of 3', 'an integer', None, 'None or an integer')
    """
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is Any or annotation is object:
        return None
    if origin in (typing.Union, types.UnionType):
        options = [mismatch(value, a) for a in args]
        return None if any(o is None for o in options) else " or ".join(sorted({o for o in options if o}))
    if annotation is type(None):
        return None if value is None else "None"
    if annotation is bool:
        return None if isinstance(value, bool) else "true or false"
    if annotation is int:
        if not isinstance(value, numbers.Integral) or isinstance(value, bool):
            return "an integer"
        return None if abs(int(value)) <= MAX_INT else "an integer within ±(2**63 - 1)"  # what torch and a checkpoint hold
    if annotation is float:
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and finite(value)
        return None if ok else "a finite number"
    if annotation is str:
        return None if isinstance(value, str) else "a string"
    if origin is tuple:
        if not isinstance(value, tuple | list):
            return "a tuple"
        if len(args) == 2 and args[1] is Ellipsis:
            bad = [mismatch(v, args[0]) for v in value]
        elif args:
            if len(value) != len(args):
                return f"a tuple of {len(args)}"
            bad = [mismatch(v, a) for v, a in zip(value, args)]
        else:
            bad = []
        first = next((b for b in bad if b), None)
        return None if first is None else f"a tuple of which each item is {first}"
    if isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
        return None if isinstance(value, annotation) else f"a {annotation.__name__}"
    return None
