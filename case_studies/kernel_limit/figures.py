"""The figures of the ``kernel-limit`` case study: learned fractions and test error against α, kernel distance,
the lazy end's residual trajectories against the linearised dynamics, and the first layer's support share."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from bridge.report import BridgeReport
from bridge.runs.run import Run


def figures(ordered: Sequence[tuple[float, Run]], obs: dict, labels: Sequence[str], targets: Any, report: BridgeReport) -> list[str]:
    """Learned fraction and test MSE vs α, kernel distance vs α, residual trajectories at the lazy end, support shares.

    Args:
        ordered: ``(α, run)`` pairs, the lazy end first; obs: what the report judged
            (``observe(runs)``); labels: one per target term; targets: the preset's ``Targets``.

    Examples:
        >>> get_case_study("kernel-limit").figures(runs, report, preset)  # how the study calls it, with the runs it trained  # doctest: +SKIP
    """
    from bridge.plots import new_figure, plot_alignment_rise, plot_curves, plot_draw_means, plot_fraction_vs_scale, plot_kernel_distance, plot_support_share, plot_test_vs_scale, save_figure

    lazy_alpha, lazy = ordered[0]
    found, rows, alphas, folder, cross = obs["theory"], obs["sweep"]["rows"], obs["sweep"]["alphas"], lazy.figures_dir, report.extra.get("crossover", {})
    fig, axes = new_figure(ncols=2, size=(5.2, 3.8))
    plot_fraction_vs_scale(axes[0], alphas, {lab: [r["fractions"][i] for r in rows] for i, lab in enumerate(labels)}, dict(zip(labels, found["learnability"])))
    moved = [found["prediction"].test_mse * math.exp(r["first_order_shift"]) for r in report.extra["sweep"]]
    plot_test_vs_scale(axes[1], alphas, [r["cube_mse"] for r in rows], found["prediction"].test_mse, targets.crossover_departure, cross.get("test_mse"), moved)
    drawn = obs["draws"]
    if len(drawn["cube_mse"]) > 1:  # the lazy end over training sets, what eigenlearning predicts
        plot_draw_means(axes[0], lazy_alpha, {lab: drawn["fractions"][:, i] for i, lab in enumerate(labels)}, [f"C{i % 10}" for i in range(len(labels))]).legend(fontsize=7)
        plot_draw_means(axes[1], lazy_alpha, {"cube MSE": drawn["cube_mse"]}, ["C1"]).legend(fontsize=7)
    axes[0].set_title("Learned fraction per Walsh term vs α", fontsize=9), axes[1].set_title("Test error vs α", fontsize=9)
    paths = [save_figure(fig, folder / "learned_vs_alpha.png")]
    fig, axes = new_figure(ncols=2, size=(5.2, 3.8))
    plot_kernel_distance(axes[0], alphas, [r["distance"] for r in rows], targets.crossover_distance, cross.get("kernel_distance")).set_title("How far the tangent kernel moves", fontsize=9)
    marks = {"alignment rise": cross.get("alignment"), "test MSE leaves K₀ descent": cross.get("test_mse_own_set"), f"distance reaches {targets.crossover_distance:g}": cross.get("kernel_distance"),
             "moved eigenlearning departs": cross.get("kernel_along_target")}
    rise = [r["alignment"][1] / r["alignment"][0] for r in rows]
    plot_alignment_rise(axes[1], alphas, rise, 1 + targets.crossover_departure, marks).set_title("How far it turns towards the target", fontsize=9)
    paths.append(save_figure(fig, folder / "kernel_distance.png"))
    fig, ax = new_figure(size=(6.2, 4.0))
    steps, late = found["steps"], found["steps"] > 0
    observed = {lab: (obs["curves"][i][0][late], 1 - obs["curves"][i][1][late]) for i, lab in enumerate(labels)}
    plot_curves(ax, observed, {lab: (steps[late], 1 - found["fractions"][i][late]) for i, lab in enumerate(labels)}, ylabel="residual 1 − f̂(S)/c_S", logx=True)
    ax.set_title(f"Lazy end α={lazy_alpha:g}: residual per term (dashed: linearised, initial NTK)", fontsize=9)
    paths.append(save_figure(fig, folder / "residuals.png"))
    fig, ax = new_figure(size=(5.6, 3.8))
    support = len({j for t in obs["subsets"] for j in t})
    plot_support_share(ax, {f"α={a:g}": run.curve("features/support_share") for a, run in ordered}, support / lazy.config.task.d).set_title("First-layer weight on the target's coordinates", fontsize=9)
    paths.append(save_figure(fig, folder / "support_share.png"))
    return [str(p.relative_to(lazy.path)) for p in paths]


__all__ = ["figures"]
