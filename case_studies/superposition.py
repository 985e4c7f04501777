"""Case study ``superposition``: toy models of superposition (Elhage et al. 2022) and their learning coefficient.

Three experiments on ``x̂ = ReLU(Wᵀ W x + b)`` with sparse features:

1. **n = 2, m = 1 phase diagram** over relative importance × density: many
   models trained at once (one instance per cell and seed, fresh samples, the
   lowest-loss seed kept) against the phases predicted by comparing the
   expected loss of the candidate configurations (:mod:`bridge.theory.superposition`).
2. **Dimensions per feature** for ``n`` features in ``m < n`` dimensions over a
   density sweep: features land on the sticky fractions 1, 3/4, 2/3, 1/2, 2/5, 3/8.
3. **The pentagon and the learning coefficient** (the run at ``out``): n = 5,
   m = 2 at high sparsity trained from a small initialisation (lowest loss of a
   few seeds, as in the paper) forms a regular pentagon; the learning coefficient over the checkpoints rises at the k-gon
   transition (Chen et al. 2023), matched against the step the feature
   directions become a regular pentagon (mechanism: columns of ``W``, which
   features are represented, their angular gaps).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import einops
import numpy as np
import torch

import bridge.models.toy_superposition  # noqa: F401  (registers the model kind)
import bridge.tasks.sparse_features  # noqa: F401  (registers the task kind)
from bridge.training.analyze import analyze
from bridge.config import RunConfig, ScheduleConfig, TrainConfig
from bridge.match import check, match
from bridge.models.toy_superposition import ToySuperposition, ToySuperpositionConfig, fit_fresh_samples, instance_losses
from bridge.report import BridgeReport
from bridge.seeding import derive_seed
from bridge.runs.run import Run
from bridge.stages.detectors import threshold_crossing
from bridge.runs.storage import atomic_write_json, read_json
from bridge.tasks.sparse_features import SparseFeaturesConfig
from bridge.theory.superposition import N2M1_PHASES, STICKY_FRACTIONS, dimensions_per_feature, nearest_sticky, predict_n2m1_phases
from bridge.trackers.llc import LLCTracker
from bridge.training.loop import train, torch_threads
from case_studies.base import CaseStudy, register
from bridge.plots.base import new_figure, save_figure
from bridge.trackers.feature_geometry import FeatureGeometryTracker
from probes.feature_geometry import n2m1_phase, polygon
from bridge.plots.superposition import plot_dims_histogram, plot_dims_vs_sparsity, plot_feature_directions, plot_phase_diagram


@dataclass(frozen=True)
class SuperpositionPreset:
    """Settings of the ``superposition`` case study.

    Args:
        phase_importance, phase_density: grid sizes (log-spaced over [0.1, 10] and [0.01, 1]).
        phase_seeds, phase_steps, phase_batch, phase_lr: instances per cell and their training.
        phase_agreement: share of cells whose trained phase must equal the predicted one.
        dims_features, dims_hidden, dims_densities, dims_log_density, dims_steps, dims_batch: the sweep for
            dimensions per feature (densities log-spaced between 10**dims_log_density[0] and 10**dims_log_density[1]).
        sticky_tol, sticky_share: a feature is on a sticky value within ``sticky_tol``;
            the share of represented features (in the sticky regime m/‖W‖² ≥ 3/8) that must be.
        pentagon_sparsity, pentagon_n_train, pentagon_steps, pentagon_lr, pentagon_init, pentagon_every: the n=5, m=2 run.
        pentagon_candidates: trainings of the n=5, m=2 model (different seeds); the lowest final loss is analysed.
        llc_chains, llc_draws, llc_burnin, llc_step_size, llc_gamma: SGLD at every checkpoint.
        angle_tol, norm_tol: regular-pentagon tolerances (degrees, relative norm spread).
        llc_sigmas: the learning coefficient has reached its final (pentagon) value once it stays above
            the final value (mean over the last quarter of training) minus this many standard errors.
        match_tolerance: relative lag allowed between the learning-coefficient rise and pentagon formation.
    """

    phase_importance: int = 8
    phase_density: int = 8
    phase_seeds: int = 2
    phase_steps: int = 2000
    phase_batch: int = 512
    phase_lr: float = 1e-2
    phase_agreement: float = 0.8
    dims_features: int = 30
    dims_hidden: int = 6
    dims_densities: int = 8
    dims_log_density: tuple[float, float] = (-0.9, -0.15)
    dims_steps: int = 3000
    dims_batch: int = 512
    sticky_tol: float = 0.03
    sticky_share: float = 0.75
    pentagon_sparsity: float = 0.9
    pentagon_n_train: int = 2000
    pentagon_steps: int = 1500
    pentagon_lr: float = 3e-3
    pentagon_init: float = 0.1
    pentagon_every: int = 50
    pentagon_candidates: int = 4
    llc_chains: int = 8
    llc_draws: int = 400
    llc_burnin: int = 100
    llc_step_size: float = 1e-3
    llc_gamma: float = 10.0
    angle_tol: float = 10.0
    norm_tol: float = 0.2
    llc_sigmas: float = 3.0
    match_tolerance: float = 0.2
    threads: int = 1

    def pentagon_config(self, seed: int) -> RunConfig:
        return RunConfig(
            task=SparseFeaturesConfig(n_features=5, sparsity=self.pentagon_sparsity, n_train=self.pentagon_n_train, n_test=self.pentagon_n_train),
            model=ToySuperpositionConfig(n_features=5, n_hidden=2, init_scale=self.pentagon_init),
            train=TrainConfig(optimizer="adam", lr=self.pentagon_lr, steps=self.pentagon_steps, schedule=ScheduleConfig(n_log=8, every=self.pentagon_every), threads=self.threads),
            seed=seed,
            name="superposition n=5 m=2",
        )


PRESETS = {
    "quick": SuperpositionPreset(),
    "full": SuperpositionPreset(
        phase_importance=16, phase_density=16, phase_seeds=4, phase_steps=10000, phase_batch=1024, phase_lr=3e-3,
        dims_features=200, dims_hidden=20, dims_densities=20, dims_steps=10000, dims_batch=1024,
        pentagon_n_train=10000, pentagon_steps=2000, pentagon_lr=1e-3, pentagon_every=25,
        llc_chains=8, llc_draws=1000, llc_burnin=300,
    ),
}


def phase_grid(preset: SuperpositionPreset) -> tuple[np.ndarray, np.ndarray]:
    """Relative importances (log-spaced on [0.1, 10]) and densities (log-spaced on [0.01, 1])."""
    return np.logspace(-1, 1, preset.phase_importance), np.logspace(-2, 0, preset.phase_density)


def trained_n2m1_phases(preset: SuperpositionPreset, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train every (importance, density, seed) instance at once; the phase and ``W`` of each cell's best seed."""
    r, p = phase_grid(preset)
    R, P = np.meshgrid(r, p, indexing="ij")
    cells, seeds = R.size, preset.phase_seeds
    importance = torch.tensor(np.stack([np.ones(cells), R.ravel()], axis=1), dtype=torch.float32)
    importance = einops.repeat(importance, "cell feature -> (seed cell) feature", seed=seeds)
    density = einops.repeat(torch.tensor(P.ravel(), dtype=torch.float32), "cell -> (seed cell)", seed=seeds)
    model = ToySuperposition(ToySuperpositionConfig(2, 1, n_instances=cells * seeds), seed=seed)
    fit_fresh_samples(model, importance, density, steps=preset.phase_steps, batch_size=preset.phase_batch, lr=preset.phase_lr, seed=seed)
    losses = einops.rearrange(instance_losses(model, importance, density, seed=seed + 1), "(seed cell) -> seed cell", seed=seeds)
    W = einops.rearrange(model.W.detach(), "(seed cell) hidden feature -> seed cell hidden feature", seed=seeds)
    best = losses.argmin(dim=0)
    weights = torch.stack([W[best[c], c] for c in range(cells)])  # (cell, 1, 2)
    phases = einops.rearrange(np.array([n2m1_phase(w) for w in weights], dtype=object), "(importance density) -> importance density", importance=len(r))
    return phases, einops.rearrange(weights, "(importance density) 1 feature -> importance density feature", importance=len(r)).numpy()


def dims_sweep(preset: SuperpositionPreset, seed: int) -> list[dict]:
    """Dimensions per feature of represented features, one model per density."""
    density = torch.tensor(np.logspace(*preset.dims_log_density, preset.dims_densities), dtype=torch.float32)
    n, m, k = preset.dims_features, preset.dims_hidden, preset.dims_densities
    model = ToySuperposition(ToySuperpositionConfig(n, m, n_instances=k), seed=seed + 7)
    fit_fresh_samples(model, torch.ones(k, n), density, steps=preset.dims_steps, batch_size=preset.dims_batch, lr=preset.phase_lr, seed=seed + 7)
    out = []
    for i in range(k):
        W = model.W[i].detach()
        norms, dims = W.norm(dim=0), dimensions_per_feature(W)
        keep = norms > 0.5
        out.append({"density": float(density[i]), "dims_per_feature": m / float((W**2).sum()), "D": dims[keep].numpy(), "represented": int(keep.sum())})
    return out


def settled_crossing(steps: np.ndarray, values: np.ndarray, threshold: float, direction: str, *, name: str, observable: str):
    """The last crossing of ``threshold`` in ``direction``: the step after which the curve stays on the far side.

    A noisy observable (SGLD estimates at each checkpoint) can cross a level once by
    chance before its real transition; the settling crossing ignores such excursions.
    """
    values = np.asarray(values, dtype=float)
    before = values < threshold if direction == "up" else values > threshold
    if not before.any():
        return None
    start = int(np.nonzero(before)[0][-1])
    return threshold_crossing(steps[start:], values[start:], threshold, direction, name=name, observable=observable)


def pentagon_candidates(preset: SuperpositionPreset, seed: int) -> list[dict]:
    """Train the n=5, m=2 model from ``pentagon_candidates`` seeds; their final training losses.

    Like the paper, the lowest-loss of several trainings is kept: from a small
    initialisation some seeds settle in the 4-gon local minimum (one feature dropped).
    """
    out = []
    with tempfile.TemporaryDirectory() as folder:
        for k in range(preset.pentagon_candidates):
            run_seed = derive_seed(seed, "pentagon", k) % 2**31
            run = train(preset.pentagon_config(run_seed), Path(folder) / f"candidate-{k}", device="cpu", progress=False)
            W = run.model_at(run.steps[-1]).W[0].detach()
            out.append({"seed": run_seed, "final_loss": float(run.observable("loss/train").iloc[-1]), "represented": polygon(W).k})
    return out


def run_superposition(preset: SuperpositionPreset, out: Path, *, seed: int = 0, device: str = "auto", progress: bool | None = None) -> BridgeReport:
    """All three experiments; the pentagon run is the run directory at ``out``."""
    candidates = pentagon_candidates(preset, seed)
    best = min(candidates, key=lambda c: c["final_loss"])
    run = train(preset.pentagon_config(best["seed"]), out, trackers=[FeatureGeometryTracker()], device="cpu", progress=progress)
    llc = LLCTracker(n_chains=preset.llc_chains, n_draws=preset.llc_draws, n_burnin=preset.llc_burnin, step_size=preset.llc_step_size, gamma=preset.llc_gamma, seed=seed)
    analyze(run, [llc], progress=progress)
    with torch_threads(preset.threads):
        r, p = phase_grid(preset)
        predicted = predict_n2m1_phases(r, p)
        trained, weights = trained_n2m1_phases(preset, seed)
        sweep = dims_sweep(preset, seed)
    name = next((k for k, v in PRESETS.items() if v == preset), "custom")
    extra = {"predicted": predicted, "trained": trained, "weights": weights, "sweep": sweep, "seed": seed, "candidates": candidates}
    atomic_write_json(out / SWEEPS_FILE, _sweeps_to_json(extra))
    return analyse_superposition(Run(out), preset, name, extra=extra)


SWEEPS_FILE = "superposition_sweeps.json"


def _sweeps_to_json(extra: dict) -> dict:
    return {
        "predicted": extra["predicted"].tolist(),
        "trained": extra["trained"].tolist(),
        "weights": np.asarray(extra["weights"]).tolist(),
        "sweep": [{k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in s.items()} for s in extra["sweep"]],
        "seed": extra["seed"],
        "candidates": extra["candidates"],
    }


def _sweeps_from_json(data: dict) -> dict:
    return {
        "predicted": np.array(data["predicted"], dtype=object),
        "trained": np.array(data["trained"], dtype=object),
        "weights": np.array(data["weights"]),
        "sweep": [{**s, "D": np.asarray(s["D"], dtype=float)} for s in data["sweep"]],
        "seed": data["seed"],
        "candidates": data["candidates"],
    }


def analyse_superposition(run: Run, preset: SuperpositionPreset, preset_name: str = "custom", extra: dict | None = None) -> BridgeReport:
    """Checks and the match of the pentagon run (plus the sweeps when ``extra`` holds them)."""
    if extra is None and (run.path / SWEEPS_FILE).exists():
        extra = _sweeps_from_json(read_json(run.path / SWEEPS_FILE))
    report = BridgeReport("superposition", preset_name, run.config.seed if extra is None else extra["seed"])
    steps = np.array(run.steps, dtype=float)
    final = run.model_at(run.steps[-1])
    poly = polygon(final.W[0].detach())
    report.checks.append(check(f"pentagon for n=5, m=2 at S={preset.pentagon_sparsity} (max gap error °; gaps {[round(g, 1) for g in poly.gaps]})", poly.max_gap_error, f"5 features, gaps within {preset.angle_tol}° of 72°, norms within {preset.norm_tol:.0%}", poly.is_regular(5, preset.angle_tol, preset.norm_tol)))

    llc = run.observable("llc/mean").reindex(steps).to_numpy()
    gap = run.observable("features/polygon_gap_error").reindex(steps).to_numpy()
    count = run.observable("features/represented").reindex(steps).to_numpy()
    pentagon_error = np.where(count == 5, gap, 180.0)  # a regular 4-gon is not a pentagon
    late = steps >= steps[-1] * 0.75
    top = float(np.mean(llc[late]))
    std = run.observable("llc/std").reindex(steps).to_numpy()
    standard_error = float(np.median(std[late])) / np.sqrt(preset.llc_chains)
    level = top - preset.llc_sigmas * standard_error
    dynamics = settled_crossing(
        steps, llc, level, "up", name=f"learning coefficient settles at its final (pentagon) value within {preset.llc_sigmas:g} standard errors", observable="llc/mean"
    )
    mechanism = settled_crossing(steps, pentagon_error, preset.angle_tol, "down", name=f"feature directions settle into a regular pentagon (gaps within {preset.angle_tol:g}° of 72°)", observable="features/polygon_gap_error")
    report.matches.append(match("k-gon transition: learning-coefficient rise coincides with pentagon formation (Chen et al. 2023)", None, dynamics, mechanism, preset.match_tolerance, detail={"final_llc": top, "level": level, "standard_error": standard_error}))
    report.checks.append(check("learning coefficient at the pentagon (mean over the last quarter)", top, "> 0 (a local minimum)", top > 0))
    events = [e for e in (dynamics, mechanism) if e is not None]

    if extra is not None:
        predicted, trained = extra["predicted"], extra["trained"]
        agreement = float(np.mean(predicted == trained))
        report.checks.append(check("n=2, m=1 phase diagram: share of cells in the predicted phase", agreement, f">= {preset.phase_agreement}", agreement >= preset.phase_agreement))
        sticky_d = np.concatenate([s["D"] for s in extra["sweep"] if s["dims_per_feature"] >= 3 / 8] or [np.zeros(0)])
        all_d = np.concatenate([s["D"] for s in extra["sweep"]])
        share = float(np.mean(nearest_sticky(sticky_d)[1] <= preset.sticky_tol)) if sticky_d.size else 0.0
        share_all = float(np.mean(nearest_sticky(all_d)[1] <= preset.sticky_tol)) if all_d.size else 0.0
        seen = sorted({round(float(v), 3) for v, dist in zip(*nearest_sticky(sticky_d)) if dist <= preset.sticky_tol}, reverse=True) if sticky_d.size else []
        report.checks.append(check(f"dimensions per feature on sticky values ±{preset.sticky_tol} (represented features of models with m/‖W‖² ≥ 3/8; values seen {seen})", share, f">= {preset.sticky_share}", share >= preset.sticky_share and sticky_d.size > 0))
        report.extra["phase_diagram"] = {"predicted": predicted.tolist(), "trained": trained.tolist(), "agreement": agreement}
        report.extra["dims_per_feature"] = [{k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in s.items()} for s in extra["sweep"]]
        cands = extra["candidates"]
        report.notes.append(
            f"n=5, m=2: {len(cands)} trainings (seeds {[c['seed'] for c in cands]}), final losses {[round(c['final_loss'], 4) for c in cands]}, "
            f"represented features {[c['represented'] for c in cands]}; the lowest-loss one is the run analysed here (seed {run.config.seed})"
        )
        report.notes.append(f"sticky share over every represented feature of the sweep, including the very sparse models below 3/8: {share_all:.2f}")
        report.notes.append(f"phases: {', '.join(N2M1_PHASES)}; a feature is represented when ‖W_i‖ > 0.5. Sticky fractions: {', '.join(f'{v:.3f}' for v in STICKY_FRACTIONS)}.")
    report.notes.append("Elhage et al. (2022) Toy models of superposition; Chen et al. (2023) Dynamical versus Bayesian phase transitions in a toy model of superposition.")
    run.write_events(events)
    report.figures = figures(run, preset, extra, events)
    report.write(run.path)
    return report


def figures(run: Run, preset: SuperpositionPreset, extra: dict | None, events: list) -> list[str]:
    """Pentagon formation, learning coefficient through training, phase diagram, dimensions per feature."""
    folder = run.figures_dir
    steps = np.array(run.steps)
    formed = next((e.step for e in events if e.observable == "features/polygon_gap_error"), steps[-1] / 2)
    times = [formed * f for f in (0.25, 0.5, 0.75, 1.0, 1.5)] + [steps[-1]]  # around pentagon formation, and the end
    picks = sorted({int(steps[np.abs(steps - t).argmin()]) for t in times})
    fig, axes = new_figure(ncols=len(picks), size=(2.4, 2.5))
    for ax, step in zip(np.atleast_1d(axes), picks):
        plot_feature_directions(ax, run.model_at(step).W[0].detach().numpy(), title=f"step {step}: {polygon(run.model_at(step).W[0].detach()).k} represented")
    paths = [save_figure(fig, folder / "pentagon.png")]

    fig, axes = new_figure(nrows=3, size=(6.5, 2.2))
    llc, llc_sd = run.observable("llc/mean"), run.observable("llc/std")
    axes[0].errorbar(llc.index, llc.values, yerr=llc_sd.reindex(llc.index).values, fmt="o-", ms=3, lw=1, capsize=2)
    axes[0].axhline(0, color="0.7", lw=0.6)
    axes[0].set_ylabel("learning coefficient λ̂")
    loss = run.observable("loss/train")
    axes[1].plot(loss.index, loss.values, color="C1")
    axes[1].set_ylabel("train loss")
    for i in range(5):
        norm = run.observable("features/norm", feature=i)
        axes[2].plot(norm.index, norm.values, label=f"‖W_{i}‖")
    gap = run.observable("features/polygon_gap_error")
    twin = axes[2].twinx()
    twin.plot(gap.index, np.minimum(gap.values, 180), color="k", ls="--", lw=1, label="max gap error (°)")
    twin.set_ylabel("pentagon gap error (°)", fontsize=7)
    axes[2].set_ylabel("feature norms")
    axes[2].set_xlabel("step")
    axes[2].legend(fontsize=6, ncol=5, loc="center right")
    for ax in axes:
        for e in events:
            ax.axvline(e.step, color="C3" if e.observable == "llc/mean" else "C2", ls=":", lw=1.2)
    axes[0].set_title("n=5, m=2: learning coefficient, loss, feature norms (dotted: λ̂ reaches pentagon level red, pentagon formed green)", fontsize=8)
    paths.append(save_figure(fig, folder / "llc_through_training.png"))

    if extra is not None:
        r, p = phase_grid(preset)
        fig, axes = new_figure(ncols=2, size=(4.2, 3.8))
        plot_phase_diagram(axes[0], extra["predicted"], r, p, title="Predicted (lowest-loss configuration)")
        plot_phase_diagram(axes[1], extra["trained"], r, p, title="Trained (best of seeds)", mismatch=extra["predicted"] != extra["trained"])
        paths.append(save_figure(fig, folder / "phase_diagram.png"))
        fig, axes = new_figure(ncols=2, size=(4.4, 3.4))
        sweep = extra["sweep"]
        plot_dims_histogram(axes[0], np.concatenate([s["D"] for s in sweep if s["dims_per_feature"] >= 3 / 8] or [np.zeros(0)]), title="D_i, models with m/‖W‖² ≥ 3/8")
        plot_dims_vs_sparsity(axes[1], [s["density"] for s in sweep], [s["D"] for s in sweep], [s["dims_per_feature"] for s in sweep])
        paths.append(save_figure(fig, folder / "dims_per_feature.png"))
    return [str(path.relative_to(run.path)) for path in paths]


register(CaseStudy("superposition", "Toy models of superposition: phase diagram, pentagon, sticky dimensionalities, learning coefficient across k-gon transitions", PRESETS, run_superposition, analyse_superposition))
