"""Figures of Fourier mechanisms: spectra at chosen steps, frequency emergence over time, a power-law fit.

Each function draws on the ``ax`` it is given and returns it.

Examples:
    >>> import numpy as np
    >>> from bridge.plots import new_figure
    >>> fig, ax = new_figure()
    >>> ax = plot_spectrum(ax, {"step 0": np.ones(5), "step 9": np.array([0, 4.0, 0, 1, 0])})
    >>> len(ax.containers)
    2
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from bridge.plots.base import set_log_scale
from bridge.plots.checks import array2d, require_axes, require_mapping, series
from bridge.plots.marks import note, note_if_nothing_finite, note_left_out

PHASE_COLOURS = {"memorisation": "tab:red", "circuit formation": "tab:olive", "clean-up": "tab:green"}


def plot_spectrum(ax: Any, spectra: Mapping[str, ArrayLike], *, key: Sequence[int] = (), title: str = "") -> Any:
    """Grouped bars of per-frequency norms (frequency 1 … K; entry 0, the constant, is dropped).

    Args:
        spectra: label → norms ``(K + 1,)`` from :func:`probes.fourier.frequency_norms`; an infinite norm (a diverged
            run) is counted in a note, not drawn.
        key: frequencies to mark with a star above the bars.

    Examples:
        >>> from bridge.plots import new_figure
        >>> fig, ax = new_figure()
        >>> ax = plot_spectrum(ax, {"init": np.ones(4), "end": np.array([0.0, 3.0, 0.0, 1.0])}, key=(1,))
        >>> [float(bar.get_height()) for bar in ax.containers[1]], len(ax.texts)   # frequencies 1, 2, 3 of "end"; one star
        ([3.0, 0.0, 1.0], 1)
    """
    require_axes(ax)
    require_mapping("spectra", spectra)
    checked = {label: series(f"spectra[{label!r}]", norms) for label, norms in spectra.items()}
    n = len(checked)
    width = 0.8 / max(n, 1)
    top, left_out = 0.0, 0
    for i, (label, norms) in enumerate(checked.items()):
        v = norms[1:]
        freqs, finite = np.arange(1, len(v) + 1), np.isfinite(v)
        ax.bar(freqs + (i - (n - 1) / 2) * width, np.where(finite, v, np.nan), width=width, label=label, color=f"C{i}")  # an infinite bar has no top
        top = max(top, float(v[finite].max()) if finite.any() else 0.0)
        left_out += int(np.sum(~finite & ~np.isnan(v)))
    for k in key if top > 0 else ():  # no bar to stand over: a star far outside the bars would squeeze the panel
        ax.text(k, top * 1.03, "*", ha="center", va="bottom", fontsize=10)
    if key and top > 0:
        ax.set_ylim(top=top * 1.12)  # the stars inside the frame, clear of the title
    ax.set_xlabel("frequency k")
    ax.set_ylabel("Fourier norm")
    if title:
        ax.set_title(title)
    if not checked:
        note(ax, "no spectrum to draw")
        return ax
    ax.legend(fontsize=7)
    if not note_if_nothing_finite(ax, [(np.arange(len(v) - 1), v[1:]) for v in checked.values()]):
        note_left_out(ax, {"non-finite norm": left_out})
    return ax


def plot_emergence(ax: Any, steps: ArrayLike, norms: ArrayLike, frequencies: Sequence[int], *, others: bool = True, title: str = "", events: Mapping[int, float] | None = None) -> Any:
    """Per-frequency norm over training: the ``frequencies`` in colour, the rest in grey.

    Args:
        steps: ``(n,)`` sampled steps.
        norms: ``(n, K + 1)`` per-frequency norms at those steps.
        frequencies: the frequencies to highlight.
        events: frequency → step, drawn as dotted vertical lines in the frequency's colour.

    Examples:
        >>> from bridge.plots import new_figure
        >>> fig, ax = new_figure()
        >>> norms = np.array([[0, 1.0, 1.0, 1.0], [0, 1.0, 2.0, 1.0], [0, 0.5, 4.0, 0.5]])   # (3 steps, K + 1 = 4)
        >>> ax = plot_emergence(ax, [0, 100, 200], norms, [2], events={2: 150.0})
        >>> len(ax.lines), ax.lines[2].get_ydata().tolist(), ax.lines[3].get_xdata()   # 2 grey, k = 2, its event
        (4, [1.0, 2.0, 4.0], [150.0, 150.0])
    """
    require_axes(ax)
    x = series("steps", steps)
    y = array2d("norms", norms, (len(x), None), "(step, K + 1)")
    for k in frequencies:
        if not 1 <= k < y.shape[1]:
            raise ValueError(f"frequencies must lie in 1 … {y.shape[1] - 1} (the columns of norms), got {k}")
    for k in range(1, y.shape[1]):
        if k not in frequencies and others:
            ax.plot(x, y[:, k], color="0.8", lw=0.8)
    for i, k in enumerate(frequencies):
        ax.plot(x, y[:, k], color=f"C{i}", lw=1.8, label=f"k = {k}")
        if events and k in events and events[k] is not None:
            ax.axvline(events[k], color=f"C{i}", ls=":", lw=1.2)
    ax.set_xlabel("step")
    ax.set_ylabel("Fourier norm")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=7)
    return ax


def plot_power_law(ax: Any, x: ArrayLike, t: ArrayLike, fit: Any, *, labels: Sequence[str] = (), reference: float | None = -1.0, title: str = "") -> Any:
    """Log–log scatter of ``t`` against ``x`` with the fitted line (and a reference slope through the data's centre).

    Args:
        x, t: ``(n,)`` positive values (``lr · weight decay`` and the grokking step of each run); the lines span the
            finite positive pairs.
        fit: a :class:`~bridge.theory.weight_decay.PowerLawFit` (or a callable with ``exponent`` and ``stderr``).
        labels: ``(n,)`` point annotations.
        reference: slope of the dashed reference line (``None``: none).

    Examples:
        >>> from bridge.plots import new_figure
        >>> from bridge.theory.weight_decay import fit_power_law
        >>> fig, ax = new_figure()
        >>> ax = plot_power_law(ax, [1e-3, 2e-3, 4e-3], [1000.0, 500.0, 250.0], fit_power_law([1e-3, 2e-3, 4e-3], [1000.0, 500.0, 250.0]))
        >>> [t.get_text() for t in ax.get_legend().get_texts()], ax.get_xscale(), ax.get_yscale()
        (['runs', 'fit: slope -1.00 ± 0.00', 'slope -1'], 'log', 'log')
    """
    require_axes(ax)
    xs = series("x", x, empty=False)
    ts = series("t", t, len(xs), of="x")
    if isinstance(fit, type) or not hasattr(fit, "exponent") or not hasattr(fit, "stderr"):
        raise TypeError(f"fit must be a fitted PowerLawFit (with exponent and stderr), got {fit!r}")
    ax.scatter(xs, ts, color="C0", zorder=3, label="runs")
    for xi, ti, lab in zip(xs, ts, labels):
        ax.annotate(lab, (xi, ti), fontsize=6, xytext=(3, 3), textcoords="offset points")
    ok = np.isfinite(xs) & np.isfinite(ts) & (xs > 0) & (ts > 0)  # the runs a log-log axis shows
    grid = np.geomspace(xs[ok].min() / 1.2, xs[ok].max() * 1.2, 50) if ok.any() else np.zeros(0)
    ax.plot(grid, fit.predict(grid) if hasattr(fit, "predict") else fit(grid), color="C1", label=f"fit: slope {fit.exponent:.2f} ± {fit.stderr:.2f}")
    if reference is not None:
        cx, ct = (np.exp(np.log(v[ok]).mean()) if ok.any() else np.nan for v in (xs, ts))
        ax.plot(grid, ct * (grid / cx) ** reference, color="k", ls="--", lw=1, label=f"slope {reference:g}")
    for axis in ("x", "y"):
        if set_log_scale(ax, axis):
            _plain_log_ticks(getattr(ax, f"{axis}axis"))
    ax.set_xlabel("lr · weight decay")
    ax.set_ylabel("grokking step")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=7)
    return ax


def _plain_log_ticks(axis: Any) -> None:
    """On a log axis spanning at most two decades, ticks at 1, 2 and 5 × 10^k labelled as plain numbers, minor ticks
    unlabelled: matplotlib labels the minor ticks of a short log axis as ``3 × 10⁻³``, wide labels that run into each other."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    lo, hi = sorted(axis.get_view_interval())
    if not (lo > 0 and np.isfinite(hi) and np.log10(hi / lo) <= 2):
        axis.set_minor_formatter(NullFormatter())
        return
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def plot_phase_bands(ax: Any, stages: Sequence[Any]) -> Any:
    """Shade grokking phases in their conventional colours and add them to the legend.

    Examples:
        >>> from matplotlib.colors import to_hex
        >>> from bridge.plots import new_figure
        >>> from bridge.stages.detectors import Stage
        >>> fig, ax = new_figure()
        >>> ax = plot_phase_bands(ax, [Stage("memorisation", 0, 100), Stage("clean-up", 300, 500)])
        >>> [t.get_text() for t in ax.get_legend().get_texts()], [to_hex(p.get_facecolor()) for p in ax.patches]
        (['memorisation', 'clean-up'], ['#d62728', '#2ca02c'])
    """
    require_axes(ax)
    for stage in stages:
        ax.axvspan(stage.start, stage.end, color=PHASE_COLOURS.get(stage.name, "tab:blue"), alpha=0.15, lw=0, label=stage.name)
    if stages:
        ax.legend(fontsize=7)
    return ax


__all__ = ["PHASE_COLOURS", "plot_emergence", "plot_phase_bands", "plot_power_law", "plot_spectrum"]
