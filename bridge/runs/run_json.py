"""What a run directory's ``run.json`` says, read without opening the run (nothing here imports torch or pandas):
the record itself, checked as :func:`bridge.load_run` opens it (:func:`read_record`; that the path is a directory,
:func:`check_folder`), the run directories in a folder (:func:`runs_within`), whether it records a finished report
(:func:`has_report`), a metrics header it records (:func:`recorded_header`), whether its config has the shape of a run's config (:func:`config_shape_error`), whether an
earlier version of the library wrote it before files were recorded (:func:`older_layout`), and which config kinds in
its config no module in this process registered (:func:`unregistered_kinds`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bridge.runs.errors import CorruptFileError, RunError
from bridge.runs.storage import read_json

_FOLDERS_OF_RUNS = (("sweep", "sweep.json", "points/KEY"), ("robustness", "robustness.json", "NEIGHBOUR/seed-S"), ("hidden-width", "universality.json", "width-W/seed-S"))


def check_folder(path: str | Path) -> Path:
    """``path`` as a path, once it is found to be a directory (as a run directory, or an output of many runs, must be).

    Raises:
        RunError: ``path`` is missing or a file, naming it.

    Examples:
        >>> import tempfile; folder = Path(tempfile.mkdtemp())
        >>> check_folder(str(folder)) == folder
        True
        >>> check_folder(folder / "missing")
        Traceback (most recent call last):
        ...
        bridge.runs.errors.RunError: run directory .../missing does not exist
    """
    path = Path(path)
    if not path.is_dir():
        raise RunError(f"{path} is a file, not a run directory" if path.exists() else f"run directory {path} does not exist")
    return path


def read_record(path: str | Path) -> dict[str, Any]:
    """The parsed ``run.json`` of the run directory ``path``: the checks :func:`bridge.load_run` makes before it reads
    anything else, made from the file system and the JSON alone (the command line makes them before importing torch).

    Raises:
        RunError: ``path`` is missing, a file, or holds no ``run.json`` (a folder of runs that commands write
            names where its runs are).
        CorruptFileError: ``run.json`` is not JSON, or not an object whose ``files`` (when present) is a table.

    Examples:
        >>> import tempfile; folder = Path(tempfile.mkdtemp()); _ = (folder / "run.json").write_text('{"status": "complete"}')
        >>> read_record(folder)
        {'status': 'complete'}
        >>> _ = (folder / "run.json").write_text("[1, 2]"); read_record(folder)
        Traceback (most recent call last):
        ...
        bridge.runs.errors.CorruptFileError: .../run.json is not a run record (an object whose 'files' is a table)
        >>> read_record(folder / "missing")
        Traceback (most recent call last):
        ...
        bridge.runs.errors.RunError: run directory .../missing does not exist
    """
    path = check_folder(path)
    if not (path / "run.json").exists():
        for kind, record, layout in _FOLDERS_OF_RUNS:
            if (path / record).is_file():  # a folder of runs that commands write: name where its runs are
                first = next((d / runs_within(d)[0] for d in sorted(path.iterdir()) if d.is_dir() and runs_within(d)), None)
                loader = f" (bridge.load_sweep({str(path)!r}) reads the sweep)" if kind == "sweep" else ""
                raise RunError(f"{path} is a {kind} directory, not a run directory: its runs are {layout} inside it" + (f", such as {first}" if first else "") + loader)
        inside = runs_within(path)
        raise RunError(f"{path} is not a run directory (no run.json)" + (f"; it holds the run directories {', '.join(inside[:3])}{', …' if len(inside) > 3 else ''}: open one of them ({path / inside[0]})" if inside else ""))
    info = read_json(path / "run.json")
    if not isinstance(info, dict) or not isinstance(info.get("files", {}), dict):
        raise CorruptFileError(f"{path / 'run.json'} is not a run record (an object whose 'files' is a table)")
    return info


def runs_within(folder: str | Path) -> list[str]:
    """Names of the run directories directly inside ``folder`` (each holds a ``run.json``), seeds in numeric order:
    ``seed-S`` as ``mechbridge run --seeds`` names them and ``seed_S`` as :func:`bridge.train_seeds` does. Hidden
    folders (a name starting with ``.``: a run still being trained, to be moved in place once finished) are left out.

    Examples:
        >>> import tempfile; folder = Path(tempfile.mkdtemp())
        >>> for name in ("seed_10", "seed-2", "seed_1", "notes", ".main"):
        ...     (folder / name).mkdir(); _ = (folder / name / "run.json").write_text("{}") if name != "notes" else None
        >>> runs_within(folder), runs_within(folder / "seed_1")
        (['seed_1', 'seed-2', 'seed_10'], [])
    """
    import re

    def order(name: str) -> tuple[int, str]:
        m = re.fullmatch(r"seed[-_](\d+)", name)
        return (int(m[1]), name) if m else (-1, name)

    try:
        names = [p.name for p in Path(folder).iterdir() if (p / "run.json").is_file() and not p.name.startswith(".")]
    except OSError:
        return []
    return sorted(names, key=order)


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


def recorded_header(value: Any, field: str) -> list[str] | None:
    """The metrics header ``run.json`` records in ``field`` (``metrics_columns``, or one of ``metrics_headers``): a list
    of column names, or None (no header on record).

    Raises:
        CorruptFileError: ``value`` is something else (the message names the field and the value).

    Examples:
        >>> recorded_header(["step", "observable", "value"], "metrics_columns")
        ['step', 'observable', 'value']
        >>> recorded_header("value", "metrics_headers['53']")
        Traceback (most recent call last):
        ...
        bridge.runs.errors.CorruptFileError: run.json's metrics_headers['53'] is not a list of column names: 'value'
    """
    if value is None or (isinstance(value, list) and all(isinstance(c, str) for c in value)):
        return value
    raise CorruptFileError(f"run.json's {field} is not a list of column names: {value!r:.80}")


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
