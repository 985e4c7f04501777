"""Training loop: batch order from the seed, online trackers, checkpoints, resume.

Examples:
    >>> from bridge.config import RunConfig, TrainConfig
    >>> from bridge.models import DeepLinearConfig
    >>> from bridge.tasks import LinearTeacherConfig
    >>> cfg = RunConfig(LinearTeacherConfig((2.0, 1.0), d_in=4, d_out=4),
    ...                 DeepLinearConfig(4, 16, 4, init_std=0.01), TrainConfig(lr=0.1, steps=50))
    >>> run = train(cfg, tmp / "run", progress=False)   # doctest: +SKIP
    >>> run.status                                      # doctest: +SKIP
    'complete'
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from tqdm import tqdm

from bridge.config import ConfigError, RunConfig, config_from_dict, config_to_dict, first_difference
from bridge.models import build_model, move_to
from bridge.progress import progress_bar
from bridge.runs.errors import Diverged
from bridge.runs.run import Run
from bridge.seeding import derive_seed, generator
from bridge.tasks import Split, TaskData, make_task
from bridge.trackers.base import Tracker, check_trackers
from bridge.trackers.loss import LossTracker
from bridge.training.optim import before_step, make_optimizer
from bridge.training.undo import refusable
from bridge.training.writer import RunWriter, holds_files, resumed_record

DEFAULT_LOSS_EXAMPLES = 4096
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


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Set torch's CPU thread count inside the block and restore it after.

    Examples:
        >>> before = torch.get_num_threads()
        >>> with torch_threads(1):
        ...     torch.get_num_threads()
        1
        >>> torch.get_num_threads() == before
        True
    """
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


@lru_cache(maxsize=32)  # the current and next epoch of up to 16 seeds trained together
def _epoch_order(n: int, seed: int, epoch: int) -> Tensor:
    return torch.randperm(n, generator=generator(derive_seed(seed, "epoch", epoch)))


def batch_indices(n: int, batch_size: int, step: int, seed: int) -> Tensor:
    """Indices of the minibatch used at ``step``: consecutive slices of per-epoch permutations.

    A pure function of its arguments, so a resumed run sees the same batches. A ``batch_size``
    above ``n`` takes all ``n`` examples at every step (in a new order each epoch).

    Raises:
        ValueError: ``n`` or ``batch_size`` is not positive, or ``step`` is negative.

    Examples:
        >>> batch_indices(10, 4, 0, seed=0).tolist() == batch_indices(10, 4, 0, seed=0).tolist()
        True
    """
    if n < 1 or batch_size < 1 or step < 0:
        raise ValueError(f"batch_indices needs n >= 1, batch_size >= 1 and step >= 0, got n={n}, batch_size={batch_size}, step={step}")
    batch_size = min(batch_size, n)
    per_epoch = n // batch_size
    epoch, slot = divmod(step, per_epoch)
    return _epoch_order(n, seed, epoch)[slot * batch_size : (slot + 1) * batch_size]


def in_dtype(data: TaskData, dtype: torch.dtype) -> TaskData:
    """``data`` with its floating-point inputs and targets in ``dtype`` (integer tensors, ``info`` and tensors already in ``dtype`` as they are).

    Examples:
        >>> from bridge.tasks import LinearTeacherConfig
        >>> in_dtype(make_task(LinearTeacherConfig((2.0,), d_in=2, d_out=2), 0), torch.float64).train.x.dtype
        torch.float64
    """

    def cast(t: Tensor) -> Tensor:
        return t.to(dtype) if t.is_floating_point() else t

    split = lambda s: None if s is None else Split(cast(s.x), cast(s.y))  # noqa: E731
    return TaskData(split(data.train), split(data.test), data.loss, data.info)


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
        bridge.config.ConfigError: model 'deep_linear' does not fit task 'linear_teacher': ...
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
    n = min(len(data.train), 2)
    try:
        with torch.no_grad():
            loss = data.loss_fn(model(data.train.x[:n]), data.train.y[:n])
    except (RuntimeError, IndexError, ValueError) as e:
        raise ConfigError(f"model {config.model.kind!r} does not fit task {config.task.kind!r}: {e}") from None
    if loss.ndim != 0:
        raise ConfigError(f"loss of task {config.task.kind!r} is not a scalar (shape {tuple(loss.shape)})")
    if config.train.batch_size is not None and config.train.batch_size > len(data.train):
        raise ConfigError(f"train.batch_size {config.train.batch_size} exceeds the {len(data.train)} training examples")
    return data


def train(
    config: RunConfig,
    out: str | Path,
    *,
    trackers: Sequence[Tracker] = (),
    device: str = "auto",
    progress: bool | None = None,
    resume: bool = False,
    loggers: Sequence[Any] = (),
) -> Run:
    """Train ``config`` into the run directory ``out`` and return the :class:`~bridge.runs.run.Run`.

    Args:
        config: task, model, training and seed.
        out: run directory; must not exist (or be empty) unless ``resume``.
        trackers: online trackers, called at every tracked step (a loss tracker
            on at most 4096 examples per split is added unless one named
            ``"loss"`` is given). Batched trackers capture at every tracked step
            and are measured together at the next checkpoint, whose rows are
            written with it: a killed run resumes from its last checkpoint on
            record in ``run.json`` and loses none of its rows.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        progress: show a progress bar; ``None`` shows it only on a terminal.
        resume: continue an existing run from its last good checkpoint. A run
            resumed with more ``train.steps`` than it was trained for (and no other
            change) is extended: its checkpoints and rows so far are kept and it
            trains on to the new total, taking the batches a run trained to that
            total in one go takes (the schedule past the old total is the new one's).
        loggers: experiment loggers that receive every metrics row as it is written:
            ``"tensorboard"``, ``"wandb"`` (offline) or logger objects
            (:mod:`bridge.training.loggers`).

    Raises:
        ConfigError: invalid config or an unknown or uninstalled logger, before any work;
            or a resumed run whose config differs in more than a larger ``train.steps``.
        TypeError: ``loggers`` is not a list of logger names and objects with ``open``, ``log`` and ``close``.
        FileExistsError: ``out`` holds files and ``resume`` is false.
        RunError: ``out`` is a file, or is resumed but holds no ``run.json``.

    Examples:
        >>> import tempfile; from bridge.config import TrainConfig; from bridge.models import DeepLinearConfig; from bridge.tasks import LinearTeacherConfig
        >>> cfg = RunConfig(LinearTeacherConfig((2.0,), d_in=2, d_out=2), DeepLinearConfig(2, 4, 2), TrainConfig(lr=0.1, steps=3))
        >>> run = train(cfg, Path(tempfile.mkdtemp()) / "run", device="cpu", progress=False); run.status, run.steps
        ('complete', [0, 1, 2, 3])
    """
    from bridge.training.loggers import resolve_loggers

    out = Path(out)
    loggers = resolve_loggers(loggers)
    data = validate(config)
    dev = resolve_device(device)
    existing = holds_files(out)
    if existing and not resume:
        raise FileExistsError(f"run directory {out} already exists; choose another --out or resume it")
    extends = extension(resumed_record(out).get("config"), config, out) if resume and existing else None
    trackers = with_loss_tracker(trackers)

    with torch_threads(config.train.threads):
        return _train(config, out, data.to(dev), trackers, dev, progress, resume and existing, loggers, extends)


def extension(recorded: Any, config: RunConfig, out: Path) -> int | None:
    """The steps a run recorded with config ``recorded`` was trained for, when ``config`` extends it; ``None`` when they are equal.

    Raises:
        ConfigError: the configs differ in more than ``train.steps`` (and ``train.threads``: a run resumes on
            another number of CPU threads), or ``config`` has fewer steps.

    Examples:
        >>> from bridge.config import TrainConfig, config_to_dict; from bridge.models import DeepLinearConfig; from bridge.tasks import LinearTeacherConfig
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
    if isinstance(train_recorded, dict):
        recorded = {**recorded, "train": {**train_recorded, "threads": config.train.threads}}
    if recorded == wanted:
        return None
    old = train_recorded.get("steps") if isinstance(train_recorded, dict) else None
    if differs := first_difference({**recorded, "train": {**recorded["train"], "steps": config.train.steps}} if isinstance(old, int) else recorded, wanted):
        raise ConfigError(f"cannot resume {out}: its run.json holds a different config ({differs}; only train.steps may change, to extend the run)")
    if config.train.steps < old:
        raise ConfigError(f"cannot resume {out} for {config.train.steps} steps: it was set to train for {old}; a run can be extended, not shortened (to finish it, resume with train.steps={old}: --steps {old} at the command line)")
    if config.train.decay != "none":
        raise ConfigError(f"cannot extend {out}: its learning rate decays ({config.train.decay}) to zero at its last step, so its schedule depends on the total")
    return old


def with_loss_tracker(trackers: Sequence[Tracker]) -> list[Tracker]:
    """``trackers`` with a loss tracker (on at most ``DEFAULT_LOSS_EXAMPLES`` per split) first, unless one is named ``"loss"``.

    Examples:
        >>> [t.name for t in with_loss_tracker([])], len(with_loss_tracker([LossTracker()]))
        (['loss'], 1)
    """
    trackers = check_trackers(trackers)
    if not any(getattr(t, "name", None) == "loss" for t in trackers):
        trackers.insert(0, LossTracker(max_examples=DEFAULT_LOSS_EXAMPLES))
    return trackers


def step_bar(config: RunConfig, start: int, progress: bool | None, desc: str | None = None) -> tqdm:
    """A progress bar over the remaining training steps, shown on a terminal (``progress=None``) or as asked.

    Examples:
        >>> from bridge.config import TrainConfig; from bridge.models import DeepLinearConfig; from bridge.tasks import LinearTeacherConfig
        >>> bar = step_bar(RunConfig(LinearTeacherConfig((2.0,), d_in=2, d_out=2), DeepLinearConfig(2, 4, 2), TrainConfig(steps=10)), 4, progress=False)
        >>> list(bar), bar.total  # resumed at step 4 of 10
        ([4, 5, 6, 7, 8, 9], 10)
    """
    return progress_bar(range(start, config.train.steps), desc or config.name or "train", progress, initial=start, total=config.train.steps)


def _train(config: RunConfig, out: Path, data: TaskData, trackers: list[Tracker], dev: torch.device, progress: bool | None, resume: bool, loggers: Sequence[Any] = (), extends: int | None = None) -> Run:
    tc = config.train
    model = move_to(build_for_task(config, data), dev)
    optimizer = make_optimizer(model, tc)
    base_lrs = [group["lr"] for group in optimizer.param_groups]  # before a resumed state sets a warm-up's lr
    writer = RunWriter(config, out, data, trackers, dev, loggers=loggers, extends=extends)
    ckpt_set, tracked_set = set(writer.checkpoints), set(writer.tracked)
    with refusable([writer], resume):  # a refused resume leaves the lock free and every file as it was
        start = writer.open(model, optimizer, resume)
    loss_fn, n = data.loss_fn, len(data.train)
    bar = step_bar(config, start, progress)
    try:
        if start == 0:  # inside: a tracker failing on its first call still fails the run and frees its lock
            writer.buffer.track(model, 0)
            writer.checkpoint(0, model, optimizer, 0.0)
        t0 = time.perf_counter()
        for step in bar:
            if tc.batch_size is None:
                x, y = data.train.x, data.train.y
            else:
                idx = batch_indices(n, tc.batch_size, step, config.seed).to(data.train.x.device)
                x, y = data.train.x[idx], data.train.y[idx]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            if not torch.isfinite(loss):
                raise Diverged(step, loss.item())
            loss.backward()
            if step % 100 == 0:
                bar.set_postfix(loss=f"{loss.item():.4g}", refresh=False)
            before_step(optimizer, tc, step, base_lrs)
            optimizer.step()
            s = step + 1
            if (s in tracked_set or s in ckpt_set) and not bool(torch.stack([torch.isfinite(p).all() for p in model.parameters()]).all()):  # one sync
                raise Diverged(s, float("nan"), weights=True)  # before a tracker or a checkpoint reads them
            if s in tracked_set:
                writer.buffer.track(model, s)
            if s in ckpt_set:
                writer.checkpoint(s, model, optimizer, time.perf_counter() - t0)
                t0 = time.perf_counter()
    except BaseException as e:
        writer.fail(e)
        raise
    finally:
        bar.close()
    return writer.complete()


def with_train(config: RunConfig, **changes: Any) -> RunConfig:
    """A copy of ``config`` with training fields replaced (configs are never mutated).

    Examples:
        >>> from bridge.config import TrainConfig; from bridge.models import DeepLinearConfig; from bridge.tasks import LinearTeacherConfig
        >>> cfg = RunConfig(LinearTeacherConfig((2.0,), d_in=2, d_out=2), DeepLinearConfig(2, 4, 2), TrainConfig(steps=10))
        >>> with_train(cfg, steps=50).train.steps, cfg.train.steps
        (50, 10)
    """
    return dataclasses.replace(config, train=dataclasses.replace(config.train, **changes))
