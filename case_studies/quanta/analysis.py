"""The analysis of the ``quanta`` case study: observables of a width sweep, the judged rows, the figures.

:func:`observables` reads the runs into plain arrays (:class:`SweepObservables`);
:func:`judge` turns arrays into the report, so every row can be tested on
synthetic observables where its claim is false.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from scipy import stats

from bridge.match import check
from bridge.plots.base import new_figure, save_figure
from bridge.plots.quanta import (
    hidden_progress_legend,
    plot_hidden_progress,
    plot_power_law,
    plot_quanta_per_width,
    plot_subtask_losses,
)
from bridge.report import BridgeReport, not_reached
from bridge.runs.run import Run
from bridge.stages.quanta import subtask_drop, value_at
from bridge.tasks import Split
from bridge.tasks.sparse_parity import sparse_parity_test
from bridge.theory import quanta as theory

CHANCE = theory.CHANCE_LOSS
PAPER = "Michaud, Liu, Girit & Tegmark 2023, The quantization model of neural scaling"
BARAK = "Barak, Edelman, Goel, Kakade, Malach & Zhang 2022, Hidden progress in deep learning: SGD learns parities near the computational limit"


@dataclass
class WidthCurves:
    """One width's curves: ``steps`` ``(step,)``, ``losses`` ``(step, subtask)``, ``mean_loss`` ``(step,)``, ``share`` ``(step, subtask)`` or ``None``.

    Examples:
        >>> c = WidthCurves(8, 100, np.arange(3.0), np.full((3, 2), np.log(2)), np.full(3, np.log(2)))
        >>> c.losses.shape, c.share
        ((3, 2), None)
    """

    width: int
    n_params: int
    steps: np.ndarray
    losses: np.ndarray
    mean_loss: np.ndarray
    share: np.ndarray | None = None


@dataclass
class SweepObservables:
    """What the report reads: subtask frequencies ``(subtask,)`` (rank order), share at chance, the curves per width (widest last).

    Examples:
        >>> flat = lambda w: WidthCurves(w, 10 * w, np.arange(3.0), np.full((3, 2), np.log(2)), np.full(3, np.log(2)))
        >>> SweepObservables(0.4, np.array([0.6, 0.4]), 0.3, [flat(8), flat(64)]).main.width
        64
    """

    alpha: float
    frequencies: np.ndarray
    chance_share: float
    curves: list[WidthCurves]
    mechanism: dict[str, Any] = field(default_factory=dict)

    @property
    def main(self) -> WidthCurves:
        return self.curves[-1]


def _table(run: Run, name: str) -> tuple[np.ndarray, np.ndarray]:
    frame = run.metrics
    wide = frame[frame["observable"] == name].pivot_table(index="step", columns="subtask", values="value")
    return wide.index.to_numpy(dtype=float), wide.to_numpy(dtype=float)


def observables(runs: Mapping[str, Run]) -> SweepObservables:
    """Curves of every run, sorted by width, and the main run's final mechanism (units needed, sharing, Walsh gaps).

    Examples:
        >>> obs = observables({"main": load_run("runs/quanta")} | {p.name: load_run(p) for p in Path("runs/quanta/runs").glob("width_*")})  # doctest: +SKIP
    """
    from probes.quanta import unit_sharing, walsh_gap
    from probes.quanta_ablation import units_needed

    curves = []
    for run in runs.values():
        width = int(run.config.model.widths[0])
        d_in = run.config.model.d_in
        steps, losses = _table(run, "subtask/loss")
        mean = run.observable("quanta/mean_loss").reindex(steps).to_numpy(dtype=float)
        share = _table(run, "subtask/relevant_share")[1] if (run.metrics["observable"] == "subtask/relevant_share").any() else None
        curves.append(WidthCurves(width, (d_in + 1) * width + (width + 1) * 2, steps, losses, mean, share))
    curves.sort(key=lambda c: c.width)
    main = runs["main"]
    test, info = sparse_parity_test(main.config.task, main.config.seed)  # the test split alone: no training set drawn
    test = Split(test.x.to(getattr(torch, main.config.train.dtype)), test.y)  # as training saw it
    model = main.model_at(main.steps[-1])
    ranking, needed = units_needed(model, test.x, test.y, info["test_task"], info["n_tasks"])
    gaps = walsh_gap(model, test.x, info["test_task"], info["subtask_bits"])
    mechanism = {"units_needed": needed.tolist(), "sharing": unit_sharing(ranking, needed), "walsh_gap": gaps.tolist()}
    return SweepObservables(float(info["alpha"]), info["frequencies"].numpy(), info["k_bits"] / info["n_bits"], curves, mechanism)


def fit_power_law(x: np.ndarray, y: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Least-squares exponent ``s`` of ``y ∝ x^{−s}`` on log-log axes and its ``level`` confidence interval.

    Examples:
        >>> s, lo, hi = fit_power_law(np.array([1.0, 2, 4, 8]), np.array([1.0, 0.5, 0.25, 0.125]))
        >>> round(s, 6), round(lo, 6), round(hi, 6)
        (1.0, 1.0, 1.0)
    """
    lx, ly = np.log(np.asarray(x, dtype=float)), np.log(np.asarray(y, dtype=float))
    fit = stats.linregress(lx, ly)
    half = stats.t.ppf(0.5 + level / 2, len(lx) - 2) * fit.stderr if len(lx) > 2 else math.inf
    return float(-fit.slope), float(-fit.slope - half), float(-fit.slope + half)


def emergence(curves: WidthCurves) -> list:
    """The drop of each subtask's loss (``None`` for a subtask not learned), one per column of ``curves.losses``.

    Examples:
        >>> t = np.arange(0.0, 1001.0, 10.0); loss = np.log(2) / (1 + np.exp((t[:, None] - np.array([300.0, 600.0])) / 10))
        >>> drops = emergence(WidthCurves(64, 800, t, np.hstack([loss, np.full((len(t), 1), np.log(2))]), loss.mean(1)))   # a third subtask stays at chance
        >>> [None if d is None else round(d.step) for d in drops]
        [300, 600, None]
    """
    return [subtask_drop(curves.steps, curves.losses[:, k], CHANCE, name=f"subtask {k} emergence") for k in range(curves.losses.shape[1])]


def _learned_final(c: WidthCurves) -> int:
    return int((c.losses[-1] < CHANCE / 2).sum())


def _worst(values: dict[int, float], pick: Callable[[Iterable[float]], float]) -> tuple[float | None, list[int]]:
    """``pick`` (``max`` or ``min``) of the values, or NaN with the keys whose value is not finite; ``None`` when empty."""
    unmeasured = [k for k, v in values.items() if not np.isfinite(v)]
    if not values:
        return None, unmeasured
    return (math.nan if unmeasured else float(pick(values.values()))), unmeasured


def judge(obs: SweepObservables, targets: Any) -> BridgeReport:
    """The report of a sweep's observables against ``targets`` (a :class:`case_studies.quanta.Targets`).

    Examples:
        >>> from case_studies.quanta import Targets
        >>> t = np.arange(0.0, 1001.0, 10.0); loss = np.log(2) / (1 + np.exp((t[:, None] - np.array([300.0, 600.0])) / 10))   # (step, subtask): drops at 300, 600
        >>> obs = SweepObservables(0.4, np.array([0.6, 0.4]), 0.3, [WidthCurves(8, 100, t, np.full_like(loss, np.log(2)), np.full(len(t), np.log(2))), WidthCurves(64, 800, t, loss, loss @ np.array([0.6, 0.4]))])
        >>> report = judge(obs, Targets(min_learned=2)); report.extra["quanta"]["emergence_step"], report.extra["quanta"]["quanta_learned"], len(report.failed_claims)   # fails: no share, too few widths and steps for exponents
        ([300.0, 600.0], [0, 2], 3)
    """
    report = BridgeReport("quanta", "custom", 0)
    main, n = obs.main, len(obs.frequencies)
    drops = emergence(main)
    learned = [k for k, d in enumerate(drops) if d is not None]
    steps = np.array([d.step if d is not None else np.inf for d in drops])
    enough = len(learned) >= targets.min_learned
    report.checks.append(check("subtasks learned by the widest model", len(learned), f">= {targets.min_learned}", enough, role="precondition",
                               reason="" if enough else not_reached(main.steps[-1], f"the widest model learned {len(learned)} subtasks")))
    for c in obs.curves:
        late, final = int((c.losses[np.searchsorted(c.steps, 0.75 * c.steps[-1])] < CHANCE / 2).sum()), _learned_final(c)
        report.checks.append(check(f"width {c.width}: quanta learned at 3/4 of training and at the end", f"{late} / {final}", "equal (converged)", late == final, role="precondition",
                                   reason="" if late == final else not_reached(c.steps[-1], f"the count of quanta still moves in the last quarter ({late} → {final})")))

    filled = np.where(np.isfinite(steps), steps, np.nanmax(np.where(np.isfinite(steps), steps, np.nan)) + 1 if learned else 1.0)
    rho = float(stats.spearmanr(np.arange(n), filled).statistic) if enough and len(set(filled)) > 1 else None
    report.checks.append(check("Spearman ρ: frequency rank vs emergence step", rho, f">= {targets.order_rho:g}", rho is not None and rho >= targets.order_rho,
                               claim="subtasks are learned in order of frequency", source=f"{PAPER}, Sec. 3 (quanta learned in order of use frequency)",
                               reason="" if rho is not None else "too few subtasks learned"))

    ratios = {k: drops[k].width / drops[k].step for k in learned}
    worst, unmeasured = _worst(ratios, max)
    ok = bool(ratios) and not unmeasured and worst <= targets.abrupt_ratio
    report.checks.append(check("largest drop width / emergence step", worst, f"<= {targets.abrupt_ratio:g} for every learned subtask", ok,
                               claim="each subtask's loss drops abruptly relative to its own time scale", source=f"{PAPER}, Fig. 2; {BARAK}",
                               reason="no subtask learned" if not ratios else f"no drop width for subtask(s) {unmeasured}: the loss never reached the drop's end" if unmeasured else ""))

    hidden = {}
    if main.share is not None:
        hidden = {k: value_at(main.steps, main.share[:, k], drops[k].onset) / obs.chance_share for k in learned}
    least, unmeasured = _worst(hidden, min)
    ok = bool(hidden) and not unmeasured and least >= targets.hidden_factor
    report.checks.append(check("least relevant-bit share at a drop's onset / chance", least, f">= {targets.hidden_factor:g} for every learned subtask", ok,
                               claim="hidden progress: the relevant-bit weight share rises above chance before the subtask's loss drops", source=f"{BARAK}, Sec. 4 (hidden progress)",
                               reason="no share measured on a learned subtask" if not hidden else f"no share at the onset of subtask(s) {unmeasured}" if unmeasured else ""))

    counts = [_learned_final(c) for c in obs.curves]
    grows = all(b >= a for a, b in itertools.pairwise(counts)) and counts[-1] > counts[0]
    report.checks.append(check("quanta learned by width (narrow → wide)", str(counts), "non-decreasing, more at the widest than the narrowest", grows,
                               claim="the number of quanta learned grows with the number of parameters", source=f"{PAPER}, Sec. 2 (each quantum costs parameters)"))

    _exponent_rows(report, obs, targets, counts, drops)
    _bridge_rows(report, obs, targets)

    report.checks.append(check("units needed per learned subtask (mean)", obs.mechanism.get("sharing", {}).get("units_per_subtask"), "reported", True, role="info"))
    report.checks.append(check("share of needed units serving one subtask (monogenic)", obs.mechanism.get("sharing", {}).get("monogenic_share"), "reported", True, role="info"))
    report.events = [d.event.to_dict() | {"subtask": k} for k, d in enumerate(drops) if d is not None]
    report.extra["quanta"] = {
        "widths": [c.width for c in obs.curves], "n_params": [c.n_params for c in obs.curves], "quanta_learned": counts,
        "final_mean_loss": [float(c.mean_loss[-1]) for c in obs.curves], "emergence_step": [None if d is None else d.step for d in drops],
        "drop_width": [None if d is None else d.width for d in drops], "onset_share_over_chance": {str(k): share for k, share in hidden.items()}, **obs.mechanism,
    }
    return report


def _exponent_rows(report: BridgeReport, obs: SweepObservables, targets: Any, counts: list[int], drops: list) -> None:
    n, alpha = len(obs.frequencies), obs.alpha
    tol = targets.exponent_tolerance
    below = [(c, k) for c, k in zip(obs.curves, counts) if k < n]
    value, reason, ci = None, "", None
    if len(below) >= 3:
        N = np.array([c.n_params for c, _ in below], dtype=float)
        s, lo, hi = fit_power_law(N, np.array([c.mean_loss[-1] for c, _ in below]))
        value, ci = s, (lo, hi)
        finite = fit_power_law(N, np.maximum(theory.expected_loss(np.array([k for _, k in below]), alpha, n), 1e-12))[0]
        report.checks.append(check("exponent the quantization model gives for the quanta learned at these widths (finite n_tasks)", finite, "reported", True, role="info"))
    else:
        reason = f"only {len(below)} widths below the floor (all quanta learned); need 3"
    ok = value is not None and abs(value - alpha) <= tol * alpha
    report.checks.append(check("exponent of final mean loss vs parameters" + ("" if ci is None else f" (95% CI {ci[0]:.3f} to {ci[1]:.3f})"), value, f"within {tol:.0%} of α = {alpha:g}", ok,
                               claim="mean loss falls as a power law in parameters with exponent α", source=f"{PAPER}, Eq. 2 and Fig. 3", depends_on=("n_tasks", "widths"), reason=reason,
                               key="exponent of final mean loss vs parameters"))

    main, target = obs.main, theory.data_exponent(alpha)
    times = sorted(d.step for d in drops if d is not None)
    value, reason = None, ""
    window = (main.steps >= times[0]) & (main.steps <= times[-1]) if times else np.zeros(len(main.steps), bool)
    if window.sum() >= 3:
        value, lo, hi = fit_power_law(main.steps[window], main.mean_loss[window])
        k_at = np.array([(np.array(times) <= t).sum() for t in main.steps[window]])
        finite = fit_power_law(main.steps[window], np.maximum(theory.expected_loss(k_at, alpha, len(obs.frequencies)), 1e-12))[0]
        report.checks.append(check("exponent the quantization model gives for the quanta learned at these steps (finite n_tasks)", finite, "reported", True, role="info"))
        report.checks.append(check("95% CI of the steps exponent", f"{lo:.3f} to {hi:.3f}", "reported", True, role="info"))
    else:
        reason = "fewer than 3 tracked steps between the first and the last emergence"
    ok = value is not None and abs(value - target) <= tol * target
    report.checks.append(check("exponent of mean loss vs steps, widest model (first to last emergence)", value, f"within {tol:.0%} of α/(α+1) = {target:.3g}", ok,
                               claim="mean loss falls as a power law in steps with exponent α/(α+1)", source=f"{PAPER}, Eq. 3 and Fig. 3", depends_on=("n_tasks", "steps"), reason=reason))


def predicted_from_learned(losses: np.ndarray, frequencies: np.ndarray) -> np.ndarray:
    """Mean loss the quantization model gives at each step from the subtasks learned (loss below ``ln 2 / 2``):
    chance ``ln 2`` for each unlearned subtask, 0 for a learned one. ``losses`` ``(step, subtask)`` → ``(step,)``.

    Examples:
        >>> predicted_from_learned(np.array([[0.69, 0.69], [0.01, 0.69], [0.01, 0.01]]), np.array([0.75, 0.25])).round(4).tolist()   # 0.25 · ln 2 with one learned
        [0.6931, 0.1733, 0.0]
    """
    return np.array([theory.loss_from_learned(row < CHANCE / 2, frequencies) for row in losses])


def _bridge_rows(report: BridgeReport, obs: SweepObservables, targets: Any) -> None:
    def settled(c: WidthCurves) -> np.ndarray:
        """Steps where every subtask is learned (< 0.1 b) or not (> 0.9 b), as the model assumes, and one is not."""
        binary = ((c.losses < 0.1 * CHANCE) | (c.losses > 0.9 * CHANCE)).all(1)
        return binary & ((c.losses < CHANCE / 2).sum(1) < c.losses.shape[1])  # all learned: the model predicts the floor 0

    def errors(c: WidthCurves) -> np.ndarray:
        keep = settled(c)
        pred = predicted_from_learned(c.losses[keep], obs.frequencies)
        return np.abs(pred - c.mean_loss[keep]) / c.mean_loss[keep]

    main = errors(obs.main)
    before = (obs.main.losses < CHANCE / 2).sum(1) < obs.main.losses.shape[1]
    coverage = float(settled(obs.main).sum() / max(before.sum(), 1))
    worst = float(main.max()) if len(main) and coverage >= targets.bridge_coverage else None
    report.checks.append(check("share of the widest model's tracked steps (before all are learned) with every subtask settled", coverage, f">= {targets.bridge_coverage:g} for the bridge to be judged", True, role="info"))
    if len(main):
        report.checks.append(check("largest error over the settled steps, however few", float(main.max()), "reported", True, role="info"))
    everywhere = np.abs(predicted_from_learned(obs.main.losses[before], obs.frequencies) - obs.main.mean_loss[before]) / obs.main.mean_loss[before]
    if len(everywhere):
        report.checks.append(check("largest error over every tracked step before all are learned (mid-drop steps included)", float(everywhere.max()), "reported", True, role="info"))
    report.checks.append(check("largest |predicted − measured| / measured mean loss over the widest model's settled tracked steps", worst, f"<= {targets.bridge_tolerance:g}", worst is not None and worst <= targets.bridge_tolerance,
                               claim="the mean loss is the frequency-weighted loss of the quanta not yet learned", source=f"{PAPER}, Eq. 1; bridge.theory.quanta.loss_from_learned",
                               reason="" if worst is not None else f"every subtask is settled (learned or not) at only {coverage:.0%} of the tracked steps: the binary premise does not hold"))
    if worst is not None:
        report.checks.append(check("share of the widest model's settled steps within the tolerance", float((main <= targets.bridge_tolerance).mean()), "reported", True, role="info"))
        report.checks.append(check("median |predicted − measured| / measured, widest model", float(np.median(main)), "reported", True, role="info"))
    every = [float(errors(c).max()) for c in obs.curves if len(errors(c))]
    report.checks.append(check("the same error, worst over every width", max(every) if every else None, "reported", True, role="info"))


def analyse_sweep(runs: Mapping[str, Run], targets: Any) -> BridgeReport:
    """The bridge report of a finished sweep (runs keyed ``main``, ``width_W``).

    Examples:
        >>> analyse_sweep(runs, get_case_study("quanta").presets["quick"].targets).verdict  # runs as for :func:`observables`  # doctest: +SKIP
    """
    obs = observables(runs)
    report = judge(obs, targets)
    report.seed, report.observations = runs["main"].config.seed, obs
    return report


def figures(runs: Mapping[str, Run], report: BridgeReport) -> list[str]:
    """Per-subtask losses, the two scaling laws, hidden progress for four subtasks, quanta per width, drawn from
    the observations the analysis kept (measured again from ``runs`` for a report without them).

    Examples:
        >>> figures(runs, report)  # paths of the figures, relative to the main run  # doctest: +SKIP
    """
    obs = report.observed(lambda: observables(runs))
    main_run, main = runs["main"], obs.main
    folder = main_run.figures_dir
    drops = emergence(main)
    fig, ax = new_figure(size=(6.5, 4.2))
    plot_subtask_losses(ax, main.steps, main.losses, [np.nan if d is None else d.step for d in drops], title=f"Per-subtask test loss, width {main.width} (dots: emergence)")
    paths = [save_figure(fig, folder / "subtask_losses.png")]

    paths.append(save_figure(_scaling_figure(obs, drops, report), folder / "scaling.png"))

    learned = [k for k, d in enumerate(drops) if d is not None]
    picks = [learned[i] for i in np.unique(np.linspace(0, len(learned) - 1, min(4, len(learned))).astype(int))] if learned else []
    if main.share is not None and picks:
        fig, axes = new_figure(ncols=len(picks), size=(3.2, 3.2))
        panels = [(ax, plot_hidden_progress(ax, main.steps, main.losses[:, k], main.share[:, k], obs.chance_share, onset=drops[k].onset, title=f"subtask {k} (rank {k + 1})", legend=False))
                  for ax, k in zip(np.atleast_1d(axes), picks)]
        hidden_progress_legend(fig, panels)  # one legend under the panels, clear of the drops
        paths.append(save_figure(fig, folder / "hidden_progress.png"))

    fig, ax = new_figure(size=(4.8, 3.6))
    plot_quanta_per_width(ax, [c.width for c in obs.curves], {f"seed {main_run.config.seed}": [_learned_final(c) for c in obs.curves]}, len(obs.frequencies))
    paths.append(save_figure(fig, folder / "quanta_per_width.png"))
    return [str(p.relative_to(main_run.path)) for p in paths]


def _measured(report: BridgeReport, name: str) -> float | None:
    """The value of the first check row of ``report`` whose name starts with ``name`` (``None``: no such row, or not
    measured); a ``TypeError`` naming the row when it holds a text, not a number."""
    value = next((r.value for r in report.checks if r.name.startswith(name)), None)
    if isinstance(value, str):
        raise TypeError(f"the check row {name!r} must hold a number, got the text {value!r}")
    return value


def _scaling_figure(obs: SweepObservables, drops: Sequence[Any], report: BridgeReport) -> Any:
    """Final loss against parameters, and the widest model's loss against steps with the mean loss the quanta
    learned predict; that prediction is 0 once every subtask is learned, which a log axis cannot show (left out)."""
    main = obs.main
    fig, axes = new_figure(ncols=2, size=(5.2, 3.8))
    fitted = _measured(report, "exponent of final mean loss")
    below = [_learned_final(c) < len(obs.frequencies) for c in obs.curves]
    plot_power_law(axes[0], [c.n_params for c in obs.curves], [c.mean_loss[-1] for c in obs.curves], slope=-obs.alpha, fitted=None if fitted is None else -fitted, fit_mask=below, xlabel="parameters N", title="Final loss vs parameters")
    times = sorted(d.step for d in drops if d is not None)
    keep = (main.steps >= (times[0] if times else 1)) & (main.steps > 0)
    fitted_s = _measured(report, "exponent of mean loss vs steps")
    window = main.steps[keep] <= (times[-1] if times else main.steps[-1])
    plot_power_law(axes[1], main.steps[keep], main.mean_loss[keep], slope=-theory.data_exponent(obs.alpha), fitted=None if fitted_s is None else -fitted_s, fit_mask=window, xlabel="step S", title=f"Loss vs steps, width {main.width}")
    predicted = predicted_from_learned(main.losses[keep], obs.frequencies)
    zero = predicted <= 0
    label = "from quanta learned" + (" (0 once all are learned)" if zero.any() else "")
    axes[1].plot(main.steps[keep], np.where(zero, np.nan, predicted), color="C2", lw=1.0, label=label)
    axes[1].legend(fontsize=7)
    return fig


__all__ = ["SweepObservables", "WidthCurves", "analyse_sweep", "emergence", "figures", "fit_power_law", "judge", "observables", "predicted_from_learned"]
