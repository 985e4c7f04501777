"""Case study ``deep-linear``: Saxe et al.'s exact dynamics meet progressive differentiation.

A deep linear network learns hierarchically structured items. Theory (Saxe,
McClelland & Ganguli 2014/2019) predicts, from the initial weights alone, when
each singular mode of the data rises; the mechanism side measures when the
hidden representation differentiates the categories of each hierarchy level.
The report matches predicted, observed and mechanism times per mode.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bridge.config import RunConfig, ScheduleConfig, TrainConfig
from bridge.match import check, match
from bridge.models import DeepLinearConfig
from bridge.plots.base import new_figure, plot_curves, plot_timeline, save_figure
from bridge.report import BridgeReport
from bridge.runs.run import Run
from bridge.stages.detectors import Event, half_rise
from bridge.tasks import HierarchyConfig
from bridge.theory import saxe
from bridge.trackers.differentiation import DifferentiationTracker
from bridge.trackers.modes import ModeTracker
from case_studies.base import CaseStudy, register


@dataclass(frozen=True)
class Targets:
    """What the deep-linear report judges.

    Args:
        tolerance: relative error allowed between prediction, dynamics and mechanism.
        chance_sds: at initialisation the differentiation ratio must be within
            this many chance standard deviations of 1.
        clear_sds: at the end it must exceed 1 by more than this many.
    """

    tolerance: float = 0.15
    chance_sds: float = 3.0
    clear_sds: float = 3.0


@dataclass(frozen=True)
class DeepLinearPreset:
    """Settings of the ``deep-linear`` case study.

    Args:
        task: the item hierarchy (items = 2**depth).
        model: the network; ``d_in`` and ``d_out`` follow the task (items, tree nodes),
            a wide hidden layer keeps the modes decoupled as the theory assumes, a
            small ``init_std`` gives the stage-wise regime.
        train: full-batch gradient descent; checkpoints log-spaced (dense early, where
            the fast modes rise) plus every 100 steps; trackers run at every checkpoint.
        targets: what the report judges.
    """

    task: HierarchyConfig = HierarchyConfig(depth=4)
    model: DeepLinearConfig = DeepLinearConfig(d_in=16, d_hidden=128, d_out=31, depth=2, init_std=0.005)
    train: TrainConfig = TrainConfig(optimizer="gd", lr=0.05, steps=600, schedule=ScheduleConfig(n_log=40, every=100))
    targets: Targets = Targets()


PRESETS = {
    "quick": DeepLinearPreset(),
    "full": DeepLinearPreset(
        task=HierarchyConfig(depth=6),
        model=DeepLinearConfig(d_in=64, d_hidden=1024, d_out=127, depth=2, init_std=0.002),
        train=TrainConfig(optimizer="gd", lr=0.02, steps=4000, schedule=ScheduleConfig(n_log=80, every=100)),
    ),
}


def run_config(preset: DeepLinearPreset, seed: int) -> RunConfig:
    """The run of ``preset`` with seed ``seed`` (the model's input and output sizes follow the task)."""
    items = 2**preset.task.depth
    model = dataclasses.replace(preset.model, d_in=items, d_out=2 * items - 1)
    return RunConfig(task=preset.task, model=model, train=preset.train, seed=seed, name="deep-linear")


def predictions(run: Run) -> list:
    """Saxe half-rise predictions per mode, from the run's initial weights."""
    data, net = run.task_data(), run.model_at(0)
    u0 = saxe.effective_initial_strength(net.weights[0].detach(), net.weights[1].detach(), data.info["U"], data.info["V"])
    return saxe.predict_modes(data.info["S"].numpy(), u0.numpy(), run.config.train.lr, depth=2)


@register("deep-linear")
class DeepLinear(CaseStudy):
    """Saxe mode dynamics vs hierarchical differentiation in a deep linear network."""

    presets = PRESETS
    family = {
        "task.depth": (3, 5),
        "model.d_hidden": (64, 256),
        "model.init_std": (0.0025, 0.01),
        "train.lr": (0.025, 0.1),
    }

    def runs(self, preset: DeepLinearPreset, seed: int) -> dict[str, RunConfig]:
        return {"main": run_config(preset, seed)}

    def trackers(self, preset: DeepLinearPreset, key: str) -> list:
        return [ModeTracker(), DifferentiationTracker("hook_hidden.0")]

    def analyse(self, runs: Mapping[str, Run], preset: DeepLinearPreset) -> BridgeReport:
        return analyse_run(runs["main"], preset.targets)

    def figures(self, runs: Mapping[str, Run], report: BridgeReport, preset: DeepLinearPreset) -> list[str]:
        run = runs["main"]
        preds, dynamics, mechanism = detect(run)
        return figures(run, preds, dynamics, mechanism, run.task_data().info["mode_level"])

    def across_seeds(self, outs: Mapping[int, Path], preset: DeepLinearPreset) -> list:
        return [seed_similarity(outs, SEED_CKA)] if len(outs) > 1 else []


SEED_CKA = 0.95  # the smallest CKA between two seeds' final hidden representations that counts as the same representation


def seed_similarity(outs: Mapping[int, Path], threshold: float = SEED_CKA, step: int | None = None):
    """The smallest linear CKA between the final hidden representations of any two seeds, as a check.

    Saxe, McClelland & Ganguli (2019) predict the converged hidden representation from the
    input-output correlations alone, up to an orthogonal transform, which CKA ignores:
    every seed should learn the same representation. Each run's hidden layer is read on
    every item at checkpoint ``step`` (default: the last). With as few items as a hierarchy
    has (16 in the quick preset) and wider hidden layers, the plain CKA of two random
    representations is already near 0.9, so the debiased estimator is the one judged.

    Examples:
        >>> row = seed_similarity({0: "runs/dl/seed-0", 1: "runs/dl/seed-1"})  # doctest: +SKIP
        >>> row.passed  # doctest: +SKIP
        True
    """
    from bridge.runs.run import load_run
    from bridge.training.compare import compare

    runs = {f"seed {s}": load_run(path) for s, path in outs.items()}
    final = min(run.steps[-1] for run in runs.values()) if step is None else step
    inputs = next(iter(runs.values())).task_data().train.x
    table = compare(runs, "hook_hidden.0", inputs, steps=[final])
    worst = float(table["cka_debiased"].min())
    return check(
        f"every pair of {len(runs)} seeds learns the same hidden representation (min debiased CKA at step {final})",
        worst,
        f">= {threshold}",
        worst >= threshold,
        claim="the converged representation is set by the task's correlations, the same in every seed up to rotation",
        source="Saxe, McClelland & Ganguli 2019 (PNAS), eqs. 6-8; CKA: Kornblith et al. 2019",
    )


def detect(run: Run) -> tuple[list, list[Event | None], dict[int, Event | None]]:
    """Predictions per mode, each mode's half-rise (dynamics) and each level's differentiation half-rise (mechanism)."""
    data = run.task_data()
    preds = predictions(run)
    dynamics = [half_rise(*run.curve("mode/strength", mode=m), name=f"mode {m} half-rise", observable="mode/strength") for m in range(len(preds))]
    depth = len(data.info["level_labels"]) - 1
    mechanism = {k: half_rise(*run.curve("differentiation/between", level=k), name=f"level {k} differentiation", observable="differentiation/between") for k in range(1, depth + 1)}
    return preds, dynamics, mechanism


def analyse_run(run: Run, targets: Targets = Targets()) -> BridgeReport:
    """The bridge report of one finished deep-linear run (also usable on runs trained by ``train_seeds``).

    Examples:
        >>> report = analyse_run(bridge.load_run("runs/deep-linear"))   # doctest: +SKIP
        >>> report.verdict                                                # doctest: +SKIP
        'pass'
    """
    data = run.task_data()
    levels, depth = data.info["mode_level"], len(data.info["level_labels"]) - 1
    preds, dynamics, mechanism = detect(run)
    report = BridgeReport("deep-linear", "custom", run.config.seed)
    for m, (pred, dyn) in enumerate(zip(preds, dynamics)):
        k = levels[m]
        report.matches.append(
            match(f"mode {m} (level {k}, s={pred.value:.3f}) half-rise", pred.step, dyn, mechanism.get(k), targets.tolerance, require_mechanism=k >= 1, detail={"level": k, "u0": pred.extra["u0"]})
        )
    observed = np.array([np.nan if d is None else d.step for d in dynamics])
    order = _order_fraction(np.array([p.value for p in preds]), observed)
    report.checks.append(check("modes learned in order of strength (fraction of ordered pairs)", order, "== 1", order == 1.0))
    final = np.array([run.curve("mode/strength", mode=m)[1][-1] for m in range(len(preds))])
    worst = float(np.max(np.abs(final / data.info["S"].numpy() - 1)))
    report.checks.append(check("every mode learned (max |final strength / s − 1|)", worst, "< 0.02", worst < 0.02))
    for k in range(1, depth):
        ratio = run.curve("differentiation/ratio", level=k)[1]
        sd = float(run.curve("differentiation/ratio_sd", level=k)[1][0])
        band, clear = targets.chance_sds * sd, 1 + targets.clear_sds * sd
        report.checks.append(check(f"level {k} differentiation at chance at init (ratio)", ratio[0], f"|ratio − 1| < {band:.3f} ({targets.chance_sds:g} chance s.d.)", abs(ratio[0] - 1) < band))
        report.checks.append(check(f"level {k} differentiation clear at end (ratio)", ratio[-1], f"> {clear:.3f} (1 + {targets.clear_sds:g} chance s.d.)", ratio[-1] > clear))
    report.notes.append(f"level {depth} (leaves) has one item per category: its chance ratio is 1 by construction, so only its timing is matched")
    report.events = [e for e in dynamics + list(mechanism.values()) if e is not None] + [p.to_dict() | {"type": "prediction"} for p in preds]
    return report


def _order_fraction(strength: np.ndarray, observed: np.ndarray, margin: float = 0.01) -> float:
    """Share of mode pairs with clearly different strengths whose observed order is stronger-first."""
    good = total = 0
    for i in range(len(strength)):
        for j in range(len(strength)):
            if strength[i] > strength[j] * (1 + margin):
                total += 1
                good += bool(observed[i] < observed[j])
    return good / total if total else 1.0


def figures(run: Run, preds, dynamics: list[Event | None], mechanism: dict[int, Event | None], levels: list[int]) -> list[str]:
    """Mode trajectories over theory; differentiation by level; the event timeline."""
    folder = run.figures_dir
    fig, ax = new_figure(size=(6.5, 4.2))
    curves, theory, colors = {}, {}, {}
    for m, pred in enumerate(preds):
        steps, values = run.curve("mode/strength", mode=m)
        first = levels.index(levels[m]) == m
        label = f"level {levels[m]} ({levels.count(levels[m])} modes)" if first else f"_mode {m}"
        curves[label] = (steps, values)
        theory[label] = (steps, saxe.mode_trajectory(steps, pred.extra["s"], pred.extra["u0"], pred.extra["lr"]))
        colors[label] = f"C{levels[m] % 10}"
    plot_curves(ax, curves, theory, ylabel="mode strength uᵀWv", title="Mode trajectories (dashed: Saxe theory from the initial weights)", colors=colors)
    paths = [save_figure(fig, folder / "mode_trajectories.png")]

    fig, axes = new_figure(ncols=2, size=(5.0, 3.6))
    depth = max(levels)
    between = {f"level {k}": run.curve("differentiation/between", level=k) for k in range(1, depth + 1)}
    ratio = {f"level {k}": run.curve("differentiation/ratio", level=k) for k in range(1, depth)}
    plot_curves(axes[0], between, ylabel="between-category variance", title="Differentiation by level")
    plot_curves(axes[1], ratio, ylabel="ratio to chance (1 = chance)", title="Differentiation vs chance")
    axes[1].axhline(1.0, color="k", lw=0.8, ls=":")
    paths.append(save_figure(fig, folder / "differentiation.png"))

    fig, ax = new_figure(size=(6.5, 0.35 * len(preds) + 1.5))
    rows = [
        {"label": f"mode {m} / level {levels[m]}", "predicted": p.step, "observed": None if d is None else d.step, "mechanism": None if mechanism.get(levels[m]) is None else mechanism[levels[m]].step}
        for m, (p, d) in enumerate(zip(preds, dynamics))
    ]
    plot_timeline(ax, rows)
    ax.set_title("Predicted, dynamics and mechanism events")
    paths.append(save_figure(fig, folder / "timeline.png"))
    return [str(p.relative_to(run.path)) for p in paths]

