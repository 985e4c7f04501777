"""Progress bars that show on a terminal and stay quiet in logs, CI and notebooks' captured output."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any, TypeVar

from tqdm import tqdm

T = TypeVar("T")


def progress_bar(iterable: Iterable[T], desc: str, progress: bool | None = None, **kwargs: Any) -> tqdm:
    """``tqdm(iterable)`` shown when ``progress`` is true, or on a terminal when it is ``None``.

    Examples:
        >>> [step for step in progress_bar(range(3), "steps", progress=False)]
        [0, 1, 2]
    """
    show = sys.stderr.isatty() if progress is None else progress
    return tqdm(iterable, desc=desc, disable=not show, leave=False, **kwargs)


__all__ = ["progress_bar"]
