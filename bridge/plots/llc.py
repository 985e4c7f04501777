"""Figures of learning-coefficient estimates: pure functions that take an ``ax`` and return it.

Examples:
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from matplotlib.figure import Figure
    >>> ax = plot_llc_vs_theory(Figure().subplots(), ["a", "b"], theory=[2.0, 4.0], estimate=[2.1, 3.8], std=[0.1, 0.2])
    >>> [float(p.get_height()) for p in ax.patches]
    [2.0, 4.0]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from jaxtyping import Float
from numpy.typing import ArrayLike

from bridge.plots.checks import require_axes, series, spread
from bridge.plots.marks import finite_bars, legend_if_any, note_left_out


def plot_llc_vs_theory(
    ax: Any,
    labels: Sequence[str],
    *,
    theory: ArrayLike,
    estimate: ArrayLike,
    std: ArrayLike,
    regular: ArrayLike | None = None,
    tolerance: float = 0.2,
    title: str = "Learning coefficient: estimate vs theory",
    theory_label: str = "theory λ",
) -> Any:
    """Estimated vs theoretical learning coefficient per model, with the ±``tolerance`` band.

    Args:
        ax: a matplotlib Axes.
        labels: ``(model,)`` tick labels.
        theory: ``(model,)`` theoretical λ, drawn as grey bars with a ±``tolerance`` (relative) error bar. An infinite
            value here or in ``estimate``, ``std`` or ``regular`` is counted in a note, not drawn.
        estimate: ``(model,)`` estimates λ̂, drawn as points beside the bars.
        std: ``(model,)`` spread of each estimate over chains (error bars of the points), ≥ 0.
        regular: ``(model,)`` optional ``d/2`` of each model (the regular value), drawn as red dashes.
        tolerance: relative half-width of the band around theory.
        title: axes title.
        theory_label: legend label of the theory (e.g. the closed form's author).

    Returns:
        ``ax``.

    Examples:
        >>> from bridge.plots import new_figure
        >>> fig, ax = new_figure()
        >>> ax = plot_llc_vs_theory(ax, ["a", "b"], theory=[2.0, 4.0], estimate=[2.1, 3.8], std=[0.1, 0.2], regular=[3.0, 6.0])
        >>> [t.get_text() for t in ax.get_legend().get_texts()], [t.get_text() for t in ax.get_xticklabels()]
        (['d/2 (regular)', 'theory λ', 'SGLD λ̂ (± chain std)', '±20%'], ['a', 'b'])
    """
    require_axes(ax)
    if isinstance(labels, str):
        raise TypeError(f"labels must be a sequence of tick labels, got the string {labels!r}")
    x = np.arange(len(labels))
    lam, lam_hat = (series(name, v, len(labels), of="label") for name, v in (("theory", theory), ("estimate", estimate)))
    sd = spread("std", std, len(labels), of="label")
    half_d = None if regular is None else series("regular", regular, len(labels), of="label")
    bars = np.where(np.isfinite(lam), lam, np.nan)  # an infinite bar has no top (and warned "invalid value")
    ax.bar(x - 0.2, bars, width=0.4, color="0.75", label=theory_label)
    ax.errorbar(x + 0.2, lam_hat, yerr=finite_bars(lam_hat, sd), fmt="o", color="C0", label="SGLD λ̂ (± chain std)")
    ax.errorbar(x - 0.2, bars, yerr=np.abs(tolerance * bars), fmt="none", ecolor="k", capsize=4, lw=0.8, label=f"±{tolerance:.0%}")
    if half_d is not None:
        ax.scatter(x, half_d, marker="_", s=200, color="C3", label="d/2 (regular)")
    infinite = {"theory value": lam, "estimate": lam_hat, "spread": sd, "regular value": () if half_d is None else half_d}
    note_left_out(ax, {f"non-finite {what}": int(np.isinf(v).sum()) for what, v in infinite.items()})
    ax.set_xticks(x, list(labels), fontsize=7)
    ax.set_ylabel("learning coefficient")
    ax.set_title(title)
    ax.legend(fontsize=7)
    return ax


def plot_chain_traces(
    ax: Any,
    draws: ArrayLike,
    excess: Float[np.ndarray, "chain draw"],
    *,
    theory: float | None = None,
    estimate: float | None = None,
    title: str = "",
    theory_label: str = "theory λ",
) -> Any:
    """Every SGLD chain's ``nβ (L_n(w_t) − L_n(w*))`` over its draws (thin lines, no red among them), with the theory
    value and the estimate (red).

    Args:
        ax: a matplotlib Axes.
        draws: ``(draw,)`` draw indices (the x axis).
        excess: ``(chain, draw)`` tempered loss excess of each chain (the ``llc/trace`` rows of
            :class:`~bridge.trackers.llc.LLCTracker`); its mean over draws is the chain's estimate.
        theory: the theoretical λ (black dashed line), if known.
        estimate: the estimate λ̂ (red line), if given.
        title: axes title.
        theory_label: legend label of the theory line.

    Returns:
        ``ax``.

    Examples:
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> from matplotlib.figure import Figure
        >>> ax = plot_chain_traces(Figure().subplots(), [0, 1, 2], np.array([[1.0, 2.0, 3.0], [2.0, 2.0, 2.0]]), theory=2.0)
        >>> len(ax.lines)
        3
    """
    require_axes(ax)
    x = series("draws", draws)
    excess = np.atleast_2d(np.asarray(excess, dtype=float))
    if excess.ndim != 2 or excess.shape[1] != len(x):
        raise ValueError(f"excess must be (chain, draw) = (any, {len(x)}), got {excess.shape}")
    palette = [f"C{i}" for i in range(10) if i != 3]  # red is the estimate's
    for c, chain in enumerate(excess):
        ax.plot(x, chain, lw=0.5, alpha=0.7, color=palette[c % len(palette)], label=f"{len(excess)} chain{'s' * (len(excess) > 1)}" if c == 0 else None)
    if theory is not None:
        ax.axhline(theory, color="k", ls="--", lw=1.0, label=theory_label)
    if estimate is not None:
        ax.axhline(estimate, color="C3", lw=1.0, label="λ̂")
    ax.set_title(title, fontsize=8)
    ax.set_xlabel("draw")
    ax.set_ylabel("nβ (L − L*)", fontsize=7)
    legend_if_any(ax, fontsize=6)
    return ax


__all__ = ["plot_chain_traces", "plot_llc_vs_theory"]
