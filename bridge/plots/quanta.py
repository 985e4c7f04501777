"""Figures of the quanta case study: per-subtask losses, scaling laws, hidden progress, quanta per width.

Examples:
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots()
    >>> ax = plot_power_law(ax, [10, 100, 1000], [1.0, 0.5, 0.25], slope=-0.3, xlabel="parameters")
    >>> len(ax.lines)
    2
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from bridge.plots.base import set_log_scale
from bridge.plots.checks import array2d, require_axes, require_mapping, series


def plot_subtask_losses(ax: Any, steps: ArrayLike, losses: ArrayLike, emergence: ArrayLike, *, title: str = "") -> Any:
    """One loss curve per subtask (``losses`` shape ``(step, subtask)``), coloured by frequency rank
    (dark: most frequent), each emergence step marked with a dot on its curve as drawn, on a symlog step axis.

    Args:
        steps: ``(step,)``; losses: ``(step, subtask)``; emergence: ``(subtask,)`` steps (NaN: never, no dot).

    Examples:
        >>> from bridge.plots import new_figure
        >>> fig, ax = new_figure()
        >>> ax = plot_subtask_losses(ax, [1, 10, 100], np.array([[2.0, 2.0], [1.0, 2.0], [0.1, 1.5]]), [10.0, float("nan")])
        >>> len(ax.lines), float(ax.lines[1].get_ydata()[0]), ax.get_xscale()   # subtask 0's dot at its loss at step 10
        (3, 1.0, 'symlog')
    """
    import matplotlib as mpl

    require_axes(ax)
    x = series("steps", steps)
    loss = array2d("losses", losses, (len(x), None), "(step, subtask)")
    emerged = series("emergence", emergence, loss.shape[1], of="subtask (column of losses)")
    n = loss.shape[1]
    cmap = mpl.colormaps["viridis"]
    ax.set_xscale("symlog", linthresh=1)  # log above step 1, linear below: step 0 stays on the axis
    along = ax.xaxis.get_transform().transform  # the coordinate in which each drawn segment is straight
    for k in range(n):
        colour = cmap(k / max(n - 1, 1))
        ax.plot(x, loss[:, k], color=colour, lw=1.1)
        t = emerged[k]
        if np.isfinite(t) and len(x):  # no step: no curve to put the dot on
            ax.plot([t], [np.interp(along(t), along(x), loss[:, k])], "o", color=colour, ms=4, mec="k", mew=0.5)
    ax.set_xlabel("step")
    ax.set_ylabel("test loss of the subtask (nats)")
    sm = mpl.cm.ScalarMappable(cmap=cmap, norm=mpl.colors.Normalize(1, n))
    ax.figure.colorbar(sm, ax=ax, label="frequency rank")
    if title:
        ax.set_title(title)
    return ax


def plot_power_law(
    ax: Any,
    x: ArrayLike,
    y: ArrayLike,
    *,
    slope: float | None = None,
    fitted: float | None = None,
    fit_mask: ArrayLike | None = None,
    xlabel: str = "",
    ylabel: str = "mean test loss",
    label: str = "measured",
    title: str = "",
) -> Any:
    """``y`` against ``x`` on log-log axes, a line of the predicted ``slope`` through the data's
    geometric centre (dashed) and, when given, of the ``fitted`` slope (dotted) through the centre
    of the points it was fitted on (``fit_mask``; default all). ``x``, ``y``, ``fit_mask``: ``(n,)``.
    Each line spans the finite positive points it is drawn through; with none, it is only named in the legend.

    Examples:
        >>> from bridge.plots import new_figure
        >>> fig, ax = new_figure()
        >>> ax = plot_power_law(ax, [10, 100, 1000], [1.0, 0.1, 0.01], slope=-1.0, fitted=-0.9, fit_mask=[True, True, False])
        >>> np.round(ax.lines[1].get_ydata(), 6).tolist(), ax.lines[2].get_xdata().tolist()   # slope −1 through (100, 0.1); fit over x ≤ 100
        ([1.0, 0.01], [10.0, 100.0])
    """
    from matplotlib.ticker import NullFormatter

    require_axes(ax)
    xs = series("x", x)
    ys = series("y", y, len(xs), of="x")
    if fit_mask is not None and len(np.asarray(fit_mask).ravel()) != len(xs):
        raise ValueError(f"fit_mask must hold one flag per x ({len(xs)}), got {len(np.asarray(fit_mask).ravel())}")
    ax.plot(xs, ys, "o-", ms=4, lw=1.2, label=label)
    drawn = np.isfinite(xs) & np.isfinite(ys) & (xs > 0) & (ys > 0)  # the points a log-log axis shows
    fit = drawn if fit_mask is None else drawn & np.asarray(fit_mask, bool)
    for line, used, style, name in ((slope, drawn, "k--", "predicted"), (fitted, fit, "r:", "fitted")):
        if line is None:
            continue
        if not used.any():  # named, with nothing to draw it through
            ax.plot([], [], style, lw=1.2, label=f"{name} slope {line:.3g} (no point to draw it through)")
            continue
        if np.ptp(xs[used]) == 0:  # a line through one x has no length
            ax.plot([], [], style, lw=1.2, label=f"{name} slope {line:.3g} (one x only: no line to draw)")
            continue
        cx, cy = np.exp(np.mean(np.log(xs[used]))), np.exp(np.mean(np.log(ys[used])))
        span = np.array([xs[used].min(), xs[used].max()])
        ax.plot(span, cy * (span / cx) ** line, style, lw=1.0 if name == "predicted" else 1.4, label=f"{name} slope {line:.3g}")
    set_log_scale(ax, "x")
    set_log_scale(ax, "y")
    ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels of a short log axis overlap
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7)
    if title:
        ax.set_title(title)
    return ax


def plot_hidden_progress(ax: Any, steps: ArrayLike, loss: ArrayLike, share: ArrayLike, chance: float, *, onset: float | None = None, title: str = "", legend: bool = True) -> Any:
    """A subtask's loss (left axis) and relevant-bit share (right axis), chance (dotted) and 2× chance (dashed),
    the drop's onset as a vertical line, on a symlog step axis (as :func:`plot_subtask_losses`); a legend names
    each line (``legend=False``: none, for a figure of several panels that names them once, see
    :func:`hidden_progress_legend`). Returns the right axis. ``steps``, ``loss``, ``share``: ``(n,)``.

    Examples:
        >>> from bridge.plots import new_figure
        >>> fig, ax = new_figure()
        >>> right = plot_hidden_progress(ax, [0, 1, 2], [2.0, 1.0, 0.1], [0.1, 0.3, 0.9], chance=0.1, onset=1.0)
        >>> len(ax.lines), [float(line.get_ydata()[0]) for line in right.lines[1:]]   # loss and onset; chance and 2× chance
        (2, [0.1, 0.2])
        >>> [t.get_text() for t in right.get_legend().get_texts()], ax.get_xscale()
        (['subtask loss', 'drop onset', 'relevant-bit share', 'chance share', '2× chance'], 'symlog')
    """
    require_axes(ax)
    x = series("steps", steps)
    y = series("loss", loss, len(x), of="step")
    bits = series("share", share, len(x), of="step")
    ax.set_xscale("symlog", linthresh=1)  # emergence spans decades of steps; step 0 stays on the axis
    ax.plot(x, y, color="C0", lw=1.4, label="subtask loss")
    ax.set_ylabel("subtask loss", color="C0")
    ax.set_xlabel("step")
    if onset is not None and np.isfinite(onset):
        ax.axvline(onset, color="k", lw=0.8, ls="-.", label="drop onset")
    right = ax.twinx()
    right.plot(x, bits, color="C3", lw=1.4, label="relevant-bit share")
    right.axhline(chance, color="C3", ls=":", lw=0.8, label="chance share")
    right.axhline(2 * chance, color="C3", ls="--", lw=0.8, label="2× chance")
    right.set_ylabel("relevant-bit share", color="C3")
    right.set_ylim(0, 1.02)
    if legend:
        handles = [h for a in (ax, right) for h in a.get_legend_handles_labels()[0]]
        right.legend(handles, [h.get_label() for h in handles], fontsize=6, loc="center right")
    if title:
        ax.set_title(title, fontsize=9)
    return right


def hidden_progress_legend(fig: Any, panels: Sequence[tuple[Any, Any]]) -> Any:
    """One legend under the panels of :func:`plot_hidden_progress` (each ``(ax, right)``), naming every line once:
    inside a panel the legend covers the drop it is drawn to show.

    Examples:
        >>> from bridge.plots import new_figure
        >>> fig, axes = new_figure(ncols=2)
        >>> panels = [(ax, plot_hidden_progress(ax, [0, 1, 2], [2.0, 1.0, 0.1], [0.1, 0.3, 0.9], chance=0.1, onset=1.0, legend=False)) for ax in axes]
        >>> [t.get_text() for t in hidden_progress_legend(fig, panels).get_texts()]
        ['subtask loss', 'drop onset', 'relevant-bit share', 'chance share', '2× chance']
    """
    named: dict[str, Any] = {}
    for pair in panels:
        for a in pair:
            for handle, label in zip(*a.get_legend_handles_labels()):
                named.setdefault(label, handle)
    return fig.legend(list(named.values()), list(named), loc="outside lower center", ncol=max(len(named), 1), fontsize=7)


def plot_quanta_per_width(ax: Any, widths: ArrayLike, learned: Mapping[str, ArrayLike], n_tasks: int) -> Any:
    """Quanta learned against hidden width (log x), one line per label (e.g. per seed), each ``(widths,)``.

    Examples:
        >>> from bridge.plots import new_figure
        >>> fig, ax = new_figure()
        >>> ax = plot_quanta_per_width(ax, [32, 64, 128], {"seed 0": [2, 5, 9]}, n_tasks=10)
        >>> ax.lines[1].get_ydata(), [t.get_text() for t in ax.get_legend().get_texts()]
        ([10, 10], ['seed 0', 'all subtasks'])
    """
    require_axes(ax)
    require_mapping("learned", learned)
    for label, values in learned.items():
        series(f"learned[{label!r}]", values, len(series("widths", widths)), of="width")
    for label, values in learned.items():
        ax.plot(widths, values, "o-", ms=4, label=label)
    ax.axhline(n_tasks, color="k", ls=":", lw=0.8, label="all subtasks")
    set_log_scale(ax, "x", base=2)
    ax.set_xlabel("hidden width")
    ax.set_ylabel("quanta learned")
    ax.legend(fontsize=7)
    return ax


__all__ = ["hidden_progress_legend", "plot_hidden_progress", "plot_power_law", "plot_quanta_per_width", "plot_subtask_losses"]
