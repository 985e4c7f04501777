"""Case study ``deep-linear``: Saxe et al.'s exact dynamics meet progressive differentiation.

A deep linear network learns hierarchically structured items. Theory (Saxe,
McClelland & Ganguli 2014/2019) predicts, from the initial weights alone, when
each singular mode of the data rises; the mechanism side measures when the
hidden representation differentiates the categories of each hierarchy level.
The report matches predicted, observed and mechanism times per mode.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bridge.config import RunConfig, ScheduleConfig, TrainConfig
from bridge.match import Check, check, match, order_text
from bridge.models import DeepLinearConfig, DeepLinearNetwork
from bridge.plots.base import new_figure, plot_curves, plot_timeline, save_figure
from bridge.report import BridgeReport, not_reached
from bridge.runs.run import Run
from bridge.stages.detectors import Event
from bridge.stages.rises import sustained_rise
from bridge.tasks import HierarchyConfig
from bridge.theory import Prediction, saxe
from bridge.trackers.differentiation import DifferentiationTracker
from bridge.trackers.modes import ModeTracker
from case_studies.base import CaseStudy, register, target_domains


@dataclass(frozen=True)
@target_domains(tolerance="tolerance", trajectory="tolerance", chance_sds="tolerance", clear_sds="tolerance", learned="tolerance", snr="tolerance")
class Targets:
    """What the deep-linear report judges.

    Args:
        tolerance: relative error allowed between prediction, dynamics and mechanism.
        trajectory: largest ``max_t |u_obs(t) − u_theory(t)| / s`` of a level's modes.
        chance_sds: the differentiation ratio's chance band at initialisation (reported, not judged).
        clear_sds: at the end each level's ratio must exceed 1 by more than this many
            chance standard deviations (a precondition: the mechanism appeared).
        learned: every mode's final strength within this relative distance of s (a precondition).
        snr: a rise counts only when it exceeds this many times the curve's own noise.

    Examples:
        >>> Targets().tolerance, Targets().trajectory, Targets().snr
        (0.15, 0.15, 5.0)
    """

    tolerance: float = 0.15
    trajectory: float = 0.15
    chance_sds: float = 3.0
    clear_sds: float = 3.0
    learned: float = 0.02
    snr: float = 5.0


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

    Examples:
        >>> p = PRESETS["quick"]   # 2**4 = 16 items
        >>> p.task.depth, p.model.d_hidden, p.model.init_std, p.train.optimizer, p.train.lr, p.train.steps
        (4, 128, 0.005, 'gd', 0.05, 600)
    """

    task: HierarchyConfig = HierarchyConfig(depth=4)
    model: DeepLinearConfig = DeepLinearConfig(d_in=16, d_hidden=128, d_out=31, depth=2, init_std=0.005)
    train: TrainConfig = TrainConfig(optimizer="gd", lr=0.05, steps=600, schedule=ScheduleConfig(n_log=40, every=100))
    targets: Targets = Targets()

    def __post_init__(self) -> None:
        self.train.require_gradient_descent("deep-linear (Saxe's mode dynamics)")


PRESETS = {
    "quick": DeepLinearPreset(),
    "full": DeepLinearPreset(
        task=HierarchyConfig(depth=6),
        model=DeepLinearConfig(d_in=64, d_hidden=1024, d_out=127, depth=2, init_std=0.002),
        train=TrainConfig(optimizer="gd", lr=0.02, steps=4000, schedule=ScheduleConfig(n_log=80, every=100)),
    ),
}


def run_config(preset: DeepLinearPreset, seed: int) -> RunConfig:
    """The run of ``preset`` with seed ``seed`` (the model's input and output sizes follow the task).

    Examples:
        >>> cfg = run_config(PRESETS["full"], seed=0)   # depth 6: 64 items, 127 tree nodes
        >>> cfg.model.d_in, cfg.model.d_hidden, cfg.model.d_out, cfg.train.lr, cfg.train.steps, cfg.seed
        (64, 1024, 127, 0.02, 4000, 0)
    """
    items = 2**preset.task.depth
    model = dataclasses.replace(preset.model, d_in=items, d_out=2 * items - 1)
    return RunConfig(task=preset.task, model=model, train=preset.train, seed=seed, name="deep-linear")


def predictions(run: Run) -> list[Prediction]:
    """Saxe half-rise predictions per mode (one per singular value of the data, strongest first), from the run's initial weights.

    Reads ``run.config``, ``run.task_data()`` and ``run.model_at(0)`` only: no training is needed.

    Examples:
        >>> from types import SimpleNamespace; from bridge.models import build_model; from bridge.tasks import make_task
        >>> cfg = run_config(PRESETS["quick"], seed=0)
        >>> preds = predictions(SimpleNamespace(config=cfg, task_data=lambda: make_task(cfg.task, 0), model_at=lambda step: build_model(cfg.model, 0)))
        >>> len(preds), round(preds[0].extra["s"], 3), round(preds[0].step)   # 16 modes; the strongest rises half-way near step 50
        (16, 1.392, 50)
    """
    run.config.train.require_gradient_descent("deep-linear (Saxe's mode dynamics)")
    data, net = run.task_data(), run.model_at(0)
    if not isinstance(net, DeepLinearNetwork):
        raise ValueError(f"deep-linear predicts the modes of a DeepLinearNetwork's two weights, got a {type(net).__name__}")
    u0 = saxe.effective_initial_strength(net.weights[0].detach(), net.weights[1].detach(), data.info["U"], data.info["V"])
    return saxe.predict_modes(data.info["S"].numpy(), u0.numpy(), run.config.train.lr, depth=2)


@register("deep-linear")
class DeepLinear(CaseStudy):
    """Saxe mode dynamics vs hierarchical differentiation in a deep linear network.

    Examples:
        >>> [type(t).__name__ for t in DeepLinear().trackers(PRESETS["quick"], "main")]
        ['ModeTracker', 'DifferentiationTracker']
    """

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
        preds, dynamics, mechanism = detect(run, preset.targets.snr)
        return figures(run, preds, dynamics, mechanism, run.task_data().info["mode_level"])

    def across_seeds(self, outs: Mapping[int, Path], preset: DeepLinearPreset) -> list:
        from case_studies.generality.universality import differentiation_tracking

        if len(outs) < 2:
            return []
        return [seed_similarity(outs, SEED_CKA), *(differentiation_tracking(outs) if preset.model.depth == 2 else [])]


SEED_CKA = 0.95  # the smallest CKA between two seeds' final hidden representations that counts as the same representation


def seed_similarity(outs: Mapping[int, Path], threshold: float = SEED_CKA, step: int | None = None) -> Check:
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
    from bridge.training.compare import compare, weakest_pair

    runs = {f"seed {s}": load_run(path) for s, path in outs.items()}
    final = min(run.steps[-1] for run in runs.values()) if step is None else step
    inputs = next(iter(runs.values())).task_data().train.x
    table = compare(runs, "hook_hidden.0", inputs, steps=[final])
    lowest = weakest_pair(table)
    worst = float(lowest["cka_debiased"])
    return check(
        f"every pair of {len(runs)} seeds learns the same hidden representation (min debiased CKA at step {final})",
        worst,
        f">= {threshold}",
        worst >= threshold,
        claim="the converged representation is set by the task's correlations, the same in every seed up to rotation",
        source="Saxe, McClelland & Ganguli 2019 (PNAS), eqs. 6-8; CKA: Kornblith et al. 2019",
        reason="" if worst >= threshold else f"lowest pair: {lowest['run_a']} vs {lowest['run_b']}" + (" (CKA not a number)" if worst != worst else ""),
    )


SAXE_2014 = "Saxe, McClelland & Ganguli 2014 (ICLR), exact solutions for deep linear networks; bridge.theory.saxe"
SAXE_2019 = "Saxe, McClelland & Ganguli 2019 (PNAS), A mathematical theory of semantic development in deep neural networks"
REGIME = ("small init_std (stage-wise regime)", "wide hidden layer (modes decouple)")


def detect(run: Run, snr: float = Targets.snr) -> tuple[list[Prediction], list[Event | None], dict[int, Event | None]]:
    """Predictions per mode, each mode's half-rise (dynamics) and each level's differentiation half-rise (mechanism).

    A mode's event is the crossing of half-way to its singular value ``s`` after which it
    stays there; it is absent unless the strength rises by more than ``snr`` times its
    own noise and ends beyond ``s/2`` (:func:`bridge.stages.sustained_rise`). A level's
    event is the same on its between-category variance, half-way to its largest value.

    Raises:
        ValueError: a run with fewer than two checkpoints of ``mode/strength``.

    Examples:
        >>> from bridge import load_run; preds, modes, levels = detect(load_run("runs/deep-linear"))  # doctest: +SKIP
        >>> [(p.value, None if m is None else m.step) for p, m in zip(preds, modes)]  # each mode's s, its observed half-rise step  # doctest: +SKIP
    """
    data = run.task_data()
    if (n := len(run.curve("mode/strength", mode=0)[0])) < 2:
        raise ValueError(f"deep-linear needs at least 2 checkpoints of mode/strength to detect a rise, got {n}")
    preds = predictions(run)
    dynamics = [
        sustained_rise(*run.curve("mode/strength", mode=m), name=f"mode {m} half-rise", observable="mode/strength", top=p.extra["s"], snr=snr)
        for m, p in enumerate(preds)
    ]
    depth = len(data.info["level_labels"]) - 1
    mechanism = {
        k: sustained_rise(*run.curve("differentiation/between", level=k), name=f"level {k} differentiation", observable="differentiation/between", snr=snr)
        for k in range(1, depth + 1)
    }
    return preds, dynamics, mechanism


def trajectory_error(run: Run, pred: Prediction) -> float:
    """``max_t |u_obs(t) − u_theory(t)| / s`` over the run's checkpoints for one mode's prediction.

    Examples:
        >>> from types import SimpleNamespace; t = np.arange(0.0, 200.0, 10.0)
        >>> pred = SimpleNamespace(extra={"mode": 0, "s": 2.0, "u0": 0.01, "lr": 0.05})
        >>> run = SimpleNamespace(curve=lambda name, mode: (t, saxe.mode_trajectory(t, 2.0, 0.01, 0.05) + 0.1))   # 0.1 above theory
        >>> round(trajectory_error(run, pred), 4)   # 0.1 / s
        0.05
    """
    steps, values = run.curve("mode/strength", mode=pred.extra["mode"])
    theory = saxe.mode_trajectory(steps, pred.extra["s"], pred.extra["u0"], pred.extra["lr"])
    return float(np.max(np.abs(values - theory)) / pred.extra["s"])


def analyse_run(run: Run, targets: Targets = Targets()) -> BridgeReport:
    """The bridge report of one finished deep-linear run (also usable on runs trained by ``train_seeds``).

    Counted claims: each mode's half-rise and its level's differentiation where theory
    puts them; modes in order of strength; each level's modes on the closed-form
    trajectory; level k differentiating before level k+1. Every mode learned and every
    level clearly differentiated at the end are preconditions; the chance ratio at
    initialisation is information.

    Examples:
        >>> report = analyse_run(bridge.load_run("runs/deep-linear"))   # doctest: +SKIP
        >>> report.verdict                                                # doctest: +SKIP
        'pass'
    """
    data = run.task_data()
    levels, depth = data.info["mode_level"], len(data.info["level_labels"]) - 1
    preds, dynamics, mechanism = detect(run, targets.snr)
    report = BridgeReport("deep-linear", "custom", run.config.seed)
    for m, (pred, dyn) in enumerate(zip(preds, dynamics)):
        k = levels[m]
        claim = f"mode {m} rises half-way at the Saxe half-rise time from its initial strength" + (f", and level {k} differentiates with it" if k >= 1 else "")
        source = SAXE_2014 + (f"; {SAXE_2019}, progressive differentiation" if k >= 1 else "")
        report.matches.append(
            match(
                f"mode {m} (level {k}, s={pred.value:.3f}) half-rise", pred.step, dyn, mechanism.get(k), targets.tolerance,
                require_mechanism=k >= 1, detail={"level": k, "u0": pred.extra["u0"]}, claim=claim, source=source, depends_on=REGIME,
                key=f"mode {m} half-rise",  # the strength s in the name is the task's: it differs between neighbouring tasks
            )
        )
    observed = np.array([np.nan if d is None else d.step for d in dynamics])
    order = _order_fraction(np.array([p.value for p in preds]), observed)
    missing = int(np.isnan(observed).sum())
    report.checks.append(
        check(
            "modes learned in order of strength (fraction of ordered pairs)", order, "== 1", order == 1.0,
            claim="a stronger mode rises before a weaker one", source=SAXE_2014, reason=f"{missing} mode rise(s) absent" if missing else "",
        )
    )
    errors = np.array([trajectory_error(run, p) for p in preds])
    for k in range(depth + 1):
        modes = [m for m in range(len(preds)) if levels[m] == k]
        worst = float(errors[modes].max())
        report.checks.append(
            check(
                f"level {k} modes follow the closed-form trajectory (max over its {len(modes)} modes and t of |u_obs − u_theory|/s)",
                worst, f"<= {targets.trajectory:g}", worst <= targets.trajectory,
                claim=f"the strength of each level-{k} mode follows u(t) = s·e^(2sηt)/(e^(2sηt) − 1 + s/u₀) over the whole run",
                source=SAXE_2014 + ", mode_trajectory", depends_on=REGIME, reason=_not_finite("trajectory error", modes, errors[modes]),
            )
        )
    for k in range(1, depth):
        a, b = mechanism.get(k), mechanism.get(k + 1)
        ok = a is not None and b is not None and a.step < b.step
        gone = [f"level {j}" for j, e in ((k, a), (k + 1, b)) if e is None]
        report.checks.append(
            check(
                f"level {k} differentiates before level {k + 1} (half-rise steps)",
                None if a is None or b is None else order_text(a.step, b.step), "earlier", ok,
                claim=f"the hidden representation separates level-{k} categories before level-{k + 1} categories (coarse to fine)",
                source=SAXE_2019 + ", progressive differentiation", reason=f"differentiation event absent: {', '.join(gone)}" if gone else "",
            )
        )
    final = np.array([run.curve("mode/strength", mode=m)[1][-1] for m in range(len(preds))])
    worst = float(np.max(np.abs(final / data.info["S"].numpy() - 1)))
    reason = _not_finite("final strength", range(len(preds)), final) or ("" if worst < targets.learned else not_reached(run.config.train.steps, f"the worst mode's strength ends {worst:.0%} from its singular value"))
    report.checks.append(check("every mode learned (max |final strength / s − 1|)", worst, f"< {targets.learned:g}", worst < targets.learned, role="precondition", claim="training converged: the network fits every mode of the data", reason=reason))
    for k in range(1, depth):
        ratio = run.curve("differentiation/ratio", level=k)[1]
        sd = float(run.curve("differentiation/ratio_sd", level=k)[1][0])
        band, clear = targets.chance_sds * sd, 1 + targets.clear_sds * sd
        broken = "" if math.isfinite(sd) and sd >= 0 else f"the chance s.d. of the ratio is {sd:g}, not a finite number >= 0"
        report.checks.append(check(f"level {k} differentiation ratio at init", ratio[0], f"|ratio − 1| < {band:.3f} ({targets.chance_sds:g} chance s.d.)", abs(ratio[0] - 1) < band, role="info"))
        report.checks.append(
            check(
                f"level {k} differentiation clear at end (ratio)", ratio[-1], f"> {clear:.3f} (1 + {targets.clear_sds:g} chance s.d.)", ratio[-1] > clear and not broken,
                role="precondition", reason=broken or _not_finite("final ratio", [k], ratio[-1:], "level"), claim=f"level {k} categories are separated in the hidden layer once training converged (the mechanism appeared)",
            )
        )
    report.notes.append(f"level {depth} (leaves) has one item per category: its chance ratio is 1 by construction, so only its timing is matched")
    report.notes.append("the ratio at initialisation is ~1 by construction of a random start and the final ratio is fixed by the tree once training converges: the first is information, the second a precondition")
    report.events = [e for e in dynamics + list(mechanism.values()) if e is not None] + [p.to_dict() | {"type": "prediction"} for p in preds]
    return report


def _not_finite(what: str, labels: Iterable[int], values: np.ndarray, kind: str = "mode") -> str:
    """A reason naming the modes (or levels) ``labels`` whose ``values`` are not finite numbers ("" when all are)."""
    bad = [label for label, v in zip(labels, values) if not math.isfinite(v)]
    return f"{what} not a finite number for {kind} {', '.join(map(str, bad))}" if bad else ""


def _order_fraction(strength: np.ndarray, observed: np.ndarray, margin: float = 0.01) -> float:
    """Share of mode pairs with clearly different strengths whose observed order is stronger-first."""
    good = total = 0
    for i in range(len(strength)):
        for j in range(len(strength)):
            if strength[i] > strength[j] * (1 + margin):
                total += 1
                good += bool(observed[i] < observed[j])
    return good / total if total else 1.0


def figures(run: Run, preds: list[Prediction], dynamics: list[Event | None], mechanism: dict[int, Event | None], levels: list[int]) -> list[str]:
    """Mode trajectories over theory; differentiation by level; the event timeline.

    Examples:
        >>> figures(run, preds, modes, levels, sorted(levels))  # with ``run`` and :func:`detect`'s outputs  # doctest: +SKIP
        ['figures/mode_trajectories.png', 'figures/differentiation.png', 'figures/timeline.png']
    """
    folder = run.figures_dir
    fig, ax = new_figure(size=(6.5, 4.2))
    curves, theory, colors = {}, {}, {}
    for m, pred in enumerate(preds):
        steps, values = run.curve("mode/strength", mode=m)
        first = levels.index(levels[m]) == m
        label = f"level {levels[m]} ({levels.count(levels[m])} mode{'s' if levels.count(levels[m]) > 1 else ''})" if first else f"_mode {m}"
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
        {"label": f"mode {m} / level {levels[m]}", "predicted": p.step, "observed": None if d is None else d.step, "mechanism": None if (event := mechanism.get(levels[m])) is None else event.step}
        for m, (p, d) in enumerate(zip(preds, dynamics))
    ]
    plot_timeline(ax, rows)
    ax.set_title("Predicted, dynamics and mechanism events")
    paths.append(save_figure(fig, folder / "timeline.png"))
    return [str(p.relative_to(run.path)) for p in paths]

