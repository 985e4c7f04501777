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
