"""Many seeds of one configuration trained at once: parameters stacked, one vectorised step.

A toy model's step on a CPU is dominated by per-operation overhead, so ``K``
seeds stacked along a leading axis and stepped together with
:func:`torch.func.vmap` (or the model's own ``forward_stacked``, when it has one)
cost little more than one. Each seed still gets a
standard run directory, ``OUT/seed_S`` (see :func:`train_seeds` on folder names): loadable with :func:`bridge.load_run`,
analysable with :func:`bridge.analyze`, and resumable on its own with
:func:`bridge.train` (or all together with ``train_seeds(..., resume=True)``).
With ``forward_stacked``, losses that define a ``stacked`` form are reduced per seed
without vmap (:func:`bridge.losses.per_seed`), and trackers that define ``stacked`` (the loss
tracker) measure every seed with one forward per split.
Checkpoints and tracker rows are still written per seed, by a thread that writes
while the seeds train on, so the gain depends on how much of a run is writing
files (``benchmarks/bench_seeds.py`` and ``docs/performance.md``).

Seed ``S`` sees exactly what ``train(replace(config, seed=S))`` sees: the same
task data, initial weights and minibatch order, and an optimizer that acts on
each seed's slice independently (SGD, momentum, Adam and AdamW are
elementwise). Every model of the library works, toy transformers included: the
seed's slice is swapped into one model's parameter slots
(:class:`bridge.estimators.reparam.ParameterSlots`). Buffers the seeds share stay
the model's; those that differ between seeds (a lazy model's frozen initial copy) are
stacked and swapped in with the parameters. Results agree with one-by-one training to float
rounding (measured: identical weights for full-batch GD on a deep linear
network and for AdamW on a toy transformer, 3e-7 relative for Adam on an MLP;
the tests allow 1e-5).

Examples:
    >>> import pathlib, tempfile
    >>> from case_studies.deep_linear import PRESETS, run_config
    >>> runs = train_seeds(run_config(PRESETS["quick"], seed=0), range(2), pathlib.Path(tempfile.mkdtemp()) / "sweep", progress=False)
    >>> [run.path.name for run in runs]
    ['seed_0', 'seed_1']
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

import torch
from torch import Tensor, nn
from torch.func import vmap

from bridge.config import ConfigError, RunConfig
from bridge.estimators.reparam import ParameterSlots
from bridge.losses import per_seed
from bridge.models import move_to
from bridge.runs.errors import Diverged
from bridge.runs.file_queue import FileQueue
from bridge.runs.run import Run, RunError
from bridge.runs.storage import read_json
from bridge.runs.versions import refuse_mixed_versions
from bridge.sweep.grid import check_seeds
from bridge.tasks import TaskData
from bridge.tasks.rows import dense
from bridge.trackers.base import StackedTracker, Tracker
from bridge.training.inputs import build_for_task, extension, resolve_device, stateless_finish, validate
from bridge.training.loop import batch_indices, step_bar, torch_threads, with_loss_tracker
from bridge.training.optim import before_step, make_optimizer, optimizer_params, take_step
from bridge.training.randomness import global_rng_kept, refuse_random_forward
from bridge.training.stacking import (
    _check_buffers,
    _check_stackable,
    _laid_out_as_gradients,
    _seed_buffers,
    _seed_optimizer_state,
    _shared_stacked_trackers,
    _stack_optimizer_state,
)
from bridge.training.undo import refusable
from bridge.training.writer import RunWriter, extension_starts, holds_files, resumed_record


def train_seeds(
    config: RunConfig,
    seeds: Sequence[int],
    out: str | Path,
    *,
    trackers: Callable[..., Sequence[Tracker]] | None = None,
    device: str = "auto",
    progress: bool | None = None,
    resume: bool = False,
    folders: Sequence[str | Path] | None = None,
    loggers: Sequence[str] = (),
) -> list[Run]:
    """Train ``config`` once per seed, all seeds in one vectorised loop; return one :class:`Run` per seed.

    Args:
        config: task, model and training; its ``seed`` is replaced by each of ``seeds``.
        seeds: distinct seeds; seed ``S`` is written to ``out/seed_S`` (an underscore, unlike the
            ``seed-S`` folders of ``mechbridge run --seeds`` and the ``seed=S`` keys of sweeps, which
            pass ``folders``; existing outputs keep their names). Each folder is an ordinary run
            directory, read by :func:`bridge.load_run` whatever its name; resuming a parent that
            holds ``seed-S`` runs instead is refused, naming them.
        out: parent directory of the runs; none of them may exist unless ``resume``.
        trackers: a function returning fresh trackers, called once per seed, with the
            seed when it takes an argument (a loss tracker is added as in :func:`bridge.train`).
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        progress: show a progress bar; ``None`` shows it only on a terminal.
        resume: continue every seed from the last checkpoint all of them can resume from (with more
            ``train.steps`` than they were trained for, extend them, as :func:`bridge.train` does).
        folders: the run directory of each seed, in the order of ``seeds``, instead of
            ``out/seed_S`` (how a sweep stacks its points).
        loggers: experiment loggers by name (``"tensorboard"``, ``"wandb"``): every seed's run
            gets its own, and logs into its own directory what :func:`bridge.train` with
            ``loggers`` would log for it (logger objects are refused: the seeds train at once).

    Raises:
        ConfigError: invalid config or seeds, an unknown or uninstalled logger, or seeds whose data shapes, loss or
            models hold buffers of different names or shapes, before any work (buffers whose
            values differ, such as a lazy model's initial copy, are stacked like the parameters);
            or a model that draws random numbers in its forward pass (dropout), naming the module: stacked
            seeds would share one stream of draws (train each seed with :func:`bridge.train`).
        FileExistsError: a run directory exists and ``resume`` is false.

    Examples:
        >>> import tempfile; from bridge.config import TrainConfig; from bridge.models import DeepLinearConfig; from bridge.tasks import LinearTeacherConfig
        >>> cfg = RunConfig(LinearTeacherConfig((2.0,), d_in=2, d_out=2), DeepLinearConfig(2, 4, 2), TrainConfig(lr=0.1, steps=3))
        >>> runs = train_seeds(cfg, [0, 1], tempfile.mkdtemp(), device="cpu", progress=False); [(r.path.name, r.config.seed, r.steps) for r in runs]
        [('seed_0', 0, [0, 1, 2, 3]), ('seed_1', 1, [0, 1, 2, 3])]
    """
    if trackers is not None and (not callable(trackers) or hasattr(trackers, "stacked") or hasattr(trackers, "measure")):
        raise TypeError(f"train_seeds takes a function returning fresh trackers for each seed (trackers=lambda: [ModeTracker()]), got {trackers!r:.80}")
    seeds = check_seeds(seeds, "train_seeds' seeds")
    from bridge.training.loggers import check_logger_names, get_logger

    check_logger_names(loggers)
    seed_loggers = [[get_logger(lg) for lg in loggers] for _ in seeds]
    configs = [dataclasses.replace(config, seed=s) for s in seeds]
    with global_rng_kept(torch.device("cpu")):  # data and models are made on the CPU; what they draw leaves the caller's generator as it was
        datas = [validate(c) for c in configs]
        _check_stackable(datas)
        models = [build_for_task(c, data) for c, data in zip(configs, datas)]
        _check_buffers(models)
        refuse_random_forward(build_for_task(configs[0], datas[0]), datas[0].train.x[:2])  # a copy: a forward may update buffers
    dev = resolve_device(device)
    out = Path(out)
    dirs = [out / f"seed_{s}" for s in seeds] if folders is None else [Path(f) for f in folders]
    if len(dirs) != len(seeds) or len(set(dirs)) != len(dirs):
        raise ConfigError(f"train_seeds needs one distinct folder per seed, got {len(set(dirs))} for {len(seeds)} seeds")
    existing = [holds_files(d) for d in dirs]
    named_otherwise = [out / f"seed-{s}" for s in seeds if folders is None and holds_files(out / f"seed-{s}")]
    if resume and not any(existing) and named_otherwise:  # a `mechbridge run --seeds` output: never trained anew beside it
        raise RunError(f"cannot resume the seeds in {out}: it holds {named_otherwise[0].name}, not seed_{seeds[0]} (seed-S is how `mechbridge run --seeds` names a seed's study); pass folders= naming each seed's run directory")
    if any(existing) and not resume:
        raise FileExistsError(f"run directory {dirs[existing.index(True)]} already exists; choose another out or resume the sweep")
    if resume and any(existing) and not all(existing):
        raise RunError(f"cannot resume the sweep in {out}: {dirs[existing.index(False)].name} is missing; resume the other seeds with bridge.train")
    resume = resume and all(existing)
    records = [resumed_record(d) for d in dirs] if resume else [{}]
    extends = [extension(r.get("config"), c, d) for r, c, d in zip(records, configs, dirs)] if resume else [None]
    if len(set(extends)) > 1:  # None: trained for train.steps already
        raise RunError(f"cannot extend the sweep in {out}: its seeds were set to train for different steps ({', '.join(f'{d.name}: {e or config.train.steps}' for d, e in zip(dirs, extends))}); extend them one by one with bridge.train")
    seed_trackers = [with_loss_tracker(_fresh(trackers, s)) for s in seeds]
    for d, r, ts in zip(dirs, records, seed_trackers) if resume else ():  # before any work
        refuse_mixed_versions(d, r, ts, online=True)
    if resume and (finished := [stateless_finish(r, d, extends[0]) for r, d in zip(records, dirs)]) and any(finished):
        if not all(finished):  # the stacked seeds resume from one step, which that seed can no longer reach
            raise RunError(f"cannot resume the seeds in {out}: {dirs[finished.index(True)].name} is complete with no optimizer state, {dirs[finished.index(False)].name} is not; resume the others with bridge.train")
        return [Run(d) for d in dirs]
    with torch_threads(config.train.threads):
        return _train_seeds(configs, dirs, [d.to(dev) for d in datas], [move_to(m, dev) for m in models], seed_trackers, dev, progress, resume, extends[0], seed_loggers, extension_starts(records[0]))


def _fresh(trackers: Callable[..., Sequence[Tracker]] | None, seed: int) -> Sequence[Tracker]:
    """Fresh trackers of one seed: ``trackers(seed)`` when the function takes an argument, else ``trackers()``."""
    import inspect

    if trackers is None:
        return ()
    try:
        takes_seed = bool(inspect.signature(trackers).parameters)
    except (TypeError, ValueError):
        takes_seed = False
    return trackers(seed) if takes_seed else trackers()


def _open_all(writers: list[RunWriter], models: list[nn.Module], optimizers: list[torch.optim.Optimizer], resume: bool) -> int:
    """Open every run (restoring a common checkpoint when resuming); return the common start step."""
    if not resume:
        return max(w.open(m, o, False) for w, m, o in zip(writers, models, optimizers))
    usable = set.intersection(*({int(s) for s in read_json(w.out / "run.json").get("metrics_bytes", {})} for w in writers))
    starts = [w.open(m, o, True, usable) for w, m, o in zip(writers, models, optimizers)]
    if len(set(starts)) > 1:  # a corrupt checkpoint sent one seed further back: bring every seed there
        usable = {s for s in usable if s <= min(starts)}
        for w in writers:
            w._close_loggers()  # open again below, at the common checkpoint
        starts = [w.open(m, o, True, usable) for w, m, o in zip(writers, models, optimizers)]
    if len(set(starts)) > 1:
        raise RunError(f"the seeds resume at different steps {starts}; resume them one by one with bridge.train")
    return starts[0]


class _SeedStack:
    """The seeds' trainable parameters stacked along a leading axis, their losses per seed, and one optimizer.

    The losses come from the model's own ``forward_stacked`` when it has one (and no buffer differs
    between seeds), else from :func:`torch.func.vmap` over one model with each seed's slice swapped in.
    """

    def __init__(self, config: RunConfig, datas: list[TaskData], models: list[nn.Module], trackers: list[list[Tracker]], dev: torch.device, optimizers: list[torch.optim.Optimizer] | None) -> None:
        self.train, self.datas = config.train, datas
        base = move_to(build_for_task(config, datas[0]), dev)  # computes with each seed's slice swapped in
        slots = ParameterSlots(base)
        trainable = [name for name, p in base.named_parameters() if p.requires_grad]
        params = {name: torch.stack([dict(m.named_parameters())[name].detach() for m in models]).requires_grad_() for name in trainable}
        loss_fn = datas[0].loss_fn
        self.xs, self.ys = torch.stack([dense(d.train.x) for d in datas]), torch.stack([d.train.y for d in datas])
        self._seed_rows = torch.arange(len(datas), device=self.xs.device)[:, None]  # each seed's row of a minibatch's index
        buffers = _seed_buffers(models)
        forward_stacked: Callable[[dict[str, Tensor], Tensor], Tensor] | None = getattr(base, "forward_stacked", None)  # a model's own batched forward skips vmap's per-step cost
        self.forward_stacked = forward_stacked
        self.shared: list[int] = []  # trackers that measure every seed at once
        if forward_stacked is not None and set(params) == set(slots.names) and not buffers:
            seed_losses = per_seed(loss_fn)
            self._losses = lambda p, x, y: seed_losses(forward_stacked(p, x), y)
            self.shared = _shared_stacked_trackers(trackers)
            params = _laid_out_as_gradients(params, lambda p: self._losses(p, self.xs, self.ys))
        else:

            def seed_loss(p: dict[str, Tensor], b: dict[str, Tensor], x: Tensor, y: Tensor) -> Tensor:
                with slots.swapped(p, b):
                    return loss_fn(base(x), y)

            vmapped = vmap(seed_loss)
            self._losses = lambda p, x, y: vmapped(p, buffers, x, y)
        self.params = params
        self.optimizer = make_optimizer(optimizer_params(base, self.train, rename=params), self.train)
        self.base_lrs = [group["lr"] for group in self.optimizer.param_groups]  # before a resumed state sets a warm-up's lr
        if optimizers is not None:
            self.optimizer.load_state_dict(_stack_optimizer_state(optimizers))

    def batch(self, step: int, seeds: list[int]) -> tuple[Tensor, Tensor]:
        """Every seed's minibatch of ``step`` (the whole training set without ``batch_size``): ``(seed, batch, ...)``."""
        if self.train.batch_size is None:
            return self.xs, self.ys
        idx = torch.stack([batch_indices(self.xs.shape[1], self.train.batch_size, step, s) for s in seeds]).to(self.xs.device)
        return self.xs[self._seed_rows, idx], self.ys[self._seed_rows, idx]

    def step(self, step: int, seeds: list[int]) -> None:
        """One optimizer step of every seed; raises :class:`Diverged` naming the first seed whose loss is not finite."""
        x, y = self.batch(step, seeds)
        self.optimizer.zero_grad(set_to_none=True)
        losses = self._losses(self.params, x, y)
        total = losses.sum()
        if not torch.isfinite(total):  # a non-finite loss of any seed makes the sum non-finite
            bad = (~torch.isfinite(losses)).nonzero()
            k = int(bad[0]) if len(bad) else int(losses.argmax())  # or finite losses too large to add up
            raise Diverged(step, losses[k].item(), f" of seed {seeds[k]}")
        total.backward()
        before_step(self.optimizer, self.train, step, self.base_lrs, stacked=True)
        take_step(self.optimizer, step)

    def check_weights(self, step: int, seeds: list[int]) -> None:
        """Raise :class:`Diverged` naming the first seed with a weight that is not finite after ``step``."""
        finite = torch.stack([torch.isfinite(p.detach().reshape(len(p), -1)).all(1) for p in self.params.values()]).all(0)  # a scalar parameter stacks to (seeds,)
        if not finite.all():
            raise Diverged(step, float("nan"), f" of seed {seeds[int((~finite).nonzero()[0])]}", weights=True)

    def rows(self, trackers: list[Tracker]) -> dict[int, list[list[dict]]]:
        """Rows of the stacked trackers for every seed, by tracker index (those that could measure them)."""
        forward, params = self.forward_stacked, self.params
        if forward is None:  # no tracker is shared without the model's own batched forward
            return {}
        found = {i: cast(StackedTracker, trackers[i]).stacked(lambda x: forward(params, x), self.datas) for i in self.shared}  # shared: checked to be stacked when made
        return {i: rows for i, rows in found.items() if rows is not None}

    def sync(self, models: list[nn.Module], optimizers: list[torch.optim.Optimizer] | None) -> None:
        """Copy each seed's slice into its own model (and the stacked optimizer state into each seed's, if given)."""
        with torch.no_grad():
            for k, model in enumerate(models):
                for name, p in model.named_parameters():
                    if name in self.params:
                        p.copy_(self.params[name][k])
        if optimizers is not None:
            state = self.optimizer.state_dict()
            for k, optimizer in enumerate(optimizers):
                optimizer.load_state_dict(_seed_optimizer_state(state, k))


def _train_seeds(
    configs: list[RunConfig],
    dirs: list[Path],
    datas: list[TaskData],
    models: list[nn.Module],
    trackers: list[list[Tracker]],
    dev: torch.device,
    progress: bool | None,
    resume: bool,
    extends: int | None = None,
    loggers: list[list[Any]] | None = None,
    trained_to: Sequence[int] = (),
) -> list[Run]:
    seeds = [c.seed for c in configs]
    optimizers = [make_optimizer(m, configs[0].train) for m in models]  # per-seed views, for checkpoints
    files = FileQueue(limit=2)  # writes the checkpoints while the seeds train on (at most two behind), in the order they were taken
    loggers = loggers or [[] for _ in configs]
    writers = [RunWriter(c, d, data, ts, dev, loggers=lg, extends=extends, trained_to=trained_to, files=files, sweep={"seeds": seeds}) for c, d, data, ts, lg in zip(configs, dirs, datas, trackers, loggers)]
    ckpt_set, tracked_set, resumable = set(writers[0].checkpoints), set(writers[0].tracked), writers[0].resumable
    with refusable(writers, resume):  # resuming: every seed's lock first; refused, no seed has changed
        start = _open_all(writers, models, optimizers, resume)
        stack = _SeedStack(configs[0], datas, models, trackers, dev, optimizers if start > 0 else None)
    bar = step_bar(configs[0], start, progress, desc=f"{len(seeds)} seeds")
    try:
        if start == 0:
            for w, m, o in zip(writers, models, optimizers):
                w.buffer.track(m, 0)
                w.checkpoint(0, m, o, 0.0)
        t0 = time.perf_counter()
        for step in bar:
            stack.step(step, seeds)
            s = step + 1
            if s in tracked_set or s in ckpt_set:
                stack.check_weights(s, seeds)
            given = stack.rows(trackers[0]) if s in tracked_set and stack.shared else {}
            if s in ckpt_set or (s in tracked_set and len(given) < len(trackers[0])):  # the per-seed models are read
                stack.sync(models, optimizers if s in resumable else None)
            if s in tracked_set:
                for k, (w, m) in enumerate(zip(writers, models)):
                    w.buffer.track(m, s, {i: rows[k] for i, rows in given.items()})
            if s in ckpt_set:
                elapsed = time.perf_counter() - t0  # shared by all seeds
                with files.together():
                    for w, m, o in zip(writers, models, optimizers):
                        w.checkpoint(s, m, o, elapsed)
                t0 = time.perf_counter()
        files.wait()
    except BaseException as e:
        files.wait(quiet=True)  # what was taken is on disk before the failure is recorded
        for w in writers:
            w.fail(e)
        raise
    finally:
        files.close()
        bar.close()
    return [w.complete() for w in writers]


__all__ = ["train_seeds"]
