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
    bridge.config.ConfigError: unknown setting 'schedule.nlog': schedule has n_log, every, track_every, track_resolution, keep_optimizer
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from collections.abc import Iterable
from typing import Any

from bridge.config import ConfigError


def override(cfg: Any, path: str, text: str) -> Any:
    """A copy of ``cfg`` with the field at dotted ``path`` set to ``text`` parsed by the field's type.

    Args:
        cfg: a frozen dataclass (a preset, a run config, a train config), possibly nesting others.
        path: ``"train.lr"``, ``"model.d_model"``, ``"targets.tolerance"``.
        text: the value as typed on a command line: numbers, ``true``/``false``,
            ``none``, strings, tuples as ``1,2`` or JSON lists, and values of any
            class with a ``from_text(text)`` classmethod.

    Raises:
        ConfigError: an unknown field (naming the ones that exist) or a value of the wrong type.

    Examples:
        >>> from bridge.config import TrainConfig
        >>> override(TrainConfig(), "betas", "0.8,0.9").betas
        (0.8, 0.9)
    """
    return override_many(cfg, [(path, text)])


def override_many(cfg: Any, settings: Iterable[tuple[str, str]]) -> Any:
    """A copy of ``cfg`` with every ``(path, text)`` set together (a later one wins over an earlier one for the same path).

    Each config is rebuilt once with all of its changes, so fields that are only valid
    together (a parametrisation and its base width, say) can be given in any order.

    Examples:
        >>> from bridge.models import MLPConfig
        >>> cfg = override_many(MLPConfig(d_in=3, d_out=1), [("parametrisation", "mup"), ("base_width", "16")])
        >>> cfg.parametrisation, cfg.base_width
        ('mup', 16)
    """
    tree: dict = {}
    for path, text in settings:
        parts = path.split(".")
        if not all(parts):
            raise ConfigError(f"unknown setting {path!r}: a dotted path has a name between every two dots, such as train.lr")
        node = tree
        for i, part in enumerate(parts[:-1]):
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"both {'.'.join(parts[: i + 1])!r} and {path!r} are set: set one or the other")
        if isinstance(node.get(parts[-1]), dict):
            raise ConfigError(f"both {path!r} and settings inside it are set: set one or the other")
        node[parts[-1]] = text
    return _set(cfg, tree, "")


def _set(cfg: Any, tree: dict, scope: str) -> Any:
    if not dataclasses.is_dataclass(cfg) or isinstance(cfg, type):
        raise ConfigError(f"unknown setting {scope + next(iter(tree))!r}: {scope.rstrip('.') or 'it'} has no fields")
    fields = {f.name: f for f in dataclasses.fields(cfg)}
    values = {}
    for head, sub in tree.items():
        full = f"{scope}{head}"
        if head not in fields:
            raise ConfigError(f"unknown setting {full!r}: {scope.rstrip('.') or 'the preset'} has {', '.join(fields)}")
        if isinstance(sub, dict):
            values[head] = _set(getattr(cfg, head), sub, f"{full}.")
        else:
            values[head] = parse(sub, typing.get_type_hints(type(cfg)).get(head, Any), full)
    return dataclasses.replace(cfg, **values)


def apply(cfg: Any, settings: Iterable[str]) -> Any:
    """``cfg`` with every ``key=value`` of ``settings`` applied together (``ConfigError`` on a malformed one);
    a later setting of the same key wins.

    Examples:
        >>> from bridge.config import TrainConfig
        >>> cfg = apply(TrainConfig(), ["lr=0.5", "schedule.every=100", "lr=0.2"])
        >>> cfg.lr, cfg.schedule.every
        (0.2, 100)
    """
    pairs = []
    for item in settings:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set takes key=value, got {item!r}")
        pairs.append((key.strip(), text.strip()))
    return override_many(cfg, pairs)


def parse(text: str, annotation: Any, name: str = "value") -> Any:
    """``text`` converted to ``annotation`` (int, float, bool, str, None, tuples, unions of these).

    Examples:
        >>> parse("none", int | None), parse("3", float), parse("yes", bool), parse("1,2", tuple[int, ...])
        (None, 3.0, True, (1, 2))
    """
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
        except ValueError:  # not JSON, or an integer of more digits than Python reads
            value = None
        if annotation is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if annotation is float and isinstance(value, int | float) and not isinstance(value, bool):
            try:
                number = float(value)
            except OverflowError:  # an integer beyond the floats: refused as infinite
                number = math.inf
            if not math.isfinite(number):  # NaN, Infinity and 1e400 read as JSON; no setting means them
                raise ConfigError(f"{name} must be a finite number, got {text!r:.80}")
            return number
        raise ConfigError(f"{name} must be {'an integer' if annotation is int else 'a number'}, got {text!r}")
    if origin is tuple:
        try:
            items = json.loads(text) if text.startswith("[") else [t for t in text.split(",") if t.strip()]
        except json.JSONDecodeError as e:
            raise ConfigError(f"{name} must be a list such as [1, 2] or 1,2; {text!r} does not parse ({e.msg} at character {e.pos})") from None
        except ValueError as e:  # an integer of more digits than Python reads
            raise ConfigError(f"{name} must be a list such as [1, 2] or 1,2; {text!r:.80} does not parse ({e})") from None
        if not isinstance(items, list):
            raise ConfigError(f"{name} must be a list such as [1, 2] or 1,2, got {text!r}")
        kinds = [args[0]] * len(items) if len(args) == 2 and args[1] is Ellipsis else list(args)
        if len(kinds) != len(items):
            raise ConfigError(f"{name} takes {len(kinds)} comma-separated values, got {text!r}")
        return tuple(parse(str(i).strip(), k, name) for i, k in zip(items, kinds))
    from_text = getattr(annotation, "from_text", None) if isinstance(annotation, type) else None
    if callable(from_text):
        try:  # a value type that reads its own written form (a named shape, say)
            return from_text(text)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"{name}: {e}") from None
    if annotation is str or annotation is Any:
        return text
    raise ConfigError(f"{name} cannot be set from the command line (a {getattr(annotation, '__name__', annotation)})")
