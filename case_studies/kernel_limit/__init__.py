"""Case study ``kernel-limit``: the lazy (kernel) regime, eigenlearning, and the output scale where features move.

An MLP is trained on a sum of Walsh functions of degrees 1, 2 and 3 on the
Boolean cube ``{±1}^d``, as ``α · (f_θ − f_θ₀)`` (:class:`bridge.models.LazyConfig`)
with learning rate ``η/α²``, once per output scale ``α`` (Chizat, Oyallon & Bach
2019). At large ``α`` the network is its initial tangent kernel: eigenlearning
(Simon et al. 2023; Bordelon et al. 2020) applied to the initial NTK on the whole
cube predicts its test error and how much of each Walsh term it learns, and the
linearised dynamics (Jacot et al. 2018) predict when each term is learned. At
small ``α`` the kernel moves, aligns with the target, the first layer's weight
concentrates on the target's coordinates and the degree-3 term is learned far
beyond what the kernel can do. The report locates the crossover in ``α`` on the
kernel side and on the test-error side.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass

from bridge.config import ConfigError, RunConfig, ScheduleConfig, TrainConfig
from bridge.models import LazyConfig, MLPConfig
from bridge.report import BridgeReport
from bridge.runs.run import Run
from bridge.tasks.boolean_cube import BooleanCubeConfig
from bridge.trackers.kernel import FeatureAlignmentTracker, KernelTracker
from bridge.trackers.walsh import WalshTracker
from case_studies.base import CaseStudy, Offline, register
from case_studies.kernel_limit.analysis import Targets, analyse_runs, judge, linearised, observe, term_label, theory
from case_studies.kernel_limit.runs import by_alpha, initial_kernel

RESOLUTION = 0.01  # the coarsest relative spacing of tracked steps the half-time matches accept (a twentieth of their 20 % tolerance)


@dataclass(frozen=True)
class KernelLimitPreset:
    """Settings of the ``kernel-limit`` case study.

    Args:
        task: the Boolean-cube target, with explicit ``subsets`` (their union is the support).
        model: the MLP wrapped as ``α · (f_θ − f_θ₀)`` (``d_in``/``d_out`` follow the task).
        train: full-batch gradient descent; ``lr`` is ``η``, the run at ``α`` uses ``η/α²`` (the same
            gradient-flow time ``η · steps`` at every α). ``steps`` spans about five time constants
            ``1/(2ηλ₃)`` of the slowest target term (degree 3) under the linearised dynamics, so the
            lazy end reaches the interpolant eigenlearning describes; trackers run on a grid of 1 %
            relative spacing (``schedule.track_resolution``), enough for the half-times.
        alphas: the output scales, one run each; the largest is the main run (the lazy end),
            the others are keyed ``alpha_<α>``. About four per decade: the lazy half (α at or above
            the median) holds seven, for the kernel distance's log-log slope and its interval.
        kernel_probes: training inputs the kernel tracker uses at every checkpoint.
        draws: training sets the lazy end is trained on, each a run from the same initialisation
            (the main run's and ``draws − 1`` more, keyed ``draw_<k>``). Eigenlearning predicts the
            average over training sets, so the lazy end's test MSE and learned fractions are judged
            on their mean over the draws. One draw of 256 of the 1024 points spreads by about 0.06
            in a learned fraction; 16 draws put the mean's standard error near a third of the
            0.05 tolerance.
        targets: what the report judges.

    Examples:
        >>> quick = PRESETS["quick"]
        >>> quick.task.d, quick.support, len(quick.alphas), (min(quick.alphas), max(quick.alphas)), quick.draws
        (10, (0, 1, 2), 13, (0.05, 50.0), 16)
    """

    task: BooleanCubeConfig = BooleanCubeConfig(d=10, subsets=((0,), (0, 1), (0, 1, 2)), coefficients=(1.0, 1.0, 1.0), n_train=256)
    model: MLPConfig = MLPConfig(d_in=10, d_out=1, widths=(64, 64), activation="relu", init_scale=math.sqrt(2))
    train: TrainConfig = TrainConfig(optimizer="gd", lr=0.01, steps=4000, schedule=ScheduleConfig(n_log=10, every=500, track_resolution=0.01), dtype="float64")
    alphas: tuple[float, ...] = (50.0, 30.0, 15.0, 9.0, 5.0, 3.0, 1.5, 0.9, 0.5, 0.3, 0.15, 0.09, 0.05)
    kernel_probes: int = 128
    draws: int = 16
    targets: Targets = Targets()

    def __post_init__(self) -> None:
        if not self.task.subsets:
            raise ConfigError("kernel-limit needs the target's subsets given explicitly (task.subsets), so its support is known")
        if any(c == 0 for c in self.task.coefficients):
            raise ConfigError(f"kernel-limit judges each term's learned fraction f̂(S)/c_S: every entry of task.coefficients must be non-zero, got {self.task.coefficients}")
        if len(self.alphas) < 4 or any(not 0 < a < math.inf for a in self.alphas) or len({f"{a:g}" for a in self.alphas}) != len(self.alphas):
            raise ConfigError(f"alphas must be at least 4 distinct positive output scales (finite, and distinct to 6 significant digits: their run keys), got {self.alphas}")
        if max(self.alphas) / min(self.alphas) < 1000 * (1 - 1e-9):
            raise ConfigError(f"alphas must span at least three decades of α (kernel-limit's sweep), got {min(self.alphas):g} to {max(self.alphas):g}: {self.alphas}")
        self.train.require_gradient_descent("kernel-limit (the linearised dynamics)")
        if not isinstance(self.draws, int) or self.draws < 1:
            raise ConfigError(f"draws must be a positive integer (training sets at the lazy end, the main run's included), got {self.draws!r}")
        if self.kernel_probes < 2:
            raise ConfigError(f"kernel_probes must be >= 2 (the kernel tracker's probe inputs), got {self.kernel_probes}")
        schedule = self.train.schedule
        if schedule.track_every != 1 and not 0 < schedule.track_resolution <= RESOLUTION:
            raise ConfigError(
                f"kernel-limit reads half-times off the tracked curves: track every step (train.schedule.track_every=1) or on a grid of relative spacing "
                f"at most {RESOLUTION:g} (train.schedule.track_resolution), got track_every={schedule.track_every}, track_resolution={schedule.track_resolution}"
            )

    @property
    def support(self) -> tuple[int, ...]:
        """The coordinates the target depends on."""
        return tuple(sorted({j for s in self.task.subsets for j in s}))


PRESETS = {
    "quick": KernelLimitPreset(),
    "full": KernelLimitPreset(
        task=BooleanCubeConfig(d=12, subsets=((0,), (0, 1), (0, 1, 2)), coefficients=(1.0, 1.0, 1.0), n_train=512),
        model=MLPConfig(d_in=12, d_out=1, widths=(512, 512), activation="relu", init_scale=math.sqrt(2)),
        train=TrainConfig(optimizer="gd", lr=0.002, steps=5000, schedule=ScheduleConfig(n_log=20, every=250, track_resolution=0.01), dtype="float64"),
        alphas=(100.0, 30.0, 10.0, 3.0, 1.0, 0.3, 0.1, 0.05, 0.03),
        kernel_probes=512,
        draws=16,
    ),
}


def run_key(alpha: float) -> str:
    """The key (and folder under ``runs/``) of the run with output scale ``alpha``: ``alpha_0.3``.

    Examples:
        >>> run_key(0.3), run_key(50.0)
        ('alpha_0.3', 'alpha_50')
    """
    return f"alpha_{alpha:g}"


def draw_key(draw: int) -> str:
    """The key (and folder under ``runs/``) of the lazy end trained on the seed's training set ``draw``: ``draw_3``.

    Examples:
        >>> draw_key(3)
        'draw_3'
    """
    return f"draw_{draw}"


def run_config(preset: KernelLimitPreset, alpha: float, seed: int, draw: int = 0) -> RunConfig:
    """The run of ``preset`` at output scale ``alpha``: model ``α · (f_θ − f_θ₀)``, learning rate ``η/α²``.

    ``draw > 0``: the same initialisation on another training set, tracked only at its first and last step.

    Examples:
        >>> cfg = run_config(PRESETS["quick"], 0.5, seed=0)   # lr 0.01 / 0.5² = 0.04
        >>> cfg.name, cfg.model.alpha, round(cfg.train.lr, 6), cfg.task.draw
        ('kernel-limit alpha=0.5', 0.5, 0.04, 0)
        >>> run_config(PRESETS["quick"], 50.0, seed=0, draw=3).train.schedule.n_log
        0
    """
    model = LazyConfig(dataclasses.replace(preset.model, d_in=preset.task.d, d_out=1), alpha=float(alpha))
    train = dataclasses.replace(preset.train, lr=preset.train.lr / alpha**2)
    if draw:
        train = dataclasses.replace(train, schedule=ScheduleConfig(n_log=0, every=0))
    name = f"kernel-limit alpha={alpha:g}" + (f" draw={draw}" if draw else "")
    return RunConfig(task=dataclasses.replace(preset.task, draw=draw), model=model, train=train, seed=seed, name=name)


@register("kernel-limit")
class KernelLimit(CaseStudy):
    """Lazy vs rich training across output scales: eigenlearning at one end, moving features at the other.

    Examples:
        >>> keys = KernelLimit().runs(PRESETS["quick"], seed=0)   # main (α=50), 12 more scales, 15 more draws
        >>> len(keys), list(keys)[:3], list(keys)[-1]
        (28, ['main', 'alpha_30', 'alpha_15'], 'draw_15')
    """

    presets = PRESETS
    family = {
        "task.d": (9, 11),
        "task.n_train": (128, 384),
        "task.coefficients": ((2.0, 1.0, 0.5), (0.5, 1.0, 2.0)),
        "model.widths": ((32, 32), (128, 128)),
    }

    def runs(self, preset: KernelLimitPreset, seed: int) -> dict[str, RunConfig]:
        alphas = sorted(preset.alphas, reverse=True)
        draws = {draw_key(k): run_config(preset, alphas[0], seed, draw=k) for k in range(1, preset.draws)}
        return {"main": run_config(preset, alphas[0], seed)} | {run_key(a): run_config(preset, a, seed) for a in alphas[1:]} | draws

    def trackers(self, preset: KernelLimitPreset, key: str) -> list:
        return [WalshTracker()]

    def offline(self, preset: KernelLimitPreset, key: str, run: Run) -> list[Offline]:
        if run.config.task.draw:
            return []
        return [Offline([KernelTracker(n_probe=preset.kernel_probes, k=3, seed=run.config.seed), FeatureAlignmentTracker(support=preset.support, parameter="model.layers.0.weight")])]

    def analyse(self, runs: Mapping[str, Run], preset: KernelLimitPreset) -> BridgeReport:
        return analyse_runs(runs, preset.targets)

    def figures(self, runs: Mapping[str, Run], report: BridgeReport, preset: KernelLimitPreset) -> list[str]:
        from case_studies.kernel_limit.figures import figures

        obs = report.observed(lambda: observe(runs))
        return figures(by_alpha(runs), obs, [term_label(t) for t in obs["subsets"]], preset.targets, report)


__all__ = ["PRESETS", "RESOLUTION", "KernelLimit", "KernelLimitPreset", "Targets", "analyse_runs", "by_alpha", "draw_key", "initial_kernel", "judge", "linearised", "observe", "run_config", "run_key", "term_label", "theory"]
