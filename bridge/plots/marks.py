"""What a panel shows when its data show little: a note in the panel for nothing (finite) to draw, a dot for a
point a line cannot show, a legend only when something carries a label. Every figure function uses these.

Examples:
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from bridge.plots import new_figure
    >>> fig, ax = new_figure()
    >>> note_if_nothing_finite(ax, [([0, 1], [float("nan"), float("nan")])]), [t.get_text() for t in ax.texts]
    (True, ['no finite value to draw'])
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray


def note(ax: Any, text: str, **kwargs: Any) -> Any:
    """A short grey note in the middle of the panel, for a figure with nothing (or less than asked) to show;
    ``kwargs`` go to ``ax.text`` (``gid``, ``bbox``).

    Examples:
        >>> import matplotlib.pyplot as plt; fig, ax = plt.subplots()
        >>> text = note(ax, "no curve to draw", gid="empty"); text.get_text(), text.get_position(), text.get_gid()
        ('no curve to draw', (0.5, 0.5), 'empty')
        >>> plt.close(fig)
    """
    return ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize=8, color="0.3", **kwargs)


def note_if_nothing_finite(ax: Any, curves: Iterable[tuple[Any, Any]]) -> bool:
    """Note "no curve to draw" (no curve given) or "no finite value to draw" (no curve holds a point whose x and y
    are both finite, as a diverged run's) in the panel; return whether it did.

    Args:
        curves: ``(x, y)`` pairs, each ``(n,)``.

    Examples:
        >>> import matplotlib.pyplot as plt; fig, ax = plt.subplots()
        >>> note_if_nothing_finite(ax, [([0, 1], [1.0, float("nan")])]), note_if_nothing_finite(ax, []), [t.get_text() for t in ax.texts]
        (False, True, ['no curve to draw'])
        >>> plt.close(fig)
    """
    pairs = [(np.asarray(x, dtype=float), np.asarray(y, dtype=float)) for x, y in curves]
    if any((np.isfinite(x) & np.isfinite(y)).any() for x, y in pairs):
        return False
    note(ax, "no finite value to draw" if pairs else "no curve to draw")
    return True


def note_left_out(ax: Any, counts: Mapping[str, int], how: str = "not drawn") -> bool:
    """Say in the panel's top-left corner how many values of each kind it leaves out (an infinite bar has no top,
    an infinite mean no place), ``"1 non-finite norm not drawn"``; kinds counted 0 are not named. Return whether it said anything.

    Args:
        counts: what was left out (singular) → how many.
        how: what became of them.

    Examples:
        >>> import matplotlib.pyplot as plt; fig, ax = plt.subplots()
        >>> note_left_out(ax, {"non-finite estimate": 2, "non-finite spread": 0}), note_left_out(ax, {"non-finite norm": 0}), [t.get_text() for t in ax.texts]
        (True, False, ['2 non-finite estimates not drawn'])
        >>> plt.close(fig)
    """
    said = [f"{k} {what}{'s' * (k > 1)}" for what, k in counts.items() if k]
    if said:
        ax.text(0.01, 0.99, f"{', '.join(said)} {how}", transform=ax.transAxes, ha="left", va="top", fontsize=7, color="0.3")
    return bool(said)


def finite_bars(values: Any, spreads: Any) -> NDArray[np.float64]:
    """Error-bar half-widths ``(n,)`` for ``values ± spreads`` (each ``(n,)``): the spread where it and its value are
    finite, NaN (no bar) elsewhere. An infinite bar has no end, and ``inf − inf`` warned "invalid value" in numpy.

    Examples:
        >>> finite_bars([1.0, float("inf"), 2.0], [0.5, 0.5, float("inf")]).tolist()
        [0.5, nan, nan]
    """
    values, spreads = np.asarray(values, dtype=float), np.asarray(spreads, dtype=float)
    return np.where(np.isfinite(values) & np.isfinite(spreads), spreads, np.nan)


def legend_if_any(ax: Any, **kwargs: Any) -> bool:
    """Draw ``ax``'s legend (``kwargs`` to ``ax.legend``) if anything drawn carries a label, or of ``handles`` when
    given, if there are any; return whether it did.

    Examples:
        >>> import matplotlib.pyplot as plt; fig, ax = plt.subplots(); _ = ax.plot([0, 1], [1, 0])
        >>> legend_if_any(ax), legend_if_any(ax, handles=[]), ax.get_legend()
        (False, False, None)
        >>> _ = ax.plot([0, 1], [0, 1], label="loss/train"); legend_if_any(ax, fontsize=7), [t.get_text() for t in ax.get_legend().get_texts()]
        (True, ['loss/train'])
        >>> plt.close(fig)
    """
    if not (kwargs["handles"] if "handles" in kwargs else ax.get_legend_handles_labels()[0]):
        return False
    ax.legend(**kwargs)
    return True


def mark_lone_points(line: Any, x: Any, y: Any) -> None:
    """Give ``line`` a dot at each finite point whose neighbours are not finite: a line alone draws nothing there.

    Args:
        line: a ``Line2D`` drawn from ``x`` and ``y``, each ``(n,)``.

    Examples:
        >>> import matplotlib.pyplot as plt; fig, ax = plt.subplots(); x, y = [0, 1, 2], [float("nan"), 1.0, float("nan")]
        >>> (line,) = ax.plot(x, y); mark_lone_points(line, x, y); line.get_marker(), line.get_markevery()
        ('o', [1])
        >>> plt.close(fig)
    """
    ok = np.isfinite(np.asarray(x, dtype=float)) & np.isfinite(np.asarray(y, dtype=float))
    before, after = np.r_[False, ok[:-1]], np.r_[ok[1:], False]
    lone = np.flatnonzero(ok & ~before & ~after)
    if lone.size:
        line.set_marker("o")
        line.set_markersize(3)
        line.set_markevery(lone.tolist())
