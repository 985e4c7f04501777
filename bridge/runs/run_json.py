"""What a run directory's ``run.json`` says, read without opening the run: whether it records a finished report
(:func:`has_report`), whether its config has the shape of a run's config (:func:`config_shape_error`), whether an
earlier version of the library wrote it before files were recorded (:func:`older_layout`), and which config kinds in
its config no module in this process registered (:func:`unregistered_kinds`).
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


RUN_PARTS = ("task", "model", "train")  # the fields of a run's config that are configs of their own


def config_shape_error(info: Any) -> str | None:
    """What is wrong with the shape of the ``"config"`` of the ``run.json`` object ``info``, or ``None``.

    The shape :func:`~bridge.config.config_to_dict` writes: an object naming its ``kind``, whose ``task``, ``model`` and
    ``train`` are objects naming theirs (a record without a ``"config"`` has none to check). Read from the JSON alone (no config class, so no model registry or torch):
    the check ``mechbridge report`` makes before printing a stored report; every reader that builds the config checks
    its fields too.

    Examples:
        >>> config_shape_error({"config": {"kind": "run", "task": {"kind": "t"}, "model": {"kind": "m"}, "train": {"kind": "train"}}}) is None
        True
        >>> config_shape_error({"config": [1, 2]}), config_shape_error({"config": {"kind": "run", "task": {"kind": "t"}, "model": 3, "train": {}}})
        ("'config' must be an object naming its kind (a run's config), got [1, 2]", "'config.model' must be an object naming its kind, got 3")
    """
    if not isinstance(info, dict) or "config" not in info:  # a record of a report's files alone: nothing to check
        return None
    config = info["config"]
    if not isinstance(config, dict) or not isinstance(config.get("kind"), str):
        return f"'config' must be an object naming its kind (a run's config), got {config!r:.80}"
    for part in RUN_PARTS:
        value = config.get(part)
        if not isinstance(value, dict) or not isinstance(value.get("kind"), str):
            return f"'config.{part}' must be an object naming its kind, got {value!r:.80}"
    return None


def older_layout(info: Any, path: str | Path) -> str | None:
    """Why the report of the run directory ``path`` (its parsed ``run.json`` is ``info``) cannot be checked, if an
    earlier version of the library wrote it: a finished run whose ``run.json`` records no files (no ``"files"``, which
    every run this version finishes holds). ``None`` for a run of this layout, whose report not on record was left by
    an interrupted writer instead.

    Examples:
        >>> older_layout({"status": "complete", "config": {}}, "runs/dl")[:58]
        'runs/dl was written by an earlier version of mechbridge, w'
        >>> older_layout({"status": "complete", "files": {}}, "runs/dl") is None, older_layout({"status": "running"}, "runs/dl") is None
        (True, True)
    """
    if not isinstance(info, dict) or info.get("status") != "complete" or "files" in info:
        return None
    return (
        f"{path} was written by an earlier version of mechbridge, whose run.json records no files (the size and SHA-256 "
        f"every read checks), so its report cannot be checked: `mechbridge report {path} --rebuild` writes the report "
        "again from the run and records it (its training is kept)"
    )


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
