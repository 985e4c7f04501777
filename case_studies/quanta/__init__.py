"""Case study ``quanta``: scaling laws from quanta, each quantum a mechanism that emerges.

The quantization model (Michaud, Liu, Girit & Tegmark 2023): a task is a set of
discrete skills used with Zipfian frequencies ``p_k ∝ k^{−(α+1)}``; a network
learns them in order of frequency, each abruptly, so the mean loss falls as a
power law in parameters (exponent ``α``) and in steps (``α/(α+1)``). Its toy,
multitask sparse parity, makes each quantum the parity of a few bits, learned
after hidden progress (Barak et al. 2022). One one-hidden-layer MLP is trained
at every width of a sweep (run ``main`` is the widest, ``width_W`` the others);
the report joins the law of the whole (exponents, the loss predicted from the
quanta learned) to the mechanisms of the parts (per-subtask emergence, the
relevant-bit share, the units each subtask needs).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from bridge.config import ConfigError, RunConfig, ScheduleConfig, TrainConfig
from bridge.models import MLPConfig
from bridge.report import BridgeReport
from bridge.runs.run import Run
from bridge.tasks.sparse_parity import SparseParityConfig
from bridge.trackers.quanta import HiddenProgressTracker, SubtaskLossTracker
from case_studies.base import MAIN, CaseStudy, register, target_domains
from case_studies.quanta.analysis import PAPER, analyse_sweep, figures


@dataclass(frozen=True)
@target_domains(order_rho="fraction", abrupt_ratio="positive", hidden_factor="positive", exponent_tolerance="tolerance", bridge_tolerance="tolerance", bridge_coverage="share", min_learned="count")
class Targets:
    """What the quanta report judges (each a claim of the quantization model or of hidden progress).

    Args:
        order_rho: least Spearman ρ between frequency rank and emergence step (main run).
        abrupt_ratio: largest drop width (0.9 → 0.1 of chance) over its emergence step, for every learned subtask.
        hidden_factor: the relevant-bit share must exceed this multiple of chance at the onset of each drop.
        exponent_tolerance: relative error allowed on the fitted exponents (against ``α`` and ``α/(α+1)``).
        bridge_tolerance: relative error allowed between the loss predicted from the quanta learned and the measured loss.
        bridge_coverage: the bridge is judged only if every subtask is settled (learned or not) at this share of the
            tracked steps before all are learned; otherwise the premise of the model fails and so does the row.
        min_learned: the main run must learn at least this many subtasks for the per-subtask claims to be judged.

    Examples:
        >>> Targets().order_rho, Targets().min_learned, Targets(min_learned=2).min_learned
        (0.8, 3, 2)
    """

    order_rho: float = 0.8
    abrupt_ratio: float = 0.5
    hidden_factor: float = 2.0
    exponent_tolerance: float = 0.25
    bridge_tolerance: float = 0.10
    bridge_coverage: float = 0.5
    min_learned: int = 3


@dataclass(frozen=True)
class QuantaPreset:
    """Settings of the ``quanta`` case study.

    Args:
        task: multitask sparse parity (a large fixed training set, each sample seen a few times).
        widths: hidden widths of the sweep (the widest is the main run).
        model: the MLP (``d_in`` follows the task; ``widths`` is replaced per run).
        train: Adam on minibatches; tracked every ``schedule.track_every`` steps.
        targets: what the report judges.

    Examples:
        >>> quick = PRESETS["quick"]
        >>> quick.widths, quick.task.n_tasks, quick.task.alpha, quick.train.steps
        ((8, 16, 32, 64, 128, 256), 16, 0.4, 8000)
    """

    task: SparseParityConfig = SparseParityConfig(n_tasks=16, n_bits=16, k_bits=3, alpha=0.4, n_train=400_000, n_test_per_task=256)
    widths: tuple[int, ...] = (8, 16, 32, 64, 128, 256)
    model: MLPConfig = MLPConfig(d_in=32, d_out=2, widths=(256,))
    train: TrainConfig = TrainConfig(optimizer="adam", lr=1e-2, steps=8000, batch_size=512, schedule=ScheduleConfig(n_log=4, every=4000, track_every=50))
    targets: Targets = Targets()

    def __post_init__(self) -> None:
        widths = tuple(self.widths)
        if len(widths) < 2 or any(w < 1 for w in widths) or len(set(widths)) != len(widths):
            raise ConfigError(f"quanta: widths must be at least two distinct positive integers, got {widths}")
        if len(self.model.widths) != 1:
            raise ConfigError(f"quanta: the model must have one hidden layer, got widths {self.model.widths}")
        if self.train.batch_size is None or self.train.schedule.track_every < 1:
            raise ConfigError("quanta: train needs a batch_size and schedule.track_every >= 1 (per-subtask curves)")


PRESETS = {
    "quick": QuantaPreset(),
    "full": QuantaPreset(
        task=SparseParityConfig(n_tasks=500, n_bits=100, k_bits=3, alpha=0.4, n_train=20_000_000, n_test_per_task=512),
        widths=(16, 32, 64, 128, 256, 512, 1024, 2048),
        model=MLPConfig(d_in=600, d_out=2, widths=(2048,)),
        train=TrainConfig(optimizer="adam", lr=1e-3, steps=200_000, batch_size=20_000, schedule=ScheduleConfig(n_log=10, every=20_000, track_every=500)),
    ),
}


def width_key(width: int) -> str:
    """Run key of the sweep point of hidden width ``width`` (the widest is ``"main"``).

    Examples:
        >>> width_key(64)
        'width_64'
    """
    return f"width_{width}"


def run_config(preset: QuantaPreset, width: int, seed: int) -> RunConfig:
    """The run of hidden width ``width`` (``d_in`` follows the task).

    Examples:
        >>> cfg = run_config(PRESETS["quick"], 64, seed=0)   # d_in = 16 task bits + 16 control bits
        >>> cfg.name, cfg.model.d_in, cfg.model.widths
        ('quanta width 64', 32, (64,))
    """
    model = dataclasses.replace(preset.model, d_in=preset.task.n_tasks + preset.task.n_bits, widths=(int(width),))
    return RunConfig(task=preset.task, model=model, train=preset.train, seed=seed, name=f"quanta width {width}")


@register("quanta")
class Quanta(CaseStudy):
    """Quantization model on multitask sparse parity: per-subtask emergence, hidden progress and scaling exponents over widths.

    Examples:
        >>> list(Quanta().runs(PRESETS["quick"], seed=0))
        ['width_8', 'width_16', 'width_32', 'width_64', 'width_128', 'main']
    """

    presets = PRESETS
    family = {
        "task.alpha": (0.3, 0.6),
        "task.n_bits": (12, 24),
        "task.k_bits": (2, 4),
        "train.lr": (0.005, 0.02),
    }

    def runs(self, preset: QuantaPreset, seed: int) -> dict[str, RunConfig]:
        widest = max(preset.widths)
        return {(MAIN if w == widest else width_key(w)): run_config(preset, w, seed) for w in sorted(preset.widths)}

    def trackers(self, preset: QuantaPreset, key: str) -> list:
        return [SubtaskLossTracker(), HiddenProgressTracker()] if key == MAIN else [SubtaskLossTracker()]

    def analyse(self, runs: Mapping[str, Run], preset: QuantaPreset) -> BridgeReport:
        return analyse_sweep(runs, preset.targets)

    def figures(self, runs: Mapping[str, Run], report: BridgeReport, preset: QuantaPreset) -> list[str]:
        return figures(runs, report)


__all__ = ["PAPER", "PRESETS", "Quanta", "QuantaPreset", "Targets", "run_config", "width_key"]
