"""The on-disk side of a training run: ``run.json``, checkpoints, metrics and tracker rows.

:class:`RunWriter` is shared by :func:`bridge.train` (one model) and
:func:`bridge.train_seeds` (many seeds stacked), so both write the same run
directory; resume restores the last checkpoint whose tracker rows were written.
"""

from __future__ import annotations

import functools
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bridge.config import RunConfig, config_to_dict
from bridge.runs.checkpoints import checkpoint_path, saved_steps
from bridge.runs.checksums import record, verify
from bridge.runs.errors import RunError
from bridge.runs.file_queue import FileBatch, FileQueue
from bridge.runs.lock import acquire, create_run_dir, release
from bridge.runs.metrics import MetricsLog, read_metrics, write_metrics
from bridge.runs.optimizer_state import optimizer_from_tensors, optimizer_to_tensors
from bridge.runs.run import Run
from bridge.runs.run_json import recorded_header
from bridge.runs.storage import CorruptFileError, atomic_write_json, json_bytes, load_tensors, read_json, read_metadata, tensors_to_bytes, whole_rows_size
from bridge.runs.versions import current_versions, refuse_mixed_versions, versions_record
from bridge.runs.weights import load_weights
from bridge.tasks.base import TaskData
from bridge.trackers.base import Tracker, TrackingBuffer
from bridge.training.schedule import KEEP_OPTIMIZER_STATES, checkpoint_steps, resume_points, staged_steps, tracked_steps

# Offline analyses measure batched trackers over at most this many checkpoints at once. Online, the captures taken since the last rows
# were written are measured together at the next resume point, or at an earlier checkpoint once this many are held or FLUSH_SECONDS
# have passed since (so a reader or a logger sees rows at most about that late).
FLUSH_CAPTURES = 256
FLUSH_SECONDS = 10.0


@functools.cache
def _versions() -> dict[str, str]:
    """Versions of Python and the packages a run depends on (read once per process: each lookup scans the installed metadata)."""
    import importlib.metadata as md

    out = {"python": sys.version.split()[0]}
    for pkg in ("mechbridge", "torch", "transformer-lens", "numpy", "scipy", "pandas", "safetensors"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return out


def holds_files(out: Path) -> bool:
    """Whether the run directory ``out`` exists and holds files (a new run is written only where it does not).

    Raises:
        RunError: ``out`` is a file.

    Examples:
        >>> import tempfile; holds_files(Path(tempfile.mkdtemp())), holds_files(Path(tempfile.mkdtemp()) / "new")
        (False, False)
    """
    if out.exists() and not out.is_dir():
        raise RunError(f"cannot use {out} as a run directory: it is a file")
    return out.exists() and any(out.iterdir())


def resumed_record(out: Path) -> dict[str, Any]:
    """The ``run.json`` of the run directory ``out``, which holds files and is to be resumed.

    Raises:
        RunError: ``out`` holds no ``run.json``, so it is not a run directory.
        CorruptFileError: ``run.json`` is not a JSON object.

    Examples:
        >>> import tempfile; out = Path(tempfile.mkdtemp()); _ = (out / "notes.txt").write_text("x")
        >>> resumed_record(out)
        Traceback (most recent call last):
        ...
        bridge.runs.errors.RunError: cannot resume ...: it holds files but no run.json, so it is not a run directory; remove it or choose another --out
    """
    if not (out / "run.json").is_file():
        raise RunError(f"cannot resume {out}: it holds files but no run.json, so it is not a run directory; remove it or choose another --out")
    info = read_json(out / "run.json")
    if not isinstance(info, dict):
        raise CorruptFileError(f"{out / 'run.json'} is not a run record (a JSON object)")
    return info


def extension_starts(record: dict[str, Any]) -> list[int]:
    """The totals a run was trained to before each of its extensions, from its ``run.json`` record (``"extended"``);
    empty for a run never extended, or a history that is not a list of ``{"from": steps, "to": steps}``.

    Examples:
        >>> extension_starts({"extended": [{"from": 300, "to": 1200}, {"from": 1200, "to": 2000}]}), extension_starts({})
        ([300, 1200], [])
    """
    history = record.get("extended")
    starts = [t for t in (e.get("from") for e in history if isinstance(e, dict)) if type(t) is int] if isinstance(history, list) else []
    return starts if starts and isinstance(history, list) and len(starts) == len(history) and starts == sorted(set(starts)) else []


def last_good_checkpoint(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, usable: set[int] | None = None) -> int | None:
    """Load the newest checkpoint whose weights and optimizer state both read back; return its step.

    Corrupt or truncated files are reported by name (a warning) and skipped;
    ``usable`` restricts the candidates (steps whose metrics were flushed).

    Examples:
        >>> import tempfile; from bridge import RunConfig, TrainConfig, train; from bridge.models import DeepLinearConfig; from bridge.tasks import LinearTeacherConfig
        >>> run = train(RunConfig(LinearTeacherConfig((2.0,), d_in=2, d_out=2), DeepLinearConfig(2, 4, 2), TrainConfig(steps=3)), tempfile.mkdtemp() + "/run", device="cpu", progress=False)
        >>> model = run.model_at(0); optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
        >>> last_good_checkpoint(run.path, model, optimizer), last_good_checkpoint(run.path, model, optimizer, usable={1, 2})
        (3, 2)
    """
    for step in reversed(saved_steps(path)):
        if usable is not None and step not in usable:
            continue
        weights, optim = checkpoint_path(path, step), checkpoint_path(path, step, "optim")
        if not optim.exists():
            continue
        try:
            load_weights(model, load_tensors(weights), str(weights))
            state = load_tensors(optim), read_metadata(optim)
            try:
                optimizer.load_state_dict(optimizer_from_tensors(*state))
            except (KeyError, TypeError, ValueError, RuntimeError) as e:
                raise CorruptFileError(f"{optim} holds no optimizer state of this run ({e})") from None
        except CorruptFileError as e:
            warnings.warn(f"{e}; falling back to an earlier checkpoint", stacklevel=2)
            continue
        return step
    return None


def _drop_checkpoints(out: Path, steps: list[int]) -> None:
    for step in steps:
        checkpoint_path(out, step).unlink(missing_ok=True)
        checkpoint_path(out, step, "optim").unlink(missing_ok=True)


def _restore(out: Path, model: nn.Module, optimizer: torch.optim.Optimizer, info: dict[str, Any], log: MetricsLog, table: dict[str, Any] | None, usable: set[int] | None = None) -> tuple[int, list[int], MetricsLog]:
    """Load the last good checkpoint into ``model``/``optimizer`` and cut metrics and later checkpoints back to it.

    Returns the step to resume from (0: start over), the steps whose optimizer
    state is kept, and the metrics log. Updates ``info["metrics_bytes"]`` and ``info["last_step"]``.
    A checkpoint is a candidate when ``run.json`` records the size of the
    metrics table after its rows; a table rewritten since (an offline analysis,
    which keeps the steps on record with no size, and whose record ``table``
    holds its size and checksum) is verified and filtered instead. ``usable``
    further restricts the candidate steps (those of a seed sweep that every seed
    can resume from).

    A recorded table is checked against its record before anything changes, and a
    checkpoint whose recorded size the table no longer reaches (cut short since) is
    skipped with a warning: the table is cut back, never padded.

    Raises:
        CorruptFileError: the table differs from its record.
    """
    if table:
        verify(out, {"metrics.csv": table}, "metrics.csv")
    flushed = {int(s): size for s, size in info.get("metrics_bytes", {}).items()}  # size None: the table was rewritten since
    headers = {int(s): recorded_header(columns, f"metrics_headers[{s!r}]") for s, columns in info.get("metrics_headers", {}).items()}
    if not log.file.exists() and any(flushed.values()):  # gone, not cut short: nothing to fall back on
        raise CorruptFileError(f"metrics.csv is missing but run.json records its rows up to step {max(s for s, size in flushed.items() if size)}")
    length = log.file.stat().st_size if log.file.exists() else 0
    short = sorted(s for s, size in flushed.items() if size is not None and size > length)
    if short:
        warnings.warn(f"metrics.csv has {length} bytes, fewer than run.json records after step {short[0]} ({flushed[short[0]]}): it was cut short since; falling back to an earlier checkpoint", RuntimeWarning, stacklevel=3)
        flushed = {s: size for s, size in flushed.items() if size is None or size <= length}
    if flushed:
        candidates: set[int] | None = set(flushed) if usable is None else set(flushed) & usable
    elif table:  # analysed before the steps on record were kept: the checkpoints up to the last step written
        last = info.get("last_step")
        candidates = {s for s in saved_steps(out) if isinstance(last, int) and s <= last and (usable is None or s in usable)}
    else:  # no checkpoint on record: start over
        candidates = set()
    good = None if candidates is not None and not candidates else last_good_checkpoint(out, model, optimizer, usable=candidates)
    if not good:  # nothing usable, or only step 0 (the start itself): start over, dropping partial files
        if good is None and (candidates is None or candidates):  # checkpoints on record, none readable: say so before deleting them
            held = [s for s in saved_steps(out) if s and checkpoint_path(out, s, "optim").exists() and (candidates is None or s in candidates)]
            why = f"the optimizer states of steps {held} do not read back" if held else "none has its optimizer state on disk"
            warnings.warn(f"no checkpoint on record in {out} can be resumed from ({why}); starting over from step 0, deleting its {len(saved_steps(out))} checkpoints and metrics.csv", RuntimeWarning, stacklevel=3)
        log.truncate(0)
        _drop_checkpoints(out, saved_steps(out))
        info["metrics_bytes"], info["metrics_columns"], info["metrics_headers"], info["last_step"] = {}, None, {}, 0
        return 0, [], log
    recorded_columns = headers[good] if good in headers else recorded_header(info.get("metrics_columns"), "metrics_columns")  # the header good's size was measured on
    if flushed.get(good) is not None and recorded_columns in (None, log.columns):
        log.truncate(flushed[good])
    else:  # a later flush widened the header and rewrote the table (filtered back to good's header), or an offline analysis did (verified above when recorded)
        log.truncate(whole_rows_size(log.file))  # whole rows: the last one a killed append left cut short is of a later step
        kept, narrow = read_metrics(out), flushed.get(good) is not None and recorded_columns is not None
        if narrow or (kept["step"] > good).any():  # rows to drop, or a header to narrow (with a size on record, the one it differs from); a table that keeps every row stays as it is
            kept = kept[kept["step"] <= good]
            write_metrics(out, kept if not narrow or recorded_columns is None else kept[recorded_columns])
        log = MetricsLog(out)
    size = log.file.stat().st_size if log.file.exists() else 0
    info["last_step"] = good  # a later step on record may be the one that did not read back
    info["metrics_bytes"] = {str(s): b for s, b in flushed.items() if s < good} | {str(good): size}
    if flushed.get(good) is not None:
        info["metrics_columns"] = log.columns
    if headers:
        info["metrics_headers"] = {str(s): c for s, c in headers.items() if s in flushed and s < good} | {str(good): log.columns}
    _drop_checkpoints(out, [s for s in saved_steps(out) if s > good])
    saved = [s for s in saved_steps(out) if checkpoint_path(out, s, "optim").exists()]
    return good, saved[-KEEP_OPTIMIZER_STATES:], log


def _remove_partial_writes(out: Path) -> None:
    """Delete the temporary files of atomic writes that a killed writer left behind."""
    for folder in (out, out / "checkpoints"):
        for tmp in folder.glob(".*.tmp-*"):
            tmp.unlink(missing_ok=True)


class RunWriter:
    """The on-disk side of one training run: ``run.json``, checkpoints, metrics and tracker rows.

    Shared by :func:`bridge.train` (one model) and :func:`bridge.train_seeds`
    (many seeds stacked), so both write the same run directory. A training loop of one's own
    writes a run that :func:`bridge.load_run` reads through it: open, track and checkpoint at
    the schedule's steps (:attr:`tracked`, :attr:`checkpoints`), complete.

    Examples:
        >>> import tempfile; from bridge.config import TrainConfig; from bridge.models import DeepLinearConfig; from bridge.tasks import LinearTeacherConfig
        >>> from bridge.training.inputs import build_for_task, validate; from bridge.training.loop import train, with_loss_tracker; from bridge.training.optim import make_optimizer
        >>> cfg = RunConfig(LinearTeacherConfig((2.0,), d_in=2, d_out=2), DeepLinearConfig(2, 4, 2), TrainConfig(lr=0.1, steps=3))
        >>> data = validate(cfg); model = build_for_task(cfg, data); opt = make_optimizer(model, cfg.train)
        >>> writer = RunWriter(cfg, Path(tempfile.mkdtemp()) / "run", data, with_loss_tracker([]), torch.device("cpu"))
        >>> start = writer.open(model, opt, resume=False); writer.buffer.track(model, 0); writer.checkpoint(0, model, opt, 0.0)
        >>> for step in range(start, cfg.train.steps):  # full-batch gradient descent, by hand
        ...     opt.zero_grad(); data.loss_fn(model(data.train.x), data.train.y).backward(); opt.step()
        ...     if step + 1 in writer.tracked: writer.buffer.track(model, step + 1)
        ...     if step + 1 in writer.checkpoints: writer.checkpoint(step + 1, model, opt, 0.0)
        >>> run = writer.complete(); run.status, run.steps
        ('complete', [0, 1, 2, 3])
        >>> same = train(cfg, Path(tempfile.mkdtemp()) / "run", device="cpu", progress=False)
        >>> bool((run.curve("loss/train")[1] == same.curve("loss/train")[1]).all())  # what bridge.train writes
        True
    """

    def __init__(
        self, config: RunConfig, out: Path, data: TaskData, trackers: Sequence[Tracker], dev: torch.device, *, loggers: Sequence[Any] = (), extends: int | None = None, trained_to: Sequence[int] = (), files: FileQueue | None = None, info: dict[str, Any] | None = None, **extra: Any
    ) -> None:
        # info: the caller's own fields (bridge.train's ``info``), in run.json from its creation and put into a resumed run's
        # record; extra: fields of the writer's callers (train_seeds' ``sweep``), written at creation only
        tc = config.train
        self.own = dict(info or {})
        self.config, self.loggers, self.extends, self.files = config, list(loggers), extends, files
        self.out, self.total = out, tc.steps
        # the steps so far keep the schedule they were trained with: the totals of earlier extensions, and the one extended now
        totals = [*sorted({t for t in [*trained_to, *([] if extends is None else [extends])] if t < tc.steps}), tc.steps]
        self.checkpoints, self.tracked = staged_steps(checkpoint_steps, totals, tc.schedule), staged_steps(tracked_steps, totals, tc.schedule)
        self.resumable = set(resume_points(self.checkpoints, self.total))
        self.log, self.buffer = MetricsLog(out), TrackingBuffer(trackers, data)
        self.saved: list[int] = []  # steps whose optimizer state is on disk
        self.info: dict[str, Any] = {
            "config": config_to_dict(config),
            "seed": config.seed,
            "versions": dict(_versions()),
            "device": str(dev),
            "status": "running",
            "schedule": {"checkpoints": self.checkpoints, "tracked_steps": len(self.tracked), "track_every": tc.schedule.track_every, "track_resolution": tc.schedule.track_resolution},
            "trackers": [t.name for t in trackers],
            "tracker_versions": current_versions(trackers),
            "last_step": 0,
            "wall_time": 0.0,
            "metrics_bytes": {},
            **extra,
            **self.own,
        }
        self.taken = self.info  # as of the last checkpoint taken; info: as of the last one on disk
        self._checkpointed: int | None = None  # the last checkpoint taken by this writer
        self._rows_written = time.monotonic()

    def open(self, model: nn.Module, optimizer: torch.optim.Optimizer, resume: bool, usable: set[int] | None = None) -> int:
        """Create the run directory with ``run.json`` and the writer's lock, atomically (or, when resuming,
        take the lock and restore the last good checkpoint); return the start step.

        Raises:
            FileExistsError: the directory was created by another writer meanwhile.
            RunError: a live process holds the lock of the run being resumed.
        """
        start = 0
        if resume:
            acquire(self.out)
            recorded = read_json(self.out / "run.json")
            refuse_mixed_versions(self.out, recorded, self.buffer.trackers, online=True)  # before any file changes
            _remove_partial_writes(self.out)
            if self.extends is not None and recorded.get("config") != self.info["config"]:  # the new total, its schedule and where the extension began (once: a sweep may open a seed again)
                before = recorded.get("schedule", {})
                schedule = {
                    **self.info["schedule"],
                    "checkpoints": [s for s in before.get("checkpoints", []) if s <= self.extends] + [s for s in self.checkpoints if s > self.extends],
                    "tracked_steps": before.get("tracked_steps", 0) + sum(s > self.extends for s in self.tracked),
                }
                history = [*recorded.get("extended", []), {"from": self.extends, "to": self.total}]
                recorded = {**recorded, "config": self.info["config"], "schedule": schedule, "extended": history}
            self.info = {**{k: v for k, v in recorded.items() if k != "error"}, **self.own, "status": "running", "device": self.info["device"]}  # the interruption it resumes from is over
            self.info.update(versions_record(recorded, self.buffer.trackers))
            table = (self.info.pop("files", None) or {}).get("metrics.csv")  # the table changes again: its record is rewritten at completion
            start, self.saved, self.log = _restore(self.out, model, optimizer, self.info, self.log, table, usable)
            atomic_write_json(self.out / "run.json", self.info)
        else:
            create_run_dir(self.out, self.info)
        self.taken, self._rows_written = self.info, time.monotonic()
        for logger in self.loggers:
            logger.open(self.out, self.config, resume)
        return start

    def checkpoint(self, step: int, model: nn.Module, optimizer: torch.optim.Optimizer, elapsed: float) -> None:
        """Save a checkpoint's weights; at a resume point (:func:`~bridge.training.schedule.resume_points`)
        also write every tracked row up to ``step``, save the optimizer state and record the checkpoint
        in ``run.json``.

        The rows of batched trackers captured since the rows were last written are
        measured here together, at every resume point (and at any checkpoint once
        :data:`FLUSH_CAPTURES` captures are held or :data:`FLUSH_SECONDS` have passed),
        so every checkpoint on record has its rows on disk: a run killed anywhere
        resumes from its last recorded checkpoint and loses no row of it. The loggers
        get the same rows. A run that fails writes the rows up to its last checkpoint (:meth:`fail`).

        What the checkpoint holds is taken now, as bytes; with a :class:`~bridge.runs.file_queue.FileQueue`
        the files are written in its thread (:func:`bridge.train_seeds` trains on meanwhile), else at once.
        ``run.json`` records a checkpoint only after its files are on disk, and :attr:`info` is what it records.
        """
        batch = FileBatch()
        batch.write(checkpoint_path(self.out, step), tensors_to_bytes(model.state_dict(), {"step": str(step)}))
        resume = step in self.resumable
        if resume:
            tensors, meta = optimizer_to_tensors(optimizer)
            batch.write(checkpoint_path(self.out, step, "optim"), tensors_to_bytes(tensors, {**meta, "step": str(step)}))
            self.saved.append(step)
            for old in self.saved[:-KEEP_OPTIMIZER_STATES]:
                batch.remove(checkpoint_path(self.out, old, "optim"))
            self.saved[:] = self.saved[-KEEP_OPTIMIZER_STATES:]
        rows = []
        if resume or self.buffer.pending >= FLUSH_CAPTURES or time.monotonic() - self._rows_written >= FLUSH_SECONDS:
            rows, self._rows_written = self.buffer.flush(), time.monotonic()
            for logger in self.loggers:
                logger.log(rows)
        data = self.log.encode(rows)
        if data is None:  # a wider header: the table is rewritten from the file, once everything before is on it
            if self.files is not None:
                self.files.wait()
            batch.apply()
            self.log.append(rows)
            batch = FileBatch()
        elif data:
            batch.append(self.log.file, data)
        self._checkpointed = step
        taken = self.taken = {**self.taken, "last_step": step, "wall_time": self.taken["wall_time"] + elapsed}
        if resume:  # on record: the table's size and header after this step's rows
            taken["metrics_bytes"] = {**taken["metrics_bytes"], str(step): self.log.size}
            taken["metrics_columns"] = self.log.columns  # a wider header later rewrites the table
            taken["metrics_headers"] = {**taken.get("metrics_headers", {}), str(step): self.log.columns}  # the header each size was measured on
            batch.write(self.out / "run.json", json_bytes(taken, indent=None))  # indented again when the run ends
        batch.then(lambda: setattr(self, "info", taken))
        if self.files is None:
            batch.apply()
        else:
            self.files.submit(batch)

    def fail(self, error: BaseException) -> None:
        """Record the error (a stop by a signal or Ctrl-C as ``interrupted``) and release the lock."""
        stopped, notes = isinstance(error, (KeyboardInterrupt, SystemExit)), "".join(f" ({n})" for n in getattr(error, "__notes__", ()) if isinstance(n, str))  # notes: the tracker that raised
        self.info.update(status="interrupted" if stopped else "failed", error=f"{type(error).__name__}: {error}{notes}")
        try:  # the rows of the checkpoints taken since the rows were last written, as a checkpoint would have written them
            if self._checkpointed is not None and (rows := self.buffer.flush(through=self._checkpointed)):
                for logger in self.loggers:
                    logger.log(rows)
                self.log.append(rows)
        except Exception as e:  # the failure recorded is the run's; this one is named beside it
            self.info["error"] += f" (and the rows after the last resume point were not written: {type(e).__name__}: {e})"
        atomic_write_json(self.out / "run.json", self.info)
        release(self.out)
        self._close_loggers()

    def complete(self) -> Run:
        """Record completion (deleting the optimizer states unless the schedule keeps them) and release the lock."""
        self.info.update(status="complete", last_step=self.total, files=record(self.out, ["metrics.csv"]))
        atomic_write_json(self.out / "run.json", self.info)
        if not self.config.train.schedule.keep_optimizer:  # complete on record first: a run killed before this is whole
            for path in (self.out / "checkpoints").glob("optim_*.safetensors"):
                path.unlink()
        release(self.out)
        self._close_loggers()
        return Run(self.out)

    def _close_loggers(self) -> None:
        for logger in self.loggers:
            logger.close()
