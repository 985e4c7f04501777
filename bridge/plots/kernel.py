"""Figures of the lazy and the rich regime: learned fractions, kernel distance and test error across output scales, support shares.

Examples:
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from bridge.plots import new_figure
    >>> fig, ax = new_figure()
    >>> ax = plot_kernel_distance(ax, [10.0, 1.0, 0.1], [1e-4, 1e-2, 0.5], level=0.1, crossover=0.4)
    >>> ax.get_xscale(), ax.get_yscale()
    ('log', 'log')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from bridge.plots.base import set_log_scale
from bridge.plots.checks import curve, require_axes, require_mapping, series
from bridge.plots.marks import note_left_out


def plot_fraction_vs_scale(ax: Any, alphas: ArrayLike, fractions: Mapping[str, ArrayLike], learnability: Mapping[str, float]) -> Any:
    """Each term's learned fraction against the output scale α (markers), its eigenlearning learnability dashed.

    Args:
        alphas: output scales, shape ``(points,)``.
        fractions: term label → learned fraction at each α.
        learnability: term label → the kernel's predicted fraction (the lazy limit).

    Examples:
        >>> from bridge.plots import new_figure
        >>> fig, ax = new_figure()
        >>> ax = plot_fraction_vs_scale(ax, [10.0, 1.0, 0.1], {"χ_0": [0.5, 0.7, 0.9]}, {"χ_0": 0.5})
        >>> ax.lines[1].get_ydata(), ax.get_xscale(), ax.get_yscale()   # the learnability, dashed
        ([0.5, 0.5], 'log', 'linear')
    """
    require_axes(ax)
    require_mapping("fractions", fractions)
    require_mapping("learnability", learnability)
    n = len(series("alphas", alphas))
    for label, values in fractions.items():
        series(f"fractions[{label!r}]", values, n, of="α")
    for i, (label, values) in enumerate(fractions.items()):
        colour = f"C{i % 10}"
        ax.plot(alphas, values, "o-", color=colour, lw=1.4, label=label)
        if label in learnability:
            ax.axhline(learnability[label], color=colour, ls="--", lw=1.0)
    ax.plot([], [], ls="--", color="k", label="eigenlearning (initial NTK)")
    return _against_scale(ax, "learned fraction f̂(S) / c_S", logy=False)


def plot_draw_means(ax: Any, alpha: float, draws: Mapping[str, ArrayLike], colours: Sequence[str], offset: float = 1.35) -> Any:
    """At output scale ``alpha`` (drawn at ``alpha · offset``), each series' mean over training sets (diamond) with ±2 standard errors.

    Args:
        draws: series label → its value on each training set, shape ``(draws,)``; labelled in the legend once. A
            value that is not finite (a diverged fit) is left out of the mean, and counted in a note.
        colours: one per series, those of the curves the means belong to.

    Examples:
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> from bridge.plots import new_figure
        >>> fig, ax = new_figure()
        >>> ax = plot_draw_means(ax, 50.0, {"χ_0": [0.9, 1.0, 0.95]}, ["C0"])
        >>> len(ax.containers)
        1
    """
    require_axes(ax)
    require_mapping("draws", draws)
    if isinstance(colours, str) or len(colours) != len(draws):
        raise ValueError(f"colours must hold one colour per series in draws ({len(draws)}), got {colours!r}")
    values = [series(f"draws[{label!r}]", v, empty=False) for label, v in draws.items()]
    labelled, left_out = False, 0
    for v, colour in zip(values, colours):
        finite = v[np.isfinite(v)]  # an infinite value made the mean infinite and its spread inf − inf (a numpy warning)
        left_out += len(v) - len(finite)
        if not len(finite):
            continue
        se = finite.std(ddof=1) / np.sqrt(len(finite)) if len(finite) > 1 else 0.0
        label = None if labelled else f"mean over {len(finite)} training sets (±2 s.e.)"
        ax.errorbar([alpha * offset], [finite.mean()], yerr=[2 * se], fmt="D", mfc="white", color=colour, ms=5, capsize=3, label=label)
        labelled = True
    note_left_out(ax, {"non-finite value": left_out}, how=f"left out of the mean{'s' * (len(values) > 1)}")
    return ax


def plot_kernel_distance(ax: Any, alphas: ArrayLike, distances: ArrayLike, level: float, crossover: float | None) -> Any:
    """Final kernel distance against α (log-log) with the crossover level and where it is crossed.

    Args:
        alphas, distances: output scales and the kernel distance at the end of each run, each ``(points,)``.
        level: the distance that marks the crossover; crossover: α where it is crossed, or ``None``.

    Examples:
        >>> from bridge.plots import new_figure
        >>> fig, ax = new_figure()
        >>> ax = plot_kernel_distance(ax, [0.1, 1.0, 10.0], [0.5, 0.01, 1e-4], level=0.1, crossover=0.3)
        >>> ax.lines[1].get_xdata().tolist(), ax.lines[1].get_ydata().round(6).tolist()   # the α⁻¹ guide from α = 1 on
        ([1.0, 10.0], [0.01, 0.001])
    """
    require_axes(ax)
    a = series("alphas", alphas, empty=False)
    d = series("distances", distances, len(a), of="α")
    ax.plot(a, d, "o-", color="C0", label="kernel distance at the end")
    ok = np.isfinite(a) & np.isfinite(d) & (a > 0) & (d > 0)  # the points a log-log guide can pass through
    big = ok & (a >= np.median(a[ok])) if ok.any() else ok
    if big.any():
        ax.plot(a[big], d[big][0] * (a[big] / a[big][0]) ** -1.0, ":", color="0.4", label="∝ α⁻¹ (guide)")
    ax.axhline(level, color="C3", ls="--", lw=1.0, label=f"crossover level {level:g}")
    if crossover is not None:
        ax.axvline(crossover, color="C3", lw=1.0, alpha=0.6, label=f"crossed at α = {crossover:.3g}")
    return _against_scale(ax, "1 − cos(K₀, K_T)")


def plot_alignment_rise(ax: Any, alphas: ArrayLike, rise: ArrayLike, level: float, marks: Mapping[str, float | None]) -> Any:
    """Final / initial kernel–target alignment against α (log-log), the ``level`` dashed, and each named α in ``marks``
    as a vertical line in its own colour and line style, the first four styles all different (a ``None`` is named in the legend as absent).

    Args:
        alphas: output scales, shape ``(points,)``; rise: alignment at the end over at initialisation, shape ``(points,)``;
        level: the rise that marks the crossover; marks: label -> α (or ``None``), e.g. where the test error departs.

    Examples:
        >>> from bridge.plots import new_figure
        >>> fig, ax = new_figure()
        >>> ax = plot_alignment_rise(ax, [10.0, 1.0, 0.1], [1.0, 1.5, 6.0], 1.1, {"rise": 4.0, "test": None})
        >>> [t.get_text() for t in ax.get_legend().get_texts()][-2:]
        ['rise: 4', 'test: none']
    """
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    require_axes(ax)
    require_mapping("marks", marks)
    series("rise", rise, len(series("alphas", alphas)), of="α")
    ax.plot(alphas, rise, "o-", color="C2", label="alignment, final / initial")
    ax.axhline(level, color="C2", ls="--", lw=1.0, label=f"rise {level:g}×")
    for i, (label, alpha) in enumerate(marks.items()):
        if alpha is None:
            ax.plot([], [], " ", label=f"{label}: none")
        else:
            ax.axvline(alpha, color=f"C{(i + 3) % 10}", ls=("-", "-.", ":", "--")[i % 4], lw=1.2, label=f"{label}: {alpha:.3g}")  # four marks, four styles
    _against_scale(ax, "⟨K, yyᵀ⟩ / (‖K‖ ‖y‖²), final / initial", loc="lower left")  # the rise falls towards the lazy end
    if ax.get_yscale() != "log":
        return ax
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))  # rises of 1–20×: plain numbers, not powers of ten
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    return ax


def plot_test_vs_scale(ax: Any, alphas: ArrayLike, mse: ArrayLike, predicted: float, departure: float, crossover: float | None, moved: ArrayLike | None = None) -> Any:
    """Test MSE against α with eigenlearning's prediction (dashed), the ±``departure`` band, and where the MSE departs.

    Args:
        alphas: output scales, shape ``(points,)``; mse: the test MSE at each, shape ``(points,)``;
        predicted: eigenlearning's test MSE; departure: the band's relative half-width; crossover: α of the departure, or ``None``;
        moved: eigenlearning's test MSE at each α moved by the kernel's measured change (dotted), shape ``(points,)``.

    Examples:
        >>> from bridge.plots import new_figure
        >>> fig, ax = new_figure()
        >>> ax = plot_test_vs_scale(ax, [10.0, 1.0, 0.1], [1.0, 0.8, 0.1], 1.0, 0.1, 1.5, moved=[1.0, 0.7, 0.2])
        >>> len(ax.get_lines())   # the MSE, the prediction, the moved prediction, the departure
        4
    """
    require_axes(ax)
    n = len(series("alphas", alphas))
    series("mse", mse, n, of="α")
    if moved is not None:
        series("moved", moved, n, of="α")
    ax.plot(alphas, mse, "o-", color="C1", label="cube MSE at the end")
    ax.axhline(predicted, color="k", ls="--", lw=1.0, label="eigenlearning (initial NTK)")
    if moved is not None:
        ax.plot(alphas, moved, "s:", color="k", ms=3, lw=1.0, label="eigenlearning moved by the final\nkernel along the target (1st order)")
    ax.axhspan(predicted * (1 - departure), predicted * (1 + departure), color="0.85", zorder=0, label=f"±{departure:.0%}")
    if crossover is not None:
        ax.axvline(crossover, color="C3", lw=1.0, alpha=0.6, label="departure")
    return _against_scale(ax, "E_x (f − f*)²")


def _against_scale(ax: Any, ylabel: str, logy: bool = True, loc: str = "best") -> Any:
    """Log output-scale axis (and log ``y`` unless ``logy=False``; each only if it has a finite positive value), labels and a small legend at ``loc``."""
    set_log_scale(ax, "x")
    if logy:
        set_log_scale(ax, "y")
    ax.set_xlabel("output scale α")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7, loc=loc)
    return ax


def plot_support_share(ax: Any, curves: Mapping[str, tuple[ArrayLike, ArrayLike]], isotropic: float) -> Any:
    """First-layer weight share on the target's support over training, one curve per α in a sequential palette
    (in the order given); ``isotropic`` = |S|/d dotted.

    Args:
        curves: label → ``(steps, share)``, each ``(n,)``.

    Examples:
        >>> from bridge.plots import new_figure
        >>> fig, ax = new_figure()
        >>> ax = plot_support_share(ax, {"α = 1": ([0, 10, 100], [0.1, 0.5, 0.9]), "α = 10": ([0, 10, 100], [0.1, 0.1, 0.2])}, isotropic=0.1)
        >>> len(ax.lines), ax.get_xscale(), [t.get_text() for t in ax.get_legend().get_texts()]
        (3, 'symlog', ['α = 1', 'α = 10', '|S|/d (isotropic)'])
    """
    import matplotlib as mpl

    require_axes(ax)
    require_mapping("curves", curves)
    for label, pair in curves.items():
        curve(f"curves[{label!r}]", pair)
    palette = mpl.colormaps["viridis"](np.linspace(0.0, 0.9, max(len(curves), 2)))
    for colour, (label, (steps, share)) in zip(palette, curves.items()):
        ax.plot(steps, share, lw=1.4, color=colour, label=label)
    ax.axhline(isotropic, color="0.4", ls=":", label="|S|/d (isotropic)")
    ax.set_xscale("symlog", linthresh=1)
    ax.set_xlim(left=0)
    ax.set_ylim(0, 1)
    ax.set_xlabel("step")
    ax.set_ylabel("share of ‖W₁‖² on the support")
    ax.legend(fontsize=7, ncol=2)
    return ax


__all__ = ["plot_draw_means", "plot_fraction_vs_scale", "plot_kernel_distance", "plot_support_share", "plot_test_vs_scale"]
