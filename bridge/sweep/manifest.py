"""``sweep.json``: what a sweep is (target, axes, point keys), the state of each point, and package versions.

The manifest is written by the driver only (atomically, after every finished
point). Whether a point is done is read from its run directory, so a driver killed
between a point's end and the manifest's next write loses nothing.

Examples:
    >>> from bridge.sweep.grid import grid_points
    >>> a = new_manifest({"kind": "run", "config": {"seed": 0}}, grid_points({"train.lr": [0.1, 0.2]}), "local")
    >>> b = new_manifest({"kind": "run", "config": {"seed": 0}}, grid_points({"train.lr": [0.1, 0.3]}), "local")
    >>> difference(a, b)
    'axis train.lr is [0.1, 0.2] there, [0.1, 0.3] here'
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bridge.config import first_difference
from bridge.sweep.grid import Point

MANIFEST = "sweep.json"
RESULTS = "results.csv"
POINTS = "points"
FORMAT = 1
VERSIONED = ("mechbridge", "torch", "transformer-lens", "numpy", "pandas", "ray", "submitit")


def package_versions() -> dict[str, str]:
    """Python's and the installed versions of the packages a sweep's results depend on.

    Examples:
        >>> v = package_versions()
        >>> "python" in v, "torch" in v, "dask" in v
        (True, True, False)
    """
    import importlib.metadata as md

    out = {"python": sys.version.split()[0]}
    for pkg in VERSIONED:
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return out


def axes_of(points: Sequence[Point]) -> dict[str, list[Any]]:
    """Every path that the points set, with its distinct values in order of first appearance.

    Examples:
        >>> from bridge.sweep.grid import grid_points
        >>> axes_of(grid_points({"train.lr": [0.1, 0.2]}, seeds=[0, 1]))
        {'train.lr': [0.1, 0.2], 'seed': [0, 1]}
    """
    axes: dict[str, list[Any]] = {}
    for point in points:
        for path, value in point.settings:
            values = axes.setdefault(path, [])
            if value not in values:
                values.append(value)
    return axes


def new_manifest(target: dict[str, Any], points: Sequence[Point], backend: str) -> dict[str, Any]:
    """A manifest for a sweep that has not run: every point ``pending``.

    Args:
        target: the description of what every point trains (:meth:`bridge.sweep.point.Target.describe`).
        points: the sweep's points.
        backend: the backend's name.

    Examples:
        >>> from bridge.sweep.grid import grid_points
        >>> m = new_manifest({"kind": "run", "config": {}}, grid_points({"train.lr": [0.1]}, seeds=[0, 1]), "local")
        >>> m["axes"], [(p["key"], p["status"]) for p in m["points"]]
        ({'train.lr': [0.1], 'seed': [0, 1]}, [('train.lr=0.1__seed=0', 'pending'), ('train.lr=0.1__seed=1', 'pending')])
    """
    return {
        "format": FORMAT,
        "target": target,
        "axes": axes_of(points),
        "points": [{"key": p.key, "params": p.params, "status": "pending", "error": None} for p in points],
        "backend": backend,
        "versions": package_versions(),
        "created": time.time(),
    }


def difference(stored: dict[str, Any], new: dict[str, Any]) -> str | None:
    """The first difference between the sweep ``stored`` in a directory and the ``new`` one (``None``: the same sweep).

    Examples:
        >>> from bridge.sweep.grid import grid_points
        >>> pts = grid_points({"train.lr": [0.1]})
        >>> a, b = (new_manifest({"kind": "run", "config": {"seed": s}}, pts, "local") for s in (0, 1))
        >>> difference(a, a), difference(a, b)
        (None, 'base config.seed is 0 there, 1 here')
    """
    found = first_difference(stored.get("target"), new.get("target"))
    if found:
        return f"base {found}"
    old_axes, new_axes = stored.get("axes", {}), new.get("axes", {})
    for path in [*old_axes, *(p for p in new_axes if p not in old_axes)]:
        if path not in new_axes:
            return f"axis {path} is there, not here"
        if path not in old_axes:
            return f"axis {path} is here, not there"
        if old_axes[path] != new_axes[path]:
            return f"axis {path} is {old_axes[path]} there, {new_axes[path]} here"
    old_keys, new_keys = [p["key"] for p in stored.get("points", [])], [p["key"] for p in new.get("points", [])]
    if old_keys != new_keys:
        extra = next((k for k in new_keys if k not in old_keys), None) or next((k for k in old_keys if k not in new_keys), "order")
        return f"point {extra} belongs to one sweep only"
    return None


def read_manifest(out: str | Path) -> dict[str, Any]:
    """The manifest of sweep directory ``out``.

    Raises:
        FileNotFoundError: ``out`` holds no ``sweep.json``.
        CorruptFileError: ``sweep.json`` is not a sweep manifest, or its ``format`` is not the one this version
            writes (:data:`FORMAT`), naming the file and the number.

    Examples:
        >>> import tempfile
        >>> read_manifest(tempfile.mkdtemp())
        Traceback (most recent call last):
        ...
        FileNotFoundError: ... is not a sweep directory (no sweep.json)
    """
    from bridge.runs.errors import CorruptFileError
    from bridge.runs.storage import read_json

    path = Path(out) / MANIFEST
    if not path.exists():
        raise FileNotFoundError(f"{out} is not a sweep directory (no {MANIFEST})")
    manifest = read_json(path)  # a file that is not JSON is named by its path, the sweep directory's included
    number = manifest.get("format") if isinstance(manifest, dict) else FORMAT
    if type(number) is not int or number != FORMAT:  # before its fields: another format may name them otherwise (true and 1.0 are not 1)
        said = "has no format number" if number is None else f"has format {number!r:.40}"
        raise CorruptFileError(f"{path} {said}; this version of mechbridge reads sweep format {FORMAT} only (a later format needs a later mechbridge)")
    ok = isinstance(manifest, dict) and isinstance(manifest.get("target"), dict) and "kind" in manifest["target"]
    points = manifest.get("points") if isinstance(manifest, dict) else None
    if not ok or not isinstance(points, list) or not all(_is_point_record(r) for r in points):
        raise CorruptFileError(f"{path} is not a sweep manifest (an object with a target and a list of points, each with a key naming a folder, params, and text or null for its status and error)")
    return manifest


def _is_point_record(record: Any) -> bool:
    """Whether ``record`` is a point of a manifest: a key that names one folder, a params object, a text or null status and error."""
    if not isinstance(record, dict) or not {"key", "params"} <= set(record):
        return False
    key = record["key"]
    if not isinstance(key, str) or not key or key in (".", "..") or "/" in key or "\\" in key:
        return False
    return isinstance(record["params"], dict) and all(record.get(name) is None or isinstance(record[name], str) for name in ("status", "error"))


def write_manifest(out: str | Path, manifest: dict[str, Any]) -> None:
    """Write ``manifest`` to ``out/sweep.json`` atomically (with the time of the write).

    Examples:
        >>> import tempfile; from bridge.sweep.grid import grid_points
        >>> out = tempfile.mkdtemp(); write_manifest(out, new_manifest({"kind": "run"}, grid_points({"seed": [3]}), "local"))
        >>> m = read_manifest(out); m["points"][0]["key"], "updated" in m
        ('seed=3', True)
    """
    from bridge.runs.storage import atomic_write_json

    atomic_write_json(Path(out) / MANIFEST, {**manifest, "updated": time.time()})


__all__ = ["MANIFEST", "POINTS", "RESULTS", "axes_of", "difference", "new_manifest", "package_versions", "read_manifest", "write_manifest"]
