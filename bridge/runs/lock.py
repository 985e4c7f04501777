"""One writer per run directory: atomic creation with a lock, and detection of writers that are gone.

A new run directory appears in one step: ``run.json``, ``checkpoints/`` and the
lock file ``.lock`` (the writer's pid, host and start time) are written into a
staging directory beside it, which is then renamed onto the target. The rename
fails if the target holds files, so of two writers started together exactly one
creates the run; the other is refused with a line naming the holder. Resuming
takes the lock by linking a complete lock file into place (so no reader sees a
half-written one); a lock left by a process that no longer exists on this host
(or whose pid now belongs to a process started after the lock) is stale: the run
is *interrupted*, and resuming takes it over, one process at a time.

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

import contextlib
import json
import os
import shutil
import socket
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bridge.runs.errors import RunError
from bridge.runs.storage import atomic_write_json

LOCK = ".lock"
UNREADABLE_GRACE = 10.0  # seconds after which an unreadable lock counts as stale
PID_REUSE_MARGIN = 60.0  # seconds a process must have started after its pid's lock for the pid to count as reused


def _me() -> dict[str, Any]:
    return {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}


def holder(out: str | Path) -> dict[str, Any] | None:
    """The writer recorded in ``out/.lock`` (``None``: no lock, or an unreadable one).

    Examples:
        >>> import tempfile
        >>> holder(tempfile.mkdtemp()) is None
        True
    """
    return _read_lock(Path(out) / LOCK)


def is_stale(lock: dict[str, Any] | None) -> bool:
    """Whether the lock's process is gone (only decidable for a lock of this host).

    A process with the lock's pid that started after the lock was taken (a pid reused,
    after a reboot say) is not its writer: the lock is stale.

    Examples:
        >>> here, now = socket.gethostname(), time.time()
        >>> is_stale({"pid": os.getpid(), "host": here, "started": now}), is_stale({"pid": 2**30, "host": here}), is_stale({"pid": 2**30, "host": "elsewhere"})
        (False, True, False)
        >>> is_stale({"pid": os.getpid(), "host": here, "started": 1.0})   # this process started long after 1970
        True
    """
    if not lock or lock.get("host") != socket.gethostname():
        return False
    try:
        pid = int(lock["pid"])
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (PermissionError, KeyError, TypeError, ValueError):
        return False
    began, taken = _process_start(pid), lock.get("started")
    return began is not None and isinstance(taken, int | float) and began > taken + PID_REUSE_MARGIN


def _process_start(pid: int) -> float | None:
    """When process ``pid`` started (seconds since the epoch), where ``/proc`` says; else ``None``."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        boot = next(float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines() if line.startswith("btime"))
        return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def held_here(lock: dict[str, Any] | None) -> bool:
    """Whether ``lock`` is this process's.

    Examples:
        >>> held_here({"pid": os.getpid(), "host": socket.gethostname()}), held_here(None)
        (True, False)
    """
    return lock is not None and lock.get("pid") == os.getpid() and lock.get("host") == socket.gethostname()


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
    remove_stale_staging(out.parent)  # a killed writer's, which would stay for ever
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


def remove_stale_staging(folder: str | Path) -> list[Path]:
    """Remove the staging directories in ``folder`` whose writer is gone (killed before its rename); return them.

    A staging directory whose lock is unreadable counts as a gone writer's once it is
    ``UNREADABLE_GRACE`` seconds old (its writer had not yet written the lock).

    Examples:
        >>> import tempfile, pathlib
        >>> parent = pathlib.Path(tempfile.mkdtemp()); (parent / ".run.staging-7").mkdir()
        >>> _ = (parent / ".run.staging-7" / LOCK).write_text(json.dumps({"pid": 2**30, "host": socket.gethostname()}))
        >>> [p.name for p in remove_stale_staging(parent)], list(parent.iterdir())
        (['.run.staging-7'], [])
    """
    removed = []
    for staging in sorted(Path(folder).glob(".*.staging-*")):
        lock = holder(staging)
        if staging.is_dir() and (is_stale(lock) if lock is not None else _age(staging) > UNREADABLE_GRACE):
            shutil.rmtree(staging, ignore_errors=True)
            removed.append(staging)
    return removed


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
    for _ in range(3):
        if _place(file):
            return
        lock = holder(out)
        if held_here(lock):
            return  # this process holds it already
        if lock is not None and not is_stale(lock):
            raise RunError(f"{out} is being written by {_describe(lock)}; wait for it, or remove {file} if that process is gone")
        if lock is None and _age(file) < UNREADABLE_GRACE:  # not written by this version, or being written this instant
            raise RunError(f"{out} has a lock {file} that cannot be read; if no process writes the run, remove it")
        _set_aside(file, lock)
    raise RunError(f"could not take the lock {file}")


def acquire_all(dirs: Sequence[Path]) -> list[Path]:
    """Take the lock of every run directory in ``dirs`` or of none; return those taken here
    (a lock this process held already is not counted: whoever took it releases it).

    Raises:
        RunError: a live process holds one of the locks (named); those taken are released first.

    Examples:
        >>> import tempfile
        >>> a, b = Path(tempfile.mkdtemp()), Path(tempfile.mkdtemp())
        >>> acquire_all([a, b]) == [a, b], acquire_all([a]) == []
        (True, True)
        >>> release(a); release(b)
    """
    taken: list[Path] = []
    try:
        for d in dirs:
            held = held_here(holder(d))
            acquire(d)
            if not held:
                taken.append(d)
    except BaseException:
        for d in taken:
            release(d)
        raise
    return taken


def _place(file: Path) -> bool:
    """Put this process's lock at ``file`` in one step, complete (``False``: a lock is there)."""
    tmp = file.with_name(f"{file.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(_me()))
    try:
        os.link(tmp, file)  # atomic, and never replaces
        return True
    except FileExistsError:
        return False
    except OSError:  # a file system without hard links: create exclusively, then write
        try:
            fd = os.open(file, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as f:
            f.write(tmp.read_text())
        return True
    finally:
        tmp.unlink(missing_ok=True)


def _age(file: Path) -> float:
    try:
        return time.time() - file.stat().st_mtime
    except OSError:
        return float("inf")


def _set_aside(file: Path, stale: dict[str, Any] | None) -> None:
    """Move the stale lock ``stale`` away from ``file``; a lock that replaced it meanwhile goes back.

    Two processes that both judged the same lock stale rename it in turn: the first moves the stale
    lock, the second finds it gone (or moves the first's fresh lock, sees that it is not the stale
    one, and links it back).
    """
    aside = file.with_name(f"{file.name}.{os.getpid()}.stale")
    try:
        os.rename(file, aside)
    except FileNotFoundError:
        return
    if _read_lock(aside) != stale:
        with contextlib.suppress(OSError):
            os.link(aside, file)
    aside.unlink(missing_ok=True)


def _read_lock(file: Path) -> dict[str, Any] | None:
    """The lock in ``file`` (``None``: absent or unreadable)."""
    try:
        return json.loads(file.read_text())
    except (OSError, ValueError):
        return None


def release(out: str | Path) -> None:
    """Remove this process's lock from ``out`` (a lock of another process is left alone).

    Examples:
        >>> import tempfile
        >>> out = tempfile.mkdtemp()
        >>> acquire(out); release(out); holder(out) is None
        True
    """
    if held_here(holder(out)):
        (Path(out) / LOCK).unlink(missing_ok=True)
