"""What a sweep refuses before any work: a field its base does not have (:func:`check_paths`), a value its
field refuses, and two points that would train the same run (:func:`check_values`).

Examples:
    >>> from bridge import models, tasks; from bridge.config import RunConfig, TrainConfig, config_to_dict
    >>> from bridge.sweep.grid import grid_points
    >>> cfg = RunConfig(tasks.LinearTeacherConfig((2.0, 1.0), d_in=3, d_out=3), models.DeepLinearConfig(3, 8, 3), TrainConfig(steps=2))
    >>> check_values(Target("run", config=config_to_dict(cfg)), grid_points({"train.lr": ["1", "1.0"]}))
    Traceback (most recent call last):
    ...
    bridge.config.ConfigError: sweep points train.lr=1 and train.lr=1.0 would train the same run: train.lr 1 and 1.0 both read as 1.0; give each value once
"""

from __future__ import annotations

import dataclasses
import difflib
import numbers
from collections.abc import Sequence
from typing import Any

from bridge.config import ConfigError
from bridge.sweep.grid import SEED, Point, value_text
from bridge.sweep.point import Target, point_config


def check_paths(base: Any, points: Sequence[Point], kind: str) -> None:
    """Raise :class:`ConfigError` if a point sets a field that ``base`` does not have (a typo, before any work),
    naming the fields there are and the closest one.

    Examples:
        >>> from bridge import models, tasks; from bridge.config import RunConfig, TrainConfig
        >>> cfg = RunConfig(tasks.LinearTeacherConfig((2.0, 1.0), d_in=3, d_out=3), models.DeepLinearConfig(3, 8, 3), TrainConfig(steps=2))
        >>> check_paths(cfg, [Point((("model.d_hidden", 16),))], "run")   # a field of the config: nothing to say
        >>> check_paths(cfg, [Point((("modell.width", 8),))], "run")
        Traceback (most recent call last):
        ...
        bridge.config.ConfigError: unknown sweep setting 'modell.width': the run config has task, model, train, seed, name; did you mean model?
    """
    seen: set[str] = set()
    for point in points:
        for path, _ in point.settings:
            if path in seen or (path == SEED and kind == "case_study"):
                continue
            seen.add(path)
            obj, scope = base, ""
            for part in path.split("."):
                names = [f.name for f in dataclasses.fields(obj)] if dataclasses.is_dataclass(obj) else []
                if part not in names:
                    where = scope.rstrip(".") or ("the run config" if kind == "run" else "the preset")
                    close = difflib.get_close_matches(part, names, n=1)
                    hint = f"; did you mean {scope}{close[0]}?" if close else ""
                    raise ConfigError(f"unknown sweep setting {path!r}: {where} has {', '.join(names) or 'no fields'}{hint}")
                obj, scope = getattr(obj, part), f"{scope}{part}."


def check_values(target: Target, points: Sequence[Point]) -> None:
    """Raise :class:`ConfigError` naming the point if one of its values does not parse or its config is invalid,
    or naming the field and its values if two points make the same run (before any work).

    Values are parsed by their field's type, so ``train.lr`` values ``1`` and ``1.0`` (two keys, one learning
    rate) are one value given twice: :func:`check_distinct`.

    Examples:
        >>> from bridge import models, tasks; from bridge.config import RunConfig, TrainConfig, config_to_dict
        >>> cfg = RunConfig(tasks.LinearTeacherConfig((2.0, 1.0), d_in=3, d_out=3), models.DeepLinearConfig(3, 8, 3), TrainConfig(steps=2))
        >>> check_values(Target("run", config=config_to_dict(cfg)), [Point((("train.lr", "0.1"),)), Point((("train.lr", "abc"),))])
        Traceback (most recent call last):
        ...
        bridge.config.ConfigError: sweep point train.lr=abc: train.lr must be a number, got 'abc'
    """
    from bridge.overrides import apply

    base = target.base()
    made = []
    for point in points:
        try:
            if target.kind == "run":
                made.append(point_config(target, point))
            else:  # the seed is not a field of the preset: the study is given it beside the preset (as run_point does)
                made.append((apply(base, point.config_settings()), int(point.seed or 0)))
        except ConfigError as e:
            raise ConfigError(f"sweep point {point.key}: {e}") from None
    check_distinct(points, made)


def check_distinct(points: Sequence[Point], made: Sequence[Any]) -> None:
    """Raise :class:`ConfigError` if two of ``points`` make equal configs ``made`` (one per point, in order),
    naming the settings that differ as typed and the one value each pair reads as.

    Examples:
        >>> from bridge.config import TrainConfig
        >>> check_distinct([Point((("lr", 1),)), Point((("lr", 0.5),))], [TrainConfig(lr=1.0), TrainConfig(lr=0.5)])
        >>> check_distinct([Point((("lr", 1),)), Point((("lr", 1.0),))], [TrainConfig(lr=1.0), TrainConfig(lr=1.0)])
        Traceback (most recent call last):
        ...
        bridge.config.ConfigError: sweep points lr=1 and lr=1.0 would train the same run: lr 1 and 1.0 both read as 1.0; give each value once
    """
    buckets: dict[str, list[int]] = {}
    for i, config in enumerate(made):
        bucket = buckets.setdefault(repr(_coarse(config)), [])  # equal configs share a bucket; == decides within it
        same = next((j for j in bucket if made[j] == config), None)
        if same is not None:
            a, b = points[same].params, points[i].params
            paths = [p for p in dict.fromkeys([*a, *b]) if p not in a or p not in b or value_text(a[p]) != value_text(b[p])]
            said = "; ".join(f"{p} {_typed_text(a, p)} and {_typed_text(b, p)} both read as {_read(config, p)}" for p in paths)
            raise ConfigError(f"sweep points {points[same].key} and {points[i].key} would train the same run: {said}; give each value once")
        bucket.append(i)


def _coarse(obj: Any) -> Any:
    """``obj`` (a config) as nested tuples with every number a float: equal configs give equal results."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return (type(obj).__name__, *(_coarse(getattr(obj, f.name)) for f in dataclasses.fields(obj)))
    if isinstance(obj, tuple | list):
        return tuple(_coarse(v) for v in obj)
    if isinstance(obj, dict):
        return tuple(sorted((str(k), _coarse(v)) for k, v in obj.items()))
    if isinstance(obj, numbers.Real) and not isinstance(obj, bool):
        return float(obj)
    return obj


def _typed_text(params: dict[str, Any], path: str) -> str:
    return value_text(params[path]) if path in params else "unset"


def _read(config: Any, path: str) -> str:
    """The value at dotted ``path`` of a point's config (``(preset, seed)`` for a case study), as typed."""
    obj = config[0] if isinstance(config, tuple) else config
    try:
        for part in path.split("."):
            obj = getattr(obj, part)
        return value_text(obj)
    except (AttributeError, ConfigError):
        return "one value"


__all__ = ["check_distinct", "check_paths", "check_values"]
