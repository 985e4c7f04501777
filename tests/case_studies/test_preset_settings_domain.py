"""Presets changed through ``--set``: every field of every study's preset given a wrong type, a value that is
not a finite number, or a size or learning rate that is not positive is refused as a ``ConfigError`` naming its
path, before anything is trained or written. Rows of a report flip from pass to fail exactly at their tolerance."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.config import ConfigError
from bridge.match import check, match
from bridge.overrides import apply
from bridge.report import BridgeReport
from bridge.stages import Event
from case_studies.base import case_study_names, get_case_study

STUDIES = [name for name in case_study_names() if not name.startswith("doc")]


def leaves(obj, prefix=""):
    """``(dotted path, value)`` of every field of a (nested) frozen preset that is not itself a config."""
    for f in dataclasses.fields(obj):
        value, path = getattr(obj, f.name), prefix + f.name
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            yield from leaves(value, path + ".")
        else:
            yield path, value


FIELDS = [(name, key, path, value) for name in STUDIES for key, preset in get_case_study(name).presets.items() for path, value in leaves(preset)]


def _refused(name, key, setting):
    with pytest.raises(ConfigError) as refused:
        apply(get_case_study(name).presets[key], [setting])
    return str(refused.value)


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_a_number_field_of_any_preset_given_a_value_that_is_not_finite_is_refused_naming_its_path(text):
    numbers = [(name, key, path, value) for name, key, path, value in FIELDS if isinstance(value, float) or (isinstance(value, tuple) and value and isinstance(value[0], float))]
    assert len(numbers) > 100  # targets, learning rates and step sizes of every study
    for name, key, path, value in numbers:
        message = _refused(name, key, f"{path}={','.join([text] * len(value)) if isinstance(value, tuple) else text}")  # a list of its length
        assert path in message and "finite number" in message, (name, key, path, message)


def test_a_number_or_switch_of_any_preset_given_a_word_is_refused_naming_its_path():
    typed = [(name, key, path) for name, key, path, value in FIELDS if isinstance(value, int | float | bool) or (isinstance(value, tuple) and value and isinstance(value[0], int | float))]
    assert len(typed) > 200
    for name, key, path in typed:
        message = _refused(name, key, f"{path}=abc")
        assert path in message, (name, key, path, message)


SIZES = [
    ("superposition", f"phases.{field}") for field in ("importance", "density", "seeds", "steps", "batch_size", "lr")
] + [("superposition", f"dims.{field}") for field in ("steps", "batch_size", "lr")] + [
    ("induction-heads", field) for field in ("llc_every", "llc_sequences", "control_layers", "n_eval", "graph_every", "graph_sequences")
] + [("mup", "coord_lr"), ("mup", "base_width")]


@pytest.mark.parametrize(("name", "path"), SIZES)
@pytest.mark.parametrize("text", ["0", "-1"])
def test_a_size_or_learning_rate_of_a_case_study_that_is_not_positive_is_refused_naming_it(name, path, text):
    """These were accepted: the superposition sweeps train after the main run, so a bad one failed (or trained on
    a NaN learning rate) minutes in; the induction-heads sizes reached the trackers as they were."""
    for key in get_case_study(name).presets:
        message = _refused(name, key, f"{path}={text}")
        assert path in message and repr(float(text) if path.endswith("lr") else int(text)) in message, message


def test_a_setting_out_of_its_domain_is_refused_before_the_output_folder_is_made(tmp_path):
    from case_studies.base.runner import run_case_study

    for name, setting in [("superposition", "phases.lr=NaN"), ("superposition", "dims.steps=0"), ("induction-heads", "n_eval=-1"), ("edge-of-stability", "targets.tolerance=Infinity")]:
        out = tmp_path / name
        with pytest.raises(ConfigError, match=setting.partition("=")[0].replace(".", r"\.")):
            run_case_study(name, "quick", out, settings=[setting], device="cpu", progress=False)
        assert not out.exists()


def test_values_in_their_domain_still_apply():
    sp = get_case_study("superposition").presets["quick"]
    assert apply(sp, ["phases.lr=0.5", "dims.steps=10", "phases.seeds=1"]).phases.lr == 0.5
    ih = get_case_study("induction-heads").presets["quick"]
    assert apply(ih, ["n_eval=1", "llc_every=7"]).llc_every == 7
    mup = get_case_study("mup").presets["quick"]
    assert apply(mup, ["coord_lr=1e-3", "targets.ntk_first_layer=-0.75"]).targets.ntk_first_layer == -0.75


@settings(max_examples=200, deadline=None)
@given(predicted=st.integers(1, 10**6), offset=st.integers(0, 10**6), below=st.booleans())
def test_a_match_passes_exactly_up_to_its_tolerance_on_either_side_of_the_prediction(predicted, offset, below):
    """At a tolerance equal to the error the row passes (``<=``); one step further it fails; early and late by the
    same number of steps give the same error."""
    offset = min(offset, predicted - 1) if below else offset
    observed = predicted - offset if below else predicted + offset
    other = predicted + offset if below else predicted - offset
    tolerance = offset / predicted
    row = match("p", float(predicted), Event("e", observed, observed, observed), None, tolerance, require_mechanism=False)
    assert row.relative_error == tolerance and row.passed
    if other > 0:
        mirrored = match("p", float(predicted), Event("e", other, other, other), None, tolerance, require_mechanism=False)
        assert mirrored.relative_error == row.relative_error and mirrored.passed
    further = observed - 1 if below else observed + 1
    if further > 0:
        assert not match("p", float(predicted), Event("e", further, further, further), None, tolerance, require_mechanism=False).passed


rows = st.lists(st.tuples(st.sampled_from(["claim", "precondition", "info"]), st.booleans()), max_size=8)


@settings(max_examples=200, deadline=None)
@given(drawn=rows, extra_info=st.lists(st.booleans(), max_size=3), order=st.randoms(use_true_random=False))
def test_the_verdict_depends_on_claims_and_preconditions_only_whatever_their_order(drawn, extra_info, order):
    made = [check(f"row {i}", float(p), "== 1", p, role=r) for i, (r, p) in enumerate(drawn)]
    verdict = BridgeReport("toy", "quick", 0, checks=made).verdict
    claims = [p for r, p in drawn if r == "claim"]
    expected = "invalid" if any(r == "precondition" and not p for r, p in drawn) or not claims else "pass" if all(claims) else "fail" if not any(claims) else "partial"
    assert verdict == expected
    shuffled = made + [check(f"shown {i}", float(p), "—", p, role="info") for i, p in enumerate(extra_info)]
    order.shuffle(shuffled)
    assert BridgeReport("toy", "quick", 0, checks=shuffled).verdict == verdict


def test_a_value_that_is_not_a_number_never_passes_a_mup_slope_row():
    """The μP coordinate-check rows of :func:`case_studies.mup.analysis.judge`: flat Δh passes, Δh with a NaN at one
    width leaves its layer's slope unmeasured (fails) and the coordinate-check precondition fails (invalid)."""
    from case_studies.mup import Targets
    from case_studies.mup.analysis import MupObservables, judge

    widths = (64, 256, 1024, 4096)
    flat = np.stack([np.zeros((4, 3))] + [np.full((4, 3), 0.3)] * 3)
    lrs = tuple(2.0**k for k in range(-10, -3))
    loss = np.array([[(1 + (i - 3) ** 2) / (10 * (w + 1)) for i in range(7)] for w in range(4)])

    def rows_of(delta):
        obs = MupObservables("adam", widths, {"mup": delta, "standard": flat}, {"mup": np.ones(4)}, (32, 64, 128, 512), lrs, {"mup": loss, "standard": loss}, {"mup": np.ones((4, 7)), "standard": np.ones((4, 7))})
        report = judge(obs, Targets())
        (row,) = [c for c in report.checks if c.name.startswith("μP coordinate check, hidden layer: largest")]
        return report, row

    report, row = rows_of(flat)
    assert row.passed and row.value == pytest.approx(0.0, abs=1e-12) and report.failed_preconditions == []
    broken = flat.copy()
    broken[2, 1, 1] = np.nan
    report, row = rows_of(broken)
    assert not row.passed and np.isnan(row.value) and report.verdict == "invalid"
