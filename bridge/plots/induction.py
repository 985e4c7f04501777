"""Figures of an induction circuit forming: losses with stages and the learning coefficient, the circuit graph,
and where the previous-token heads work.

Pure functions of data that draw on a given ``ax`` and return it.

Examples:
    >>> from bridge.plots import new_figure
    >>> fig, ax = new_figure()
    >>> curves = {"repeated tokens": ([0, 50, 100], [4.1, 4.0, 0.3], "C0-")}
    >>> ax = plot_loss_stages(ax, curves, reference=(4.16, "ln V"), llc=([0, 100], [1.0, 30.0], [0.5, 2.0]), boundary=100)
    >>> [line.get_label() for line in ax.lines][:2]
    ['repeated tokens', 'ln V']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import networkx as nx
import numpy as np
from numpy.typing import ArrayLike

from bridge.plots.base import plot_stage_bands
from bridge.plots.checks import curve, require_axes, require_mapping, series, spread
from bridge.plots.marks import finite_bars, mark_lone_points, note, note_if_nothing_finite, note_left_out
from bridge.stages.detectors import Stage
from probes.circuits import edges_above


def plot_loss_stages(
    ax: Any,
    curves: Mapping[str, tuple[ArrayLike, ArrayLike, str]],
    *,
    stages: Sequence[Stage] = (),
    reference: tuple[float, str] | None = None,
    llc: tuple[ArrayLike, ArrayLike, ArrayLike] | None = None,
    boundary: float | None = None,
    title: str = "",
    legend: str = "inside",
) -> Any:
    """Loss curves over stage bands, with the learning coefficient on a second axis.

    Args:
        curves: label → ``(steps, values, style)`` (a matplotlib format string such as ``"C0--"``).
        stages: plateaus and drops drawn as bands.
        reference: ``(value, label)`` of a horizontal line (``ln V``).
        llc: ``(steps, mean, std)`` of the learning coefficient, drawn with error bars on a twin axis (an infinite
            mean or std is counted in a note, not drawn).
        boundary: step of the LLC stage boundary (a dashed vertical line).
        legend: ``"inside"`` the panel (centre right), or ``"below"`` it, as the figure's legend, clear of the
            curves (for a figure of this one panel: the drop and the LLC at the end sit at the centre right).

    Examples:
        >>> from bridge.plots import new_figure
        >>> fig, ax = new_figure()
        >>> ax = plot_loss_stages(ax, {"loss": ([0, 50, 100], [4.1, 4.0, 0.3], "C0-")}, stages=[Stage("plateau", 0, 50, kind="plateau")], reference=(4.16, "ln V"), llc=([0, 100], [1.0, 30.0], [0.5, 2.0]))
        >>> len(ax.patches), [t.get_text() for t in ax.get_legend().get_texts()], len(fig.axes)   # the LLC on a twin axis
        (1, ['loss', 'ln V', 'LLC (right)'], 2)
    """
    require_axes(ax)
    require_mapping("curves", curves)
    if legend not in ("inside", "below"):
        raise ValueError(f"legend must be 'inside' or 'below', got {legend!r}")
    for label, entry in curves.items():
        if isinstance(entry, (str, bytes)) or len(entry) != 3:
            raise ValueError(f"curves[{label!r}] must be (steps, values, style), got {entry!r}"[:200])
        curve(f"curves[{label!r}]", entry[:2])
    if llc is not None:
        if len(llc) != 3:
            raise ValueError(f"llc must be (steps, mean, std), got {len(llc)} items")
        n = len(series("llc steps", llc[0]))
        series("llc mean", llc[1], n, of="step")
        spread("llc std", llc[2], n, of="step")
    plot_stage_bands(ax, stages)
    for label, (steps, values, style) in curves.items():
        mark_lone_points(ax.plot(steps, values, style, lw=1.4, label=label)[0], steps, values)
    if curves:  # a diverged run's loss: NaN throughout
        note_if_nothing_finite(ax, [entry[:2] for entry in curves.values()])
    if reference is not None:
        ax.axhline(reference[0], color="0.5", lw=0.8, ls=":", label=reference[1])
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats)")
    handles, labels = ax.get_legend_handles_labels()
    if llc is not None:
        twin = ax.twinx()
        mean, std = series("llc mean", llc[1]), series("llc std", llc[2])
        twin.errorbar(llc[0], mean, yerr=finite_bars(mean, std), color="C2", marker="o", ms=3, lw=1, label="LLC (right)")
        note_left_out(ax, {"non-finite LLC": int(np.isinf(mean).sum()), "non-finite LLC spread": int(np.isinf(std).sum())})
        twin.set_ylabel("local learning coefficient", color="C2")
        more = twin.get_legend_handles_labels()
        handles, labels = handles + more[0], labels + more[1]
    if boundary is not None:
        ax.axvline(boundary, color="C2", ls="--", lw=1)
    if legend == "below":
        ax.figure.legend(handles, labels, fontsize=7, loc="outside lower center", ncol=min(len(labels), 4) or 1)
    else:
        ax.legend(handles, labels, fontsize=7, loc="center right")
    ax.set_title(title, fontsize=9)
    return ax


def plot_circuit(ax: Any, graph: nx.DiGraph, *, edge_attr: str = "k_comp_z", threshold: float = 3.0, node_attr: str = "induction", title: str | None = None) -> Any:
    """A circuit graph (:func:`probes.circuits.circuit_graph`): heads in columns by layer, edges at or above
    ``threshold`` of ``edge_attr`` in red with width by value, other edges faint; node colour ``node_attr`` (0 to 1).

    Nodes need ``layer`` and ``head`` attributes; a graph without nodes is a panel that says so.

    Examples:
        >>> from bridge.plots import new_figure
        >>> g = nx.DiGraph(step=100)
        >>> g.add_nodes_from([("L0H0", {"layer": 0, "head": 0, "induction": 0.1}), ("L1H0", {"layer": 1, "head": 0, "induction": 0.9}), ("L1H1", {"layer": 1, "head": 1})])
        >>> g.add_edges_from([("L0H0", "L1H0", {"k_comp_z": 5.0}), ("L0H0", "L1H1", {"k_comp_z": 1.0})])
        >>> ax = plot_circuit(new_figure()[1], g)
        >>> ax.get_title(), len(ax.patches)   # one edge above 3: one red arrow
        ('step 100: k_comp_z ≥ 3 (colour: induction)', 1)
    """
    require_axes(ax)
    if not isinstance(graph, nx.Graph):
        raise TypeError(f"graph must be a networkx graph, got {graph!r}"[:200])
    missing = [n for n, d in graph.nodes(data=True) if "layer" not in d or "head" not in d]
    if missing:
        raise ValueError(f"graph nodes need layer and head attributes; {missing[:3]} have not")
    ax.set_axis_off()
    ax.set_title(title if title is not None else f"step {graph.graph.get('step')}: {edge_attr} ≥ {threshold:g} (colour: {node_attr})", fontsize=9)
    if graph.number_of_nodes() == 0:
        note(ax, "no heads in the graph")
        return ax
    pos = {n: (d["layer"], -d["head"]) for n, d in graph.nodes(data=True)}
    colours = [graph.nodes[n].get(node_attr, 0.0) for n in graph.nodes]
    strong = sorted(edges_above(graph, edge_attr, threshold))
    weak = [e for e in graph.edges if e not in strong]
    nx.draw_networkx_edges(graph, pos, edgelist=weak, ax=ax, edge_color="0.85", width=0.5, arrows=False)
    if strong:
        values = np.array([graph.edges[e][edge_attr] for e in strong])
        widths = 1.0 + 4.0 * (values - threshold) / max(float(values.max() - threshold), 1e-9)
        nx.draw_networkx_edges(graph, pos, edgelist=strong, ax=ax, edge_color="tab:red", width=list(widths), arrows=True, arrowsize=12)
    nodes = nx.draw_networkx_nodes(graph, pos, ax=ax, node_color=colours, cmap="viridis", vmin=0.0, vmax=1.0, node_size=700)
    nx.draw_networkx_labels(graph, pos, ax=ax, font_size=8, font_color="white")
    ax.set_xlim(-0.5, max(d["layer"] for _, d in graph.nodes(data=True)) + 0.5)
    ax.figure.colorbar(nodes, ax=ax, shrink=0.6, label=node_attr)
    return ax


def plot_reach(ax: Any, curves: Mapping[str, tuple[ArrayLike, ArrayLike]], *, stages: Sequence[Stage] = ()) -> Any:
    """How far layer-0 previous-token attention reaches over training: label → ``(steps, last query position)``, each ``(n,)``;
    every curve is drawn, each in its own colour and line style.

    Examples:
        >>> from bridge.plots import new_figure
        >>> fig, ax = new_figure()
        >>> ax = plot_reach(ax, {"seed 0": ([0, 100, 200], [1, 3, 7])}, stages=[Stage("drop", 50, 150, kind="drop")])
        >>> np.asarray(ax.lines[0].get_ydata()).tolist(), len(ax.patches), [t.get_text() for t in ax.get_legend().get_texts()]
        ([1, 3, 7], 1, ['seed 0'])
    """
    require_axes(ax)
    require_mapping("curves", curves)
    for label, pair in curves.items():
        curve(f"curves[{label!r}]", pair)
    plot_stage_bands(ax, stages)
    colours, styles = ("C0", "C3", "C2", "C1", "C4", "C5", "C6", "C7", "C8", "C9"), ("-", "--", ":", "-.")
    for i, (label, (steps, reach)) in enumerate(curves.items()):  # 20 curves before a colour and style repeat
        ax.plot(steps, reach, color=colours[i % len(colours)], ls=styles[i % len(styles)], lw=1.2, label=label)
    ax.set_xlabel("step")
    ax.set_ylabel("reach: last query with summed attention ≥ 0.5", fontsize=8)
    ax.set_title("layer-0 previous-token reach over training", fontsize=9)
    if ax.lines:
        ax.legend(fontsize=6, loc="lower right")
    return ax


def plot_previous_token_coverage(ax: Any, coverage: Mapping[str, Any]) -> Any:
    """Layer-0 previous-token attention by query position per head and summed, over the share of training
    sequences that need each position (:func:`probes.induction.previous_token_coverage`'s result).

    Args:
        coverage: needs ``previous_token_by_position`` (head → ``(n_ctx − 1,)``, queries 1 … n_ctx − 1),
            ``demand`` ``(n_ctx − 1,)`` and ``reach`` (drawn as a dotted line after that query).

    Examples:
        >>> from bridge.plots import new_figure
        >>> fig, ax = new_figure()
        >>> cov = {"previous_token_by_position": {"L0H0": [0.75, 0.5, 0.25], "L0H1": [0.25, 0.25, 0.5]}, "demand": [1.0, 1.0, 0.5], "reach": 3}
        >>> ax = plot_previous_token_coverage(ax, cov)
        >>> ax.lines[2].get_ydata().tolist(), ax.lines[3].get_xdata()   # the sum over heads; the reach line
        ([1.0, 0.75, 0.75], [3.5, 3.5])
    """
    require_axes(ax)
    require_mapping("coverage", coverage)
    for field in ("previous_token_by_position", "demand", "reach"):
        if field not in coverage:
            raise ValueError(f"coverage has no {field!r} (it needs previous_token_by_position, demand and reach)")
    prev = coverage["previous_token_by_position"]
    require_mapping("coverage['previous_token_by_position']", prev)
    if not prev:
        raise ValueError("coverage['previous_token_by_position'] has no head")
    n = len(series(f"previous_token_by_position[{next(iter(prev))!r}]", next(iter(prev.values())), empty=False))
    for name, values in prev.items():
        series(f"previous_token_by_position[{name!r}]", values, n, of="query 1 … n_ctx − 1")
    series("coverage['demand']", coverage["demand"], n, of="query 1 … n_ctx − 1")
    q = np.arange(1, n + 1)
    ax.fill_between(q, coverage["demand"], color="0.85", step="mid", label="share of training\nsequences needing q")
    for name, values in prev.items():
        ax.plot(q, values, lw=1.2, label=name)
    total = np.sum(list(prev.values()), axis=0)
    ax.plot(q, total, "k--", lw=1, label="sum over heads")
    ax.set_xlabel("query position q")
    ax.set_ylabel("attention to q − 1")
    ax.set_title("layer-0 previous-token attention by position", fontsize=9)
    ax.set_ylim(-0.03, max(1.05, 1.05 * float(np.max(total, initial=0.0, where=np.isfinite(total)))))  # an infinite score has no top
    ax.axvline(coverage["reach"] + 0.5, color="0.4", ls=":", lw=1, label=f"reach (query {coverage['reach']:g})")
    ax.legend(fontsize=6, loc="center right")
    return ax


def plot_induction_by_key(ax: Any, coverage: Mapping[str, Any], head: str, min_count: int = 5) -> Any:
    """The induction head's attention to the key it needs, by the key's position, per evaluation set
    (keys seen at least ``min_count`` times; :func:`probes.induction.previous_token_coverage`'s result).

    Args:
        coverage: needs ``reach`` and, per drawn split (``test``, ``off``), ``induction_<split>`` with
            ``by_key`` and ``count``, each ``(n_ctx,)`` (``by_key`` is ``None`` where no query needs the key).
        head: the induction head's name, for the title.

    Examples:
        >>> from bridge.plots import new_figure
        >>> fig, ax = new_figure()
        >>> cov = {"reach": 2, "induction_test": {"by_key": [None, 0.9, 0.8, 0.3], "count": [0, 6, 7, 2]}}
        >>> ax = plot_induction_by_key(ax, cov, "L1H0")   # key 3 is seen only twice: left out
        >>> np.asarray(ax.lines[0].get_xdata()).tolist(), np.asarray(ax.lines[0].get_ydata()).tolist()
        ([1, 2], [0.9, 0.8])
    """
    require_axes(ax)
    require_mapping("coverage", coverage)
    if "reach" not in coverage:
        raise ValueError("coverage has no 'reach'")
    for split, style in (("test", "C0o-"), ("off", "C3s-")):
        data = coverage.get(f"induction_{split}")
        if data is None:
            continue
        by_key = series(f"coverage['induction_{split}']['by_key']", data["by_key"])  # a pandas Series by position, not by its index
        count = series(f"coverage['induction_{split}']['count']", data["count"], len(by_key), of="key in by_key")
        keys = [k for k in range(len(by_key)) if not np.isnan(by_key[k]) and count[k] >= min_count]
        ax.plot(keys, by_key[keys].tolist(), style, ms=3, lw=1, label=f"{split} (queries with one earlier copy)")
    ax.set_xlabel("position of the key induction needs")
    ax.set_ylabel("attention to that key")
    ax.set_title(f"{head} induction attention by key position", fontsize=9)
    ax.set_ylim(-0.03, 1.05)
    ax.axvline(coverage["reach"] + 0.5, color="0.4", ls=":", lw=1, label=f"previous-token reach (query {coverage['reach']:g})")
    ax.legend(fontsize=6, loc="best")  # clear of the points, wherever the attention lies
    return ax


__all__ = ["plot_circuit", "plot_induction_by_key", "plot_loss_stages", "plot_previous_token_coverage", "plot_reach"]
