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

import csv
import io
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from bridge.config import RunConfig, config_from_dict
from bridge.runs.errors import RunError
from bridge.runs.storage import CorruptFileError, atomic_write_json, atomic_write_text, load_tensors, read_json

CHECKPOINTS = "checkpoints"
_STEP_FILE = re.compile(r"^step_(\d{8})\.safetensors$")
BASE_COLUMNS = ["step", "observable", "value"]


def checkpoint_path(path: Path, step: int, kind: str = "step") -> Path:
    """``path/checkpoints/{kind}_{step:08d}.safetensors``."""
    return Path(path) / CHECKPOINTS / f"{kind}_{step:08d}.safetensors"


def rows_to_frame(rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """Tidy rows → DataFrame with ``step, observable, value`` first, index columns after (sorted)."""
    frame = pd.DataFrame(list(rows))
    if frame.empty:
        return pd.DataFrame(columns=BASE_COLUMNS)
    missing = [c for c in BASE_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"metric rows lack columns {missing}")
    extra = sorted(c for c in frame.columns if c not in BASE_COLUMNS)
    return frame[BASE_COLUMNS + extra]


class MetricsLog:
    """Appends tidy rows to ``metrics.csv`` in O(new rows) per flush.

    Each :meth:`append` writes only the new rows and returns the file's size, which
    the training loop records per checkpoint so a resumed run truncates the
    file back to exactly what its checkpoint had seen (a half-written append
    from a killed process is cut off). A row with a new index column triggers
    one atomic rewrite of the whole table with the wider header.
    """

    def __init__(self, path: str | Path) -> None:
        self.file = Path(path) / "metrics.csv"
        self.columns: list[str] | None = list(pd.read_csv(self.file, nrows=0).columns) if self.file.exists() and self.file.stat().st_size else None

    def append(self, rows: Sequence[dict[str, Any]]) -> int:
        """Write ``rows`` (each with a ``step``); returns the file size in bytes afterwards."""
        if not rows:
            return self.file.stat().st_size if self.file.exists() else 0
        keys = {k for r in rows for k in r}
        if self.columns is None or not keys <= set(self.columns):
            old = read_metrics(self.file.parent)
            merged = rows_to_frame(old.to_dict("records") + list(rows))
            write_metrics(self.file.parent, merged)
            self.columns = list(merged.columns)
        else:
            buffer = io.StringIO()
            # csv writes None as an empty cell and floats at full precision (str(float) is the
            # shortest round-trip repr); pandas reads "nan" and "inf" back as floats.
            csv.writer(buffer, lineterminator="\n").writerows([[r.get(c) for c in self.columns] for r in rows])
            with open(self.file, "a") as f:
                f.write(buffer.getvalue())
        return self.file.stat().st_size

    def truncate(self, size: int) -> None:
        """Cut the file back to ``size`` bytes (a size recorded by :meth:`append`)."""
        if not self.file.exists():
            return
        with open(self.file, "r+") as f:
            f.truncate(size)
        self.columns = list(pd.read_csv(self.file, nrows=0).columns) if size else None


def write_metrics(path: Path, frame: pd.DataFrame) -> None:
    """Write the metrics table atomically."""
    atomic_write_text(Path(path) / "metrics.csv", frame.to_csv(index=False))


def read_metrics(path: Path) -> pd.DataFrame:
    """Read ``metrics.csv`` (empty table when absent)."""
    file = Path(path) / "metrics.csv"
    if not file.exists():
        return pd.DataFrame(columns=BASE_COLUMNS)
    try:
        return pd.read_csv(file)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise CorruptFileError(f"{file.name} cannot be read ({e})") from None


def saved_steps(path: str | Path) -> list[int]:
    """Steps with a model checkpoint file in the run directory ``path``, ascending."""
    folder = Path(path) / CHECKPOINTS
    if not folder.is_dir():
        return []
    return sorted(int(m.group(1)) for f in folder.iterdir() if (m := _STEP_FILE.match(f.name)))


class Run:
    """A training trajectory on disk.

    Attributes:
        path: the run directory.
        info: the parsed ``run.json``.
        config: the :class:`~bridge.config.RunConfig` that produced the run.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_dir():
            raise RunError(f"run directory {self.path} does not exist")
        if not (self.path / "run.json").exists():
            raise RunError(f"{self.path} is not a run directory (no run.json)")
        self.info: dict[str, Any] = read_json(self.path / "run.json")
        try:
            self.config: RunConfig = config_from_dict(self.info["config"])
        except (KeyError, TypeError, ValueError) as e:
            raise RunError(f"{self.path / 'run.json'} holds no valid config ({e})") from None
        self._metrics: pd.DataFrame | None = None

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r}, status={self.status!r}, steps={len(self.steps)})"

    @property
    def status(self) -> str:
        return self.info.get("status", "unknown")

    @property
    def steps(self) -> list[int]:
        """Steps that have a model checkpoint, ascending."""
        return saved_steps(self.path)

    @property
    def metrics(self) -> pd.DataFrame:
        """The tidy metrics table: columns ``step, observable, value`` plus index columns."""
        if self._metrics is None:
            self._metrics = read_metrics(self.path)
        return self._metrics

    def observable(self, name: str, **index: Any) -> pd.Series:
        """Values of observable ``name`` (rows matching ``index``), as a Series indexed by step.

        Examples:
            >>> run.observable("mode/strength", mode=0)   # doctest: +SKIP
        """
        frame = self.metrics[self.metrics["observable"] == name]
        for key, value in index.items():
            if key not in frame.columns:
                raise KeyError(f"observable {name!r} has no index column {key!r}")
            frame = frame[frame[key] == value]
        if frame.empty:
            raise KeyError(f"no rows for observable {name!r} with {index or 'no index'}")
        return frame.groupby("step")["value"].last().astype(float)

    def table(self, name: str, column: str | Sequence[str], **index: Any) -> pd.DataFrame:
        """Observable ``name`` as a table: one row per step, one column per value of the index ``column``.

        Args:
            name: the observable (``"fourier/embed_norm"``).
            column: the index column(s) that become the table's columns (``"frequency"``,
                or ``["layer", "neuron"]``).
            **index: fixed values of other index columns (``split="test"``).

        Returns:
            A DataFrame indexed by step (ascending), columns sorted; ``.to_numpy()``
            gives the ``(step, column)`` matrix.

        Examples:
            >>> norms = run.table("fourier/embed_norm", "frequency")   # doctest: +SKIP
            >>> norms.loc[1000, 14]                                     # doctest: +SKIP
        """
        frame = self.metrics[self.metrics["observable"] == name]
        columns = [column] if isinstance(column, str) else list(column)
        for key in [*columns, *index]:
            if key not in frame.columns:
                raise KeyError(f"observable {name!r} has no index column {key!r}")
        for key, value in index.items():
            frame = frame[frame[key] == value]
        if frame.empty:
            raise KeyError(f"no rows for observable {name!r} with {index or 'no index'}")
        return frame.pivot_table(index="step", columns=columns if len(columns) > 1 else columns[0], values="value", aggfunc="last").sort_index()

    def curve(self, name: str, **index: Any) -> tuple[np.ndarray, np.ndarray]:
        """``(steps, values)`` of observable ``name`` as float arrays (what detectors and plots take).

        Examples:
            >>> steps, values = run.curve("mode/strength", mode=0)   # doctest: +SKIP
        """
        series = self.observable(name, **index)
        return series.index.to_numpy(dtype=float), series.to_numpy(dtype=float)

    def task_data(self, device: str | torch.device = "cpu"):
        """Regenerate the run's task data from its config and seed."""
        from bridge.tasks import make_task

        return make_task(self.config.task, self.config.seed).to(device)

    def model_at(self, step: int, device: str | torch.device = "cpu", into: nn.Module | None = None) -> nn.Module:
        """The model with the weights saved at ``step``.

        Args:
            step: a checkpoint step (see :attr:`steps`).
            device: where the model lives.
            into: a model of this run to load the weights into instead of
                building a new one (building a toy transformer costs ~0.1 s,
                which adds up over many checkpoints).

        Raises:
            KeyError: no checkpoint at ``step`` (the message lists the nearest ones).
            CorruptFileError: the checkpoint cannot be read.
        """
        from bridge.models import build_model, move_to

        file = checkpoint_path(self.path, step)
        if not file.exists():
            near = sorted(self.steps, key=lambda s: abs(s - step))[:3]
            raise KeyError(f"no checkpoint at step {step} in {self.path} (nearest: {sorted(near)})")
        model = build_model(self.config.model, self.config.seed) if into is None else into
        current = next(model.parameters()).device
        load_weights(model, load_tensors(file, current), file.name)
        return model if current == torch.device(device) else move_to(model, device)

    @property
    def events(self) -> list[dict[str, Any]]:
        file = self.path / "events.json"
        return read_json(file) if file.exists() else []

    @property
    def report(self) -> dict[str, Any] | None:
        file = self.path / "report.json"
        return read_json(file) if file.exists() else None

    @property
    def figures_dir(self) -> Path:
        folder = self.path / "figures"
        folder.mkdir(exist_ok=True)
        return folder

    def append_metrics(self, rows: Sequence[dict[str, Any]], replace: bool = True) -> None:
        """Add rows (each with a ``step``) to the metrics table, atomically.

        Args:
            rows: tidy rows with ``step``, ``observable``, ``value`` and index columns.
            replace: drop existing rows with the same observable at the same
                step first, so re-running an analysis does not duplicate them;
                rows at other steps (e.g. recorded online) are kept.
        """
        new = rows_to_frame(rows)
        old = self.metrics
        if replace and not new.empty and not old.empty:
            keys = set(zip(new["observable"], new["step"]))
            old = old[[(o, s) not in keys for o, s in zip(old["observable"], old["step"])]]
        merged = rows_to_frame(pd.concat([old, new], ignore_index=True).to_dict("records")) if len(old) else new
        write_metrics(self.path, merged)
        self._metrics = None
        if "metrics_bytes" in self.info:  # the byte offsets no longer describe the file
            self.update_info(metrics_bytes={})

    def write_events(self, events: Sequence[Any]) -> None:
        """Write ``events.json`` (events/stages with ``to_dict`` or plain dicts)."""
        atomic_write_json(self.path / "events.json", [e.to_dict() if hasattr(e, "to_dict") else dict(e) for e in events])

    def update_info(self, **fields: Any) -> None:
        """Merge ``fields`` into ``run.json`` atomically."""
        self.info.update(fields)
        atomic_write_json(self.path / "run.json", self.info)


def load_weights(model: nn.Module, tensors: dict[str, torch.Tensor], source: str) -> None:
    """Load ``tensors`` into ``model`` strictly; a key mismatch raises naming ``source``."""
    expected = set(model.state_dict())
    if set(tensors) != expected:
        missing, unexpected = sorted(expected - set(tensors)), sorted(set(tensors) - expected)
        raise CorruptFileError(f"{source} does not match the model (missing {missing[:3]}, unexpected {unexpected[:3]})")
    model.load_state_dict(tensors, strict=True)


def load_run(path: str | Path) -> Run:
    """Open the run directory at ``path``.

    Examples:
        >>> run = load_run("runs/deep-linear")   # doctest: +SKIP
        >>> run.steps[:3], run.metrics.columns.tolist()[:3]   # doctest: +SKIP
        ([0, 1, 2], ['step', 'observable', 'value'])
    """
    return Run(path)
