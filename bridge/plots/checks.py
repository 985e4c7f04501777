"""Checks the figure functions run on their arguments before drawing: a clear error naming the argument.

Examples:
    >>> series("mean", [1.0, 2.0], 3, of="step")
    Traceback (most recent call last):
    ...
    ValueError: mean must hold one value per step (3), got 2
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray


def require_axes(ax: Any) -> None:
    """``TypeError`` unless ``ax`` is an Axes instance (something with a ``plot`` method, not a class).

    Examples:
        >>> from bridge.plots.base import new_figure
        >>> require_axes(new_figure())
        Traceback (most recent call last):
        ...
        TypeError: ax must be a matplotlib Axes, got a tuple (new_figure() returns (figure, axes): pass the axes)
    """
    if isinstance(ax, tuple):
        raise TypeError("ax must be a matplotlib Axes, got a tuple (new_figure() returns (figure, axes): pass the axes)")
    if isinstance(ax, type) or not callable(getattr(ax, "plot", None)):
        raise TypeError(f"ax must be a matplotlib Axes, got {ax!r}")


def require_mapping(name: str, value: Any) -> None:
    """``TypeError`` unless ``value`` is a mapping (label → data).

    Examples:
        >>> require_mapping("curves", [([0, 1], [1.0, 2.0])])
        Traceback (most recent call last):
        ...
        TypeError: curves must be a mapping (label → data), got list
    """
    if not isinstance(value, Mapping):
        raise TypeError(f"{name} must be a mapping (label → data), got {type(value).__name__}")


def require_entries(name: str, items: Any) -> list[Any]:
    """``items`` as a list, with a ``TypeError`` unless it holds events, stages or their stored dicts (``run.events``).

    A mapping (``run.report`` for ``run.events``), a text or a single event would otherwise draw nothing.

    Examples:
        >>> require_entries("events", {"verdict": "pass"})
        Traceback (most recent call last):
        ...
        TypeError: events must be a list of events, stages or stored dicts (run.events), got dict
        >>> require_entries("events", [{"type": "event", "step": 3.0}, "rise"])
        Traceback (most recent call last):
        ...
        TypeError: events[1] must be an event, a stage or a stored dict (run.events), got str
    """
    def one(item: Any) -> bool:
        return hasattr(item, "step") or hasattr(item, "start")

    if isinstance(items, (Mapping, str, bytes)) or not isinstance(items, Iterable) or one(items):
        raise TypeError(f"{name} must be a list of events, stages or stored dicts (run.events), got {type(items).__name__}")
    entries = list(items)
    for i, item in enumerate(entries):
        if not isinstance(item, Mapping) and not one(item):
            raise TypeError(f"{name}[{i}] must be an event, a stage or a stored dict (run.events), got {type(item).__name__}")
    return entries


def series(name: str, values: Any, length: int | None = None, *, of: str = "point", empty: bool = True) -> NDArray[np.float64]:
    """``values`` as a 1-D float array (``None`` entries become NaN), checked before anything is drawn.

    Args:
        name: the argument's name, for the message.
        length: the number of values required (``None``: any).
        of: what each value belongs to, for the message (``"step"``, ``"width"``).
        empty: whether no value at all is allowed.

    Raises:
        TypeError: ``values`` is a class, a string or not numbers. ValueError: not 1-D, of the wrong length, or empty when not allowed.

    Examples:
        >>> series("x", [1, None, 3]).tolist()
        [1.0, nan, 3.0]
        >>> series("x", [[1.0, 2.0]])
        Traceback (most recent call last):
        ...
        ValueError: x must be 1-D, got shape (1, 2)
    """
    if isinstance(values, (type, str, bytes)):
        raise TypeError(f"{name} must be a sequence of numbers, got {values!r}")
    try:
        a = np.asarray([np.nan if v is None else v for v in values] if isinstance(values, (list, tuple)) else values, dtype=float)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{name} must be a sequence of numbers, got {type(values).__name__}") from e
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {a.shape}")
    if length is not None and len(a) != length:
        raise ValueError(f"{name} must hold one value per {of} ({length}), got {len(a)}")
    if not empty and len(a) == 0:
        raise ValueError(f"{name} is empty: nothing to draw")
    return a


def spread(name: str, values: Any, length: int, *, of: str = "point") -> NDArray[np.float64]:
    """``values`` as :func:`series` of ``length``, checked to hold no negative value (a standard deviation, an error bar's
    half-width); NaN is allowed (no bar).

    Examples:
        >>> spread("sd", [0.1, -0.2], 2, of="step")
        Traceback (most recent call last):
        ...
        ValueError: sd must be ≥ 0 (a spread), got -0.2 at entry 1
    """
    a = series(name, values, length, of=of)
    negative = np.flatnonzero(a < 0)
    if negative.size:
        raise ValueError(f"{name} must be ≥ 0 (a spread), got {a[negative[0]]:g} at entry {negative[0]}")
    return a


def curve(name: str, pair: Any) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """An ``(x, y)`` pair as two 1-D float arrays of one length; ``name`` says which curve, for the message.

    Examples:
        >>> curve("curves['loss']", ([0, 1, 2], [1.0, 0.5]))
        Traceback (most recent call last):
        ...
        ValueError: curves['loss']: y must hold one value per x (3), got 2
    """
    if isinstance(pair, (str, bytes)) or not hasattr(pair, "__len__") or len(pair) != 2:
        raise ValueError(f"{name} must be an (x, y) pair, got {type(pair).__name__}" + (f" of {len(pair)}" if hasattr(pair, "__len__") else ""))
    x = series(f"{name}: x", pair[0])
    return x, series(f"{name}: y", pair[1], len(x), of="x")


def array2d(name: str, values: Any, shape: tuple[int | None, int | None], dims: str) -> NDArray[np.float64]:
    """``values`` as a 2-D float array of ``shape`` (``None``: any size on that axis); ``dims`` names the axes.

    Examples:
        >>> array2d("norms", np.zeros((4, 3)), (3, None), "(step, frequency)")
        Traceback (most recent call last):
        ...
        ValueError: norms must be (step, frequency) = (3, any), got (4, 3)
    """
    if isinstance(values, (type, str, bytes)):
        raise TypeError(f"{name} must be a 2-D array {dims}, got {values!r}")
    try:
        a = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{name} must be a 2-D array of numbers {dims}, got {type(values).__name__}") from e
    if a.ndim != 2 or any(want is not None and got != want for got, want in zip(a.shape, shape)):
        want = ", ".join("any" if s is None else str(s) for s in shape)
        raise ValueError(f"{name} must be {dims} = ({want}), got {a.shape}")
    return a


__all__ = ["array2d", "curve", "require_axes", "require_mapping", "series", "spread"]
