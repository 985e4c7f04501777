"""One writer per run directory: atomic creation with a lock, and detection of writers that are gone.

A new run directory appears in one step: ``run.json``, ``checkpoints/`` and the
lock file ``.lock`` (the writer's pid, host and start time) are written into a
staging directory beside it, which is then renamed onto the target. The rename
fails if the target holds files, so of two writers started together exactly one
creates the run; the other is refused with a line naming the holder. Resuming
takes the lock with ``O_EXCL``; a lock left by a process that no longer exists
on this host is stale: the run is *interrupted*, and resuming takes it over.

Examples:
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "run"
    >>> create_run_dir(out, {"status": "running"})
    >>> sorted(p.name for p in out.iterdir())
    ['.lock', 'checkpoints', 'run.json']
    >>> holder(out)["pid"] == os.getpid(), is_stale(holder(out))
    (True, False)
    >>> release(out); holder(out) is None
    True
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from pathlib import Path
from typing import Any

from bridge.runs.errors import RunError
from bridge.runs.storage import atomic_write_json

LOCK = ".lock"


def _me() -> dict[str, Any]:
    return {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}


def holder(out: str | Path) -> dict[str, Any] | None:
    """The writer recorded in ``out/.lock`` (``None``: no lock, or an unreadable one).

    Examples:
        >>> import tempfile
        >>> holder(tempfile.mkdtemp()) is None
        True
    """
    try:
        return json.loads((Path(out) / LOCK).read_text())
    except (OSError, ValueError):
        return None


def is_stale(lock: dict[str, Any] | None) -> bool:
    """Whether the lock's process is gone (only decidable for a lock of this host).

    Examples:
        >>> here = socket.gethostname()
        >>> is_stale({"pid": os.getpid(), "host": here}), is_stale({"pid": 2**30, "host": here}), is_stale({"pid": 2**30, "host": "elsewhere"})
        (False, True, False)
    """
    if not lock or lock.get("host") != socket.gethostname():
        return False
    try:
        os.kill(int(lock["pid"]), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, KeyError, TypeError, ValueError):
        return False
    return False


def _describe(lock: dict[str, Any] | None) -> str:
    return f"process {lock.get('pid')} on {lock.get('host')}" if lock else "another writer"


def create_run_dir(out: str | Path, info: dict[str, Any]) -> None:
    """Create ``out`` holding ``run.json`` (``info``), ``checkpoints/`` and this process's lock, atomically.

    Raises:
        FileExistsError: ``out`` holds files (another writer made it first, or an earlier run).
        RunError: ``out`` cannot be created (a file in the way, no permission).

    Examples:
        >>> import tempfile, pathlib
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "run"
        >>> create_run_dir(out, {"status": "running"}); create_run_dir(out, {"status": "running"})
        Traceback (most recent call last):
        ...
        FileExistsError: run directory ... already exists; it is being written by process ...
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise RunError(f"cannot create run directory {out}: a file of that name exists")
    blocking = next((p for p in out.parents if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise RunError(f"cannot create run directory {out}: {blocking} is a file, not a directory")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RunError(f"cannot create run directory {out}: {e.strerror or e}") from None
    staging = out.parent / f".{out.name}.staging-{os.getpid()}"
    try:
        shutil.rmtree(staging, ignore_errors=True)
        (staging / "checkpoints").mkdir(parents=True)
        atomic_write_json(staging / "run.json", info)
        (staging / LOCK).write_text(json.dumps(_me()))
    except OSError as e:
        shutil.rmtree(staging, ignore_errors=True)
        raise RunError(f"cannot create run directory {out}: {e.strerror or e}") from None
    try:
        os.rename(staging, out)  # onto a missing or empty directory only
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        lock = holder(out)
        who = f"; it is being written by {_describe(lock)}" if lock and not is_stale(lock) else ""
        raise FileExistsError(f"run directory {out} already exists{who}; choose another --out or resume it") from None


def acquire(out: str | Path) -> None:
    """Take the lock of an existing run directory (to resume it); a stale lock is taken over.

    Raises:
        RunError: a live process holds the lock (named in the message).

    Examples:
        >>> import tempfile
        >>> out = tempfile.mkdtemp()
        >>> acquire(out); holder(out)["pid"] == os.getpid()
        True
    """
    file = Path(out) / LOCK
    for _ in range(2):
        try:
            fd = os.open(file, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            lock = holder(out)
            if lock is not None and lock.get("pid") == os.getpid() and lock.get("host") == socket.gethostname():
                return  # this process holds it already
            if lock is not None and not is_stale(lock):
                raise RunError(f"{out} is being written by {_describe(lock)}; wait for it, or remove {file} if that process is gone") from None
            file.unlink(missing_ok=True)  # stale (or unreadable): the writer is gone
            continue
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(_me()))
        return
    raise RunError(f"could not take the lock {file}")


def release(out: str | Path) -> None:
    """Remove this process's lock from ``out`` (a lock of another process is left alone).

    Examples:
        >>> import tempfile
        >>> out = tempfile.mkdtemp()
        >>> acquire(out); release(out); holder(out) is None
        True
    """
    lock = holder(out)
    if lock is not None and lock.get("pid") == os.getpid() and lock.get("host") == socket.gethostname():
        (Path(out) / LOCK).unlink(missing_ok=True)
