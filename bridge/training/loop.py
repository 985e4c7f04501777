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
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from tqdm import tqdm

from bridge.config import RunConfig
from bridge.models.base import move_to, weights_finite
from bridge.progress import progress_bar
from bridge.runs.errors import Diverged
from bridge.runs.run import Run
from bridge.runs.versions import refuse_mixed_versions
from bridge.seeding import derive_seed, generator
from bridge.tasks import TaskData
from bridge.tasks.rows import dense
from bridge.trackers.base import Tracker, check_trackers
from bridge.trackers.loss import LossTracker
from bridge.training.inputs import build_for_task, extension, resolve_device, stateless_finish, validate
from bridge.training.optim import before_step, make_optimizer, take_step
from bridge.training.randomness import global_rng_kept, seed_forward, step_generators
from bridge.training.undo import refusable
from bridge.training.writer import RunWriter, extension_starts, holds_files, resumed_record

DEFAULT_LOSS_EXAMPLES = 4096


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


def train(
    config: RunConfig,
    out: str | Path,
    *,
    trackers: Sequence[Tracker] = (),
    device: str = "auto",
    progress: bool | None = None,
    resume: bool = False,
    loggers: Sequence[Any] = (),
    info: Mapping[str, Any] | None = None,
) -> Run:
    """Train ``config`` into the run directory ``out`` and return the :class:`~bridge.runs.run.Run`.

    A model that draws random numbers in its forward pass (dropout) draws them from torch's global
    generators seeded from ``config.seed`` and the step (:mod:`bridge.training.randomness`): trained
    again, or killed and resumed, it reaches the same weights, and the caller's generators are as
    they were once ``train`` returns.

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
        info: fields of one's own for the run's ``run.json`` (names to JSON values, such as the
            case study, preset and seed a run belongs to), written with it when the run directory is
            created, so a run killed at any step records them; a resumed run's record takes them
            (replacing its fields of the same names). The writer's own fields (``config``,
            ``status``, ... :data:`~bridge.training.inputs.WRITER_FIELDS`) are refused.

    Raises:
        ConfigError: invalid config, ``info`` or an unknown or uninstalled logger, before any work;
            or a resumed run whose config differs in more than a larger ``train.steps``.
        TypeError: ``loggers`` is not a list of logger names and objects with ``open``, ``log`` and ``close``.
        FileExistsError: ``out`` holds files and ``resume`` is false.
        RunError: ``out`` is a file, or is resumed but holds no ``run.json``, or holds rows of one of ``trackers``
            of another definition version than this code's (:mod:`bridge.runs.versions`).

    Examples:
        >>> import tempfile; from bridge.config import TrainConfig; from bridge.models import DeepLinearConfig; from bridge.tasks import LinearTeacherConfig
        >>> cfg = RunConfig(LinearTeacherConfig((2.0,), d_in=2, d_out=2), DeepLinearConfig(2, 4, 2), TrainConfig(lr=0.1, steps=3))
        >>> run = train(cfg, Path(tempfile.mkdtemp()) / "run", device="cpu", progress=False); run.status, run.steps
        ('complete', [0, 1, 2, 3])
        >>> run = train(cfg, Path(tempfile.mkdtemp()) / "run", device="cpu", progress=False, info={"study": "toy", "draw": 2})
        >>> run.info["study"], run.info["draw"], run.info["seed"]  # beside the writer's own fields, from the start
        ('toy', 2, 0)
    """
    from bridge.training.inputs import check_info
    from bridge.training.loggers import resolve_loggers

    out = Path(out)
    info = check_info(info)
    loggers = resolve_loggers(loggers)
    dev = resolve_device(device)
    with global_rng_kept(dev):  # the forward passes that draw (validate's, training's) leave the caller's generators as they were
        data = validate(config)
        existing = holds_files(out)
        if existing and not resume:
            raise FileExistsError(f"run directory {out} already exists; choose another --out or resume it")
        record = resumed_record(out) if resume and existing else {}
        extends = extension(record.get("config"), config, out) if resume and existing else None
        trackers = with_loss_tracker(trackers)
        if resume and existing:  # before any work: rows of another definition are never appended to a tracker's rows
            refuse_mixed_versions(out, record, trackers, online=True)
            if stateless_finish(record, out, extends):
                return Run(out)

        with torch_threads(config.train.threads):
            return _train(config, out, data.to(dev), trackers, dev, progress, resume and existing, loggers, extends, extension_starts(record), info)


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


def _train(config: RunConfig, out: Path, data: TaskData, trackers: list[Tracker], dev: torch.device, progress: bool | None, resume: bool, loggers: Sequence[Any] = (), extends: int | None = None, trained_to: Sequence[int] = (), info: dict[str, Any] | None = None) -> Run:
    tc = config.train
    model = move_to(build_for_task(config, data), dev)
    optimizer = make_optimizer(model, tc)
    base_lrs = [group["lr"] for group in optimizer.param_groups]  # before a resumed state sets a warm-up's lr
    writer = RunWriter(config, out, data, trackers, dev, loggers=loggers, extends=extends, trained_to=trained_to, info=info)
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
        batch_size = tc.batch_size
        whole = None if batch_size is not None else (dense(data.train.x), data.train.y)  # compact rows decoded once
        generators = step_generators(dev)
        for step in bar:
            seed_forward(config.seed, step, generators)  # a forward pass that draws (dropout) draws the same at this step when resumed
            if batch_size is None:
                assert whole is not None  # set just above the loop when there is no batch size
                x, y = whole
            else:
                idx = batch_indices(n, batch_size, step, config.seed).to(data.train.x.device)
                x, y = data.train.x[idx], data.train.y[idx]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            if not torch.isfinite(loss):
                raise Diverged(step, loss.item())
            loss.backward()
            if step % 100 == 0:
                bar.set_postfix(loss=f"{loss.item():.4g}", refresh=False)
            before_step(optimizer, tc, step, base_lrs)
            take_step(optimizer, step)
            s = step + 1
            if (s in tracked_set or s in ckpt_set) and not weights_finite(model):  # one sync
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
