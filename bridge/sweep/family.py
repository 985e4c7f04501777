"""A case study's own runs (its main run and family: step sizes, a phase grid, a weight-decay sweep) on a sweep backend.

:func:`case_studies.run_case_study` with ``backend="ray"`` (or ``"submitit"``) hands
every run of the study to :func:`train_family`: one :class:`~bridge.sweep.backends.Job`
per run, each calling the study's own trainer of one run
(:func:`case_studies.base.runner.train_study_run`) in the place the local path would use
(the main run in ``out``, run ``key`` in ``out/runs/<key>``), with its offline
analyses. The driver then reads the finished runs and writes the report exactly as
in one process, so the report's numbers are those of a local run (the runs see the
same data, initial weights and batches, with the thread count of their configs).
The submitit backend keeps its job files and logs in ``out/runs/.submitit``.

A job that fails on the backend (a dead worker, a diverging run) is not lost: the
driver resumes that run itself, from its last good checkpoint, and a diverging run
ends the study with an ``invalid`` report as it does locally.

Examples:
    >>> from bridge.sweep.family import family_jobs
    >>> [job.key for job in family_jobs(print, ("grokking", "quick", (), 0), ["main", "sweep_0"], "out", {})]
    ['main', 'sweep_0']
"""

from __future__ import annotations

import os
import socket
import time
import traceback
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from bridge.sweep.backends import Job, get_backend


def run_job(train_one: Callable[..., Any], study: tuple, key: str, out: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """Call ``train_one(*study, key, out, **options)`` in a worker; return its outcome, never raise for its failure.

    Returns:
        ``{"key", "status": "done"|"failed", "error", "host", "pid", "seconds"}`` (and ``"traceback"`` when failed).

    Examples:
        >>> ok, bad = (run_job(f, (), "main", "out", {}) for f in (lambda *a: None, lambda *a: 1 / 0))
        >>> (ok["key"], ok["status"], ok["error"]), (bad["status"], bad["error"])
        (('main', 'done', None), ('failed', 'ZeroDivisionError: division by zero'))
    """
    t0 = time.perf_counter()
    outcome: dict[str, Any] = {"key": key, "status": "done", "error": None, "host": socket.gethostname(), "pid": os.getpid()}
    try:
        from bridge.plugins import load_plugins

        load_plugins()  # a plugin case study registers itself in this worker too
        train_one(*study, key, out, **options)
    except Exception as e:  # noqa: BLE001 - the driver resumes a failed run itself
        outcome.update(status="failed", error=f"{type(e).__name__}: {e}", traceback=traceback.format_exc(limit=20))
    outcome["seconds"] = time.perf_counter() - t0
    return outcome


def family_jobs(train_one: Callable[..., Any], study: tuple, keys: Sequence[str], out: str | Path, cpus: Mapping[str, int], **options: Any) -> list[Job]:
    """One job per run ``key``: ``train_one(*study, key, out, **options)`` with ``cpus[key]`` CPUs (1 by default).

    Examples:
        >>> jobs = family_jobs(print, ("grokking", "quick"), ["main", "sweep_0"], "out", {"main": 2})
        >>> [(j.key, j.threads) for j in jobs], jobs[1].args[1:4]
        ([('main', 2), ('sweep_0', 1)], (('grokking', 'quick'), 'sweep_0', 'out'))
    """
    return [Job(run_job, (train_one, tuple(study), key, str(out), dict(options)), key, int(cpus.get(key, 1))) for key in keys]


def train_family(backend: str | Any, jobs: Sequence[Job], out: str | Path, **options: Any) -> list[dict[str, Any]]:
    """Run ``jobs`` (:func:`family_jobs`) of the study writing into ``out`` on ``backend`` (a name or a backend object); return their outcomes.

    A failed job is reported with a :class:`RuntimeWarning` naming the run and its error;
    the caller resumes that run in its own process.

    Examples:
        >>> import tempfile; out = tempfile.mkdtemp()
        >>> outcomes = train_family("local", family_jobs(lambda *a: None, (), ["main", "sweep_0"], out, {}), out)
        >>> [(o["key"], o["status"]) for o in outcomes]
        [('main', 'done'), ('sweep_0', 'done')]
    """
    if not jobs:
        return []
    runs = Path(out) / "runs"
    runs.mkdir(parents=True, exist_ok=True)  # so the main run trains in out/.main and moves in once complete, whatever runs first
    if isinstance(backend, str):
        if backend == "submitit":
            options.setdefault("folder", str(runs / ".submitit"))
        backend = get_backend(backend, **options)
    outcomes: list[dict[str, Any]] = []
    backend.run(list(jobs), outcomes.append)
    for outcome in outcomes:
        if outcome["status"] == "failed":
            first = (outcome.get("error") or "").strip().splitlines()[:1]
            warnings.warn(f"run {outcome['key']!r} failed on the {backend.name} backend ({first[0] if first else 'no error text'}); resuming it in this process", RuntimeWarning, stacklevel=2)
    return outcomes


__all__ = ["family_jobs", "run_job", "train_family"]
