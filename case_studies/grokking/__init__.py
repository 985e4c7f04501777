"""Case study ``grokking``: modular addition, its Fourier circuit, and the theory that sees it coming. The runs of one seed:

- ``main`` (``out/``): a one-layer ReLU transformer (no LayerNorm) trained by AdamW on ``a ∘ b mod p`` from a fraction
  of the pairs; it memorises, then generalises long after (phases are detected only in a run that generalised). An
  offline Fourier analysis measures the embedding's spectrum, its Gini coefficient, and the restricted and excluded
  loss (Nanda et al. 2023).
- ``agf`` (``out/runs/agf``): a two-layer quadratic network on a Fourier template; alternating gradient flows (Kunin
  et al. 2025) predict from the initial weights when each frequency is acquired, in order of magnitude, and the loss
  each removes. ``sweep_lr<lr>_wd<wd>``: grokking step against ``lr · weight decay``; ``t ∝ (lr·wd)^−1`` passes only
  when −1 lies inside the fitted exponent's 95% interval. Both follow the main run's operation (+ or −).

Examples:
    >>> study = Grokking()
    >>> sorted(study.runs(study.presets["quick"], seed=0))[:4]
    ['agf', 'main', 'sweep_lr1.5e-3_wd1', 'sweep_lr3e-3_wd0.5']
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from bridge.config import ConfigError, RunConfig, ScheduleConfig, TrainConfig
from bridge.models import MLPConfig, TransformerConfig
from bridge.report import BridgeReport
from bridge.runs.run import Run
from bridge.tasks.modular import ModularConfig
from bridge.trackers.base import Tracker
from bridge.trackers.fourier import FourierTracker, TemplateLossTracker, WeightNormTracker
from case_studies.base import CaseStudy, Offline, register
from case_studies.generality.universality import fourier_algorithm
from case_studies.grokking.analysis import Targets, analyse_agf, analyse_main, analyse_sweep, final_spectrum
from probes.fourier import key_frequencies


@dataclasses.dataclass(frozen=True)
class AGFRun:
    """The ``agf`` run: a two-layer quadratic network from small initialisation on a template target.

    Args:
        task: one-hot pairs, all of them, with a template target whose consecutive magnitudes are a
            factor ~1.5 apart (so the order is not decided by which neuron started best aligned:
            AGF's separation assumption).
        model: quadratic activation, no biases, weights ~ N(0, 0.1²/fan_in); its ``d_in`` and
            ``d_out`` follow the task.
        train: full-batch gradient descent; loss and spectrum tracked every 10 steps.

    Examples:
        >>> run = AGFRun(); run.task.template_frequencies, run.model.activation, run.train.steps
        ((3, 1, 6, 2), 'quadratic', 4500)
    """

    task: ModularConfig = ModularConfig(p=17, train_fraction=1.0, encoding="onehot", template_frequencies=(3, 1, 6, 2), template_magnitudes=(1.0, 0.65, 0.42, 0.27))
    model: MLPConfig = MLPConfig(d_in=34, d_out=17, widths=(64,), activation="quadratic", bias=False, init_scale=0.1)
    train: TrainConfig = TrainConfig(optimizer="gd", lr=2.0, steps=4500, schedule=ScheduleConfig(n_log=10, every=450, track_every=10))

    def __post_init__(self) -> None:
        self.train.require_gradient_descent("grokking's agf run (alternating gradient flows)")


@dataclasses.dataclass(frozen=True)
class SweepRuns:
    """The sweep: a one-hot quadratic MLP under AdamW, one run per ``(lr, weight decay)`` point.

    Args:
        task, model: the task and network of every point (``d_in``, ``d_out`` follow the task).
        train: the training of every point, whose ``lr`` and ``weight_decay`` each point replaces.
        points: the ``(lr, weight decay)`` pairs, distinct.

    Examples:
        >>> sorted({wd for _, wd in SweepRuns().points}), SweepRuns().train.optimizer
        ([0.5, 1.0, 2.0, 4.0], 'adamw')
        >>> SweepRuns(points=((3e-3, 1.0), (3e-3, 1.0)))
        Traceback (most recent call last):
        ...
        bridge.config.ConfigError: sweep points must be distinct, got ((0.003, 1.0), (0.003, 1.0))
    """

    task: ModularConfig = ModularConfig(p=43, train_fraction=0.5, encoding="onehot")
    model: MLPConfig = MLPConfig(d_in=86, d_out=43, widths=(128,), activation="quadratic", bias=False)
    train: TrainConfig = TrainConfig(optimizer="adamw", lr=3e-3, steps=1500, weight_decay=1.0, betas=(0.9, 0.98), schedule=ScheduleConfig(n_log=0, every=0, track_every=10))
    points: tuple[tuple[float, float], ...] = ((3e-3, 0.5), (3e-3, 1.0), (3e-3, 2.0), (3e-3, 4.0), (1.5e-3, 1.0), (6e-3, 1.0))

    def __post_init__(self) -> None:
        if len(set(self.points)) != len(self.points):
            raise ConfigError(f"sweep points must be distinct, got {self.points}")


@dataclasses.dataclass(frozen=True)
class GrokkingPreset:
    """Settings of the ``grokking`` case study.

    Args:
        task, model: ``a ∘ b mod p`` as tokens ``[a, b, =]`` on a fraction of the pairs; a one-layer transformer.
        train: AdamW, full batch; checkpoints (and the Fourier analysis) every 50 steps plus
            20 log-spaced, loss and accuracy every 10.
        agf, sweep: the auxiliary runs (``None`` skips one); they follow ``task.op``, ``+`` or ``-`` (the analysis uses
            Z_p's Fourier basis, in which ``a ± b`` is a rotation; ``a·b`` would need a discrete-log relabelling).
        targets: what the report judges; ``n_top`` below the ``(p − 1)/2`` frequencies of ``task.p`` and
            ``sweep_weight_decays`` at most the sweep's distinct weight decays (else a row could not fail, or not pass).

    Examples:
        >>> quick = PRESETS["quick"]; quick.task.p, quick.task.train_fraction, quick.model.d_mlp, quick.train.weight_decay, quick.train.steps
        (59, 0.4, 256, 2.0, 2500)
        >>> GrokkingPreset(task=ModularConfig(p=59, op="*"))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        bridge.config.ConfigError: grokking analyses the Fourier algorithm of a ± b mod p: task.op must be '+' or '-', got '*' ...
        >>> GrokkingPreset(targets=Targets(n_top=29))  # p = 59 has 29 frequencies
        Traceback (most recent call last):
        ...
        bridge.config.ConfigError: targets.n_top=29 must be below the 29 Fourier frequencies of task.p=59: the top 29 would carry all of any embedding's norm
    """

    task: ModularConfig = ModularConfig(p=59, train_fraction=0.4)
    model: TransformerConfig = TransformerConfig(d_vocab=60, n_ctx=3, d_model=64, n_heads=4, d_head=16, n_layers=1, d_mlp=256, d_vocab_out=59, act_fn="relu")
    train: TrainConfig = TrainConfig(optimizer="adamw", lr=3e-3, steps=2500, weight_decay=2.0, betas=(0.9, 0.98), schedule=ScheduleConfig(n_log=20, every=50, track_every=10))
    agf: AGFRun | None = AGFRun()
    sweep: SweepRuns | None = SweepRuns()
    targets: Targets = Targets()

    def __post_init__(self) -> None:
        if self.task.op not in ("+", "-"):
            raise ConfigError(f"grokking analyses the Fourier algorithm of a ± b mod p: task.op must be '+' or '-', got {self.task.op!r} (a·b mod p needs a discrete-log relabelling of the residues)")
        if max(1, round(self.task.train_fraction * self.task.p**2)) >= self.task.p**2:  # the split of bridge.tasks.modular
            raise ConfigError(f"grokking is judged on held-out pairs: task.train_fraction={self.task.train_fraction} leaves none of the {self.task.p**2} pairs of p={self.task.p} out")
        frequencies = (self.task.p - 1) // 2  # the embedding's non-constant Fourier frequencies
        if self.targets.n_top >= frequencies:  # the top n_top would be every frequency: a share of 1, any embedding passes
            raise ConfigError(f"targets.n_top={self.targets.n_top} must be below the {frequencies} Fourier frequencies of task.p={self.task.p}: the top {self.targets.n_top} would carry all of any embedding's norm")
        decays = {wd for _, wd in self.sweep.points} if self.sweep is not None else set()
        if self.sweep is not None and self.targets.sweep_weight_decays > len(decays):  # the precondition could never pass
            raise ConfigError(f"targets.sweep_weight_decays={self.targets.sweep_weight_decays} asks for more weight decays than the {len(decays)} of sweep.points {sorted(decays)}")


PRESETS = {
    "quick": GrokkingPreset(),
    "full": GrokkingPreset(
        task=ModularConfig(p=113, train_fraction=0.3),
        model=TransformerConfig(d_vocab=114, n_ctx=3, d_model=128, n_heads=4, d_head=32, n_layers=1, d_mlp=512, d_vocab_out=113, act_fn="relu"),
        train=TrainConfig(optimizer="adamw", lr=1e-3, steps=40000, weight_decay=1.0, betas=(0.9, 0.98), schedule=ScheduleConfig(n_log=20, every=500, track_every=100)),
        agf=AGFRun(
            task=dataclasses.replace(AGFRun.task, p=23),
            model=dataclasses.replace(AGFRun.model, widths=(256,)),
            train=TrainConfig(optimizer="gd", lr=2.0, steps=6000, schedule=ScheduleConfig(n_log=10, every=600, track_every=10)),
        ),
        sweep=SweepRuns(
            task=dataclasses.replace(SweepRuns.task, p=97),
            model=dataclasses.replace(SweepRuns.model, widths=(512,)),
            train=dataclasses.replace(SweepRuns.train, steps=6000),
            points=((1e-3, 1.0), (3e-3, 1.0), (1e-3, 0.5), (1e-3, 2.0), (5e-4, 4.0), (2e-3, 4.0)),
        ),
    ),
}


def sweep_key(lr: float, weight_decay: float) -> str:
    """The run key of a sweep point, e.g. ``sweep_lr3e-3_wd0.5``.

    Examples:
        >>> sweep_key(1.5e-3, 1.0)
        'sweep_lr1.5e-3_wd1'
    """
    def short(x: float) -> str:
        mantissa, exponent = f"{x:e}".split("e")
        return f"{x:g}" if x >= 0.1 else f"{float(mantissa):g}e{int(exponent)}"
    return f"sweep_lr{short(lr)}_wd{short(weight_decay)}"


def run_configs(preset: GrokkingPreset, seed: int) -> dict[str, RunConfig]:
    """Every run of ``preset`` with seed ``seed`` (network input and output sizes follow each task).

    Examples:
        >>> configs = run_configs(PRESETS["quick"], seed=0)
        >>> configs["main"].model.d_vocab, configs["agf"].model.d_in, configs["agf"].model.d_out, len([k for k in configs if k.startswith("sweep_")])
        (60, 34, 17, 6)
    """
    p, op = preset.task.p, preset.task.op  # the auxiliary runs follow the main run's operation
    configs = {"main": RunConfig(preset.task, dataclasses.replace(preset.model, d_vocab=p + 1, d_vocab_out=p), preset.train, seed=seed, name="grokking")}
    if preset.agf is not None:
        q = preset.agf.task.p
        configs["agf"] = RunConfig(dataclasses.replace(preset.agf.task, op=op), dataclasses.replace(preset.agf.model, d_in=2 * q, d_out=q), preset.agf.train, seed=seed, name="grokking-agf")
    if preset.sweep is not None:
        q, sweep = preset.sweep.task.p, preset.sweep
        for lr, wd in sweep.points:
            train = dataclasses.replace(sweep.train, lr=lr, weight_decay=wd)
            configs[sweep_key(lr, wd)] = RunConfig(dataclasses.replace(sweep.task, op=op), dataclasses.replace(sweep.model, d_in=2 * q, d_out=q), train, seed=seed, name=f"grokking-sweep-lr{lr:g}-wd{wd:g}")
    return configs


@register("grokking")
class Grokking(CaseStudy):
    """Grokking on modular addition: phases, Fourier circuit, AGF feature order, weight-decay time scale.

    Examples:
        >>> sorted(Grokking().runs(Grokking.presets["quick"], seed=0))[:3]  # the main run, the AGF run and the weight-decay sweep
        ['agf', 'main', 'sweep_lr1.5e-3_wd1']
    """

    presets = PRESETS
    universal = ("restricted loss falls before test loss",)
    family = {"task.p": (53, 67), "task.op": ("-",), "task.train_fraction": (0.3, 0.5), "model.d_mlp": (128, 512)}

    def runs(self, preset: GrokkingPreset, seed: int) -> dict[str, RunConfig]:
        return run_configs(preset, seed)

    def trackers(self, preset: GrokkingPreset, key: str) -> list:
        by_run: dict[str, list[Tracker]] = {"main": [WeightNormTracker()], "agf": [FourierTracker(neurons=False, logits=False), TemplateLossTracker()]}
        return by_run.get(key, [])

    def offline(self, preset: GrokkingPreset, key: str, run: Run) -> list[Offline]:
        if key != "main":
            return []
        keys = tuple(key_frequencies(final_spectrum(run), preset.targets.key_mass))
        return [Offline([FourierTracker(key_frequencies=keys, mass=preset.targets.key_mass, n_top=preset.targets.n_top)])]

    def analyse(self, runs: Mapping[str, Run], preset: GrokkingPreset) -> BridgeReport:
        report = BridgeReport("grokking", "custom", runs["main"].config.seed)
        analyse_main(report, runs["main"], preset.targets)
        if "agf" in runs:
            analyse_agf(report, runs["agf"], preset.targets)
        if any(key.startswith("sweep_") for key in runs):
            analyse_sweep(report, [run for key, run in runs.items() if key.startswith("sweep_")], preset.targets)
        return report

    def figures(self, runs: Mapping[str, Run], report: BridgeReport, preset: GrokkingPreset) -> list[str]:
        from case_studies.grokking.figures import figures

        return figures(runs, report)

    def across_seeds(self, outs: Mapping, preset: GrokkingPreset) -> list:
        return fourier_algorithm(outs, preset.targets)
