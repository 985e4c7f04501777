"""Property tests of kernel-limit's judge on drawn numbers (no training): each scalar row passes strictly inside its
target and fails strictly outside (both sides of the two-sided MSE and learnability bands), the verdict follows the
report's rule over the rows made to fail, a measurement that is not finite never passes a row, and the rows judged
on ratios do not depend on the unit of the quantities in the ratio."""

from __future__ import annotations

import copy
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from case_studies.kernel_limit import PRESETS, judge
from test_kernel_limit_judge import _observations

TG = PRESETS["quick"].targets
BASE = _observations()
IN, OUT = 1 - 1e-6, 1 + 1e-6
QUICK = settings(max_examples=50, deadline=None)
NOT_FINITE = st.sampled_from([math.nan, math.inf, -math.inf])
ROWS = {
    "lazy distance": "lazy end α=50: final kernel distance",
    "rich distance": "rich end α=0.05: final kernel distance",
    "alignment": "kernel–target alignment, final / initial",
    "enrichment": "weight share on the support",
    "residual": "degree-3 residual power",
    "mse": "cube MSE vs eigenlearning",
    "fraction": "learned fraction of χ_{0,1} ",
}


def counted_row(report, part: str):
    """The one counted row of ``report`` whose name contains ``part``."""
    (found,) = [r for r in report.rows if r.counted and part in r.name]
    return found


def obs():
    return copy.deepcopy(BASE)


def row(o, name):
    return counted_row(judge(o, TG), ROWS[name])


def set_rich(o, key, value):
    o["sweep"]["rows"][-1][key] = value
    return o


def with_draws(o, mse=None, fraction=None):
    """The lazy end's draws moved so that their mean cube MSE is ``mse`` and their mean fraction of χ_{0,1} is ``fraction``."""
    drawn = o["draws"]
    if mse is not None:
        drawn["cube_mse"] = drawn["cube_mse"] - drawn["cube_mse"].mean() + mse
    if fraction is not None:
        drawn["fractions"][:, 1] += fraction - drawn["fractions"][:, 1].mean()
    return o


def test_every_counted_row_passes_on_the_base_observations():
    report = judge(obs(), TG)
    assert report.verdict == "pass" and all(row(obs(), name).passed for name in ROWS)


@QUICK
@given(inside=st.floats(0.0, TG.lazy_distance * IN), outside=st.floats(TG.lazy_distance, 1.0))
def test_the_lazy_distance_passes_strictly_below_its_target_only(inside, outside):
    for value, passes in ((inside, True), (outside, False)):
        o = obs()
        o["sweep"]["rows"][0]["distance"] = value
        assert row(o, "lazy distance").passed is passes


@QUICK
@given(inside=st.floats(TG.rich_distance * OUT, 10.0), outside=st.floats(0.0, TG.rich_distance))
def test_the_rich_distance_passes_strictly_above_its_target_only(inside, outside):
    assert row(set_rich(obs(), "distance", inside), "rich distance").passed
    assert not row(set_rich(obs(), "distance", outside), "rich distance").passed


@QUICK
@given(start=st.floats(1e-3, 10.0), inside=st.floats(OUT, 50.0), outside=st.floats(0.0, IN))
def test_alignment_and_enrichment_pass_iff_their_ratio_reaches_the_target_whatever_the_starting_value(start, inside, outside):
    """Both rows judge final / initial: the unit (the starting value) does not matter, only the ratio."""
    for key, name, target in (("alignment", "alignment", TG.alignment_rise), ("enrichment", "enrichment", TG.enrichment)):
        for factor, passes in ((inside, True), (outside, False)):
            found = row(set_rich(obs(), key, (start, start * target * factor)), name)
            assert found.passed is passes and math.isclose(found.value, target * factor, rel_tol=1e-9)


@QUICK
@given(r=st.floats(-TG.test_mse * IN, TG.test_mse * IN), out=st.floats(TG.test_mse * OUT, 3.0), side=st.sampled_from([-1, 1]))
def test_the_mean_cube_mse_passes_inside_its_band_around_eigenlearning_and_fails_outside_on_either_side(r, out, side):
    predicted = BASE["theory"]["prediction"].test_mse
    assert row(with_draws(obs(), mse=predicted * (1 + r)), "mse").passed
    outside = predicted * (1 + out) if side > 0 else predicted * (1 - TG.test_mse * OUT) / (1 + out)
    assert not row(with_draws(obs(), mse=outside), "mse").passed


@QUICK
@given(d=st.floats(-TG.learnability * 0.99, TG.learnability * 0.99), out=st.floats(TG.learnability * 1.01, 0.3), side=st.sampled_from([-1, 1]))
def test_a_learned_fraction_passes_within_the_tolerance_of_its_learnability_on_either_side_only(d, out, side):
    learnability = BASE["theory"]["learnability"][1]
    assert row(with_draws(obs(), fraction=learnability + d), "fraction").passed
    assert not row(with_draws(obs(), fraction=learnability + side * out), "fraction").passed


BREAK = {
    "lazy distance": lambda o: o["sweep"]["rows"][0].update(distance=0.08),
    "rich distance": lambda o: set_rich(o, "distance", 0.2),
    "alignment": lambda o: set_rich(o, "alignment", (0.03, 0.04)),
    "residual": lambda o: set_rich(o, "top_residual", 1.0),
    "fraction": lambda o: with_draws(o, fraction=BASE["theory"]["learnability"][1] - 0.1),
}


@QUICK
@given(broken=st.sets(st.sampled_from(sorted(BREAK))))
def test_the_verdict_is_pass_iff_every_counted_row_passes(broken):
    o = obs()
    for name in broken:
        BREAK[name](o)
    report = judge(o, TG)
    assert {name for name in BREAK if not counted_row(report, ROWS[name]).passed} == broken
    assert report.verdict == ("pass" if not broken else "partial")


@QUICK
@given(bad=NOT_FINITE)
def test_a_measurement_that_is_not_finite_passes_no_row(bad):
    cases = [
        ("lazy distance", lambda o: o["sweep"]["rows"][0].update(distance=bad)),
        ("rich distance", lambda o: set_rich(o, "distance", bad)),
        ("alignment", lambda o: set_rich(o, "alignment", (0.03, bad))),
        ("alignment", lambda o: set_rich(o, "alignment", (bad, 0.3))),
        ("enrichment", lambda o: set_rich(o, "enrichment", (1.0, bad))),
        ("enrichment", lambda o: set_rich(o, "enrichment", (bad, 3.5))),
        ("residual", lambda o: set_rich(o, "top_residual", bad)),
        ("mse", lambda o: with_draws(o, mse=bad)),
        ("fraction", lambda o: with_draws(o, fraction=bad)),
    ]
    for name, change in cases:
        o = obs()
        change(o)
        found = row(o, name)
        assert not found.passed, (name, bad, found)
