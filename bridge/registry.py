"""Named registries and lazily loaded public names.

A :class:`Registry` maps names to objects. Built-in entries are listed once, as
``"module:attribute"`` strings, in their package's ``__init__`` and imported on
first use, so listing names costs no import; plugins register objects with the
:meth:`Registry.register` decorator. Registering the same object again is a
no-op, and an object of the same module and qualified name replaces the one
held (a re-run notebook cell defines its function or class anew); any other
object under a taken name is an error.

Examples:
    >>> from bridge.registry import Registry
    >>> colours = Registry("colour", {"blue": "colorsys:rgb_to_hsv"})
    >>> @colours.register("red")
    ... def red():
    ...     return "#f00"
    >>> colours.get("red")()
    '#f00'
    >>> colours.names()
    ['blue', 'red']
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Generic, TypeVar

T = TypeVar("T")


def resolve(target: str) -> Any:
    """The object named by ``"package.module:attribute"``.

    Examples:
        >>> resolve("math:pi") > 3
        True
    """
    module, _, attr = target.partition(":")
    obj = importlib.import_module(module)
    return getattr(obj, attr) if attr else obj


def _target_of(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '')}:{getattr(obj, '__qualname__', '')}"


def _redefined(held: Any, obj: Any) -> bool:
    """``obj`` is ``held`` defined again: both named (functions, classes) with the same module and qualified name."""
    named = all(isinstance(getattr(o, attr, None), str) and getattr(o, attr) for o in (held, obj) for attr in ("__module__", "__qualname__"))
    return named and _target_of(held) == _target_of(obj)


class Registry(Generic[T]):
    """A name → object map whose lookups fail with the list of known names.

    Args:
        kind: what the entries are, for error messages (``"tracker"``).
        lazy: built-in entries as ``name → "module:attribute"``, imported on first :meth:`get`.

    Examples:
        >>> functions = Registry("function", {"sqrt": "math:sqrt"})
        >>> functions.get("sqrt")(9.0), "sqrt" in functions
        (3.0, True)
        >>> functions.get("cube")
        Traceback (most recent call last):
        ...
        KeyError: "unknown function 'cube' (known: sqrt)"
    """

    def __init__(self, kind: str, lazy: Mapping[str, str] | None = None) -> None:
        self.kind = kind
        self._items: dict[str, T | str] = dict(lazy or {})

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator registering an object under ``name``.

        The same object again (or the object a lazy entry names) is accepted, and
        one of the same module and qualified name (a re-run notebook cell) replaces
        the held one; any other object under a taken name raises ``ValueError``.

        Examples:
            >>> shapes = Registry("shape")
            >>> for _ in range(2):   # a notebook cell run twice: two function objects of one name
            ...     @shapes.register("square")
            ...     def square(x):
            ...         return x * x
            >>> shapes.get("square")(3)
            9
            >>> shapes.register("square")(lambda x: x)
            Traceback (most recent call last):
            ...
            ValueError: shape 'square' is already registered (to bridge.registry:square)
        """

        def add(obj: T) -> T:
            held = self._items.get(name)
            if held is not None and held is not obj and held != _target_of(obj) and not _redefined(held, obj):
                raise ValueError(f"{self.kind} {name!r} is already registered (to {held if isinstance(held, str) else _target_of(held)})")
            self._items[name] = obj
            return obj

        return add

    def add_lazy(self, name: str, target: str) -> None:
        """List a built-in entry as ``"module:attribute"``, imported on first :meth:`get`."""
        if name in self._items and self._items[name] != target:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._items[name] = target

    def check(self, name: str) -> str:
        """``name`` once it is found registered, importing nothing (a lazy entry stays unimported); ``KeyError``
        naming the choices otherwise (what :meth:`get` raises).

        Examples:
            >>> Registry("function", {"sqrt": "math:sqrt"}).check("sqrt")
            'sqrt'
        """
        if name not in self._items:
            known = ", ".join(sorted(self._items)) or "none"
            raise KeyError(f"unknown {self.kind} {name!r} (known: {known})")
        return name

    def get(self, name: str) -> T:
        """The object registered as ``name``; ``KeyError`` naming the choices otherwise."""
        held = self._items[self.check(name)]
        if isinstance(held, str):
            held = self._items[name] = resolve(held)
        return held

    def names(self) -> list[str]:
        """Every registered name, sorted (nothing is imported)."""
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


def lazy_exports(package: str, exports: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for a package whose public names import on first use.

    Args:
        package: the package's ``__name__``.
        exports: public name → module that defines it (``"bridge.training.loop"``).

    Examples:
        >>> getattr_, dir_ = lazy_exports("bridge", {"sqrt": "math"})
        >>> getattr_("sqrt")(4.0)
        2.0
    """

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(exports[name])
        value = module if exports[name] == f"{package}.{name}" else getattr(module, name)  # a subpackage exported as itself
        setattr(sys.modules[package], name, value)  # later lookups skip __getattr__
        return value

    def __dir__() -> list[str]:
        return sorted(exports)

    return __getattr__, __dir__
