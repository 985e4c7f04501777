"""Toy models of superposition: task, model, geometry probes, phase theory, and the case study."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from bridge.models import build_model
from bridge.models.toy_superposition import ToySuperposition, ToySuperpositionConfig, fit_fresh_samples, instance_losses
from bridge.tasks import make_task
from bridge.tasks.sparse_features import ImportanceWeightedMSE, SparseFeaturesConfig, sample_sparse_features
from bridge.theory.superposition import STICKY_FRACTIONS, dimensions_per_feature, n2m1_candidate_losses, nearest_sticky, predict_n2m1_phases
from bridge.trackers import get_tracker
from helpers import page_blocks, run_python
from page_checks import superposition_page
from probes.feature_geometry import n2m1_phase, polygon

torch.set_num_threads(1)


def _regular_polygon(k: int, radius: float = 1.0, phase: float = 0.3) -> torch.Tensor:
    angles = torch.arange(k, dtype=torch.float64) * 2 * math.pi / k + phase
    return radius * torch.stack([angles.cos(), angles.sin()])


def test_dimensions_per_feature_on_the_known_polytopes():
    torch.testing.assert_close(dimensions_per_feature(torch.eye(3)), torch.ones(3))  # dedicated
    torch.testing.assert_close(dimensions_per_feature(torch.tensor([[1.0, -1.0]])), torch.full((2,), 0.5))  # digon
    torch.testing.assert_close(dimensions_per_feature(_regular_polygon(3)), torch.full((3,), 2 / 3, dtype=torch.float64))  # triangle (float64 weights: float64 dimensions)
    torch.testing.assert_close(dimensions_per_feature(_regular_polygon(5, radius=1.3)), torch.full((5,), 0.4, dtype=torch.float64))  # pentagon
    tetra = torch.tensor([[1.0, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]]).T / math.sqrt(3)
    torch.testing.assert_close(dimensions_per_feature(tetra), torch.full((4,), 0.75))
    # square antiprism with z² = 1/3: a unit-norm tight frame of 8 vectors in 3-D, D = 3/8
    theta = torch.arange(8, dtype=torch.float64) * math.pi / 4
    z = torch.tensor([1.0, -1.0] * 4, dtype=torch.float64) / math.sqrt(3)
    a = math.sqrt(2 / 3)
    antiprism = torch.stack([a * theta.cos(), a * theta.sin(), z])
    torch.testing.assert_close(dimensions_per_feature(antiprism), torch.full((8,), 3 / 8, dtype=torch.float64))
    W = torch.tensor([[1.0, 0.0], [0.0, 0.0]])  # a dropped feature has dimensionality 0
    torch.testing.assert_close(dimensions_per_feature(W), torch.tensor([1.0, 0.0]))
    values, dist = nearest_sticky([0.41, 0.52, 0.9])
    np.testing.assert_allclose(values, [0.4, 0.5, 1.0])
    np.testing.assert_allclose(dist, [0.01, 0.02, 0.1], atol=1e-12)
    assert STICKY_FRACTIONS == (1.0, 0.75, 2 / 3, 0.5, 0.4, 0.375)


def test_polygon_and_phase_classification():
    pent = polygon(_regular_polygon(5))
    assert pent.is_regular(5) and pent.max_gap_error == pytest.approx(0.0, abs=1e-4)
    square_plus = torch.cat([_regular_polygon(4), torch.tensor([[0.2], [0.9]], dtype=torch.float64)], dim=1)
    poly = polygon(square_plus)
    assert poly.k == 5 and not poly.is_regular(5)
    assert poly.max_gap_error > 10
    weak = torch.cat([_regular_polygon(4), torch.tensor([[0.1], [0.1]], dtype=torch.float64)], dim=1)
    assert polygon(weak).k == 4 and polygon(weak).is_regular(4)
    assert n2m1_phase(torch.tensor([[1.0, -0.9]])) == "superposition"
    assert n2m1_phase(torch.tensor([[1.0, 0.1]])) == "feature 1"
    assert n2m1_phase(torch.tensor([[0.0, 1.0]])) == "feature 2"
    assert n2m1_phase(torch.tensor([[0.8, 0.9]])) == "other"
    with pytest.raises(ValueError):
        polygon(torch.zeros(3, 4))


def test_dedicated_configuration_losses_match_the_closed_form():
    # feature 1 dedicated (w₁ = 1, b₁ = 0 is exact) and feature 2 predicted by its mean:
    # loss = r (E[x₂²] − E[x₂]²) = r (p/3 − p²/4)
    r, p = np.array([0.5, 2.0]), np.array([0.1, 0.6, 1.0])
    losses = n2m1_candidate_losses(r, p, n_nodes=24, steps=800)
    np.testing.assert_allclose(losses["feature 1"], r[:, None] * (p / 3 - p**2 / 4)[None, :], rtol=2e-3)
    np.testing.assert_allclose(losses["feature 2"], np.broadcast_to(p / 3 - p**2 / 4, (2, 3)), rtol=2e-3)


def test_sparse_cells_reach_their_optimum_and_more_steps_change_nothing():
    # at a small density an Adam step can push a bias past zero, where the exact ReLU has no gradient: the
    # dedicated configuration then kept x̂₂ = 0 and lost r·p²/4 (2.9 % at p = 0.037) against its closed form
    r, p = np.array([0.5, 2.0]), np.array([0.01, 0.0373, 0.1])
    losses = n2m1_candidate_losses(r, p, n_nodes=24, steps=800)
    np.testing.assert_allclose(losses["feature 1"], r[:, None] * (p / 3 - p**2 / 4)[None, :], rtol=1e-6)
    np.testing.assert_allclose(losses["feature 2"], np.broadcast_to(p / 3 - p**2 / 4, (2, 3)), rtol=1e-6)
    longer = n2m1_candidate_losses(r, p, n_nodes=24, steps=3000)
    for phase in losses:
        np.testing.assert_allclose(longer[phase], losses[phase], rtol=1e-5)


def test_predicted_phases_at_the_corners_of_the_diagram():
    phases = predict_n2m1_phases([0.1, 1.0, 10.0], [0.01, 1.0])
    assert phases[0, 1] == "feature 1"  # dense, feature 2 unimportant
    assert phases[2, 1] == "feature 2"  # dense, feature 2 dominant
    assert phases[1, 0] == "superposition"  # sparse, equal importance


def test_task_statistics_and_weighted_loss():
    data = make_task(SparseFeaturesConfig(n_features=4, sparsity=0.7, importance_decay=0.5, n_train=20000, n_test=10), seed=3)
    x = data.train.x
    assert float((x == 0).float().mean()) == pytest.approx(0.7, abs=0.01)
    assert float(x[x > 0].mean()) == pytest.approx(0.5, abs=0.01)
    torch.testing.assert_close(data.info["importance"], torch.tensor([1.0, 0.5, 0.25, 0.125]))
    out = torch.zeros_like(x[:5])
    expected = (torch.tensor([1.0, 0.5, 0.25, 0.125]) * x[:5] ** 2).sum(-1).mean()
    torch.testing.assert_close(data.loss_fn(out, x[:5]), expected)
    with pytest.raises(ValueError):
        SparseFeaturesConfig(n_features=4, sparsity=1.0)
    per_instance = sample_sparse_features(1000, torch.tensor([0.0, 1.0]), 3, torch.Generator().manual_seed(0))
    assert bool((per_instance[:, 0] == 0).all()) and bool((per_instance[:, 1] > 0).all())


def test_model_matches_the_formula_and_instances_are_independent():
    model = build_model(ToySuperpositionConfig(n_features=5, n_hidden=2, n_instances=3), seed=0)
    with torch.no_grad():
        model.b.normal_()
    x = torch.rand(7, 3, 5)
    expected = torch.stack([torch.relu(x[:, i] @ model.W[i].T @ model.W[i] + model.b[i]) for i in range(3)], dim=1)
    torch.testing.assert_close(model(x), expected)
    importance = torch.rand(3, 5)
    loss = ImportanceWeightedMSE(importance)(model(x), x)
    (g_all,) = torch.autograd.grad(loss, model.W)
    alone = (importance[1] * (model(x)[:, 1] - x[:, 1]) ** 2).sum(-1).mean()
    (g_one,) = torch.autograd.grad(alone, model.W)
    torch.testing.assert_close(g_all[1], g_one[1])
    single = ToySuperposition(ToySuperpositionConfig(n_features=5, n_hidden=2), seed=0)
    assert tuple(single(torch.rand(4, 5)).shape) == (4, 5)
    with pytest.raises(ValueError, match="importance"):
        fit_fresh_samples(model, torch.ones(2, 5), torch.ones(3), steps=1)


def test_fresh_sample_training_learns_an_antipodal_pair_when_sparse():
    # 4 seeds of a sparse pair of equal importance; some land in a local minimum that drops a feature
    density = torch.full((4,), 0.05)
    model = ToySuperposition(ToySuperpositionConfig(n_features=2, n_hidden=1, n_instances=4), seed=1)
    history = fit_fresh_samples(model, torch.ones(4, 2), density, steps=1500, batch_size=512, lr=1e-2, seed=0)
    assert history[-100:].mean() < history[:10].mean()
    losses = instance_losses(model, torch.ones(4, 2), density)
    best = int(losses.argmin())
    assert n2m1_phase(model.W[best].detach()) == "superposition"  # both features, antipodal
    dropped = [i for i in range(4) if n2m1_phase(model.W[i].detach()) != "superposition"]
    assert all(losses[i] > 2 * losses[best] for i in dropped)  # superposition has the lower loss


def test_feature_geometry_tracker_rows():
    model = ToySuperposition(ToySuperpositionConfig(n_features=5, n_hidden=2), seed=0)
    with torch.no_grad():
        model.W[0] = _regular_polygon(5).float()
    data = make_task(SparseFeaturesConfig(n_features=5, n_train=8, n_test=8), seed=0)
    rows = get_tracker("feature_geometry")(model, 0, data)
    by_name = {(r["observable"], r.get("feature")): r["value"] for r in rows}
    assert by_name[("features/represented", None)] == 5
    assert by_name[("features/dims", 2)] == pytest.approx(0.4, rel=1e-5)
    assert by_name[("features/polygon_gap_error", None)] == pytest.approx(0.0, abs=1e-3)


def _tiny_preset():
    from bridge.config import ScheduleConfig, TrainConfig
    from bridge.estimators.llc import SGLDConfig
    from case_studies.superposition import DimsSweep, PhaseSweep, SuperpositionPreset

    return SuperpositionPreset(
        task=SparseFeaturesConfig(n_features=5, sparsity=0.9, n_train=200, n_test=200),
        train=TrainConfig(optimizer="adam", lr=3e-2, steps=200, schedule=ScheduleConfig(n_log=4, every=50)),
        candidates=3,
        sgld=SGLDConfig(n_chains=2, n_draws=20, n_burnin=10, step_size=1e-4, gamma=10.0),
        phases=PhaseSweep(importance=3, density=2, seeds=2, steps=60, batch_size=64),
        dims=DimsSweep(model=ToySuperpositionConfig(n_features=6, n_hidden=2, n_instances=2), steps=60, batch_size=64),
    )


@pytest.fixture(scope="module")
def tiny_output(tmp_path_factory):
    """A tiny preset through the runner: candidates, the main run retrained from the best one, the report."""
    import warnings

    from case_studies import run_case_study

    out = tmp_path_factory.mktemp("superposition") / "out"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a tiny SGLD budget warns about its chains
        report = run_case_study("superposition", _tiny_preset(), out, seed=5, device="cpu", progress=False)
    return out, report


def test_main_run_is_the_lowest_loss_candidate_retrained_with_trackers(tiny_output):
    from bridge import load_run
    from bridge.config import config_to_dict

    out, report = tiny_output
    main = load_run(out)
    candidates = {p.name: load_run(p) for p in sorted((out / "runs").iterdir())}
    assert sorted(candidates) == ["candidate_0", "candidate_1", "candidate_2"] and not (out / ".main").exists()
    losses = {k: float(r.observable("loss/train").iloc[-1]) for k, r in candidates.items()}
    best = min(losses, key=losses.get)
    assert config_to_dict(main.config) == config_to_dict(candidates[best].config)
    assert len({r.config.seed for r in candidates.values()}) == 3
    # training is deterministic: the retrained run is the chosen candidate, step for step
    np.testing.assert_array_equal(main.observable("loss/train").to_numpy(), candidates[best].observable("loss/train").to_numpy())
    torch.testing.assert_close(main.model_at(main.steps[-1]).W, candidates[best].model_at(main.steps[-1]).W, rtol=0, atol=0)
    assert main.info["case_seed"] == 5 and main.info["preset"] == "custom"
    assert len(main.observable("llc/mean")) == len(main.steps)  # the offline job covered every checkpoint
    assert "features/polygon_gap_error" in set(main.metrics["observable"]) and "features/norm" not in set(candidates[best].metrics["observable"])
    assert [m.prediction.split(":")[0] for m in report.matches] == ["k-gon transition"]
    assert len(report.checks) == 4 and report.seed == 5


def test_analyse_is_pure_and_reproduces_the_written_report(tiny_output):
    import json

    from bridge import load_run
    from case_studies import get_case_study
    from case_studies.superposition import SWEEPS_FILE

    out, _ = tiny_output
    study, preset = get_case_study("superposition"), _tiny_preset()
    runs = {p.name: load_run(p) for p in (out / "runs").iterdir()} | {"main": load_run(out)}
    before = sorted((p.relative_to(out), p.stat().st_mtime_ns) for p in out.rglob("*"))
    again = study.analyse(runs, preset)
    assert sorted((p.relative_to(out), p.stat().st_mtime_ns) for p in out.rglob("*")) == before
    written = json.loads((out / "report.json").read_text())
    assert [c.value for c in again.checks] == [c["value"] for c in written["checks"]]
    assert again.matches[0].observed_step == written["matches"][0]["observed_step"]
    sweeps = json.loads((out / SWEEPS_FILE).read_text())
    assert sweeps["trained"] == written["phase_diagram"]["trained"] and sweeps["seed"] == 5
    assert [c["seed"] for c in sweeps["candidates"]] == [runs[f"candidate_{k}"].config.seed for k in range(3)]
    agreement = np.mean(np.array(sweeps["predicted"]) == np.array(sweeps["trained"]))
    assert written["checks"][2]["value"] == pytest.approx(agreement)
    assert [e["observable"] for e in json.loads((out / "events.json").read_text())] == [e.observable for e in again.events]


def test_resume_of_a_finished_output_trains_nothing(tiny_output):
    import warnings

    from case_studies import run_case_study

    out, report = tiny_output
    stamp = (out / "checkpoints").stat().st_mtime_ns, (out / "runs" / "candidate_0" / "run.json").stat().st_mtime_ns
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        again = run_case_study("superposition", _tiny_preset(), out, seed=5, device="cpu", progress=False, resume=True)
    assert ((out / "checkpoints").stat().st_mtime_ns, (out / "runs" / "candidate_0" / "run.json").stat().st_mtime_ns) == stamp
    assert [c.value for c in again.checks] == [c.value for c in report.checks]


def test_figures_draw_the_runs_and_sweeps(tiny_output, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import case_studies.superposition as sup
    from bridge import load_run

    out, report = tiny_output
    drawn = {}

    def keep(fig, path):  # capture what was drawn instead of writing it
        drawn[path.name] = fig
        return path

    monkeypatch.setattr(sup, "save_figure", keep)
    run, preset = load_run(out), _tiny_preset()
    sup.figures(run, report, preset)
    assert sorted(drawn) == ["dims_per_feature.png", "llc_through_training.png", "pentagon.png", "phase_diagram.png"]
    pentagon = drawn["pentagon.png"].axes
    assert all(len(ax.patches) == 5 for ax in pentagon)  # one arrow per feature
    assert pentagon[-1].get_title().startswith(f"step {run.steps[-1]}:")
    llc_ax, loss_ax, norm_ax = drawn["llc_through_training.png"].axes[:3]
    llc = run.observable("llc/mean")
    np.testing.assert_allclose(llc_ax.containers[0].lines[0].get_ydata(), llc.values)
    np.testing.assert_allclose(loss_ax.lines[0].get_ydata(), run.observable("loss/train").values)
    np.testing.assert_allclose(norm_ax.lines[2].get_ydata(), run.observable("features/norm", feature=2).values)
    event_steps = sorted(e.step for e in report.events)
    assert sorted(line.get_xdata()[0] for line in llc_ax.lines if line.get_linestyle() == ":") == event_steps
    predicted_ax, trained_ax = drawn["phase_diagram.png"].axes[:2]
    assert predicted_ax.images[0].get_array().shape == trained_ax.images[0].get_array().shape == (2, 3)  # density × importance
    hist_ax = drawn["dims_per_feature.png"].axes[0]
    heights = sum(p.get_height() for p in hist_ax.patches)
    assert heights == sum(len(s["D"]) for s in report.extra["dims_per_feature"] if s["dims_per_feature"] >= 3 / 8)


def test_the_page_example_runs(tmp_path):
    blocks = page_blocks("case_studies/superposition.md")
    assert blocks
    done = run_python("\n".join(blocks), 600, cwd=tmp_path)
    assert done.stdout.split()[0] == "5"  # the candidate's final polygon has five represented features


@pytest.mark.slow
def test_superposition_quick_preset_seed_0(tmp_path, monkeypatch):
    import case_studies.superposition as sup
    from bridge import load_run
    from case_studies import run_case_study

    drawn = {}
    monkeypatch.setattr(sup, "save_figure", lambda fig, path: drawn.setdefault(path.name, fig) and path)
    report = run_case_study("superposition", "quick", tmp_path / "run", seed=0, device="cpu", progress=False)
    run = load_run(tmp_path / "run")
    assert run.config.seed == 0 and not (tmp_path / "run" / "runs").exists()  # the case seed's own run, no selection
    pentagon, step, phases, sticky = report.checks
    assert pentagon.passed and pentagon.value < 10  # a regular pentagon (measured: 1.1°, as the page says)
    # seed 0 represents all five features from step 100 on: no checkpoint rests in a 4-gon, so the step is not measured
    assert not step.passed and step.value is None and step.reason.startswith("no checkpoint rests in a regular 4-gon")
    assert phases.passed == (phases.value >= 0.8) and sticky.passed == (sticky.value >= 0.75)
    assert report.verdict == ("pass" if not report.failed_claims else "partial") and step.name in report.failed_claims
    superposition_page(json.loads((tmp_path / "run" / "report.json").read_text()))  # the page's seed-0 row is this run's
    assert sorted(drawn) == ["dims_per_feature.png", "llc_through_training.png", "pentagon.png", "phase_diagram.png"]
    llc_ax = drawn["llc_through_training.png"].axes[0]
    np.testing.assert_allclose(llc_ax.containers[0].lines[0].get_ydata(), run.observable("llc/mean").values)


def test_presets_build_valid_configs():
    from bridge.config import ConfigError
    from case_studies import get_case_study
    from case_studies.superposition import PRESETS, SuperpositionPreset

    study = get_case_study("superposition")
    for preset in PRESETS.values():
        configs = study.runs(preset, seed=3)  # the case seed's own run: no selection among seeds
        assert list(configs) == ["main"] and configs["main"].seed == 3 and preset.candidates == 1
        assert (configs["main"].model.n_features, configs["main"].model.n_hidden) == (5, 2)
        assert study.runs_after(preset, 3, configs) == {}
    configs = study.runs(_tiny_preset(), seed=3)
    assert sorted(configs) == ["candidate_0", "candidate_1", "candidate_2"] and len({c.seed for c in configs.values()}) == 3
    with pytest.raises(ConfigError, match="n=5 features in m=2"):
        SuperpositionPreset(model=ToySuperpositionConfig(n_features=6, n_hidden=2))
    with pytest.raises(ConfigError, match="log_density"):
        SuperpositionPreset(candidates=0)


# ---------------------------------------------------------------- rows that can fail


def _kgon_curves(four_llc: float = 2.0):
    """Checkpoints of a run that rests in a regular 4-gon (steps 200-700) and ends as a regular pentagon (from 750)."""
    steps = np.arange(0.0, 1501.0, 50.0)
    represented = np.where(steps < 200, 3.0, np.where(steps < 750, 4.0, 5.0))
    gap_error = np.where(steps < 200, 40.0, np.where(steps < 750, 2.0, 3.0))
    llc = np.where(steps < 200, -1.0, np.where(steps < 750, four_llc, 5.3))
    return steps, llc, np.full(len(steps), 0.3), represented, gap_error


def _rows(steps, llc, std, represented, gap_error, final=None):
    from case_studies.superposition import PRESETS, pentagon_rows

    final = polygon(_regular_polygon(5)) if final is None else final
    matches, checks, _ = pentagon_rows(steps, llc, std, represented, gap_error, final, PRESETS["quick"])
    return {m.prediction.split(":")[0]: m for m in matches} | {c.name.split(" (")[0].split(" at S")[0]: c for c in checks}


def _verdict(rows) -> str:
    from bridge.report import BridgeReport

    report = BridgeReport("superposition", "quick", 0)
    report.matches = [r for r in rows.values() if hasattr(r, "prediction")]
    report.checks = [r for r in rows.values() if not hasattr(r, "prediction")]
    return report.verdict


def test_the_pentagon_rows_pass_on_a_4gon_then_pentagon_run():
    rows = _rows(*_kgon_curves())
    assert [(k, r.passed, r.role) for k, r in rows.items()] == [
        ("k-gon transition", True, "claim"),
        ("pentagon for n=5, m=2", True, "claim"),
        ("learning coefficient: step from the 4-gon to the pentagon", True, "claim"),
    ]
    step = rows["learning coefficient: step from the 4-gon to the pentagon"]
    assert step.value == pytest.approx(3.3) and "4-gon 2.00 over 11 checkpoints" in step.target
    kgon = rows["k-gon transition"]  # λ̂ crosses half of 5.3 between 700 and 750; the gap error (180 for a 4-gon) crosses 36° there too
    assert kgon.observed_step == pytest.approx(700.0 + 50.0 * 0.65 / 3.3) and kgon.mechanism_step == pytest.approx(700.0 + 50.0 * 144.0 / 177.0)
    assert all(r.source.startswith(("Chen et al. 2023", "Elhage et al. 2022")) for r in rows.values())


def test_a_learning_coefficient_that_does_not_step_up_fails_its_row():
    steps, llc, std, represented, gap_error = _kgon_curves()
    flat = np.where(steps < 200, -1.0, 5.3 + 0.1 * np.sin(steps))  # the 4-gon already at the pentagon's value
    rows = _rows(steps, flat, std, represented, gap_error)
    row = rows["learning coefficient: step from the 4-gon to the pentagon"]
    assert not row.passed and abs(row.value) < 0.2 and "<= 3 x" in row.reason
    small = _rows(steps, np.where(steps < 200, -1.0, np.where(steps < 750, 5.0, 5.3)), std, represented, gap_error)
    assert not small["learning coefficient: step from the 4-gon to the pentagon"].passed  # 0.3 < 3 × 0.15
    assert _verdict(rows) != "pass"


def test_the_step_is_judged_against_the_standard_error_of_the_chain_mean():
    """Each checkpoint's spread over the quick preset's 8 chains (0.3) is a standard error of
    0.3/√8 on its mean; the difference of the 4-gon and pentagon means has s.e. 0.3·√2/√8 = 0.15,
    so 3 s.e. = 0.45: a step of 1.0 (or 0.5) passes, 0.4 fails. Without the √chains the
    s.e. would be 0.42 and a step of 1.0 would fail."""
    from case_studies.superposition import PRESETS

    assert PRESETS["quick"].sgld.n_chains == 8 and PRESETS["quick"].targets.llc_sigmas == 3.0
    steps, _, _, represented, gap_error = _kgon_curves()
    name = "learning coefficient: step from the 4-gon to the pentagon"
    for size, passes in ((1.0, True), (0.5, True), (0.4, False)):
        row = _rows(*_kgon_curves(four_llc=5.3 - size))[name]
        assert row.value == pytest.approx(size) and row.passed is passes, (size, row.target, row.reason)
        assert "s.e. 0.15)" in row.target
    step_of_one = np.where(steps < 200, -1.0, np.where(steps < 750, 4.3, 5.3))
    wider = _rows(steps, step_of_one, np.full(len(steps), 0.6), represented, gap_error)[name]  # s.e. 0.30: 1.0 > 0.90
    assert wider.passed and "s.e. 0.30)" in wider.target
    widest = _rows(steps, step_of_one, np.full(len(steps), 0.7), represented, gap_error)[name]  # s.e. 0.35: 1.0 <= 1.05
    assert not widest.passed and "s.e. 0.35)" in widest.target and widest.reason == "step 1.00 <= 3 x 0.35"


def test_a_run_that_never_rests_in_a_4gon_or_ends_in_a_4gon_fails_the_step_and_says_why():
    steps, llc, std, represented, gap_error = _kgon_curves()
    direct = _rows(steps, llc, std, np.where(steps < 750, 3.0, 5.0), gap_error)
    assert not direct["learning coefficient: step from the 4-gon to the pentagon"].passed
    assert "no checkpoint rests in a regular 4-gon" in direct["learning coefficient: step from the 4-gon to the pentagon"].reason
    square = polygon(_regular_polygon(4))
    stuck = _rows(steps, np.where(steps < 200, -1.0, 4.3), std, np.where(steps < 200, 3.0, 4.0), np.where(steps < 200, 40.0, 2.0), final=square)
    assert [r.passed for r in stuck.values()] == [False, False, False]
    assert stuck["k-gon transition"].reason == "mechanism event absent"  # a regular 4-gon is not a pentagon
    assert stuck["learning coefficient: step from the 4-gon to the pentagon"].reason == "the run does not end in a regular pentagon"
    assert _verdict(stuck) == "fail"


def test_a_learning_coefficient_rise_far_from_pentagon_formation_fails_the_match():
    steps, llc, std, represented, gap_error = _kgon_curves(four_llc=4.3)  # the 4-gon above half the pentagon's value
    rows = _rows(steps, llc, std, represented, gap_error)
    kgon = rows["k-gon transition"]
    assert not kgon.passed and kgon.observed_step == pytest.approx(150.0 + 50.0 * 3.65 / 5.3) and kgon.relative_error > 0.2
    assert _verdict(rows) == "partial"


def test_the_sweep_checks_fail_when_trained_phases_or_dimensionalities_disagree():
    from case_studies.superposition import PRESETS, sweep_checks

    targets = PRESETS["quick"].targets
    predicted = np.array([["feature 1", "superposition"], ["feature 2", "superposition"]], dtype=object)
    on_sticky = [{"dims_per_feature": 0.5, "D": [0.5, 0.5, 0.4, 0.41, 1.0]}, {"dims_per_feature": 0.2, "D": [0.3]}]  # 5 of 5 in the sticky regime
    phases, sticky = sweep_checks(predicted, predicted.copy(), on_sticky, targets)
    assert (phases.value, phases.passed, sticky.value, sticky.passed) == (1.0, True, 1.0, True)
    wrong = np.full((2, 2), "feature 1", dtype=object)  # one cell of four agrees
    phases, _ = sweep_checks(predicted, wrong, on_sticky, targets)
    assert phases.value == 0.25 and not phases.passed and phases.counted
    off = [{"dims_per_feature": 0.5, "D": [0.6, 0.45, 0.85, 0.5]}]  # 0.6, 0.45 and 0.85 are over 0.03 from every sticky fraction
    _, sticky = sweep_checks(predicted, predicted, off, targets)
    assert sticky.value == 0.25 and not sticky.passed and sticky.counted
    _, none = sweep_checks(predicted, predicted, [{"dims_per_feature": 0.2, "D": [0.3]}], targets)
    assert not none.passed and none.reason == "no model in the sticky regime"
    assert sticky.name != none.name and sticky.row_key == none.row_key  # the values seen differ; one row across seeds


def test_polygon_angles_stay_below_360_and_n2m1_phase_refuses_the_transposed_model():
    from probes.feature_geometry import n2m1_phase, polygon

    square = polygon(torch.tensor([[1.0, 0.0, -1.0, 0.0], [-1e-9, 1.0, 0.0, -1.0]]))  # the first column a hair below the x axis
    assert square.k == 4 and 0.0 <= min(square.angles) and max(square.angles) < 360.0 and max(abs(g - 90.0) for g in square.gaps) < 1e-6
    with pytest.raises(ValueError, match=r"needs W of shape \(1, 2\), got \(2, 1\)"):
        n2m1_phase(torch.tensor([[1.0], [-1.0]]))
    assert n2m1_phase(torch.tensor([1.0, -1.0])) == n2m1_phase(torch.tensor([[1.0, -1.0]])) == "superposition"


def test_the_4gon_level_is_the_mean_over_regular_4gon_checkpoints_before_the_last_quarter():
    name = "learning coefficient: step from the 4-gon to the pentagon"
    steps, llc, std, represented, gap_error = _kgon_curves()
    irregular = (steps >= 450) & (steps < 750)  # four features, gaps 40° off: not a regular 4-gon
    row = _rows(steps, np.where(irregular, 5.0, llc), std, represented, np.where(irregular, 40.0, gap_error))[name]
    assert row.value == pytest.approx(3.3) and "4-gon 2.00 over 5 checkpoints" in row.target
    late = np.where(steps < 200, 3.0, np.where(steps < 1250, 4.0, 5.0))  # the pentagon forms in the last quarter (from 1125)
    llc = np.where(steps < 200, -1.0, np.where(steps < 1125, 2.0, np.where(steps < 1250, 4.0, 5.3)))
    row = _rows(steps, llc, std, late, np.where(steps < 200, 40.0, np.where(steps < 1250, 2.0, 3.0)))[name]
    assert row.value == pytest.approx((2 * 4.0 + 6 * 5.3) / 8 - 2.0) and "4-gon 2.00 over 19 checkpoints" in row.target


def test_the_step_is_not_measured_when_the_last_checkpoint_counts_four_features():
    steps, llc, std, represented, gap_error = _kgon_curves()
    row = _rows(steps, llc, std, np.where(steps < 1500, represented, 4.0), gap_error)["learning coefficient: step from the 4-gon to the pentagon"]
    assert row.value is None and not row.passed and row.reason == "the run does not end in a regular pentagon"


def test_a_model_at_exactly_three_eighths_dimensions_per_feature_is_in_the_sticky_regime():
    from case_studies.superposition import PRESETS, sweep_checks

    predicted = np.array([["feature 1"]], dtype=object)
    _, sticky = sweep_checks(predicted, predicted, [{"dims_per_feature": 0.375, "D": [0.5, 0.4]}, {"dims_per_feature": 0.37, "D": [0.3]}], PRESETS["quick"].targets)
    assert sticky.value == 1.0 and sticky.passed and "values seen [0.5, 0.4]" in sticky.name


@pytest.mark.parametrize(("call", "message"), [
    (lambda: dimensions_per_feature(torch.ones(3)), r"W must be 2-D \(m dimensions, n features\), got shape \(3,\)"), (lambda: dimensions_per_feature(torch.tensor([[1.0, math.nan]])), "W must be finite"),
    (lambda: nearest_sticky([[0.5, 0.7]]), r"values must be 1-D \(n,\), got shape \(1, 2\)"), (lambda: nearest_sticky([0.5, math.nan]), "values must be numbers, got NaN"),
    (lambda: n2m1_candidate_losses([math.nan], [1.0], steps=1), r"relative importance must be > 0 and density in \(0, 1\]"),
    (lambda: n2m1_candidate_losses([[1.0]], [1.0], steps=1), r"relative_importance and density must be 1-D, got shapes \(1, 1\) and \(1,\)"),
    (lambda: n2m1_candidate_losses([1.0], [1.0], steps=0), "steps must be a positive integer, got 0"), (lambda: n2m1_candidate_losses([1.0], [1.0], n_nodes=0), "n_nodes must be a positive integer, got 0"),
    (lambda: n2m1_candidate_losses([1.0], [1.0], lr=-0.1), "lr must be positive and finite, got -0.1"),
])
def test_superposition_theory_refuses_input_outside_its_domain_by_name(call, message):
    with pytest.raises(ValueError, match=message):
        call()
