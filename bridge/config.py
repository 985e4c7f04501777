"""Frozen configuration dataclasses and their JSON round trip.

Every concern has its own frozen dataclass (a task config, a model config, a
:class:`TrainConfig`); a :class:`RunConfig` joins them with a seed. Task and
model configs are registered by ``kind`` so a run directory's ``run.json``
rebuilds the exact objects.

Examples:
    >>> from bridge.config import TrainConfig, config_to_dict, config_from_dict
    >>> cfg = TrainConfig(optimizer="gd", lr=0.05, steps=100)
    >>> config_from_dict(config_to_dict(cfg)) == cfg
    True
"""

from __future__ import annotations

import dataclasses
import functools
import math
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from bridge.field_types import MAX_INT, mismatch, plain, shown  # noqa: F401 (MAX_INT: the largest integer a config field holds)
from bridge.registry import Registry

# Built-in config kinds, imported when a run.json names them; plugins register with @config_class.
CONFIG_CLASSES: Registry[type] = Registry(
    "config kind",
    {
        "boolean_cube": "bridge.tasks.boolean_cube:BooleanCubeConfig",
        "deep_linear": "bridge.models.deep_linear:DeepLinearConfig",
        "hierarchy": "bridge.tasks.hierarchy:HierarchyConfig",
        "lazy": "bridge.models.lazy:LazyConfig",
        "linear_teacher": "bridge.tasks.linear:LinearTeacherConfig",
        "mlp": "bridge.models.mlp:MLPConfig",
        "modular": "bridge.tasks.modular:ModularConfig",
        "multitask_sparse_parity": "bridge.tasks.sparse_parity:SparseParityConfig",
        "repeated_tokens": "bridge.tasks.repeated_tokens:RepeatedTokensConfig",
        "sgld": "bridge.estimators.llc:SGLDConfig",
        "sparse_features": "bridge.tasks.sparse_features:SparseFeaturesConfig",
        "teacher_mlp": "bridge.tasks.teacher_mlp:TeacherMLPConfig",
        "toy_superposition": "bridge.models.toy_superposition:ToySuperpositionConfig",
        "transformer": "bridge.models.transformer:TransformerConfig",
    },
)


class ConfigError(ValueError):
    """An invalid configuration, raised before any work is done.

    Examples:
        >>> from bridge.models import MLPConfig
        >>> MLPConfig(d_in=0, d_out=1, widths=(4,))
        Traceback (most recent call last):
        ...
        bridge.config.ConfigError: mlp.d_in and d_out must be positive, got 0, 1
    """


_C = TypeVar("_C", bound=type)  # a config class, given back as itself by its decorator
_type_hints = functools.cache(typing.get_type_hints)  # a config class's annotations, evaluated once per class, not per config


def config_class(kind: str) -> Callable[[_C], _C]:
    """Class decorator: register a frozen config dataclass under ``kind``.

    Every field is checked against its annotation at construction (before the
    class's own ``__post_init__``): integers are integers (not bools, not
    floats), numbers are finite numbers, strings are strings, tuples hold what
    their annotation says, nested configs are configs. The error names the
    field, the value and what is allowed. A value accepted is kept as the
    Python value its JSON reads back as: a NumPy integer as an ``int``, any
    number of a float field as a ``float``, a list as a tuple.

    Examples:
        >>> TrainConfig.kind, config_to_dict(TrainConfig())["kind"]
        ('train', 'train')
        >>> TrainConfig(steps=10.0)
        Traceback (most recent call last):
        ...
        bridge.config.ConfigError: train.steps must be an integer, got 10.0 (float)
        >>> import numpy as np; TrainConfig(steps=np.int64(10), lr=1, betas=[0.5, 0.9])
        TrainConfig(optimizer='gd', lr=1.0, steps=10, batch_size=None, weight_decay=0.0, momentum=0.0, betas=(0.5, 0.9), schedule=ScheduleConfig(n_log=30, every=0, track_every=0, track_resolution=0.0, keep_optimizer=True), threads=1, dtype='float32', warmup=0, clip_grad_norm=None, decay='none')
    """

    def wrap(cls: _C) -> _C:
        cls.kind = kind  # type: ignore[attr-defined]
        own = cls.__dict__.get("__post_init__")

        def __post_init__(self: Any) -> None:
            check_fields(self)
            if own is not None:
                own(self)

        cls.__post_init__ = __post_init__  # type: ignore[attr-defined]
        CONFIG_CLASSES.register(kind)(cls)
        return cls

    return wrap


def check_fields(cfg: Any) -> None:
    """Raise :class:`ConfigError` unless every field of the config dataclass ``cfg`` fits its annotation; keep
    each field as :func:`bridge.field_types.plain` of it (what its JSON reads back as; a frozen dataclass: in place).

    Examples:
        >>> check_fields(ScheduleConfig(n_log=3))
        >>> ScheduleConfig(n_log=2.5)
        Traceback (most recent call last):
        ...
        bridge.config.ConfigError: schedule.n_log must be an integer, got 2.5 (float)
    """
    cls: type = type(cfg)  # annotated: mypy takes a type[Any] for no Hashable, the cache's key
    hints = _type_hints(cls)
    for f in dataclasses.fields(cfg):
        value, annotation = getattr(cfg, f.name), hints.get(f.name, Any)
        problem = mismatch(value, annotation)
        if problem:
            raise ConfigError(f"{getattr(cfg, 'kind', type(cfg).__name__)}.{f.name} must be {problem}, got {shown(value)} ({type(value).__name__})")
        kept = plain(value, annotation)
        if kept is not value:
            object.__setattr__(cfg, f.name, kept)


def _encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return config_to_dict(value)
    if isinstance(value, tuple | list):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    return value


def first_difference(a: Any, b: Any, where: str = "") -> str | None:
    """The first field where ``a`` (recorded, "there") and ``b`` (asked for, "here") differ, by dotted path; ``None``: equal.

    Examples:
        >>> first_difference({"train": {"lr": 0.01, "steps": 5}}, {"train": {"lr": 0.02, "steps": 5}})
        'train.lr is 0.01 there, 0.02 here'
    """
    if isinstance(a, dict) and isinstance(b, dict):
        return next(filter(None, (first_difference(a.get(k), b.get(k), f"{where}.{k}" if where else str(k)) for k in [*a, *(k for k in b if k not in a)])), None)
    return None if a == b else f"{where or 'value'} is {a!r} there, {b!r} here"


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """A JSON-ready dict with a ``kind`` key naming the config class.

    Examples:
        >>> config_to_dict(ScheduleConfig(n_log=3))
        {'kind': 'schedule', 'n_log': 3, 'every': 0, 'track_every': 0, 'track_resolution': 0.0, 'keep_optimizer': True}
    """
    return {"kind": type(cfg).kind, **{f.name: _encode(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}}


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and "kind" in value:
        return config_from_dict(value)
    return tuple(_decode(v) for v in value) if isinstance(value, list) else value


def config_from_dict(data: dict[str, Any]) -> Any:
    """Rebuild a config written by :func:`config_to_dict` (fields it leaves out take their defaults; a
    field without one, or a field the class lacks, is a :class:`ConfigError` naming it).

    Examples:
        >>> config_from_dict({"kind": "schedule", "n_log": 3})
        ScheduleConfig(n_log=3, every=0, track_every=0, track_resolution=0.0, keep_optimizer=True)
    """
    if not isinstance(data, dict) or "kind" not in data:
        raise ConfigError(f"not a config dict (no 'kind'): {data!r}")
    if not isinstance(data["kind"], str):
        raise ConfigError(f"a config's 'kind' names its class, got {data['kind']!r:.80}")
    try:
        cls = CONFIG_CLASSES.get(data["kind"])
    except KeyError as e:
        raise ConfigError(str(e.args[0])) from None
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(data) - set(names) - {"kind"}
    if unknown:
        raise ConfigError(f"{data['kind']}: unknown fields {sorted(unknown)}")
    missing = [n for n, f in names.items() if n not in data and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ConfigError(f"{data['kind']}: missing fields {missing} (they have no default)")
    kwargs = {k: _decode(v) for k, v in data.items() if k != "kind"}
    return cls(**kwargs)


def require(condition: bool, message: str) -> None:
    """Raise :class:`ConfigError` with ``message`` unless ``condition``.

    Examples:
        >>> require(0.1 > 0, "train.lr must be positive")
        >>> require(-0.1 > 0, "train.lr must be positive")
        Traceback (most recent call last):
        ...
        bridge.config.ConfigError: train.lr must be positive
    """
    if not condition:
        raise ConfigError(message)


@config_class("schedule")
@dataclass(frozen=True)
class ScheduleConfig:
    """Checkpoint and tracking schedule: log-spaced early, regular late.

    Args:
        n_log: number of log-spaced checkpoint steps between 1 and ``steps``.
        every: also checkpoint every ``every`` steps (0: never).
        track_every: run online trackers every ``track_every`` steps, plus at
            every checkpoint (0: only at checkpoints).
        track_resolution: also run them on a grid whose spacing is at most this
            fraction of the step: every step up to ``1/track_resolution``, then every
            ``⌊track_resolution · t⌋``-th step, and a step more wherever that would leave a
            wider gap (0: no such grid). A time read off the
            tracked curves is then resolved to this relative precision with far fewer
            tracked steps than ``track_every=1`` (about ``(1 + ln(r·steps))/r``).
        keep_optimizer: a finished run keeps the optimizer state of its last checkpoints, to be
            extended from (``False``: it is kept while the run trains, for resuming, and deleted once
            the run is complete, which then cannot be extended; under Adam the state is twice the
            weights, so this keeps a third of a wide run's final bytes).

    Examples:
        >>> from bridge.training.schedule import checkpoint_steps
        >>> checkpoint_steps(1000, ScheduleConfig(n_log=4, every=250))
        [0, 1, 10, 100, 250, 500, 750, 1000]
    """

    n_log: int = 30
    every: int = 0
    track_every: int = 0
    track_resolution: float = 0.0
    keep_optimizer: bool = True

    def __post_init__(self) -> None:
        require(self.n_log >= 0, f"schedule.n_log must be >= 0, got {self.n_log}")
        require(self.every >= 0, f"schedule.every must be >= 0, got {self.every}")
        require(self.track_every >= 0, f"schedule.track_every must be >= 0, got {self.track_every}")
        require(0 <= self.track_resolution < 1, f"schedule.track_resolution must be in [0, 1), got {self.track_resolution}")


OPTIMIZERS = ("gd", "sgd", "adam", "adamw")
DTYPES = ("float32", "float64")
DECAYS = ("none", "linear", "cosine")


@config_class("train")
@dataclass(frozen=True)
class TrainConfig:
    """How to train.

    Args:
        optimizer: ``"gd"`` (full batch), ``"sgd"`` (minibatch), ``"adam"``, ``"adamw"``.
        lr: learning rate (> 0).
        steps: number of optimizer steps (> 0).
        batch_size: minibatch size; ``None`` means full batch.
        weight_decay: decoupled for AdamW, L2 for the others. A model's per-layer groups (μP)
            divide it by their learning-rate factor, keeping ``lr × weight_decay`` fixed.
        momentum: SGD/GD momentum.
        betas: Adam betas.
        schedule: checkpoint and tracking schedule.
        threads: torch CPU threads during training (CPU presets use 1).
        dtype: floating-point type of the weights and of the task's
            floating-point data during training, stored in the checkpoints:
            ``"float32"`` or ``"float64"`` (for comparisons with theory where
            float32 rounding shifts slow dynamics). Integer targets stay integers.
        warmup: steps of linear learning-rate warm-up: step ``t < warmup`` uses
            ``lr · (t + 1) / warmup`` (every parameter group scaled alike).
        clip_grad_norm: clip the gradient's global norm to this before each step
            (``torch.nn.utils.clip_grad_norm_``; stacked seeds clip each seed's own); ``None``: no clipping.
        decay: learning-rate decay after the warm-up, to zero at the last step: ``"none"``,
            ``"linear"`` or ``"cosine"``. A run with a decay cannot be extended to more steps
            (its schedule depends on the total).

    Examples:
        >>> TrainConfig(optimizer="sgd", lr=0.1, steps=500, batch_size=32).batch_size
        32
        >>> TrainConfig(optimizer="gd", batch_size=32)
        Traceback (most recent call last):
        ...
        bridge.config.ConfigError: train.optimizer 'gd' is full batch: leave batch_size as None
    """

    optimizer: str = "gd"
    lr: float = 0.01
    steps: int = 1000
    batch_size: int | None = None
    weight_decay: float = 0.0
    momentum: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    threads: int = 1
    dtype: str = "float32"
    warmup: int = 0
    clip_grad_norm: float | None = None
    decay: str = "none"

    def __post_init__(self) -> None:
        require(self.dtype in DTYPES, f"train.dtype must be one of {DTYPES}, got {self.dtype!r}")
        require(self.optimizer in OPTIMIZERS, f"train.optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        require(math.isfinite(self.lr) and self.lr > 0, f"train.lr must be a positive number, got {self.lr}")
        require(isinstance(self.steps, int) and self.steps > 0, f"train.steps must be a positive integer, got {self.steps}")
        require(self.batch_size is None or self.batch_size > 0, f"train.batch_size must be positive or None, got {self.batch_size}")
        require(self.weight_decay >= 0, f"train.weight_decay must be >= 0, got {self.weight_decay}")
        require(0 <= self.momentum < 1, f"train.momentum must be in [0, 1), got {self.momentum}")
        require(len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas), f"train.betas must be two numbers in [0, 1), got {self.betas}")
        require(self.threads >= 1, f"train.threads must be >= 1, got {self.threads}")
        require(not (self.optimizer == "gd" and self.batch_size is not None), "train.optimizer 'gd' is full batch: leave batch_size as None")
        require(isinstance(self.warmup, int) and self.warmup >= 0, f"train.warmup must be a non-negative integer of steps, got {self.warmup}")
        require(self.decay in DECAYS, f"train.decay must be one of {DECAYS}, got {self.decay!r}")
        require(self.clip_grad_norm is None or (math.isfinite(self.clip_grad_norm) and self.clip_grad_norm > 0), f"train.clip_grad_norm must be a positive number or None, got {self.clip_grad_norm}")
        if isinstance(self.betas, list):
            object.__setattr__(self, "betas", tuple(self.betas))

    def departures_from_gradient_descent(self) -> list[str]:
        """The settings that make this training other than full-batch gradient descent at a constant step.

        Theories of gradient descent or gradient flow (Saxe's mode dynamics, alternating
        gradient flows, the 2/η stability threshold, the linearised kernel dynamics) assume
        it: momentum, weight decay, a warm-up, a decay or clipping each change the dynamics
        they predict. Empty when there is none.

        Examples:
            >>> TrainConfig(lr=0.1).departures_from_gradient_descent()
            []
            >>> TrainConfig(lr=0.1, momentum=0.9, warmup=10, clip_grad_norm=1.0).departures_from_gradient_descent()
            ['momentum=0.9', 'warmup=10', 'clip_grad_norm=1.0']
        """
        defaults = {"optimizer": "gd", "momentum": 0.0, "weight_decay": 0.0, "warmup": 0, "decay": "none", "clip_grad_norm": None}
        return [f"{key}={getattr(self, key)}" for key, default in defaults.items() if getattr(self, key) != default]

    def require_gradient_descent(self, who: str) -> None:
        """Raise :class:`ConfigError` naming every departure from full-batch gradient descent at a constant step.

        ``who`` says what assumes it (``"deep-linear (Saxe's mode dynamics)"``).

        Examples:
            >>> TrainConfig(optimizer="adam").require_gradient_descent("deep-linear")
            Traceback (most recent call last):
            ...
            bridge.config.ConfigError: deep-linear assumes full-batch gradient descent at a constant step (train.optimizer 'gd', no momentum, weight decay, warm-up, decay or clipping), got optimizer=adam
        """
        departures = self.departures_from_gradient_descent()
        require(not departures, f"{who} assumes full-batch gradient descent at a constant step (train.optimizer 'gd', no momentum, weight decay, warm-up, decay or clipping), got {', '.join(departures)}")


def _is_part(value: Any, builders: Registry, other: Registry) -> bool:
    """Whether ``value`` may be a run's task (``builders``: the task builders) or model config: an instance (a config
    class has a kind too) of a kind ``builders`` builds. A user's config of a kind nothing builds in this process is
    kept (a run trained with a model whose module is not imported reads; building it names the missing builder), not
    a config of a kind the ``other`` registry builds nor one of the library's own (a :class:`TrainConfig`)."""
    kind = getattr(value, "kind", None) if dataclasses.is_dataclass(value) and not isinstance(value, type) else None
    if not isinstance(kind, str):
        return False
    if kind in builders:
        return True
    return kind not in other and type(value).__module__.partition(".")[0] != "bridge"


@config_class("run")
@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a training run: task, model, training, seed.

    Args:
        task: a task config instance of a kind a task builder is registered under (e.g. :class:`bridge.tasks.HierarchyConfig`).
        model: a model config instance of a kind a model builder is registered under (e.g. :class:`bridge.models.DeepLinearConfig`).
            A task's, training's or other concern's config, or a config class, is refused naming the field; a user's
            config whose builder's module is not imported is kept, so a run trained with it still reads.
        train: a :class:`TrainConfig`.
        seed: seeds data generation, initialisation and batch order.
        name: free-form label (the case study's name, for instance).

    Examples:
        >>> from bridge.models import DeepLinearConfig
        >>> from bridge.tasks import LinearTeacherConfig
        >>> cfg = RunConfig(LinearTeacherConfig((2.0, 1.0), d_in=3, d_out=3), DeepLinearConfig(3, 8, 3), TrainConfig(steps=10), seed=1)
        >>> config_from_dict(config_to_dict(cfg)) == cfg, cfg.model.kind, cfg.task.kind
        (True, 'deep_linear', 'linear_teacher')
    """

    task: Any
    model: Any
    train: TrainConfig
    seed: int = 0
    name: str = ""

    def __post_init__(self) -> None:
        require(isinstance(self.seed, int) and self.seed >= 0, f"seed must be a non-negative integer, got {self.seed!r}")
        from bridge.models.base import MODELS  # imported here: the registries import torch, this module does not
        from bridge.tasks.base import TASKS

        for part, builders, other in (("task", TASKS, MODELS), ("model", MODELS, TASKS)):
            value = getattr(self, part)
            require(_is_part(value, builders, other), f"run.{part} must be a {part} config instance (of a kind a {part} builder is registered under), got {shown(value)} ({type(value).__name__})")
        require(isinstance(self.train, TrainConfig), f"run.train must be a TrainConfig, got {shown(self.train)} ({type(self.train).__name__})")
