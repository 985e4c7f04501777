"""Case study ``edge-of-stability``: progressive sharpening, then sharpness at 2/η (Cohen et al. 2021).

A tanh MLP fits a random tanh teacher by full-batch gradient descent with MSE,
once per step size η (same data, same initialisation). The sharpness (top
Hessian eigenvalue, by warm-started Lanczos at every step) rises, reaches the
stability threshold 2/η of :mod:`bridge.theory.eos` and hovers there while the
loss keeps falling non-monotonically. The plateau is detected from the
sharpness curve alone and its median compared with 2/η.

Mechanism side: where the top eigenvector lives (its loading on each layer's
weights and on each hidden neuron, at every checkpoint) and the period-2
oscillation of gradient descent along it: the loss first rises exactly when the
gradient's component along the top eigenvector starts flipping sign every step.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

import bridge.tasks.teacher_mlp  # noqa: F401  (registers the task for run.json round trips)
from bridge.config import RunConfig, ScheduleConfig, TrainConfig
from bridge.match import check, match
from bridge.models import MLPConfig
from bridge.plots.base import new_figure, save_figure
from bridge.report import BridgeReport
from bridge.runs.run import Run
from bridge.stages.sharpness import alternation_fraction, first_increase, oscillation_onset, sharpening, sharpness_plateau
from bridge.stages.detectors import threshold_crossing
from bridge.tasks.teacher_mlp import TeacherMLPConfig
from bridge.theory.eos import predict_plateau
from bridge.trackers.curvature import SharpnessTracker
from bridge.training.loop import torch_threads, train
from case_studies.base import CaseStudy, register

LOADING_OBSERVABLES = ("curvature/loading", "curvature/neuron_loading", "curvature/trace", "curvature/trace_stderr")


@dataclass(frozen=True)
class EdgeOfStabilityPreset:
    """Settings of the ``edge-of-stability`` case study.

    Args:
        lrs: step sizes η; the first is the main run (written to ``out``), the
            others go to ``out/runs/eta_<η>``.
        steps: gradient-descent steps per run.
        d_in, n_train, teacher_width, teacher_scale: the teacher regression task.
        widths, init_scale: the tanh student MLP.
        checkpoint_every: checkpoint interval (loadings are computed at checkpoints).
        tolerance: the issue's target: |median plateau sharpness / (2/η) − 1| ≤ tolerance.
        start_below: progressive sharpening needs the initial sharpness below
            ``start_below`` × the plateau level.
        onset_tolerance: relative error allowed between the first loss increase and
            the onset of oscillation along the top eigenvector.
        oscillation_level: |cos(g, v₁)| at which the oscillation counts as started.
        min_alternation: on the plateau, the share of steps where ``g · v₁`` flips sign
            must reach this (1: pure period-2 oscillation; 0.5: none).
        trace_probes: Hutchinson probes for the trace at checkpoints.
    """

    lrs: tuple[float, ...] = (0.18, 0.25, 0.14)
    steps: int = 1200
    d_in: int = 8
    n_train: int = 256
    teacher_width: int = 64
    teacher_scale: float = 4.0
    widths: tuple[int, ...] = (32, 32)
    init_scale: float = 0.5
    checkpoint_every: int = 100
    tolerance: float = 0.10
    start_below: float = 0.8
    onset_tolerance: float = 0.10
    oscillation_level: float = 0.5
    min_alternation: float = 0.8
    trace_probes: int = 16
    threads: int = 1

    def __post_init__(self) -> None:
        if len(self.lrs) < 1 or any(lr <= 0 for lr in self.lrs):
            raise ValueError(f"lrs must be positive step sizes, got {self.lrs}")
        if len(set(self.lrs)) != len(self.lrs):
            raise ValueError(f"lrs must be distinct, got {self.lrs}")

    def run_config(self, lr: float, seed: int) -> RunConfig:
        return RunConfig(
            task=TeacherMLPConfig(d_in=self.d_in, n_train=self.n_train, n_test=self.n_train, width=self.teacher_width, scale=self.teacher_scale),
            model=MLPConfig(d_in=self.d_in, d_out=1, widths=self.widths, activation="tanh", init_scale=self.init_scale),
            train=TrainConfig(optimizer="gd", lr=lr, steps=self.steps, schedule=ScheduleConfig(n_log=10, every=self.checkpoint_every, track_every=1), threads=self.threads),
            seed=seed,
            name=f"edge-of-stability eta={lr:g}",
        )


PRESETS = {
    "quick": EdgeOfStabilityPreset(),
    "full": EdgeOfStabilityPreset(lrs=(0.09, 0.12, 0.07), steps=3000, n_train=1024, teacher_width=128, widths=(64, 64), checkpoint_every=200),
}


def run_dir(out: Path, index: int, lr: float) -> Path:
    """Where the run of the ``index``-th step size lives (the main run is ``out`` itself)."""
    return out if index == 0 else out / "runs" / f"eta_{lr:g}"


def run_edge_of_stability(preset: EdgeOfStabilityPreset, out: Path, *, seed: int = 0, device: str = "auto", progress: bool | None = None) -> BridgeReport:
    """Train one run per step size with sharpness tracked at every step, then analyse and report."""
    out = Path(out)
    runs = []
    for i, lr in enumerate(preset.lrs):
        tracker = SharpnessTracker(k=1, trace_probes=0, loading=False, seed=seed)
        runs.append(train(preset.run_config(lr, seed), run_dir(out, i, lr), trackers=[tracker], device=device, progress=progress))
    for run in runs:
        add_checkpoint_loadings(run, preset, seed)
    name = next((k for k, v in PRESETS.items() if v == preset), "custom")
    return analyse_edge_of_stability(runs, preset, name)


def reanalyse_edge_of_stability(run: Run, preset: EdgeOfStabilityPreset, preset_name: str = "custom") -> BridgeReport:
    """Rebuild the report from a finished main run and its ``runs/eta_<η>`` siblings (``mechbridge report``)."""
    from bridge.runs.run import load_run

    runs = [run] + [load_run(run_dir(run.path, i, lr)) for i, lr in enumerate(preset.lrs) if i > 0]
    for r in runs:
        if "curvature/loading" not in set(r.metrics["observable"]):
            add_checkpoint_loadings(r, preset, r.config.seed)
    return analyse_edge_of_stability(runs, preset, preset_name)


def add_checkpoint_loadings(run: Run, preset: EdgeOfStabilityPreset, seed: int = 0) -> None:
    """Top-eigenvector loadings (per tensor, per neuron) and the trace at every checkpoint, appended to the run."""
    tracker = SharpnessTracker(k=1, trace_probes=preset.trace_probes, loading=True, seed=seed)
    data, rows = run.task_data(), []
    with torch_threads(preset.threads):
        for step in run.steps:
            rows += [{"step": step, **r} for r in tracker(run.model_at(step), step, data) if r["observable"] in LOADING_OBSERVABLES]
    run.append_metrics(rows)


def layer_shares(run: Run, step: int) -> dict[str, float]:
    """The top eigenvector's loading summed per layer (weights + bias of ``layers.{l}``) at ``step``."""
    frame = run.metrics
    rows = frame[(frame["observable"] == "curvature/loading") & (frame["step"] == step)]
    out: dict[str, float] = {}
    for group, value in zip(rows["group"], rows["value"]):
        layer = ".".join(str(group).split(".")[:2])
        out[layer] = out.get(layer, 0.0) + float(value)
    return out


def neuron_shares(run: Run, step: int) -> dict[tuple[int, int], float]:
    """``(layer, neuron) -> loading`` of the top eigenvector at ``step``."""
    frame = run.metrics
    rows = frame[(frame["observable"] == "curvature/neuron_loading") & (frame["step"] == step)]
    return {(int(a), int(b)): float(v) for a, b, v in zip(rows["layer"], rows["neuron"], rows["value"])}


def analyse_one(run: Run, preset: EdgeOfStabilityPreset, report: BridgeReport) -> dict:
    """Checks and the onset match of one step size; returns the numbers the figures need."""
    lr = run.config.train.lr
    pred = predict_plateau(lr)
    tag = f"η={lr:g} (2/η={pred.value:.3g})"
    t, s = run.curve("curvature/top_eig", rank=1)
    tl, loss = run.curve("loss/train")
    tc, cos = run.curve("curvature/grad_cosine")
    plateau = sharpness_plateau(t, s)
    rise = sharpening(t, s, plateau)
    median = None if plateau is None else plateau.change
    err = None if median is None else abs(median / pred.value - 1)
    report.checks.append(check(f"{tag}: median sharpness over the plateau", median, f"within {preset.tolerance:.0%} of 2/η = {pred.value:.4g}", err is not None and err <= preset.tolerance))
    ok_rise = rise is not None and plateau is not None and rise.step < plateau.start and s[0] < preset.start_below * plateau.change
    report.checks.append(
        check(
            f"{tag}: progressive sharpening detected before the plateau (half-rise step; sharpness {s[0]:.3g} at step 0)",
            None if rise is None else rise.step,
            f"< plateau start {'—' if plateau is None else f'{plateau.start:g}'}, starting below {preset.start_below:g} × plateau",
            ok_rise,
        )
    )
    if plateau is not None:
        on = tl >= plateau.start
        lp = loss[on]
        k = max(len(lp) // 10, 1)
        ratio = float(np.median(lp[-k:]) / np.median(lp[:k]))
        rises = int(np.sum(lp[1:] > lp[:-1] * (1 + 1e-4)))
        report.checks.append(check(f"{tag}: loss keeps falling non-monotonically on the plateau (end/start loss; {rises} rises)", ratio, "< 1 with at least one rise", ratio < 1 and rises > 0))
    spike = first_increase(tl, loss)
    onset = oscillation_onset(tc, cos, level=preset.oscillation_level)
    crossing = threshold_crossing(t, s, pred.value, name="sharpness reaches 2/η", observable="curvature/top_eig")
    detail = {"lr": lr, "sharpness_reaches_2_over_eta": None if crossing is None else crossing.step, "plateau_start": None if plateau is None else plateau.start}
    if plateau is not None and t[-1] - plateau.start > 1:
        mask = tc >= plateau.start
        detail["plateau_alternation_fraction"] = alternation_fraction(tc[mask], cos[mask])
        detail["plateau_median_abs_cosine"] = float(np.median(np.abs(cos[mask])))
        before = tc < (onset.step if onset is not None else plateau.start) - 10
        detail["before_median_abs_cosine"] = float(np.median(np.abs(cos[before]))) if before.any() else None
        alt = detail["plateau_alternation_fraction"]
        report.checks.append(
            check(
                f"{tag}: GD oscillates with period 2 along v₁ on the plateau (share of steps where g·v₁ flips sign; median |cos(g, v₁)| {detail['plateau_median_abs_cosine']:.3f} on the plateau vs {detail['before_median_abs_cosine'] or float('nan'):.1e} before)",
                alt,
                f">= {preset.min_alternation:g} (0.5: no oscillation)",
                alt >= preset.min_alternation,
            )
        )
    report.matches.append(match(f"{tag}: loss spikes when GD starts oscillating along the top eigenvector", None, spike, onset, preset.onset_tolerance, detail=detail))
    run.write_events([e for e in (plateau, rise, spike, onset, crossing) if e is not None] + [pred.to_dict() | {"type": "prediction"}])
    return {"lr": lr, "threshold": pred.value, "plateau": plateau, "spike": spike, "onset": onset, "detail": detail}


def analyse_edge_of_stability(runs: list[Run], preset: EdgeOfStabilityPreset, preset_name: str = "custom") -> BridgeReport:
    """The bridge report over the runs of every step size (written into the main run, ``runs[0]``)."""
    main = runs[0]
    report = BridgeReport("edge-of-stability", preset_name, main.config.seed)
    results = [analyse_one(run, preset, report) for run in runs]
    for run, res in zip(runs, results):
        last = run.steps[-1]
        layers = layer_shares(run, last)
        neurons = sorted(neuron_shares(run, last).items(), key=lambda kv: -kv[1])
        top = ", ".join(f"L{a}n{b} {v:.2f}" for (a, b), v in neurons[:5])
        pr = 1.0 / sum(v * v for _, v in neurons) * (sum(v for _, v in neurons) ** 2) if neurons else float("nan")
        lay = ", ".join(f"{k} {v:.2f}" for k, v in layers.items())
        report.notes.append(f"η={res['lr']:g}, step {last}: top-eigenvector loading by layer [{lay}]; top neurons [{top}]; neuron participation ratio {pr:.1f} of {len(neurons)}")
        res["detail"].update(final_layer_loading=layers, final_top_neurons=[[a, b, v] for (a, b), v in neurons[:5]], neuron_participation_ratio=pr)
    tops = [{(a, b) for a, b, _ in r["detail"]["final_top_neurons"]} for r in results]
    shared = set.intersection(*tops) if tops else set()
    report.notes.append(f"neurons among the top 5 of v₁'s loading for every η: {sorted(shared) or 'none'} (layer, neuron)")
    report.extra["runs"] = {f"{r['lr']:g}": str(run.path.relative_to(main.path)) if run.path != main.path else "." for run, r in zip(runs, results)}
    report.notes.append("The plateau is detected from the sharpness curve alone (median of the last third; starts where a running median reaches 95% of it); 2/η is used only to judge it.")
    report.notes.append("sharpness_reaches_2_over_eta in each match's detail: GD becomes linearly unstable there; the loss spike follows once the oscillation along the top eigenvector has grown from its tiny initial amplitude.")
    report.figures = figures(runs, results)
    report.write(main.path)
    return report


def plot_sharpness(ax, curves: dict[float, tuple[np.ndarray, np.ndarray]], plateaus: dict[float, float | None]):
    """Sharpness vs step per η (solid) with 2/η (dashed) and the detected plateau start (dot)."""
    for i, (lr, (t, s)) in enumerate(sorted(curves.items())):
        colour = f"C{i}"
        ax.plot(t, s, color=colour, lw=1.0, label=f"η={lr:g}")
        ax.axhline(2 / lr, color=colour, ls="--", lw=1.0)
        start = plateaus.get(lr)
        if start is not None:
            ax.plot([start], [np.interp(start, t, s)], "o", color=colour, ms=5)
    ax.plot([], [], "k--", lw=1.0, label="2/η (theory)")
    ax.plot([], [], "ko", ms=5, label="plateau start (detected)")
    ax.set_xlabel("step")
    ax.set_ylabel("sharpness λ_max(H)")
    ax.set_title("Progressive sharpening, then the edge of stability")
    ax.legend(fontsize=7)
    return ax


def plot_losses(ax, curves: dict[float, tuple[np.ndarray, np.ndarray]]):
    """Training loss per η (log scale)."""
    for i, (lr, (t, loss)) in enumerate(sorted(curves.items())):
        ax.plot(t, loss, color=f"C{i}", lw=0.8, label=f"η={lr:g}")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (MSE)")
    ax.set_title("Loss keeps falling, non-monotonically")
    ax.legend(fontsize=7)
    return ax


def plot_layer_loading(ax, steps: list[int], shares: list[dict[str, float]], title: str):
    """Stacked top-eigenvector loading per layer over checkpoints."""
    names = sorted({k for s in shares for k in s})
    bottom = np.zeros(len(steps))
    for i, name in enumerate(names):
        vals = np.array([s.get(name, 0.0) for s in shares])
        ax.fill_between(steps, bottom, bottom + vals, step="mid", color=f"C{i}", alpha=0.7, label=name)
        bottom += vals
    ax.set_xlabel("step")
    ax.set_ylabel("share of |v₁|²")
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.legend(fontsize=7, loc="lower right")
    return ax


def plot_neuron_loading(ax, shares: dict[tuple[int, int], float], title: str):
    """Each hidden neuron's loading of the top eigenvector, sorted, one colour per layer."""
    items = sorted(shares.items(), key=lambda kv: -kv[1])
    ax.bar(range(len(items)), [v for _, v in items], color=[f"C{a}" for (a, _), _ in items], width=0.9)
    from matplotlib.patches import Patch

    handles = [Patch(color=f"C{layer}", label=f"hidden layer {layer}") for layer in sorted({a for (a, _), _ in items})]
    ax.set_xlabel("neuron (sorted by loading)")
    ax.set_ylabel("share of |v₁|² on in+out weights")
    ax.set_title(title)
    ax.legend(handles=handles, fontsize=7)
    return ax


def plot_onset(ax, t: np.ndarray, cos: np.ndarray, tl: np.ndarray, loss: np.ndarray, onset: float | None, spike: float | None):
    """cos(g, v₁) (left axis) and the loss (right axis) around the onset of oscillation."""
    centre = onset if onset is not None else (spike if spike is not None else t[len(t) // 2])
    win = (t >= centre - 60) & (t <= centre + 60)
    ax.plot(t[win], cos[win], ".-", color="C0", lw=0.6, ms=3, label="cos(g, v₁)")
    ax.set_ylabel("cos(gradient, top eigenvector)", color="C0")
    ax.set_xlabel("step")
    twin = ax.twinx()
    winl = (tl >= centre - 60) & (tl <= centre + 60)
    twin.plot(tl[winl], loss[winl], color="C3", lw=1.2, label="loss")
    twin.set_ylabel("training loss", color="C3")
    for x, style, label in ((onset, "-", "oscillation onset"), (spike, ":", "first loss rise")):
        if x is not None:
            ax.axvline(x, color="k", ls=style, lw=0.8, label=label)
    ax.legend(fontsize=7, loc="upper left")
    ax.set_title("Period-2 oscillation along v₁ starts as the loss spikes")
    return ax


def figures(runs: list[Run], results: list[dict]) -> list[str]:
    """Sharpness with 2/η lines, loss curves, loading by layer and neuron, the oscillation onset."""
    main = runs[0]
    folder = main.figures_dir
    sharp = {r["lr"]: run.curve("curvature/top_eig", rank=1) for run, r in zip(runs, results)}
    losses = {r["lr"]: run.curve("loss/train") for run, r in zip(runs, results)}
    starts = {r["lr"]: None if r["plateau"] is None else r["plateau"].start for r in results}
    fig, ax = new_figure(size=(6.5, 4.2))
    plot_sharpness(ax, sharp, starts)
    paths = [save_figure(fig, folder / "sharpness.png")]
    fig, ax = new_figure(size=(6.5, 4.2))
    plot_losses(ax, losses)
    paths.append(save_figure(fig, folder / "loss.png"))
    fig, axes = new_figure(ncols=2, nrows=len(runs), size=(5.0, 3.2))
    for i, (run, r) in enumerate(zip(runs, results)):
        steps = [s for s in run.steps if s > 0]
        plot_layer_loading(axes[2 * i], steps, [layer_shares(run, s) for s in steps], f"η={r['lr']:g}: v₁ loading by layer")
        plot_neuron_loading(axes[2 * i + 1], neuron_shares(run, run.steps[-1]), f"η={r['lr']:g}: v₁ loading by neuron, step {run.steps[-1]}")
    paths.append(save_figure(fig, folder / "loading.png"))
    fig, axes = new_figure(ncols=len(runs), size=(4.6, 3.4))
    axes = np.atleast_1d(axes)
    for ax, run, r in zip(axes, runs, results):
        t, cos = run.curve("curvature/grad_cosine")
        tl, loss = losses[r["lr"]]
        plot_onset(ax, t, cos, tl, loss, None if r["onset"] is None else r["onset"].step, None if r["spike"] is None else r["spike"].step)
        ax.set_title(f"η={r['lr']:g}: oscillation along v₁ vs loss", fontsize=9)
    paths.append(save_figure(fig, folder / "oscillation.png"))
    return [str(p.relative_to(main.path)) for p in paths]


register(
    CaseStudy(
        "edge-of-stability",
        "Progressive sharpening and the 2/η sharpness plateau of full-batch GD, with the top eigenvector's loading",
        PRESETS,
        run_edge_of_stability,
        analyse=reanalyse_edge_of_stability,
    )
)
