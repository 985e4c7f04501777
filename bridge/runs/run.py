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
import math
import numbers
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from bridge.config import RunConfig, config_from_dict
from bridge.runs.checksums import record, verify
from bridge.runs.errors import RunError
from bridge.runs.storage import CorruptFileError, atomic_write_json, atomic_write_text, load_tensors, read_json

CHECKPOINTS = "checkpoints"
_STEP_FILE = re.compile(r"^step_(\d{8})\.safetensors$")
BASE_COLUMNS = ["step", "observable", "value"]


def checkpoint_path(path: Path, step: int, kind: str = "step") -> Path:
    """``path/checkpoints/{kind}_{step:08d}.safetensors``."""
    return Path(path) / CHECKPOINTS / f"{kind}_{step:08d}.safetensors"


def validate_rows(rows: Sequence[dict[str, Any]]) -> None:
    """Raise ``ValueError`` naming the first row that is not tidy.

    A tidy row has an integer ``step``, a non-empty string ``observable``, a
    number (or ``None``/NaN) as ``value``, and index columns whose values are
    integers, strings or ``None``.

    Examples:
        >>> validate_rows([{"step": 0, "observable": "loss/train", "value": 0.5, "split": "test"}])
        >>> validate_rows([{"step": 0, "observable": "loss/train", "value": "high"}])
        Traceback (most recent call last):
        ...
        ValueError: metric row {'step': 0, 'observable': 'loss/train', 'value': 'high'}: value must be a number, got 'high'
    """
    for r in rows:
        problem = None
        if not isinstance(r.get("observable"), str) or not r["observable"]:
            problem = f"observable must be a non-empty name, got {r.get('observable')!r}"
        elif not isinstance(r.get("step"), numbers.Integral) or isinstance(r.get("step"), bool):
            problem = f"step must be an integer, got {r.get('step')!r}"
        elif r.get("value") is not None and (isinstance(r["value"], bool | str) or not isinstance(r["value"], numbers.Real)):
            problem = f"value must be a number, got {r['value']!r}"
        else:
            bad = next((k for k, v in r.items() if k not in BASE_COLUMNS and v is not None and not isinstance(v, numbers.Integral | str) and not (isinstance(v, float) and math.isnan(v))), None)
            if bad is not None:
                problem = f"index column {bad!r} must hold an integer or a string, got {r[bad]!r}"
        if problem:
            raise ValueError(f"metric row {r}: {problem}")


def rows_to_frame(rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """Tidy rows → DataFrame with ``step, observable, value`` first, index columns after (sorted)."""
    frame = pd.DataFrame(list(rows))
    if frame.empty:
        return pd.DataFrame(columns=BASE_COLUMNS)
    missing = [c for c in BASE_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"metric rows lack columns {missing}")
    extra = sorted(c for c in frame.columns if c not in BASE_COLUMNS)
    return tidy_dtypes(frame[BASE_COLUMNS + extra])


def tidy_dtypes(frame: pd.DataFrame) -> pd.DataFrame:
    """The metrics table with its column types: ``step`` int64, ``value`` float64, and every
    numeric index column as integers (pandas' nullable ``Int64``, empty where a row has no such index).

    A CSV cell cannot tell 1 from 1.0 and a column with empty cells reads as floats;
    index columns only ever hold integers or strings (:func:`validate_rows`), so a
    numeric index column is an integer column.

    Examples:
        >>> frame = tidy_dtypes(pd.DataFrame({"step": [0, 0], "observable": ["loss/train", "mode/strength"],
        ...                                   "value": [1, 2], "mode": [float("nan"), 3.0]}))
        >>> [str(t) for t in frame.dtypes], frame["mode"].tolist()
        (['int64', 'str', 'float64', 'Int64'], [<NA>, 3])
    """
    frame = frame.copy()
    if len(frame):
        frame["step"] = frame["step"].astype("int64")
    frame["value"] = frame["value"].astype("float64")
    for column in frame.columns:
        if column in BASE_COLUMNS:
            continue
        values = frame[column]
        if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values) or isinstance(values.dtype, pd.Int64Dtype):
            continue
        present = values.dropna()
        if len(present) and bool((present == np.round(present)).all()):
            frame[column] = values.astype("Int64")
    return frame


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
        """Write ``rows`` (each with a ``step``); returns the file size in bytes afterwards.

        Raises:
            ValueError: a row is not tidy (see :func:`validate_rows`), before anything is written.
        """
        validate_rows(rows)
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
    """Write the metrics table atomically (integer index columns as integers: ``3``, never ``3.0``)."""
    atomic_write_text(Path(path) / "metrics.csv", (tidy_dtypes(frame) if len(frame.columns) else frame).to_csv(index=False))


def read_metrics(path: Path) -> pd.DataFrame:
    """Read ``metrics.csv`` (empty table when absent); column types as :func:`tidy_dtypes` gives them."""
    file = Path(path) / "metrics.csv"
    if not file.exists():
        return pd.DataFrame(columns=BASE_COLUMNS)
    try:
        frame = pd.read_csv(file)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise CorruptFileError(f"{file.name} cannot be read ({e})") from None
    missing = [c for c in BASE_COLUMNS if c not in frame.columns]
    if missing:
        raise CorruptFileError(f"{file.name} lacks the columns {missing}")
    try:
        return tidy_dtypes(frame)
    except (TypeError, ValueError) as e:
        raise CorruptFileError(f"{file.name} holds a step or value that is not a number ({e})") from None


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
        config: the :class:`~bridge.config.RunConfig` that produced the run (read on
            first use: the metrics, events and report of a run whose model or task
            kind is not registered in this process still read).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_dir():
            raise RunError(f"run directory {self.path} does not exist")
        if not (self.path / "run.json").exists():
            raise RunError(f"{self.path} is not a run directory (no run.json)")
        self.info: dict[str, Any] = read_json(self.path / "run.json")
        self._config: RunConfig | None = None
        self._metrics: pd.DataFrame | None = None
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
        return f"Run({str(self.path)!r}, status={self.status!r}, steps={len(self.steps)})"

    @property
    def status(self) -> str:
        """``complete``, ``failed``, ``running`` (a live writer holds the lock) or ``interrupted`` (its writer is gone)."""
        from bridge.runs.lock import holder, is_stale

        status = self.info.get("status", "unknown")
        if status == "running":
            lock = holder(self.path)
            if lock is None or is_stale(lock):
                return "interrupted"
        return status

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
            verify(self.path, self.info.get("files"), "metrics.csv")
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
        if frame["step"].duplicated().any():
            free = {c: sorted({_key_part(v) for v in frame[c]}, key=str) for c in frame.columns if c not in BASE_COLUMNS and c not in index and frame[c].notna().any()}
            varying = {c: v for c, v in free.items() if len(v) > 1}
            if varying:
                choices = "; ".join(f"{c} in {v}" for c, v in varying.items())
                raise KeyError(f"observable {name!r} has several rows per step: choose {choices}")
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
        """Regenerate the run's task data from its config and seed, floating-point inputs and
        targets in the run's ``train.dtype`` (as training saw them; integer tensors unchanged)."""
        from bridge.tasks import Split, make_task

        data, dtype = make_task(self.config.task, self.config.seed), getattr(torch, self.config.train.dtype)
        cast = lambda x: x.to(dtype) if x.is_floating_point() else x  # noqa: E731
        return type(data)(*(s and Split(cast(s.x), cast(s.y)) for s in (data.train, data.test)), data.loss, data.info).to(device)

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
            RunError: the run's model kind is not registered in this process (named in the message).
            CorruptFileError: the checkpoint cannot be read.
        """
        from bridge.models import MODELS, build_model, move_to

        file = checkpoint_path(self.path, step)
        if not file.exists():
            near = sorted(self.steps, key=lambda s: abs(s - step))[:3]
            raise KeyError(f"no checkpoint at step {step} in {self.path} (nearest: {sorted(near)})")
        if into is None and self.config.model.kind not in MODELS:
            raise RunError(
                f"{self.path} was trained with model kind {self.config.model.kind!r}, which has no model builder in this process: "
                f"import the module that registers it with @MODELS.register({self.config.model.kind!r}) "
                "(`import MODULE` in Python, `mechbridge --import MODULE`, or MECHBRIDGE_PLUGINS=MODULE)"
            )
        model = into if into is not None else build_model(self.config.model, self.config.seed)
        if into is None and self.config.train.dtype != "float32":  # the dtype training used and the checkpoints store
            model = move_to(model, getattr(torch, self.config.train.dtype))
        current = next(model.parameters()).device
        load_weights(model, load_tensors(file, current), file.name)
        model.train(train)
        return model if current == torch.device(device) else move_to(model, device)

    @property
    def events(self) -> list[dict[str, Any]]:
        file = self.path / "events.json"
        return read_json(file) if file.exists() else []

    @property
    def report(self) -> dict[str, Any] | None:
        """The stored ``report.json`` (``None`` if absent); ``CorruptFileError`` if it differs from its record."""
        file = self.path / "report.json"
        verify(self.path, self.info.get("files"), "report.json")
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
            replace: drop existing rows with the same key first (observable, step
                and every index column), so re-running an analysis does not
                duplicate them; other rows (other steps, other layers) are kept.

        Raises:
            ValueError: a row is not tidy (see :func:`validate_rows`), before anything is written.
        """
        validate_rows(rows)
        new = rows_to_frame(rows)
        old = self.metrics
        if replace and not new.empty and not old.empty:
            columns = sorted((set(new.columns) | set(old.columns)) - {"value"})
            key = lambda frame: list(zip(*[[_key_part(v) for v in frame[c].tolist()] if c in frame.columns else [None] * len(frame) for c in columns]))  # noqa: E731
            taken = set(key(new))
            old = old[[k not in taken for k in key(old)]]
        merged = rows_to_frame(pd.concat([old, new], ignore_index=True).to_dict("records")) if len(old) else new
        write_metrics(self.path, merged)
        self._metrics = None
        files = {**self.info.get("files", {}), **record(self.path, ["metrics.csv"])}
        if "metrics_bytes" in self.info:  # the byte offsets no longer describe the file
            self.update_info(metrics_bytes={}, files=files)
        else:
            self.update_info(files=files)

    def write_events(self, events: Sequence[Any]) -> None:
        """Write ``events.json`` (events/stages with ``to_dict`` or plain dicts)."""
        atomic_write_json(self.path / "events.json", [e.to_dict() if hasattr(e, "to_dict") else dict(e) for e in events])

    def update_info(self, **fields: Any) -> None:
        """Merge ``fields`` into ``run.json`` atomically."""
        self.info.update(fields)
        atomic_write_json(self.path / "run.json", self.info)


def _key_part(value: Any) -> Any:
    """An index value as a hashable key part: NaN and ``None`` are one "absent", 2.0 is 2."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


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
