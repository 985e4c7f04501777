"""Figures of superposition experiments: pure functions that take an ``ax`` and return it.

Examples:
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from matplotlib.figure import Figure
    >>> import numpy as np
    >>> ax = Figure().subplots()
    >>> ax = plot_feature_directions(ax, np.array([[1.0, 0.0], [0.0, 1.0]]))
    >>> len(ax.patches)
    2
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from bridge.plots.base import set_log_scale
from bridge.plots.checks import array2d, curve, require_axes, series
from bridge.plots.marks import note_if_nothing_finite, note_left_out
from bridge.theory.superposition import N2M1_PHASES, STICKY_FRACTIONS

PHASE_COLOURS = {"feature 1": "#4C72B0", "feature 2": "#DD8452", "superposition": "#55A868", "none": "#BBBBBB", "other": "#C44E52", "diverged": "#222222"}


def plot_phase_diagram(ax: Any, phases: ArrayLike, importance: ArrayLike, density: ArrayLike, *, title: str = "", mismatch: ArrayLike | None = None) -> Any:
    """Phases ``(len(importance), len(density))`` as coloured cells, each phase in the grid named in the legend;
    ``mismatch`` cells (a boolean array of the same shape) are crossed.

    Examples:
        >>> from bridge.plots import new_figure
        >>> phases = np.array([["feature 1", "superposition"], ["none", "feature 2"]])
        >>> ax = plot_phase_diagram(new_figure()[1], phases, [0.5, 2.0], [0.1, 1.0], mismatch=np.array([[False, True], [False, False]]))
        >>> ax.images[0].get_array().tolist(), ax.collections[0].get_offsets().tolist()   # codes (density, importance); the cross
        ([[0.0, 3.0], [2.0, 1.0]], [[0.0, 1.0]])
        >>> [t.get_text() for t in ax.get_legend().get_texts()]
        ['differs from theory', 'feature 1', 'feature 2', 'superposition', 'none']
    """
    require_axes(ax)
    names = list(N2M1_PHASES) + ["none", "other", "diverged"]  # diverged: a cell whose every trained instance diverged
    rows, cols = series("importance", importance), series("density", density)
    cells = np.asarray(phases, dtype=object)
    if cells.shape != (len(rows), len(cols)):
        raise ValueError(f"phases must be (importance, density) = ({len(rows)}, {len(cols)}), got {cells.shape}")
    unknown = sorted({str(p) for p in cells.ravel()} - set(names))
    if unknown:
        raise ValueError(f"phases holds names with no colour: {unknown} (known: {names})")
    if mismatch is not None and np.shape(mismatch) != cells.shape:
        raise ValueError(f"mismatch must have the shape of phases {cells.shape}, got {np.shape(mismatch)}")
    codes = np.vectorize(names.index)(cells).astype(float)
    from matplotlib.colors import ListedColormap

    cmap = ListedColormap([PHASE_COLOURS[n] for n in names])
    ax.imshow(codes.T, origin="lower", cmap=cmap, vmin=-0.5, vmax=len(names) - 0.5, aspect="auto")
    ax.set_xticks(range(len(rows)), [f"{v:.2g}" for v in rows], fontsize=6, rotation=45)
    ax.set_yticks(range(len(cols)), [f"{v:.2g}" for v in cols], fontsize=6)
    ax.set_xlabel("relative importance of feature 2")
    ax.set_ylabel("feature density 1 − S")
    if mismatch is not None:
        ii, jj = np.nonzero(np.asarray(mismatch))
        ax.scatter(ii, jj, marker="x", color="k", s=30, label="differs from theory")
    present = set(cells.ravel().tolist())
    for n in (n for n in names if n in present):  # a legend entry for each colour in the grid, none for the others
        ax.scatter([], [], marker="s", color=PHASE_COLOURS[n], label=n)
    ax.legend(fontsize=6, loc="upper right")
    ax.set_title(title, fontsize=9)
    return ax


def plot_feature_directions(ax: Any, W: ArrayLike, *, title: str = "", threshold: float = 0.5) -> Any:
    """Columns of a ``(2, n)`` weight matrix as arrows from the origin (faded when not represented).

    Examples:
        >>> from bridge.plots import new_figure
        >>> ax = plot_feature_directions(new_figure()[1], np.array([[1.0, 0.0, 0.1], [0.0, 1.0, 0.1]]))
        >>> [p.get_alpha() for p in ax.patches]   # feature 2's norm is below 0.5: faded
        [1.0, 1.0, 0.3]
    """
    require_axes(ax)
    w = array2d("W", W, (2, None), "(2, features)")
    finite = np.isfinite(w).all(axis=0)  # a diverged feature has no direction to draw
    lim = max(1.2, float(np.abs(w[:, finite]).max()) * 1.15) if finite.any() else 1.2
    for i in np.flatnonzero(finite):
        x, y = w[:, i]
        on = np.hypot(x, y) > threshold
        ax.arrow(0, 0, x, y, width=0.012 * lim, length_includes_head=True, color=f"C{i % 10}", alpha=1.0 if on else 0.3)
        ax.annotate(str(i), (x * 1.08, y * 1.08), fontsize=7, ha="center", va="center")
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.axhline(0, color="0.85", lw=0.6)
    ax.axvline(0, color="0.85", lw=0.6)
    ax.set_title(title, fontsize=8)
    if not finite.all():
        left_out = int(np.sum(~finite))
        ax.text(0.01, 0.01, f"{left_out} feature{'s' * (left_out > 1)} not finite: not drawn", transform=ax.transAxes, ha="left", va="bottom", fontsize=7, color="0.3")
    return ax


def plot_feature_norms(ax: Any, steps: ArrayLike, norms: ArrayLike, gap: tuple[ArrayLike, ArrayLike] | None = None) -> Any:
    """Each feature's norm ``‖W_i‖`` over training (``norms``: ``(step, feature)``); with ``gap = (steps, degrees)``,
    the polygon's largest gap error (capped at 180°) dashed on a twin axis. Returns ``ax``.

    Examples:
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> from matplotlib.figure import Figure
        >>> ax = plot_feature_norms(Figure().subplots(), [0, 1], np.array([[0.1, 0.2], [1.0, 0.9]]))
        >>> [line.get_label() for line in ax.lines]
        ['‖W_0‖', '‖W_1‖']
    """
    require_axes(ax)
    x = series("steps", steps)
    y = array2d("norms", norms, (len(x), None), "(step, feature)")
    for i in range(y.shape[1]):
        ax.plot(x, y[:, i], label=f"‖W_{i}‖")
    handles = ax.get_legend_handles_labels()[0]
    if gap is not None:
        gap_steps, degrees = curve("gap", gap)
        twin = ax.twinx()
        handles += twin.plot(gap_steps, np.minimum(degrees, 180), color="k", ls="--", lw=1, label="largest gap error (°)")
        twin.set_ylabel("pentagon gap error (°)", fontsize=7)
    ax.set_ylabel("feature norms")
    ax.set_xlabel("step")
    if handles:  # in a row above the panel, clear of the curves
        ax.legend(handles, [h.get_label() for h in handles], fontsize=6, ncol=min(len(handles), 6), loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    return ax


def plot_dims_histogram(ax: Any, dims: ArrayLike, *, title: str = "Dimensions per feature") -> Any:
    """Histogram of feature dimensionalities ``(features,)`` with the sticky fractions marked; a dimensionality that
    is not finite is counted in a note, not drawn.

    Examples:
        >>> from bridge.plots import new_figure
        >>> ax = plot_dims_histogram(new_figure()[1], [1.0, 1.0, 0.5, 0.5, 0.0])
        >>> sum(float(p.get_height()) for p in ax.patches), [t.get_text() for t in ax.texts]
        (5.0, ['1', '0.75', '0.667', '0.5', '0.4', '0.375'])
    """
    require_axes(ax)
    d = series("dims", dims)
    finite = d[np.isfinite(d)]  # NaN warned "All-NaN slice encountered"
    ax.hist(finite, bins=np.linspace(0, 1.05, 64), color="C0")
    top = ax.get_ylim()[1]
    for i, v in enumerate(sorted(STICKY_FRACTIONS, reverse=True)):  # neighbours alternate in height: 3/8 and 2/5 lie close
        ax.axvline(v, color="C3", ls="--", lw=0.8)
        ax.annotate(f"{v:.3g}", (v, top * (0.95 if i % 2 == 0 else 0.88)), fontsize=6, color="C3", ha="center")
    ax.set_xlabel("D_i = ‖W_i‖² / Σ_j (Ŵ_i·W_j)²")
    ax.set_ylabel("features")
    ax.set_title(title, fontsize=9)
    if len(d) and not note_if_nothing_finite(ax, [(d, d)]):
        note_left_out(ax, {"non-finite dimension": len(d) - len(finite)})
    return ax


def plot_dims_vs_sparsity(ax: Any, density: ArrayLike, dims: Sequence[ArrayLike], overall: ArrayLike) -> Any:
    """Each represented feature's dimensionality (dots) and m/‖W‖² (line) against 1/(1 − S), as in the paper,
    with the sticky fractions dotted; the legend names all three.

    Args:
        density: ``(runs,)`` feature densities 1 − S; dims: per run, ``(represented features,)``; overall: ``(runs,)``.

    Examples:
        >>> from bridge.plots import new_figure
        >>> ax = plot_dims_vs_sparsity(new_figure()[1], [1.0, 0.1], [np.array([1.0, 1.0]), np.array([0.5, 0.5, 0.5])], [1.0, 0.5])
        >>> ax.lines[0].get_xdata().tolist(), len(ax.collections), ax.get_xscale()
        ([1.0, 10.0], 2, 'log')
        >>> [t.get_text() for t in ax.get_legend().get_texts()]   # every kind of mark drawn
        ['D_i, one dot per feature', 'm / ‖W‖²_F', 'sticky fractions']
    """
    require_axes(ax)
    dens = series("density", density)
    ratio = series("overall", overall, len(dens), of="run (density)")
    if len(dims) != len(dens):
        raise ValueError(f"dims must hold one array per run (density) ({len(dens)}), got {len(dims)}")
    per_run = [series(f"dims[{i}]", d) for i, d in enumerate(dims)]
    inv = 1.0 / dens
    for i, (x, d) in enumerate(zip(inv, per_run)):
        ax.scatter(np.full(len(d), x), d, s=8, color="C0", alpha=0.6, label=None if i else "D_i, one dot per feature")
    ax.plot(inv, ratio, color="k", lw=1.0, label="m / ‖W‖²_F")
    for i, v in enumerate(STICKY_FRACTIONS):
        ax.axhline(v, color="C3", ls=":", lw=0.7, label=None if i else "sticky fractions")
    set_log_scale(ax, "x")
    ax.set_xlabel("1 / (1 − S)")
    ax.set_ylabel("dimensions per feature")
    ax.legend(fontsize=7)
    return ax


__all__ = ["PHASE_COLOURS", "plot_dims_histogram", "plot_dims_vs_sparsity", "plot_feature_directions", "plot_feature_norms", "plot_phase_diagram"]
