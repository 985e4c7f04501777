"""Case study ``deep-linear``: Saxe et al.'s exact dynamics meet progressive differentiation.

A deep linear network learns hierarchically structured items. Theory (Saxe,
McClelland & Ganguli 2014/2019) predicts, from the initial weights alone, when
each singular mode of the data rises; the mechanism side measures when the
hidden representation differentiates the categories of each hierarchy level.
The report matches predicted, observed and mechanism times per mode.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bridge.config import RunConfig, ScheduleConfig, TrainConfig
from bridge.match import check, match
from bridge.models import DeepLinearConfig
from bridge.plots import new_figure, plot_curves, plot_timeline, save_figure
from bridge.report import BridgeReport
from bridge.runs import Run
from bridge.stages import Event, half_rise
from bridge.tasks import HierarchyConfig
from bridge.theory import saxe
from bridge.trackers import ModeTracker
from bridge.train import train
from case_studies.base import CaseStudy, register
from probes import DifferentiationTracker


@dataclass(frozen=True)
class DeepLinearPreset:
    """Settings of the ``deep-linear`` case study.

    Args:
        tree_depth: levels of the item hierarchy (items = 2**tree_depth).
        hidden: hidden width (wide layers keep modes decoupled, as the theory assumes).
        init_std: weight std at initialisation (small: the stage-wise regime).
        lr, steps: full-batch gradient descent.
        n_log: log-spaced checkpoints (trackers run at every checkpoint): dense
            early, where the fast modes rise, sparse late, where the slow ones
            rise on wider sigmoids. Denser tracking (every 2 or 5 steps) was
            measured to change no event by more than 0.1%.
        track_every: extra tracking interval in steps (0: checkpoints only).
        tolerance: relative error allowed between prediction, dynamics and mechanism.
        chance_sds: at initialisation the differentiation ratio must be within
            this many chance standard deviations of 1.
        clear_sds: at the end it must exceed 1 by more than this many.
    """

    tree_depth: int = 4
    hidden: int = 128
    init_std: float = 0.005
    lr: float = 0.05
    steps: int = 600
    n_log: int = 40
    track_every: int = 0
    tolerance: float = 0.15
    chance_sds: float = 3.0
    clear_sds: float = 3.0
    threads: int = 1

    def run_config(self, seed: int) -> RunConfig:
        items = 2**self.tree_depth
        return RunConfig(
            task=HierarchyConfig(depth=self.tree_depth),
            model=DeepLinearConfig(d_in=items, d_hidden=self.hidden, d_out=2 * items - 1, depth=2, init_std=self.init_std),
            train=TrainConfig(optimizer="gd", lr=self.lr, steps=self.steps, schedule=ScheduleConfig(n_log=self.n_log, every=100, track_every=self.track_every), threads=self.threads),
            seed=seed,
            name="deep-linear",
        )


PRESETS = {
    "quick": DeepLinearPreset(),
    "full": DeepLinearPreset(tree_depth=6, hidden=1024, init_std=0.002, lr=0.02, steps=4000, n_log=80),
}


def predictions(run: Run) -> list:
    """Saxe half-rise predictions per mode, from the run's initial weights."""
    data, net = run.task_data(), run.model_at(0)
    u0 = saxe.effective_initial_strength(net.weights[0].detach(), net.weights[1].detach(), data.info["U"], data.info["V"])
    return saxe.predict_modes(data.info["S"].numpy(), u0.numpy(), run.config.train.lr, depth=2)


def run_deep_linear(preset: DeepLinearPreset, out: Path, *, seed: int = 0, device: str = "auto", progress: bool | None = None) -> BridgeReport:
    """Train, predict, detect, match and report; everything lands in ``out``."""
    run = train(preset.run_config(seed), out, trackers=[ModeTracker(), DifferentiationTracker("hook_hidden.0")], device=device, progress=progress)
    name = next((k for k, v in PRESETS.items() if v == preset), "custom")
    return analyse_deep_linear(run, preset, name)


def analyse_deep_linear(run: Run, preset: DeepLinearPreset, preset_name: str = "custom") -> BridgeReport:
    """Build the bridge report of a finished deep-linear run (also usable on a loaded run)."""
    data = run.task_data()
    levels = data.info["mode_level"]
    preds = predictions(run)
    dynamics = [half_rise(*run.curve("mode/strength", mode=m), name=f"mode {m} half-rise", observable="mode/strength") for m in range(len(preds))]
    depth = len(data.info["level_labels"]) - 1
    mechanism = {k: half_rise(*run.curve("differentiation/between", level=k), name=f"level {k} differentiation", observable="differentiation/between") for k in range(1, depth + 1)}

    report = BridgeReport("deep-linear", preset_name, run.config.seed)
    for m, (pred, dyn) in enumerate(zip(preds, dynamics)):
        k = levels[m]
        report.matches.append(
            match(f"mode {m} (level {k}, s={pred.value:.3f}) half-rise", pred.step, dyn, mechanism.get(k), preset.tolerance, require_mechanism=k >= 1, detail={"level": k, "u0": pred.extra["u0"]})
        )
    observed = np.array([np.nan if d is None else d.step for d in dynamics])
    report.checks.append(check("modes learned in order of strength (fraction of ordered pairs)", _order_fraction(np.array([p.value for p in preds]), observed), "== 1", _order_fraction(np.array([p.value for p in preds]), observed) == 1.0))
    final = np.array([run.curve("mode/strength", mode=m)[1][-1] for m in range(len(preds))])
    worst = float(np.max(np.abs(final / data.info["S"].numpy() - 1)))
    report.checks.append(check("every mode learned (max |final strength / s − 1|)", worst, "< 0.02", worst < 0.02))
    for k in range(1, depth):
        ratio = run.curve("differentiation/ratio", level=k)[1]
        sd = float(run.curve("differentiation/ratio_sd", level=k)[1][0])
        band, clear = preset.chance_sds * sd, 1 + preset.clear_sds * sd
        report.checks.append(check(f"level {k} differentiation at chance at init (ratio)", ratio[0], f"|ratio − 1| < {band:.3f} ({preset.chance_sds:g} chance s.d.)", abs(ratio[0] - 1) < band))
        report.checks.append(check(f"level {k} differentiation clear at end (ratio)", ratio[-1], f"> {clear:.3f} (1 + {preset.clear_sds:g} chance s.d.)", ratio[-1] > clear))
    report.notes.append(f"level {depth} (leaves) has one item per category: its chance ratio is 1 by construction, so only its timing is matched")
    run.write_events([e for e in dynamics + list(mechanism.values()) if e is not None] + [p.to_dict() | {"type": "prediction"} for p in preds])
    report.figures = figures(run, preds, dynamics, mechanism, levels)
    report.write(run.path)
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


register(CaseStudy("deep-linear", "Saxe mode dynamics vs hierarchical differentiation in a deep linear network", PRESETS, run_deep_linear, analyse_deep_linear))
