"""The on-disk side of a training run: ``run.json``, checkpoints, metrics and tracker rows.

:class:`RunWriter` is shared by :func:`bridge.train` (one model) and
:func:`bridge.train_seeds` (many seeds stacked), so both write the same run
directory; resume restores the last checkpoint whose tracker rows were written.
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn
from collections.abc import Sequence

from bridge.config import RunConfig, config_to_dict
from bridge.runs.checksums import record
from bridge.runs.lock import acquire, create_run_dir, release
from bridge.runs.run import MetricsLog, Run, checkpoint_path, load_weights, read_metrics, saved_steps, write_metrics
from bridge.runs.storage import (
    CorruptFileError,
    atomic_write_json,
    load_tensors,
    optimizer_from_tensors,
    optimizer_to_tensors,
    read_json,
    read_metadata,
    save_tensors,
)
from bridge.tasks.base import TaskData
from bridge.trackers.base import Tracker, TrackingBuffer
from bridge.training.schedule import checkpoint_steps, tracked_steps

KEEP_OPTIMIZER_STATES = 3
# Batched trackers' rows are written at the first checkpoint after this many seconds or
# captures (and at the end); checkpoints in between become resumable once their rows are.
FLUSH_SECONDS = 10.0
FLUSH_CAPTURES = 256



def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": sys.version.split()[0]}
    for pkg in ("mechbridge", "torch", "transformer-lens", "numpy", "scipy", "pandas", "safetensors"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return out


def _save_checkpoint(path: Path, step: int, model: nn.Module, optimizer: torch.optim.Optimizer, saved: list[int], keep: int | None) -> None:
    """Save weights and optimizer state; keep the newest optimizer states and the one at ``keep``."""
    save_tensors(checkpoint_path(path, step), model.state_dict(), {"step": str(step)})
    tensors, meta = optimizer_to_tensors(optimizer)
    save_tensors(checkpoint_path(path, step, "optim"), tensors, {**meta, "step": str(step)})
    saved.append(step)
    kept = [s for s in saved if s == keep or s in saved[-KEEP_OPTIMIZER_STATES:]]
    for old in set(saved) - set(kept):
        checkpoint_path(path, old, "optim").unlink(missing_ok=True)
    saved[:] = kept


def last_good_checkpoint(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, usable: set[int] | None = None) -> int | None:
    """Load the newest checkpoint whose weights and optimizer state both read back; return its step.

    Corrupt or truncated files are reported by name (a warning) and skipped;
    ``usable`` restricts the candidates (steps whose metrics were flushed).
    """
    for step in reversed(saved_steps(path)):
        if usable is not None and step not in usable:
            continue
        weights, optim = checkpoint_path(path, step), checkpoint_path(path, step, "optim")
        if not optim.exists():
            continue
        try:
            load_weights(model, load_tensors(weights), weights.name)
            optimizer.load_state_dict(optimizer_from_tensors(load_tensors(optim), read_metadata(optim)))
        except CorruptFileError as e:
            warnings.warn(f"{e}; falling back to an earlier checkpoint", stacklevel=2)
            continue
        return step
    return None


def _drop_checkpoints(out: Path, steps: list[int]) -> None:
    for step in steps:
        checkpoint_path(out, step).unlink(missing_ok=True)
        checkpoint_path(out, step, "optim").unlink(missing_ok=True)


def _restore(out: Path, model: nn.Module, optimizer: torch.optim.Optimizer, info: dict[str, Any], log: MetricsLog, usable: set[int] | None = None) -> tuple[int, list[int], MetricsLog]:
    """Load the last good checkpoint into ``model``/``optimizer`` and cut metrics and later checkpoints back to it.

    Returns the step to resume from (0: start over), the steps whose optimizer
    state is kept, and the metrics log. Updates ``info["metrics_bytes"]``.
    ``usable`` further restricts the candidate steps (those of a seed sweep
    that every seed can resume from).
    """
    flushed = {int(s): size for s, size in info.get("metrics_bytes", {}).items()}
    candidates = (set(flushed) if usable is None else set(flushed) & usable) if flushed else usable  # None: any checkpoint
    good = None if candidates is not None and not candidates else last_good_checkpoint(out, model, optimizer, usable=candidates)
    if good is None:  # nothing usable: start over, dropping partial files
        log.truncate(0)
        _drop_checkpoints(out, saved_steps(out))
        info["metrics_bytes"] = {}
        return 0, [], log
    if good in flushed:
        log.truncate(flushed[good])
    else:  # the table was rewritten (e.g. by an offline analysis): filter it instead
        kept = read_metrics(out)
        write_metrics(out, kept[kept["step"] <= good])
        log = MetricsLog(out)
    size = log.file.stat().st_size if log.file.exists() else 0
    info["metrics_bytes"] = {str(s): b for s, b in flushed.items() if s < good} | {str(good): size}
    _drop_checkpoints(out, [s for s in saved_steps(out) if s > good])
    saved = [s for s in saved_steps(out) if checkpoint_path(out, s, "optim").exists()]
    return good, saved, log


class RunWriter:
    """The on-disk side of one training run: ``run.json``, checkpoints, metrics and tracker rows.

    Shared by :func:`bridge.train` (one model) and :func:`bridge.train_seeds`
    (many seeds stacked), so both write the same run directory.
    """

    def __init__(self, config: RunConfig, out: Path, data: TaskData, trackers: Sequence[Tracker], dev: torch.device, *, loggers: Sequence[Any] = (), **extra: Any) -> None:
        tc = config.train
        self.config, self.loggers = config, list(loggers)
        self.out, self.total = out, tc.steps
        self.checkpoints, self.tracked = checkpoint_steps(tc.steps, tc.schedule), tracked_steps(tc.steps, tc.schedule)
        self.log, self.buffer, self.saved = MetricsLog(out), TrackingBuffer(trackers, data), []
        self.info: dict[str, Any] = {
            "config": config_to_dict(config),
            "seed": config.seed,
            "versions": _versions(),
            "device": str(dev),
            "status": "running",
            "schedule": {"checkpoints": self.checkpoints, "tracked_steps": len(self.tracked), "track_every": tc.schedule.track_every},
            "trackers": [t.name for t in trackers],
            "last_step": 0,
            "wall_time": 0.0,
            "metrics_bytes": {},
            **extra,
        }
        self.flushed_step, self.flushed_time = 0, time.perf_counter()

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
            self.info = {**read_json(self.out / "run.json"), "status": "running", "device": self.info["device"]}
            self.info.pop("files", None)  # the table changes again: its record is written at completion
            start, self.saved, self.log = _restore(self.out, model, optimizer, self.info, self.log, usable)
            atomic_write_json(self.out / "run.json", self.info)
        else:
            create_run_dir(self.out, self.info)
        for logger in self.loggers:
            logger.open(self.out, self.config, resume)
        self.flushed_step, self.flushed_time = start, time.perf_counter()
        return start

    def checkpoint(self, step: int, model: nn.Module, optimizer: torch.optim.Optimizer, elapsed: float) -> None:
        """Save a checkpoint; write the tracked rows when they are due (batched trackers wait)."""
        _save_checkpoint(self.out, step, model, optimizer, self.saved, keep=self.flushed_step)
        now, pending = time.perf_counter(), self.buffer.pending
        if pending == 0 or pending >= FLUSH_CAPTURES or now - self.flushed_time >= FLUSH_SECONDS or step == self.total:
            rows = self.buffer.flush()
            self.info["metrics_bytes"][str(step)] = self.log.append(rows)
            for logger in self.loggers:
                logger.log(rows)
            self.flushed_step, self.flushed_time = step, now
        self.info.update(last_step=step, wall_time=self.info["wall_time"] + elapsed)
        atomic_write_json(self.out / "run.json", self.info)

    def fail(self, error: BaseException) -> None:
        """Record the error and release the lock."""
        self.info.update(status="failed", error=f"{type(error).__name__}: {error}")
        atomic_write_json(self.out / "run.json", self.info)
        release(self.out)
        self._close_loggers()

    def complete(self) -> Run:
        """Record completion and release the lock."""
        self.info.update(status="complete", last_step=self.total, files=record(self.out, ["metrics.csv"]))
        atomic_write_json(self.out / "run.json", self.info)
        release(self.out)
        self._close_loggers()
        return Run(self.out)

    def _close_loggers(self) -> None:
        for logger in self.loggers:
            logger.close()
