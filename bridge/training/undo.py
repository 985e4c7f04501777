"""A refused resume changes no file: every lock is taken first, and what opening changes is put back.

Opening a run to resume it (:meth:`~bridge.training.writer.RunWriter.open`) rewrites
``run.json`` (status ``running``, the checksum record dropped), cuts ``metrics.csv`` back to
the checkpoint it resumes from and deletes later checkpoints and leftover temporary files; a
stacked sweep then opens every seed and loads their optimizer states into one. When any of
this raises (a seed locked by a live process, a damaged file, seeds that cannot be stacked)
the resume is refused and, as ``docs/run-directories.md`` promises, no file has changed:
:func:`refusable` takes the lock of every run before opening any, keeps every run's files
(hard links, and a copy of ``metrics.csv``, which is cut in place) in ``RUN/.kept`` while
they are opened, puts them back on failure and releases the locks it took.

Examples:
    >>> import tempfile; from bridge.runs.lock import holder
    >>> out = Path(tempfile.mkdtemp()); _ = (out / "run.json").write_text("{}")
    >>> kept = Kept(out); (out / "run.json").unlink(); _ = (out / "new.txt").write_text("x")
    >>> kept.restore(); sorted(p.name for p in out.iterdir())
    ['run.json']
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from bridge.runs.lock import LOCK, acquire_all, held_here, holder, release

KEPT = ".kept"
CUT_IN_PLACE = {Path("metrics.csv")}  # truncated through the same inode: copied, not linked


class Kept:
    """The files of run directory ``out`` as they are now, kept in ``out/.kept`` until :meth:`restore` or :meth:`discard`.

    Made while holding ``out``'s lock (only the lock's holder changes the directory, so a
    ``.kept`` found here is a dead writer's and is removed). Files are kept as hard links
    (copies where the file system has none), ``metrics.csv`` as a copy.

    Examples:
        >>> import tempfile; out = Path(tempfile.mkdtemp()); _ = (out / "metrics.csv").write_text("step,observable,value\\n")
        >>> kept = Kept(out); sorted(map(str, kept.files)), (out / KEPT).is_dir()
        (['metrics.csv'], True)
        >>> kept.discard(); sorted(p.name for p in out.iterdir())  # the run's files as they are now, no copy left
        ['metrics.csv']
    """

    def __init__(self, out: Path) -> None:
        self.out, self.folder = Path(out), Path(out) / KEPT
        self.files: set[Path] = set()
        self.dirs: set[Path] = set()
        shutil.rmtree(self.folder, ignore_errors=True)
        try:
            for path in self._entries():
                rel = path.relative_to(self.out)
                if path.is_dir() and not path.is_symlink():
                    self.dirs.add(rel)
                    continue
                copy = self.folder / rel
                copy.parent.mkdir(parents=True, exist_ok=True)
                if rel in CUT_IN_PLACE or path.is_symlink():
                    shutil.copy2(path, copy, follow_symlinks=False)
                else:
                    try:
                        os.link(path, copy)
                    except OSError:
                        shutil.copy2(path, copy)
                self.files.add(rel)
        except BaseException:
            self.discard()
            raise

    def _entries(self) -> list[Path]:
        """Every file and folder under ``out`` but the lock, the kept copy and the runs nested in it
        (a case study's ``runs/<key>`` and staged ``.main``, which other writers may be writing), deepest last."""
        if not self.out.is_dir():
            return []
        found: list[Path] = []
        for root, dirs, names in os.walk(self.out):
            here = Path(root)
            dirs[:] = [d for d in dirs if here / d != self.folder and not (here / d / "run.json").exists() and not (here / d / LOCK).exists()]
            found += [here / d for d in dirs]
            found += [here / n for n in names if here / n != self.out / LOCK]
        return sorted(found)

    def restore(self) -> None:
        """Put every kept file back and remove what was made since (the lock aside), then drop the copy."""
        try:
            for rel in sorted(self.files):
                target = self.out / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(self.folder / rel, target)
            for path in reversed(self._entries()):  # deepest first
                rel = path.relative_to(self.out)
                if rel in self.files or rel in self.dirs:
                    continue
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
        finally:
            self.discard()

    def discard(self) -> None:
        """Drop the kept copy (the run's files stay as they are now)."""
        shutil.rmtree(self.folder, ignore_errors=True)


@contextmanager
def refusable(writers: Sequence[Any], resume: bool) -> Iterator[None]:
    """Open ``writers`` (and whatever follows, up to training) inside this block; if it raises, no file has changed.

    Resuming, every run's lock is taken and its files kept before the block; on failure its
    loggers are closed, its files put back and the locks taken here released. A new run that
    this process created is recorded as failed (and its lock released), as a run failing
    later is; a directory another writer created is left alone.

    Examples:
        >>> import tempfile; from types import SimpleNamespace
        >>> out = Path(tempfile.mkdtemp()); _ = (out / "metrics.csv").write_text("step,observable,value\\n0,loss/train,1.0\\n")
        >>> try:
        ...     with refusable([SimpleNamespace(out=out, loggers=[])], resume=True):
        ...         _ = (out / "metrics.csv").write_text("cut"); raise ValueError("seeds cannot be stacked")
        ... except ValueError as e:
        ...     print(e)
        seeds cannot be stacked
        >>> (out / "metrics.csv").read_text().splitlines(), holder(out)  # the file as it was, the lock released
        (['step,observable,value', '0,loss/train,1.0'], None)
    """
    taken = acquire_all([w.out for w in writers]) if resume else []
    kept: list[Kept] = []
    try:
        for w in writers if resume else ():
            kept.append(Kept(w.out))
        yield
    except BaseException as e:
        try:
            for w in writers:
                if resume:  # opened or not: closing is the loggers' cleanup
                    for logger in w.loggers:
                        with suppress(Exception):
                            logger.close()
                elif held_here(holder(w.out)):  # created here: failed like a run that fails training
                    w.fail(e)
            for k in kept:
                k.restore()
        finally:
            for d in taken:
                release(d)
        raise
    for k in kept:
        k.discard()
