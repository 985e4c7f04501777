"""The runner's checks on what a case study's ``runs_after`` returns: new keys only, and a main run among them all."""

from __future__ import annotations

import pytest

import case_studies.base.runner as runner
from bridge.config import ConfigError
from case_studies.deep_linear import DeepLinear

SMALL = ["model.d_hidden=8", "train.steps=4", "train.schedule.n_log=2"]


class Retrains(DeepLinear):
    """Deep-linear whose ``runs_after`` returns the main run again."""

    def runs_after(self, preset, seed, runs):
        return {"main": runs["main"].config}


class NoMain(DeepLinear):
    """Deep-linear whose runs are one auxiliary run, and ``runs_after`` adds no main run."""

    def runs(self, preset, seed):
        return {"other": super().runs(preset, seed)["main"]}

    def runs_after(self, preset, seed, runs):
        return {}


@pytest.mark.parametrize("study", [Retrains, NoMain])
def test_runs_after_must_add_new_keys_and_the_runs_must_include_main(study, tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "get_case_study", lambda name: study())
    with pytest.raises(ConfigError, match=r"runs_after must add new keys and the runs must include 'main' \(got \[.*\] after \['(main|other)'\]\)"):
        runner.run_case_study("deep-linear", "quick", tmp_path / "out", settings=SMALL, device="cpu", progress=False)
