"""Every field of every study's ``Targets`` has a domain; a value outside it (a negative tolerance, a share
outside (0, 1], a ratio at or below 0, an inverted band) is refused when the targets are built, through ``--set``
and at the command line as one line naming ``targets.<field>`` and the value, before any folder is made.
Settings a study's analysis cannot use (no held-out data) are refused the same way. No training here."""

from __future__ import annotations

import dataclasses
import math
from typing import get_type_hints

import pytest

from bridge.cli import main
from bridge.config import ConfigError
from bridge.overrides import apply, parse
from case_studies import BUILT_IN
from case_studies.base import get_case_study
from case_studies.base.targets import DOMAINS

STUDIES = sorted(BUILT_IN)
OUTSIDE = {  # domain → values outside it, as typed after --set
    "tolerance": ["-0.1", "-1e-9"],
    "positive": ["0", "-2"],
    "share": ["0", "1.5", "-0.2"],
    "fraction": ["-0.1", "1.01"],
    "factor": ["0.5", "0"],
    "number": [],
    "count": ["0", "-3"],
    "count0": ["-1"],
    "interval": ["0.5,0.2", "0.3,0.3", "-0.1,0.5", "0.2,1.5"],
}
EDGES = {"tolerance": "0", "positive": "1e-9", "share": "1", "fraction": "0", "factor": "1", "number": "-7.5", "count": "1", "count0": "0", "interval": "0,1"}


def targets_of(name):
    return get_case_study(name).presets["quick"].targets


FIELDS = [(name, f.name, getattr(targets_of(name), "domains", {}).get(f.name, "tolerance")) for name in STUDIES for f in dataclasses.fields(targets_of(name))]


def test_every_domain_has_values_outside_it_and_an_edge_inside():
    assert set(OUTSIDE) == set(EDGES) == set(DOMAINS)


@pytest.mark.parametrize("name", STUDIES)
def test_every_targets_field_of_every_study_has_a_domain_and_the_defaults_are_inside(name):
    for key, preset in get_case_study(name).presets.items():
        targets = preset.targets
        assert set(targets.domains) == {f.name for f in dataclasses.fields(targets)}, (name, key)
        assert type(targets)() == targets or key != "quick"  # the defaults build


@pytest.mark.parametrize(("name", "field", "domain"), FIELDS, ids=[f"{n}.{f}" for n, f, _ in FIELDS])
def test_a_target_outside_its_domain_is_refused_naming_it_and_its_edge_is_accepted(name, field, domain):
    preset = get_case_study(name).presets["quick"]
    for text in OUTSIDE[domain]:
        with pytest.raises(ConfigError) as refused:
            apply(preset, [f"targets.{field}={text}"])
        message = str(refused.value)
        assert f"targets.{field} must be " in message and message.endswith(f"got {parsed(preset, field, text)!r}"), message
    if field not in related_fields(name):
        assert getattr(apply(preset, [f"targets.{field}={EDGES[domain]}"]).targets, field) == parsed(preset, field, EDGES[domain])


def parsed(preset, field, text):
    """``text`` read as the field's type, as ``--set`` reads it (the value a refusal shows)."""
    return parse(text, get_type_hints(type(preset.targets))[field], field)


def related_fields(name) -> set[str]:
    return {"mup": {"mup_lr_shift", "sp_lr_shift"}, "kernel-limit": {"lazy_distance", "rich_distance"}}.get(name, set())


@pytest.mark.parametrize(("name", "low", "high", "values"), [("mup", "mup_lr_shift", "sp_lr_shift", (2, 2)), ("mup", "mup_lr_shift", "sp_lr_shift", (3, 2)), ("kernel-limit", "lazy_distance", "rich_distance", (0.3, 0.05))])
def test_a_lower_bound_at_or_above_the_upper_bound_it_is_judged_against_is_refused(name, low, high, values):
    preset = get_case_study(name).presets["quick"]
    with pytest.raises(ConfigError, match=rf"targets\.{low}={values[0]!r} must be below targets\.{high}={values[1]!r}"):
        apply(preset, [f"targets.{low}={values[0]}", f"targets.{high}={values[1]}"])
    lo, hi = getattr(preset.targets, low), getattr(preset.targets, high)
    assert lo < hi  # the defaults keep the band


@pytest.mark.parametrize("name", STUDIES)
def test_a_target_that_is_not_a_finite_number_is_refused_from_python_too(name):
    targets = targets_of(name)
    field = next(f for f, d in targets.domains.items() if d in ("tolerance", "positive", "share", "fraction", "number"))
    for bad in (math.nan, math.inf, True):
        with pytest.raises(ConfigError, match=rf"targets\.{field} must be .*, got {bad!r}$"):
            dataclasses.replace(targets, **{field: bad})


@pytest.mark.parametrize("name", STUDIES)
def test_the_command_line_refuses_a_target_outside_its_domain_in_one_line_before_any_folder(name, tmp_path, capsys):
    field = next(f for f, d in getattr(targets_of(name), "domains", {}).items() if d in ("tolerance", "positive", "share", "fraction", "count"))
    out = tmp_path / "out"
    assert main(["run", name, "--preset", "quick", "--out", str(out), "--device", "cpu", "--set", f"targets.{field}=-1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("mechbridge: error: ") and f"targets.{field} must be " in err[0] and "got -1" in err[0], err
    assert not out.exists()


@pytest.mark.parametrize(("name", "setting", "named"), [
    ("mup", "task.n_test=0", "mup.task.n_test must be >= 2"),  # trained the whole sweep, then linear CKA had no held-out rows
    ("mup", "task.n_test=1", "mup.task.n_test must be >= 2"),
    ("grokking", "task.train_fraction=1.0", "task.train_fraction=1.0 leaves none of the 3481 pairs"),  # no test accuracy to grok
    ("grokking", "task.train_fraction=0.99995", "task.train_fraction=0.99995 leaves none of the 3481 pairs"),  # rounds to every pair
])
def test_a_setting_that_leaves_a_study_no_held_out_data_is_refused_naming_it(name, setting, named, tmp_path, capsys):
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        apply(get_case_study(name).presets["quick"], [setting])
    assert main(["run", name, "--preset", "quick", "--out", str(tmp_path / "out"), "--device", "cpu", "--set", setting]) == 2
    assert named in capsys.readouterr().err and not (tmp_path / "out").exists()


@pytest.mark.parametrize(("name", "setting"), [("mup", "task.n_test=2"), ("grokking", "task.train_fraction=0.9997"), ("edge-of-stability", "task.n_test=0")])
def test_the_smallest_held_out_data_a_study_can_use_is_accepted(name, setting):
    key, _, text = setting.partition("=")
    preset = apply(get_case_study(name).presets["quick"], [setting])
    assert getattr(preset.task, key.split(".")[1]) == pytest.approx(float(text), rel=0, abs=0)
