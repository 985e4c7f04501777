"""Property tests of mup's judge on drawn numbers (no training): each counted row passes strictly inside its target
and fails strictly outside (both sides of the two-sided slope bands), a measurement at the target itself behaves as
the row's ``target`` text says, the verdict follows the report's rule over the rows made to fail, the rows do not
depend on the unit of the loss, of Δh or of the widths, nor on the order of the seeds, and a measurement that is
missing or not finite fails its row (with a reason) or is refused by name, never passes."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.theory import mup as theory
from case_studies.mup import PRESETS
from case_studies.mup.analysis import LAYERS, MupObservables, judge
from test_mup import LRS, WIDTHS, bowls, good, power

TG = PRESETS["quick"].targets
IN, OUT = 1 - 1e-6, 1 + 1e-6
QUICK = settings(max_examples=40, deadline=None)  # one judgement takes about 4 ms
NOT_FINITE = st.sampled_from([math.nan, math.inf, -math.inf])
SIDE = st.sampled_from([-1, 1])
MUP_ROW = "μP coordinate check, {} layer: largest |slope| of Δh vs width over the steps it moved"
SP_ROW = "SP coordinate check, {} layer: slope of Δh vs width after 1 step"
FIRST = {"mup": "μP: slope of the first layer's weight change vs width", "ntk": "NTK: slope of the first layer's weight change vs width"}
SHIFT = {"mup": "μP: best learning rate moves across widths 32–512 (grid steps of 2×)", "standard": "SP: best learning rate moves across widths 32–512 (grid steps of 2×)"}
FALLS = "μP: training loss at the best learning rate falls with every doubling of width"
CKA = "μP: CKA of the last hidden layer with width 512's, widths 32–256"
PROGRESS = "μP: best final loss / initial loss, worst width"
W = np.asarray(WIDTHS, dtype=float)


def row(obs, name, targets=TG):
    (found,) = [r for r in judge(obs, targets).rows if r.name == name]
    return found


def replaced(**fields):
    return dataclasses.replace(good(), **fields)


def with_delta(p, exponents):
    return replaced(delta={**good().delta, p: power(exponents)})


def with_first(p, exponent):
    return replaced(first_layer={**good().first_layer, p: 0.02 * (W / W[0]) ** exponent})


def with_best(p, centres):
    return replaced(final_loss={**good().final_loss, p: bowls(centres, [1e-2, 5e-3, 2e-3, 1e-3, 5e-4])})


def test_the_good_observables_pass_all_twelve_counted_rows():
    report = judge(good(), TG)
    assert report.verdict == "pass" and sum(r.counted for r in report.rows) == 12


@QUICK
@given(layer=st.sampled_from(range(3)), inside=st.floats(0.0, TG.mup_slope * IN), outside=st.floats(TG.mup_slope * OUT, 1.0), side=SIDE)
def test_a_mup_coordinate_slope_passes_strictly_inside_its_band_and_fails_outside_on_either_side(layer, inside, outside, side):
    for size, passes in ((inside, True), (outside, False)):
        exponents = [0.0, 0.0, 0.0]
        exponents[layer] = side * size
        found = row(with_delta("mup", exponents), MUP_ROW.format(LAYERS[layer]))
        assert found.passed is passes and found.value == pytest.approx(side * size, abs=1e-9)


@QUICK
@given(layer=st.sampled_from(range(3)), inside=st.floats(0.0, TG.sp_slope * IN), outside=st.floats(TG.sp_slope * OUT, 1.0), side=SIDE)
def test_an_sp_coordinate_slope_passes_strictly_inside_its_band_around_the_prediction_and_fails_outside(layer, inside, outside, side):
    predicted = [theory.predicted_exponent("standard", "adam", k) for k in LAYERS]
    for size, passes in ((inside, True), (outside, False)):
        exponents = list(predicted)
        exponents[layer] += side * size
        found = row(with_delta("standard", exponents), SP_ROW.format(LAYERS[layer]))
        assert found.passed is passes and found.value == pytest.approx(exponents[layer], abs=1e-9)


@QUICK
@given(inside=st.floats(0.0, IN), outside=st.floats(OUT, 4.0), side=SIDE)
def test_the_first_layer_rows_pass_strictly_inside_their_bands_and_fail_outside_on_either_side(inside, outside, side):
    for p, centre, tolerance in (("mup", 0.0, TG.first_layer_slope), ("ntk", TG.ntk_first_layer, TG.sp_slope)):
        for size, passes in ((inside, True), (outside, False)):
            found = row(with_first(p, centre + side * size * tolerance), FIRST[p])
            assert found.passed is passes and found.value == pytest.approx(centre + side * size * tolerance, abs=1e-9)


def test_a_slope_at_its_tolerance_passes_as_the_rows_target_text_says():
    """Every slope row reads ``|·| <= t`` or ``p ± t``: a measurement at the tolerance itself passes, one just beyond fails."""
    cases = [(with_delta("mup", [0.0, 0.07, 0.0]), MUP_ROW.format("hidden"), "mup_slope", lambda v: abs(v)),
             (with_delta("standard", [0.0, 1.13, 1.5]), SP_ROW.format("hidden"), "sp_slope", lambda v: abs(v - 1.0)),
             (with_first("mup", -0.04), FIRST["mup"], "first_layer_slope", lambda v: abs(v)),
             (with_first("ntk", -0.62), FIRST["ntk"], "sp_slope", lambda v: abs(v - TG.ntk_first_layer))]
    for obs, name, field, distance in cases:
        at = distance(row(obs, name).value)
        assert "<=" in row(obs, name).target or "±" in row(obs, name).target
        assert row(obs, name, dataclasses.replace(TG, **{field: at})).passed, name
        assert not row(obs, name, dataclasses.replace(TG, **{field: at * IN})).passed, name


@QUICK
@given(centres=st.lists(st.integers(1, len(LRS) - 2), min_size=5, max_size=5))
def test_the_mup_shift_passes_iff_it_is_at_most_its_target_and_the_sp_drift_iff_at_least_its_target(centres):
    shift = max(centres) - min(centres)
    assert row(with_best("mup", centres), SHIFT["mup"]).passed is (shift <= TG.mup_lr_shift)
    assert row(with_best("mup", centres), SHIFT["mup"]).value == shift
    assert row(with_best("standard", centres), SHIFT["standard"]).passed is (shift >= TG.sp_lr_shift)


@QUICK
@given(ratio=st.floats(0.01, 1.5))
def test_training_progress_passes_strictly_below_its_share_only(ratio):
    obs = good()
    initial = {p: v.copy() for p, v in obs.initial_loss.items()}
    initial["mup"][3] = obs.final_loss["mup"][3].min() / ratio
    found = row(replaced(initial_loss=initial), PROGRESS)
    assert found.value == pytest.approx(ratio, rel=1e-9) and found.passed is (found.value < TG.learned)
    at = replaced(initial_loss={**initial, "mup": np.full_like(initial["mup"], obs.final_loss["mup"].min(axis=1).max() / TG.learned)})
    assert not row(at, PROGRESS).passed  # "< learned": the share itself fails


@QUICK
@given(steps=st.lists(st.floats(0.0, 0.05), min_size=3, max_size=3), first=st.floats(0.3, 0.85))  # a linear CKA stays in [0, 1]
def test_the_cka_row_passes_iff_every_narrower_width_is_strictly_above_the_one_before(steps, first):
    values = np.cumsum([first, *steps])
    found = row(replaced(cka={"mup": np.append(values, 1.0)}), CKA)
    assert found.passed is all(s > 0 and b > a for s, a, b in zip(steps, values, values[1:]))


BREAK = {  # name: (field, parametrisation, broken value, the counted row it fails)
    "mup hidden": ("delta", "mup", lambda: power([0.0, 0.3, 0.0]), MUP_ROW.format("hidden")),
    "sp output": ("delta", "standard", lambda: power([0.0, 1.0, 1.0]), SP_ROW.format("output")),
    "first mup": ("first_layer", "mup", lambda: 0.02 * (W / W[0]) ** 0.5, FIRST["mup"]),
    "first ntk": ("first_layer", "ntk", lambda: 0.02 * np.ones(len(W)), FIRST["ntk"]),
    "sp drift": ("final_loss", "standard", lambda: bowls([3, 3, 3, 2, 2], [1e-2] * 5), SHIFT["standard"]),
    "cka": ("cka", "mup", lambda: np.array([0.9, 0.8, 0.85, 0.95, 1.0]), CKA),
}


@QUICK
@given(broken=st.sets(st.sampled_from(sorted(BREAK))))
def test_the_verdict_is_pass_without_a_broken_row_partial_with_some_and_the_broken_rows_are_the_failed_ones(broken):
    obs = good()
    fields = {key: dict(getattr(obs, key)) for key in ("delta", "first_layer", "final_loss", "cka")}
    for name in broken:
        key, p, value, _ = BREAK[name]
        fields[key][p] = value()
    report = judge(replaced(**fields), TG)
    assert set(report.failed_claims) == {BREAK[name][3] for name in broken} and not report.failed_preconditions
    assert report.verdict == ("pass" if not broken else "partial")


@QUICK
@given(unit=st.floats(1e-3, 1e3), size=st.floats(1e-3, 1e3), scale=st.sampled_from([2, 4, 16]))
def test_the_rows_do_not_depend_on_the_unit_of_the_loss_of_delta_h_or_of_the_widths(unit, size, scale):
    base = judge(good(), TG)
    obs = good()
    moved = replaced(final_loss={p: v * unit for p, v in obs.final_loss.items()}, initial_loss={p: v * unit for p, v in obs.initial_loss.items()},
                     delta={p: v * size for p, v in obs.delta.items()}, first_layer={p: v * size for p, v in obs.first_layer.items()}, coord_widths=tuple(scale * w for w in WIDTHS))
    for a, b in zip(base.rows, judge(moved, TG).rows):
        assert a.name == b.name and a.passed is b.passed
        if isinstance(a.value, float):
            assert b.value == pytest.approx(a.value, rel=1e-6, abs=1e-9), a.name


@QUICK
@given(order=st.permutations(range(3)))
def test_the_order_of_the_seeds_changes_no_counted_row(order):
    noisy = np.stack([good().final_loss["mup"] * f for f in (0.9, 1.0, 1.1)])
    base = judge(replaced(seed_final_loss={"mup": noisy}), TG)
    shuffled = judge(replaced(seed_final_loss={"mup": noisy[list(order)]}), TG)
    assert [(r.name, r.value, r.passed) for r in base.rows if r.counted] == [(r.name, r.value, r.passed) for r in shuffled.rows if r.counted]


@QUICK
@given(bad=NOT_FINITE, layer=st.sampled_from(range(3)), width=st.integers(0, len(WIDTHS) - 1))
def test_a_measurement_that_is_not_finite_passes_no_row(bad, layer, width):
    obs = good()
    cases = []
    for p, name in (("mup", MUP_ROW.format(LAYERS[layer])), ("standard", SP_ROW.format(LAYERS[layer]))):
        delta = obs.delta[p].copy()
        delta[1, width, layer] = bad
        cases.append((replaced(delta={**obs.delta, p: delta}), name))
    for p in FIRST:
        first = obs.first_layer[p].copy()
        first[width] = bad
        cases.append((replaced(first_layer={**obs.first_layer, p: first}), FIRST[p]))
    cka = obs.cka["mup"].copy()
    cka[min(width, 3)] = bad
    cases.append((replaced(cka={**obs.cka, "mup": cka}), CKA))
    for obs_, name in cases:
        assert not row(obs_, name).passed, (name, bad)


@pytest.mark.parametrize("bad", [math.inf, 0.0, math.nan, -1.0])
def test_an_initial_loss_that_is_not_a_positive_finite_number_fails_the_progress_precondition_with_a_reason(bad):
    """An infinite initial loss made the ratio 0: the precondition passed and the report could pass."""
    obs = good()
    initial = {p: v.copy() for p, v in obs.initial_loss.items()}
    initial["mup"][2] = bad
    report = judge(replaced(initial_loss=initial), TG)
    found = [r for r in report.rows if r.name == PROGRESS][0]
    assert not found.passed and found.reason == "initial loss not a positive finite number at widths [128]"
    assert report.verdict == "invalid" and report.failed_preconditions == [PROGRESS]


def test_an_infinite_best_loss_at_the_narrowest_width_is_not_a_fall():
    """inf − 0.005 is −inf < 0: the row read a width whose every rate diverged as 'strictly decreasing'."""
    losses = good().final_loss["mup"].copy()
    losses[0] = math.inf
    found = row(replaced(final_loss={**good().final_loss, "mup": losses}), FALLS)
    assert not found.passed and found.reason == "a best final loss is not finite" and found.value[0] == math.inf


def test_a_claim_whose_measurement_is_missing_fails_with_a_reason_and_is_not_dropped():
    """Without the μP CKA or the NTK first layer, their counted rows were left out and the report passed on the others."""
    obs = good()
    report = judge(replaced(cka={}, first_layer={"mup": obs.first_layer["mup"]}), TG)
    assert sum(r.counted for r in report.rows) == 12 and report.verdict == "partial"
    assert {r.name: r.reason for r in report.rows if r.counted and not r.passed} == {CKA: "no μP CKA measured", FIRST["ntk"]: "no NTK first-layer weight change measured"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda o: {"final_loss": {p: v[:4] for p, v in o.final_loss.items()}}, r"final_loss\['mup'\] must be .* shape \(5, 7\), got shape \(4, 7\)"),
        (lambda o: {"delta": {p: v[:1] for p, v in o.delta.items()}}, r"delta\['mup'\] must be .* got shape \(1, 6, 3\)"),
        (lambda o: {"delta": {"mup": o.delta["mup"]}}, r"delta must hold mup and standard, got \['mup'\]"),
        (lambda o: {"cka": {"mup": np.ones(1)}}, r"cka\['mup'\] must be .* shape \(5,\), got shape \(1,\)"),
        (lambda o: {"coord_widths": (64,), "delta": {p: v[:, :1] for p, v in o.delta.items()}, "first_layer": {p: v[:1] for p, v in o.first_layer.items()}}, r"coord_widths must be at least 2"),
        (lambda o: {"lr_widths": (32, 32, 128, 256, 512)}, r"lr_widths must be at least 3 increasing"),
        (lambda o: {"lrs": (*LRS[:-1], math.inf)}, r"lrs must be at least 3 increasing positive finite"),
        (lambda o: {"initial_loss": {"mup": o.initial_loss["mup"]}}, r"initial_loss must hold the parametrisations of final_loss"),
    ],
)
def test_observables_of_the_wrong_shape_are_refused_by_name(change, message):
    """They raised IndexError, KeyError or numpy's RankWarning inside the judge, or judged an empty CKA row as rising."""
    with pytest.raises(ValueError, match=message):
        MupObservables(**{**dataclasses.asdict(good()), **change(good())})


@QUICK
@given(layer=st.integers(0, 2), step=st.integers(1, 2))
def test_a_layer_whose_delta_h_returns_to_exactly_zero_at_every_width_after_it_moved_fails_the_precondition_and_its_row(layer, step):
    """Δh that moved on step 1 and read 0 at every width on step 2 was taken as a layer still waiting: the step was not judged and the report passed."""
    delta = good().delta["mup"].copy()
    delta[1 + step, :, layer] = 0.0  # moved on step 1 (and, for step 1, moves again on step 3)
    obs = replaced(delta={**good().delta, "mup": delta})
    report = judge(obs, TG)
    (pre,) = [r for r in report.rows if r.name == "μP: every layer moved and stayed finite in the coordinate check"]
    assert not pre.passed and pre.reason == f"Δh back to exactly 0 at every width after it moved: {LAYERS[layer]} layer at step {step + 1}"
    found = row(obs, MUP_ROW.format(LAYERS[layer]))
    assert not found.passed and math.isnan(found.value) and report.verdict == "invalid"


@pytest.mark.parametrize(("last", "passes"), [(1.0 + 1e-12, True), (1.0 + 1e-6, False), (1.2, False)])
def test_a_cka_above_1_beyond_rounding_fails_the_cka_row_with_a_reason(last, passes):
    """A linear CKA lies in [0, 1]: widths at 0.8, 0.9, 0.95 and 1 + 1e-6 passed as strictly increasing."""
    found = row(replaced(cka={"mup": np.array([0.8, 0.9, 0.95, last, 1.0])}), CKA)
    assert found.passed is passes and found.reason == ("" if passes else f"a CKA outside [0, 1]: [{last!r}]")
