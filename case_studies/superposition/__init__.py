"""Case study ``superposition``: toy models of superposition (Elhage et al. 2022) and their learning coefficient.

Three experiments on ``x̂ = ReLU(Wᵀ W x + b)`` with sparse features:

1. **n = 2, m = 1 phase diagram** over relative importance × density: many
   models trained at once on fresh samples (one instance per cell and seed, the
   lowest-loss seed kept) against the phases predicted by comparing the expected
   loss of the candidate configurations (:mod:`bridge.theory.superposition`).
2. **Dimensions per feature** for ``n`` features in ``m < n`` dimensions over a
   density sweep: features land on the sticky fractions 1, 3/4, 2/3, 1/2, 2/5, 3/8.
3. **The pentagon and the learning coefficient**: n = 5, m = 2 at high sparsity
   from a small initialisation forms a regular pentagon; the learning coefficient
   over the checkpoints rises at the k-gon transition (Chen et al. 2023), matched
   against the step the feature directions become a regular pentagon, and steps
   up from the 4-gon to the pentagon. The rows are judged in
   :mod:`case_studies.superposition.verdict`.

Runs: the main run is the n = 5, m = 2 training from the case seed, with the
feature-geometry tracker online and the learning coefficient over its checkpoints.
With ``candidates > 1`` the runs ``candidate_0`` … train it from derived seeds and
:meth:`Superposition.runs_after` retrains the lowest final loss as the main run
(the paper keeps the best of several; the presets do not select). The two sweeps train tiny models
in memory (no run directories) inside :meth:`Superposition.analyse`, seeded by
the case seed, and are stored in ``superposition_sweeps.json``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from torch import Tensor

from bridge.config import ConfigError, RunConfig, ScheduleConfig, TrainConfig
from bridge.estimators.llc import SGLDConfig
from bridge.models.toy_superposition import ToySuperposition, ToySuperpositionConfig
from bridge.plots.base import (
    new_figure,
    plot_estimate_series,
    plot_event_lines,
    save_figure,
)
from bridge.plots.superposition import (
    plot_dims_histogram,
    plot_dims_vs_sparsity,
    plot_feature_directions,
    plot_feature_norms,
    plot_phase_diagram,
)
from bridge.report import BridgeReport
from bridge.runs.run import Run, RunError
from bridge.seeding import derive_seed
from bridge.tasks.sparse_features import SparseFeaturesConfig
from bridge.theory.superposition import (
    N2M1_PHASES,
    STICKY_FRACTIONS,
    predict_n2m1_phases,
)
from bridge.trackers.feature_geometry import FeatureGeometryTracker
from bridge.trackers.llc import LLCTracker
from bridge.training.loop import torch_threads
from case_studies.base import MAIN, CaseStudy, Offline, register
from case_studies.superposition.sweeps import DimsSweep, PhaseSweep, dims_sweep, phase_grid, trained_n2m1_phases
from case_studies.superposition.verdict import Targets, diverged_rows, pentagon_rows, sticky_distances, sweep_checks
from probes.feature_geometry import polygon

SWEEPS_FILE = "superposition_sweeps.json"


@dataclass(frozen=True)
class SuperpositionPreset:
    """Settings of the ``superposition`` case study.

    Args:
        task, model, train: the n = 5, m = 2 run (fixed training set, small initialisation, Adam).
        candidates: 1: the main run is the case seed's own training (the presets); more: trainings from that
            many derived seeds, the lowest final loss retrained as the main run.
        sgld: the sampler of the learning coefficient at every checkpoint of the main run.
        phases, dims: the two sweeps.
        targets: what the report judges.

    Examples:
        >>> quick = PRESETS["quick"]
        >>> (quick.model.n_features, quick.model.n_hidden), quick.task.sparsity, quick.candidates, quick.sgld.n_chains
        ((5, 2), 0.9, 1, 8)
    """

    task: SparseFeaturesConfig = SparseFeaturesConfig(n_features=5, sparsity=0.9, n_train=2000, n_test=2000)
    model: ToySuperpositionConfig = ToySuperpositionConfig(n_features=5, n_hidden=2, init_scale=0.1)
    train: TrainConfig = TrainConfig(optimizer="adam", lr=3e-3, steps=1500, schedule=ScheduleConfig(n_log=8, every=50))
    candidates: int = 1
    sgld: SGLDConfig = SGLDConfig(n_chains=8, n_draws=400, n_burnin=100, step_size=1e-3, gamma=10.0)
    phases: PhaseSweep = PhaseSweep()
    dims: DimsSweep = DimsSweep()
    targets: Targets = Targets()

    def __post_init__(self) -> None:
        shape = (self.task.n_features, self.model.n_features, self.model.n_hidden, self.model.n_instances)
        if shape != (5, 5, 2, 1):
            raise ConfigError(f"superposition: the pentagon run needs n=5 features in m=2 dimensions, one instance (task n, model n, m, instances = {shape})")
        if self.candidates < 1 or not self.dims.log_density[0] < self.dims.log_density[1]:
            raise ConfigError(f"superposition: need candidates >= 1 and an increasing dims.log_density, got {self.candidates}, {self.dims.log_density}")


PRESETS = {
    "quick": SuperpositionPreset(),
    "full": SuperpositionPreset(
        task=SparseFeaturesConfig(n_features=5, sparsity=0.9, n_train=10000, n_test=10000),
        train=TrainConfig(optimizer="adam", lr=1e-3, steps=2000, schedule=ScheduleConfig(n_log=8, every=25)),
        sgld=SGLDConfig(n_chains=8, n_draws=1000, n_burnin=300, step_size=1e-3, gamma=10.0),
        phases=PhaseSweep(importance=16, density=16, seeds=4, steps=10000, batch_size=1024, lr=3e-3),
        dims=DimsSweep(model=ToySuperpositionConfig(n_features=200, n_hidden=20, n_instances=20), steps=10000, batch_size=1024, lr=3e-3),
    ),
}


def pentagon_config(preset: SuperpositionPreset, seed: int) -> RunConfig:
    """The n = 5, m = 2 run of ``preset`` with seed ``seed``.

    Examples:
        >>> cfg = pentagon_config(PRESETS["quick"], seed=3)
        >>> cfg.name, cfg.seed, cfg.train.steps
        ('superposition n=5 m=2', 3, 1500)
    """
    return RunConfig(task=preset.task, model=preset.model, train=preset.train, seed=seed, name="superposition n=5 m=2")


def case_seed(run: Run) -> int:
    """The case study's seed, stamped into the main run's ``run.json`` by the runner.

    Examples:
        >>> from types import SimpleNamespace
        >>> case_seed(SimpleNamespace(info={"case_seed": 3}, path="out"))
        3
    """
    if "case_seed" not in run.info:
        raise RunError(f"{run.path} names no case seed; run the study through `mechbridge run superposition`")
    return int(run.info["case_seed"])


def final_loss(run: Run) -> float:
    """The run's training loss at its last tracked step.

    Examples:
        >>> import pandas as pd; from types import SimpleNamespace
        >>> final_loss(SimpleNamespace(observable=lambda name: pd.Series([0.5, 0.2], index=[0, 100])))
        0.2
    """
    return float(run.observable("loss/train").iloc[-1])


@register("superposition")
class Superposition(CaseStudy):
    """Toy models of superposition: phase diagram, pentagon, sticky dimensionalities, learning coefficient across k-gon transitions.

    Examples:
        >>> import dataclasses
        >>> list(Superposition().runs(PRESETS["quick"], 0)), list(Superposition().runs(dataclasses.replace(PRESETS["quick"], candidates=2), 0))
        (['main'], ['candidate_0', 'candidate_1'])
    """

    presets = PRESETS
    family = {
        "task.sparsity": (0.85, 0.95),
        "train.lr": (1e-3, 1e-2),
        "model.init_scale": (0.05, 0.2),
    }

    def runs(self, preset: SuperpositionPreset, seed: int) -> dict[str, RunConfig]:
        if preset.candidates == 1:  # the case seed's own run, no selection
            return {MAIN: pentagon_config(preset, seed)}
        return {f"candidate_{k}": pentagon_config(preset, derive_seed(seed, "pentagon", k) % 2**31) for k in range(preset.candidates)}

    def runs_after(self, preset: SuperpositionPreset, seed: int, runs: Mapping[str, Run]) -> dict[str, RunConfig]:
        if MAIN in runs:
            return {}
        best = min((key for key in runs if key.startswith("candidate_")), key=lambda key: final_loss(runs[key]))
        return {MAIN: runs[best].config}

    def trackers(self, preset: SuperpositionPreset, key: str) -> list:
        return [FeatureGeometryTracker()] if key == MAIN else []

    def offline(self, preset: SuperpositionPreset, key: str, run: Run) -> list[Offline]:
        return [Offline([LLCTracker(preset.sgld, seed=case_seed(run))])] if key == MAIN else []

    def analyse(self, runs: Mapping[str, Run], preset: SuperpositionPreset) -> BridgeReport:
        main, seed, targets = runs[MAIN], case_seed(runs[MAIN]), preset.targets
        report = BridgeReport("superposition", "custom", seed)
        report.events = pentagon_report(report, main, preset)
        with torch_threads(preset.train.threads):
            r, p = phase_grid(preset.phases)
            predicted = predict_n2m1_phases(r, p)
            trained, weights = trained_n2m1_phases(preset.phases, seed)
            sweep = dims_sweep(preset.dims, seed)
        report.checks += diverged_rows(phase_grid(preset.phases), trained, sweep, preset.phases.lr, preset.dims.lr) + sweep_checks(predicted, trained, sweep, targets)
        agreement = float(np.mean(predicted == trained))
        all_d = np.concatenate([s["D"] for s in sweep])
        share_all = float(np.mean(sticky_distances(all_d)[1] <= targets.sticky_tol)) if all_d.size else 0.0
        report.extra["phase_diagram"] = {"predicted": predicted.tolist(), "trained": trained.tolist(), "agreement": agreement}
        report.extra["dims_per_feature"] = sweep
        candidates = [{"seed": run.config.seed, "final_loss": final_loss(run), "represented": polygon(_weights(run, run.steps[-1])).k} for key, run in runs.items() if key.startswith("candidate_")]
        report.files[SWEEPS_FILE] = {"predicted": predicted.tolist(), "trained": trained.tolist(), "weights": weights.tolist(), "sweep": sweep, "seed": seed, "candidates": candidates}
        report.notes += [] if not candidates else [(
            f"n=5, m=2: {len(candidates)} trainings (seeds {[c['seed'] for c in candidates]}), final losses {[round(c['final_loss'], 4) for c in candidates]}, "
            f"represented features {[c['represented'] for c in candidates]}; the lowest-loss one is the run analysed here (seed {main.config.seed})"
        )]
        report.notes.append(f"sticky share over every represented feature of the sweep, including the very sparse models below 3/8: {share_all:.2f}")
        report.notes.append(f"phases: {', '.join(N2M1_PHASES)}; a feature is represented when ‖W_i‖ > 0.5. Sticky fractions: {', '.join(f'{v:.3f}' for v in STICKY_FRACTIONS)}.")
        report.notes.append("Elhage et al. (2022) Toy models of superposition; Chen et al. (2023) Dynamical versus Bayesian phase transitions in a toy model of superposition.")
        return report

    def figures(self, runs: Mapping[str, Run], report: BridgeReport, preset: SuperpositionPreset) -> list[str]:
        return figures(runs[MAIN], report, preset)


def pentagon_report(report: BridgeReport, run: Run, preset: SuperpositionPreset) -> list:
    """Add the pentagon rows of the main run to ``report`` (:func:`pentagon_rows`); return the detected events.

    Examples:
        >>> report = BridgeReport("superposition", "quick", 0); events = pentagon_report(report, load_run("runs/superposition"), PRESETS["quick"])  # doctest: +SKIP
    """
    steps = np.array(run.steps, dtype=float)
    llc, llc_std, represented, gap_error = (run.observable(name).reindex(steps).to_numpy() for name in ("llc/mean", "llc/std", "features/represented", "features/polygon_gap_error"))
    matches, checks, events = pentagon_rows(steps, llc, llc_std, represented, gap_error, polygon(_weights(run, run.steps[-1])), preset)
    report.matches += matches
    report.checks += checks
    return events


def _weights(run: Run, step: int) -> Tensor:
    """The first instance's ``(m, n)`` weights ``W`` of the run's toy model at ``step``, detached; a ``TypeError``
    naming the run when it holds another model."""
    model = run.model_at(step)
    if not isinstance(model, ToySuperposition):
        raise TypeError(f"run {run.config.name!r} must hold a ToySuperposition model, got {type(model).__name__}")
    return model.W[0].detach()


def figures(run: Run, report: BridgeReport, preset: SuperpositionPreset) -> list[str]:
    """Pentagon formation, learning coefficient through training, phase diagram, dimensions per feature.

    Examples:
        >>> figures(load_run("runs/superposition"), report, PRESETS["quick"])  # paths of the figures, relative to the run  # doctest: +SKIP
    """
    folder, steps, events = run.figures_dir, np.array(run.steps), report.events
    formed = next((e.step for e in events if e.observable == "features/polygon_gap_error"), steps[-1] / 2)
    times = [formed * f for f in (0.25, 0.5, 0.75, 1.0, 1.5)] + [steps[-1]]  # around pentagon formation, and the end
    picks = sorted({int(steps[np.abs(steps - t).argmin()]) for t in times})
    fig, axes = new_figure(ncols=len(picks), size=(2.4, 2.5))
    for ax, step in zip(np.atleast_1d(axes), picks):
        W = _weights(run, step)
        plot_feature_directions(ax, W.numpy(), title=f"step {step}: {polygon(W).k} represented")
    paths = [save_figure(fig, folder / "pentagon.png")]

    fig, axes = new_figure(nrows=3, size=(6.5, 2.2))
    llc = run.observable("llc/mean")
    plot_estimate_series(axes[0], llc.index, llc.to_numpy(), run.observable("llc/std").reindex(llc.index).to_numpy(), ylabel="learning coefficient λ̂")
    loss = run.observable("loss/train")
    axes[1].plot(loss.index, loss.values, color="C1")
    axes[1].set_ylabel("train loss")
    norms = run.table("features/norm", "feature")
    plot_feature_norms(axes[2], norms.index, norms.to_numpy(), gap=run.curve("features/polygon_gap_error"))
    for ax in axes:
        plot_event_lines(ax, events, {"llc/mean": "C3", "features/polygon_gap_error": "C2"})
    axes[0].set_title("n=5, m=2: learning coefficient, loss, feature norms (dotted: λ̂ reaches pentagon level red, pentagon formed green)", fontsize=8)
    paths.append(save_figure(fig, folder / "llc_through_training.png"))

    r, p = phase_grid(preset.phases)
    predicted, trained = (np.array(report.extra["phase_diagram"][k], dtype=object) for k in ("predicted", "trained"))
    fig, axes = new_figure(ncols=2, size=(4.2, 3.8))
    plot_phase_diagram(axes[0], predicted, r, p, title="Predicted (lowest-loss configuration)")
    plot_phase_diagram(axes[1], trained, r, p, title="Trained (best of seeds)", mismatch=predicted != trained)
    paths.append(save_figure(fig, folder / "phase_diagram.png"))
    sweep = report.extra["dims_per_feature"]
    fig, axes = new_figure(ncols=2, size=(4.4, 3.4))
    plot_dims_histogram(axes[0], np.concatenate([s["D"] for s in sweep if s["dims_per_feature"] >= 3 / 8] or [np.zeros(0)]), title="D_i, models with m/‖W‖² ≥ 3/8")
    plot_dims_vs_sparsity(axes[1], [s["density"] for s in sweep], [np.asarray(s["D"], dtype=float) for s in sweep], [s["dims_per_feature"] for s in sweep])
    paths.append(save_figure(fig, folder / "dims_per_feature.png"))
    return [str(path.relative_to(run.path)) for path in paths]
