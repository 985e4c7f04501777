"""A case study's own runs (its main run and family: step sizes, a phase grid, a weight-decay sweep) on a sweep backend.

:func:`run_case_study` with ``backend="ray"`` (or ``"submitit"``) hands every run of
the study to :func:`train_family`: one job per run, each trained by
:func:`case_studies.base.train_study_run` into the place the local path would use
(the main run in ``out``, run ``key`` in ``out/runs/<key>``), with its offline
analyses. The driver then reads the finished runs and writes the report exactly as
in one process, so the report's numbers are those of a local run (the runs see the
same data, initial weights and batches, with the thread count of their configs).

A job that fails on the backend (a dead worker, a diverging run) is not lost: the
driver resumes that run itself, from its last good checkpoint, and a diverging run
ends the study with an ``invalid`` report as it does locally.

Examples:
    >>> from bridge.sweep.family import family_jobs
    >>> [job[1].key for job in family_jobs("edge-of-stability", "quick", (), 0, ["main", "lr_0.02"], "out", {})]
    ['run=main__seed=0', 'run=lr_0.02__seed=0']
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bridge.sweep.backends import get_backend
from bridge.sweep.grid import SEED, Point
from bridge.sweep.point import FAILED, Target

RUN = "run"  # the setting that names which run of the study a job trains


def family_jobs(name: str, preset: Any, settings: Sequence[str], seed: int, keys: Sequence[str], out: str | Path, threads: Mapping[str, int], *, device: str = "cpu", loggers: Sequence[str] = ()) -> list[tuple[Target, Point, str, int]]:
    """One backend job per run ``key`` of case study ``name`` (``threads[key]`` CPUs each, 1 by default)."""
    target = Target("case_run", case_study=name, preset=preset, settings=tuple(settings), device=device, loggers=tuple(loggers))
    return [(target, Point(((RUN, key), (SEED, seed))), str(out), int(threads.get(key, 1))) for key in keys]


def train_family(backend: str | Any, jobs: Sequence[tuple[Target, Point, str, int]], **options: Any) -> list[dict[str, Any]]:
    """Run ``jobs`` (:func:`family_jobs`) on ``backend`` (a name or a backend object); return their outcomes.

    A failed job is reported with a :class:`RuntimeWarning` naming the run and its error;
    the caller resumes that run in its own process.
    """
    if not jobs:
        return []
    runs = Path(jobs[0][2]) / "runs"
    runs.mkdir(parents=True, exist_ok=True)  # so the main run trains in out/.main and moves in once complete, whatever runs first
    if isinstance(backend, str):
        if backend == "submitit":
            options.setdefault("folder", str(runs / ".submitit"))
        backend = get_backend(backend, **options)
    outcomes: list[dict[str, Any]] = []
    backend.run(list(jobs), outcomes.append)
    for outcome in outcomes:
        if outcome["status"] == FAILED:
            run = outcome["key"].split("__")[0].removeprefix(f"{RUN}=")
            first = (outcome.get("error") or "").strip().splitlines()[:1]
            warnings.warn(f"run {run!r} failed on the {backend.name} backend ({first[0] if first else 'no error text'}); resuming it in this process", RuntimeWarning, stacklevel=2)
    return outcomes


__all__ = ["RUN", "family_jobs", "train_family"]
