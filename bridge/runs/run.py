"""Run directories: the on-disk unit that training writes and everything downstream reads.

Layout of a run directory::

    run.json                       config, seed, package versions, device, status, schedule
    checkpoints/step_<8-digit step>.safetensors   model weights at a step
    checkpoints/optim_<8-digit step>.safetensors  optimizer state (kept for the last few checkpoints)
    metrics.csv                    tidy table: step, observable, value, index columns
    events.json                    detected events and stages
    report.json, report.md         the bridge report
    figures/                       PNG figures

Examples:
    >>> from bridge import load_run                      # doctest: +SKIP
    >>> run = load_run("runs/deep-linear")               # doctest: +SKIP
    >>> run.metrics.query("observable == 'loss/train'")  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from bridge.config import RunConfig, config_from_dict
from bridge.runs.checkpoints import load_model, saved_steps
from bridge.runs.checksums import digest, verify
from bridge.runs.errors import RunError
from bridge.runs.merge import merge_rows
from bridge.runs.metrics import encode_metrics, read_metrics, rows_to_frame, validate_rows
from bridge.runs.observables import MetricsIndex, observable_series, observable_table
from bridge.runs.run_json import older_layout, read_record, runs_within, unregistered_kinds
from bridge.runs.storage import CorruptFileError, atomic_write_bytes, atomic_write_json, json_bytes, read_json

if TYPE_CHECKING:
    from bridge.report import ReportJSON
    from bridge.tasks.base import TaskData

__all__ = ["Run", "load_run", "runs_within"]


class Run:
    """A training trajectory on disk.

    Attributes:
        path: the run directory.
        info: the parsed ``run.json``.
        config: the :class:`~bridge.config.RunConfig` that produced the run (read on
            first use: the metrics, events and report of a run whose model or task
            kind is not registered in this process still read).

    Examples:
        >>> import tempfile; from bridge import train, TrainConfig; from bridge.models import DeepLinearConfig; from bridge.tasks import LinearTeacherConfig
        >>> cfg = RunConfig(LinearTeacherConfig((2.0,), d_in=2, d_out=2), DeepLinearConfig(2, 4, 2), TrainConfig(steps=3))
        >>> run = Run(train(cfg, Path(tempfile.mkdtemp()) / "run", device="cpu", progress=False).path)  # as load_run(path) opens it
        >>> run.status, run.steps, run.observable("loss/train").index.tolist(), run.config == cfg
        ('complete', [0, 1, 2, 3], [0, 1, 2, 3], True)

    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.info: dict[str, Any] = read_record(self.path)
        self._config: RunConfig | None = None
        self._metrics: pd.DataFrame | None = None
        self._rows: MetricsIndex | None = None  # where each observable's rows are in the table read (found on first use)
        if not unregistered_kinds(self.info.get("config")):  # otherwise the error waits for a read that needs the config
            self._config = self._parse_config()

    def _parse_config(self) -> RunConfig:
        missing = unregistered_kinds(self.info.get("config"))
        if missing:
            names = ", ".join(f"{where} kind {kind!r}" for where, kind in missing)
            raise RunError(
                f"{self.path} was trained with {names}, not registered in this process: import the module that registers it "
                "(`import MODULE` in Python, `mechbridge --import MODULE`, or MECHBRIDGE_PLUGINS=MODULE) to rebuild its config, "
                "task and model; its metrics, events and report read without it"
            )
        try:
            return config_from_dict(self.info["config"])
        except (KeyError, TypeError, ValueError) as e:
            raise RunError(f"{self.path / 'run.json'} holds no valid config ({e})") from None

    @property
    def config(self) -> RunConfig:
        """The :class:`~bridge.config.RunConfig` that produced the run.

        Raises:
            RunError: the config names a kind (a user's model or task) that no imported
                module registered; the message names it and how to register it.
        """
        if self._config is None:
            self._config = self._parse_config()
        return self._config

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r}, status={self.status!r}, checkpoints={len(self.steps)}, last_step={max(self.steps, default=None)})"

    @property
    def status(self) -> str:
        """``complete``, ``failed``, ``running`` (a live writer holds the lock) or ``interrupted`` (its writer was stopped or is gone)."""
        from bridge.runs.lock import holder, is_stale

        status = self.info.get("status", "unknown")
        if status == "running":
            lock = holder(self.path)
            if lock is None or is_stale(lock):
                return "interrupted"
        return status

    @property
    def tracker_versions(self) -> dict[str, int]:
        """The definition version of each tracker whose rows the run records (``run.json``'s ``tracker_versions``;
        ``{}`` for a run written before versions were recorded, whose rows are all of version 1). A resume or an
        analysis refuses to append rows of another version (:mod:`bridge.runs.versions`).

        Examples:
            >>> import tempfile; from bridge import train, TrainConfig; from bridge.models import DeepLinearConfig; from bridge.tasks import LinearTeacherConfig; from bridge.trackers import ModeTracker
            >>> cfg = RunConfig(LinearTeacherConfig((2.0,), d_in=2, d_out=2), DeepLinearConfig(2, 4, 2), TrainConfig(steps=2))
            >>> train(cfg, Path(tempfile.mkdtemp()) / "run", trackers=[ModeTracker()], device="cpu", progress=False).tracker_versions
            {'loss': 1, 'modes': 2}
        """
        from bridge.runs.versions import recorded_versions

        return recorded_versions(self.info, self.path / "run.json")

    @property
    def steps(self) -> list[int]:
        """Steps that have a model checkpoint, ascending."""
        return saved_steps(self.path)

    @property
    def metrics(self) -> pd.DataFrame:
        """The tidy metrics table: columns ``step, observable, value`` plus index columns.

        Raises:
            CorruptFileError: ``metrics.csv`` differs from the size and checksum ``run.json`` records.
        """
        if self._metrics is None:
            self._verify("metrics.csv")
            self._metrics = read_metrics(self.path)
        return self._metrics

    def _indexed(self) -> MetricsIndex:
        """The positions of each observable's rows in :attr:`metrics`, found once per table read (a table read again,
        after :meth:`append_metrics`, gets its own)."""
        self._rows = MetricsIndex.of(self.metrics, self._rows)
        return self._rows

    def observable(self, name: str, /, **index: Any) -> pd.Series[float]:
        """Values of observable ``name`` (rows matching ``index``), as a float Series indexed by step (ascending).

        Examples:
            >>> run.observable("mode/strength", mode=0)   # doctest: +SKIP
        """
        return observable_series(self._indexed(), name, **index)

    def table(self, name: str, column: str | Sequence[str], /, **index: Any) -> pd.DataFrame:
        """Observable ``name`` as a table: one row per step, one column per value of the index ``column``.

        Args:
            name: the observable (``"fourier/embed_norm"``).
            column: the index column(s) that become the table's columns (``"frequency"``,
                or ``["layer", "neuron"]``).
            **index: fixed values of other index columns (``split="test"``).

        Returns:
            A DataFrame indexed by step (ascending), columns sorted, a NaN where a row holds NaN; ``.to_numpy()``
            gives the ``(step, column)`` matrix.

        Examples:
            >>> norms = run.table("fourier/embed_norm", "frequency")   # doctest: +SKIP
            >>> norms.loc[1000, 14]                                     # doctest: +SKIP
        """
        return observable_table(self._indexed(), name, column, **index)

    def curve(self, name: str, /, **index: Any) -> tuple[np.ndarray, np.ndarray]:
        """``(steps, values)`` of observable ``name`` as float arrays (what detectors and plots take): a step past
        2**53 is rounded to its nearest float64 (:meth:`observable` keeps the steps as integers).

        Examples:
            >>> steps, values = run.curve("mode/strength", mode=0)   # doctest: +SKIP
        """
        series = self.observable(name, **index)
        return series.index.to_numpy(dtype=float), series.to_numpy(dtype=float)

    def task_data(self, device: str | torch.device = "cpu") -> TaskData:
        """Regenerate the run's task data from its config and seed, floating-point inputs and
        targets in the run's ``train.dtype`` (as training saw them; integer tensors unchanged)."""
        from bridge.tasks import Split, make_task

        data, dtype = make_task(self.config.task, self.config.seed), getattr(torch, self.config.train.dtype)

        def cast(t: torch.Tensor) -> torch.Tensor:
            return t.to(dtype) if t.is_floating_point() else t

        def cast_split(split: Split) -> Split:  # a split of no examples too: it is falsy, but no less in the run's dtype
            return Split(cast(split.x), cast(split.y))

        return type(data)(cast_split(data.train), None if data.test is None else cast_split(data.test), data.loss, data.info).to(device)

    def model_at(self, step: int, device: str | torch.device = "cpu", into: nn.Module | None = None, *, train: bool = False) -> nn.Module:
        """The model with the weights saved at ``step``.

        Args:
            step: a checkpoint step (see :attr:`steps`).
            device: where the model lives.
            into: a model of this run to load the weights into instead of
                building a new one (building a toy transformer costs ~0.1 s,
                which adds up over many checkpoints).
            train: return it in training mode (default: eval mode, as probes and
                patching utilities expect).

        Raises:
            KeyError: no checkpoint at ``step`` (the message lists the nearest ones).
            TypeError: ``step`` is not an integer.
            RunError: the run's model kind is not registered in this process (named in the message).
            CorruptFileError: the checkpoint cannot be read.
        """
        return load_model(self, step, device, into, train=train)

    @property
    def events(self) -> list[dict[str, Any]]:
        """The stored events (``[]`` if absent); ``CorruptFileError`` if ``events.json`` differs from its
        record or is not a list of objects."""
        file = self.path / "events.json"
        self._verify("events.json")
        events = read_json(file) if file.exists() else []
        if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
            raise CorruptFileError(f"events.json must hold a list of events (objects), got {type(events).__name__}")
        return events

    @property
    def report(self) -> ReportJSON | None:
        """The stored ``report.json`` (``None`` if absent): a dict (``run.report["verdict"]``) that a notebook shows as
        the report's tables (:class:`~bridge.report.ReportJSON`).

        Raises:
            CorruptFileError: ``report.json`` differs from its record in ``run.json``, or has none
                (its set of report files was not finished: a writer was killed before recording it).
        """
        file = self.path / "report.json"
        if file.exists() and "report.json" not in self.info.get("files", {}):
            self._reread_record("report.json")
        if file.exists() and "report.json" not in self.info.get("files", {}):
            if reason := older_layout(self.info, self.path):
                raise CorruptFileError(reason)
            raise CorruptFileError(f"report.json in {self.path} is not on record in run.json: writing the report was interrupted; finish it with `mechbridge run ... --resume` or `mechbridge report --rebuild`")
        self._verify("report.json")
        report = read_json(file) if file.exists() else None
        if report is not None and not isinstance(report, dict):
            raise CorruptFileError(f"report.json must hold a report (an object), got {type(report).__name__}")
        from bridge.report import ReportJSON

        return None if report is None else ReportJSON(report)

    def _verify(self, name: str) -> None:
        """Check the file ``name`` against its record (:func:`~bridge.runs.checksums.verify`), read again from
        ``run.json`` when the one read on opening does not match: another process (an analysis, a report) may have
        replaced the file and its record since, which is no damage."""
        try:
            verify(self.path, self.info.get("files"), name)
        except CorruptFileError:
            if not self._reread_record(name):
                raise
            verify(self.path, self.info.get("files"), name)

    def _reread_record(self, name: str) -> bool:
        """Take ``run.json`` as it is on disk now; whether its record of the file ``name`` differs from the one held."""
        now = read_record(self.path)
        changed = now.get("files", {}).get(name) != self.info.get("files", {}).get(name)
        self.info = now
        return changed

    def check_writable(self) -> None:
        """Raise :class:`RunError` naming the run directory when this process cannot write into it (a read-only copy,
        folder or disk): what :func:`bridge.analyze`, :meth:`append_metrics` and :meth:`write_events` check before any
        work. Reading never needs it.

        Examples:
            >>> run.check_writable()   # doctest: +SKIP
        """
        if not os.access(self.path, os.W_OK | os.X_OK):
            raise RunError(f"{self.path} is read-only for this process: reading it works, but appending rows or events needs a run directory it can write into (copy the run to a writable folder and open the copy)")

    @property
    def figures_dir(self) -> Path:
        """The run's ``figures/`` folder, where a case study's figures are written (:func:`bridge.plots.save_figure`
        creates it with the first); the report lists them under ``report["figures"]``, paths relative to the run.
        Reading it writes nothing: a run on a read-only disk opens as well."""
        return self.path / "figures"

    def append_metrics(self, rows: Sequence[dict[str, Any]], replace: bool | Sequence[str] = True) -> None:
        """Add rows (each with a ``step``) to the metrics table, atomically.

        Args:
            rows: tidy rows with ``step``, ``observable``, ``value`` and index columns.
            replace: drop existing rows with the same key first (see :func:`~bridge.runs.merge.merge_rows`):
                ``True`` keys by observable, step and every index column, so re-running an analysis does
                not duplicate rows and other rows (other steps, other layers) are kept; a list of
                columns (``["observable", "step"]``) is the key; ``False`` keeps every row.

        Raises:
            ValueError: a row is not tidy (see :func:`validate_rows`), before anything is written.
        """
        validate_rows(rows)
        self.check_writable()
        data = encode_metrics(merge_rows(self.metrics, rows_to_frame(rows), replace))
        resume_points = {"metrics_bytes": dict.fromkeys(self.info["metrics_bytes"])} if self.info.get("metrics_bytes") else {}  # on record, but their sizes no longer describe the file
        self._replace_recorded("metrics.csv", data, **resume_points)
        self._metrics = None

    def write_events(self, events: Sequence[Any]) -> None:
        """Write ``events.json`` (events/stages with ``to_dict`` or plain dicts) and its record, atomically.

        Examples:
            >>> run.write_events(run.events[:2]); len(load_run(run.path).events)   # doctest: +SKIP
            2
        """
        rows = [e.to_dict() if hasattr(e, "to_dict") else dict(e) for e in events]
        self.check_writable()
        self._replace_recorded("events.json", json_bytes(rows))

    def _replace_recorded(self, name: str, data: bytes, **fields: Any) -> None:
        """Replace the file ``name`` with ``data`` and its record in ``run.json`` (with ``fields``).

        ``run.json`` is written first, holding the record of both files (see
        :func:`~bridge.runs.checksums.verify`), and again once the file is replaced: a process
        killed at any moment leaves a run that reads, with the old file or the new one.
        """
        file, new = self.path / name, digest(data)
        before = digest(file) if file.is_file() else None
        self.update_info(**fields, files={**self.info.get("files", {}), name: {**new, "before": before}})
        atomic_write_bytes(file, data)
        self.update_info(files={**self.info["files"], name: new})

    def update_info(self, **fields: Any) -> None:
        """Merge ``fields`` into ``run.json`` atomically (:attr:`info` holds them once they are written)."""
        info = {**self.info, **fields}
        atomic_write_json(self.path / "run.json", info)
        self.info = info


def load_run(path: str | Path) -> Run:
    """Open the run directory at ``path``.

    Examples:
        >>> run = load_run("runs/deep-linear")   # doctest: +SKIP
        >>> run.steps[:3], run.metrics.columns.tolist()[:3]   # doctest: +SKIP
        ([0, 1, 2], ['step', 'observable', 'value'])
    """
    return Run(path)
