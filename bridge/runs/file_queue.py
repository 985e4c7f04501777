"""File operations prepared in one thread and applied in another: :class:`FileBatch` holds
the bytes and the order, :class:`FileQueue` applies batches in a background thread, so a
training loop hands a checkpoint's files over and goes on training while they are written.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import bridge.runs.storage as storage  # through the module: every write of the run store has one seam


class FileBatch:
    """File operations applied in the order they were added, by :meth:`apply`.

    A batch holds bytes, never live tensors or tables, so it may be prepared in one thread
    and applied in another (:class:`FileQueue`) while the first goes on changing its state.
    Each write is atomic (:func:`~bridge.runs.storage.atomic_write_bytes`); ``then`` runs a function once every
    operation before it has been applied.

    Examples:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> batch = FileBatch()
        >>> batch.write(folder / "a.txt", b"one"); batch.append(folder / "log.csv", b"x\\n"); batch.remove(folder / "old")
        >>> batch.apply(); sorted(p.name for p in folder.iterdir())
        ['a.txt', 'log.csv']
    """

    def __init__(self) -> None:
        self.ops: list[tuple[str, Any, Any]] = []

    def write(self, path: str | Path, data: bytes) -> None:
        """Write ``data`` to ``path`` atomically."""
        self.ops.append(("write", path, data))

    def append(self, path: str | Path, data: bytes) -> None:
        """Append ``data`` to ``path`` (created when missing)."""
        self.ops.append(("append", path, data))

    def remove(self, path: str | Path) -> None:
        """Delete ``path`` if it exists."""
        self.ops.append(("remove", path, None))

    def then(self, fn: Callable[[], None]) -> None:
        """Call ``fn`` after the operations added so far."""
        self.ops.append(("then", fn, None))

    def apply(self) -> None:
        """Apply the operations in order; the first error stops the batch and propagates."""
        for kind, target, data in self.ops:
            if kind == "write":
                storage.atomic_write_bytes(target, data)
            elif kind == "append":
                storage.append_bytes(target, data)
            elif kind == "remove":
                try:
                    os.unlink(target)
                except FileNotFoundError:
                    pass
            else:
                target()


class FileQueue:
    """Applies :class:`FileBatch` es in a background thread, in the order they were submitted.

    The thread only makes file-system calls on bytes already prepared, so it holds the
    interpreter lock for little of its time while the submitting thread computes. After a
    batch fails, later batches are dropped (applying them would put files on disk out of
    order), and :meth:`wait` and the next :meth:`submit` raise the error. With a ``limit``, :meth:`submit` waits while that
    many batches are pending, so the bytes held in memory stay bounded.

    Examples:
        >>> import tempfile
        >>> folder, files = Path(tempfile.mkdtemp()), FileQueue(limit=2)
        >>> for i in range(3):
        ...     batch = FileBatch(); batch.append(folder / "log", f"{i}".encode()); files.submit(batch)
        >>> files.close(); (folder / "log").read_text()
        '012'
    """

    def __init__(self, limit: int | None = None) -> None:
        self.limit = limit  # submit waits while this many batches are pending (memory stays bounded)
        self._batches: queue.SimpleQueue[FileBatch | None] = queue.SimpleQueue()
        self._settled = threading.Condition()
        self._submitted = self._applied = 0
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None  # started by the first batch
        self._held: FileBatch | None = None

    @contextlib.contextmanager
    def together(self) -> Iterator[None]:
        """Submit the batches of the block as one when it ends (the thread wakes once for all of them)."""
        held, self._held = self._held, FileBatch()
        try:
            yield
        finally:
            batch, self._held = self._held, held
            if batch.ops:
                self.submit(batch)

    def submit(self, batch: FileBatch) -> None:
        """Queue ``batch`` to be applied after every batch submitted before it.

        Raises:
            BaseException: an earlier batch failed (its error; ``batch`` is not queued). With a
                ``limit``, that is at most ``limit`` batches after the failed one.
        """
        if self._held is not None:
            self._held.ops += batch.ops
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="mechbridge-files", daemon=True)
            self._thread.start()
        with self._settled:
            limit = self.limit
            if limit is not None:
                self._settled.wait_for(lambda: self._submitted - self._applied < limit)
            if self._error is not None:
                raise self._error
            self._submitted += 1
        self._batches.put(batch)

    def wait(self, quiet: bool = False) -> None:
        """Block until every submitted batch is applied (or dropped); raise the first error unless ``quiet``."""
        with self._settled:
            self._settled.wait_for(lambda: self._applied == self._submitted)
            if self._error is not None and not quiet:
                raise self._error

    def close(self) -> None:
        """Apply what is queued, then stop the thread (errors are left to :meth:`wait`)."""
        if self._thread is not None:
            self._batches.put(None)
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        while (batch := self._batches.get()) is not None:
            try:
                if self._error is None:
                    batch.apply()
            except BaseException as e:  # reported by wait, in the submitting thread
                self._error = e
            finally:
                with self._settled:
                    self._applied += 1
                    self._settled.notify_all()


__all__ = ["FileBatch", "FileQueue"]
