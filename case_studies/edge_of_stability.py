"""Case study ``edge-of-stability``: progressive sharpening, then sharpness at 2/η (Cohen et al. 2021).

A tanh MLP fits a random tanh teacher by full-batch gradient descent with MSE, once per step size η (same data,
same initialisation). The sharpness (top Hessian eigenvalue, by warm-started Lanczos at every step) rises, reaches
the stability threshold 2/η of :mod:`bridge.theory.eos` and hovers there while the loss falls over long horizons
and goes up and down on short ones. The plateau is detected from the sharpness curve alone, its median compared with 2/η.

Mechanism side: where the top eigenvector lives (its loading on each layer's
weights and on each hidden neuron, at every checkpoint) and the period-2
oscillation of gradient descent along it: the loss first rises exactly when the
gradient's component along the top eigenvector starts flipping sign every step.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from bridge.config import ConfigError, RunConfig, ScheduleConfig, TrainConfig
from bridge.match import check, match
from bridge.models import MLPConfig
from bridge.plots.base import new_figure, save_figure
from bridge.plots.sharpness import plot_layer_loading, plot_loss_by_step_size, plot_neuron_loading, plot_onset, plot_sharpness
from bridge.report import BridgeReport
from bridge.runs.run import Run
from bridge.stages.sharpness import alternation_fraction, edge_reached, first_increase, loss_climb, oscillation_onset, oscillation_share, plateau_loss_trend, sharpening, sharpness_plateau
from bridge.tasks.teacher_mlp import TeacherMLPConfig
from bridge.theory.eos import predict_plateau, stability_threshold
from bridge.trackers.curvature import CurvatureLoadingTracker, SharpnessTracker
from case_studies.base import CaseStudy, Offline, register, target_domains

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
@target_domains(tolerance="tolerance", start_below="positive", onset_tolerance="tolerance", oscillation_level="share", min_alternation="share", cosine_sds="tolerance", min_fall="fraction", min_climb="tolerance")
class Targets:
    """What the edge-of-stability report judges, per step size.

    Args:
        tolerance: |median plateau sharpness / (2/η) − 1| must be at most this.
        start_below: progressive sharpening needs the initial sharpness below
            ``start_below`` × the plateau level.
        onset_tolerance: relative error allowed between the first loss increase and
            the onset of oscillation along the top eigenvector.
        oscillation_level: |cos(g, v₁)| at which the oscillation counts as started.
        min_alternation: on the plateau, the share of steps where ``g · v₁`` flips sign
            with ``|cos(g, v₁)|`` above the noise floor must reach this (1: pure period-2
            oscillation; 0: none).
        cosine_sds: the noise floor of ``|cos(g, v₁)|`` in units of ``1/√P``, the
            spread of the cosine between a random direction and v₁ among ``P`` parameters.
        min_fall: over the plateau the loss must fall by at least this fraction of its
            level at the plateau's start (long horizon).
        min_climb: its one-step rises on the plateau must add up to at least this
            multiple of its net fall there (short horizon).

    Examples:
        >>> Targets().tolerance, Targets().oscillation_level, Targets().min_alternation
        (0.1, 0.5, 0.8)
    """

    tolerance: float = 0.10
    start_below: float = 0.8
    onset_tolerance: float = 0.10
    oscillation_level: float = 0.5
    min_alternation: float = 0.8
    cosine_sds: float = 3.0
    min_fall: float = 0.1
    min_climb: float = 1.0


@dataclass(frozen=True)
class EdgeOfStabilityPreset:
    """Settings of the ``edge-of-stability`` case study.

    Args:
        task: the teacher regression task (the student's input and output sizes follow it);
            ``task.noise`` is the label noise, the standard deviation of Gaussian noise added
            to the standardised targets (more to fit, more sharpening:
            ``--set task.noise=0.3``).
        model: the tanh student MLP.
        train: full-batch gradient descent of the main run (its ``lr`` is the main
            step size, its ``steps`` the main run's length); sharpness tracked at every
            step, loadings at every checkpoint.
        other_lrs: the other step sizes, one auxiliary run each (key ``eta_<η>``),
            same data and initialisation.
        other_steps: the length of each auxiliary run, in the order of ``other_lrs``
            (a smaller step size takes proportionally more steps to reach 2/η);
            empty: every run takes ``train.steps`` (``--set other_steps=1200,1600``).
        trace_probes: Hutchinson probes for the Hessian trace at checkpoints.
        targets: what the report judges.

    Examples:
        >>> p = PRESETS["quick"]; p.lrs, p.steps_of(0.25), p.model.widths, p.train.schedule.track_every
        ((0.18, 0.25, 0.14), 1200, (32, 32), 1)
    """

    task: TeacherMLPConfig = TeacherMLPConfig(d_in=8, n_train=256, n_test=256, width=64, scale=4.0, noise=0.0)
    model: MLPConfig = MLPConfig(d_in=8, d_out=1, widths=(32, 32), activation="tanh", init_scale=0.5)
    train: TrainConfig = TrainConfig(optimizer="gd", lr=0.18, steps=1200, schedule=ScheduleConfig(n_log=10, every=100, track_every=1))
    other_lrs: tuple[float, ...] = (0.25, 0.14)
    other_steps: tuple[int, ...] = ()
    trace_probes: int = 16
    targets: Targets = Targets()

    def __post_init__(self) -> None:
        if any(not 0 < lr < float("inf") for lr in self.other_lrs):
            raise ConfigError(f"other_lrs must be positive finite step sizes, got {self.other_lrs}")
        if len({f"{lr:g}" for lr in self.lrs}) != len(self.lrs):
            raise ConfigError(f"other_lrs must be distinct from each other and from train.lr={self.train.lr:g} (to 6 significant digits, their run keys), got {self.other_lrs}")
        self.train.require_gradient_descent("edge-of-stability (the 2/η threshold)")
        if self.train.schedule.track_every != 1:
            raise ConfigError(f"edge-of-stability reads the oscillation step by step: train.schedule.track_every must be 1, got {self.train.schedule.track_every}")
        if self.trace_probes < 0:
            raise ConfigError(f"trace_probes must be >= 0, got {self.trace_probes}")
        if self.other_steps and len(self.other_steps) != len(self.other_lrs):
            raise ConfigError(f"edge-of-stability other_steps gives one length per step size of other_lrs {self.other_lrs} (or none), got {self.other_steps}")
        if any(not (isinstance(n, int) and n > 0) for n in self.other_steps):
            raise ConfigError(f"edge-of-stability other_steps must be positive integers, got {self.other_steps}")

    @property
    def lrs(self) -> tuple[float, ...]:
        """Every step size, the main run's first."""
        return (self.train.lr, *self.other_lrs)

    def steps_of(self, lr: float) -> int:
        """The number of steps of the run with step size ``lr`` (one of :attr:`lrs`)."""
        if lr not in self.lrs:
            raise ConfigError(f"edge-of-stability has no run with step size {lr:g} (step sizes: {', '.join(f'{x:g}' for x in self.lrs)})")
        if lr == self.train.lr or not self.other_steps:
            return self.train.steps
        return self.other_steps[self.other_lrs.index(lr)]


PRESETS = {
    "quick": EdgeOfStabilityPreset(),
    "full": EdgeOfStabilityPreset(
        task=TeacherMLPConfig(d_in=8, n_train=1024, n_test=1024, width=128, scale=4.0),
        model=MLPConfig(d_in=8, d_out=1, widths=(64, 64), activation="tanh", init_scale=0.5),
        train=TrainConfig(optimizer="gd", lr=0.09, steps=3000, schedule=ScheduleConfig(n_log=10, every=200, track_every=1)),
        other_lrs=(0.12, 0.07),
    ),
}


def run_key(lr: float) -> str:
    """The key (and folder under ``runs/``) of the auxiliary run with step size ``lr``: ``eta_0.25``.

    Examples:
        >>> run_key(0.25), run_key(1e-3)
        ('eta_0.25', 'eta_0.001')
    """
    return f"eta_{lr:g}"


def run_config(preset: EdgeOfStabilityPreset, lr: float, seed: int) -> RunConfig:
    """The run of ``preset`` with step size ``lr`` (its own number of steps) and seed ``seed``.

    Examples:
        >>> cfg = run_config(PRESETS["quick"], 0.25, seed=0); cfg.train.lr, cfg.train.steps, cfg.model.d_in, cfg.model.d_out, cfg.name
        (0.25, 1200, 8, 1, 'edge-of-stability eta=0.25')
    """
    model = dataclasses.replace(preset.model, d_in=preset.task.d_in, d_out=preset.task.d_out)
    train = dataclasses.replace(preset.train, lr=lr, steps=preset.steps_of(lr))
    return RunConfig(task=preset.task, model=model, train=train, seed=seed, name=f"edge-of-stability eta={lr:g}")


@register("edge-of-stability")
class EdgeOfStability(CaseStudy):
    """Progressive sharpening and the 2/η plateau of full-batch GD, with the top eigenvector's loading.

    Examples:
        >>> sorted(EdgeOfStability().runs(PRESETS["quick"], seed=0))   # one run per step size
        ['eta_0.14', 'eta_0.25', 'main']
    """

    presets = PRESETS
    universal = ("median sharpness over the plateau",)
    family = {"model.widths": ((16, 16), (64, 64)), "train.lr": (0.15, 0.2), "task.noise": (0.1, 0.3)}

    def runs(self, preset: EdgeOfStabilityPreset, seed: int) -> dict[str, RunConfig]:
        return {"main": run_config(preset, preset.train.lr, seed)} | {run_key(lr): run_config(preset, lr, seed) for lr in preset.other_lrs}

    def trackers(self, preset: EdgeOfStabilityPreset, key: str, seed: int = 0) -> list:
        return [SharpnessTracker(k=1, trace_probes=0, loading=False, seed=seed)]

    def offline(self, preset: EdgeOfStabilityPreset, key: str, run: Run) -> list[Offline]:
        return [Offline([CurvatureLoadingTracker(trace_probes=preset.trace_probes, seed=run.config.seed)])]

    def analyse(self, runs: Mapping[str, Run], preset: EdgeOfStabilityPreset) -> BridgeReport:
        return analyse_runs(runs, preset.targets)

    def figures(self, runs: Mapping[str, Run], report: BridgeReport, preset: EdgeOfStabilityPreset) -> list[str]:
        return figures(runs, {key: detect(run, preset.targets) for key, run in runs.items()})


def layer_shares(run: Run, step: int) -> dict[str, float]:
    """The top eigenvector's loading summed per layer (weight + bias of ``layers.{l}``) at checkpoint ``step``.

    Examples:
        >>> layer_shares(bridge.load_run("runs/eos"), 1200)  # {"layers.0": share, "layers.1": ..., "layers.2": ...}, summing to 1  # doctest: +SKIP
    """
    row = cast("pd.Series", run.table("curvature/loading", "group").loc[step])  # a run's table has one row per step: .loc[step] is that row, never a table
    out: dict[str, float] = {}
    for group, value in row.dropna().items():
        layer = ".".join(str(group).split(".")[:2])
        out[layer] = out.get(layer, 0.0) + float(value)
    return out


def neuron_shares(run: Run, step: int) -> dict[tuple[int, int], float]:
    """``(layer, neuron) -> loading`` of the top eigenvector at checkpoint ``step``.

    Examples:
        >>> max(neuron_shares(bridge.load_run("runs/eos"), 1200).items(), key=lambda kv: kv[1])  # ((layer, neuron), loading)  # doctest: +SKIP
    """
    row = cast("pd.Series", run.table("curvature/neuron_loading", ["layer", "neuron"]).loc[step]).dropna()  # one row per step, as above
    return {(int(a), int(b)): float(v) for (a, b), v in zip(row.index.tolist(), row.tolist())}  # the labels: (layer, neuron) pairs of the table's MultiIndex columns


def detect(run: Run, targets: Targets) -> dict:
    """The prediction and every event of one step size's run (plateau, sharpening, loss spike, oscillation onset, 2/η crossing).

    Examples:
        >>> detect(bridge.load_run("runs/eos"), Targets())["plateau"].change  # :func:`detect_curves` shows the dict on synthetic curves  # doctest: +SKIP
    """
    return detect_curves(run.config.train.lr, run.curve("curvature/top_eig", rank=1), run.curve("loss/train"), run.curve("curvature/grad_cosine"), targets)


def detect_curves(lr: float, sharpness: tuple[np.ndarray, np.ndarray], loss: tuple[np.ndarray, np.ndarray], cosine: tuple[np.ndarray, np.ndarray], targets: Targets) -> dict:
    """:func:`detect` on curves: ``(steps, values)`` of the sharpness, the training loss and ``cos(g, v₁)``, each two arrays of shape ``(n,)``.

    Examples:
        >>> t = np.arange(600.0); alt = (-1.0) ** t   # η = 0.2, so 2/η = 10; GD flips sign along v₁ from step 250
        >>> s, cos = np.minimum(3 + 7 * t / 200, 10.0) + 0.1 * alt * (t > 200), np.where(t < 250, 0.01, 0.9) * alt
        >>> found = detect_curves(0.2, (t, s), (t, np.exp(-t / 300)), (t, cos), Targets())
        >>> found["prediction"].value, round(found["plateau"].change, 1), found["onset"].step, found["spike"]
        (10.0, 9.9, 250.0, None)
    """
    pred, edge = predict_plateau(lr), stability_threshold(lr)  # the prediction's value is the edge, 2/η
    t, s = sharpness
    plateau = sharpness_plateau(t, s)
    events = {"rise": sharpening(t, s, plateau), "spike": first_increase(*loss), "onset": oscillation_onset(*cosine, level=targets.oscillation_level), "crossing": edge_reached(t, s, edge)}
    return {"lr": lr, "prediction": pred, "sharpness": sharpness, "loss": loss, "cosine": cosine, "plateau": plateau, **events}


COHEN = "Cohen et al. 2021, Gradient descent on neural networks typically occurs at the edge of stability (ICLR)"


def judge(found: dict, targets: Targets, report: BridgeReport, n_params: int, steps: int) -> dict:
    """Append one step size's rows to ``report``; returns the onset match's detail.

    Every row is appended whether or not its events were found; an absent plateau
    fails each row that reads it, and says so.

    Examples:
        >>> from bridge.report import BridgeReport; t = np.arange(600.0); alt = (-1.0) ** t   # sharpening to 2/η = 10, then period-2 oscillation
        >>> s, cos = np.minimum(3 + 7 * t / 200, 10.0) + 0.1 * alt * (t > 200), np.where(t < 250, np.clip(1e-4 * 1.1 ** (t - 150), 0, 0.3), 0.9) * alt
        >>> report, loss = BridgeReport("edge-of-stability", "custom", 0), np.exp(-t / 300) * (1 + 0.2 * (t % 2) * (t >= 251))
        >>> detail = judge(detect_curves(0.2, (t, s), (t, loss), (t, cos), Targets()), Targets(), report, n_params=1377, steps=600); report.verdict, len(report.checks), report.matches[0].mechanism_step
        ('pass', 5, 250.0)
    """
    pred, plateau, rise, spike, onset = found["prediction"], found["plateau"], found["rise"], found["spike"], found["onset"]
    (t, s), (tl, loss), (tc, cos) = found["sharpness"], found["loss"], found["cosine"]
    tag = f"η={found['lr']:g} (2/η={pred.value:.3g})"
    horizon = (f"steps={steps} (long enough for the sharpness to reach 2/η)",)
    no_plateau = "sharpness plateau absent (the sharpness never flattens: still rising, or falling, at the end)"
    crossing = found["crossing"]
    detail = {"lr": found["lr"], "sharpness_reaches_2_over_eta": None if crossing is None else crossing.step, "plateau_start": None if plateau is None else plateau.start}
    median = None if plateau is None else plateau.change
    err = None if median is None else abs(median / pred.value - 1)
    report.checks.append(check(
        f"{tag}: median sharpness over the plateau", median, f"within {targets.tolerance:.0%} of 2/η = {pred.value:.4g}", err is not None and err <= targets.tolerance,
        claim="the sharpness stops rising and hovers at 2/η", source=COHEN + ", Fig. 1 and Sec. 3; bridge.theory.eos", depends_on=horizon, reason=no_plateau if plateau is None else "",
    ))
    ok_rise = rise is not None and plateau is not None and rise.step < plateau.start and s[0] < targets.start_below * plateau.change
    report.checks.append(check(
        f"{tag}: progressive sharpening detected before the plateau (half-rise step)",
        None if rise is None else rise.step,
        f"< plateau start {'—' if plateau is None else f'{plateau.start:g}'}, starting below {targets.start_below:g} × plateau (sharpness {s[0]:.3g} at step 0)",
        ok_rise, claim="the sharpness rises during training before it reaches 2/η (progressive sharpening)", source=COHEN + ", Sec. 3 (progressive sharpening)",
        depends_on=horizon, reason=no_plateau if plateau is None else "no rise to the plateau" if rise is None else _rise_reason(ok_rise, rise.step >= plateau.start, s[0]),
    ))
    fall = climb = None
    if plateau is not None and t[-1] - plateau.start > 1:
        ratio, rises = plateau_loss_trend(tl, loss, plateau.start)
        fall, climb = 1 - ratio, loss_climb(tl, loss, plateau.start)
        detail.update(plateau_loss_ratio=ratio, plateau_loss_rises=rises)
    why = no_plateau if plateau is None else ""
    not_finite = "the loss is not finite on the plateau"
    report.checks.append(check(
        f"{tag}: loss falls over the plateau (1 − end/start loss)", fall, f">= {targets.min_fall:g}", fall is not None and fall >= targets.min_fall,
        claim="at the edge of stability the loss still decreases over long horizons", source=COHEN + ", Sec. 3", depends_on=horizon,
        reason=why or (not_finite if fall is not None and np.isnan(fall) else ""),
    ))
    report.checks.append(check(
        f"{tag}: loss non-monotone on short horizons (sum of its one-step rises on the plateau / its net fall)", climb, f">= {targets.min_climb:g}",
        climb is not None and climb >= targets.min_climb,
        claim="at the edge of stability the loss goes up and down from step to step by more than it falls overall", source=COHEN + ", Sec. 3", depends_on=horizon,
        reason=why or (not_finite if climb is not None and np.isnan(climb) else ""),
    ))
    floor = targets.cosine_sds / np.sqrt(n_params)
    share = None
    if plateau is not None and onset is not None and t[-1] - max(plateau.start, onset.step) > 1:
        on = tc >= plateau.start
        detail["oscillation_window_start"] = begin = max(plateau.start, onset.step)
        share = detail["plateau_oscillation_share"] = oscillation_share(tc[tc >= begin], cos[tc >= begin], floor)
        before = tc < (onset.step if onset is not None else plateau.start) - 10
        detail["plateau_alternation_fraction"] = alternation_fraction(tc[on], cos[on])
        detail["plateau_median_abs_cosine"] = float(np.median(np.abs(cos[on])))
        detail["before_median_abs_cosine"] = float(np.median(np.abs(cos[before]))) if before.any() else None
    report.checks.append(check(
        f"{tag}: GD oscillates with period 2 along v₁ on the plateau, from the oscillation onset on (share of steps where g·v₁ flips sign with |cos(g, v₁)| >= {targets.cosine_sds:g}/√P)",
        share, f">= {targets.min_alternation:g} (0: no oscillation; {targets.cosine_sds:g}/√P = {floor:.3f})", share is not None and share >= targets.min_alternation,
        claim="once it starts, gradient descent on the plateau bounces back and forth along the top Hessian eigenvector every step",
        source=COHEN + ", Sec. 3 (GD on a quadratic past 2/η); bridge.theory.eos.oscillation_multiplier", depends_on=horizon,
        reason=why or ("oscillation onset absent" if onset is None else ""),
    ))
    report.matches.append(match(
        f"{tag}: loss spikes when GD starts oscillating along the top eigenvector", None, spike, onset, targets.onset_tolerance, detail=detail,
        claim="the loss first rises when the gradient starts flipping sign along the top eigenvector", source=COHEN + ", Sec. 3 and Appendix (the quadratic model)", depends_on=horizon,
    ))
    return detail


def analyse_runs(runs: Mapping[str, Run], targets: Targets = Targets()) -> BridgeReport:
    """The bridge report over the runs of every step size (``{"main": run, "eta_<η>": run, ...}``).

    Examples:
        >>> report = analyse_runs({"main": bridge.load_run("runs/eos")})   # doctest: +SKIP
        >>> [c.passed for c in report.checks]                               # doctest: +SKIP
        [True, True, True, True]
    """
    main = runs["main"]
    report = BridgeReport("edge-of-stability", "custom", main.config.seed)
    for key, run in runs.items():
        found = detect(run, targets)
        detail = judge(found, targets, report, sum(p.numel() for p in run.model_at(0).parameters()), run.config.train.steps)
        last = run.steps[-1]
        layers = layer_shares(run, last)
        neurons = sorted(neuron_shares(run, last).items(), key=lambda kv: -kv[1])
        pr = 1.0 / sum(v * v for _, v in neurons) * (sum(v for _, v in neurons) ** 2) if neurons else float("nan")
        lay = ", ".join(f"{k} {v:.2f}" for k, v in layers.items())
        top = ", ".join(f"L{a}n{b} {v:.2f}" for (a, b), v in neurons[:5])
        report.notes.append(f"η={found['lr']:g}, step {last}: top-eigenvector loading by layer [{lay}]; top neurons [{top}]; neuron participation ratio {pr:.1f} of {len(neurons)}")
        detail.update(final_layer_loading=layers, final_top_neurons=[[a, b, v] for (a, b), v in neurons[:5]], neuron_participation_ratio=pr)
        events = [found[k] for k in ("plateau", "rise", "spike", "onset", "crossing") if found[k] is not None]
        report.events += [e.to_dict() | {"run": key} for e in events] + [found["prediction"].to_dict() | {"type": "prediction", "run": key}]
    tops = [{(a, b) for a, b, _ in m.detail["final_top_neurons"]} for m in report.matches]
    shared = set.intersection(*tops) if tops else set()
    report.notes.append(f"neurons among the top 5 of v₁'s loading for every η: {sorted(shared) or 'none'} (layer, neuron)")
    report.extra["runs"] = {f"{run.config.train.lr:g}": str(run.path.relative_to(main.path)) if run.path != main.path else "." for run in runs.values()}
    report.notes.append("The plateau is detected from the sharpness curve alone (median of the last third; starts where a running median reaches 95% of it; absent while the sharpness still climbs there); 2/η is used only to judge it.")
    report.notes.append("sharpness_reaches_2_over_eta in each match's detail: GD becomes linearly unstable there; the loss spike follows once the oscillation along the top eigenvector has grown from its tiny initial amplitude.")
    return report


def figures(runs: Mapping[str, Run], found: Mapping[str, dict]) -> list[str]:
    """Sharpness with 2/η lines, loss curves, loading by layer and neuron, the oscillation onset.

    Examples:
        >>> runs = {"main": bridge.load_run("runs/eos"), "eta_0.25": bridge.load_run("runs/eos/runs/eta_0.25")}  # doctest: +SKIP
        >>> figures(runs, {key: detect(run, Targets()) for key, run in runs.items()})  # doctest: +SKIP
        ['figures/sharpness.png', 'figures/loss.png', 'figures/loading.png', 'figures/oscillation.png']
    """
    main = runs["main"]
    folder = main.figures_dir
    fig, ax = new_figure(size=(6.5, 4.2))
    plot_sharpness(ax, {f["lr"]: f["sharpness"] for f in found.values()}, {f["lr"]: None if f["plateau"] is None else f["plateau"].start for f in found.values()})
    paths = [save_figure(fig, folder / "sharpness.png")]
    fig, ax = new_figure(size=(6.5, 4.2))
    plot_loss_by_step_size(ax, {f["lr"]: f["loss"] for f in found.values()})
    paths.append(save_figure(fig, folder / "loss.png"))
    fig, axes = new_figure(ncols=2, nrows=len(runs), size=(5.0, 3.2))
    for i, (key, run) in enumerate(sorted(runs.items(), key=lambda item: found[item[0]]["lr"])):  # ascending η, as the curves
        lr, steps, last = found[key]["lr"], [s for s in run.steps if s > 0], run.steps[-1]
        plot_layer_loading(axes[2 * i], steps, [layer_shares(run, s) for s in steps], f"η={lr:g}: v₁ loading by layer")
        plot_neuron_loading(axes[2 * i + 1], neuron_shares(run, last), f"η={lr:g}: v₁ loading by neuron, step {last}")
    paths.append(save_figure(fig, folder / "loading.png"))
    paths.append(save_figure(_oscillation_figure(found), folder / "oscillation.png"))
    return [str(p.relative_to(main.path)) for p in paths]


def _oscillation_figure(found: Mapping[str, dict]) -> Any:
    """One onset panel per step size (``detect_curves``' results), ascending η, each title saying what was detected."""
    fig, axes = new_figure(ncols=len(found), size=(4.6, 3.4))
    for ax, f in zip(np.atleast_1d(axes), sorted(found.values(), key=lambda f: f["lr"])):
        (t, cos), (tl, loss) = f["cosine"], f["loss"]
        plot_onset(ax, t, cos, tl, loss, None if f["onset"] is None else f["onset"].step, None if f["spike"] is None else f["spike"].step, label=f"η={f['lr']:g}")
    return fig


def _rise_reason(ok: bool, late: bool, first: float) -> str:
    """Why a progressive-sharpening row with a rise and a plateau fails ("" when it passes)."""
    return "" if ok else "the half-rise comes after the plateau starts" if late else "the sharpness at step 0 is not a number" if not np.isfinite(first) else "the sharpness starts too close to the plateau"
