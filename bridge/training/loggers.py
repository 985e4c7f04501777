"""Experiment loggers: every metrics row a run writes, streamed to TensorBoard or Weights & Biases as it is written.

A logger receives the rows of ``metrics.csv`` each time the run writes them (at
checkpoints): ``open(out, config, resume)`` once, ``log(rows)`` per write,
``close()`` at the end (complete or failed). A row's tag is its observable, with its
index columns appended (``params/norm[group=weights.0]``). Both are optional extras
imported only when a logger opens; W&B runs offline unless told otherwise, so nothing
leaves the machine unless the user configures it. A resumed run logs again the
rows after its last good checkpoint (TensorBoard shows both; W&B keeps the first),
into the same W&B run (its id is kept in ``<run>/wandb/mechbridge.json``).

Examples:
    >>> tag({"step": 5, "observable": "params/norm", "value": 1.0, "group": "weights.0"})
    'params/norm[group=weights.0]'
    >>> get_logger("mlflow")
    Traceback (most recent call last):
    ...
    bridge.config.ConfigError: unknown logger 'mlflow' (loggers: tensorboard, wandb)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from bridge.config import ConfigError, config_to_dict

Row = dict[str, Any]


def tag(row: Row) -> str:
    """The scalar's name of a metrics row: the observable, then its index columns in brackets
    (absent ones, ``None`` or NaN, left out).

    Examples:
        >>> tag({"step": 0, "observable": "loss/train", "value": 0.5}), tag({"step": 0, "observable": "acc", "value": 1.0, "split": "test", "mode": None})
        ('loss/train', 'acc[split=test]')
    """
    index = [f"{k}={v}" for k, v in row.items() if k not in ("step", "observable", "value") and v is not None and not (isinstance(v, float) and math.isnan(v))]
    return row["observable"] + (f"[{','.join(index)}]" if index else "")


def _scalars(rows: Sequence[Row]) -> list[tuple[int, str, float]]:
    """``(step, tag, value)`` of every finite row, in step order."""
    out = [(int(r["step"]), tag(r), float(r["value"])) for r in rows if r.get("value") is not None and math.isfinite(float(r["value"]))]
    return sorted(out, key=lambda t: t[0])


@dataclass
class TensorBoardLogger:
    """TensorBoard event files in ``<run>/tensorboard`` (or ``log_dir``): ``tensorboard --logdir <run or sweep>``.

    Args:
        log_dir: where to write; ``None`` is the run directory's ``tensorboard/``.

    Examples:
        With the ``tensorboard`` extra installed (``cfg`` a run config, ``out`` a new folder):

        >>> run = train(cfg, out, loggers=[TensorBoardLogger()])   # doctest: +SKIP
        >>> sorted(p.name for p in (out / "tensorboard").iterdir())   # doctest: +SKIP
        ['events.out.tfevents...']
    """

    log_dir: str | None = None
    name: str = "tensorboard"
    _writer: Any = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        _require("tensorboard")

    def open(self, out: Path, config: Any, resume: bool) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self._writer = SummaryWriter(log_dir=str(self.log_dir or Path(out) / "tensorboard"))

    def log(self, rows: Sequence[Row]) -> None:
        for step, name, value in _scalars(rows):
            self._writer.add_scalar(name, value, step)
        self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


@dataclass
class WandbLogger:
    """A Weights & Biases run per training run, offline by default (files in ``<run>/wandb``; ``wandb sync`` uploads them).

    The W&B run's id and last logged step are kept in ``<run>/wandb/mechbridge.json``: a resumed
    training run continues the same W&B run (offline, a second ``offline-run-*`` folder under the
    same id), and one logger object can serve several runs.

    Args:
        project: the W&B project.
        mode: ``"offline"`` (default), ``"online"`` or ``"disabled"``.
        entity: the W&B entity (team or user), ``None`` for the default.

    Examples:
        With the ``wandb`` extra installed; ``wandb sync out/wandb/offline-run-*`` uploads the run afterwards:

        >>> run = train(cfg, out, loggers=[WandbLogger(project="toy-models")])   # doctest: +SKIP
    """

    project: str = "mechbridge"
    mode: Literal["offline", "online", "disabled"] = "offline"
    entity: str | None = None
    name: str = "wandb"
    _run: Any = field(default=None, init=False, repr=False)
    _last: int = field(default=-1, init=False, repr=False)
    _state: Path | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        _require("wandb")
        if self.mode not in ("offline", "online", "disabled"):
            raise ConfigError(f"wandb mode must be offline, online or disabled, got {self.mode!r}")

    def open(self, out: Path, config: Any, resume: bool) -> None:
        import wandb

        from bridge.runs.storage import read_json

        self._state = Path(out) / "wandb" / "mechbridge.json"
        stored = read_json(self._state) if resume and self._state.exists() else None
        again = {"id": stored["id"], "resume": "allow"} if stored else {}
        self._run = wandb.init(project=self.project, entity=self.entity, mode=self.mode, dir=str(out), name=Path(out).name, config=config_to_dict(config), reinit="create_new", **again)
        self._last = stored["last_step"] if stored else -1
        self._save()

    def log(self, rows: Sequence[Row]) -> None:
        by_step: dict[int, dict[str, float]] = {}
        for step, name, value in _scalars(rows):
            by_step.setdefault(step, {})[name] = value
        new = [step for step in sorted(by_step) if step > self._last]  # W&B steps only grow: rows re-logged after a resume are skipped
        for step in new:
            self._run.log(by_step[step], step=step)
            self._last = step
        if new:
            self._save()

    def _save(self) -> None:
        from bridge.runs.storage import atomic_write_json

        if self._state is None:  # set by open, before the first save
            raise RuntimeError("WandbLogger: the logger is not open (call open first)")
        self._state.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self._state, {"id": self._run.id, "last_step": self._last}, indent=None)

    def close(self) -> None:
        if self._run is not None:
            self._run.finish()
            self._run = None


def _require(module: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise ConfigError(f"the {module} logger needs {module}: pip install 'mechbridge[{module}]'")


LOGGERS = {"tensorboard": TensorBoardLogger, "wandb": WandbLogger}


def get_logger(name: str, **options: Any) -> Any:
    """A fresh logger ``name`` (``tensorboard`` or ``wandb``).

    Raises:
        ConfigError: an unknown logger.

    Examples:
        >>> sorted(LOGGERS)
        ['tensorboard', 'wandb']
        >>> get_logger("wandb", project="toy-models", mode="offline")   # doctest: +SKIP
        WandbLogger(project='toy-models', mode='offline', entity=None, name='wandb')
    """
    if name not in LOGGERS:
        raise ConfigError(f"unknown logger {name!r} (loggers: {', '.join(LOGGERS)})")
    return LOGGERS[name](**options)


def resolve_loggers(loggers: Sequence[Any]) -> list[Any]:
    """The logger objects of ``loggers``: names made into fresh loggers, objects checked to have
    ``open``, ``log`` and ``close`` methods, before any work.

    Raises:
        TypeError: ``loggers`` is one name rather than a sequence, or holds an object that is not a logger.
        ConfigError: an unknown or uninstalled logger name.

    Examples:
        >>> resolve_loggers([])
        []
        >>> resolve_loggers([print])
        Traceback (most recent call last):
        ...
        TypeError: a logger needs open, log and close methods: <built-in function print> has no open, log, close
    """
    if isinstance(loggers, (str, bytes)) or not isinstance(loggers, Iterable):
        raise TypeError(f"loggers must be a list of logger names or objects (loggers=['tensorboard']), got {loggers!r:.80}")
    out = [get_logger(lg) if isinstance(lg, str) else lg for lg in loggers]
    for logger in out:
        if missing := [m for m in ("open", "log", "close") if not callable(getattr(logger, m, None))]:
            raise TypeError(f"a logger needs open, log and close methods: {logger!r:.80} has no {', '.join(missing)}")
    return out


def check_logger_names(names: Sequence[str]) -> None:
    """Refuse, before any work, anything but the names of known and installed loggers.

    Raises:
        TypeError: ``names`` is not a sequence of names (a logger object serves one run; these name one per run).
        ConfigError: an unknown or uninstalled logger.

    Examples:
        >>> check_logger_names([]); check_logger_names(["tb"])
        Traceback (most recent call last):
        ...
        bridge.config.ConfigError: unknown logger 'tb' (loggers: tensorboard, wandb)
    """
    if isinstance(names, str) or not all(isinstance(n, str) for n in names):
        raise TypeError(f"give loggers by name (loggers=['tensorboard']), one fresh logger per run, got {names!r:.80}")
    for name in names:
        get_logger(name)


__all__ = ["LOGGERS", "TensorBoardLogger", "WandbLogger", "check_logger_names", "get_logger", "resolve_loggers", "tag"]
