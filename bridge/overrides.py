"""Change fields of a frozen (nested) config by dotted path: what ``mechbridge run --set key=value`` does.

Examples:
    >>> from bridge.config import TrainConfig
    >>> override(TrainConfig(lr=0.1), "lr", "0.02").lr
    0.02
    >>> override(TrainConfig(), "schedule.n_log", "5").schedule.n_log
    5
    >>> override(TrainConfig(), "schedule.nlog", "5")
    Traceback (most recent call last):
    ...
    bridge.config.ConfigError: unknown setting 'schedule.nlog': schedule has n_log, every, track_every, track_resolution
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Iterable
from typing import Any

from bridge.config import ConfigError


def override(cfg: Any, path: str, text: str, _scope: str = "") -> Any:
    """A copy of ``cfg`` with the field at dotted ``path`` set to ``text`` parsed by the field's type.

    Args:
        cfg: a frozen dataclass (a preset, a run config, a train config), possibly nesting others.
        path: ``"train.lr"``, ``"model.d_model"``, ``"targets.tolerance"``.
        text: the value as typed on a command line: numbers, ``true``/``false``,
            ``none``, strings, tuples as ``1,2`` or JSON lists, and values of any
            class with a ``from_text(text)`` classmethod.

    Raises:
        ConfigError: an unknown field (naming the ones that exist) or a value of the wrong type.
    """
    head, _, rest = path.partition(".")
    full = f"{_scope}{path}"
    if not dataclasses.is_dataclass(cfg) or isinstance(cfg, type):
        raise ConfigError(f"unknown setting {full!r}: {_scope.rstrip('.') or 'it'} has no fields")
    fields = {f.name: f for f in dataclasses.fields(cfg)}
    if head not in fields:
        raise ConfigError(f"unknown setting {full!r}: {_scope.rstrip('.') or 'the preset'} has {', '.join(fields)}")
    if rest:
        value = override(getattr(cfg, head), rest, text, f"{_scope}{head}.")
    else:
        value = parse(text, typing.get_type_hints(type(cfg)).get(head, Any), full)
    return dataclasses.replace(cfg, **{head: value})


def apply(cfg: Any, settings: Iterable[str]) -> Any:
    """``cfg`` with every ``key=value`` of ``settings`` applied in order (``ConfigError`` on a malformed one)."""
    for item in settings:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set takes key=value, got {item!r}")
        cfg = override(cfg, key.strip(), text.strip())
    return cfg


def parse(text: str, annotation: Any, name: str = "value") -> Any:
    """``text`` converted to ``annotation`` (int, float, bool, str, None, tuples, unions of these)."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if text.lower() in ("none", "null") and type(None) in args:
            return None
        errors = []
        for option in [a for a in args if a is not type(None)]:
            try:
                return parse(text, option, name)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if errors else f"{name}: cannot parse {text!r}")
    if annotation is bool:
        if text.lower() in ("true", "1", "yes"):
            return True
        if text.lower() in ("false", "0", "no"):
            return False
        raise ConfigError(f"{name} must be true or false, got {text!r}")
    if annotation in (int, float):
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = None
        if annotation is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if annotation is float and isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{name} must be {'an integer' if annotation is int else 'a number'}, got {text!r}")
    if origin is tuple:
        items = json.loads(text) if text.startswith("[") else [t for t in text.split(",") if t.strip()]
        kinds = [args[0]] * len(items) if len(args) == 2 and args[1] is Ellipsis else list(args)
        if len(kinds) != len(items):
            raise ConfigError(f"{name} takes {len(kinds)} comma-separated values, got {text!r}")
        return tuple(parse(str(i).strip(), k, name) for i, k in zip(items, kinds))
    if isinstance(annotation, type) and callable(getattr(annotation, "from_text", None)):
        try:  # a value type that reads its own written form (a named shape, say)
            return annotation.from_text(text)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"{name}: {e}") from None
    if annotation is str or annotation is Any:
        return text
    raise ConfigError(f"{name} cannot be set from the command line (a {getattr(annotation, '__name__', annotation)})")
