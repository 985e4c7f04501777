"""Where the points of a sweep run: in this process, on Ray, or through submitit (SLURM, or its local executor).

Every backend has one method, ``run(jobs, on_done)``: it calls ``fn(*args)`` for
every :class:`Job` (a sweep's point: :func:`bridge.sweep.point.run_point`; a case
study's run: :mod:`bridge.sweep.family`) and ``on_done(outcome)`` in the driver
as each finishes, in the order they finish. ``fn`` returns the outcome, a dict with
the job's ``key`` and ``status``; a job whose worker dies is reported as failed.
Ray and submitit are optional extras, imported only when used.

Examples:
    >>> get_backend("local").name
    'local'
    >>> get_backend("dask")
    Traceback (most recent call last):
    ...
    bridge.config.ConfigError: unknown backend 'dask' (backends: local, ray, submitit)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from bridge.config import ConfigError

OnDone = Callable[[dict[str, Any]], None]
POLL_SECONDS = 0.5


class Job(NamedTuple):
    """One unit of work: ``fn(*args)`` (picklable, returning an outcome dict) with ``threads`` CPUs.

    Examples:
        >>> job = Job(dict, ({"key": "a", "status": "done"},), "a", threads=2)
        >>> job.fn(*job.args), job.threads
        ({'key': 'a', 'status': 'done'}, 2)
    """

    fn: Callable[..., dict[str, Any]]
    args: tuple
    key: str
    threads: int = 1


def _died(job: Job, error: str) -> dict[str, Any]:
    return {"key": job.key, "status": "failed", "error": error}


@dataclass(frozen=True)
class LocalBackend:
    """Every point in this process, one after another; ``on_start(job)``, if given, is called as each begins.

    Examples:
        >>> done, started = [], []
        >>> LocalBackend().run([Job(dict, ({"key": k, "status": "done"},), k) for k in ("a", "b")], done.append, lambda job: started.append(job.key))
        >>> [(o["key"], o["status"]) for o in done], started
        ([('a', 'done'), ('b', 'done')], ['a', 'b'])
    """

    name: str = "local"

    def run(self, jobs: Sequence[Job], on_done: OnDone, on_start: Callable[[Job], None] | None = None) -> None:
        for job in jobs:
            if on_start is not None:
                on_start(job)
            on_done(job.fn(*job.args))


@dataclass(frozen=True)
class RayBackend:
    """One Ray task per point, each with ``threads`` CPUs (and torch threads).

    Args:
        address: a running cluster (``"auto"``, ``"ray://host:10001"``); ``None`` starts Ray on this machine.
        workers: CPUs of the Ray started on this machine (``None``: all); ignored with ``address``.

    Examples:
        >>> RayBackend(workers=2)   # nothing starts until run(); Ray is imported there
        RayBackend(address=None, workers=2, name='ray')
    """

    address: str | None = None
    workers: int | None = None
    name: str = "ray"

    def run(self, jobs: Sequence[Job], on_done: OnDone) -> None:
        ray = _require("ray", "ray")
        if not ray.is_initialized():
            if self.address is None:
                ray.init(num_cpus=self.workers, include_dashboard=False, configure_logging=False, log_to_driver=False)
            else:
                ray.init(address=self.address, log_to_driver=False)
        remotes = {fn: ray.remote(fn) for fn in {job.fn for job in jobs}}
        pending = {remotes[job.fn].options(num_cpus=job.threads, max_retries=0).remote(*job.args): job for job in jobs}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                job = pending.pop(ref)
                try:
                    outcome = ray.get(ref)
                except Exception as e:  # noqa: BLE001 - a worker that died: the point failed, the others go on
                    outcome = _died(job, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
                on_done(outcome)


@dataclass(frozen=True)
class SubmititBackend:
    """One submitit job per point: SLURM where it exists, local subprocesses with ``cluster="local"``.

    Args:
        folder: where submitit keeps its job files and logs.
        cluster: ``None`` (SLURM if available, else local), ``"slurm"``, ``"local"`` or ``"debug"`` (in process).
        workers: how many jobs run at once (``None``: all).
        parameters: executor parameters (``timeout_min``, ``slurm_partition``, ...).

    Examples:
        >>> b = SubmititBackend("jobs", cluster="local", parameters=(("slurm_partition", "gpu"), ("timeout_min", 120)))
        >>> b.name, b.cluster, dict(b.parameters)   # no job is submitted until run()
        ('submitit', 'local', {'slurm_partition': 'gpu', 'timeout_min': 120})
    """

    folder: str = ""
    cluster: str | None = None
    workers: int | None = None
    parameters: tuple[tuple[str, Any], ...] = ()
    name: str = "submitit"

    def run(self, jobs: Sequence[Job], on_done: OnDone) -> None:
        submitit = _require("submitit", "submitit")
        if not self.folder:
            raise ConfigError("the submitit backend needs a folder for its job files")
        executor = submitit.AutoExecutor(folder=str(Path(self.folder)), cluster=self.cluster)
        threads = max((job.threads for job in jobs), default=1)
        executor.update_parameters(**{"timeout_min": 24 * 60, "cpus_per_task": threads, **dict(self.parameters)})
        queue = list(jobs)
        running: dict[Any, Job] = {}  # a submitit job -> the sweep's job it runs
        limit = self.workers or len(queue) or 1
        while queue or running:
            while queue and len(running) < limit:
                job = queue.pop(0)
                running[executor.submit(job.fn, *job.args)] = job
            finished = [j for j in running if j.done()]
            if not finished:
                time.sleep(POLL_SECONDS)
            for handle in finished:
                job = running.pop(handle)
                try:
                    outcome = handle.result()
                except Exception as e:  # noqa: BLE001 - a job that died (killed, out of time): the point failed
                    outcome = _died(job, f"{type(e).__name__}: {str(e).strip().splitlines()[-1] if str(e).strip() else ''}")
                on_done(outcome)


def _require(module: str, extra: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(f"the {module} backend needs {module}: pip install 'mechbridge[{extra}]'") from None


BACKENDS = {"local": LocalBackend, "ray": RayBackend, "submitit": SubmititBackend}


def get_backend(name: str, **options: Any) -> Any:
    """The backend ``name`` (``local``, ``ray``, ``submitit``) built with ``options``.

    Raises:
        ConfigError: an unknown backend or option, or a backend whose package is not installed
            (checked here, so that a caller stops before it writes anything).

    Examples:
        >>> get_backend("ray", address="auto")
        RayBackend(address='auto', workers=None, name='ray')
        >>> get_backend("local", workers=2)
        Traceback (most recent call last):
        ...
        bridge.config.ConfigError: sweep backend 'local': ...unexpected keyword argument 'workers'
    """
    if name not in BACKENDS:
        raise ConfigError(f"unknown backend {name!r} (backends: {', '.join(BACKENDS)})")
    try:
        backend = BACKENDS[name](**options)
    except TypeError as e:
        raise ConfigError(f"sweep backend {name!r}: {e}") from None
    if name != "local":
        _require(name, name)
    return backend


__all__ = ["BACKENDS", "Job", "LocalBackend", "RayBackend", "SubmititBackend", "get_backend"]
