"""Property tests of deep-linear's judge on drawn numbers (no training): each counted row and each precondition
passes strictly inside its target (read from ``Targets``) and fails strictly outside, with the boundary the row's
target text states; the verdict follows the report's rule over the rows made to fail; the report does not depend on
the unit of a step (the learning rate halved and every step doubled); and broken measurements (too few checkpoints,
a chance s.d. that is not a finite number >= 0, a mode strength that is not finite) fail their row with a reason
or are refused by name, never pass."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.report import BridgeReport
from case_studies.deep_linear import PRESETS, analyse_run
from test_deep_linear import RATIO_SD, STEPS, SyntheticRun, fresh, row

TG = PRESETS["quick"].targets
IN, OUT = 1 - 1e-6, 1 + 1e-6
QUICK = settings(max_examples=25, deadline=None)  # one judgement of the synthetic run takes about 10 ms
BASE = SyntheticRun()


def run_with(**curves):
    """A copy of the synthetic run with the curves named ``observable__index`` replaced."""
    run = fresh(BASE)
    for key, value in curves.items():
        name, index = key.rsplit("__", 1)
        run.curves[(name.replace("_", "/", 1), int(index))] = value
    return run


def dipped(mode: int, size: float, at: float = 400.0) -> np.ndarray:
    """Mode ``mode``'s closed-form curve with a dip of ``size`` × s centred on checkpoint ``at`` (exactly ``size`` there)."""
    s = BASE.preds[mode].extra["s"]
    return BASE.curves[("mode/strength", mode)] - size * s * np.exp(-(((STEPS - at) / 30) ** 2))


def with_final(key: tuple, value: float) -> np.ndarray:
    curve = BASE.curves[key].copy()
    curve[-1] = value
    return curve


# ---------------------------------------------------------------- each row against its target


@QUICK
@given(scale=st.floats(0.2, 5.0), side=st.sampled_from([IN, 1.0, OUT]))
def test_a_half_rise_match_passes_iff_its_relative_error_is_within_the_tolerance_field(scale, side):
    """Mode 4 rises late; the tolerance is drawn around its measured error: ``<=`` passes ("within 15 %")."""
    p = BASE.preds[4]
    from bridge.theory import saxe

    run = run_with(mode_strength__4=saxe.mode_trajectory(STEPS / (1 + 0.1 * scale), p.extra["s"], p.extra["u0"], p.extra["lr"]))
    error = analyse_run(run).matches[4].relative_error
    tolerance = error * side
    found = analyse_run(run, dataclasses.replace(TG, tolerance=tolerance)).matches[4]
    assert found.relative_error == error and found.tolerance == tolerance and found.passed is (side >= 1.0)


@QUICK
@given(inside=st.floats(0.0, TG.trajectory * IN), outside=st.floats(TG.trajectory * OUT, 0.45), level=st.sampled_from([(2, 2), (3, 5), (4, 11)]))
def test_a_level_passes_the_closed_form_iff_its_worst_distance_is_at_most_the_trajectory_target(inside, outside, level):
    k, mode = level
    name = f"level {k} modes follow the closed-form trajectory"
    for size, passes in ((inside, True), (outside, False)):
        found = row(analyse_run(run_with(**{f"mode_strength__{mode}": dipped(mode, size)})), name)
        assert found.value == pytest.approx(size, rel=1e-9, abs=1e-6) and found.passed is passes and found.target == f"<= {TG.trajectory:g}"
    at = row(analyse_run(run_with(**{f"mode_strength__{mode}": dipped(mode, inside)}), dataclasses.replace(TG, trajectory=max(inside, 1e-9) * OUT)), name)
    assert at.passed  # the boundary passes: "<="


@QUICK
@given(inside=st.floats(0.0, TG.learned * IN), outside=st.floats(TG.learned * OUT, 0.4), sign=st.sampled_from([-1, 1]), mode=st.integers(0, 15))
def test_every_mode_learned_needs_each_final_strength_strictly_within_the_learned_share_of_s_on_either_side(inside, outside, sign, mode):
    s = BASE.preds[mode].extra["s"]
    for off, passes in ((inside, True), (outside, False)):
        report = analyse_run(run_with(**{f"mode_strength__{mode}": with_final(("mode/strength", mode), s * (1 + sign * off))}))
        learned = row(report, "every mode learned")
        assert learned.role == "precondition" and learned.passed is passes and (report.verdict == "invalid") is not passes
    between = run_with(**{f"mode_strength__{mode}": with_final(("mode/strength", mode), s * (1 + sign * 0.015))})  # inside 0.02, outside 0.01
    strict = row(analyse_run(between, dataclasses.replace(TG, learned=0.01)), "every mode learned")
    assert row(analyse_run(between), "every mode learned").passed and strict.target == "< 0.01" and not strict.passed


@QUICK
@given(factor=st.floats(0.0, 4.0), k=st.sampled_from([1, 2, 3]))
def test_a_level_is_clear_at_the_end_iff_its_ratio_exceeds_one_plus_clear_sds_chance_sds(factor, k):
    end = 1 + factor * TG.clear_sds * RATIO_SD
    found = row(analyse_run(run_with(**{f"differentiation_ratio__{k}": with_final(("differentiation/ratio", k), end)})), f"level {k} differentiation clear at end")
    assert found.passed is (end > 1 + TG.clear_sds * RATIO_SD) and found.role == "precondition"


@QUICK
@given(shift=st.floats(-0.3, 0.3))
def test_level_1_differentiates_before_level_2_iff_its_half_rise_is_strictly_earlier(shift):
    run = fresh(BASE)
    run.set_level(1, np.mean([p.step for p in BASE.preds[2:4]]) * (1 + shift))
    report = analyse_run(run)
    level1, level2 = report.matches[1].mechanism_step, report.matches[2].mechanism_step  # modes 1 and 2: levels 1 and 2
    assert row(report, "level 1 differentiates before level 2").passed is (level1 < level2)


# ---------------------------------------------------------------- the verdict rule

BREAK = {  # what each change breaks: counted rows (by the start of their name) and preconditions
    "late level 3": (lambda r: r.set_level(3, 1.3 * np.mean([p.step for p in BASE.preds[4:8]])), {f"mode {m} (" for m in range(4, 8)}, set()),
    "level 2 dip": (lambda r: r.curves.update({("mode/strength", 2): dipped(2, 0.3), ("mode/strength", 3): dipped(3, 0.3)}), {"level 2 modes follow"}, set()),
    "level 4 dip": (lambda r: r.curves.update({("mode/strength", 8): dipped(8, 0.3, at=500)}), {"level 4 modes follow"}, set()),
    "tie 1-2": (lambda r: r.set_level(2, BASE.preds[1].step), {"level 1 differentiates before", "mode 2 (", "mode 3 ("}, set()),
    "mode 12 unlearned": (lambda r: r.curves.update({("mode/strength", 12): with_final(("mode/strength", 12), 0.9 * BASE.preds[12].extra["s"])}), set(), {"every mode learned"}),
    "level 1 not clear": (lambda r: r.curves.update({("differentiation/ratio", 1): with_final(("differentiation/ratio", 1), 1.0)}), set(), {"level 1 differentiation clear"}),
}


@settings(max_examples=30, deadline=None)
@given(broken=st.sets(st.sampled_from(sorted(BREAK))))
def test_the_verdict_follows_the_rows_made_to_fail(broken):
    run = fresh(BASE)
    for name in broken:
        BREAK[name][0](run)
    report = analyse_run(run)
    claims = set().union(*(BREAK[n][1] for n in broken)) if broken else set()
    preconditions = set().union(*(BREAK[n][2] for n in broken)) if broken else set()
    failed = [r for r in report.rows if not r.passed and r.role != "info"]
    assert {r.name for r in failed if r.counted} == {r.name for r in report.rows if r.counted and r.name.startswith(tuple(claims))}
    assert {r.name for r in failed if r.role == "precondition"} == {r.name for r in report.rows if r.role == "precondition" and r.name.startswith(tuple(preconditions))}
    expected = "invalid" if preconditions else "pass" if not claims else "partial"
    assert report.verdict == expected == BridgeReport("deep-linear", "custom", 0, matches=report.matches, checks=report.checks).verdict


# ---------------------------------------------------------------- the unit of a step


class Rescaled:
    """The synthetic run trained at ``lr / c`` with every checkpoint at ``c`` times its step: the same dynamics in other step units."""

    def __init__(self, base: SyntheticRun, c: float) -> None:
        self.base, self.c = base, c
        train = dataclasses.replace(base.config.train, lr=base.config.train.lr / c)
        self.config = dataclasses.replace(base.config, train=train)

    def task_data(self):
        return self.base.task_data()

    def model_at(self, step: int):
        return self.base.model_at(step)

    def curve(self, name: str, **index):
        steps, values = self.base.curve(name, **index)
        return steps * self.c, values


@settings(max_examples=10, deadline=None)
@given(c=st.floats(0.25, 4.0), broken=st.sampled_from([None, "late level 3", "level 2 dip", "tie 1-2"]))
def test_the_report_does_not_depend_on_the_unit_of_a_step(c, broken):
    run = fresh(BASE)
    if broken:
        BREAK[broken][0](run)
    base, scaled = analyse_run(run), analyse_run(Rescaled(run, c))
    assert scaled.verdict == base.verdict
    for a, b in zip(base.matches, scaled.matches, strict=True):
        assert b.passed is a.passed and b.relative_error == pytest.approx(a.relative_error, rel=1e-6, abs=1e-9)
        assert b.observed_step == pytest.approx(c * a.observed_step, rel=1e-9)
    for a, b in zip(base.checks, scaled.checks, strict=True):
        assert b.passed is a.passed and (b.value == pytest.approx(a.value, rel=1e-6, abs=1e-9) if isinstance(a.value, float) else True)


# ---------------------------------------------------------------- broken measurements


@pytest.mark.parametrize("n", [0, 1])
def test_a_run_with_fewer_than_two_checkpoints_is_refused_naming_the_curve(n):
    run = fresh(BASE)
    run.curve = lambda name, **index: (STEPS[:n].copy(), run.curves[(name, *index.values())][:n].copy())
    with pytest.raises(ValueError, match=f"at least 2 checkpoints of mode/strength to detect a rise, got {n}"):
        analyse_run(run)


@pytest.mark.parametrize("sd", [-math.inf, -0.1, math.nan, math.inf])
def test_a_chance_sd_that_is_not_a_finite_number_at_least_zero_fails_the_clear_precondition(sd):
    """With a chance s.d. of −∞ (or −0.1) the threshold 1 + 3 s.d. fell to −∞ (0.7) and any final ratio passed."""
    report = analyse_run(run_with(differentiation_ratio_sd__2=np.full(len(STEPS), sd)))
    clear = row(report, "level 2 differentiation clear at end")
    assert not clear.passed and clear.reason == f"the chance s.d. of the ratio is {sd:g}, not a finite number >= 0"
    assert report.verdict == "invalid" and row(report, "level 1 differentiation clear at end").passed


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_mode_strength_that_is_not_finite_fails_its_rows_and_says_which_mode(bad):
    curve = BASE.curves[("mode/strength", 5)].copy()
    curve[60] = bad
    level3 = row(analyse_run(run_with(mode_strength__5=curve)), "level 3 modes follow the closed-form trajectory")
    assert not level3.passed and "trajectory error not a finite number for mode 5" in level3.reason
    report = analyse_run(run_with(mode_strength__5=with_final(("mode/strength", 5), bad)))
    learned = row(report, "every mode learned")
    assert not learned.passed and learned.reason == "final strength not a finite number for mode 5" and report.verdict == "invalid"


def test_a_final_ratio_that_is_not_a_number_fails_the_clear_precondition_with_a_reason():
    clear = row(analyse_run(run_with(differentiation_ratio__3=with_final(("differentiation/ratio", 3), math.nan))), "level 3 differentiation clear at end")
    assert not clear.passed and clear.reason == "final ratio not a finite number for level 3"


@settings(max_examples=200, deadline=None)
@given(st.floats(0, 1e6), st.floats(0, 1e6))
def test_an_order_row_prints_two_steps_with_the_fewest_decimals_that_keep_them_apart(a, b):
    """Two steps that differ print as different texts, in their order, and one decimal fewer would make them one text."""
    from decimal import Decimal

    from bridge.match import order_text

    left, right = order_text(a, b).split(" < ")
    assert (left == right) == (a == b) and (Decimal(left) < Decimal(right)) == (a < b)
    if "e" in left + right:  # closer than 1e-17: written exactly
        assert abs(a - b) < 1e-17 and (float(left), float(right)) == (a, b)
        return
    decimals = len(left.split(".")[1])
    assert decimals == len(right.split(".")[1]) and 1 <= decimals <= 17
    if decimals > 1:
        assert f"{a:.{decimals - 1}f}" == f"{b:.{decimals - 1}f}"
