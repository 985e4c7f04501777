"""Run a sweep into a directory, resume it, read it back.

Layout of a sweep directory::

    OUT/sweep.json              target, axes, point keys, state of each point, package versions
    OUT/results.csv             one row per point: parameters, state, final metrics, events, verdict
    OUT/points/<key>/           an ordinary run directory (or case-study output) per point

Examples:
    >>> import tempfile; from bridge import models, tasks; from bridge.config import RunConfig, TrainConfig
    >>> cfg = RunConfig(tasks.LinearTeacherConfig((2.0, 1.0), d_in=3, d_out=3), models.DeepLinearConfig(3, 8, 3), TrainConfig(steps=2))
    >>> s = run_sweep(cfg, tempfile.mkdtemp() + "/lr", grid={"train.lr": [0.05, 0.1]}, seeds=[0, 1], progress=False)
    >>> sorted(p.name for p in s.path.iterdir()), s.table[["train.lr", "seed", "status"]].shape
    (['points', 'results.csv', 'sweep.json'], (4, 3))
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bridge.config import ConfigError
from bridge.sweep.backends import Job, LocalBackend, get_backend
from bridge.sweep.checks import check_paths, check_values
from bridge.sweep.grid import Point, grid_points
from bridge.sweep.manifest import MANIFEST, POINTS, RESULTS, difference, new_manifest, read_manifest, write_manifest
from bridge.sweep.point import DONE, FAILED, INTERRUPTED, PENDING, RUNNING, Stack, Target, point_row, point_state, run_point, stack_points
from bridge.sweep.progress import PointProgress, first_line

if TYPE_CHECKING:
    import pandas as pd

    from bridge.runs.run import Run
    from bridge.trackers.base import Tracker


def run_sweep(
    base: Any,
    out: str | Path,
    *,
    grid: Mapping[str, Sequence[Any]] | None = None,
    seeds: Sequence[int] | None = None,
    points: Sequence[Mapping[str, Any]] | None = None,
    preset: Any = "quick",
    settings: Sequence[str] = (),
    backend: str = "local",
    trackers: Callable[[], Sequence[Tracker]] | None = None,
    device: str = "cpu",
    threads: int = 1,
    imports: Sequence[str] = (),
    loggers: Sequence[str] = (),
    progress: bool | None = None,
    stack: bool = True,
    **backend_options: Any,
) -> Sweep:
    """Train every point of a grid (or a list) over dotted config fields; resume what a killed sweep left.

    Args:
        base: a :class:`~bridge.config.RunConfig`, or a case study's name (then ``preset`` and ``settings`` apply).
        out: the sweep directory; an existing one is resumed if it holds the same sweep.
        grid: dotted path → values, e.g. ``{"train.lr": [1e-3, 3e-3]}`` (values may be typed as on a command line).
        seeds: seeds of every point (a ``seed`` axis, varying fastest).
        points: instead of a grid, explicit points ``[{"train.lr": 1e-3, "train.weight_decay": 1.0}, ...]``.
        preset: a case study's preset name or object.
        settings: ``"path=value"`` changes to the preset applied before every point's own.
        backend: ``"local"`` (this process), ``"ray"`` or ``"submitit"``.
        trackers: a function returning fresh online trackers of a point's run (``base`` a run config).
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``, for every point.
        threads: torch threads (and CPUs reserved on Ray or SLURM) of each point.
        imports: plugin modules every worker imports first.
        loggers: experiment loggers of every run (``"tensorboard"``, ``"wandb"``): each run logs into its own directory.
        progress: progress over points (``None``: a bar on a terminal, plain lines otherwise).
        stack: train the points of a run sweep that differ only in their seed together, one
            job per group (:func:`bridge.training.seeds.train_seeds`; agrees with point by
            point to float rounding); ``False`` runs every point on its own.
        **backend_options: ``address``/``workers`` for Ray; ``cluster``/``workers``/``parameters`` for submitit.

    Returns:
        The :class:`Sweep` read back, with ``trained`` naming the points this call ran.

    Raises:
        ConfigError: bad grid, unknown field, a value its field refuses (``train.lr=abc``), unknown or uninstalled
            backend, or ``out`` holding a different sweep (naming the difference); all before anything is written.
        FileExistsError: ``out`` holds files and is not a sweep directory.

    Examples:
        >>> import tempfile; from bridge import models, tasks; from bridge.config import RunConfig, TrainConfig
        >>> cfg = RunConfig(tasks.LinearTeacherConfig((2.0, 1.0), d_in=3, d_out=3), models.DeepLinearConfig(3, 8, 3), TrainConfig(steps=2))
        >>> s = run_sweep(cfg, tempfile.mkdtemp() + "/lr", grid={"train.lr": [0.05, 0.1]}, seeds=[0, 1], progress=False)
        >>> s.table["status"].tolist(), len(s.trained), run_sweep(cfg, s.path, grid={"train.lr": [0.05, 0.1]}, seeds=[0, 1], progress=False).trained
        (['done', 'done', 'done', 'done'], 4, ())
    """
    from bridge.training.loggers import check_logger_names

    check_logger_names(loggers)
    target = dataclasses.replace(_target(base, preset, settings, trackers, imports, device), loggers=tuple(loggers))
    pts = grid_points(grid, seeds=seeds, points=points)
    check_paths(target.base(), pts, target.kind)
    check_values(target, pts)
    if not isinstance(threads, int) or threads < 1:
        raise ConfigError(f"threads must be a positive integer, got {threads!r}")
    from bridge.training.inputs import check_device, check_threads, resolve_device

    check_device(device)
    if backend == "local":  # this machine trains the points
        resolve_device(device)
        check_threads(threads)
    out = Path(out)
    if backend == "submitit":
        backend_options.setdefault("folder", str(out / ".submitit"))
    runner = get_backend(backend, **backend_options)
    if backend == "ray" and backend_options.get("address") is None:
        workers = backend_options.get("workers") or check_threads(threads)
        if threads > workers:  # Ray would wait for ever for a CPU count its cluster lacks
            raise ConfigError(f"threads={threads} exceeds the {workers} CPUs (workers) of the Ray started here")
    manifest = _open(out, new_manifest(target.describe(), pts, backend))
    states = {p.key: point_state(out / POINTS / p.key, target.kind) for p in pts}
    todo = [p for p in pts if states[p.key] != DONE]
    jobs = stack_points(todo, target, states) if stack else list(todo)
    members = {job.key: [p.key for p in job.points] for job in jobs if isinstance(job, Stack)}
    records = {r["key"]: r for r in manifest["points"]}
    for p in pts:
        if p not in todo:
            records[p.key].update(status=DONE, error=None)
    manifest["backend"] = backend
    write_manifest(out, manifest)
    bar = PointProgress(len(pts), len(pts) - len(todo), progress)
    rows: dict[str, dict[str, Any]] = {}  # done points' rows, read from disk once

    def on_done(outcome: dict[str, Any]) -> None:
        if outcome["key"] in members:  # a stack: its points' outcomes, or (a dead worker) its failure for each
            each = outcome.get("members") or {k: {**outcome, "key": k} for k in members[outcome["key"]]}
        else:
            each = {outcome["key"]: outcome}
        for key, one in each.items():
            records[key].update(status=one["status"], error=one.get("error"), seconds=one.get("seconds"), host=one.get("host"), pid=one.get("pid"), stack=one.get("stack"))
        write_manifest(out, manifest)
        write_results(out, manifest, rows)
        for one in each.values():
            bar.update(one)

    for p in todo:
        records[p.key].update(status="submitted", error=None)
    write_manifest(out, manifest)
    try:
        local = isinstance(runner, LocalBackend)  # one point at a time here: its own bars can show under the sweep's
        runs = [Job(run_point, (target, job, str(out / POINTS / job.key) if isinstance(job, Point) else str(out / POINTS), threads, bar.points_progress if local else False), job.key, threads) for job in jobs]
        if local:
            runner.run(runs, on_done, bar.start)
        else:
            runner.run(runs, on_done)
    finally:
        bar.close()
    write_results(out, manifest, rows)
    return Sweep(out, trained=tuple(p.key for p in todo))


def _target(base: Any, preset: Any, settings: Sequence[str], trackers: Any, imports: Sequence[str], device: str) -> Target:
    from bridge.config import RunConfig, config_to_dict

    if isinstance(base, RunConfig):
        if settings:
            raise ConfigError("settings apply to a case study's preset; apply them to the run config instead")
        return Target("run", config=config_to_dict(base), trackers=trackers, imports=tuple(imports), device=device)
    if isinstance(base, str):
        from case_studies.base import get_case_study, resolve_preset

        if trackers is not None:
            raise ConfigError("a case study chooses its own trackers; trackers apply to a run config")
        resolve_preset(get_case_study(base), preset)  # KeyError naming the known ones
        return Target("case_study", case_study=base, preset=preset, settings=tuple(settings), imports=tuple(imports), device=device)
    raise ConfigError(f"a sweep's base is a RunConfig or a case study's name, got {type(base).__name__}")


def _open(out: Path, new: dict[str, Any]) -> dict[str, Any]:
    """The manifest to continue: the stored one if ``out`` holds the same sweep, else ``new``."""
    check_sweep_dir(out)
    if (out / MANIFEST).exists():
        stored = read_manifest(out)
        diff = difference(stored, new)
        if diff:
            raise ConfigError(f"{out} holds a different sweep ({diff}); choose another --out")
        earlier = list(stored.get("earlier_versions") or [])
        if stored.get("versions") not in (None, new["versions"]):  # resumed with other packages: both on record
            earlier.append(stored["versions"])
        return {**stored, "versions": new["versions"], **({"earlier_versions": earlier} if earlier else {})}
    out.mkdir(parents=True, exist_ok=True)
    return new


def check_sweep_dir(out: str | Path) -> None:
    """Refuse ``out`` as a sweep directory from the file system alone (before any work): a file, or a folder that holds
    files but no ``sweep.json``.

    Examples:
        >>> import tempfile, pathlib; out = pathlib.Path(tempfile.mkdtemp()); _ = (out / "notes.txt").write_text("mine")
        >>> check_sweep_dir(out / "new"), check_sweep_dir(out / "notes.txt")
        Traceback (most recent call last):
        ...
        bridge.config.ConfigError: sweep directory .../notes.txt is a file
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"sweep directory {out} is a file")
    if not (out / MANIFEST).exists() and out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} exists and is not a sweep directory; choose another --out")


def point_status(out: Path, record: dict[str, Any], kind: str) -> tuple[str, str]:
    """``(state, first line of the error)`` of a point: disk first, then what the manifest recorded.

    Examples:
        >>> import tempfile, pathlib; out = pathlib.Path(tempfile.mkdtemp())
        >>> point_status(out, {"key": "seed=0", "status": "failed", "error": "ValueError: loss is nan\\n  at step 7"}, "run")
        ('failed', 'ValueError: loss is nan')
        >>> point_status(out, {"key": "seed=1", "status": "pending"}, "run")
        ('pending', '')
    """
    state = point_state(out / POINTS / record["key"], kind)
    if state in (DONE, RUNNING):
        return state, ""
    if record.get("status") == FAILED:
        return FAILED, first_line(record.get("error"))
    return state, ""


def write_results(out: Path, manifest: dict[str, Any], cache: dict[str, dict[str, Any]] | None = None) -> None:
    """Rewrite ``out/results.csv``: one row per point (parameters, state, error, seconds, final metrics, events).

    ``cache`` keeps the rows of done points between calls, so each finished run is read once.

    Examples:
        >>> import tempfile, pathlib; from bridge.sweep.manifest import new_manifest; out = pathlib.Path(tempfile.mkdtemp())
        >>> write_results(out, new_manifest({"kind": "run"}, grid_points({"train.lr": [0.1, 0.2]}), "local"))
        >>> print((out / "results.csv").read_text().strip())
        key,train.lr,status,error,seconds
        train.lr=0.1,0.1,pending,,
        train.lr=0.2,0.2,pending,,
    """
    from bridge.runs.storage import atomic_write_text

    atomic_write_text(out / RESULTS, _results_text(out, manifest, cache))


def _results_text(out: Path, manifest: dict[str, Any], cache: dict[str, dict[str, Any]] | None = None) -> str:
    """The text of ``results.csv`` as the run directories in ``out`` hold them now."""
    import pandas as pd

    cache = {} if cache is None else cache
    kind = manifest["target"]["kind"]
    rows = []
    for record in manifest["points"]:
        state, error = point_status(out, record, kind)
        row = {"key": record["key"], **{p: _cell(v) for p, v in record["params"].items()}, "status": state, "error": error, "seconds": record.get("seconds")}
        if state == DONE:
            try:
                if record["key"] not in cache:
                    cache[record["key"]] = point_row(out / POINTS / record["key"], kind)
                row.update(cache[record["key"]])
            except Exception as e:  # noqa: BLE001 - a done point whose files do not read: say so in its row
                row.update(status=FAILED, error=f"cannot read the run: {type(e).__name__}: {e}")
        rows.append(row)
    return pd.DataFrame(rows).to_csv(index=False)


def _cell(value: Any) -> Any:
    return ",".join(map(str, value)) if isinstance(value, list | tuple) else value


@dataclass
class Sweep:
    """A sweep directory read back.

    Attributes:
        path: the directory.
        trained: keys of the points trained by the call that returned this (empty when loaded).

    Examples:
        >>> import tempfile; from bridge.sweep.manifest import new_manifest, write_manifest; out = tempfile.mkdtemp()
        >>> write_manifest(out, new_manifest({"kind": "run"}, grid_points({"train.lr": [0.1]}, seeds=[0, 1]), "local"))
        >>> s = Sweep(out); s.keys, s.points[1].params, s.status()["status"].tolist()
        (['train.lr=0.1__seed=0', 'train.lr=0.1__seed=1'], {'train.lr': 0.1, 'seed': 1}, ['pending', 'pending'])
        >>> s  # doctest: +ELLIPSIS
        Sweep('...', points=2, axes={'train.lr': [0.1], 'seed': [0, 1]})
    """

    path: Path
    trained: tuple[str, ...] = ()
    manifest: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        self.manifest = read_manifest(self.path)

    def __repr__(self) -> str:  # the manifest, every point's record, is read with .manifest
        return f"Sweep({str(self.path)!r}, points={len(self.manifest['points'])}, axes={self.manifest.get('axes')})"

    @property
    def keys(self) -> list[str]:
        """Point keys in sweep order."""
        return [r["key"] for r in self.manifest["points"]]

    @property
    def points(self) -> list[Point]:
        """The points, with their settings."""
        return [Point(tuple(r["params"].items())) for r in self.manifest["points"]]

    @cached_property
    def table(self) -> pd.DataFrame:
        """``results.csv`` as a DataFrame (one row per point); read from the runs when its states are behind :meth:`status`."""
        import pandas as pd

        table = pd.read_csv(self.path / RESULTS) if (self.path / RESULTS).exists() else None
        if table is None or table["status"].tolist() != self.status()["status"].tolist():
            table = pd.read_csv(io.StringIO(_results_text(self.path, self.manifest)))
        return table

    def status(self) -> pd.DataFrame:
        """A DataFrame ``key, status, error``: the state of every point now (done, running, failed, interrupted, pending)."""
        import pandas as pd

        kind = self.manifest["target"]["kind"]
        rows = [(r["key"], *point_status(self.path, r, kind)) for r in self.manifest["points"]]
        return pd.DataFrame(rows, columns=["key", "status", "error"])

    def run(self, key: str) -> Run:
        """The :class:`~bridge.runs.run.Run` of point ``key`` (a case study's main run)."""
        from bridge.runs.run import load_run

        if key not in self.keys:
            raise KeyError(f"sweep {self.path} has no point {key!r} (points: {', '.join(self.keys)})")
        return load_run(self.path / POINTS / key)

    @property
    def runs(self) -> dict[str, Run]:
        """``{key: Run}`` of every point that has a run directory."""
        return {k: self.run(k) for k in self.keys if (self.path / POINTS / k / "run.json").exists()}


def load_sweep(path: str | Path) -> Sweep:
    """The sweep in directory ``path``: its table (``.table``), runs (``.run(key)``, ``.runs``) and state (``.status()``).

    Raises:
        FileNotFoundError: ``path`` is not a sweep directory.

    Examples:
        >>> import tempfile; from bridge import models, tasks; from bridge.config import RunConfig, TrainConfig
        >>> cfg = RunConfig(tasks.LinearTeacherConfig((2.0, 1.0), d_in=3, d_out=3), models.DeepLinearConfig(3, 8, 3), TrainConfig(steps=2))
        >>> s = load_sweep(run_sweep(cfg, tempfile.mkdtemp() + "/sw", grid={"train.lr": [0.05, 0.1]}, progress=False).path)
        >>> s.keys, s.trained, round(float(s.table["loss/train"][0]), 2), s.run("train.lr=0.1").steps[-1]
        (['train.lr=0.05', 'train.lr=0.1'], (), 2.5, 2)
    """
    return Sweep(Path(path))


__all__ = ["INTERRUPTED", "PENDING", "Sweep", "load_sweep", "point_status", "run_sweep", "write_results"]
