"""The llc-calibration case study: its runs, its report over stored runs, its figures and its page."""

from __future__ import annotations

import json
import re
from pathlib import Path

import matplotlib
import numpy as np
import pytest

from bridge.config import ConfigError, RunConfig, ScheduleConfig, TrainConfig, config_to_dict
from bridge.estimators import SGLDConfig
from bridge.models import DeepLinearConfig
from bridge.plots.base import new_figure
from bridge.plots.llc import plot_chain_traces, plot_llc_vs_theory
from bridge.runs.run import load_run
from bridge.tasks import LinearTeacherConfig
from bridge.theory.aoyagi import BRANCHES
from case_studies import get_case_study, run_case_study
from case_studies.llc_calibration import PRESETS, LLCCalibrationPreset, Shape, Targets, chain_traces
from helpers import page_block, run_python
from page_checks import llc_calibration_page

matplotlib.use("Agg")
ROOT = Path(__file__).resolve().parents[2]


def test_every_preset_covers_every_branch_with_a_run_per_shape():
    study = get_case_study("llc-calibration")
    for preset in PRESETS.values():
        assert {s.branch for s in preset.shapes} == set(BRANCHES)
        assert len(preset.shapes) >= preset.targets.min_shapes == 6
        configs = study.runs(preset, seed=3)
        assert list(configs) == ["main"] + [s.key for s in preset.shapes[1:]]
        for cfg, shape in zip(configs.values(), preset.shapes):
            assert (cfg.model.d_in, cfg.model.d_hidden, cfg.model.d_out, len(cfg.task.singular_values)) == (shape.M, shape.H, shape.N, shape.r)
            assert (cfg.task.d_in, cfg.task.d_out, cfg.seed) == (shape.M, shape.N, 3)


def test_the_main_run_of_the_quick_preset_is_the_reduced_rank_regression_it_always_was():
    expected = RunConfig(
        task=LinearTeacherConfig((1.0,), d_in=4, d_out=4, n_train=4000, n_test=16),
        model=DeepLinearConfig(d_in=4, d_hidden=3, d_out=4, depth=2, init_std=1e-3),
        train=TrainConfig(optimizer="gd", lr=0.2, steps=400, schedule=ScheduleConfig(n_log=8, every=0), threads=1),
        seed=1,
        name="llc-calibration M4-N4-H3-r1",
    )
    runs = get_case_study("llc-calibration").runs(PRESETS["quick"], seed=1)
    assert config_to_dict(runs["main"]) == config_to_dict(expected)
    assert runs["shape_M3_N3_H2_r2"].task.singular_values == (1.0, 2.0)


def test_bad_shapes_and_presets_are_refused_before_any_work():
    with pytest.raises(ConfigError, match="teacher rank"):
        Shape(M=2, N=2, H=1, r=2)
    with pytest.raises(TypeError, match="positional"):
        Shape(4, 4, 3, 1)  # sizes by name only: Aoyagi's (M, H, N, r) order cannot be swapped in silently
    with pytest.raises(ConfigError, match="written like M4-N4-H3-r1"):
        Shape.from_text("M4-N4-H3")
    with pytest.raises(ConfigError, match="at least one shape"):
        LLCCalibrationPreset(shapes=())
    with pytest.raises(ConfigError, match="repeat"):
        LLCCalibrationPreset(shapes=(Shape(M=2, N=2, H=1, r=1), Shape(M=2, N=2, H=1, r=1)))
    with pytest.raises(ConfigError, match="Shape"):
        LLCCalibrationPreset(shapes=((2, 2, 1, 1),))


def test_a_preset_without_n_train_or_nbeta_is_refused_before_any_work():
    """nβ = n/ln n reads task.n_train: a preset with neither it nor sgld.nbeta failed only in the analysis, once every shape had trained."""
    unsized = LinearTeacherConfig((1.0,), d_in=4, d_out=4, n_test=16)
    with pytest.raises(ConfigError, match=r"needs task.n_train \(nβ = n/ln n, the same for every shape\) or sgld.nbeta, got neither"):
        LLCCalibrationPreset(task=unsized)
    assert LLCCalibrationPreset(task=unsized, sgld=SGLDConfig(nbeta=64.0)).nbeta == 64.0
    assert PRESETS["quick"].nbeta == pytest.approx(4000 / np.log(4000), rel=1e-12)


def test_shapes_are_set_by_name_on_the_command_line_and_a_rank_0_teacher_is_the_zero_map():
    from bridge.overrides import apply
    from bridge.tasks import make_task
    from case_studies.llc_calibration import run_config

    preset = apply(PRESETS["quick"], ["shapes=M3-N3-H2-r0,H3-M4-N4-r1,shape_M2_N6_H2_r1"])
    assert preset.shapes == (Shape(M=3, N=3, H=2, r=0), Shape(M=4, N=4, H=3, r=1), Shape(M=2, N=6, H=2, r=1))
    # Aoyagi's closed form at the origin (central branch, M+H+N+r even): [2·H·(M+N) − (M−N)² − H²]/8
    assert [s.learning_coefficient for s in preset.shapes] == [(2 * 2 * 6 - 0 - 4) / 8, 6.0, 4.0]
    assert Shape(M=2, N=2, H=1, r=0).learning_coefficient == 1.0  # odd sum: (2·1·4 − 1)/8 + 1/8
    cfg = run_config(preset, preset.shapes[0], seed=0)
    assert cfg.task.singular_values == () and (cfg.model.d_in, cfg.model.d_hidden, cfg.model.d_out) == (3, 2, 3)
    data = make_task(cfg.task, seed=0)
    assert float(data.train.y.abs().max()) == 0.0 and float(data.train.x.abs().max()) > 0.1
    with pytest.raises(ConfigError, match="shapes: .*written like M4-N4-H3-r1"):
        apply(PRESETS["quick"], ["shapes=4-4-3-1"])
    with pytest.raises(ConfigError, match="teacher rank"):
        apply(PRESETS["quick"], ["shapes=M2-N2-H1-r2"])


SMALL = LLCCalibrationPreset(
    shapes=(Shape(M=2, N=2, H=4, r=1), Shape(M=2, N=6, H=2, r=1)),
    task=LinearTeacherConfig((1.0,), d_in=2, d_out=2, n_train=400, n_test=16),
    sgld=SGLDConfig(n_chains=2, n_draws=40, n_burnin=10, step_size=2e-4, gamma=5.0),
    trace_every=1,
    targets=Targets(min_shapes=2),
)


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("llc") / "out"
    return out, run_case_study("llc-calibration", SMALL, out, seed=0, device="cpu", progress=False)


def test_the_report_reads_every_shape_from_its_own_run(small_run):
    out, report = small_run
    main, other = load_run(out), load_run(out / "runs" / "shape_M2_N6_H2_r1")
    assert main.config.name == "llc-calibration M2-N2-H4-r1" and other.config.model.d_out == 6
    rows = report.extra["shapes"]
    assert [(r["shape"], r["branch"], r["theory"], r["d_over_2"]) for r in rows] == [("M2-N2-H4-r1", "M+N<H+r", 2.0, 8.0), ("M2-N6-H2-r1", "M+H<N+r", 4.0, 8.0)]
    for row, run in zip(rows, (main, other)):
        final = run.steps[-1]
        assert row["estimate"] == run.observable("llc/mean").loc[final]
        assert row["relative_error"] == pytest.approx(abs(row["estimate"] / row["theory"] - 1), rel=1e-12)
        # the stored traces average, chain by chain, to the stored per-chain estimates
        traces = chain_traces(run, final)
        assert traces.shape == (2, 40)
        np.testing.assert_allclose(traces.mean(axis=1).to_numpy(), run.table("llc/chain", "chain").loc[final].to_numpy(), rtol=1e-9)
    names = [c.name for c in report.checks]
    assert len(names) == 7 and names[-1] == "branches of Aoyagi's formula covered"
    assert report.checks[-1].value == 2 and not report.checks[-1].passed  # two of the five branches
    nbeta = 400 / np.log(400)
    assert report.checks[1].value == pytest.approx(nbeta * main.observable("loss/train").iloc[-1], rel=1e-12)
    assert report.checks[1].passed and report.checks[1].value < 1e-3  # gradient descent reached the minimum
    assert report.verdict == "invalid"  # two shapes cover two of the five branches: a failed precondition
    assert report.figures == ["figures/llc_vs_theory.png", "figures/chain_traces.png"]
    assert all((out / f).exists() for f in report.figures)


def test_analysing_the_stored_runs_again_gives_the_same_checks_and_writes_nothing(small_run):
    out, report = small_run
    study = get_case_study("llc-calibration")
    runs = {key: load_run(out if key == "main" else out / "runs" / key) for key in study.runs(SMALL, seed=0)}
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    again = study.analyse(runs, SMALL)
    assert [(c.name, c.value, c.passed) for c in again.checks] == [(c.name, c.value, c.passed) for c in report.checks]
    assert again.extra["shapes"] == report.extra["shapes"]
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == before


def test_plot_estimates_draws_theory_bars_estimates_and_the_band():
    fig, ax = new_figure()
    plot_llc_vs_theory(ax, ["a", "b", "c"], theory=[2.0, 4.0, 5.0], estimate=[2.1, 3.7, 5.2], std=[0.1, 0.2, 0.3], regular=[8.0, 8.0, 6.0], tolerance=0.2, theory_label="Aoyagi λ")
    assert [p.get_height() for p in ax.patches] == [2.0, 4.0, 5.0]
    points = ax.containers[1].lines[0]  # the estimates' markers
    np.testing.assert_allclose(points.get_ydata(), [2.1, 3.7, 5.2])
    np.testing.assert_allclose(points.get_xdata(), [0.2, 1.2, 2.2])
    band = ax.containers[2].lines[2][0].get_segments()  # theory ± 20%
    np.testing.assert_allclose([s[:, 1] for s in band], [[1.6, 2.4], [3.2, 4.8], [4.0, 6.0]])
    np.testing.assert_allclose(ax.collections[-1].get_offsets()[:, 1], [8.0, 8.0, 6.0])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["d/2 (regular)", "Aoyagi λ", "SGLD λ̂ (± chain std)", "±20%"]


def test_plot_chain_traces_draws_each_chain_and_the_two_levels():
    fig, ax = new_figure()
    excess = np.array([[1.0, 3.0, 2.0], [4.0, 5.0, 6.0]])
    plot_chain_traces(ax, [0, 5, 10], excess, theory=3.5, estimate=3.5 + 0.5, title="M2-N2-H4-r1")
    chains, (theory, estimate) = ax.lines[:2], ax.lines[2:]
    for line, trace in zip(chains, excess):
        np.testing.assert_allclose(line.get_xdata(), [0, 5, 10])
        np.testing.assert_allclose(line.get_ydata(), trace)
    assert theory.get_ydata()[0] == 3.5 and theory.get_linestyle() == "--" and estimate.get_ydata()[0] == 4.0
    assert ax.get_title() == "M2-N2-H4-r1" and ax.get_xlabel() == "draw"


@pytest.mark.slow
def test_the_page_block_estimates_one_shape_within_the_tolerance(tmp_path):
    code = page_block("case_studies/llc-calibration.md", '"runs/llc-M2-N6-H2-r1"', tmp_path / "run")
    done = run_python(code + "\nassert abs(result.mean / shape.learning_coefficient - 1) < 0.2\n", 600)
    assert re.fullmatch(r"λ̂ = \d\.\d\d ± 0\.\d\d vs Aoyagi λ = 4\n", done.stdout), done.stdout


@pytest.mark.slow
def test_llc_calibration_quick_preset_passes(tmp_path):
    report = run_case_study("llc-calibration", "quick", tmp_path / "run", seed=0, device="cpu", progress=False)
    assert report.verdict == "pass", report.to_markdown()
    shapes = report.extra["shapes"]
    assert len(shapes) >= 6
    for row in shapes:
        assert row["estimate"] == pytest.approx(row["theory"], rel=0.2)
    assert report.figures == ["figures/llc_vs_theory.png", "figures/chain_traces.png"]
    llc_calibration_page(json.loads((tmp_path / "run" / "report.json").read_text()))  # the page's seed-0 column is this run's


# --- every counted row fails when its claim is false (stored observables, no training) ---


class StoredRun:
    """The observables ``analyse`` reads from a finished shape's run, at its last step."""

    def __init__(self, estimate: float, loss: float = 1e-7, diverged: float = 0.0, seed: int = 0, std: float = 0.1) -> None:
        import pandas as pd

        self.steps, self.config = [400], type("C", (), {"seed": seed})()
        self._rows = {"llc/mean": estimate, "llc/std": std, "llc/diverged": diverged, "loss/train": loss}
        self._series = lambda v: pd.Series([v], index=[400])

    def observable(self, name: str):
        return self._series(self._rows[name])


def stored(preset, scale=None, override=None):
    """One stored run per shape with the estimate at ``scale[label]`` × Aoyagi's λ (1 by default); ``override[label]``
    sets that shape's stored training loss, diverged chains or spread over chains (``std``)."""
    scale, override = scale or {}, override or {}
    return {key: StoredRun(scale.get(shape.label, 1.0) * shape.learning_coefficient, **override.get(shape.label, {})) for key, shape in preset.keyed.items()}


def test_estimates_on_theory_pass_and_only_the_estimates_are_counted():
    preset = PRESETS["quick"]
    report = get_case_study("llc-calibration").analyse(stored(preset), preset)
    assert report.verdict == "pass"
    counted = [c for c in report.checks if c.counted]
    assert len(counted) == 6 and all(c.name.startswith("λ̂ ") and c.value == 0.0 and "Aoyagi" in c.source and c.depends_on for c in counted)
    assert {c.role for c in report.checks if not c.counted} == {"precondition"}
    assert [c.name for c in report.checks if not c.counted][-1] == "branches of Aoyagi's formula covered"


@pytest.mark.parametrize("factor", [0.75, 1.25])
def test_an_estimate_25_percent_off_fails_its_row(factor):
    preset = PRESETS["quick"]
    report = get_case_study("llc-calibration").analyse(stored(preset, {"M2-N6-H2-r1": factor}), preset)
    (bad,) = [c for c in report.checks if c.counted and not c.passed]
    assert bad.name.startswith("λ̂ M2-N6-H2-r1") and bad.value == pytest.approx(0.25, rel=1e-12)
    assert report.verdict == "partial" and report.failed_claims == [bad.name]
    every = get_case_study("llc-calibration").analyse(stored(preset, {s.label: factor for s in preset.shapes}), preset)
    assert every.verdict == "fail"


def test_an_untrained_minimum_or_diverged_chains_make_the_report_invalid():
    preset = PRESETS["quick"]
    study = get_case_study("llc-calibration")
    nbeta = 4000 / np.log(4000)
    unfit = study.analyse(stored(preset, override={"M3-N3-H2-r2": {"loss": 0.1 / nbeta}}), preset)
    (row,) = [c for c in unfit.checks if c.name == "M3-N3-H2-r2: w* is a trained minimum (nβ·L_n(w*))"]
    assert row.role == "precondition" and not row.passed and row.value == pytest.approx(0.1, rel=1e-9)
    assert unfit.verdict == "invalid"
    diverged = study.analyse(stored(preset, override={"M4-N4-H3-r1": {"diverged": 2.0}}), preset)
    assert diverged.verdict == "invalid"


def test_a_single_diverged_chain_makes_the_report_invalid():
    preset = PRESETS["quick"]
    report = get_case_study("llc-calibration").analyse(stored(preset, override={"M2-N2-H4-r1": {"diverged": 1.0}}), preset)
    (row,) = [c for c in report.checks if c.name == "M2-N2-H4-r1: diverged chains"]
    assert row.value == 1.0 and not row.passed and report.verdict == "invalid"


def test_an_explicit_nbeta_scales_the_trained_minimum_row_and_both_bounds_are_strict():
    """nβ = 64 from the sampler's settings (not n/ln n); nβ·L_n = 64 · 2⁻¹⁰ = 2⁻⁴ exactly at its bound fails, and so does
    an estimate exactly 25 % off with a 25 % tolerance (the rows say '<')."""
    import dataclasses

    quick = PRESETS["quick"]
    preset = dataclasses.replace(quick, sgld=dataclasses.replace(quick.sgld, nbeta=64.0), targets=Targets(tolerance=0.25, max_trained_excess=2**-4))
    report = get_case_study("llc-calibration").analyse(stored(preset, {"M2-N6-H2-r1": 1.25}, override={"M3-N3-H2-r2": {"loss": 2**-10}}), preset)
    rows = {c.name.split(" (")[0]: c for c in report.checks}
    at_bound = rows["M3-N3-H2-r2: w* is a trained minimum"]
    assert at_bound.value == 2**-4 and not at_bound.passed
    assert rows["M4-N4-H3-r1: w* is a trained minimum"].value == pytest.approx(64 * 1e-7, rel=1e-12)
    estimate = next(c for c in report.checks if c.name.startswith("λ̂ M2-N6-H2-r1"))
    assert estimate.value == 0.25 and not estimate.passed and estimate.depends_on[-1] == "nβ=64"


def test_an_estimate_or_a_training_loss_that_is_not_a_number_fails_its_row():
    """A NaN estimate is not within 20 % of λ (its claim fails); a NaN training loss is not a trained minimum (invalid)."""
    preset = PRESETS["quick"]
    study = get_case_study("llc-calibration")
    report = study.analyse(stored(preset, {"M2-N6-H2-r1": np.nan}), preset)
    (bad,) = [c for c in report.checks if c.counted and not c.passed]
    assert bad.name.startswith("λ̂ M2-N6-H2-r1") and np.isnan(bad.value) and report.verdict == "partial"
    report = study.analyse(stored(preset, override={"M3-N3-H2-r2": {"loss": np.nan}}), preset)
    (row,) = [c for c in report.checks if c.name.startswith("M3-N3-H2-r2: w* is a trained minimum")]
    assert not row.passed and report.verdict == "invalid"
    report = study.analyse(stored(preset, override={"M3-N3-H2-r2": {"diverged": np.nan}}), preset)
    assert report.verdict == "invalid"


def test_five_shapes_covering_every_branch_are_fewer_than_the_six_the_preset_needs():
    """The coverage precondition asks for every branch of Aoyagi's formula and at least ``min_shapes`` (6) shapes."""
    import dataclasses

    preset = dataclasses.replace(PRESETS["quick"], shapes=PRESETS["quick"].shapes[1:])  # drops one central-even shape: 5 left, all branches
    report = get_case_study("llc-calibration").analyse(stored(preset), preset)
    (row,) = [c for c in report.checks if c.name == "branches of Aoyagi's formula covered"]
    assert row.value == 5 and not row.passed and report.verdict == "invalid"
    assert get_case_study("llc-calibration").analyse(stored(PRESETS["quick"]), PRESETS["quick"]).verdict == "pass"


def test_six_shapes_that_leave_out_a_branch_do_not_cover_the_formula():
    import dataclasses

    from case_studies.llc_calibration import Shape

    shapes = tuple(s for s in PRESETS["quick"].shapes if s.branch != "M+N<H+r") + (Shape(M=5, N=5, H=2, r=1),)  # 6 shapes, 4 branches
    preset = dataclasses.replace(PRESETS["quick"], shapes=shapes)
    report = get_case_study("llc-calibration").analyse(stored(preset), preset)
    (row,) = [c for c in report.checks if c.name == "branches of Aoyagi's formula covered"]
    assert len(shapes) == 6 and row.value == 4 and not row.passed and report.verdict == "invalid"
