"""Case study ``llc-calibration``: the SGLD learning coefficient against Aoyagi's closed form.

Reduced-rank regression: a linear network ``M → H → N`` trained by gradient
descent from a small initialisation on a rank-``r`` linear teacher with whitened
inputs. Singular learning theory gives its learning coefficient in closed form
(Aoyagi & Watanabe 2005, :mod:`bridge.theory.aoyagi`); the estimator
(:func:`bridge.estimators.llc.estimate_llc`) measures it at the trained weights. The shapes
cover every branch of the formula; each estimate must lie within 20% of theory.

The run directory at ``out`` is the first shape's training run; the other
shapes' runs sit under ``out/runs/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bridge.training.analyze import analyze
from bridge.config import RunConfig, ScheduleConfig, TrainConfig
from bridge.match import check
from bridge.models import DeepLinearConfig
from bridge.plots.base import new_figure, save_figure
from bridge.report import BridgeReport
from bridge.runs.run import Run, load_run
from bridge.tasks import LinearTeacherConfig
from bridge.theory.aoyagi import BRANCHES, rrr_branch, rrr_learning_coefficient
from bridge.trackers.llc import LLCTracker
from bridge.training.loop import train
from case_studies.base import CaseStudy, register

Shape = tuple[int, int, int, int]


@dataclass(frozen=True)
class LLCCalibrationPreset:
    """Settings of ``llc-calibration``.

    Args:
        shapes: ``(M, N, H, r)`` per model: inputs, outputs, hidden width, teacher rank.
        n_train: training examples (sets nβ = n / ln n).
        init_std, lr, steps: gradient descent from a small initialisation.
        n_chains, n_draws, n_burnin, step_size, gamma: SGLD settings, shared by every shape.
        tolerance: largest relative error |λ̂/λ − 1| that passes.
        max_trained_excess: nβ·L_n(w*) must stay below this (w* is a minimum).
    """

    shapes: tuple[Shape, ...] = ((4, 4, 3, 1), (4, 4, 2, 1), (2, 6, 2, 1), (6, 2, 2, 1), (2, 2, 4, 1), (3, 3, 2, 2))
    n_train: int = 4000
    init_std: float = 1e-3
    lr: float = 0.2
    steps: int = 400
    n_chains: int = 8
    n_draws: int = 1500
    n_burnin: int = 750
    step_size: float = 2e-4
    gamma: float = 5.0
    tolerance: float = 0.2
    max_trained_excess: float = 0.05
    threads: int = 1

    def run_config(self, shape: Shape, seed: int) -> RunConfig:
        m, n, h, r = shape
        return RunConfig(
            task=LinearTeacherConfig(tuple(1.0 + i for i in range(r)), d_in=m, d_out=n, n_train=self.n_train, n_test=16),
            model=DeepLinearConfig(d_in=m, d_hidden=h, d_out=n, depth=2, init_std=self.init_std),
            train=TrainConfig(optimizer="gd", lr=self.lr, steps=self.steps, schedule=ScheduleConfig(n_log=8, every=0), threads=self.threads),
            seed=seed,
            name=f"llc-calibration {_label(shape)}",
        )

    def tracker(self) -> LLCTracker:
        return LLCTracker(n_chains=self.n_chains, n_draws=self.n_draws, n_burnin=self.n_burnin, step_size=self.step_size, gamma=self.gamma, per_chain=True)


PRESETS = {
    "quick": LLCCalibrationPreset(),
    "full": LLCCalibrationPreset(
        shapes=((4, 4, 3, 1), (4, 4, 2, 1), (2, 6, 2, 1), (6, 2, 2, 1), (2, 2, 4, 1), (3, 3, 2, 2), (8, 8, 5, 2), (5, 5, 5, 1), (10, 4, 3, 2), (3, 9, 4, 1)),
        n_train=20000,
        steps=1000,
        n_chains=16,
        n_draws=5000,
        n_burnin=2000,
        step_size=5e-5,
        gamma=5.0,
    ),
}


def _label(shape: Shape) -> str:
    m, n, h, r = shape
    return f"M{m}-N{n}-H{h}-r{r}"


def _run_dir(out: Path, index: int, shape: Shape) -> Path:
    return out if index == 0 else out / "runs" / _label(shape)


def run_llc_calibration(preset: LLCCalibrationPreset, out: Path, *, seed: int = 0, device: str = "auto", progress: bool | None = None) -> BridgeReport:
    """Train every shape, estimate its learning coefficient at the trained weights, report."""
    if not preset.shapes:
        raise ValueError("llc-calibration needs at least one shape")
    traces = {}
    for i, shape in enumerate(preset.shapes):
        m, n, h, r = shape
        rrr_branch(m, n, h, r)  # validates the shape before any work
    for i, shape in enumerate(preset.shapes):
        run = train(preset.run_config(shape, seed), _run_dir(out, i, shape), device="cpu", progress=progress)
        tracker = preset.tracker()
        analyze(run, [tracker], steps=[run.steps[-1]], progress=False)
        traces[shape] = tracker.last_result
    name = next((k for k, v in PRESETS.items() if v == preset), "custom")
    return analyse_llc_calibration(load_run(out), preset, name, traces=traces)


def analyse_llc_calibration(run: Run, preset: LLCCalibrationPreset, preset_name: str = "custom", traces: dict | None = None) -> BridgeReport:
    """The report of a finished calibration (rebuilt from the runs' metrics when ``traces`` is absent)."""
    report = BridgeReport("llc-calibration", preset_name, run.config.seed)
    rows = []
    for i, shape in enumerate(preset.shapes):
        shape_run = run if i == 0 else load_run(_run_dir(run.path, i, shape))
        final = shape_run.steps[-1]
        est = float(shape_run.observable("llc/mean").loc[final])
        std = float(shape_run.observable("llc/std").loc[final])
        diverged = float(shape_run.observable("llc/diverged").loc[final])
        train_loss = float(shape_run.observable("loss/train").loc[final])
        lam = rrr_learning_coefficient(*shape)
        branch = rrr_branch(*shape)
        err = abs(est / lam - 1)
        n = preset.n_train
        nbeta = n / np.log(n)
        rows.append({"shape": _label(shape), "branch": branch, "theory": lam, "estimate": est, "std": std, "relative_error": err, "d_over_2": shape[2] * (shape[0] + shape[1]) / 2})
        report.checks.append(check(f"λ̂ {_label(shape)} ({branch}): {est:.3f} ± {std:.3f} vs Aoyagi λ = {lam:g}", err, f"|λ̂/λ − 1| < {preset.tolerance}", err < preset.tolerance))
        report.checks.append(check(f"{_label(shape)}: w* is a trained minimum (nβ·L_n(w*))", nbeta * train_loss, f"< {preset.max_trained_excess}", nbeta * train_loss < preset.max_trained_excess))
        report.checks.append(check(f"{_label(shape)}: diverged chains", diverged, "== 0", diverged == 0))
    covered = sorted({r["branch"] for r in rows})
    report.checks.append(check("branches of Aoyagi's formula covered", len(covered), f"all {len(BRANCHES)} ({', '.join(BRANCHES)}) and ≥ 6 shapes", set(covered) == set(BRANCHES) and len(rows) >= 6))
    report.extra["shapes"] = rows
    report.notes.append(
        f"SGLD: {preset.n_chains} chains × {preset.n_draws} draws after {preset.n_burnin} burn-in, ε = {preset.step_size:g}, γ = {preset.gamma:g}, "
        f"nβ = n/ln n with n = {preset.n_train}; the same settings for every shape."
    )
    report.notes.append("Aoyagi & Watanabe (2005), Neural Networks 18(7): learning coefficient of reduced-rank regression.")
    report.figures = figures(run, rows, traces)
    report.write(run.path)
    return report


def plot_estimates(ax, rows: list[dict]) -> object:
    """Estimated vs theoretical learning coefficient per shape, with the ±tolerance band."""
    x = np.arange(len(rows))
    theory = np.array([r["theory"] for r in rows])
    ax.bar(x - 0.2, theory, width=0.4, color="0.75", label="Aoyagi λ")
    ax.errorbar(x + 0.2, [r["estimate"] for r in rows], yerr=[r["std"] for r in rows], fmt="o", color="C0", label="SGLD λ̂ (± chain std)")
    ax.errorbar(x - 0.2, theory, yerr=0.2 * theory, fmt="none", ecolor="k", capsize=4, lw=0.8, label="±20%")
    ax.scatter(x, [r["d_over_2"] for r in rows], marker="_", s=200, color="C3", label="d/2 (regular)")
    ax.set_xticks(x, [f"{r['shape']}\n{r['branch']}" for r in rows], fontsize=7)
    ax.set_ylabel("learning coefficient")
    ax.set_title("Reduced-rank regression: estimate vs theory")
    ax.legend(fontsize=7)
    return ax


def plot_chain_traces(ax, trace: np.ndarray, init_loss: float, nbeta: float, theory: float, title: str) -> object:
    """``nβ (L_n(w_t) − L_n(w*))`` per chain over the draws, with the theory value."""
    for c, chain in enumerate(trace):
        ax.plot(nbeta * (chain - init_loss), lw=0.5, alpha=0.7, color=f"C{c % 10}")
    ax.axhline(theory, color="k", ls="--", lw=1.0, label="Aoyagi λ")
    ax.axhline(float(nbeta * (trace.mean() - init_loss)), color="C3", lw=1.0, label="λ̂")
    ax.set_title(title, fontsize=8)
    ax.set_xlabel("draw")
    ax.set_ylabel("nβ (L − L*)", fontsize=7)
    ax.legend(fontsize=6)
    return ax


def figures(run: Run, rows: list[dict], traces: dict | None) -> list[str]:
    folder = run.figures_dir
    fig, ax = new_figure(size=(max(6.0, 1.3 * len(rows)), 4.0))
    plot_estimates(ax, rows)
    paths = [save_figure(fig, folder / "llc_vs_theory.png")]
    if traces:
        cols = 3
        nrows = int(np.ceil(len(traces) / cols))
        fig, axes = new_figure(ncols=cols, nrows=nrows, size=(3.6, 2.6))
        axes = np.atleast_1d(axes)
        for ax, (shape, res) in zip(axes, traces.items()):
            plot_chain_traces(ax, res.trace, res.init_loss, res.nbeta, rrr_learning_coefficient(*shape), f"{_label(shape)} ({rrr_branch(*shape)})")
        for ax in axes[len(traces) :]:
            ax.set_axis_off()
        paths.append(save_figure(fig, folder / "chain_traces.png"))
    elif (folder / "chain_traces.png").exists():
        paths.append(folder / "chain_traces.png")  # drawn by the original run (the traces are not stored)
    return [str(p.relative_to(run.path)) for p in paths]


register(CaseStudy("llc-calibration", "SGLD learning coefficient vs Aoyagi's closed form for reduced-rank regression", PRESETS, run_llc_calibration, analyse_llc_calibration))
