"""Figures of attention heads over training: score heat maps and attention patterns.

Pure functions of data that draw on a given ``ax`` and return it.

Examples:
    >>> import numpy as np
    >>> from bridge.plots import new_figure
    >>> fig, ax = new_figure()
    >>> ax = plot_head_heatmap(ax, [0, 10, 20], ["L0H0", "L1H0"], np.array([[0.1, 0.2, 0.3], [0.1, 0.5, 0.9]]))
    >>> len(ax.images)
    1
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from jaxtyping import Float
from numpy.typing import ArrayLike

from bridge.plots.checks import require_axes, series
from bridge.plots.marks import note


def plot_head_heatmap(
    ax: Any,
    steps: ArrayLike,
    heads: Sequence[str],
    values: Float[np.ndarray, "head step"],
    *,
    title: str = "",
    vmin: float = 0.0,
    vmax: float = 1.0,
    cmap: str = "magma",
    marks: Sequence[tuple[float, str]] = (),
) -> Any:
    """Heads (rows) × checkpoints (columns) heat map; columns are checkpoints, labelled by step.

    Args:
        steps: ``(step,)`` checkpoint steps (columns, evenly drawn).
        heads: row labels.
        values: ``(head, step)`` scores.
        marks: ``(step, label)`` vertical markers, placed at the nearest column.

    Examples:
        >>> from bridge.plots import new_figure
        >>> fig, ax = new_figure()
        >>> ax = plot_head_heatmap(ax, [0, 10, 20], ["L0H0", "L1H0"], np.array([[0.1, 0.2, 0.3], [0.1, 0.5, 0.9]]), marks=[(12, "drop")])
        >>> ax.images[0].get_array().shape, ax.lines[0].get_xdata(), [t.get_text() for t in ax.get_xticklabels()]   # step 12 → column 1
        ((2, 3), [1, 1], ['0', '10', '20'])
    """
    require_axes(ax)
    columns = series("steps", steps)
    values = np.asarray(values, dtype=float)
    if values.shape != (len(heads), len(columns)):
        raise ValueError(f"values must be (heads, steps) = ({len(heads)}, {len(columns)}), got {values.shape}")
    ax.set_title(title, fontsize=9)
    if not values.size:  # an image of no cell cannot be drawn
        note(ax, f"no {'checkpoint' if not len(columns) else 'head'} to draw")
        return ax
    image = ax.imshow(values, aspect="auto", cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_yticks(range(len(heads)))
    ax.set_yticklabels(heads, fontsize=7)
    ticks = np.unique(np.linspace(0, len(columns) - 1, min(len(columns), 9)).round().astype(int))
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{columns[i]:g}" for i in ticks], fontsize=7)
    ax.set_xlabel("checkpoint step")
    for step, label in marks:
        col = int(np.argmin(np.abs(columns - step)))
        ax.axvline(col, color="cyan", lw=1, ls="--")
        if label:
            ax.text(col + 0.3, len(heads) - 0.7, label, color="cyan", fontsize=7, ha="left", va="bottom")
    ax.figure.colorbar(image, ax=ax, shrink=0.8)
    return ax


def plot_attention(ax: Any, pattern: Float[np.ndarray, "query key"], tokens: Sequence[int] | None = None, *, title: str = "", boundaries: Sequence[int] = ()) -> Any:
    """One head's attention pattern on one sequence (queries down, keys across).

    Args:
        pattern: ``(query, key)`` probabilities; an empty one (no position) is a panel that says so.
        tokens: the sequence, used as tick labels when short enough.
        boundaries: positions where a repeated block starts (drawn as lines).

    Examples:
        >>> from bridge.plots import new_figure
        >>> fig, ax = new_figure()
        >>> pattern = np.tril(np.ones((4, 4))) / np.arange(1, 5)[:, None]   # uniform causal attention
        >>> ax = plot_attention(ax, pattern, [5, 6, 5, 6], boundaries=[2])
        >>> ax.images[0].get_array().sum(axis=1).tolist(), len(ax.lines), [t.get_text() for t in ax.get_xticklabels()]
        ([1.0, 1.0, 1.0, 1.0], 2, ['5', '6', '5', '6'])
    """
    require_axes(ax)
    pattern = np.asarray(pattern, dtype=float)
    if pattern.ndim != 2 or pattern.shape[0] != pattern.shape[1]:
        raise ValueError(f"pattern must be square (query, key), got {pattern.shape}")
    if tokens is not None and len(tokens) != pattern.shape[0]:
        raise ValueError(f"tokens must hold one token per position ({pattern.shape[0]}), got {len(tokens)}")
    if pattern.size == 0:  # imshow warned "identical low and high lims" on both axes
        ax.set_xlabel("key (token)")
        ax.set_ylabel("query (token)")
        ax.set_title(title, fontsize=8)
        note(ax, "no position to draw")
        return ax
    image = ax.imshow(pattern, cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest")
    for b in boundaries:
        ax.axvline(b - 0.5, color="tab:red", lw=0.6)
        ax.axhline(b - 0.5, color="tab:red", lw=0.6)
    if tokens is not None and len(tokens) <= 40:
        ax.set_xticks(range(len(tokens)))
        ax.set_xticklabels([str(t) for t in tokens], fontsize=4, rotation=90)
        ax.set_yticks(range(len(tokens)))
        ax.set_yticklabels([str(t) for t in tokens], fontsize=4)
    ax.set_xlabel("key (token)")
    ax.set_ylabel("query (token)")
    ax.set_title(title, fontsize=8)
    ax.figure.colorbar(image, ax=ax, shrink=0.7, label="attention probability")
    return ax


__all__ = ["plot_attention", "plot_head_heatmap"]
