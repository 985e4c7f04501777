"""Case study ``llc-calibration``: the SGLD learning coefficient against Aoyagi's closed form.

Reduced-rank regression: a linear network ``M → H → N`` trained by gradient
descent from a small initialisation on a rank-``r`` linear teacher with whitened
inputs. Singular learning theory gives its learning coefficient in closed form
(Aoyagi & Watanabe 2005, :mod:`bridge.theory.aoyagi`); the SGLD estimator
(:class:`bridge.trackers.llc.LLCTracker`) measures it at the trained weights,
offline at the last checkpoint. The shapes cover every branch of the formula;
each estimate must lie within 20% of theory.

Each shape is one run: the first is the main run, the others are keyed by
their shape (``shape_M4_N4_H2_r1``).

Examples:
    >>> study = LLCCalibration()
    >>> list(study.runs(PRESETS["quick"], seed=0))[:3]
    ['main', 'shape_M4_N4_H2_r1', 'shape_M2_N6_H2_r1']
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import numpy as np

from bridge.config import ConfigError, RunConfig, ScheduleConfig, TrainConfig
from bridge.estimators.llc import SGLDConfig, default_nbeta
from bridge.match import check
from bridge.models import DeepLinearConfig
from bridge.plots.base import new_figure, save_figure
from bridge.plots.llc import plot_chain_traces, plot_llc_vs_theory
from bridge.report import BridgeReport
from bridge.runs.run import Run
from bridge.tasks import LinearTeacherConfig
from bridge.theory.aoyagi import BRANCHES, RRRShape, rrr_branch, rrr_learning_coefficient
from bridge.trackers.llc import LLCTracker
from case_studies.base import MAIN, CaseStudy, Offline, register, target_domains

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Shape(RRRShape):
    """One reduced-rank-regression model: ``M`` inputs, ``N`` outputs, ``H`` hidden units, teacher rank ``r``.

    Sizes are keyword-only (Aoyagi writes ``(M, H, N, r)``; naming them leaves no
    order to get wrong). ``r = 0`` is the zero teacher: the truth is the origin.
    On the command line a shape is its label, each size named by its letter:
    ``--set shapes=M4-N4-H3-r1,M3-N3-H2-r0``.

    Examples:
        >>> s = Shape(M=4, N=4, H=2, r=1)
        >>> s.label, s.key, s.branch, s.learning_coefficient
        ('M4-N4-H2-r1', 'shape_M4_N4_H2_r1', 'central-odd', 5.0)
        >>> Shape.from_text("M4-H2-N4-r1") == s
        True
        >>> Shape(M=3, N=3, H=2, r=0).learning_coefficient
        2.5
    """

    def __post_init__(self) -> None:
        try:
            super().__post_init__()
        except ValueError as e:
            raise ConfigError(f"llc-calibration shape: {e}") from None

    @classmethod
    def from_text(cls, text: str) -> Shape:
        """The shape a label names: ``"M4-N4-H3-r1"`` (sizes in any order, ``-`` or ``_`` between them; a run key works too)."""
        parts = [p for p in text.strip().removeprefix("shape_").replace("_", "-").split("-") if p]
        sizes = {p[0]: p[1:] for p in parts if p[:1] in ("M", "N", "H", "r")}
        if len(parts) != 4 or sorted(sizes) != ["H", "M", "N", "r"] or not all(v.isdigit() for v in sizes.values()):
            raise ConfigError(f"llc-calibration shape must be written like M4-N4-H3-r1 (each of M, N, H, r once), got {text!r}")
        return cls(**{k: int(v) for k, v in sizes.items()})

    @property
    def label(self) -> str:
        return f"M{self.M}-N{self.N}-H{self.H}-r{self.r}"

    @property
    def key(self) -> str:
        """The run key of this shape (``out/runs/<key>`` unless it is the first shape)."""
        return f"shape_M{self.M}_N{self.N}_H{self.H}_r{self.r}"

    @property
    def branch(self) -> str:
        return rrr_branch(M=self.M, N=self.N, H=self.H, r=self.r)

    @property
    def learning_coefficient(self) -> float:
        """Aoyagi's λ."""
        return rrr_learning_coefficient(M=self.M, N=self.N, H=self.H, r=self.r)


@dataclass(frozen=True)
@target_domains(tolerance="tolerance", max_trained_excess="tolerance", min_shapes="count")
class Targets:
    """What the llc-calibration report judges.

    Args:
        tolerance: the relative error ``|λ̂/λ − 1|`` must stay below this.
        max_trained_excess: ``nβ·L_n(w*)`` must stay below this (``w*`` is a minimum).
        min_shapes: the shapes must cover every branch of the formula with at least this many models.

    Examples:
        >>> Targets().tolerance, Targets().max_trained_excess, Targets().min_shapes
        (0.2, 0.05, 6)
    """

    tolerance: float = 0.2
    max_trained_excess: float = 0.05
    min_shapes: int = 6


QUICK_SHAPES = (
    Shape(M=4, N=4, H=3, r=1),
    Shape(M=4, N=4, H=2, r=1),
    Shape(M=2, N=6, H=2, r=1),
    Shape(M=6, N=2, H=2, r=1),
    Shape(M=2, N=2, H=4, r=1),
    Shape(M=3, N=3, H=2, r=2),
)


@dataclass(frozen=True)
class LLCCalibrationPreset:
    """Settings of ``llc-calibration``.

    Args:
        shapes: the models, one run each (the first is the main run).
        task: the linear teacher; its singular values (``1, 2, …, r``) and sizes
            (``d_in = M``, ``d_out = N``) follow each shape. ``n_train`` sets ``nβ = n / ln n``.
        model: the depth-2 linear network; its sizes follow each shape.
        train: full-batch gradient descent from a small initialisation.
        sgld: the sampler, the same for every shape.
        trace_every: the chains' traces are stored at every ``trace_every``-th draw (for the figure).
        targets: what the report judges.

    Examples:
        >>> p = PRESETS["quick"]; len(p.shapes), list(p.keyed)[:2], p.sgld.n_chains, p.sgld.n_draws, p.task.n_train
        (6, ['main', 'shape_M4_N4_H2_r1'], 8, 1500, 4000)
    """

    shapes: tuple[Shape, ...] = QUICK_SHAPES
    task: LinearTeacherConfig = LinearTeacherConfig((1.0,), d_in=4, d_out=4, n_train=4000, n_test=16)
    model: DeepLinearConfig = DeepLinearConfig(d_in=4, d_hidden=3, d_out=4, depth=2, init_std=1e-3)
    train: TrainConfig = TrainConfig(optimizer="gd", lr=0.2, steps=400, schedule=ScheduleConfig(n_log=8, every=0))
    sgld: SGLDConfig = SGLDConfig(n_chains=8, n_draws=1500, n_burnin=750, step_size=2e-4, gamma=5.0)
    trace_every: int = 5
    targets: Targets = Targets()

    def __post_init__(self) -> None:
        if not self.shapes:
            raise ConfigError("llc-calibration needs at least one shape")
        if not all(isinstance(s, Shape) for s in self.shapes):
            raise ConfigError(f"llc-calibration shapes must be Shape(M=..., N=..., H=..., r=...), got {self.shapes!r}")
        if len(set(self.shapes)) < len(self.shapes):
            raise ConfigError(f"llc-calibration shapes repeat: {[s.label for s in self.shapes]}")
        if not (isinstance(self.trace_every, int) and self.trace_every >= 0):
            raise ConfigError(f"llc-calibration trace_every must be a non-negative integer, got {self.trace_every!r}")
        _ = self.nbeta  # without one the analysis failed once every shape had trained

    @property
    def nbeta(self) -> float:
        """The sampler's ``nβ``: ``sgld.nbeta``, else ``n / ln n`` of the ``task.n_train`` training inputs.

        Raises:
            ConfigError: neither ``sgld.nbeta`` nor ``task.n_train`` is given (each shape's task would have ``d_in`` inputs).

        Examples:
            >>> round(PRESETS["quick"].nbeta, 2)   # 4000 / ln 4000
            482.27
        """
        if self.sgld.nbeta is not None:
            return self.sgld.nbeta
        if self.task.n_train is None:
            raise ConfigError("llc-calibration needs task.n_train (nβ = n/ln n, the same for every shape) or sgld.nbeta, got neither")
        return default_nbeta(self.task.n_train)

    @property
    def keyed(self) -> dict[str, Shape]:
        """Run key → shape (the first shape is ``"main"``)."""
        return {MAIN if i == 0 else s.key: s for i, s in enumerate(self.shapes)}


PRESETS = {
    "quick": LLCCalibrationPreset(),
    "full": LLCCalibrationPreset(
        shapes=QUICK_SHAPES
        + (Shape(M=8, N=8, H=5, r=2), Shape(M=5, N=5, H=5, r=1), Shape(M=10, N=4, H=3, r=2), Shape(M=3, N=9, H=4, r=1)),
        task=LinearTeacherConfig((1.0,), d_in=4, d_out=4, n_train=20000, n_test=16),
        train=TrainConfig(optimizer="gd", lr=0.2, steps=1000, schedule=ScheduleConfig(n_log=8, every=0)),
        sgld=SGLDConfig(n_chains=16, n_draws=5000, n_burnin=2000, step_size=5e-5, gamma=5.0),
        trace_every=10,
    ),
}


def run_config(preset: LLCCalibrationPreset, shape: Shape, seed: int) -> RunConfig:
    """The training run of ``shape``: the preset's task and model sized to it.

    Examples:
        >>> run_config(PRESETS["quick"], Shape(M=3, N=3, H=2, r=2), seed=0).task.singular_values
        (1.0, 2.0)
    """
    task = dataclasses.replace(preset.task, singular_values=tuple(1.0 + i for i in range(shape.r)), d_in=shape.M, d_out=shape.N)
    model = dataclasses.replace(preset.model, d_in=shape.M, d_hidden=shape.H, d_out=shape.N)
    return RunConfig(task=task, model=model, train=preset.train, seed=seed, name=f"llc-calibration {shape.label}")


@register("llc-calibration")
class LLCCalibration(CaseStudy):
    """SGLD learning coefficient vs Aoyagi's closed form for reduced-rank regression.

    Examples:
        >>> cfg = LLCCalibration().runs(PRESETS["quick"], seed=0)["main"]   # the first shape, M4-N4-H3-r1
        >>> (cfg.model.d_in, cfg.model.d_hidden, cfg.model.d_out), cfg.task.singular_values, cfg.train.steps
        ((4, 3, 4), (1.0,), 400)
    """

    presets = PRESETS
    family = {
        "shapes": (  # other shapes, each set covering every branch of the formula again
            "M5-N5-H3-r1,M5-N5-H2-r1,M2-N7-H3-r1,M7-N2-H3-r1,M3-N2-H5-r1,M4-N4-H3-r2",
            "M3-N3-H2-r1,M4-N4-H2-r0,M2-N5-H2-r0,M5-N2-H2-r0,M2-N2-H5-r0,M3-N4-H3-r2",
        ),
        "task.n_train": (2000, 8000),
        "sgld.step_size": (1e-4, 4e-4),
    }

    def runs(self, preset: LLCCalibrationPreset, seed: int) -> dict[str, RunConfig]:
        return {key: run_config(preset, shape, seed) for key, shape in preset.keyed.items()}

    def offline(self, preset: LLCCalibrationPreset, key: str, run: Run) -> list[Offline]:
        tracker = LLCTracker(preset.sgld, per_chain=True, trace_every=preset.trace_every)
        return [Offline([tracker], steps=[run.steps[-1]])]

    def analyse(self, runs: Mapping[str, Run], preset: LLCCalibrationPreset) -> BridgeReport:
        targets = preset.targets
        nbeta = preset.nbeta
        report = BridgeReport("llc-calibration", "custom", runs[MAIN].config.seed)
        rows = []
        sampler = (f"SGLD ε={preset.sgld.step_size:g}, γ={preset.sgld.gamma:g}, {preset.sgld.n_draws} draws", f"nβ={nbeta:.4g}")
        for key, shape in preset.keyed.items():
            row, diverged, train_loss = measure(runs[key], shape)
            rows.append(row)
            est, std, err, label = row["estimate"], row["std"], row["relative_error"], shape.label
            spread_ok = bool(np.isfinite(std) and std >= 0)  # a spread over chains is a finite number >= 0: NaN or −0.1 says the chains were not measured
            report.checks.append(
                check(
                    f"λ̂ {label} ({shape.branch}) vs Aoyagi λ = {shape.learning_coefficient:g}", err, f"|λ̂/λ − 1| < {targets.tolerance} (λ̂ = {est:.3f} ± {std:.3f})", bool(err < targets.tolerance) and spread_ok,
                    reason="; ".join(filter(None, ["" if np.isfinite(est) else f"the estimate λ̂ = {est} is not a finite number", "" if spread_ok else f"the spread over chains llc/std = {std} is not a finite number >= 0"])),
                    claim=f"the SGLD estimate of the local learning coefficient at the trained minimum equals Aoyagi's λ for {label} ({shape.branch} branch)",
                    source="Aoyagi & Watanabe 2005 (Neural Networks 18(7)), learning coefficient of reduced-rank regression; estimator: Lau et al. 2023 (the local learning coefficient); bridge.theory.aoyagi",
                    depends_on=sampler,
                )
            )
            excess = nbeta * train_loss
            report.checks.append(
                check(
                    f"{label}: w* is a trained minimum (nβ·L_n(w*))", excess, f"< {targets.max_trained_excess}", 0 <= excess < targets.max_trained_excess,
                    role="precondition", claim="gradient descent reached a minimum of the noise-free teacher's loss (the estimator needs one)",
                    reason=f"a training loss of {train_loss:g} is below 0: not a squared error" if train_loss < 0 else "",
                )
            )
            report.checks.append(check(f"{label}: diverged chains", diverged, "== 0", diverged == 0, role="precondition", claim="no SGLD chain diverged"))
        covered = {r["branch"] for r in rows}
        report.checks.append(
            check(
                "branches of Aoyagi's formula covered",
                len(covered),
                f"all {len(BRANCHES)} ({', '.join(BRANCHES)}) and ≥ {targets.min_shapes} shapes",
                covered == set(BRANCHES) and len(rows) >= targets.min_shapes,
                role="precondition",
                claim="the preset's shapes cover every branch of the formula",
            )
        )
        report.extra["shapes"] = rows
        s = preset.sgld
        report.notes.append(
            f"SGLD: {s.n_chains} chains × {s.n_draws} draws after {s.n_burnin} burn-in, ε = {s.step_size:g}, γ = {s.gamma:g}, "
            f"nβ = {nbeta:.4g} ({'sgld.nbeta' if s.nbeta is not None else f'n/ln n with n = {preset.task.n_train}'}); the same settings for every shape."
        )
        report.notes.append("Aoyagi & Watanabe (2005), Neural Networks 18(7): learning coefficient of reduced-rank regression.")
        return report

    def figures(self, runs: Mapping[str, Run], report: BridgeReport, preset: LLCCalibrationPreset) -> list[str]:
        main, rows = runs[MAIN], report.extra["shapes"]
        fig, ax = new_figure(size=(max(6.0, 1.3 * len(rows)), 4.0))
        plot_llc_vs_theory(
            ax,
            [f"{r['shape']}\n{r['branch']}" for r in rows],
            theory=[r["theory"] for r in rows],
            estimate=[r["estimate"] for r in rows],
            std=[r["std"] for r in rows],
            regular=[r["d_over_2"] for r in rows],
            tolerance=preset.targets.tolerance,
            title="Reduced-rank regression: estimate vs theory",
            theory_label="Aoyagi λ",
        )
        paths = [save_figure(fig, main.figures_dir / "llc_vs_theory.png")]
        traced = [(shape, runs[key]) for key, shape in preset.keyed.items() if "llc/trace" in set(runs[key].metrics["observable"])]
        if traced:  # runs analysed without stored traces get no trace panels
            cols = 3
            fig, axes = new_figure(ncols=cols, nrows=int(np.ceil(len(traced) / cols)), size=(3.6, 2.6))
            axes = np.atleast_1d(axes)
            for ax, (shape, run) in zip(axes, traced):
                final = run.steps[-1]
                excess = chain_traces(run, final)
                title = f"{shape.label} ({shape.branch})"
                plot_chain_traces(ax, excess.columns.to_numpy(), excess.to_numpy(), theory=shape.learning_coefficient, estimate=float(run.observable("llc/mean").loc[final]), title=title, theory_label="Aoyagi λ")
            for ax in axes[len(traced) :]:
                ax.set_axis_off()
            paths.append(save_figure(fig, main.figures_dir / "chain_traces.png"))
        return [str(p.relative_to(main.path)) for p in paths]


def measure(run: Run, shape: Shape) -> tuple[dict, float, float]:
    """One shape's row of the report (estimate vs theory), its diverged chains and its final training loss.

    Reads the ``llc/mean``, ``llc/std``, ``llc/diverged`` and ``loss/train`` observables of ``run`` at its last step.

    Examples:
        >>> import pandas as pd; from types import SimpleNamespace
        >>> stored = {"llc/mean": 5.5, "llc/std": 0.2, "llc/diverged": 0.0, "loss/train": 1e-7}   # Aoyagi's λ is 5 for M4-N4-H2-r1
        >>> row, diverged, loss = measure(SimpleNamespace(steps=[400], observable=lambda name: pd.Series([stored[name]], index=[400])), Shape(M=4, N=4, H=2, r=1))
        >>> row["theory"], row["estimate"], round(row["relative_error"], 4), row["d_over_2"], diverged
        (5.0, 5.5, 0.1, 8.0, 0.0)
    """
    final = run.steps[-1]
    est = float(run.observable("llc/mean").loc[final])
    std = float(run.observable("llc/std").loc[final])
    lam = shape.learning_coefficient
    row = {"shape": shape.label, "branch": shape.branch, "theory": lam, "estimate": est, "std": std, "relative_error": abs(est / lam - 1), "d_over_2": shape.n_params / 2}
    return row, float(run.observable("llc/diverged").loc[final]), float(run.observable("loss/train").loc[final])


def chain_traces(run: Run, step: int) -> pd.DataFrame:
    """The stored ``llc/trace`` rows at ``step`` as a DataFrame: one row per chain, one column per draw, shape ``(chains, draws)``.

    Examples:
        >>> import pandas as pd; from types import SimpleNamespace   # a run's table: one row per step, columns (chain, draw)
        >>> wide = pd.DataFrame([[1.0, 2.0, 3.0, 4.0]], index=[400], columns=pd.MultiIndex.from_product([[0, 1], [0, 5]], names=["chain", "draw"]))
        >>> chain_traces(SimpleNamespace(table=lambda name, index: wide), 400).to_numpy().tolist()
        [[1.0, 2.0], [3.0, 4.0]]
    """
    row = cast("pd.Series", run.table("llc/trace", ["chain", "draw"]).loc[step])  # a run's table has one row per step: .loc[step] is that row, never a table
    return row.unstack("draw")
