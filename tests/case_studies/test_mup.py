"""The mup case study: every counted row passes on observables where its claim holds and fails where it is false."""

import dataclasses

import numpy as np
import pytest

from bridge import ConfigError
from bridge.theory import mup as theory
from case_studies.mup import PRESETS, MupPreset, Targets
from case_studies.mup.analysis import LAYERS, MupObservables, best_indices, judge, slope

WIDTHS = (64, 128, 256, 512, 1024, 2048)
LR_WIDTHS = (32, 64, 128, 256, 512)
LRS = tuple(2.0**k for k in range(-11, -4))


def power(exponents, steps=3, widths=WIDTHS):
    """``(step, width, layer)`` RMS Δh growing as ``width^exponent`` per layer (zero at step 0)."""
    w = np.asarray(widths, dtype=float)[:, None]
    d = 0.3 * (w / w[0]) ** np.asarray(exponents)[None, :]
    return np.stack([np.zeros_like(d)] + [d * (1 + 0.1 * t) for t in range(steps)])


def bowls(centres, floors):
    """``(width, lr)`` final losses: a parabola in log lr around each width's centre index, with its floor."""
    i = np.arange(len(LRS))[None, :]
    return np.asarray(floors)[:, None] * (1 + 0.5 * (i - np.asarray(centres)[:, None]) ** 2)


def good():
    """Observables on which every claim holds."""
    opt = "adam"
    return MupObservables(
        optimizer=opt,
        coord_widths=WIDTHS,
        delta={p: power([theory.predicted_exponent(p, opt, k) for k in LAYERS]) for p in ("mup", "standard", "ntk")},
        first_layer={"mup": 0.02 * np.ones(len(WIDTHS)), "standard": 0.02 * np.ones(len(WIDTHS)), "ntk": 0.02 * (np.array(WIDTHS) / 64.0) ** -0.5},
        lr_widths=LR_WIDTHS,
        lrs=LRS,
        final_loss={"mup": bowls([3, 3, 4, 4, 4], [1e-2, 5e-3, 2e-3, 1e-3, 5e-4]), "standard": bowls([5, 4, 3, 2, 1], [1e-2, 5e-3, 3e-3, 2e-3, 2e-3])},
        initial_loss={p: np.ones((len(LR_WIDTHS), len(LRS))) for p in ("mup", "standard")},
        cka={"mup": np.array([0.80, 0.86, 0.91, 0.95, 1.0]), "standard": np.array([0.7, 0.7, 0.75, 0.8, 1.0])},
    )


def rows(report):
    return {r.name: r for r in report.rows}


def failed_after(change, **kwargs):
    obs = dataclasses.replace(good(), **change(good()))
    report = judge(obs, Targets(**kwargs))
    return report.failed_claims, report.verdict


def test_every_claim_holds_on_good_observables():
    report = judge(good(), Targets())
    assert report.verdict == "pass", [(r.name, r.value) for r in report.rows if not r.passed]
    assert sum(r.counted for r in report.rows) == 12
    assert all(r.claim and r.source for r in report.rows if r.counted)
    assert rows(report)["μP: CKA of the last hidden layer with width 512's, widths 32–256"].value == [0.8, 0.86, 0.91, 0.95]  # the widest's own 1 left out


@pytest.mark.parametrize("layer", [0, 1, 2])
def test_mup_coordinate_slope_fails_when_a_layer_grows(layer):
    def change(obs):
        exps = [0.0, 0.0, 0.0]
        exps[layer] = 0.15  # just beyond the 0.1 target
        return {"delta": {**obs.delta, "mup": power(exps)}}

    failed, verdict = failed_after(change)
    assert len(failed) == 1 and failed[0] == f"μP coordinate check, {LAYERS[layer]} layer: largest |slope| of Δh vs width over the steps it moved"
    assert verdict == "partial"


def test_mup_coordinate_slope_fails_when_a_layer_is_off_at_one_step_only():
    def change(obs):
        delta = obs.delta["mup"].copy()
        delta[1, :, 2] = power([0.0, 0.0, -0.2])[1, :, 2]  # the output layer shrinks with width after the first step, flat later
        return {"delta": {**obs.delta, "mup": delta}}

    failed, verdict = failed_after(change)
    assert failed == ["μP coordinate check, output layer: largest |slope| of Δh vs width over the steps it moved"]
    assert verdict == "partial"
    report = judge(dataclasses.replace(good(), **change(good())), Targets())
    assert rows(report)[failed[0]].reason == "at step 1" and rows(report)[failed[0]].value == pytest.approx(-0.2, abs=1e-9)


def test_a_mup_slope_that_is_not_a_number_at_a_later_step_fails_its_row():
    """The largest |slope| was taken with NaN compared as smaller than anything, so a step whose slope could not be
    fitted (a non-positive Δh at one width) left the row passing on the other steps; the report is invalid as well."""
    delta = good().delta["mup"].copy()
    delta[2, 3, 1] = 0.0  # the hidden layer's Δh at one width after step 2
    report = judge(dataclasses.replace(good(), delta={**good().delta, "mup": delta}), Targets())
    hidden = rows(report)["μP coordinate check, hidden layer: largest |slope| of Δh vs width over the steps it moved"]
    assert not hidden.passed and np.isnan(hidden.value) and hidden.reason == "at step 2"
    assert report.verdict == "invalid" and report.failed_preconditions == ["μP: every layer moved and stayed finite in the coordinate check"]


def test_layers_that_wait_for_a_zero_readout_are_judged_from_their_first_move():
    """With the readout starting at zero only the readout moves on step 1: the others are judged from step 2."""

    def waiting(obs, output_slope=0.0):
        delta = power([0.0, 0.0, output_slope])
        delta[1, :, :2] = 0.0  # input and hidden layers: no gradient through a zero readout
        return {"delta": {**obs.delta, "mup": delta}}

    report = judge(dataclasses.replace(good(), **waiting(good())), Targets())
    assert report.verdict == "pass", [(r.name, r.value, r.reason) for r in report.rows if not r.passed]
    table = rows(report)
    assert table["μP coordinate check, hidden layer: slope after 1 step(s)"].value == "not moved"
    assert table["μP coordinate check, hidden layer: largest |slope| of Δh vs width over the steps it moved"].reason == "moves from step 2: the readout starts at zero"
    failed, _ = failed_after(lambda o: waiting(o, output_slope=0.2))
    assert failed == ["μP coordinate check, output layer: largest |slope| of Δh vs width over the steps it moved"]

    def half_still(obs):  # zero at some widths only: a measurement failure, not a layer waiting
        delta = power([0.0, 0.0, 0.0])
        delta[1, :3, 1] = 0.0
        return {"delta": {**obs.delta, "mup": delta}}

    report = judge(dataclasses.replace(good(), **half_still(good())), Targets())
    assert report.verdict == "invalid" and report.failed_preconditions == ["μP: every layer moved and stayed finite in the coordinate check"]


@pytest.mark.parametrize("layer", [0, 1, 2])
def test_sp_coordinate_slope_fails_away_from_its_prediction(layer):
    def change(obs):
        exps = [theory.predicted_exponent("standard", "adam", k) for k in LAYERS]
        exps[layer] -= 0.3
        return {"delta": {**obs.delta, "standard": power(exps)}}

    failed, _ = failed_after(change)
    assert failed == [f"SP coordinate check, {LAYERS[layer]} layer: slope of Δh vs width after 1 step"]


def test_first_layer_rows_fail_when_mup_is_lazy_or_ntk_is_not():
    failed, _ = failed_after(lambda o: {"first_layer": {**o.first_layer, "mup": 0.02 * (np.array(WIDTHS) / 64.0) ** -0.5}})
    assert failed == ["μP: slope of the first layer's weight change vs width"]
    failed, _ = failed_after(lambda o: {"first_layer": {**o.first_layer, "ntk": 0.02 * np.ones(len(WIDTHS))}})
    assert failed == ["NTK: slope of the first layer's weight change vs width"]


def test_transfer_fails_when_mup_drifts_and_when_sp_does_not():
    failed, _ = failed_after(lambda o: {"final_loss": {**o.final_loss, "mup": bowls([2, 3, 3, 4, 4], [1e-2, 5e-3, 2e-3, 1e-3, 5e-4])}})
    assert failed == ["μP: best learning rate moves across widths 32–512 (grid steps of 2×)"]
    failed, _ = failed_after(lambda o: {"final_loss": {**o.final_loss, "standard": bowls([3, 3, 3, 2, 2], [1e-2] * 5)}})
    assert failed == ["SP: best learning rate moves across widths 32–512 (grid steps of 2×)"]


def test_wider_is_better_fails_when_a_wider_model_is_worse():
    failed, _ = failed_after(lambda o: {"final_loss": {**o.final_loss, "mup": bowls([3, 3, 4, 4, 4], [1e-2, 5e-3, 2e-3, 3e-3, 5e-4])}})
    assert failed == ["μP: training loss at the best learning rate falls with every doubling of width"]


def test_cka_row_fails_when_representations_do_not_converge():
    failed, _ = failed_after(lambda o: {"cka": {**o.cka, "mup": np.array([0.8, 0.9, 0.85, 0.95, 1.0])}})
    assert failed == ["μP: CKA of the last hidden layer with width 512's, widths 32–256"]


def test_preconditions_make_the_report_invalid():
    obs = good()
    edge = dataclasses.replace(obs, final_loss={**obs.final_loss, "mup": bowls([0, 0, 0, 0, 0], [1e-2, 5e-3, 2e-3, 1e-3, 5e-4])})
    assert judge(edge, Targets()).verdict == "invalid"
    stuck = dataclasses.replace(obs, initial_loss={p: np.full((5, 7), 1e-2) for p in obs.initial_loss})
    assert judge(stuck, Targets()).failed_preconditions == ["μP: best final loss / initial loss, worst width", "SP: best final loss / initial loss, worst width"]
    frozen = dataclasses.replace(obs, delta={**obs.delta, "mup": 0 * obs.delta["mup"]})
    assert judge(frozen, Targets()).verdict == "invalid"


def test_slope_and_best_indices():
    assert slope([1, 2, 4, 8], [3.0, 3.0 * 2**0.5, 6.0, 6.0 * 2**0.5]) == pytest.approx(0.5, abs=1e-12)
    assert np.isnan(slope([1, 2], [1.0, 0.0]))
    assert best_indices(np.array([[3.0, 1.0, np.inf], [np.nan, 2.0, 1.0]])).tolist() == [1, 2]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"coord_widths": (64, 128, 1024)}, "coord_widths must be ≥ 3 increasing widths spanning ≥ 32×"),
        ({"lr_widths": (32, 64, 128)}, "lr_widths must be ≥ 4"),
        ({"lrs": tuple(2.0**k for k in range(6))[:6]}, "lrs must be ≥ 7"),
        ({"lrs": tuple(3.0**k for k in range(8))}, "each twice the previous"),
        ({"optimizer": "rmsprop"}, "mup.optimizer"),
    ],
)
def test_bad_presets_raise(change, message):
    with pytest.raises(ConfigError, match=message):
        dataclasses.replace(MupPreset(), **change)


def test_quick_preset_meets_the_grid_sizes():
    p = PRESETS["quick"]
    assert p.coord_widths[-1] / p.coord_widths[0] >= 32 and len(p.lrs) >= 7 and len(p.lr_widths) >= 4 and p.lr_widths[-1] / p.lr_widths[0] >= 16


def test_zero_init_starts_the_mup_readouts_at_zero_and_leaves_sp_and_ntk_alone():
    from bridge.overrides import apply
    from case_studies import get_case_study

    study = get_case_study("mup")
    runs = study.runs(PRESETS["quick"], seed=0)
    assert {cfg.model.parametrisation for cfg in runs.values() if cfg.model.zero_init} == {"mup"}
    assert all(cfg.model.zero_init for cfg in runs.values() if cfg.model.parametrisation == "mup")
    assert not any(cfg.model.zero_init for cfg in study.runs(apply(PRESETS["quick"], ["zero_init=false"]), seed=0).values())


def test_the_coordinate_check_trains_on_its_own_batch_and_the_grid_decays_to_zero():
    from case_studies import get_case_study

    preset = PRESETS["quick"]
    runs = get_case_study("mup").runs(preset, seed=0)
    coord = [cfg for key, cfg in runs.items() if not key.startswith("lr_")]
    grid = [cfg for key, cfg in runs.items() if key.startswith("lr_")]
    assert len(coord) == 3 * len(preset.coord_widths) * preset.seeds and len(grid) == 2 * len(preset.lr_widths) * len(preset.lrs) * preset.seeds
    assert {cfg.task.n_train for cfg in coord} == {preset.coord_n_train} and {cfg.task.n_train for cfg in grid} == {preset.task.n_train}
    assert {cfg.train.decay for cfg in coord} == {"none"} and {cfg.train.decay for cfg in grid} == {preset.lr_decay} == {"linear"}
    with pytest.raises(ConfigError, match="mup.lr_decay must be one of"):
        dataclasses.replace(preset, lr_decay="step")


def test_each_report_trains_its_own_block_of_seeds():
    from case_studies import get_case_study

    study, preset = get_case_study("mup"), PRESETS["quick"]
    blocks = [{cfg.seed for cfg in study.runs(preset, seed=s).values()} for s in (0, 1, 2)]
    assert preset.seeds == 3 and blocks == [{0, 1, 2}, {3, 4, 5}, {6, 7, 8}]
    one = study.runs(dataclasses.replace(preset, seeds=1), seed=4)
    assert {cfg.seed for cfg in one.values()} == {4} and "lr_standard_w512_6_s0" in one and "coord_ntk_w256_s0" in one
    with pytest.raises(ConfigError, match="mup.seeds must be a positive integer"):
        dataclasses.replace(preset, seeds=0)


def test_the_transfer_is_judged_on_the_mean_over_seeds_and_each_seeds_best_rate_is_shown():
    obs = good()
    noisy = np.stack([obs.final_loss["mup"] * f for f in (0.9, 1.0, 1.1)])
    noisy[0, 0, 2] = 0.5 * noisy[0, 0, 3]  # one seed alone would put width 32's best rate a step lower
    report = judge(dataclasses.replace(obs, seed_final_loss={"mup": noisy}), Targets())
    (each,) = [r for r in report.checks if r.name.startswith("μP: each seed's own best learning-rate index")]
    assert each.value[0][0] == 2 and each.value[1] == [3, 3, 4, 4, 4] and not each.counted
    assert report.verdict == "pass" and report.extra["best_lr_per_seed"]["mup"][1][0] == obs.lrs[3]


def test_sp_coordinate_slopes_are_judged_after_the_first_step_only():
    """SP's exponents are predicted for the first step: later steps may scale otherwise without failing the rows."""
    obs = good()
    later = power([theory.predicted_exponent("standard", "adam", k) + 0.5 for k in LAYERS])
    delta = obs.delta["standard"].copy()
    delta[2:] = later[2:]
    report = judge(dataclasses.replace(obs, delta={**obs.delta, "standard": delta}), Targets())
    for kind in LAYERS:
        row = rows(report)[f"SP coordinate check, {kind} layer: slope of Δh vs width after 1 step"]
        assert row.passed and row.value == pytest.approx(theory.predicted_exponent("standard", "adam", kind), abs=1e-9)
    assert report.extra["slopes"]["standard"]["hidden"][1] == pytest.approx(theory.predicted_exponent("standard", "adam", "hidden") + 0.5, abs=1e-9)


def test_a_best_learning_rate_at_the_top_of_the_grid_is_not_bracketed():
    report = judge(dataclasses.replace(good(), final_loss={**good().final_loss, "mup": bowls([6] * 5, [1e-2, 5e-3, 2e-3, 1e-3, 5e-4])}), Targets())
    assert report.verdict == "invalid" and report.failed_preconditions == ["μP: best learning rate inside the grid at every width"]
    assert rows(report)["μP: best learning rate inside the grid at every width"].value == [6] * 5


def test_wider_is_better_needs_a_strict_fall_and_sp_drift_of_exactly_the_target_passes():
    failed, _ = failed_after(lambda o: {"final_loss": {**o.final_loss, "mup": bowls([3, 3, 4, 4, 4], [1e-2, 5e-3, 5e-3, 1e-3, 5e-4])}})  # a tie between widths 64 and 128
    assert failed == ["μP: training loss at the best learning rate falls with every doubling of width"]
    report = judge(dataclasses.replace(good(), final_loss={**good().final_loss, "standard": bowls([3, 3, 2, 2, 1], [1e-2] * 5)}), Targets())
    drift = rows(report)["SP: best learning rate moves across widths 32–512 (grid steps of 2×)"]
    assert drift.value == 2 == Targets().sp_lr_shift and drift.passed and report.verdict == "pass"


class CurveRun:
    """A finished run as ``observables`` reads it: ``curve(name, layer=...)`` from a dict of arrays."""

    def __init__(self, curves):
        self.curves = curves

    def curve(self, name, layer=None):
        values = np.asarray(self.curves[(name, layer)], dtype=float)
        return np.arange(float(len(values))), values


def _stored_runs(preset):
    """Every run of ``preset`` with known curves: Δh = (1 + layer) · W · (t + 1) · (1 + k) for seed k, the first layer's
    weight change W · (1 + k) at the end (99 after step 1), and final losses with their minimum at index
    j + 1 for the j-th width under μP (index 3 under SP); one SP run of seed 1 ends in NaN."""
    from case_studies.mup.analysis import coord_key, lr_key

    runs = {}
    for k in range(preset.seeds):
        for p in preset.coord_parametrisations:
            for w in preset.coord_widths:
                steps = np.arange(preset.coord_steps + 1)
                curves = {("coordinates/delta", layer): (1 + layer) * w * (steps + 1) * (1 + k) for layer in range(3)}
                runs[coord_key(p, w, preset, k)] = CurveRun(curves | {("coordinates/weight_delta", 0): [0.0, 99.0, w * (1 + k)]})
        for p in ("mup", "standard"):
            for j, w in enumerate(preset.lr_widths):
                for i in range(len(preset.lrs)):
                    centre = j + 1 if p == "mup" else 3
                    end = np.nan if (p, j, i, k) == ("standard", 0, 6, 1) else 1.0 + (i - centre) ** 2 + 0.1 * k
                    runs[lr_key(p, w, i, k)] = CurveRun({("loss/train", None): [2.0 + k, end]})
    return runs


@pytest.mark.parametrize("seeds", [2, 1])
def test_observables_average_each_measurement_over_the_reports_seeds(monkeypatch, seeds):
    import case_studies.mup.analysis as analysis

    preset = dataclasses.replace(PRESETS["quick"], seeds=seeds)
    asked = []

    def similarity(runs, preset, p, index, seed=0):
        asked.append((p, index, seed))
        return np.full(len(preset.lr_widths), 10.0 * index + seed)

    monkeypatch.setattr(analysis, "representation_similarity", similarity)
    obs = analysis.observables(_stored_runs(preset), preset)
    mean = (1 + 2) / 2 if seeds == 2 else 1.0  # the mean of 1 + k over the seeds
    w = np.array(preset.coord_widths, dtype=float)
    for p in preset.coord_parametrisations:
        expected = np.array([[[(1 + layer) * x * (t + 1) * mean for layer in range(3)] for x in w] for t in range(preset.coord_steps + 1)])
        np.testing.assert_allclose(obs.delta[p], expected, rtol=1e-12)
        np.testing.assert_allclose(obs.first_layer[p], w * mean, rtol=1e-12)
    assert best_indices(obs.final_loss["mup"]).tolist() == [1, 2, 3, 4, 5] and best_indices(obs.final_loss["standard"]).tolist() == [3] * 5
    np.testing.assert_allclose(obs.initial_loss["mup"], np.full((5, 7), 2.0 + (seeds - 1) / 2), rtol=1e-12)
    assert sorted(asked) == sorted([(p, i, k) for p, i in (("mup", 5), ("standard", 3)) for k in range(seeds)])  # the rate best for the widest model
    np.testing.assert_allclose(obs.cka["mup"], np.full(5, 50.0 + (seeds - 1) / 2), rtol=1e-12)
    if seeds == 1:
        assert obs.seed_final_loss == {} and np.isfinite(obs.final_loss["standard"]).all()
    else:
        assert obs.seed_final_loss["standard"].shape == (2, 5, 7) and obs.seed_final_loss["standard"][1, 0, 6] == np.inf
        assert obs.final_loss["standard"][0, 6] == np.inf and obs.final_loss["mup"][2, 3] == pytest.approx(1.05, rel=1e-12)


@pytest.mark.parametrize("cka", [(0.80, 0.86, 0.86, 0.95, 1.0), (0.90, 0.86, 0.91, 0.95, 1.0)])
def test_the_cka_row_needs_a_strict_rise_at_every_width(cka):
    """A tie between two widths, or a fall between the two narrowest, is not 'strictly increasing with width'."""
    failed, verdict = failed_after(lambda obs: {"cka": {**obs.cka, "mup": np.array(cka)}})
    assert failed == ["μP: CKA of the last hidden layer with width 512's, widths 32–256"] and verdict == "partial"


def test_a_first_layer_slope_that_is_not_a_number_fails_its_row():
    """A first-layer weight change of 0 at one width has no log slope: the claim is not met (no precondition covers it)."""
    first = good().first_layer["mup"].copy()
    first[2] = 0.0
    failed, verdict = failed_after(lambda obs: {"first_layer": {**obs.first_layer, "mup": first}})
    assert failed == ["μP: slope of the first layer's weight change vs width"] and verdict == "partial"


def test_training_made_progress_only_below_half_the_initial_loss():
    """A width whose best final loss is 0.7 of its initial loss has not made the progress the precondition asks (< 0.5)."""
    initial = {p: good().initial_loss[p].copy() for p in ("mup", "standard")}
    initial["mup"][2] = good().final_loss["mup"][2].min() / 0.7
    report = judge(dataclasses.replace(good(), initial_loss=initial), Targets())
    assert report.failed_preconditions == ["μP: best final loss / initial loss, worst width"] and report.verdict == "invalid"
    assert rows(report)["μP: best final loss / initial loss, worst width"].value == pytest.approx(0.7)


def test_the_figures_draw_the_observables_the_analysis_kept(monkeypatch, tmp_path):
    """The observables (every run's curves, the hidden layers' CKA) are read once for the report and its figures."""
    from types import SimpleNamespace

    import case_studies.mup.analysis as analysis

    calls = []
    monkeypatch.setattr(analysis, "observables", lambda runs, preset: calls.append(1) or good())
    runs = {"main": SimpleNamespace(config=SimpleNamespace(seed=0), path=tmp_path, figures_dir=tmp_path / "figures")}
    report = analysis.analyse(runs, PRESETS["quick"])
    paths = analysis.figures(runs, report, PRESETS["quick"])
    assert calls == [1] and paths == ["figures/coordinate_check.png", "figures/lr_transfer.png", "figures/cka.png"]
    assert all((tmp_path / p).stat().st_size > 5000 for p in paths)
