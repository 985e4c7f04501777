"""Case study ``grokking``: modular addition, its Fourier circuit, and the theory that sees it coming.

Three runs, one report:

1. **main** (``out/``): a one-layer ReLU transformer (no LayerNorm) trained by
   AdamW on ``a + b mod p`` from a fraction of the pairs. It memorises, then
   generalises long after. Phases (memorisation, circuit formation, clean-up)
   are detected from the train/test curves; the mechanism side measures the
   embedding's Fourier spectrum, its Gini coefficient, and the restricted and
   excluded loss over the final key frequencies (Nanda et al. 2023).
2. **agf** (``out/runs/agf``): a two-layer quadratic network on a template
   target with unequal Fourier magnitudes; alternating gradient flows
   (Kunin et al. 2025) predict from the initial weights when each frequency is
   acquired, in order of magnitude, and how much loss each removes.
3. **sweep** (``out/runs/sweep/…``): grokking step against ``lr · weight
   decay``; the fitted exponent (with its 95% interval) is reported against the
   ``1/(lr·wd)`` prediction whatever it turns out to be.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bridge.training.analyze import analyze
from bridge.config import RunConfig, ScheduleConfig, TrainConfig
from bridge.match import check, match
from bridge.models import TransformerConfig
from bridge.stages.grokking import grokking_phases, half_fall, phase_ordered
from bridge.report import BridgeReport
from bridge.runs.run import Run
from bridge.stages.detectors import half_rise, threshold_crossing
from bridge.tasks.modular import ModularConfig
from bridge.training.loop import train
from case_studies.base import CaseStudy, register
from case_studies.grokking_parts import AGFPreset, SweepPreset, agf_study, figures, sweep_study
from probes.fourier import frequency_norms, key_frequencies, top_share
from bridge.trackers.fourier import FourierTracker, WeightNormTracker
from probes.modular import residue_embedding


@dataclass(frozen=True)
class GrokkingPreset:
    """Settings of the main grokking run and its sub-studies.

    Args:
        p, train_fraction: modulus and share of the ``p²`` pairs trained on.
        d_model, n_heads, d_head, d_mlp: the one-layer transformer.
        lr, betas, weight_decay, steps: AdamW, full batch.
        track_every: loss/accuracy sampling interval; checkpoint_every: checkpoint (and Fourier analysis) interval.
        key_mass: share of the squared Fourier norm that defines key frequencies.
        n_top: the "few" frequencies that must carry most of the embedding norm.
        sparse_share: what "most" means for them.
        grok_ratio: test accuracy > 95% must come at least this many times later than train accuracy > 99%.
        excluded_rise: factor by which the excluded loss must rise over circuit formation (1: it rises).
        lag_tolerance: relative lag allowed between the test-loss drop and a
            mechanism event (restricted-loss drop, Gini rise) for them to count
            as one transition.
        agf, sweep: the sub-studies (``None`` skips one).
    """

    p: int = 59
    train_fraction: float = 0.4
    d_model: int = 64
    n_heads: int = 4
    d_head: int = 16
    d_mlp: int = 256
    lr: float = 3e-3
    betas: tuple[float, float] = (0.9, 0.98)
    weight_decay: float = 2.0
    steps: int = 2500
    track_every: int = 10
    checkpoint_every: int = 50
    key_mass: float = 0.8
    n_top: int = 8
    sparse_share: float = 0.5
    grok_ratio: float = 3.0
    excluded_rise: float = 1.0
    lag_tolerance: float = 0.5
    threads: int = 1
    agf: AGFPreset | None = field(default_factory=AGFPreset)
    sweep: SweepPreset | None = field(default_factory=SweepPreset)

    def run_config(self, seed: int) -> RunConfig:
        return RunConfig(
            task=ModularConfig(p=self.p, op="+", train_fraction=self.train_fraction),
            model=TransformerConfig(d_vocab=self.p + 1, n_ctx=3, d_model=self.d_model, n_heads=self.n_heads, d_head=self.d_head, n_layers=1, d_mlp=self.d_mlp, d_vocab_out=self.p, act_fn="relu"),
            train=TrainConfig(
                optimizer="adamw", lr=self.lr, steps=self.steps, weight_decay=self.weight_decay, betas=self.betas,
                schedule=ScheduleConfig(n_log=20, every=self.checkpoint_every, track_every=self.track_every), threads=self.threads,
            ),
            seed=seed,
            name="grokking",
        )


PRESETS = {
    "quick": GrokkingPreset(),
    "full": GrokkingPreset(
        p=113, train_fraction=0.3, d_model=128, n_heads=4, d_head=32, d_mlp=512, lr=1e-3, weight_decay=1.0, steps=40000, track_every=100, checkpoint_every=500,
        agf=AGFPreset(p=23, width=256, steps=6000), sweep=SweepPreset(p=97, width=512, steps=6000, lrs=(1e-3, 3e-3, 1e-3, 1e-3, 5e-4, 2e-3), weight_decays=(1.0, 1.0, 0.5, 2.0, 4.0, 4.0)),
    ),
}


def run_grokking(preset: GrokkingPreset, out: Path, *, seed: int = 0, device: str = "auto", progress: bool | None = None) -> BridgeReport:
    """Train the main run, its Fourier analysis, the AGF and sweep sub-studies; write the report into ``out``."""
    clock = {"start": time.perf_counter()}
    run = train(preset.run_config(seed), out, trackers=[WeightNormTracker()], device=device, progress=progress)
    clock["main training"] = time.perf_counter()
    keys = final_key_frequencies(run, preset.key_mass)
    analyze(run, [FourierTracker(key_frequencies=tuple(keys), mass=preset.key_mass, n_top=preset.n_top)], progress=progress)
    clock["Fourier analysis"] = time.perf_counter()
    if preset.agf is not None:
        agf_study(preset.agf, out / "runs" / "agf", seed=seed, device=device, progress=progress)
    clock["AGF study"] = time.perf_counter()
    if preset.sweep is not None:
        sweep_study(preset.sweep, out / "runs" / "sweep", seed=seed, device=device, progress=progress)
    clock["sweep"] = time.perf_counter()
    marks = list(clock.values())
    wall = {name: round(b - a, 2) for name, a, b in zip(list(clock)[1:], marks, marks[1:])}
    run.update_info(case_study="grokking", preset=_preset_name(preset), key_frequencies=keys, wall_seconds=wall)
    return analyse_grokking(run, preset, _preset_name(preset))


def _preset_name(preset: GrokkingPreset) -> str:
    return next((k for k, v in PRESETS.items() if v == preset), "custom")


def final_key_frequencies(run: Run, mass: float) -> list[int]:
    """Key frequencies of the last checkpoint: the fewest carrying ``mass`` of the embedding's squared Fourier norm."""
    model, data = run.model_at(run.steps[-1]), run.task_data()
    return key_frequencies(frequency_norms(residue_embedding(model, data.info["p"])), mass)


def analyse_grokking(run: Run, preset: GrokkingPreset, preset_name: str = "custom") -> BridgeReport:
    """Detect phases and events, match them, add the sub-studies, and write the report (works on a loaded run)."""
    report = BridgeReport("grokking", preset_name, run.config.seed)
    t_acc, train_acc = run.curve("accuracy/train")
    t_test, test_acc = run.curve("accuracy/test")
    t_loss, test_loss = run.curve("loss/test")
    memorised = threshold_crossing(t_acc, train_acc, 0.99, "up", name="train accuracy > 99%", observable="accuracy/train")
    grokked = threshold_crossing(t_test, test_acc, 0.95, "up", name="test accuracy > 95%", observable="accuracy/test")
    ratio = (grokked.step / memorised.step) if memorised and grokked and memorised.step > 0 else None
    report.checks.append(check("test acc > 95% step / train acc > 99% step", ratio, f">= {preset.grok_ratio:g}", ratio is not None and ratio >= preset.grok_ratio))

    stages = grokking_phases(t_acc, train_acc, np.interp(t_acc, t_loss, test_loss))
    report.checks.append(check("three phases detected in order", " → ".join(f"{s.name} [{s.start:.0f}, {s.end:.0f}]" for s in stages) or "none", "memorisation → circuit formation → clean-up", phase_ordered(stages)))
    t_mem = memorised.step if memorised else 0.0

    t_r, restricted = run.curve("fourier/restricted_loss")
    t_e, excluded = run.curve("fourier/excluded_loss")
    t_g, gini = run.curve("fourier/embed_gini")
    test_drop = half_fall(t_loss, test_loss, t_mem, "test loss half-way down from its peak", "loss/test")
    restricted_drop = half_fall(t_r, restricted, t_mem, "restricted loss half-way down from its peak", "fourier/restricted_loss")
    keep = t_g >= t_mem
    gini_rise = half_rise(t_g[keep], gini[keep], name="embedding Gini half-rise", observable="fourier/embed_gini") if keep.sum() > 1 else None
    before = restricted_drop is not None and test_drop is not None and restricted_drop.step < test_drop.step
    report.checks.append(check("restricted loss falls before test loss (half-drop steps)", f"{_step(restricted_drop)} vs {_step(test_drop)}", "restricted < test", before))

    rise = None
    if len(stages) >= 2:
        cf = stages[1]
        rise = float(np.interp(cf.end, t_e, excluded) / np.interp(cf.start, t_e, excluded))
    report.checks.append(check("excluded loss rise over circuit formation (end / start)", rise, f"> {preset.excluded_rise:g}", rise is not None and rise > preset.excluded_rise))

    final = frequency_norms(residue_embedding(run.model_at(run.steps[-1]), preset.p))
    share = top_share(final, preset.n_top)
    n_key = len(key_frequencies(final, preset.key_mass))
    report.checks.append(check(f"share of final embedding Fourier norm² in the top {preset.n_top} frequencies", share, f"> {preset.sparse_share:g}", share > preset.sparse_share))
    report.extra["key_frequencies"] = run.info.get("key_frequencies")
    report.extra["embedding_n_key"] = n_key
    report.notes.append(f"{n_key} frequencies carry {preset.key_mass:.0%} of the final embedding's squared Fourier norm; key frequencies (restricted/excluded loss): {run.info.get('key_frequencies')}")

    t_w, norm = run.curve("weights/norm")
    tau = 1.0 / (preset.lr * preset.weight_decay)
    report.extra["time_scale_1_over_lr_wd"] = tau
    report.extra["wall_seconds"] = run.info.get("wall_seconds")
    if grokked is not None:
        report.notes.append(f"grokking step {grokked.step:.0f} = {grokked.step / tau:.2f} × 1/(lr·wd) = {tau:.0f} steps; memorised at {t_mem:.0f}")
    report.matches.append(match("grokking transition (time scale 1/(lr·wd): fitted by the sweep, no step predicted)", None, test_drop, restricted_drop, preset.lag_tolerance, detail={"tau": tau}))
    g_rise = None
    if len(stages) == 3:
        g_rise = float(np.interp(stages[2].end, t_g, gini) - np.interp(stages[2].start, t_g, gini))
    report.checks.append(check("Gini of W_E Fourier norms rises during clean-up (end − start)", g_rise, "> 0", g_rise is not None and g_rise > 0))
    if gini_rise is not None and test_drop is not None:
        report.notes.append(
            f"the W_E Gini reaches half its rise at step {gini_rise.step:.0f}, {gini_rise.step / test_drop.step:.2f}× the test-loss half-drop step: "
            "the embedding's non-key frequencies decay on the weight-decay time scale after the test loss has fallen"
        )

    sub = Path(run.path) / "runs"
    if preset.agf is not None and (sub / "agf").exists():
        agf_report = preset.agf.analyse(Run(sub / "agf"))
        report.matches += agf_report.matches
        report.checks += agf_report.checks
        report.extra["agf"] = agf_report.extra
    if preset.sweep is not None and (sub / "sweep").exists():
        sweep_checks, sweep_extra = preset.sweep.analyse(sub / "sweep")
        report.checks += sweep_checks
        report.extra["sweep"] = sweep_extra
    events = [e for e in (memorised, grokked, test_drop, restricted_drop, gini_rise) if e is not None]
    run.write_events(events + list(stages))
    report.figures = figures(run, stages, events, preset)
    report.write(run.path)
    return report


def _step(event) -> str:
    return "not detected" if event is None else f"{event.step:.0f}"


register(CaseStudy("grokking", "Grokking on modular addition: phases, Fourier circuit, AGF feature order, weight-decay time scale", PRESETS, run_grokking, analyse_grokking))
