"""experiments/induction_variants.py: variants of the induction-heads case study, each one or two settings away."""

import dataclasses

import pytest

from bridge.overrides import apply
from case_studies import get_case_study
from experiments.induction_variants import CHANGES, QUICK_ADAMW, VARIANTS, adamw_with, main, run_variants, summary_table


def _settings(preset):
    return {**dataclasses.asdict(preset.task), **dataclasses.asdict(preset.model), **dataclasses.asdict(preset.train)}


def test_variants_change_one_setting_each_and_the_quick_preset_is_two_of_them_with_warmup_and_clipping():
    base = _settings(QUICK_ADAMW)
    changed = {name: {k for k, v in _settings(preset).items() if base[k] != v} for name, preset in VARIANTS.items()}
    assert changed == {
        "adamw": set(),
        "sgd-rotary": {"optimizer", "lr", "momentum", "positional_embedding"},
        "rotary": {"positional_embedding"},
        "two-heads": {"n_heads", "d_head"},
        "weight-decay": {"weight_decay"},
        "small-init": {"init_range"},
        "sgd": {"optimizer", "lr", "momentum"},
        "bigram": {"background"},
    }
    quick = get_case_study("induction-heads").presets["quick"]
    assert apply(VARIANTS["sgd-rotary"], ["train.warmup=200", "train.clip_grad_norm=1.0"]) == quick
    # the sweep's points say the same as adamw_with: each variant is the base with its dotted changes
    assert VARIANTS["sgd"] == adamw_with(optimizer="sgd", lr=1.0, momentum=0.9) and VARIANTS["two-heads"] == adamw_with(n_heads=2, d_head=32)
    assert {name: {k.split(".")[1] for k in changes} for name, changes in CHANGES.items()} == changed
    assert (QUICK_ADAMW.model.positional_embedding, QUICK_ADAMW.train.optimizer, QUICK_ADAMW.train.lr) == ("standard", "adamw", 1e-3)
    with pytest.raises(TypeError, match="no setting 'n_head'"):
        adamw_with(n_head=2)


def test_variants_are_refused_over_a_directory_that_is_not_their_sweep_and_summaries_tabulate(tmp_path):
    with pytest.raises(KeyError, match="unknown variant 'alibi'"):
        run_variants(["alibi"], [0], tmp_path / "unused")
    with pytest.raises(TypeError, match=r"names is a list of variants, got the text 'rotary'; pass \['rotary'\]"):
        run_variants("rotary", [0], tmp_path / "unused")
    assert not (tmp_path / "unused").exists()
    other = tmp_path / "other"
    other.mkdir()
    (other / "run.json").write_text("{}")
    with pytest.raises(SystemExit, match="error: .*is not a sweep directory"):
        main(["--variant", "rotary", "--seeds", "0", "--out", str(other)])
    assert (other / "run.json").read_text() == "{}" and sorted(p.name for p in other.iterdir()) == ["run.json"]
    row = {"variant": "rotary", "seed": 1, "verdict": "fail", "failed": ["x"], "checks": {"L1H0 final induction score (off-position)": 0.9301, "mean-ablating L0H1: repeated-token loss increase (nats)": 1.4}}
    table = summary_table([row]).splitlines()
    assert table[2] == "| rotary | 1 | fail | — | 0.930 | 1.400 | — | x |"


def test_the_module_examples_run():
    import doctest

    import experiments.induction_variants as module

    assert doctest.testmod(module).failed == 0


def test_each_variant_sets_the_values_the_module_describes():
    got = {name: {k: v for k, v in _settings(preset).items() if _settings(QUICK_ADAMW)[k] != v} for name, preset in VARIANTS.items()}
    assert got == {
        "adamw": {},
        "rotary": {"positional_embedding": "rotary"},
        "two-heads": {"n_heads": 2, "d_head": 32},
        "weight-decay": {"weight_decay": 1.0},
        "small-init": {"init_range": 0.02},
        "sgd": {"optimizer": "sgd", "lr": 1.0, "momentum": 0.9},
        "sgd-rotary": {"optimizer": "sgd", "lr": 1.0, "momentum": 0.9, "positional_embedding": "rotary"},
        "bigram": {"background": "bigram"},
    }


def _point_report(verdict, failed_check=None, failed_match=None):
    """A point's report.json: a passing check, and the check and match named to fail."""
    checks = [{"name": "L1H2 final induction score (test)", "value": 0.0, "passed": True}]
    if failed_check:
        checks.append({"name": failed_check, "value": 0.5, "passed": False})
    matches = [{"prediction": failed_match or "loss drop", "passed": failed_match is None}]
    return {"verdict": verdict, "checks": checks, "matches": matches}


def test_run_variants_labels_every_point_by_its_variant_and_seed_and_skips_a_point_without_a_report(tmp_path, monkeypatch):
    import json
    import types

    import bridge
    from bridge.sweep.grid import grid_points
    from experiments.induction_variants import summary

    def sweep(case, out, *, points, seeds, preset, **options):
        assert case == "induction-heads" and preset is QUICK_ADAMW
        keys = [p.key for p in grid_points(points=points, seeds=seeds)]
        for i, key in enumerate(keys[:-1]):  # the last point did not finish
            (out / "points" / key).mkdir(parents=True)
            (out / "points" / key / "report.json").write_text(json.dumps(_point_report("pass" if i % 2 else "partial", failed_match=None if i % 2 else f"match {i}")))
        return types.SimpleNamespace(keys=keys)

    monkeypatch.setattr(bridge, "sweep", sweep)
    rows = run_variants(["rotary", "sgd"], [0, 1], tmp_path)
    assert [(r["variant"], r["seed"], r["verdict"], r["failed"]) for r in rows] == [("rotary", 0, "partial", ["match 0"]), ("rotary", 1, "pass", []), ("sgd", 0, "partial", ["match 2"])]
    one = summary("sgd", 1, _point_report("fail", failed_check="ablation", failed_match="llc boundary"))
    assert one["failed"] == ["ablation", "llc boundary"] and one["checks"] == {"L1H2 final induction score (test)": 0.0, "ablation": 0.5}


def test_the_variants_table_shows_a_zero_and_has_a_cell_per_column_in_every_line():
    row = {"variant": "adamw", "seed": 0, "verdict": "fail", "failed": [], "checks": {"L1H2 final induction score (test)": 0.0, "L1H2 final induction score (off-position)": 0.12}}
    header, rule, line = summary_table([row]).splitlines()
    assert line == "| adamw | 0 | fail | 0.000 | 0.120 | — | — | — |"
    assert header.count("|") == rule.count("|") == line.count("|") == 9
