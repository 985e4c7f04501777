"""The memory a task's data or a model's weights take, judged from the config's sizes before anything is allocated.

Each task and model module registers, by config ``kind``, the fields its size grows with and an estimate of the bytes
its builder holds at its peak (the tensors it returns and the largest ones it draws them from). A builder calls
:func:`check_memory` first: a config needing more than this machine's memory is refused by a ``ConfigError`` naming
those fields and the size, instead of an allocation failing deep inside torch, or succeeding and the process being
killed once the memory is touched.

Examples:
    >>> from bridge.tasks import ModularConfig
    >>> fields, need = estimate(ModularConfig(p=7))
    >>> fields, need   # 49 pairs: their tokens, labels and split indices
    ({'p': 7, 'encoding': 'tokens', 'template_frequencies': ()}, 6272)
    >>> check_memory(ModularConfig(p=7), limit=1000)
    Traceback (most recent call last):
    ...
    bridge.config.ConfigError: modular with p=7, encoding='tokens', template_frequencies=() needs about 6.3 kB of memory, more than the 1.0 kB of this machine
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from bridge.config import ConfigError

Estimate = Callable[[Any], tuple[dict[str, Any], int]]
SIZES: dict[str, Estimate] = {}


def sized(kind: str) -> Callable[[Estimate], Estimate]:
    """Register ``estimate(config) -> (fields, bytes)`` for configs of ``kind``: the fields the size grows with
    (by name, with their values) and the bytes the builder holds at its peak.

    Examples:
        >>> @sized("toy_table")
        ... def _toy_bytes(c):
        ...     return {"rows": c.rows}, 4 * c.rows
        >>> import types; estimate(types.SimpleNamespace(kind="toy_table", rows=1000))
        ({'rows': 1000}, 4000)
        >>> del SIZES["toy_table"]
    """

    def wrap(fn: Estimate) -> Estimate:
        SIZES[kind] = fn
        return fn

    return wrap


def machine_memory() -> int:
    """Bytes of physical memory of this machine (``2**62`` where the system does not say).

    Examples:
        >>> machine_memory() > 2**20
        True
    """
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, OSError, ValueError):
        return 2**62


def shown_bytes(n: int) -> str:
    """``n`` bytes in decimal units, three significant digits.

    Examples:
        >>> shown_bytes(999), shown_bytes(6272), shown_bytes(4 * 10**12), shown_bytes(2**130)
        ('999 B', '6.3 kB', '4.0 TB', '1.36e+39 B')
    """
    if n < 1000:
        return f"{n} B"
    for i, unit in enumerate(("kB", "MB", "GB", "TB", "PB", "EB"), start=1):
        if n < 1000 ** (i + 1):
            return f"{n / 1000**i:.1f} {unit}"
    return f"{float(n):.2e} B"


def estimate(config: Any) -> tuple[dict[str, Any], int] | None:
    """The fields and the bytes registered for ``config``'s kind (``None``: no estimate registered).

    Examples:
        >>> from bridge.models import MLPConfig
        >>> fields, need = estimate(MLPConfig(d_in=4, d_out=2, widths=(8,)))
        >>> fields["widths"], need > 4 * (4 * 8 + 8 * 2), estimate(object())
        ((8,), True, None)
    """
    kind = getattr(config, "kind", None)
    fn = SIZES.get(kind) if isinstance(kind, str) else None
    return None if fn is None else fn(config)


def check_memory(config: Any, copies: int = 1, limit: int | None = None) -> None:
    """Raise a ``ConfigError`` naming the sizing fields of ``config`` and the bytes when ``copies`` of what it builds
    need more than ``limit`` bytes (default: :func:`machine_memory`). Kinds without an estimate pass.

    Examples:
        >>> from bridge.tasks import ModularConfig
        >>> check_memory(ModularConfig(p=7))   # a few kB: passes
        >>> check_memory(ModularConfig(p=7), copies=2, limit=10_000)
        Traceback (most recent call last):
        ...
        bridge.config.ConfigError: modular with p=7, encoding='tokens', template_frequencies=() needs about 12.5 kB of memory for 2 copies, more than the 10.0 kB of this machine
    """
    found = estimate(config)
    if found is None:
        return
    fields, need = found
    need *= copies
    limit = machine_memory() if limit is None else limit
    if need > limit:
        settings = ", ".join(f"{k}={v!r:.60}" for k, v in fields.items())
        times = f" for {copies} copies" if copies > 1 else ""
        raise ConfigError(f"{config.kind} with {settings} needs about {shown_bytes(need)} of memory{times}, more than the {shown_bytes(limit)} of this machine")


__all__ = ["SIZES", "check_memory", "estimate", "machine_memory", "shown_bytes", "sized"]
