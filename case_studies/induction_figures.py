"""Figures of the induction-heads case study: losses with stages and LLC, head scores, attention, circuit, previous-token coverage."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from bridge.plots.base import new_figure, plot_stage_bands, save_figure
from bridge.runs.run import Run
from bridge.stages.detectors import Event, Stage
from bridge.tasks.repeated_tokens import repeated_targets
from case_studies.induction_analysis import series
from probes.circuits import draw_circuit, node_name
from bridge.plots.heads import plot_attention, plot_head_heatmap
from probes.heads import attention_patterns


def figure_losses(run: Run, control: Run, stages: list[Stage], llc_stages: list[Stage], llc_event: Event | None) -> Any:
    """Repeated-token / first-occurrence losses (main and control) with stage bands; LLC on a second axis."""
    fig, ax = new_figure(size=(7.5, 4.2))
    plot_stage_bands(ax, stages)
    for label, r, name, split, style in (
        ("repeated tokens (test)", run, "icl/loss_repeated", "test", "C0-"),
        ("repeated tokens (off-position)", run, "icl/loss_repeated", "off", "C0--"),
        ("first occurrences (test)", run, "icl/loss_first", "test", "C1-"),
        ("1-layer control, repeated", control, "icl/loss_repeated", "test", "C3-"),
    ):
        t, v = series(r, name, split=split)
        ax.plot(t, v, style, lw=1.4, label=label)
    ax.axhline(np.log(run.config.task.d_vocab), color="0.5", lw=0.8, ls=":", label="ln V")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats)")
    twin = ax.twinx()
    t_llc, llc = series(run, "llc/mean")
    _, sd = series(run, "llc/std")
    twin.errorbar(t_llc, llc, yerr=sd, color="C2", marker="o", ms=3, lw=1, label="LLC (right)")
    twin.set_ylabel("local learning coefficient", color="C2")
    if llc_event is not None:
        ax.axvline(llc_event.step, color="C2", ls="--", lw=1)
    lines = ax.get_legend_handles_labels()
    more = twin.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], fontsize=7, loc="center right")
    ax.set_title("loss plateau, drop (orange band) and LLC stage boundary (green dashed)", fontsize=9)
    return fig


def figure_head_scores(run: Run, drop: Stage | None) -> Any:
    """Heat maps heads × checkpoints of previous-token, induction and duplicate-token scores."""
    cfg = run.config.model
    heads = [(l, h) for l in range(cfg.n_layers) for h in range(cfg.n_heads)]
    fig, axes = new_figure(ncols=3, size=(4.6, 3.0))
    marks = [] if drop is None else [(drop.start, "loss drop"), (drop.end, "")]
    for ax, score in zip(axes, ("previous_token", "induction", "duplicate_token")):
        rows = [series(run, f"heads/{score}", layer=l, head=h, split="test") for l, h in heads]
        steps = rows[0][0]
        plot_head_heatmap(ax, steps, [node_name(l, h) for l, h in heads], np.stack([v for _, v in rows]), title=f"{score.replace('_', '-')} score", marks=marks)
    return fig


def _example(tokens: torch.Tensor) -> int:
    """A test sequence with a prefix and at least two repeats of a short block."""
    rep = repeated_targets(tokens)
    first = rep.float().argmax(1)
    good = ((first >= 6) & (rep.sum(1) >= 12)).nonzero().flatten()
    return int(good[0]) if len(good) else 0


def figure_attention(run: Run, tokens: torch.Tensor, before: int, ind_head: int, prev_head: int) -> Any:
    """Attention of the previous-token and induction heads on one sequence, before and after the drop."""
    i = _example(tokens)
    seq = tokens[i : i + 1]
    rep = repeated_targets(seq)[0]
    boundaries = [int(rep.float().argmax()) - 1] if rep.any() else []
    fig, axes = new_figure(ncols=2, nrows=2, size=(4.4, 4.0))
    for row, step in enumerate((before, run.steps[-1])):
        patterns = attention_patterns(run.model_at(step), seq)
        for col, (layer, head, label) in enumerate(((0, prev_head, "previous-token head"), (1, ind_head, "induction head"))):
            plot_attention(axes[2 * row + col], patterns[layer, 0, head].numpy(), seq[0].tolist(), title=f"{node_name(layer, head)} ({label}), step {step}", boundaries=boundaries)
    return fig


def figure_circuit(graphs: dict, edge_z: float) -> Any:
    """Circuit graph (K-composition z-scores) at the first and last analysed checkpoints."""
    fig, axes = new_figure(ncols=2, size=(4.4, 3.6))
    for ax, step in zip(axes, (min(graphs), max(graphs))):
        draw_circuit(ax, graphs[step], edge_attr="k_comp_z", threshold=edge_z, node_attr="induction", title=f"step {step}: K-composition z ≥ {edge_z:g}")
    return fig


def figure_coverage(run: Run, coverage: dict[str, Any], ind_head: int, stages: list[Stage]) -> Any:
    """How far the previous-token heads reach over training (left), where they work at the end (middle),
    and where the induction head finds its key at the end (right).

    ``coverage`` is :func:`case_studies.induction_analysis.previous_token_coverage`'s result; the left
    panel reads ``heads/previous_token_reach`` and is left empty for runs recorded without it.
    """
    fig, (over, left, right) = new_figure(ncols=3, size=(4.2, 3.4))
    plot_stage_bands(over, stages)
    for split, style in (("test", "C0-"), ("off", "C3--")):
        try:
            t, reach = series(run, "heads/previous_token_reach", layer=0, split=split)
        except KeyError:
            continue
        over.plot(t, reach, style, lw=1.2, label=split)
    over.set_xlabel("step")
    over.set_ylabel("reach: last query with summed attention ≥ 0.5", fontsize=8)
    over.set_title("layer-0 previous-token reach over training", fontsize=9)
    if over.lines:
        over.legend(fontsize=6, loc="lower right")
    prev = coverage["previous_token_by_position"]
    q = np.arange(1, len(next(iter(prev.values()))) + 1)
    left.fill_between(q, coverage["demand"], color="0.85", step="mid", label="share of training\nsequences needing q")
    for name, values in prev.items():
        left.plot(q, values, lw=1.2, label=name)
    total = np.sum(list(prev.values()), axis=0)
    left.plot(q, total, "k--", lw=1, label="sum over heads")
    left.set_xlabel("query position q")
    left.set_ylabel("attention to q − 1")
    left.set_title("layer-0 previous-token attention by position", fontsize=9)
    for split, style in (("test", "C0o-"), ("off", "C3s-")):
        data = coverage.get(f"induction_{split}")
        if data is None:
            continue
        keys = [k for k, (v, c) in enumerate(zip(data["by_key"], data["count"])) if v is not None and c >= 5]
        right.plot(keys, [data["by_key"][k] for k in keys], style, ms=3, lw=1, label=f"{split} (queries with one earlier copy)")
    right.set_xlabel("position of the key induction needs")
    right.set_ylabel("attention to that key")
    right.set_title(f"L1H{ind_head} induction attention by key position", fontsize=9)
    left.set_ylim(-0.03, max(1.05, 1.05 * float(total.max())))
    right.set_ylim(-0.03, 1.05)
    for ax, where in ((left, "center right"), (right, "center")):
        ax.axvline(coverage["reach"] + 0.5, color="0.4", ls=":", lw=1)
        ax.legend(fontsize=6, loc=where)
    return fig


def write_figures(run: Run, control: Run, stages, llc_stages, llc_event, graphs, ind_head: int, prev_head: int, tokens, drop: Stage | None, edge_z: float, coverage: dict[str, Any]) -> list[str]:
    """Write every figure into ``run.figures_dir``; return their paths relative to the run."""
    before = max([s for s in run.steps if drop is None or s <= drop.start - drop.start_uncertainty] or [run.steps[0]])
    figures = {
        "losses.png": figure_losses(run, control, stages, llc_stages, llc_event),
        "head_scores.png": figure_head_scores(run, drop),
        "attention.png": figure_attention(run, tokens, before, ind_head, prev_head),
        "circuit.png": figure_circuit(graphs, edge_z),
        "coverage.png": figure_coverage(run, coverage, ind_head, stages),
    }
    return [str(save_figure(fig, run.figures_dir / name).relative_to(run.path)) for name, fig in figures.items()]


__all__ = ["figure_attention", "figure_circuit", "figure_coverage", "figure_head_scores", "figure_losses", "write_figures"]
