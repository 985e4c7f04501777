"""Parts of the ``grokking`` case study: the AGF quadratic-network study, the weight-decay sweep, figures.

Kept apart from :mod:`case_studies.grokking` (which registers the study) so
each file stays small; this module registers nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bridge.config import RunConfig, ScheduleConfig, TrainConfig
from bridge.match import check, match
from bridge.models import MLPConfig
from bridge.plots.base import new_figure, plot_curves, save_figure
from bridge.report import BridgeReport, Check
from bridge.runs.run import Run
from bridge.stages.detectors import Event, half_rise, threshold_crossing
from bridge.tasks.modular import ModularConfig
from bridge.theory import agf
from bridge.theory.weight_decay import fit_power_law
from bridge.training.loop import train
from bridge.plots.fourier import plot_emergence, plot_phase_bands, plot_power_law, plot_spectrum
from bridge.trackers.fourier import FourierTracker, TemplateLossTracker


def norms_table(run: Run, name: str = "fourier/embed_norm") -> tuple[np.ndarray, np.ndarray]:
    """``(steps, norms[step, frequency])`` of a per-frequency observable."""
    frame = run.metrics[run.metrics["observable"] == name]
    table = frame.pivot_table(index="step", columns="frequency", values="value", aggfunc="last").sort_index()
    return table.index.to_numpy(float), table.to_numpy(float)


@dataclass(frozen=True)
class AGFPreset:
    """A two-layer quadratic network from small initialisation on a template target (Kunin et al. 2025).

    Args:
        p: modulus; frequencies, magnitudes: the target's Fourier content (consecutive
            ``m_k`` a factor ~1.5 apart, so the order is not decided by which neuron
            happened to start best aligned — AGF's separation assumption).
        width: hidden neurons; init_scale: weights ~ N(0, init_scale²/fan_in).
        lr, steps: full-batch gradient descent.
        track_every: sampling interval of the loss and the weight spectrum.
        tolerance: relative error allowed between predicted, loss-drop and emergence steps.
    """

    p: int = 17
    frequencies: tuple[int, ...] = (3, 1, 6, 2)
    magnitudes: tuple[float, ...] = (1.0, 0.65, 0.42, 0.27)
    width: int = 64
    init_scale: float = 0.1
    lr: float = 2.0
    steps: int = 4500
    track_every: int = 10
    tolerance: float = 0.2
    threads: int = 1

    def run_config(self, seed: int) -> RunConfig:
        task = ModularConfig(p=self.p, op="+", train_fraction=1.0, encoding="onehot", template_frequencies=self.frequencies, template_magnitudes=self.magnitudes)
        model = MLPConfig(d_in=2 * self.p, d_out=self.p, widths=(self.width,), activation="quadratic", bias=False, init_scale=self.init_scale)
        schedule = ScheduleConfig(n_log=10, every=max(self.steps // 10, 1), track_every=self.track_every)
        return RunConfig(task, model, TrainConfig(optimizer="gd", lr=self.lr, steps=self.steps, schedule=schedule, threads=self.threads), seed=seed, name="grokking-agf")

    @staticmethod
    def template(run: Run) -> dict[int, float]:
        """``{k: m_k}`` of the run's own task config."""
        task = run.config.task
        return dict(zip(task.template_frequencies, task.template_magnitudes))

    def predictions(self, run: Run) -> list:
        """AGF predictions from the run's initial weights, template and learning rate."""
        net, p = run.model_at(0), run.config.task.p
        w1 = net.layers[0].weight.detach()
        return agf.predict_acquisitions(w1[:, :p], w1[:, p:], net.layers[1].weight.detach(), self.template(run), run.config.train.lr)

    def analyse(self, run: Run) -> BridgeReport:
        """Match AGF's acquisition steps with loss-drop events and with each frequency's emergence in the weights."""
        report = BridgeReport("grokking/agf", "", run.config.seed)
        preds = self.predictions(run)
        t_loss, loss = run.curve("loss/train")
        t_n, norms = norms_table(run)
        plateaus = [preds[0].value + preds[0].extra["drop"]] + [p.value for p in preds]
        emerged: dict[int, Event | None] = {}
        for j, pred in enumerate(preds):
            k = pred.extra["frequency"]
            t_k, loss_k = run.curve("template/loss", frequency=k)
            level = pred.extra["drop"] / 2
            drop = threshold_crossing(t_k, loss_k, level, "down", name=f"frequency-{k} loss half-way down ({level:.3f})", observable="template/loss")
            emerged[k] = half_rise(t_n, norms[:, k], name=f"frequency {k} norm half-rise", observable="fourier/embed_norm")
            report.matches.append(match(f"AGF: frequency {k} (m={pred.extra['magnitude']:g}) acquired", pred.step, drop, emerged[k], self.tolerance, detail={"frequency": k, "plateau_after": pred.value}))
        order = agf.magnitude_order(self.template(run))
        seen = sorted((e.step, k) for k, e in emerged.items() if e is not None)
        observed = [k for _, k in seen]
        report.checks.append(check("AGF: frequencies emerge in the weights in order of target magnitude", " → ".join(map(str, observed)), " → ".join(map(str, order)), observed == order))
        predicted = [p.extra["frequency"] for p in preds]
        report.checks.append(check("AGF: predicted acquisition times follow the magnitude order", " → ".join(map(str, predicted)), " → ".join(map(str, order)), predicted == order))
        crossings = []
        for j in range(len(preds)):
            level = 0.5 * (plateaus[j] + plateaus[j + 1])
            hit = threshold_crossing(t_loss, loss, level, "down")
            crossings.append(None if hit is None else hit.step)
        report.extra = {
            "predicted_steps": {p.extra["frequency"]: p.step for p in preds},
            "plateaus": plateaus,
            "total_loss_midpoint_crossings": crossings,
            "emergence": {k: (None if e is None else e.step) for k, e in emerged.items()},
        }
        run.write_events([e for e in emerged.values() if e is not None] + [p.to_dict() | {"type": "prediction"} for p in preds])
        return report


@dataclass(frozen=True)
class SweepPreset:
    """Grokking step against ``lr · weight decay`` for a one-hot quadratic MLP under AdamW.

    Args:
        p, train_fraction: the task; width: hidden neurons.
        lrs, weight_decays: the sweep points (paired; at least 4 distinct weight decays).
        steps: training steps per point; track_every: accuracy sampling interval.
    """

    p: int = 43
    train_fraction: float = 0.5
    width: int = 128
    lrs: tuple[float, ...] = (3e-3, 3e-3, 3e-3, 3e-3, 1.5e-3, 6e-3)
    weight_decays: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 1.0, 1.0)
    betas: tuple[float, float] = (0.9, 0.98)
    steps: int = 1500
    track_every: int = 10
    threads: int = 1

    def run_config(self, lr: float, wd: float, seed: int) -> RunConfig:
        task = ModularConfig(p=self.p, op="+", train_fraction=self.train_fraction, encoding="onehot")
        model = MLPConfig(d_in=2 * self.p, d_out=self.p, widths=(self.width,), activation="quadratic", bias=False)
        schedule = ScheduleConfig(n_log=0, every=0, track_every=self.track_every)
        train_cfg = TrainConfig(optimizer="adamw", lr=lr, steps=self.steps, weight_decay=wd, betas=self.betas, schedule=schedule, threads=self.threads)
        return RunConfig(task, model, train_cfg, seed=seed, name=f"grokking-sweep-lr{lr:g}-wd{wd:g}")

    def points(self) -> list[tuple[float, float]]:
        if len(self.lrs) != len(self.weight_decays):
            raise ValueError(f"sweep lrs and weight_decays differ in length: {len(self.lrs)} vs {len(self.weight_decays)}")
        return list(zip(self.lrs, self.weight_decays))

    def analyse(self, folder: Path) -> tuple[list[Check], dict[str, Any]]:
        """Grokking and memorisation steps per point, the power-law fit, and the checks."""
        rows = []
        for lr, wd in self.points():
            run = Run(Path(folder) / f"lr{lr:g}-wd{wd:g}")
            t, test = run.curve("accuracy/test")
            t2, tr = run.curve("accuracy/train")
            grok = threshold_crossing(t, test, 0.95, "up")
            mem = threshold_crossing(t2, tr, 0.99, "up")
            rows.append({"lr": lr, "weight_decay": wd, "lr_wd": lr * wd, "grok_step": None if grok is None else grok.step, "memorised_step": None if mem is None else mem.step})
        ok = [r for r in rows if r["grok_step"] is not None]
        extra: dict[str, Any] = {"points": rows}
        n_wd = len({r["weight_decay"] for r in ok})
        fit = None
        if len(ok) >= 3 and len({r["lr_wd"] for r in ok}) >= 2:
            fit = fit_power_law(np.array([r["lr_wd"] for r in ok]), np.array([r["grok_step"] for r in ok]))
            extra["fit"] = fit.to_dict()
            delays = [(r["lr_wd"], r["grok_step"] - r["memorised_step"]) for r in ok if r["memorised_step"] is not None and r["grok_step"] > r["memorised_step"]]
            if len(delays) >= 3 and len({x for x, _ in delays}) >= 2:
                extra["fit_delay"] = fit_power_law(*map(np.array, zip(*delays))).to_dict()
        value = "no fit"
        if fit is not None:
            inside = "inside" if fit.ci_low <= -1.0 <= fit.ci_high else "outside"
            value = f"α = {fit.exponent:.2f} ± {fit.stderr:.2f} (95% CI [{fit.ci_low:.2f}, {fit.ci_high:.2f}], {fit.n} runs; −1 {inside} the CI)"
        checks = [check("sweep: exponent of grokking step vs lr·wd fitted with its uncertainty (theory: −1)", value, f"fit over ≥ 4 weight decays that grokked (got {n_wd})", fit is not None and n_wd >= 4)]
        if fit is not None:
            extra["theory_exponent_in_ci"] = bool(fit.ci_low <= -1.0 <= fit.ci_high)
        return checks, extra


def agf_study(preset: AGFPreset, out: Path, *, seed: int, device: str, progress: bool | None) -> Run:
    """Train the quadratic network of the AGF study into ``out``."""
    return train(preset.run_config(seed), out, trackers=[FourierTracker(neurons=False, logits=False), TemplateLossTracker()], device=device, progress=progress)


def sweep_study(preset: SweepPreset, out: Path, *, seed: int, device: str, progress: bool | None) -> list[Run]:
    """Train every sweep point into ``out/lr{lr}-wd{wd}``."""
    return [train(preset.run_config(lr, wd, seed), Path(out) / f"lr{lr:g}-wd{wd:g}", device=device, progress=progress) for lr, wd in preset.points()]


def figures(run: Run, stages: list, events: list[Event], preset: Any) -> list[str]:
    """Losses with phase bands; W_E spectra at chosen steps; frequency emergence (main and AGF); the sweep's fit."""
    folder = run.figures_dir
    paths = []
    fig, axes = new_figure(ncols=2, size=(5.5, 3.8))
    curves = {name: run.curve(obs) for name, obs in (("train", "loss/train"), ("test", "loss/test"), ("restricted", "fourier/restricted_loss"), ("excluded", "fourier/excluded_loss"))}
    plot_curves(axes[0], curves, ylabel="cross-entropy", logy=True, title="Losses and grokking phases")
    plot_phase_bands(axes[0], stages)
    t_w, w = run.curve("weights/norm")
    t_g, g = run.curve("fourier/embed_gini")
    plot_curves(axes[1], {"weight norm": (t_w, w / w.max()), "Gini of W_E Fourier norms": (t_g, g)}, ylabel="(weight norm / max)", title="Weight norm and Fourier sparsity")
    plot_phase_bands(axes[1], stages)
    paths.append(save_figure(fig, folder / "losses_phases.png"))

    t_n, norms = norms_table(run)
    keys = run.info.get("key_frequencies") or []
    chosen = [0.0] + [s.end for s in stages] + [t_n[-1]]
    idx = sorted({int(np.argmin(np.abs(t_n - c))) for c in chosen})
    fig, ax = new_figure(size=(9, 3.6))
    plot_spectrum(ax, {f"step {int(t_n[i])}": norms[i] for i in idx}, key=keys, title="Fourier spectrum of W_E at the phase boundaries and the end (* key frequencies)")
    paths.append(save_figure(fig, folder / "embedding_spectrum.png"))

    fig, axes = new_figure(ncols=2, size=(5.5, 3.8))
    plot_emergence(axes[0], t_n, norms, keys[:8], title="Main run: W_E frequency norms")
    plot_phase_bands(axes[0], stages)
    agf_dir = run.path / "runs" / "agf"
    if preset.agf is not None and agf_dir.exists():
        sub = Run(agf_dir)
        t_a, n_a = norms_table(sub)
        predicted = {p.extra["frequency"]: p.step for p in preset.agf.predictions(sub)}
        plot_emergence(axes[1], t_a, n_a, agf.magnitude_order(AGFPreset.template(sub)), events=predicted, title="AGF: quadratic net (dotted: predicted)")
    paths.append(save_figure(fig, folder / "frequency_emergence.png"))

    sweep_dir = run.path / "runs" / "sweep"
    if preset.sweep is not None and sweep_dir.exists():
        _, extra = preset.sweep.analyse(sweep_dir)
        ok = [r for r in extra["points"] if r["grok_step"] is not None]
        if "fit" in extra:
            from bridge.theory.weight_decay import PowerLawFit

            fig, ax = new_figure(size=(5.5, 4.0))
            plot_power_law(ax, [r["lr_wd"] for r in ok], [r["grok_step"] for r in ok], PowerLawFit(**extra["fit"]), labels=[f"wd {r['weight_decay']:g}, lr {r['lr']:g}" for r in ok], title="Grokking step vs lr·wd (sweep)")
            paths.append(save_figure(fig, folder / "sweep_fit.png"))
    return [str(p.relative_to(run.path)) for p in paths]


__all__ = ["AGFPreset", "SweepPreset", "agf_study", "figures", "norms_table", "sweep_study"]
