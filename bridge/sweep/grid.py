"""The points of a sweep: a grid (or a list) of values over dotted config fields, each with a readable key.

A point is a set of ``path -> value`` settings (``{"train.lr": 0.003, "seed": 1}``).
Values are stored as they are typed on a command line (``"3e-3"``) and parsed by
the field's type when the point is applied (:func:`bridge.overrides.override`), so a
grid written by the CLI and one written in Python give the same points. A point's
key joins its settings in grid order, ``train.lr=0.003__seed=1``, and names its run
directory ``OUT/points/<key>``.

Examples:
    >>> [p.key for p in grid_points({"train.lr": [1e-3, 3e-3]}, seeds=[0, 1])]
    ['train.lr=0.001__seed=0', 'train.lr=0.001__seed=1', 'train.lr=0.003__seed=0', 'train.lr=0.003__seed=1']
    >>> parse_grid_option("train.lr=1e-3,3e-3")
    ('train.lr', ['1e-3', '3e-3'])
    >>> parse_seeds("0-3"), parse_seeds("0,5,7")
    ([0, 1, 2, 3], [0, 5, 7])
"""

from __future__ import annotations

import itertools
import json
import math
import numbers
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bridge.config import MAX_INT, ConfigError
from bridge.field_types import shown

SEED = "seed"
MAX_KEY_BYTES = 255  # the longest folder name most file systems take
MAX_POINTS = 10000  # every point is a run directory and a row rewritten after each finished point
_SAFE = re.compile(r"[^A-Za-z0-9._=+\-]")
_WORDS = {"true": True, "false": False, "none": None}


def value_text(value: Any) -> str:
    """``value`` as it would be typed on a command line (what :func:`bridge.overrides.override` parses).

    Examples:
        >>> import numpy as np
        >>> value_text(0.001), value_text(True), value_text(None), value_text((1, 2)), value_text(np.float64(0.5)), value_text(np.arange(2))
        ('0.001', 'true', 'none', '[1, 2]', '0.5', '[0, 1]')
    """
    value = _python(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ConfigError(f"sweep values must be finite, got {value}")
        return repr(value)
    if isinstance(value, tuple | list):
        for item in value:  # each item is a value too: refused as one, finite
            value_text(item)
        return json.dumps(list(value))
    if not isinstance(value, int | str):
        raise ConfigError(f"sweep values are numbers, text, booleans, None or lists of them, got {value!r}")
    if isinstance(value, int) and value.bit_length() > 1024:  # beyond every float (and every integer field)
        raise ConfigError(f"sweep values must be finite, got {shown(value)}")
    return str(value)


def _python(value: Any) -> Any:
    """``value`` with NumPy scalars and arrays (also inside lists and tuples) as the Python numbers and lists they hold."""
    if hasattr(value, "tolist") and not isinstance(value, str):
        return value.tolist()
    return [_python(v) for v in value] if isinstance(value, tuple | list) else value


def _key_value(value: Any, nested: bool = False) -> str:
    """The part of a key naming ``value``: ``0.001``, ``adamw``, ``1,2``, ``(1,2),(3)``; only filename-safe characters.

    A list inside a list is bracketed, so that ``[[1, 2], [3]]`` and ``[[1], [2, 3]]`` name two points."""
    value = _python(value)
    if isinstance(value, tuple | list):
        text = ",".join(_key_value(v, nested=True) for v in value)
        return f"({text})" if nested else text
    text = value_text(value) if not isinstance(value, str) else value
    return _SAFE.sub("_", text)


@dataclass(frozen=True)
class Point:
    """One point of a sweep.

    Args:
        settings: ``(path, value)`` pairs in grid order; values are typed (parsed) values.

    Examples:
        >>> p = Point((("train.lr", 0.003), ("seed", 1)))
        >>> p.key, p.params, p.seed, p.config_settings()
        ('train.lr=0.003__seed=1', {'train.lr': 0.003, 'seed': 1}, 1, ['train.lr=0.003'])
    """

    settings: tuple[tuple[str, Any], ...]

    @property
    def key(self) -> str:
        """The readable, filename-safe key: ``train.lr=0.003__seed=1``."""
        return "__".join(f"{path}={_key_value(value)}" for path, value in self.settings) or "base"

    @property
    def params(self) -> dict[str, Any]:
        """``{path: value}``."""
        return dict(self.settings)

    @property
    def seed(self) -> int | None:
        """The point's seed setting, if it has one."""
        return self.params.get(SEED)

    def config_settings(self) -> list[str]:
        """``"path=value"`` strings for every setting except the seed (what ``--set`` takes)."""
        return [f"{path}={value_text(value)}" for path, value in self.settings if path != SEED]


def _typed(value: Any) -> Any:
    """A value from a grid typed as the command line would parse it: numbers from text stay numbers, numpy
    scalars become Python numbers, tuples and arrays lists, and ``"true"``, ``"false"``, ``"none"`` (what
    :func:`value_text` writes for them) ``True``, ``False``, ``None``, so a grid typed on a command line and
    the same grid written in Python are the same sweep."""
    if hasattr(value, "tolist") and not isinstance(value, str):  # a numpy scalar or array
        value = value.tolist()
    if not isinstance(value, str):
        return [_typed(v) for v in value] if isinstance(value, tuple | list) else value
    if value in _WORDS:
        return _WORDS[value]
    try:
        parsed = json.loads(value)
    except ValueError:  # not JSON, or an integer of more digits than Python reads: text, which its field refuses
        return value
    return parsed if isinstance(parsed, int | float | list) and not isinstance(parsed, bool) else value


def grid_points(grid: Mapping[str, Sequence[Any]] | None = None, *, seeds: Iterable[int] | None = None, points: Sequence[Mapping[str, Any]] | None = None) -> list[Point]:
    """The points of a sweep: the product of ``grid``'s axes (seeds varying fastest), or the listed ``points``.

    Args:
        grid: dotted path → values (``{"train.lr": [1e-3, 3e-3]}``); axes in the given order.
        seeds: seeds of every point (an axis named ``seed``, last).
        points: instead of a grid, explicit points (``[{"train.lr": 1e-3, "train.weight_decay": 1.0}, ...]``).

    Returns:
        The points in sweep order: one per combination of the axes' values (and seeds), or per listed point.

    Raises:
        ConfigError: an empty axis, a repeated value, a seed that is not a non-negative integer, a value that is not a
            number, text, boolean, None or a list of them, both or neither of ``grid`` and ``points``, listed points that
            set a seed as well as ``seeds``, two points with one key, a key longer than a folder name may be (255 bytes),
            or more than :data:`MAX_POINTS` points (counted from the axes' lengths, before any point is made).

    Examples:
        >>> pts = grid_points({"model.d_model": [32, 64], "train.lr": ["1e-3"]}, seeds=[0, 1])
        >>> len(pts), pts[1].key, pts[-1].params
        (4, 'model.d_model=32__train.lr=0.001__seed=1', {'model.d_model': 64, 'train.lr': 0.001, 'seed': 1})
        >>> [p.key for p in grid_points(points=[{"train.lr": 1e-3, "train.weight_decay": 1.0}], seeds=[7])]
        ['train.lr=0.001__train.weight_decay=1.0__seed=7']
    """
    if grid is not None and points is not None or grid is None and points is None and seeds is None:
        raise ConfigError("a sweep takes either a grid or a list of points")
    _check_size(grid, seeds, points)
    seeds = None if seeds is None else check_seeds(seeds, "sweep seeds")
    if points is not None:
        rows = [dict(p) for p in points]
        _check_size(None, seeds, rows)  # listed now, if a generator gave them
        if not rows:
            raise ConfigError("a sweep needs at least one point")
        if seeds is not None:
            named = next((i for i, r in enumerate(rows) if SEED in r), None)
            if named is not None:  # the seeds given would replace the listed one
                raise ConfigError(f"give the seeds either in the listed points or as seeds, not both (point {named} sets seed={rows[named][SEED]!r})")
            rows = [{**r, SEED: s} for r in rows for s in seeds]
        out = [Point(tuple((k, _typed(v)) for k, v in r.items())) for r in rows]
    else:
        axes = {path: [_typed(v) for v in values] for path, values in (grid or {}).items()}  # no grid: the seeds alone
        if SEED in axes and seeds is not None:
            raise ConfigError("give the seeds either as a grid axis 'seed' or as seeds, not both")
        for path, values in axes.items():
            if not values:
                raise ConfigError(f"sweep axis {path!r} has no values")
            if len({_text_of(path, v) for v in values}) != len(values):
                raise ConfigError(f"sweep axis {path!r} repeats a value: {values}")
        if seeds is not None:
            axes[SEED] = seeds
        _check_size(axes, None, None)  # every axis listed now, generators' too
        names = list(axes)
        out = [Point(tuple(zip(names, combo))) for combo in itertools.product(*axes.values())]
    for p in out:
        for path, value in p.settings:
            _text_of(path, value)  # a value no command line could give: refused here, naming it
        if p.seed is not None and (not isinstance(p.seed, int) or isinstance(p.seed, bool) or p.seed < 0):
            raise ConfigError(f"sweep seeds must be non-negative integers, got seed={p.seed!r}")
    keys = [p.key for p in out]
    for key in keys:
        if len(key.encode()) > MAX_KEY_BYTES:  # each point trains in a folder named by its key
            raise ConfigError(f"sweep point key {key[:60]}... is {len(key.encode())} bytes, longer than a folder name may be ({MAX_KEY_BYTES}): give shorter values or fewer axes")
    if len(set(keys)) != len(keys):
        twice = next(k for k in keys if keys.count(k) > 1)
        raise ConfigError(f"two sweep points have the same key {twice!r}")
    return out


def _check_size(grid: Mapping[str, Sequence[Any]] | None, seeds: Any, points: Sequence[Any] | None) -> None:
    """Refuse a sweep of more than :data:`MAX_POINTS` points from the lengths of its axes (or list), before any is made."""
    sizes = [("points", points)] if points is not None else list((grid or {}).items())
    if seeds is not None:
        sizes.append((SEED, seeds))
    counted = [(name, len(values)) for name, values in sizes if hasattr(values, "__len__") and not isinstance(values, str | bytes)]
    total = math.prod(n for _, n in counted)
    if total > MAX_POINTS:
        axes = " × ".join(f"{name} {n}" for name, n in counted)
        raise ConfigError(f"a sweep of {total} points ({axes}) is more than {MAX_POINTS}; split it into several sweeps")


def _text_of(path: str, value: Any) -> str:
    """:func:`value_text` of ``value``, a refusal naming the field ``path`` it was given for."""
    try:
        return value_text(value)
    except ConfigError as e:
        raise ConfigError(f"sweep setting {path!r}: {e}") from None


def _split_values(text: str) -> list[str]:
    """``"1e-3,[1,2],3"`` → ``["1e-3", "[1,2]", "3"]``: commas inside brackets belong to the value."""
    values, depth, current = [], 0, ""
    for ch in text:
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        if ch == "," and depth == 0:
            values.append(current.strip())
            current = ""
        else:
            current += ch
    values.append(current.strip())
    return values


def parse_grid_option(text: str) -> tuple[str, list[str]]:
    """``"train.lr=1e-3,3e-3"`` → ``("train.lr", ["1e-3", "3e-3"])`` (a tuple value is written ``[1,2]``).

    Raises:
        ConfigError: no ``=``, an empty path or an empty value.

    Examples:
        >>> parse_grid_option("model.widths=[8,8],[16]")
        ('model.widths', ['[8,8]', '[16]'])
        >>> parse_grid_option("train.lr")
        Traceback (most recent call last):
        ...
        bridge.config.ConfigError: --grid takes key=v1,v2,..., got 'train.lr'
    """
    path, sep, values = text.partition("=")
    items = _split_values(values)
    if not sep or not path.strip() or any(not v for v in items):
        raise ConfigError(f"--grid takes key=v1,v2,..., got {text!r}")
    return path.strip(), items


def check_seeds(seeds: Any, name: str = "seeds") -> list[int]:
    """``seeds`` as a list of ``int``, checked before any work: at least one, each a distinct non-negative
    integer (NumPy integers count, booleans do not). ``name`` is how the message calls them.

    Raises:
        ConfigError: naming what is wrong (text such as ``"0-2"`` is read by :func:`parse_seeds` first).

    Examples:
        >>> check_seeds(range(3))
        [0, 1, 2]
        >>> check_seeds([0, 2, 2], "sweep seeds")
        Traceback (most recent call last):
        ...
        bridge.config.ConfigError: sweep seeds must be distinct, got seed 2 twice in [0, 2, 2]
    """
    if isinstance(seeds, str | bytes) or not isinstance(seeds, Iterable):
        hint = f" (parse_seeds({seeds!r}) reads a command-line list)" if isinstance(seeds, str) else ""
        raise ConfigError(f"{name} must be a list of integers, got {seeds!r:.80}{hint}")
    seeds = list(seeds)
    if not seeds:
        raise ConfigError(f"{name}: the list names no seed")
    bad = [s for s in seeds if isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 0]
    if bad:
        raise ConfigError(f"{name} must be non-negative integers, got {bad[0]!r} in {seeds}")
    out = [int(s) for s in seeds]
    if len(set(out)) != len(out):
        twice = next(s for i, s in enumerate(out) if s in out[:i])
        raise ConfigError(f"{name} must be distinct, got seed {twice} twice in {seeds}")
    return out


def parse_seeds(text: str) -> list[int]:
    """Seeds from ``"0-7"`` (inclusive), ``"0,3,5"`` or a mix (``"0-2,9"``), sorted and without repeats.

    Raises:
        ConfigError: anything else, a range that runs backwards, or more than 10000 seeds.

    Examples:
        >>> parse_seeds("9,0-2")
        [0, 1, 2, 9]
    """
    seeds: set[int] = set()
    for part in text.split(","):
        m = re.fullmatch(r"\s*([0-9]+)\s*(?:-\s*([0-9]+)\s*)?", part)
        if not m:
            raise ConfigError(f"--seeds takes A-B or a comma-separated list of non-negative integers (expected a list such as 0-9 or 0,2,5), got {text!r}")
        a, b = int(m.group(1)), int(m.group(2) or m.group(1))
        if b < a:
            raise ConfigError(f"--seeds range {part.strip()!r} runs backwards")
        if b > MAX_INT:
            raise ConfigError(f"--seeds: seeds must lie in [0, 2**63 - 1], got {part.strip()!r}")
        if b - a >= 10_000 or len(seeds.union(range(a, b + 1))) > 10_000:  # seeds named twice count once
            raise ConfigError(f"--seeds {text!r} holds more than 10000 seeds")
        seeds.update(range(a, b + 1))
    return sorted(seeds)


__all__ = ["SEED", "Point", "check_seeds", "grid_points", "parse_grid_option", "parse_seeds", "value_text"]
