"""What a run directory's ``run.json`` says, read without opening the run: whether it records a finished report
(:func:`has_report`), and which config kinds in its config no module in this process registered
(:func:`unregistered_kinds`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bridge.runs.storage import read_json


def has_report(path: str | Path) -> bool:
    """Whether the case-study output ``path`` holds a finished report: ``report.json`` on record in its ``run.json``.

    A report left from before the run trained again (extended, or resumed after a stop) is
    not: training takes the record of the files it changes out of ``run.json``.

    Examples:
        >>> has_report("runs/nothing-here")
        False
    """
    path = Path(path)
    try:
        info = read_json(path / "run.json")
    except (OSError, ValueError):
        return False
    return (path / "report.json").exists() and isinstance(info, dict) and "report.json" in (info.get("files") or {})


def unregistered_kinds(data: Any, where: str = "config") -> list[tuple[str, str]]:
    """``(where, kind)`` of every config kind in the JSON ``data`` of a ``run.json`` that no module registered.

    ``where`` is the last field name on the way (``"model"``, ``"task"``).

    Examples:
        >>> unregistered_kinds({"kind": "run", "model": {"kind": "my_net", "width": 4}, "seed": 0})
        [('model', 'my_net')]
    """
    from bridge.config import CONFIG_CLASSES

    found: list[tuple[str, str]] = []
    if isinstance(data, dict):
        kind = data.get("kind")
        if isinstance(kind, str) and kind not in CONFIG_CLASSES:
            found.append((where, kind))
        for key, value in data.items():
            found += unregistered_kinds(value, key)
    elif isinstance(data, list):
        for value in data:
            found += unregistered_kinds(value, where)
    return found
