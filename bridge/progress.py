"""Progress for long work: a bar on a terminal or in a notebook, plain periodic lines in logs.

``progress=None`` (the default everywhere) chooses by where the output goes: a
bar on a terminal, a notebook bar inside Jupyter, and otherwise (a log file, CI,
a pipe) one plain line every ``PLAIN_INTERVAL`` seconds with the count, the
elapsed time and an estimate of what remains. ``False`` is silent, ``True``
forces a bar.
"""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Iterable, Iterator, Sequence, Sized
from contextvars import ContextVar
from typing import Any, Generic, TextIO, TypeVar

T = TypeVar("T")
PLAIN_INTERVAL = 30.0
_SETTING: ContextVar[bool | None] = ContextVar("progress", default=None)


class PlainProgress(Generic[T]):
    """An iterable that writes ``desc: n/total (p%), elapsed, about r left[, postfix]`` lines now and then.

    Examples:
        >>> import io
        >>> out = io.StringIO()
        >>> list(PlainProgress(range(3), "train", interval=0.0, file=out))
        [0, 1, 2]
        >>> out.getvalue().splitlines()[2].startswith("train: 3/3 (100%), elapsed 0 s")
        True
    """

    def __init__(self, iterable: Iterable[T] | None, desc: str, *, total: int | None = None, initial: int = 0, interval: float | None = None, file: TextIO | None = None) -> None:
        self.iterable, self.desc, self.file = iterable, desc, file
        self.interval = PLAIN_INTERVAL if interval is None else interval
        self.total = total if total is not None else (len(iterable) if isinstance(iterable, Sized) else None)
        self.n = self.start_n = initial
        self.postfix = ""
        self.printed = False
        self.t0 = self.last = time.monotonic()

    def __iter__(self) -> Iterator[T]:
        if self.iterable is None:
            raise TypeError(f"{self.desc}: progress made over no iterable (progress_bar(None, ...)) has nothing to iterate")
        for item in self.iterable:
            yield item
            self.n += 1
            now = time.monotonic()
            if now - self.last >= self.interval:
                self.last = now
                self._line(now)
        if self.printed and self.last != time.monotonic():  # a long job ends with a last line
            self._line(time.monotonic())

    def set_postfix(self, refresh: bool = False, **values: Any) -> None:
        """Values to append to the next line (``loss=0.12``)."""
        self.postfix = ", ".join(f"{k} {v}" for k, v in values.items())

    def close(self) -> None:
        """Nothing to clean up (the same interface as a tqdm bar)."""

    def _line(self, now: float) -> None:
        self.printed = True
        elapsed, done = now - self.t0, self.n - self.start_n
        parts = [f"{self.desc}: {self.n}" + (f"/{self.total} ({100 * self.n / self.total:.0f}%)" if self.total else "")]
        parts.append(f"elapsed {elapsed:.0f} s")
        if self.total and done:
            parts.append(f"about {elapsed / done * (self.total - self.n):.0f} s left")
        if self.postfix:
            parts.append(self.postfix)
        print(", ".join(parts), file=self.file or sys.stderr, flush=True)


def _in_notebook() -> bool:
    shell = sys.modules.get("IPython")
    ip = getattr(shell, "get_ipython", lambda: None)() if shell else None
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell"


def progress_bar(iterable: Iterable[T] | None, desc: str, progress: bool | None = None, **kwargs: Any) -> Any:
    """Progress over ``iterable``: a bar, plain lines, or nothing (see the module docstring).

    Args:
        iterable: what to iterate; ``None`` for a count its caller keeps (a bar's ``update``; with plain
            lines, the :class:`PlainProgress` tells the caller to write its own).
        desc: a short label.
        progress: ``None`` chooses by the output; ``True`` a bar; ``False`` nothing.
        **kwargs: ``total`` and ``initial`` (a resumed count), passed on.

    Examples:
        >>> [step for step in progress_bar(range(3), "steps", progress=False)]
        [0, 1, 2]
    """
    if progress is not None and not isinstance(progress, bool):
        raise ValueError(f"progress must be True, False or None, got {progress!r}")
    if progress is False:
        from tqdm import tqdm

        return tqdm(iterable, desc=desc, disable=True, **kwargs)
    if progress is None and _in_notebook():
        from tqdm.auto import tqdm as notebook_tqdm

        return notebook_tqdm(iterable, desc=desc, leave=False, **kwargs)
    if progress is None and not sys.stderr.isatty():
        return PlainProgress(iterable, desc, total=kwargs.get("total"), initial=kwargs.get("initial", 0))
    return _bar_class()(iterable, desc=desc, leave=False, **kwargs)


def phases(names: Sequence[str], desc: str, progress: bool | None = None) -> Iterator[str]:
    """Progress over the named phases of one piece of work: the bar (or line) names the phase under way.

    ``names``: ``(n,)`` phase names, yielded in order; ``desc`` and ``progress`` as for :func:`progress_bar`.
    Work done inside a phase reads the caller's setting with :func:`inherited_progress`.

    Examples:
        >>> list(phases(["analyse", "figures"], "report", progress=False))
        ['analyse', 'figures']
    """
    bar = progress_bar(names, desc, progress, mininterval=0)  # the count drawn with each phase's name
    token = _SETTING.set(progress)
    try:
        for name in bar:
            bar.set_postfix(refresh=True, now=name)
            yield name
    finally:
        bar.close()
        try:
            _SETTING.reset(token)
        except ValueError:  # closed from another context: that context never saw the setting
            pass


def inherited_progress() -> bool | None:
    """The ``progress`` setting of the :func:`phases` under way (``None``, the usual rule, outside any).

    Work that cannot be handed a ``progress`` argument (a case study's ``analyse``) passes this to
    :func:`progress_bar`, so that ``--quiet`` and ``progress=False`` keep it silent.

    Examples:
        >>> inherited_progress() is None
        True
        >>> [inherited_progress() for _ in phases(["analyse"], "report", progress=False)]
        [False]
    """
    return _SETTING.get()


def _bar_class() -> type:
    """A tqdm bar that prints the warnings raised while it is drawn above it (``tqdm.write``), never into it."""
    from tqdm import tqdm

    class Bar(tqdm):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._shown = warnings.showwarning
            if not self.disable:
                warnings.showwarning = self._show

        def _show(self, message: Any, category: type, filename: str, lineno: int, file: Any = None, line: str | None = None) -> None:
            if file is not None and file is not sys.stderr:
                return self._shown(message, category, filename, lineno, file, line)
            tqdm.write(warnings.formatwarning(message, category, filename, lineno, line).rstrip("\n"), file=sys.stderr)

        def close(self) -> None:
            if getattr(warnings, "showwarning", None) == getattr(self, "_show", None):
                warnings.showwarning = self._shown
            super().close()

    return Bar


__all__ = ["PLAIN_INTERVAL", "PlainProgress", "inherited_progress", "phases", "progress_bar"]
