"""Offline analysis: run trackers over a run's saved checkpoints and append their rows."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from bridge.config import ConfigError
from bridge.progress import progress_bar
from bridge.runs.errors import RunError
from bridge.runs.run import Run, load_run
from bridge.runs.versions import refuse_mixed_versions, versions_record
from bridge.trackers.base import Tracker, TrackingBuffer, check_trackers
from bridge.training.inputs import check_threads, validate
from bridge.training.loop import torch_threads
from bridge.training.writer import FLUSH_CAPTURES


def analyze(
    run: Run | str | Path, trackers: Sequence[Tracker], *, steps: Sequence[int] | None = None, progress: bool | None = None, threads: int | None = None, fresh: bool = False
) -> Run:
    """Compute ``trackers`` at every checkpoint of ``run`` (or ``steps``) and append the rows.

    A row already in the run with the same key (observable, step and index values) is
    replaced, never duplicated; other rows are kept, so analyses of one layer and then
    another add up. With ``fresh=True`` every earlier row of the observables the
    trackers write, at the steps analysed, goes first: a re-analysis with fewer index
    values (a smaller ``k`` of top eigenvalues) leaves none of the earlier ones.

    Args:
        run: an opened run (:func:`bridge.load_run`), or the path of its directory.
        trackers: tracker objects (the same ones that run online).
        steps: checkpoint steps to analyse (default: all; none: nothing is computed or written).
        progress: show a progress bar (``None``: only on a terminal).
        threads: torch threads, at most this machine's CPUs (default: the run's ``train.threads``).
        fresh: replace the analysed observables at the analysed steps whole, not row by row.

    Returns:
        The run, its metrics read again from the table the rows were appended to.

    Raises:
        RunError: this process cannot write into the run directory (a read-only copy), before any work; the run holds rows of one of ``trackers`` of another definition version than this code's
            (:mod:`bridge.runs.versions`), before any work; ``fresh=True`` over every checkpoint rewrites the rows
            of an analysis, never those written in training.

    Examples:
        >>> from bridge import analyze, load_run
        >>> from bridge.trackers import LossTracker
        >>> analyze(load_run("runs/deep-linear"), [LossTracker()])   # doctest: +SKIP
    """
    if not check_trackers(trackers):
        raise ValueError("analyze needs at least one tracker")
    if steps is not None and (isinstance(steps, (str, bytes)) or not isinstance(steps, Iterable)):
        raise TypeError(f"steps must be a list of checkpoint steps, got {steps!r}")
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads must be a positive integer (or None: the run's train.threads), got {threads!r}")
        check_threads(threads)
    if not isinstance(run, Run):
        if not isinstance(run, str | Path):
            raise TypeError(f"run must be a Run (bridge.load_run) or the path of a run directory, got {run!r:.120}")
        run = load_run(run)
    status = run.status
    if status == "running":
        raise ValueError(f"{run.path} is still being trained (status 'running'); analyze it when it is complete, failed or stopped")
    if status == "interrupted" and run.info.get("status") == "running":  # a stop the writer recorded left consistent files
        raise ValueError(f"{run.path} was interrupted at step {run.info.get('last_step')} (its writer is gone); finish it with resume (mechbridge run ... --resume) first")
    check_run_config(run)
    available = run.steps
    if not available:
        raise ValueError(f"{run.path} has no checkpoints to analyse")
    steps = available if steps is None else list(steps)
    unknown = sorted(set(steps) - set(available))
    if unknown:
        raise ValueError(f"no checkpoints at steps {unknown[:5]} in {run.path}")
    if not steps:  # nothing asked for: every file stays as it is
        return run
    run.check_writable()
    refuse_mixed_versions(run.path, run.info, trackers, online=False, fresh=fresh, every_step=set(steps) >= set(available))
    buffer, rows = TrackingBuffer(trackers, run.task_data()), []
    with torch_threads(threads or run.config.train.threads):
        model = None
        for step in progress_bar(steps, f"analyze {run.config.name or run.path.name}", progress):
            model = run.model_at(step, into=model)
            buffer.track(model, step)
            if buffer.pending >= FLUSH_CAPTURES:
                rows += buffer.flush()
        rows += buffer.flush()
    run.append_metrics(rows, replace=["observable", "step"] if fresh else True)
    run.update_info(**versions_record(run.info, trackers))  # after the rows: a kill between leaves a record that refuses, never one that mixes
    return run


def check_run_config(run: Run) -> None:
    """Check that the config in ``run.json`` still builds a model that fits its task (one forward pass).

    Raises:
        RunError: naming ``run.json`` and what does not fit (a field changed after training,
            such as the task's depth or the model's width).

    Examples:
        >>> import tempfile; from bridge import RunConfig, TrainConfig, train; from bridge.models import DeepLinearConfig; from bridge.tasks import LinearTeacherConfig
        >>> run = train(RunConfig(LinearTeacherConfig((2.0,), d_in=2, d_out=2), DeepLinearConfig(2, 4, 2), TrainConfig(steps=2)), tempfile.mkdtemp() + "/run", device="cpu", progress=False)
        >>> check_run_config(run); run.update_info(config={**run.info["config"], "model": {**run.info["config"]["model"], "d_in": 3}})
        >>> check_run_config(Run(run.path))  # the model's d_in changed after training
        Traceback (most recent call last):
        ...
        bridge.runs.errors.RunError: ...run.json holds a config that cannot be analysed: model 'deep_linear' (d_in=...) does not fit task 'linear_teacher' (...): ...
    """
    try:
        validate(run.config)
    except ConfigError as e:
        raise RunError(f"{run.path / 'run.json'} holds a config that cannot be analysed: {e}") from None
