"""experiments/induction_variants.py: variants of the induction-heads case study, each one or two settings away."""

import dataclasses

import pytest

from case_studies import get_case_study
from experiments.induction_variants import QUICK_ADAMW, VARIANTS, adamw_with, main, run_variant, summary_table


def _settings(preset):
    return {**dataclasses.asdict(preset.task), **dataclasses.asdict(preset.model), **dataclasses.asdict(preset.train)}


def test_variants_change_one_setting_each_and_the_quick_preset_is_two_of_them():
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
    assert VARIANTS["sgd-rotary"] == get_case_study("induction-heads").presets["quick"]
    assert (QUICK_ADAMW.model.positional_embedding, QUICK_ADAMW.train.optimizer, QUICK_ADAMW.train.lr) == ("standard", "adamw", 1e-3)
    with pytest.raises(TypeError, match="no setting 'n_head'"):
        adamw_with(n_head=2)


def test_a_variant_run_is_refused_over_an_unfinished_one_and_summaries_tabulate(tmp_path):
    with pytest.raises(KeyError, match="unknown variant 'alibi'"):
        run_variant("alibi", 0, "unused")
    unfinished = tmp_path / "rotary" / "seed_0"
    unfinished.mkdir(parents=True)
    (unfinished / "run.json").write_text("{}")
    with pytest.raises(FileExistsError, match="unfinished run of variant 'rotary'"):
        run_variant("rotary", 0, tmp_path)
    with pytest.raises(SystemExit, match="error: .*unfinished run"):
        main(["--variant", "rotary", "--seeds", "0", "--out", str(tmp_path)])
    assert (unfinished / "run.json").read_text() == "{}"
    row = {"variant": "rotary", "seed": 1, "verdict": "fail", "failed": ["x"], "checks": {"L1H0 final induction score (off-position)": 0.9301, "mean-ablating L0H1: repeated-token loss increase (nats)": 1.4}}
    table = summary_table([row]).splitlines()
    assert table[2] == "| rotary | 1 | fail | — | 0.930 | 1.400 | — | x |"


def test_the_module_examples_run():
    import doctest

    import experiments.induction_variants as module

    assert doctest.testmod(module).failed == 0
