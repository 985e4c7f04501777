"""One point of a sweep: what a worker runs (:func:`run_point`), and the row it contributes to the results table.

A :class:`Target` says what every point trains: a base :class:`~bridge.config.RunConfig`
(kind ``"run"``, one run directory per point) or a case study and preset (kind
``"case_study"``, one case-study output per point, its main run at the point's
directory). Targets, points and :func:`run_point` are plain picklable objects, so the
same call runs in this process, in a Ray worker or in a SLURM job.

A point whose run raises is not an error of the sweep: :func:`run_point` returns
``status="failed"`` with the error, and the other points go on.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bridge.config import ConfigError, config_from_dict
from bridge.runs.errors import Diverged
from bridge.sweep.grid import SEED, Point, value_text

if TYPE_CHECKING:
    from bridge.trackers.base import Tracker

DONE, FAILED, RUNNING, INTERRUPTED, PENDING = "done", "failed", "running", "interrupted", "pending"


@dataclass(frozen=True)
class Target:
    """What every point of a sweep trains.

    Args:
        kind: ``"run"`` or ``"case_study"``.
        config: the base run config as a dict (:func:`bridge.config.config_to_dict`), kind ``"run"``.
        case_study: the case study's name, kind ``"case_study"``.
        preset: the preset's name (or a preset object), kind ``"case_study"``.
        settings: ``"path=value"`` changes applied to the preset before each point's own.
        trackers: a function returning fresh online trackers for a run (kind ``"run"``).
        imports: plugin modules a worker imports first (what ``mechbridge --import`` names).
        loggers: experiment loggers of every run (``"tensorboard"``, ``"wandb"``).
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.

    Examples:
        >>> Target("case_study", case_study="deep-linear", settings=("train.steps=200",)).describe()
        {'kind': 'case_study', 'case_study': 'deep-linear', 'preset': 'quick', 'settings': ['train.steps=200']}
    """

    kind: str
    config: dict[str, Any] | None = None
    case_study: str = ""
    preset: Any = "quick"
    settings: tuple[str, ...] = ()
    trackers: Callable[[], Sequence[Tracker]] | None = field(default=None, compare=False)
    imports: tuple[str, ...] = ()
    loggers: tuple[str, ...] = ()
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.kind not in ("run", "case_study"):
            raise ConfigError(f"sweep target kind must be 'run' or 'case_study', got {self.kind!r}")
        if self.kind == "run" and self.config is None:  # else every point failed on it, one by one
            raise ConfigError("a sweep target of kind 'run' needs config, the base run config as a dict, got None")

    def base(self) -> Any:
        """The object the points' paths address: the run config, or the preset with ``settings`` applied."""
        if self.kind == "run":
            if self.config is None:  # refused at construction; a field set past it is refused here
                raise ConfigError("a sweep target of kind 'run' needs config, the base run config as a dict, got None")
            return config_from_dict(self.config)
        from bridge.overrides import apply
        from case_studies.base import get_case_study, resolve_preset

        _, preset = resolve_preset(get_case_study(self.case_study), self.preset)
        return apply(preset, self.settings)

    def describe(self) -> dict[str, Any]:
        """The JSON description stored in ``sweep.json`` (what two sweeps must share to be the same sweep)."""
        if self.kind == "run":
            return {"kind": "run", "config": self.config}
        preset = self.preset if isinstance(self.preset, str) else _jsonable(self.preset)
        return {"kind": "case_study", "case_study": self.case_study, "preset": preset, "settings": list(self.settings)}


def _jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, tuple | list):
        return [_jsonable(v) for v in obj]
    return obj


def point_config(target: Target, point: Point) -> Any:
    """The run config of ``point`` (kind ``"run"``): the base with the point's settings parsed and applied.

    Examples:
        >>> from bridge import models, tasks; from bridge.config import RunConfig, TrainConfig, config_to_dict
        >>> cfg = RunConfig(tasks.LinearTeacherConfig((2.0, 1.0), d_in=3, d_out=3), models.DeepLinearConfig(3, 8, 3), TrainConfig(steps=2))
        >>> new = point_config(Target("run", config=config_to_dict(cfg)), Point((("train.lr", "0.5"), ("seed", 3))))   # text parsed as the field's type
        >>> new.train.lr, new.seed, new.train.steps
        (0.5, 3, 2)
    """
    from bridge.overrides import override_many

    return override_many(target.base(), [(path, value_text(value)) for path, value in point.settings])


@dataclass(frozen=True)
class Stack:
    """Points of a run sweep that differ only in their seed: one job, trained together by
    :func:`bridge.training.seeds.train_seeds` (one vectorised step for all seeds).

    Each point still gets its own run directory, ``<points>/<key>``.

    Examples:
        >>> Stack((Point((("train.lr", 0.1), ("seed", 0))), Point((("train.lr", 0.1), ("seed", 1))))).key
        'train.lr=0.1__seed=0 + train.lr=0.1__seed=1'
    """

    points: tuple[Point, ...]

    def __post_init__(self) -> None:
        unseeded = [p.key for p in self.points if p.seed is None]
        if unseeded:  # else the stack failed as a whole, each point with a TypeError of int(None)
            raise ConfigError(f"the points of a stack must each set a seed, got {unseeded[0]!r}")

    @property
    def key(self) -> str:
        """The keys of the points, joined by ``" + "``."""
        return " + ".join(p.key for p in self.points)

    @property
    def seeds(self) -> list[int]:
        """The seeds of the points, in order (each point sets one)."""
        return [int(p.seed) for p in self.points if p.seed is not None]


def stack_points(points: Sequence[Point], target: Target, states: Mapping[str, str]) -> list[Point | Stack]:
    """``points`` with those that differ only in their seed grouped into :class:`Stack` jobs where the run allows.

    A run sweep (kind ``"run"``) stacks a group of two or more
    seeds when all its points are new, or all interrupted (then resumed together);
    anything else runs point by point. ``states`` maps a point's key to :func:`point_state`.

    Examples:
        >>> from bridge.sweep.grid import grid_points
        >>> pts = grid_points({"train.lr": [0.1, 0.2]}, seeds=[0, 1])   # lr 0.2, seed 1 already done: lr 0.2's seed 0 runs alone
        >>> jobs = stack_points(pts, Target("run", config={}), {p.key: "done" if p.key.endswith("0.2__seed=1") else "pending" for p in pts})
        >>> [j.key for j in jobs]
        ['train.lr=0.1__seed=0 + train.lr=0.1__seed=1', 'train.lr=0.2__seed=0', 'train.lr=0.2__seed=1']
    """
    if target.kind != "run":
        return list(points)
    groups: dict[tuple, list[Point]] = {}
    for p in points:
        groups.setdefault(tuple((path, value_text(v)) for path, v in p.settings if path != SEED) if p.seed is not None else (id(p),), []).append(p)
    jobs: list[Point | Stack] = []
    for group in groups.values():
        kinds = {states[p.key] for p in group}
        if len(group) > 1 and len(kinds) == 1 and kinds <= {PENDING, INTERRUPTED}:
            jobs.append(Stack(tuple(group)))
        else:
            jobs.extend(group)
    return jobs


def run_stack(target: Target, stack: Stack, folder: str, threads: int = 1, progress: bool | None = False) -> dict[str, Any]:
    """Train the seeds of ``stack`` together into ``folder/<key>`` each; never raises.

    Seeds that cannot be stacked (a task whose loss or shapes depend on the seed, buffers
    of different shapes) run one by one, each with its own outcome; so do the seeds of a
    stack in which one diverged (each resumes from its last checkpoint alone, and only
    the seeds that diverge alone fail).

    Returns:
        ``{"key", "members": {point key: outcome as from run_point}}``.

    Examples:
        >>> import tempfile; from bridge import models, tasks; from bridge.config import RunConfig, TrainConfig, config_to_dict; from bridge.sweep.grid import grid_points
        >>> cfg = RunConfig(tasks.LinearTeacherConfig((2.0, 1.0), d_in=3, d_out=3), models.DeepLinearConfig(3, 8, 3), TrainConfig(steps=2))
        >>> out = run_stack(Target("run", config=config_to_dict(cfg)), Stack(tuple(grid_points(seeds=[0, 1]))), tempfile.mkdtemp())
        >>> out["key"], [(k, o["status"]) for k, o in out["members"].items()]
        ('seed=0 + seed=1', [('seed=0', 'done'), ('seed=1', 'done')])
    """
    from bridge.training.loop import torch_threads, with_train
    from bridge.training.seeds import train_seeds

    t0 = time.perf_counter()
    folders = [Path(folder) / p.key for p in stack.points]
    here = {"host": socket.gethostname(), "pid": os.getpid(), "stack": stack.key}
    try:
        from bridge.plugins import load_plugins

        load_plugins(list(target.imports))  # and those of the entry points and MECHBRIDGE_PLUGINS
        base = with_train(point_config(target, stack.points[0]), threads=threads)
        resume = all(f.exists() and any(f.iterdir()) for f in folders)
        trackers = target.trackers
        with torch_threads(threads):
            train_seeds(base, stack.seeds, folder, folders=folders, trackers=trackers, device=target.device, progress=progress, resume=resume, loggers=target.loggers)
        members = {p.key: {"key": p.key, "status": DONE, "error": None, **here} for p in stack.points}
    except (ConfigError, Diverged):  # not stackable (or invalid), or one seed diverged: point by point, each recording its own outcome
        members = {p.key: run_point(target, p, str(f), threads, progress) for p, f in zip(stack.points, folders)}
    except Exception as e:  # noqa: BLE001 - the stack's failure is each of its points'
        error = {"status": FAILED, "error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc(limit=20), **here}
        members = {p.key: {"key": p.key, **error} for p in stack.points}
    seconds = time.perf_counter() - t0
    for outcome in members.values():
        outcome.setdefault("seconds", seconds / len(members))
    return {"key": stack.key, "members": members}


def run_point(target: Target, point: Point | Stack, folder: str, threads: int = 1, progress: bool | None = False) -> dict[str, Any]:
    """Train (or resume) one point into ``folder``; never raises for the point's own failure.

    Args:
        target: what to train.
        point: the point's settings (or a :class:`Stack` of seeds: :func:`run_stack`, ``folder`` their parent).
        folder: its run directory (created, or resumed from its last good checkpoint).
        threads: torch CPU threads of the point: its runs train with ``train.threads`` set to it.
        progress: the point's own bars (:func:`bridge.progress.progress_bar`); ``False`` (a worker's default) none.

    Returns:
        ``{"key", "status": "done"|"failed", "error", "seconds", "host", "pid"}``.

    Examples:
        >>> import tempfile; from bridge import models, tasks; from bridge.config import RunConfig, TrainConfig, config_to_dict
        >>> cfg = RunConfig(tasks.LinearTeacherConfig((2.0, 1.0), d_in=3, d_out=3), models.DeepLinearConfig(3, 8, 3), TrainConfig(steps=2))
        >>> ok, bad = (run_point(Target("run", config=config_to_dict(cfg)), Point((("train.lr", lr),)), tempfile.mkdtemp()) for lr in ("0.1", "-1"))
        >>> (ok["key"], ok["status"]), (bad["status"], bad["error"])
        (('train.lr=0.1', 'done'), ('failed', 'ConfigError: train.lr must be a positive number, got -1.0'))
    """
    from bridge.training.loop import torch_threads

    if isinstance(point, Stack):
        return run_stack(target, point, folder, threads, progress)

    t0 = time.perf_counter()
    outcome: dict[str, Any] = {"key": point.key, "status": DONE, "error": None, "host": socket.gethostname(), "pid": os.getpid()}
    try:
        from bridge.plugins import load_plugins

        load_plugins(list(target.imports))  # and those of the entry points and MECHBRIDGE_PLUGINS
        with torch_threads(threads):  # the analyses too; restored after, in a driver that trains points itself
            if target.kind == "run":
                from bridge.training.loop import train, with_train

                trackers = target.trackers() if target.trackers is not None else ()
                train(with_train(point_config(target, point), threads=threads), folder, trackers=trackers, device=target.device, progress=progress, resume=True, loggers=target.loggers)
            else:
                from case_studies import run_case_study

                settings = [*target.settings, *point.config_settings()]
                run_case_study(target.case_study, target.preset, folder, seed=int(point.seed or 0), device=target.device, progress=progress, resume=True, settings=settings, loggers=target.loggers, threads=threads)
    except Exception as e:  # noqa: BLE001 - a point's failure is recorded; the sweep goes on
        outcome.update(status=FAILED, error=f"{type(e).__name__}: {e}", traceback=traceback.format_exc(limit=20))
    outcome["seconds"] = time.perf_counter() - t0
    return outcome


def point_state(folder: Path, kind: str) -> str:
    """What is on disk for a point: ``done``, ``running`` (a live writer), ``interrupted`` (resumable) or ``pending``.

    A case study's point is done when its report is on record and its main run complete, or failed by
    diverging (the study stops there, and its report says ``invalid``: training it again would diverge
    again); it is running while any of its runs (the main run, staged in ``.main``, or one in ``runs/``)
    has a live writer.

    Examples:
        >>> import tempfile, pathlib
        >>> point_state(pathlib.Path(tempfile.mkdtemp()), "run"), point_state(pathlib.Path(tempfile.mkdtemp()) / "absent", "case_study")
        ('pending', 'pending')
    """
    from bridge.runs.run_json import has_report
    from bridge.runs.storage import read_json

    if not folder.exists() or not any(folder.iterdir()):
        return PENDING
    try:
        status = read_json(folder / "run.json").get("status") if (folder / "run.json").exists() else None
    except (OSError, ValueError):
        status = None
    if status == "complete" and (kind == "run" or has_report(folder)):
        return DONE
    if status == "failed" and kind == "case_study" and has_report(folder) and _diverged(folder):
        return DONE
    writers = [folder, folder / ".main", *sorted((folder / "runs").glob("*"))] if kind == "case_study" else [folder]
    return RUNNING if any(_live(f) for f in writers) else INTERRUPTED


def _diverged(folder: Path) -> bool:
    """Whether the case-study output ``folder``'s report records a run that diverged."""
    from bridge.runs.storage import read_json

    try:
        report = read_json(folder / "report.json")
    except (OSError, ValueError):
        return False
    return isinstance(report, dict) and bool(report.get("diverged"))


def _live(folder: Path) -> bool:
    from bridge.runs.lock import holder, is_stale

    lock = holder(folder)
    return lock is not None and not is_stale(lock)


def point_row(folder: Path, kind: str) -> dict[str, Any]:
    """Final metrics (last value of each observable without an index), detected events (``event:<name>``),
    the theory's predicted steps (``prediction:<name>``) and verdict of a finished point.

    Examples:
        >>> import pathlib, tempfile; from bridge import models, tasks; from bridge.config import RunConfig, TrainConfig, config_to_dict
        >>> cfg = RunConfig(tasks.LinearTeacherConfig((2.0, 1.0), d_in=3, d_out=3), models.DeepLinearConfig(3, 8, 3), TrainConfig(steps=2))
        >>> d = pathlib.Path(tempfile.mkdtemp()); _ = run_point(Target("run", config=config_to_dict(cfg)), Point(()), str(d))
        >>> row = point_row(d, "run"); row["final_step"], round(row["loss/train"], 2)   # ½(2² + 1²): the small-init network still outputs ≈ 0
        (2, 2.5)
    """
    import math

    from bridge.runs.run import load_run
    from bridge.runs.storage import read_json

    run = load_run(folder)
    row: dict[str, Any] = {"final_step": run.info.get("last_step", run.steps[-1] if run.steps else None)}
    frame = run.metrics
    extra = [c for c in frame.columns if c not in ("step", "observable", "value")]
    if extra:
        frame = frame[frame[extra].isna().all(axis=1)]
    for name, rows in frame.sort_values("step").groupby("observable", sort=True):
        row[str(name)] = float(rows["value"].iloc[-1])  # observable names are strings (validate_rows); the key of a row dict
    if kind == "case_study":
        if (folder / "events.json").exists():
            for event in read_json(folder / "events.json"):
                step = event.get("step", event.get("start"))
                column = "prediction" if event.get("type") == "prediction" else "event"  # a theory's step, or one detected in the run
                if step is not None and not (isinstance(step, float) and math.isnan(step)):
                    row[f"{column}:{event.get('name')}"] = step
        report: dict[str, Any] = run.report or {}
        row["verdict"] = report.get("verdict")
        row["failed_claims"] = ";".join(report.get("failed_claims", []))
    return row


__all__ = ["DONE", "FAILED", "INTERRUPTED", "PENDING", "RUNNING", "Stack", "Target", "run_stack", "stack_points", "point_config", "point_row", "point_state", "run_point"]
