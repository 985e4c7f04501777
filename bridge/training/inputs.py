"""What training starts from, built and checked before its first step: the device and the CPU threads asked
for, the task data and the model in the run's dtype (the model given its task-dependent initialisation), the
check that task and model fit together (:func:`validate`), and the check that a resumed run's config is the one
it recorded, or extends it (:func:`extension`), and the fields of one's own a run's ``run.json`` carries (:func:`check_info`). Every check raises a ``ConfigError`` naming what is wrong.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from bridge.config import ConfigError, RunConfig, config_from_dict, config_to_dict, first_difference
from bridge.models import build_model, move_to
from bridge.tasks import Split, TaskData, make_task

DEVICES = ("auto", "cpu", "cuda")


def check_device(device: str) -> str:
    """``device`` if it names one of :data:`DEVICES` (whether this machine has it or not), else a ``ConfigError``.

    Examples:
        >>> check_device("cuda")
        'cuda'
    """
    if device not in DEVICES:
        raise ConfigError(f"device must be auto, cpu or cuda, got {device!r}")
    return device


def check_threads(threads: int, name: str = "threads") -> int:
    """``threads`` if this machine has that many CPUs, else a ``ConfigError`` naming the setting ``name``.

    Examples:
        >>> check_threads(1)
        1
    """
    if threads > (os.cpu_count() or 1):
        raise ConfigError(f"{name}={threads} exceeds the {os.cpu_count()} CPUs of this machine")
    return threads


def resolve_device(device: str) -> torch.device:
    """``"auto"`` → CUDA when available else CPU; ``"cpu"``; ``"cuda"`` (error if absent).

    Examples:
        >>> resolve_device("cpu"), resolve_device("auto").type in ("cpu", "cuda")
        (device(type='cpu'), True)
    """
    if check_device(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' requested but CUDA is not available")
    return torch.device(device)


def in_dtype(data: TaskData, dtype: torch.dtype) -> TaskData:
    """``data`` with its floating-point inputs and targets in ``dtype`` (integer tensors, ``info`` and tensors already in ``dtype`` as they are).

    Examples:
        >>> from bridge.tasks import LinearTeacherConfig
        >>> in_dtype(make_task(LinearTeacherConfig((2.0,), d_in=2, d_out=2), 0), torch.float64).train.x.dtype
        torch.float64
    """

    def cast(t: Tensor) -> Tensor:
        return t.to(dtype) if t.is_floating_point() else t

    def split(s: Split) -> Split:
        return Split(cast(s.x), cast(s.y))

    return TaskData(split(data.train), None if data.test is None else split(data.test), data.loss, data.info)


def in_model_dtype(model: nn.Module, dtype: str) -> nn.Module:
    """``model`` with its floating-point parameters and buffers in ``dtype`` (``"float32"``: as built, untouched).

    Examples:
        >>> in_model_dtype(nn.Linear(2, 1), "float64").weight.dtype
        torch.float64
    """
    return model if dtype == "float32" else move_to(model, getattr(torch, dtype))


def build_for_task(config: RunConfig, data: TaskData) -> nn.Module:
    """The model of ``config`` as training starts it: built from ``(config.model, seed)``, in
    ``config.train.dtype``, then given the task-dependent initialisation the model asks for
    (its ``init_from_task(data.info)``, e.g. a balanced deep linear start).

    Raises:
        ConfigError: the model's initialisation needs something the task does not provide.

    Examples:
        >>> from bridge.config import TrainConfig; from bridge.models import DeepLinearConfig; from bridge.tasks import LinearTeacherConfig
        >>> cfg = RunConfig(LinearTeacherConfig((2.0, 1.0), d_in=3, d_out=3), DeepLinearConfig(3, 8, 3, init="balanced", init_strength=0.01), TrainConfig(dtype="float64"))
        >>> model = build_for_task(cfg, validate(cfg))  # started on the teacher's modes, balanced
        >>> model.weights[0].dtype, torch.linalg.matrix_rank(model.weights[1] @ model.weights[0]).item()
        (torch.float64, 2)
    """
    model = in_model_dtype(build_model(config.model, config.seed), config.train.dtype)
    init = getattr(model, "init_from_task", None)
    if callable(init):
        init(data.info)
    return model


def validate(config: RunConfig) -> TaskData:
    """Check that the task builds, the model builds and one forward+loss works; return the data
    (floating-point inputs and targets in ``config.train.dtype``).

    Raises:
        ConfigError: naming what is wrong, before any training.

    Examples:
        >>> from bridge.config import TrainConfig; from bridge.models import DeepLinearConfig; from bridge.tasks import LinearTeacherConfig
        >>> validate(RunConfig(LinearTeacherConfig((2.0,), d_in=2, d_out=2), DeepLinearConfig(3, 4, 2), TrainConfig()))
        Traceback (most recent call last):
        ...
        bridge.config.ConfigError: model 'deep_linear' (d_in=3, d_hidden=4, d_out=2) does not fit task 'linear_teacher' (train x (2, 2), y (2, 2); test x (256, 2), y (256, 2)): mat1 and mat2 shapes cannot be multiplied (2x2 and 3x4)
    """
    if not isinstance(config, RunConfig):
        raise ConfigError(f"train needs a RunConfig, got {type(config).__name__}")
    check_threads(config.train.threads, "train.threads")
    try:
        data = in_dtype(make_task(config.task, config.seed), getattr(torch, config.train.dtype))
        model = build_for_task(config, data)
    except KeyError as e:
        raise ConfigError(str(e.args[0])) from None
    except (MemoryError, RuntimeError) as e:  # a size too large for this machine
        if not isinstance(e, MemoryError) and "allocate" not in str(e) and "out of memory" not in str(e):
            raise
        raise ConfigError(f"the task and model of this config do not fit in memory ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else 'no detail'})") from None
    check_finite(data, config)
    n = min(len(data.train), 2)
    try:
        with torch.no_grad():
            loss = data.loss_fn(model(data.train.x[:n]), data.train.y[:n])
    except (RuntimeError, IndexError, ValueError) as e:
        shapes = ", ".join(f"{k}={v!r:.40}" for k, v in vars(config.model).items() if k.startswith(("d_", "n_ctx", "width")))  # the sizes that meet the data
        raise ConfigError(f"model {config.model.kind!r} ({shapes}) does not fit task {config.task.kind!r} ({_sizes(data)}): {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    if loss.ndim != 0:
        raise ConfigError(f"loss of task {config.task.kind!r} is not a scalar (shape {tuple(loss.shape)})")
    if not bool(torch.isfinite(loss)):  # before any step: no learning rate can cause it
        raise ConfigError(
            f"the loss of model {config.model.kind!r} on task {config.task.kind!r} drawn by seed {config.seed} is {loss.item()} "
            f"on its first {n} training examples before any step: the targets or the model's outputs overflow {config.train.dtype} "
            f"({_sizes(data)}; task settings {_settings(config.task)})"
        )
    if config.train.batch_size is not None and config.train.batch_size > len(data.train):
        raise ConfigError(f"train.batch_size {config.train.batch_size} exceeds the {len(data.train)} training examples")
    return data


def _sizes(data: TaskData) -> str:
    test = "no test split" if data.test is None else f"test x {tuple(data.test.x.shape)}, y {tuple(data.test.y.shape)}"
    return f"train x {tuple(data.train.x.shape)}, y {tuple(data.train.y.shape)}; {test}"


def _settings(task: Any) -> str:
    return ", ".join(f"{k}={v!r:.40}" for k, v in config_to_dict(task).items() if k != "kind")


def check_finite(data: TaskData, config: RunConfig) -> None:
    """Raise a ``ConfigError`` naming the task, the seed and the sizes when an input or target of ``data`` (the
    task of ``config`` in its training dtype) is infinite or NaN: no training can fit it, and its loss would be
    reported as a divergence at step 0.

    Examples:
        >>> from bridge.config import TrainConfig; from bridge.models import MLPConfig; from bridge.tasks import HierarchyConfig
        >>> cfg = RunConfig(HierarchyConfig(depth=1, feature_scale=1e300), MLPConfig(2, 3), TrainConfig())
        >>> check_finite(in_dtype(make_task(cfg.task, 0), torch.float32), cfg)
        Traceback (most recent call last):
        ...
        bridge.config.ConfigError: task 'hierarchy' drawn by seed 0 gives non-finite train targets y in float32: 4 of 6 entries are inf or NaN (train x (2, 2), y (2, 3); no test split; task settings depth=1, branching=2, feature_scale=1e+300, shuffle_labels=False)
    """
    for name, split in (("train", data.train), ("test", data.test)):
        for part, values in (() if split is None else (("inputs x", split.x), ("targets y", split.y))):
            if isinstance(values, Tensor) and values.is_floating_point() and not bool(torch.isfinite(values).all()):  # compact rows decode to 0s and 1s
                bad = int((~torch.isfinite(values)).sum())
                raise ConfigError(
                    f"task {config.task.kind!r} drawn by seed {config.seed} gives non-finite {name} {part} in {config.train.dtype}: "
                    f"{bad} of {values.numel()} entries are inf or NaN ({_sizes(data)}; task settings {_settings(config.task)})"
                )


def extension(recorded: Any, config: RunConfig, out: Path) -> int | None:
    """The steps a run recorded with config ``recorded`` was trained for, when ``config`` extends it; ``None`` when they are equal.

    Raises:
        ConfigError: the configs differ in more than ``train.steps`` (and ``train.threads`` and
            ``train.schedule.keep_optimizer``: a run resumes on another number of CPU threads, and to keep
            its optimizer state or not), or ``config`` has fewer steps.

    Examples:
        >>> from bridge.config import TrainConfig, config_to_dict; from bridge.models import DeepLinearConfig; from bridge.tasks import LinearTeacherConfig; from bridge.training.loop import with_train
        >>> cfg = RunConfig(LinearTeacherConfig((2.0,), d_in=2, d_out=2), DeepLinearConfig(2, 4, 2), TrainConfig(steps=100))
        >>> extension(config_to_dict(cfg), with_train(cfg, steps=300), Path("run")), extension(config_to_dict(cfg), cfg, Path("run"))
        (100, None)
        >>> extension(config_to_dict(cfg), with_train(cfg, lr=0.5), Path("run"))
        Traceback (most recent call last):
        ...
        bridge.config.ConfigError: cannot resume run: its run.json holds a different config (train.lr is 0.01 there, 0.5 here; only train.steps may change, to extend the run)
    """
    if not isinstance(recorded, dict):
        raise ConfigError(f"cannot resume {out}: its run.json holds no config (a JSON object), got {recorded!r:.80}")
    wanted = config_to_dict(config)
    try:  # fields added to the configs since the run was written take their defaults
        recorded = config_to_dict(config_from_dict(recorded))
    except (ConfigError, TypeError, ValueError):
        pass  # compared as written: any difference refuses
    train_recorded = recorded.get("train") if isinstance(recorded, dict) else None
    if isinstance(train_recorded, dict):  # how many threads train it, and whether it keeps its optimizer state once complete, are this config's
        schedule = train_recorded.get("schedule")
        kept = {"schedule": {**schedule, "keep_optimizer": config.train.schedule.keep_optimizer}} if isinstance(schedule, dict) else {}
        recorded = {**recorded, "train": {**train_recorded, "threads": config.train.threads, **kept}}
    if recorded == wanted:
        return None
    old = train_recorded.get("steps") if isinstance(train_recorded, dict) else None
    if differs := first_difference({**recorded, "train": {**recorded["train"], "steps": config.train.steps}} if isinstance(old, int) else recorded, wanted):
        raise ConfigError(f"cannot resume {out}: its run.json holds a different config ({differs}; only train.steps may change, to extend the run)")
    if not isinstance(old, int):  # equal field by field, yet not equal: a field null there and absent here, or train.steps not an integer
        raise ConfigError(f"cannot resume {out}: its run.json holds a config that differs from this one (train.steps there is {old!r}, not an integer step count)")
    if config.train.steps < old:
        raise ConfigError(f"cannot resume {out} for {config.train.steps} steps: it was set to train for {old}; a run can be extended, not shortened (to finish it, resume with train.steps={old}: --steps {old} at the command line)")
    if config.train.decay != "none":
        raise ConfigError(f"cannot extend {out}: its learning rate decays ({config.train.decay}) to zero at its last step, so its schedule depends on the total")
    return old


def stateless_finish(record: dict[str, Any], out: Path, extends: int | None) -> bool:
    """Whether ``out`` holds a complete run with no optimizer state on disk (its schedule kept none once it finished,
    or the files were deleted since). Resumed with its own config such a run has nothing to train and is read as it
    is: resuming it from its checkpoints would start over from step 0, deleting them and the rows offline analyses
    added.

    Raises:
        ConfigError: ``extends`` is not ``None`` (a longer run is asked for): such a run has no state to go on from.

    Examples:
        >>> import tempfile
        >>> stateless_finish({"status": "complete"}, Path(tempfile.mkdtemp()), None), stateless_finish({"status": "running"}, Path("run"), None)
        (True, False)
        >>> stateless_finish({"status": "complete"}, Path("run"), 300)
        Traceback (most recent call last):
        ...
        bridge.config.ConfigError: cannot extend run: it is complete and none of its checkpoints holds an optimizer state to go on from (its schedule kept none, schedule.keep_optimizer=False, or they were deleted); train the longer run in a new directory
    """
    if record.get("status") != "complete" or any((out / "checkpoints").glob("optim_*.safetensors")):
        return False
    if extends is not None:
        raise ConfigError(
            f"cannot extend {out}: it is complete and none of its checkpoints holds an optimizer state to go on from "
            "(its schedule kept none, schedule.keep_optimizer=False, or they were deleted); train the longer run in a new directory"
        )
    return True


# the fields of run.json that the writer keeps itself (or train_seeds and the analyses add): never taken from a caller's ``info``
WRITER_FIELDS = frozenset({"config", "seed", "versions", "device", "status", "schedule", "trackers", "tracker_versions", "tracker_versions_default", "last_step", "wall_time", "metrics_bytes", "metrics_columns", "metrics_headers", "files", "extended", "error", "sweep"})


def check_info(info: Any) -> dict[str, Any]:
    """``info`` (fields of one's own for ``run.json``) as a dict, if it is a mapping of names to JSON values that
    leaves the writer's own fields (:data:`WRITER_FIELDS`) alone; else a ``ConfigError`` naming the field.

    Examples:
        >>> check_info({"case_study": "deep-linear", "case_seed": 3}), check_info(None)
        ({'case_study': 'deep-linear', 'case_seed': 3}, {})
        >>> check_info({"status": "done"})
        Traceback (most recent call last):
        ...
        bridge.config.ConfigError: info field 'status' is one run.json's writer keeps (its own fields: config, device, ...); name it otherwise
    """
    import json
    from collections.abc import Mapping

    if info is None:
        return {}
    if not isinstance(info, Mapping):
        raise ConfigError(f"info must be a mapping of field names to JSON values, got {info!r:.80}")
    for key, value in info.items():
        if not isinstance(key, str) or not key:
            raise ConfigError(f"info field names must be non-empty strings, got {key!r}")
        if key in WRITER_FIELDS:
            raise ConfigError(f"info field {key!r} is one run.json's writer keeps (its own fields: {', '.join(sorted(WRITER_FIELDS))}); name it otherwise")
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"info field {key!r} must be a JSON value (strings, finite numbers, booleans, None, lists and objects of them), got {value!r:.80} ({e})") from None
    return dict(info)
