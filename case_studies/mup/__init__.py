"""Case study ``mup``: width exponents of feature updates, learning-rate transfer and converging representations.

The maximal-update parametrisation (μP; Yang & Hu 2021, "Tensor Programs IV"; Yang et
al. 2022, "Tensor Programs V") scales each layer's initialisation, multiplier and
learning rate with width so that every layer's features move by Θ(1) as the width
grows; the best learning rate of a narrow model then transfers to a wide one. Under
the standard parametrisation (SP) the updates grow with width and the best rate
drifts; under the NTK parametrisation they vanish. Three groups of runs of an MLP
(input, hidden and output layer) on a tanh-teacher regression task test this:

- ``coord_<p>_w<W>_s<k>``: a few Adam steps at one learning rate for each parametrisation
  ``p`` and width ``W`` (the coordinate check); run ``main`` is μP at the widest width, ``k = 0``;
- ``lr_<p>_w<W>_<i>_s<k>``: a grid of learning rates (index ``i``) × widths, trained longer, for μP and SP;
- from the grid, at the end of training, the last hidden layer of each width is
  compared with the widest model's on the same held-out inputs (CKA).

Each of them is trained with ``preset.seeds`` seeds (``k``); the report of seed ``s``
uses seeds ``n·s … n·s + n − 1`` (``n = preset.seeds``), so the reports of different
seeds share no run, and judges their mean.

Examples:
    >>> from case_studies import get_case_study
    >>> study = get_case_study("mup")
    >>> keys = study.runs(study.presets["quick"], seed=0)
    >>> len(keys), "main" in keys, "lr_mup_w32_0_s2" in keys, keys["lr_mup_w32_0_s2"].seed
    (264, True, True, 2)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass

from bridge.config import DECAYS, ConfigError, RunConfig, ScheduleConfig, TrainConfig
from bridge.models import MLPConfig
from bridge.report import BridgeReport
from bridge.runs.run import Run
from bridge.tasks import TeacherMLPConfig
from bridge.trackers.coordinates import CoordinatesTracker
from case_studies.base import CaseStudy, register, target_domains
from case_studies.mup.analysis import analyse, coord_key, figures, lr_key


@dataclass(frozen=True)
@target_domains(below=(("mup_lr_shift", "sp_lr_shift"),), mup_slope="tolerance", sp_slope="tolerance", mup_lr_shift="count0", sp_lr_shift="count", first_layer_slope="tolerance", ntk_first_layer="number", reference="tolerance", learned="share")
class Targets:
    """What the ``mup`` report judges, as the case study's claims state them.

    Args:
        mup_slope: largest ``|slope|`` of log RMS Δh against log width, every layer, under μP.
        sp_slope: largest distance of SP's slope from its predicted exponent, every layer.
        mup_lr_shift: the best learning rate moves at most this many grid steps across widths under μP.
        sp_lr_shift: and at least this many under SP.
        first_layer_slope: largest ``|slope|`` of the first layer's weight change against width under μP.
        ntk_first_layer: the NTK parametrisation's predicted slope of the first layer's weight change,
            judged within ``sp_slope`` (the tolerance of a predicted non-zero exponent).
        reference: largest per-layer difference between this coordinate check's slopes and the
            ``mup`` package's on the same MLP (judged by the test suite, where ``mup`` is installed).
        learned: precondition: at every width the best final training loss is below this
            fraction of the initial loss (training made progress).

    Examples:
        >>> Targets().mup_slope, Targets().sp_lr_shift, Targets(mup_slope=0.2).mup_slope
        (0.1, 2, 0.2)
    """

    mup_slope: float = 0.1
    sp_slope: float = 0.25
    mup_lr_shift: int = 1
    sp_lr_shift: int = 2
    first_layer_slope: float = 0.1
    ntk_first_layer: float = -0.5
    reference: float = 0.1
    learned: float = 0.5


@dataclass(frozen=True)
class MupPreset:
    """Settings of the ``mup`` case study.

    Args:
        task: the regression task (a saturated tanh teacher: wider students fit it faster).
        model: the MLP template; its ``widths`` are replaced by ``(W, W)`` (input, hidden
            and output weight layers) and its ``parametrisation`` per run.
        optimizer: ``"adam"`` or ``"sgd"`` (every run).
        base_width: where μP, NTK and SP coincide.
        coord_widths, coord_steps, coord_lr, coord_n_train: the coordinate check: widths (spanning ≥ 32×),
            steps, learning rate and its full batch (the task drawn with this many training examples).
        coord_parametrisations: the parametrisations of the coordinate check.
        zero_init: the μP runs start their readout at zero (:class:`~bridge.models.mlp.MLPConfig`);
            SP and NTK keep theirs, whose exponents the theory table gives for a random readout.
        lr_widths, lrs, lr_steps: the transfer grid: widths (≥ 4, spanning ≥ 16×), learning
            rates (≥ 7, each twice the previous) and full-batch steps.
        lr_decay: the transfer grid's learning-rate decay to zero at its last step (``"none"``,
            ``"linear"`` or ``"cosine"``; :class:`~bridge.config.TrainConfig`): without one, the
            final loss at a constant rate near the best can sit on an Adam loss spike.
        seeds: each run of the coordinate check and of the grid is trained with this many seeds and the
            report judges their mean (the Δh and weight changes, the final losses, the CKA); the report
            of seed ``s`` uses seeds ``seeds·s … seeds·s + seeds − 1``.
        targets: what the report judges.

    Examples:
        >>> quick = PRESETS["quick"]   # learning rates 2^-10 … 2^-4
        >>> quick.coord_widths, quick.lr_widths, len(quick.lrs), quick.lrs[0] == 2.0**-10, quick.seeds
        ((256, 512, 1024, 2048, 4096, 8192), (32, 64, 128, 256, 512), 7, True, 3)
    """

    task: TeacherMLPConfig = TeacherMLPConfig(d_in=8, n_train=2048, n_test=256, width=64, scale=4.0)
    model: MLPConfig = MLPConfig(d_in=8, d_out=1, widths=(64, 64), activation="relu", parametrisation="mup", base_width=64)
    optimizer: str = "adam"
    base_width: int = 64
    coord_widths: tuple[int, ...] = (256, 512, 1024, 2048, 4096, 8192)
    coord_steps: int = 3
    coord_lr: float = 0.01
    coord_n_train: int = 256
    coord_parametrisations: tuple[str, ...] = ("mup", "standard", "ntk")
    zero_init: bool = True
    lr_widths: tuple[int, ...] = (32, 64, 128, 256, 512)
    lrs: tuple[float, ...] = tuple(2.0**k for k in range(-10, -3))
    lr_steps: int = 200
    lr_decay: str = "linear"
    seeds: int = 3
    targets: Targets = Targets()

    def __post_init__(self) -> None:
        for name in ("coord_widths", "lr_widths", "lrs", "coord_parametrisations"):
            if isinstance(getattr(self, name), list):
                object.__setattr__(self, name, tuple(getattr(self, name)))
        cw, lw, lrs = self.coord_widths, self.lr_widths, self.lrs
        _require(len(cw) >= 3 and list(cw) == sorted(set(cw)) and cw[-1] >= 32 * cw[0], f"mup.coord_widths must be ≥ 3 increasing widths spanning ≥ 32×, got {cw}")
        _require(len(lw) >= 4 and list(lw) == sorted(set(lw)) and lw[-1] >= 16 * lw[0], f"mup.lr_widths must be ≥ 4 increasing widths spanning ≥ 16×, got {lw}")
        _require(len(lrs) >= 7 and all(math.isclose(b, 2 * a) for a, b in zip(lrs, lrs[1:])), f"mup.lrs must be ≥ 7 learning rates, each twice the previous, got {lrs}")
        _require({"mup", "standard", "ntk"} <= set(self.coord_parametrisations), f"mup.coord_parametrisations must include mup, standard and ntk, got {self.coord_parametrisations}")
        _require(self.optimizer in ("adam", "sgd"), f"mup.optimizer must be 'adam' or 'sgd', got {self.optimizer!r}")
        _require(self.lr_decay in DECAYS, f"mup.lr_decay must be one of {DECAYS}, got {self.lr_decay!r}")
        _require(self.coord_steps >= 1 and self.lr_steps >= 1, "mup.coord_steps and mup.lr_steps must be positive")
        _require(self.coord_n_train >= 2, f"mup.coord_n_train must be >= 2, got {self.coord_n_train}")
        _require(0 < self.coord_lr < math.inf, f"mup.coord_lr must be a positive finite number, got {self.coord_lr!r}")
        _require(isinstance(self.base_width, int) and self.base_width >= 1, f"mup.base_width must be a positive integer, got {self.base_width!r}")
        _require(isinstance(self.seeds, int) and self.seeds >= 1, f"mup.seeds must be a positive integer, got {self.seeds!r}")
        _require(self.model.d_in == self.task.d_in and self.model.d_out == self.task.d_out, "mup.model d_in/d_out must match the task's")
        _require(self.task.n_test >= 2, f"mup.task.n_test must be >= 2: the widths' representations are compared by linear CKA on the held-out inputs, got {self.task.n_test}")


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


PRESETS = {
    "quick": MupPreset(),
    "full": MupPreset(
        task=TeacherMLPConfig(d_in=16, n_train=2048, n_test=1024, width=256, scale=4.0),
        model=MLPConfig(d_in=16, d_out=1, widths=(128, 128), activation="relu", parametrisation="mup", base_width=128),
        base_width=128,
        coord_widths=(128, 256, 512, 1024, 2048, 4096, 8192),
        coord_n_train=2048,
        lr_widths=(128, 256, 512, 1024, 2048, 4096),
        lrs=tuple(2.0**k for k in range(-14, -4)),
        lr_steps=2000,
    ),
}


def run_config(preset: MupPreset, parametrisation: str, width: int, lr: float, steps: int, seed: int, schedule: ScheduleConfig, decay: str = "none", n_train: int | None = None) -> RunConfig:
    """One run: the preset's MLP at ``width`` under ``parametrisation``, trained full batch at ``lr`` (decayed as ``decay`` asks)
    on the preset's task, drawn with ``n_train`` training examples when given.

    Examples:
        >>> from bridge.config import ScheduleConfig
        >>> cfg = run_config(PRESETS["quick"], "mup", 256, 0.01, steps=3, seed=0, schedule=ScheduleConfig(n_log=0, every=0), n_train=256)
        >>> cfg.name, cfg.model.widths, cfg.model.base_width, cfg.model.zero_init, cfg.task.n_train
        ('mup mup width 256 lr 0.01', (256, 256), 64, True, 256)
    """
    model = dataclasses.replace(preset.model, widths=(width, width), parametrisation=parametrisation, base_width=None if parametrisation == "standard" else preset.base_width,
                                zero_init=preset.zero_init and parametrisation == "mup")
    train = TrainConfig(optimizer=preset.optimizer, lr=lr, steps=steps, schedule=schedule, decay=decay)
    task = preset.task if n_train is None else dataclasses.replace(preset.task, n_train=n_train)
    return RunConfig(task=task, model=model, train=train, seed=seed, name=f"mup {parametrisation} width {width} lr {lr:g}")


@register("mup")
class Mup(CaseStudy):
    """Coordinate check, learning-rate transfer and representation convergence across widths.

    Examples:
        >>> keys = Mup().runs(PRESETS["quick"], seed=0)   # 3 seeds × (3 × 6 coordinate-check runs + 2 × 5 × 7 grid runs)
        >>> len(keys), sum(k.startswith("lr_") for k in keys)
        (264, 210)
    """

    presets = PRESETS
    family = {"coord_lr": (0.005, 0.02), "task.scale": (2.0, 6.0), "base_width": (32, 128), "lr_steps": (100, 400)}

    def runs(self, preset: MupPreset, seed: int) -> dict[str, RunConfig]:
        out: dict[str, RunConfig] = {}
        every_step = ScheduleConfig(n_log=0, every=0, track_every=1, keep_optimizer=False)  # read by its online tracker, never extended
        ends = ScheduleConfig(n_log=0, every=0)
        for k in range(preset.seeds):
            run_seed = preset.seeds * seed + k
            for p in preset.coord_parametrisations:
                for w in preset.coord_widths:
                    out[coord_key(p, w, preset, k)] = run_config(preset, p, w, preset.coord_lr, preset.coord_steps, run_seed, every_step, n_train=preset.coord_n_train)
            for p in ("mup", "standard"):
                for w in preset.lr_widths:
                    for i, lr in enumerate(preset.lrs):
                        out[lr_key(p, w, i, k)] = run_config(preset, p, w, lr, preset.lr_steps, run_seed, ends, preset.lr_decay)
        return out

    def trackers(self, preset: MupPreset, key: str) -> list:
        return [CoordinatesTracker(max_examples=preset.coord_n_train)] if not key.startswith("lr_") else []

    def analyse(self, runs: Mapping[str, Run], preset: MupPreset) -> BridgeReport:
        return analyse(runs, preset)

    def figures(self, runs: Mapping[str, Run], report: BridgeReport, preset: MupPreset) -> list[str]:
        return figures(runs, report, preset)


__all__ = ["PRESETS", "Mup", "MupPreset", "Targets", "coord_key", "lr_key", "run_config"]
