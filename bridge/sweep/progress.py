"""A sweep's progress over its points, and a failed point's error in one line."""

from __future__ import annotations

import sys
import time
from typing import Any

from bridge.sweep.backends import Job
from bridge.sweep.point import FAILED


def first_line(text: str | None) -> str:
    """The first non-empty line of ``text`` (``""`` for none): a failed point's error in one line.

    Examples:
        >>> first_line("\\n  ConfigError: lr must be positive\\nTraceback ..."), first_line(None)
        ('ConfigError: lr must be positive', '')
    """
    return next((line.strip() for line in (text or "").splitlines() if line.strip()), "")


class PointProgress:
    """Progress over points (:func:`bridge.progress.progress_bar`): a bar naming the point under way on a terminal or
    in a notebook, one plain line per finished point in a log, nothing with ``progress=False``.

    Examples:
        >>> bar = PointProgress(total=2, done=0, progress=False)
        >>> bar.update({"key": "train.lr=0.1", "status": "done"}); bar.n, bar.total
        (1, 2)
    """

    def __init__(self, total: int, done: int, progress: bool | None) -> None:
        from bridge.progress import PlainProgress, progress_bar

        self.total, self.n, self.t0 = total, done, time.monotonic()
        bar = progress_bar(None, "sweep", progress, total=total, initial=done, unit="point", mininterval=0)
        self.plain = isinstance(bar, PlainProgress)
        self.silent = not self.plain and bool(bar.disable)
        self.bar = None if self.plain or self.silent else bar
        self.points_progress = progress if self.bar is not None else False  # a point's own bars, under this one

    def start(self, job: Job) -> None:
        if self.bar is not None:
            self.bar.set_postfix(refresh=True, now=job.key)

    def update(self, outcome: dict[str, Any]) -> None:
        self.n += 1
        if self.bar is not None:
            self.bar.update(1)
            if outcome["status"] == FAILED:
                self.bar.write(f"point {outcome['key']} failed: {first_line(outcome.get('error'))}")
        elif not self.silent:
            what = outcome["status"] if outcome["status"] != FAILED else f"failed ({first_line(outcome.get('error'))})"
            print(f"sweep: {self.n}/{self.total} points, elapsed {time.monotonic() - self.t0:.0f} s: {outcome['key']} {what}", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
