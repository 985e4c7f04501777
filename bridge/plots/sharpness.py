"""Figures of the edge of stability: sharpness against 2/η, losses, where the top eigenvector lives, the oscillation.

Each function takes an ``ax`` (and plain arrays or dicts), draws, and returns the ``ax``.

Examples:
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from bridge.plots import new_figure
    >>> fig, ax = new_figure()
    >>> t = np.arange(10.0)
    >>> ax = plot_sharpness(ax, {0.25: (t, np.minimum(t, 8.0))}, {0.25: 8.0})
    >>> ax.lines[1].get_ydata()[0]   # the 2/η line
    8.0
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from bridge.plots.base import set_log_scale
from bridge.plots.checks import curve, require_axes, require_mapping, series
from bridge.plots.marks import legend_if_any, mark_lone_points, note, note_if_nothing_finite, note_left_out

Curve = tuple[ArrayLike, ArrayLike]


def plot_sharpness(ax: Any, curves: Mapping[float, Curve], plateaus: Mapping[float, float | None], title: str = "Sharpness by step size") -> Any:
    """Sharpness vs step per step size (solid), 2/η (dashed, same colour) and the detected plateau start (dot).

    Args:
        ax: a matplotlib Axes.
        curves: step size η → ``(steps, sharpness)``, each ``(n,)``; drawn in ascending η.
        plateaus: η → the detected plateau's start step (``None``: no plateau, no dot).
        title: the Axes title (a caller that has judged the curves may say what they show).

    Examples:
        >>> from bridge.plots import new_figure
        >>> fig, ax = new_figure()
        >>> t = np.arange(10.0)
        >>> ax = plot_sharpness(ax, {0.5: (t, np.minimum(t, 4.0)), 0.25: (t, np.minimum(t, 8.0))}, {0.25: 8.0, 0.5: None})
        >>> [x.get_text() for x in ax.get_legend().get_texts()], ax.lines[2].get_ydata().tolist()   # the dot at 2/0.25
        (['η=0.25', 'η=0.5', '2/η (theory)', 'plateau start (detected)'], [8.0])
    """
    require_axes(ax)
    checked = _by_step_size(curves)
    require_mapping("plateaus", plateaus)
    for i, (lr, (t, s)) in enumerate(sorted(checked.items())):
        colour = f"C{i % 10}"
        mark_lone_points(ax.plot(t, s, color=colour, lw=1.0, label=f"η={lr:g}")[0], t, s)
        ax.axhline(2 / lr, color=colour, ls="--", lw=1.0)
        start = plateaus.get(lr)
        if start is not None and len(t):  # a curve of no step has no point to mark
            ax.plot([start], [np.interp(start, t, s)], "o", color=colour, ms=5)
    ax.plot([], [], "k--", lw=1.0, label="2/η (theory)")
    ax.plot([], [], "ko", ms=5, label="plateau start (detected)")
    ax.set_xlabel("step")
    ax.set_ylabel("sharpness λ_max(H)")
    ax.set_title(title)
    ax.legend(fontsize=7)
    return ax


def plot_loss_by_step_size(ax: Any, curves: Mapping[float, Curve], title: str = "Training loss by step size") -> Any:
    """Training loss vs step per step size η (``η → (steps, loss)``, each ``(n,)``), log scale, under ``title``.

    Examples:
        >>> from bridge.plots import new_figure
        >>> fig, ax = new_figure()
        >>> ax = plot_loss_by_step_size(ax, {0.1: ([0, 1, 2], [1.0, 0.5, 0.25])})
        >>> ax.get_yscale(), [t.get_text() for t in ax.get_legend().get_texts()]
        ('log', ['η=0.1'])
    """
    require_axes(ax)
    for i, (lr, (t, loss)) in enumerate(sorted(_by_step_size(curves).items())):
        ax.plot(t, loss, color=f"C{i % 10}", lw=0.8, label=f"η={lr:g}")
    set_log_scale(ax, "y")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (MSE)")
    ax.set_title(title)
    legend_if_any(ax, fontsize=7)
    return ax


def _by_step_size(curves: Mapping[float, Curve]) -> dict[float, tuple[NDArray[np.float64], NDArray[np.float64]]]:
    """``curves`` with each step size checked to be a positive number and each ``(steps, values)`` pair of one length."""
    require_mapping("curves", curves)
    checked = {}
    for lr, pair in curves.items():
        if isinstance(lr, bool) or not isinstance(lr, (int, float, np.floating, np.integer)) or not lr > 0:
            raise ValueError(f"curves must be keyed by positive step sizes η, got {lr!r}")
        checked[float(lr)] = curve(f"curves[{lr!r}]", pair)
    return checked


def plot_layer_loading(ax: Any, steps: ArrayLike, shares: Sequence[Mapping[str, float]], title: str = "") -> Any:
    """The top eigenvector's loading per layer over checkpoints, stacked (one band per layer).

    Args:
        ax: a matplotlib Axes.
        steps: checkpoint steps, ``(n,)``.
        shares: per step, layer name → share of ``|v₁|²`` (the shares of a step sum to 1).
        title: the Axes title.

    Examples:
        >>> from bridge.plots import new_figure
        >>> fig, ax = new_figure()
        >>> ax = plot_layer_loading(ax, [0, 10], [{"layer 0": 0.75, "layer 1": 0.25}, {"layer 0": 0.5, "layer 1": 0.5}])
        >>> len(ax.collections), [t.get_text() for t in ax.get_legend().get_texts()]   # one band per layer
        (2, ['layer 0', 'layer 1'])
    """
    require_axes(ax)
    x = series("steps", steps)
    if len(shares) != len(x):
        raise ValueError(f"shares must hold one mapping per step ({len(x)}), got {len(shares)}")
    for i, s in enumerate(shares):
        require_mapping(f"shares[{i}]", s)
    names = sorted({k for s in shares for k in s})
    bottom = np.zeros(len(x))
    for i, name in enumerate(names):
        vals = np.array([s.get(name, 0.0) for s in shares])
        ax.fill_between(x, bottom, bottom + vals, step="mid", color=f"C{i}", alpha=0.7, label=name)
        bottom += vals
    ax.set_xlabel("step")
    ax.set_ylabel("share of |v₁|²")
    ax.set_ylim(0, 1)
    ax.set_title(title)
    if not legend_if_any(ax, fontsize=7, loc="lower right") and not len(x):
        note(ax, "no step to draw")
    return ax


def plot_neuron_loading(ax: Any, shares: Mapping[tuple[int, int], float], title: str = "") -> Any:
    """Each hidden neuron's loading of the top eigenvector as bars, sorted descending, one colour per layer.

    Args:
        ax: a matplotlib Axes.
        shares: ``(layer, neuron)`` → share of ``|v₁|²`` on the neuron's in- and out-weights; a share that is not
            finite has no place in the ranking and is counted in a note, not drawn.
        title: the Axes title.

    Examples:
        >>> from bridge.plots import new_figure
        >>> fig, ax = new_figure()
        >>> ax = plot_neuron_loading(ax, {(0, 0): 0.1, (0, 1): 0.5, (1, 0): 0.4})
        >>> [float(p.get_height()) for p in ax.patches], [t.get_text() for t in ax.get_legend().get_texts()]
        ([0.5, 0.4, 0.1], ['hidden layer 0', 'hidden layer 1'])
    """
    from matplotlib.patches import Patch

    require_axes(ax)
    require_mapping("shares", shares)
    for key in shares:
        if not (isinstance(key, tuple) and len(key) == 2):
            raise ValueError(f"shares must be keyed by (layer, neuron), got {key!r}")
    items = sorted(((key, v) for key, v in shares.items() if np.isfinite(v)), key=lambda kv: -kv[1])  # an infinite bar warned "invalid value"
    ax.bar(range(len(items)), [v for _, v in items], color=[f"C{a}" for (a, _), _ in items], width=0.9)
    handles = [Patch(color=f"C{layer}", label=f"hidden layer {layer}") for layer in sorted({a for (a, _), _ in items})]
    ax.set_xlabel("neuron (sorted by loading)")
    ax.set_ylabel("share of |v₁|² on in+out weights")
    ax.set_title(title)
    if not legend_if_any(ax, handles=handles, fontsize=7):
        note(ax, "no finite value to draw" if shares else "no neuron to draw")
    else:
        note_left_out(ax, {"non-finite share": len(shares) - len(items)})
    return ax


def plot_onset(
    ax: Any, t: ArrayLike, cos: ArrayLike, tl: ArrayLike, loss: ArrayLike, onset: float | None, spike: float | None, window: float = 60, *, label: str = ""
) -> Any:
    """cos(g, v₁) (left axis) and the loss (right axis, a twin Axes) within ``window`` steps of the oscillation onset.

    The title says what was detected: the onset and the loss rise, one of them, or neither, after ``label``
    (e.g. the step size) when one is given. The legend names both axes' lines.

    Args:
        ax: a matplotlib Axes.
        t, cos: steps and ``curvature/grad_cosine``, each ``(n,)``.
        tl, loss: steps and training loss, each ``(m,)``.
        onset: the detected onset of oscillation (vertical solid line; the window's centre).
        spike: the first loss rise (vertical dotted line; the centre when there is no onset).
        window: half-width of the window in steps.
        label: what the panel is of, put before the title (``"η=0.25"``).

    Examples:
        >>> from bridge.plots import new_figure
        >>> fig, ax = new_figure()
        >>> t = np.arange(200.0)
        >>> ax = plot_onset(ax, t, np.cos(t), t, np.exp(-t / 100), onset=100.0, spike=110.0, window=10)
        >>> len(ax.lines[0].get_xdata()), [x.get_text() for x in ax.get_legend().get_texts()]   # steps 90 … 110
        (21, ['cos(g, v₁)', 'oscillation onset', 'first loss rise', 'training loss'])
        >>> plot_onset(new_figure()[1], t, np.cos(t), t, np.exp(-t / 100), onset=None, spike=None, label="η=0.25").get_title()
        'η=0.25: No oscillation onset detected;\\nno loss rise detected'
    """
    require_axes(ax)
    steps = series("t", t, empty=False)
    cosine = series("cos", cos, len(steps), of="step in t")
    loss_steps = series("tl", tl)
    losses = series("loss", loss, len(loss_steps), of="step in tl")
    centre = onset if onset is not None else (spike if spike is not None else steps[len(steps) // 2])
    win = (steps >= centre - window) & (steps <= centre + window)
    ax.plot(steps[win], cosine[win], ".-", color="C0", lw=0.6, ms=3, label="cos(g, v₁)")
    ax.set_ylabel("cos(gradient, top eigenvector)", color="C0")
    ax.set_xlabel("step")
    twin = ax.twinx()
    winl = (loss_steps >= centre - window) & (loss_steps <= centre + window)
    mark_lone_points(twin.plot(loss_steps[winl], losses[winl], color="C3", lw=1.2, label="training loss")[0], loss_steps[winl], losses[winl])
    note_if_nothing_finite(ax, [(steps[win], cosine[win]), (loss_steps[winl], losses[winl])])  # a diverged run's window
    twin.set_ylabel("training loss", color="C3")
    for x, style, name in ((onset, "-", "oscillation onset"), (spike, ":", "first loss rise")):
        if x is not None:
            ax.axvline(x, color="k", ls=style, lw=0.8, label=name)
    handles, labels = ax.get_legend_handles_labels()
    more, named = twin.get_legend_handles_labels()  # the loss lives on the twin axis: named in the same legend
    ax.legend(handles + more, labels + named, fontsize=7, loc="upper left")
    ax.set_title(f"{label}: {_onset_title(onset, spike)}" if label else _onset_title(onset, spike), fontsize=9)
    return ax


def _onset_title(onset: float | None, spike: float | None) -> str:
    """The onset panel's title: the steps that were detected, and which were not."""
    left = f"Period-2 oscillation along v₁ from step {onset:g}" if onset is not None else "No oscillation onset detected"
    right = f"loss first rises at step {spike:g}" if spike is not None else "no loss rise detected"
    return f"{left};\n{right}"


__all__ = ["plot_layer_loading", "plot_loss_by_step_size", "plot_neuron_loading", "plot_onset", "plot_sharpness"]
