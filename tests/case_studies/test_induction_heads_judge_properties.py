"""Property tests of induction-heads' judge on drawn numbers (no training): each scalar row passes strictly inside
its target and fails strictly outside, the verdict follows the report's rule over the rows made to fail, a
measurement that is not finite never passes a row, and the judged heads follow the heads when they are relabelled."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.report import BridgeReport
from case_studies.induction_heads import PRESETS
from case_studies.induction_heads.verdict import judge, synthetic_observed

TG = PRESETS["quick"].targets
V = 64
T = np.arange(0.0, 2001.0, 50.0)
BASE = synthetic_observed(T)
IN, OUT = 1 - 1e-6, 1 + 1e-6
QUICK = settings(max_examples=60, deadline=None)
KEYS = {
    "test": "induction head: final induction score (test)",
    "off": "induction head: final induction score (off-position)",
    "ablation loss": "mean-ablating the previous-token head: repeated-token loss increase (nats)",
    "ablation induction": "mean-ablating the previous-token head: max layer-1 induction score",
    "edge": "K-composition edge previous-token head -> induction head in final graph, not initial",
    "control loss": "one-layer control: final repeated-token loss (nats)",
}
NOT_FINITE = st.sampled_from([math.nan, math.inf, -math.inf])


def report(obs):
    rows = judge(obs, d_vocab=V, n_chains=2, targets=TG)
    out = BridgeReport("induction-heads", "quick", 0)
    out.matches, out.checks = rows.matches, rows.checks
    return out


def row(obs, name):
    (found,) = [r for r in report(obs).rows if r.row_key == KEYS[name]]
    return found


def final_scores(test=None, off=None):
    ind, ind_off = BASE.induction.copy(), BASE.induction_off.copy()
    if test is not None:
        ind[-1, 0] = test
    if off is not None:
        ind_off[-1, 0] = off
    return dataclasses.replace(BASE, induction=ind, induction_off=ind_off)


def edge(first, last):
    z0, z1 = BASE.edge_z_first.copy(), BASE.edge_z_last.copy()
    z0[0, 0], z1[0, 0] = first, last
    return dataclasses.replace(BASE, edge_z_first=z0, edge_z_last=z1)


def control(final):
    loss = BASE.control_loss.copy()
    loss[-1] = final
    return dataclasses.replace(BASE, control_loss=loss)


def test_the_synthetic_run_passes_every_counted_row():
    assert report(BASE).verdict == "pass"


@QUICK
@given(above=st.floats(TG.final_induction * OUT, 1.0), below=st.floats(TG.rise[1] * OUT, TG.final_induction * IN))
def test_final_induction_scores_pass_strictly_above_their_target_and_fail_below(above, below):
    for which in ("test", "off"):
        assert row(final_scores(**{which: above}), which).passed
        assert not row(final_scores(**{which: below}), which).passed


@QUICK
@given(above=st.floats(TG.ablation_loss * OUT, 20.0), below=st.floats(-1.0, TG.ablation_loss * IN))
def test_the_ablation_loss_passes_at_or_above_its_target_and_fails_below(above, below):
    assert row(dataclasses.replace(BASE, ablation_loss=above), "ablation loss").passed
    assert not row(dataclasses.replace(BASE, ablation_loss=below), "ablation loss").passed


@QUICK
@given(below=st.floats(0.0, TG.ablation_induction * IN), above=st.floats(TG.ablation_induction, 1.0))
def test_the_induction_left_after_ablation_passes_strictly_below_its_target_only(below, above):
    assert row(dataclasses.replace(BASE, ablation_induction=below), "ablation induction").passed
    assert not row(dataclasses.replace(BASE, ablation_induction=above), "ablation induction").passed


@QUICK
@given(start=st.floats(-20.0, TG.edge_z * IN), end=st.floats(TG.edge_z, 50.0), low_end=st.floats(-20.0, TG.edge_z * IN), high_start=st.floats(TG.edge_z, 50.0))
def test_the_edge_enters_only_from_below_the_z_target_to_at_or_above_it(start, end, low_end, high_start):
    assert row(edge(start, end), "edge").passed
    assert not row(edge(start, low_end), "edge").passed  # never in the graph
    assert not row(edge(high_start, end), "edge").passed  # already in it at the start


@QUICK
@given(above=st.floats(TG.control_loss * math.log(V) * OUT, 10.0), below=st.floats(0.01, TG.control_loss * math.log(V) * IN))
def test_the_control_passes_strictly_above_its_share_of_ln_v_and_fails_below(above, below):
    assert row(control(above), "control loss").passed
    assert not row(control(below), "control loss").passed


BREAK = {
    "test": lambda o: final_scores(test=0.7),
    "ablation loss": lambda o: dataclasses.replace(o, ablation_loss=0.5),
    "ablation induction": lambda o: dataclasses.replace(o, ablation_induction=0.6),
    "control loss": lambda o: dataclasses.replace(o, control_loss=np.full(len(o.control_loss), 2.0)),  # flat below 0.6 ln 64 = 2.50
}


@QUICK
@given(broken=st.sets(st.sampled_from(sorted(BREAK))))
def test_the_verdict_is_pass_iff_every_counted_row_passes_and_partial_otherwise(broken):
    obs = BASE
    if "test" in broken:
        obs = final_scores(test=0.7)
    for name in broken - {"test"}:
        obs = BREAK[name](obs)
    out = report(obs)
    failed = {name for name in KEYS if name in BREAK and not row(obs, name).passed}
    assert failed == broken and set(out.failed_claims) == {r.name for r in out.rows if r.row_key in {KEYS[b] for b in broken}}
    assert out.verdict == ("pass" if not broken else "partial")  # other rows still pass: never "fail"


@QUICK
@given(bad=NOT_FINITE)
def test_a_measurement_that_is_not_finite_passes_no_row(bad):
    for name, obs in (
        ("test", final_scores(test=bad)),
        ("off", final_scores(off=bad)),
        ("ablation loss", dataclasses.replace(BASE, ablation_loss=bad)),
        ("ablation induction", dataclasses.replace(BASE, ablation_induction=bad)),
        ("edge", edge(bad, 8.0)),
        ("edge", edge(0.0, bad)),
        ("control loss", control(bad)),
    ):
        found = row(obs, name)
        assert not found.passed, (name, bad, found)


@QUICK
@given(perm=st.permutations(range(4)))
def test_relabelling_the_heads_relabels_the_judged_heads_and_keeps_every_verdict(perm):
    p = np.array(perm)
    obs = dataclasses.replace(
        BASE, induction=BASE.induction[:, p], induction_off=BASE.induction_off[:, p], previous_token=BASE.previous_token[:, p],
        k_composition=BASE.k_composition[:, p][:, :, p], edge_z_first=BASE.edge_z_first[np.ix_(p, p)], edge_z_last=BASE.edge_z_last[np.ix_(p, p)],
    )
    rows = judge(obs, d_vocab=V, n_chains=2, targets=TG)
    base = judge(BASE, d_vocab=V, n_chains=2, targets=TG)
    assert rows.induction_head == int(np.argsort(p)[base.induction_head]) and rows.previous_token_head == int(np.argsort(p)[base.previous_token_head])
    assert [(r.row_key, r.passed) for r in rows.checks + rows.matches] == [(r.row_key, r.passed) for r in base.checks + base.matches]


LLC_ROW = "learning-coefficient stage boundary at the end of the loss drop"


def test_a_spread_over_chains_below_zero_is_refused_by_name():
    spread = BASE.llc_std.copy()
    spread[3] = -0.2
    with pytest.raises(ValueError, match=r"llc_std must hold spreads over chains >= 0, got \[-0.2\]"):
        report(dataclasses.replace(BASE, llc_std=spread))


def test_the_llc_boundary_reads_the_median_of_the_measured_spreads_and_has_none_without_any():
    spread = BASE.llc_std.copy()
    spread[::2] = math.nan  # diverged chains at half the checkpoints: the others set the bar
    assert [r.passed for r in report(dataclasses.replace(BASE, llc_std=spread)).rows if r.name == LLC_ROW] == [True]
    (none,) = [r for r in report(dataclasses.replace(BASE, llc_std=np.full_like(spread, math.nan))).rows if r.name == LLC_ROW]
    assert not none.passed and none.reason == "mechanism event absent"
