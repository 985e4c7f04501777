"""Figures of width scaling: the coordinate check, loss against learning rate per width, similarity against width.

Examples:
    >>> from bridge.plots.base import new_figure
    >>> fig, ax = new_figure()
    >>> ax = plot_coordinate_check(ax, [64, 128, 256], {"input": [1.0, 1.0, 1.0], "output": [0.5, 1.0, 2.0]})
    >>> len(ax.lines)
    2
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from bridge.plots.base import set_log_scale
from bridge.plots.checks import require_axes, require_mapping, series


def plot_coordinate_check(
    ax: Any,
    widths: ArrayLike,
    curves: Mapping[str, ArrayLike],
    *,
    slopes: Mapping[str, float] | None = None,
    predicted: Mapping[str, float] | None = None,
    title: str = "",
    ylabel: str = "RMS Δh",
) -> Any:
    """One line per layer: a layer's size (``ylabel``) against width on log-log axes.

    ``slopes`` and ``predicted`` (layer → exponent) are written into the legend.

    Args:
        widths: ``(widths,)``; curves: layer → its value at each width, ``(widths,)``.

    Examples:
        >>> from bridge.plots.base import new_figure
        >>> fig, ax = new_figure()
        >>> ax = plot_coordinate_check(ax, [64, 128, 256], {"input": [1.0, 1.0, 1.0], "output": [0.5, 1.0, 2.0]}, slopes={"input": 0.0, "output": 1.0}, predicted={"input": 0.0})
        >>> [t.get_text() for t in ax.get_legend().get_texts()], ax.get_xscale(), ax.get_yscale()
        (['input (slope +0.00, theory +0.00)', 'output (slope +1.00)'], 'log', 'log')
    """
    require_axes(ax)
    _per_width("widths", widths, "curves", curves, "width")
    for i, (layer, values) in enumerate(curves.items()):
        label = layer
        if slopes is not None and layer in slopes:
            label += f" (slope {slopes[layer]:+.2f}"
            label += f", theory {predicted[layer]:+.2f})" if predicted is not None and layer in predicted else ")"
        ax.plot(widths, values, marker="o", lw=1.6, color=f"C{i % 10}", label=label)
    return _log_axes(ax, "width", ylabel, title)


def plot_loss_vs_lr(ax: Any, lrs: ArrayLike, losses: Mapping[int, ArrayLike], *, title: str = "", ylabel: str = "final training loss") -> Any:
    """One curve per width: loss against learning rate (log-log), each curve's best rate marked.

    Non-finite losses (diverged runs) are left out of a curve.

    Examples:
        >>> from bridge.plots.base import new_figure
        >>> fig, ax = new_figure()
        >>> ax = plot_loss_vs_lr(ax, [0.1, 0.2, 0.4], {32: [1.0, 0.5, 0.8], 64: [0.9, 0.4, float("inf")]})
        >>> len(ax.lines)
        4
    """
    require_axes(ax)
    rates = _per_width("lrs", lrs, "losses", losses, "learning rate")
    for i, (width, values) in enumerate(losses.items()):
        loss = np.asarray(values, dtype=float)
        ok = np.isfinite(loss)
        colour = f"C{i % 10}"
        ax.plot(rates[ok], loss[ok], marker=".", lw=1.4, color=colour, label=f"width {width}")
        if ok.any():
            best = int(np.nanargmin(np.where(ok, loss, np.nan)))
            ax.plot([rates[best]], [loss[best]], marker="*", ms=11, color=colour, ls="none")
    return _log_axes(ax, "learning rate", ylabel, title)


def _per_width(xname: str, x: ArrayLike, name: str, curves: Mapping[Any, ArrayLike], of: str) -> NDArray[np.float64]:
    """``x`` as a float array, once each curve of ``curves`` is checked to hold one value per entry of it."""
    require_mapping(name, curves)
    checked = series(xname, x)
    for label, values in curves.items():
        series(f"{name}[{label!r}]", values, len(checked), of=of)
    return checked


def _log_axes(ax: Any, xlabel: str, ylabel: str, title: str) -> Any:
    """Log₂ x, log y (each only if it has a finite positive value), labels, title and a small legend: how both width and learning-rate panels end."""
    set_log_scale(ax, "x", base=2)
    set_log_scale(ax, "y")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend(fontsize=7)
    return ax


def plot_similarity_vs_width(ax: Any, widths: ArrayLike, curves: Mapping[str, ArrayLike], *, reference: int | None = None, ylabel: str = "linear CKA") -> Any:
    """One line per label: similarity to the widest model against width (log x), ``curves``: label → ``(widths,)``.

    Examples:
        >>> from bridge.plots.base import new_figure
        >>> fig, ax = new_figure()
        >>> ax = plot_similarity_vs_width(ax, [64, 128, 256], {"layer 1": [0.8, 0.9, 1.0]}, reference=256)
        >>> len(ax.lines), ax.get_ylabel(), ax.get_xscale()   # the curve and the dotted 1
        (2, 'linear CKA with width 256', 'log')
    """
    require_axes(ax)
    _per_width("widths", widths, "curves", curves, "width")
    for i, (label, values) in enumerate(curves.items()):
        ax.plot(widths, values, marker="o", lw=1.6, color=f"C{i % 10}", label=label)
    set_log_scale(ax, "x", base=2)
    ax.set_xlabel("width")
    ax.set_ylabel(ylabel + (f" with width {reference}" if reference else ""))
    ax.axhline(1.0, color="k", lw=0.8, ls=":")
    ax.legend(fontsize=7)
    return ax


__all__ = ["plot_coordinate_check", "plot_loss_vs_lr", "plot_similarity_vs_width"]
