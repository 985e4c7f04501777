"""Figures as pure functions of data: each takes an ``ax``, draws, and returns it.

Examples:
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots()
    >>> ax = plot_curves(ax, {"mode 0": ([0, 1, 2], [0.0, 0.5, 1.0])})
    >>> len(ax.lines)
    1
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from bridge.plots.checks import curve, require_axes, require_entries, require_mapping, series, spread
from bridge.plots.marks import finite_bars, legend_if_any, mark_lone_points, note, note_if_nothing_finite, note_left_out
from bridge.stages.detectors import Stage

Curve = tuple[ArrayLike, ArrayLike]


def plot_curves(
    ax: Any,
    curves: Mapping[str, Curve],
    theory: Mapping[str, Curve] | None = None,
    *,
    xlabel: str = "step",
    ylabel: str = "",
    logx: bool = False,
    logy: bool = False,
    title: str = "",
    colors: Mapping[str, str] | None = None,
) -> Any:
    """Observed curves (solid) with their theory curves (dashed, same colour when labels match).

    Labels starting with ``_`` are drawn but left out of the legend; ``colors``
    maps labels to colours (default: the colour cycle in order, or with more than 10 curves, where
    the cycle repeats, evenly spaced shades of viridis; a legend of more than 12 entries stands beside
    the panel). A finite point with no finite
    neighbour (a curve of one point, or one between NaNs) is drawn as a dot, as a line cannot show it.

    Args:
        curves: label → ``(x, y)``, each ``(n,)``.
        theory: label → ``(x, y)``, each ``(m,)``; a theory curve takes the colour of the observed curve of its label.
        logx: symlog ``x`` (linear below 1, so step 0 stays on the axis); logy: log ``y`` (see ``set_log_scale``).

    Examples:
        >>> fig, ax = new_figure()
        >>> ax = plot_curves(ax, {"mode 0": ([0, 1, 2], [0.0, 0.5, 1.0]), "_guide": ([0, 2], [1.0, 1.0])}, {"mode 0": ([0, 2], [0.0, 1.0])}, logx=True, title="modes")
        >>> len(ax.lines), [t.get_text() for t in ax.get_legend().get_texts()], ax.get_xscale(), ax.get_title()
        (4, ['mode 0', 'theory'], 'symlog', 'modes')
        >>> ax.lines[2].get_color() == ax.lines[0].get_color()   # the theory of "mode 0" in its colour
        True
    """
    require_axes(ax)
    require_mapping("curves", curves)
    require_mapping("theory", theory or {})
    observed = {label: curve(f"curves[{label!r}]", pair) for label, pair in curves.items()}
    predicted = {label: curve(f"theory[{label!r}]", pair) for label, pair in (theory or {}).items()}
    colours, shades = {}, _shades(len(observed))
    for i, (label, (x, y)) in enumerate(observed.items()):
        (line,) = ax.plot(x, y, lw=1.6, label=label, color=(colors or {}).get(label, shades[i]))
        mark_lone_points(line, x, y)
        colours[label] = line.get_color()
    for label, (x, y) in predicted.items():
        mark_lone_points(ax.plot(x, y, ls="--", lw=1.2, color=colours.get(label, "k"), alpha=0.9)[0], x, y)
    if theory:
        ax.plot([], [], ls="--", color="k", label="theory")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logx:
        ax.set_xscale("symlog", linthresh=1)
    if logy:
        set_log_scale(ax, "y")
    if title:
        ax.set_title(title)
    note_if_nothing_finite(ax, observed.values())
    entries = sum(not k.startswith("_") for k in curves) + bool(theory)
    outside = {"loc": "upper left", "bbox_to_anchor": (1.01, 1.0), "borderaxespad": 0.0} if entries > 12 else {}  # beside the panel, not over half of it
    legend_if_any(ax, fontsize=7, ncol=1 + (entries - 1) // 24 if outside else 2 if entries > 6 else 1, **outside)
    return ax


def _shades(n: int) -> list[Any]:
    """``n`` line colours: the colour cycle up to its 10, else ``n`` steps along viridis (the cycle's 11th is its 1st again)."""
    if n <= 10:
        return [f"C{i}" for i in range(n)]
    import matplotlib

    return [matplotlib.colormaps["viridis"](i / (n - 1)) for i in range(n)]


_LINEAR_NOTE = "linear-axis-note"  # gid of the note on a panel whose log axis stayed linear
_HIDDEN_NOTE = "hidden-values-note"  # gid of the note counting the values ≤ 0 a log axis leaves out


def _non_positive(ax: Any, axis: str) -> int:
    """How many distinct finite data points drawn on ``ax`` (lines, markers) are ≤ 0 on ``axis``: a log axis cannot show them.
    Only artists in data coordinates along ``axis`` count (not a vertical line's height); a point drawn twice counts once."""
    k = "xy".index(axis)
    hidden = set()
    for artist, xy, transform in [(a, a.get_xydata(), a.get_transform()) for a in ax.lines] + [(c, c.get_offsets(), c.get_offset_transform()) for c in ax.collections]:
        in_data = transform.contains_branch_seperately(ax.transData)
        if not in_data[k] or not artist.get_visible() or not np.size(xy):
            continue
        xy = np.ma.filled(np.ma.asarray(xy, dtype=float), np.nan).reshape(-1, 2)
        for point in xy[np.isfinite(xy).all(axis=1) & (xy[:, k] <= 0)]:
            hidden.add((float(point[0]) if in_data[0] else None, float(point[1]) if in_data[1] else None))
    return len(hidden)


def set_log_scale(ax: Any, axis: str = "y", **kwargs: Any) -> bool:
    """Put ``axis`` (``"x"`` or ``"y"``) of ``ax`` on a log scale if the data drawn on it holds a finite positive value.

    Otherwise the axis stays linear and the panel says so in a short note: a log axis with nothing
    positive to show cannot be drawn, and saving the figure would fail. A log axis that leaves out some
    drawn values (finite and ≤ 0, such as a loss that reached 0) says how many in a note in the lower left
    corner. Call it after drawing.

    Args:
        axis: ``"x"`` or ``"y"``; kwargs: passed on to ``set_xscale``/``set_yscale`` (e.g. ``base=2``).

    Returns:
        Whether the axis is now logarithmic.

    Examples:
        >>> fig, ax = new_figure()
        >>> _ = ax.plot([1.0, 2.0], [float("nan"), float("inf")])
        >>> set_log_scale(ax, "x"), set_log_scale(ax, "y"), ax.get_yscale(), [t.get_text() for t in ax.texts]
        (False, False, 'linear', ['no finite positive value: x and y axes left linear'])
        >>> _ = ax.plot([1.0, 2.0], [0.0, 3.0])
        >>> set_log_scale(ax, "y", base=2), ax.get_yscale(), ax.texts[-1].get_text()
        (True, 'log', '1 value ≤ 0 not shown (log y axis)')
    """
    if np.isfinite(getattr(ax.dataLim, f"minpos{axis}")):  # the smallest positive value drawn (inf: none)
        getattr(ax, f"set_{axis}scale")("log", **kwargs)
        hidden = _non_positive(ax, axis)
        if hidden:
            text = f"{hidden} value{'s' if hidden > 1 else ''} ≤ 0 not shown (log {axis} axis)"
            shown = next((t for t in ax.texts if t.get_gid() == _HIDDEN_NOTE), None)
            if shown is None:
                ax.text(0.01, 0.01, text, transform=ax.transAxes, ha="left", va="bottom", fontsize=7, color="0.3", gid=_HIDDEN_NOTE,
                        bbox={"facecolor": "white", "edgecolor": "0.7", "alpha": 0.9})
            elif text not in shown.get_text():
                shown.set_text(f"{shown.get_text()}; {text}")
        return True
    shown = next((t for t in ax.texts if t.get_gid() == _LINEAR_NOTE), None)
    if shown is None:
        note(ax, f"no finite positive value: {axis} axis left linear", gid=_LINEAR_NOTE, bbox={"facecolor": "white", "edgecolor": "0.7", "alpha": 0.9})
    elif f"{axis} axis" not in shown.get_text():
        shown.set_text("no finite positive value: x and y axes left linear")
    return False


def _field(item: Any, name: str, default: Any = None) -> Any:
    """``item.name``, or ``item[name]`` for an event as stored in ``events.json`` (``run.events``)."""
    return item.get(name, default) if isinstance(item, Mapping) else getattr(item, name, default)


def plot_stage_bands(ax: Any, stages: Sequence[Stage | Mapping[str, Any]], colours: Mapping[str, str] | None = None) -> Any:
    """Shade each stage's interval (colour by ``stage.kind``).

    ``stages`` may be :class:`~bridge.stages.detectors.Stage` objects or the stored dicts of ``run.events``;
    entries that are not stages (events, predictions) are left out.

    Examples:
        >>> from matplotlib.colors import to_hex
        >>> from bridge.stages.detectors import Stage
        >>> fig, ax = new_figure()
        >>> ax = plot_stage_bands(ax, [Stage("plateau", 0, 40, kind="plateau"), Stage("drop", 40, 50, kind="drop")])
        >>> [to_hex(p.get_facecolor()) for p in ax.patches]   # light grey, then tab:orange
        ['#d9d9d9', '#ff7f0e']
    """
    require_axes(ax)
    stages = require_entries("stages", stages)
    colours = colours or {"plateau": "0.85", "drop": "tab:orange"}
    for stage in stages:
        if _field(stage, "type", "stage") == "stage" and _field(stage, "start") is not None:
            ax.axvspan(_field(stage, "start"), _field(stage, "end"), color=colours.get(_field(stage, "kind"), "tab:blue"), alpha=0.25, lw=0)
    return ax


def plot_timeline(ax: Any, rows: Sequence[Mapping[str, Any]], *, xlabel: str = "step") -> Any:
    """One line per match: predicted (○), observed dynamics (●) and mechanism (◆) steps.

    Args:
        rows: dicts with ``label``, ``predicted``, ``observed``, ``mechanism`` (any may be None), or a
            report's matches as they are (``run.report["matches"]``, or :class:`~bridge.match.Match` rows).

    Examples:
        >>> fig, ax = new_figure()
        >>> ax = plot_timeline(ax, [{"label": "mode 0", "predicted": 100, "observed": 110, "mechanism": 120}, {"label": "mode 1", "predicted": 200, "observed": None}])
        >>> ax.collections[0].get_offsets().tolist()   # the predicted steps, one row each
        [[100.0, 0.0], [200.0, 1.0]]
        >>> [t.get_text() for t in ax.get_yticklabels()], [t.get_text() for t in ax.get_legend().get_texts()]
        (['mode 0', 'mode 1'], ['theory', 'dynamics', 'mechanism'])
    """
    require_axes(ax)
    markers = (("predicted", "o", "none", "theory"), ("observed", "o", None, "dynamics"), ("mechanism", "D", None, "mechanism"))
    rows = _labelled_rows("rows", [_timeline_row(r) for r in rows])
    for i, r in enumerate(rows):
        xs = [v for v in (r.get(k) for k, *_ in markers) if v is not None]
        if xs:
            ax.plot([min(xs), max(xs)], [i, i], color="0.7", lw=1, zorder=0)
    for j, (key, marker, face, label) in enumerate(markers):
        pts = [(r[key], i) for i, r in enumerate(rows) if r.get(key) is not None]
        if pts:
            x, y = zip(*pts)
            ax.scatter(x, y, marker=marker, s=40, facecolors=face or f"C{j}", edgecolors=f"C{j}", label=label, zorder=2)
    return _timeline_axes(ax, rows, xlabel)


def _labelled_rows(name: str, rows: Sequence[Any]) -> list[Mapping[str, Any]]:
    """``rows`` as a list of mappings that each have a ``label``; a ``TypeError``/``ValueError`` naming the row otherwise."""
    rows = list(rows)
    for i, r in enumerate(rows):
        if not isinstance(r, Mapping):
            raise TypeError(f"{name}[{i}] must be a mapping with a label, got {type(r).__name__}")
        if "label" not in r:
            raise ValueError(f"{name}[{i}] has no label: {dict(r)!r}")
    return rows


def _timeline_axes(ax: Any, rows: Sequence[Mapping[str, Any]], xlabel: str) -> Any:
    """One tick per row, labelled; the legend when something was drawn, else a note."""
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([r["label"] for r in rows], fontsize=7)
    ax.set_xlabel(xlabel)
    if not legend_if_any(ax, fontsize=7, loc="lower right"):
        note(ax, "no step to draw")
    return ax


def _timeline_row(row: Any) -> Mapping[str, Any]:
    """A timeline row from itself, or from a report's match (a :class:`~bridge.match.Match` or its JSON dict)."""
    if dataclasses.is_dataclass(row) and not isinstance(row, type):
        row = dataclasses.asdict(row)
    if not isinstance(row, Mapping) or "prediction" not in row:
        return row
    return {"label": row["prediction"], "predicted": row.get("predicted_step"), "observed": row.get("observed_step"), "mechanism": row.get("mechanism_step")}


def plot_seed_timeline(ax: Any, rows: Sequence[Mapping[str, Any]], *, xlabel: str = "step") -> Any:
    """One line per match over seeds: the mean of the predicted (○), observed (●) and mechanism (◆) steps,
    with error bars of one standard deviation across seeds and every seed's value as a small dot.

    Args:
        rows: dicts with ``label`` and ``predicted``, ``observed``, ``mechanism``: sequences (lists, tuples,
            arrays) of the seeds' steps (``None`` or NaN where a seed has none).

    Examples:
        >>> from bridge.plots import new_figure
        >>> fig, ax = new_figure()
        >>> ax = plot_seed_timeline(ax, [{"label": "mode 0", "predicted": [100, 100], "observed": [96, 110], "mechanism": [None, 120]}])
        >>> len(ax.containers)
        3
    """
    require_axes(ax)
    rows = _labelled_rows("rows", rows)
    for j, (key, marker, face, label) in enumerate((("predicted", "o", "none", "theory"), ("observed", "o", None, "dynamics"), ("mechanism", "D", None, "mechanism"))):
        labelled = False
        for i, r in enumerate(rows):
            steps = r.get(key)
            xs = np.array([np.nan if x is None else x for x in ([] if steps is None else np.ravel(np.asarray(steps, dtype=object)))], dtype=float)
            xs = xs[np.isfinite(xs)]
            if xs.size == 0:
                continue
            y = i + (j - 1) * 0.18
            ax.scatter(xs, np.full(xs.size, y), s=6, color=f"C{j}", alpha=0.5, zorder=1)
            spread = xs.std(ddof=1) if xs.size > 1 else 0.0
            ax.errorbar(xs.mean(), y, xerr=spread, fmt=marker, ms=6, mfc=face or f"C{j}", mec=f"C{j}", ecolor=f"C{j}", capsize=3, label=None if labelled else label, zorder=2)
            labelled = True
    return _timeline_axes(ax, rows, xlabel)


def plot_estimate_series(ax: Any, steps: ArrayLike, mean: ArrayLike, sd: ArrayLike, *, ylabel: str = "", xlabel: str = "step", zero_line: bool = True) -> Any:
    """An estimate at each step with its standard deviation as error bars (e.g. the learning coefficient over checkpoints).

    Args:
        steps, mean, sd: each ``(n,)``; ``sd`` ≥ 0 (NaN: no bar). An infinite mean or ``sd`` (a diverged chain) is
            counted in a note, not drawn (and takes its bar with it).

    Examples:
        >>> from bridge.plots import new_figure
        >>> fig, ax = new_figure()
        >>> len(plot_estimate_series(ax, [0, 10], [1.0, 2.0], [0.1, 0.2]).containers)
        1
    """
    require_axes(ax)
    x = series("steps", steps)
    y, bar = series("mean", mean, len(x), of="step"), spread("sd", sd, len(x), of="step")
    ax.errorbar(x, y, yerr=finite_bars(y, bar), fmt="o-", ms=3, lw=1, capsize=2)
    note_left_out(ax, {"non-finite estimate": int(np.isinf(y).sum()), "non-finite spread": int(np.isinf(bar).sum())})
    if zero_line:
        ax.axhline(0, color="0.7", lw=0.6)
    ax.set_ylabel(ylabel)
    ax.set_xlabel(xlabel)
    return ax


def plot_event_lines(ax: Any, events: Sequence[Any], colours: Mapping[str, str] | None = None) -> Any:
    """A dotted vertical line at each event's step, coloured by the event's observable (``colours``; default grey).

    ``events`` may be :class:`~bridge.stages.detectors.Event` objects or the stored dicts of ``run.events``;
    entries that are not events (stages, predictions) are left out.

    Examples:
        >>> from bridge.stages.detectors import Event
        >>> fig, ax = new_figure()
        >>> ax = plot_event_lines(ax, [Event("rise", 15.0, 10.0, 20.0, observable="accuracy"), Event("drop", 40.0, 38.0, 42.0, observable="loss")], {"loss": "C3"})
        >>> [line.get_xdata() for line in ax.lines], [line.get_color() for line in ax.lines]
        ([[15.0, 15.0], [40.0, 40.0]], ['0.5', 'C3'])
    """
    require_axes(ax)
    events = require_entries("events", events)
    for event in events:
        if _field(event, "type", "event") == "event" and _field(event, "step") is not None:
            ax.axvline(_field(event, "step"), color=(colours or {}).get(_field(event, "observable"), "0.5"), ls=":", lw=1.2)
    return ax


def new_figure(ncols: int = 1, nrows: int = 1, size: tuple[float, float] = (5.0, 3.6)) -> tuple[Any, Any]:
    """A figure with a grid of axes, built without pyplot's global state.

    Args:
        ncols, nrows: the grid.
        size: ``(width, height)`` in inches of one panel.

    Returns:
        ``(figure, axes)``: a single Axes for a 1 × 1 grid, else the ``(nrows * ncols,)`` array of them, row by row.

    Examples:
        >>> fig, axes = new_figure(ncols=2)
        >>> len(axes), fig.get_size_inches().tolist()
        (2, [10.0, 3.6])
        >>> type(new_figure()[1]).__name__
        'Axes'
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(size[0] * ncols, size[1] * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, (axes[0, 0] if axes.size == 1 else axes.ravel())


def save_figure(fig: Any, path: str | Path, dpi: int = 120) -> Path:
    """Write ``fig`` as a PNG at ``path`` atomically (creating missing folders); returns the path.

    Examples:
        >>> import tempfile, pathlib
        >>> fig, ax = new_figure()
        >>> path = save_figure(fig, pathlib.Path(tempfile.mkdtemp()) / "figs" / "curve.png", dpi=20)
        >>> path.name, path.read_bytes()[:8].hex()   # the PNG signature
        ('curve.png', '89504e470d0a1a0a')
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}.png")
    try:
        fig.savefig(tmp, dpi=dpi, format="png")
        os.replace(tmp, path)
    except BaseException:  # a drawing or write that fails leaves the figure before it and no temporary file
        tmp.unlink(missing_ok=True)
        raise
    return path
