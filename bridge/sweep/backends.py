"""Where the points of a sweep run: in this process, on Ray, or through submitit (SLURM, or its local executor).

Every backend has one method, ``run(jobs, on_done)``: it runs
:func:`bridge.sweep.point.run_point` on every ``(target, point, folder, threads)``
job and calls ``on_done(outcome)`` in the driver as each finishes, in the order
they finish. Ray and submitit are optional extras, imported only when used.

Examples:
    >>> get_backend("local").name
    'local'
    >>> get_backend("dask")
    Traceback (most recent call last):
    ...
    bridge.config.ConfigError: unknown sweep backend 'dask' (backends: local, ray, submitit)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bridge.config import ConfigError
from bridge.sweep.point import run_point

Job = tuple[Any, Any, str, int]  # (target, point, folder, threads)
OnDone = Callable[[dict[str, Any]], None]
POLL_SECONDS = 0.5


@dataclass(frozen=True)
class LocalBackend:
    """Every point in this process, one after another."""

    name: str = "local"

    def run(self, jobs: Sequence[Job], on_done: OnDone) -> None:
        for job in jobs:
            on_done(run_point(*job))


@dataclass(frozen=True)
class RayBackend:
    """One Ray task per point, each with ``threads`` CPUs (and torch threads).

    Args:
        address: a running cluster (``"auto"``, ``"ray://host:10001"``); ``None`` starts Ray on this machine.
        workers: CPUs of the Ray started on this machine (``None``: all); ignored with ``address``.
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
        remote = ray.remote(run_point)
        pending = {remote.options(num_cpus=job[3], max_retries=0).remote(*job): job for job in jobs}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                job = pending.pop(ref)
                try:
                    outcome = ray.get(ref)
                except Exception as e:  # noqa: BLE001 - a worker that died: the point failed, the others go on
                    outcome = {"key": job[1].key, "status": "failed", "error": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"}
                on_done(outcome)


@dataclass(frozen=True)
class SubmititBackend:
    """One submitit job per point: SLURM where it exists, local subprocesses with ``cluster="local"``.

    Args:
        folder: where submitit keeps its job files and logs.
        cluster: ``None`` (SLURM if available, else local), ``"slurm"``, ``"local"`` or ``"debug"`` (in process).
        workers: how many jobs run at once (``None``: all).
        parameters: executor parameters (``timeout_min``, ``slurm_partition``, ...).
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
        threads = max((job[3] for job in jobs), default=1)
        executor.update_parameters(**{"timeout_min": 24 * 60, "cpus_per_task": threads, **dict(self.parameters)})
        queue, running = list(jobs), {}
        limit = self.workers or len(queue) or 1
        while queue or running:
            while queue and len(running) < limit:
                job = queue.pop(0)
                running[executor.submit(run_point, *job)] = job
            finished = [j for j in running if j.done()]
            if not finished:
                time.sleep(POLL_SECONDS)
            for handle in finished:
                job = running.pop(handle)
                try:
                    outcome = handle.result()
                except Exception as e:  # noqa: BLE001 - a job that died (killed, out of time): the point failed
                    outcome = {"key": job[1].key, "status": "failed", "error": f"{type(e).__name__}: {str(e).strip().splitlines()[-1] if str(e).strip() else ''}"}
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
        ConfigError: an unknown backend or option.
    """
    if name not in BACKENDS:
        raise ConfigError(f"unknown sweep backend {name!r} (backends: {', '.join(BACKENDS)})")
    try:
        return BACKENDS[name](**options)
    except TypeError as e:
        raise ConfigError(f"sweep backend {name!r}: {e}") from None


__all__ = ["BACKENDS", "LocalBackend", "RayBackend", "SubmititBackend", "get_backend"]
