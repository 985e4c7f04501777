"""The runner and the case-study contract: a study without a main run is refused before training, an auxiliary run
that diverges is the one the report names, a rebuilt report is judged with the study's seed and settings, and the
files a study writes beside its report are standard JSON."""

import dataclasses
import json
import math
from dataclasses import dataclass

import numpy as np
import pytest

import bridge
from bridge import RunConfig, ScheduleConfig, TrainConfig
from bridge.config import ConfigError
from bridge.match import check
from bridge.models import MLPConfig
from bridge.report import BridgeReport
from bridge.stages.detectors import Event
from bridge.tasks import LinearTeacherConfig
from case_studies import rebuild_report, run_case_study
from case_studies.base import CaseStudy, register


@dataclass(frozen=True)
class Preset:
    steps: int = 20
    threshold: float = 10.0


def _config(seed, steps):
    return RunConfig(
        task=LinearTeacherConfig((2.0, 1.0), d_in=4, d_out=3, n_train=32),
        model=MLPConfig(d_in=4, d_out=3, widths=(8,), activation="tanh"),
        train=TrainConfig(lr=0.1, steps=steps, schedule=ScheduleConfig(n_log=3, every=10)),
        seed=seed,
    )


def _final_loss(run, preset):
    final = float(run.observable("loss/train").iloc[-1])
    return check("final training loss", final, f"< {preset.threshold:g}", final < preset.threshold)


@register("toy-derived-seed")
class DerivedSeed(CaseStudy):
    """One main run whose seed is derived from the study's (seed + 100); the threshold is a preset field."""

    presets = {"quick": Preset()}

    def runs(self, preset, seed):
        return {"main": _config(seed + 100, preset.steps)}

    def analyse(self, runs, preset):
        return BridgeReport(self.name, "quick", 0, checks=[_final_loss(runs["main"], preset)])


@register("toy-no-main-run")
class NoMainRun(DerivedSeed):
    def runs(self, preset, seed):
        return {"other": _config(seed, preset.steps)}


@register("toy-aux-diverges")
class AuxiliaryDiverges(DerivedSeed):
    """The auxiliary run (trained first) at a step size that diverges at once; the main run is never reached."""

    def runs(self, preset, seed):
        main = _config(seed, preset.steps)
        return {"aux": dataclasses.replace(main, train=dataclasses.replace(main.train, lr=1e4)), "main": main}


@register("toy-files-not-finite")
class FilesNotFinite(DerivedSeed):
    """A study whose sweep file holds what an all-zero or diverged model gives: m/‖W‖² = inf, NaN weights."""

    def analyse(self, runs, preset):
        report = super().analyse(runs, preset)
        report.files["toy_sweeps.json"] = {"sweep": [{"dims_per_feature": math.inf, "D": []}, {"dims_per_feature": math.nan}], "weights": np.array([[np.nan, 1.5], [-np.inf, 0.25]])}
        report.events = [Event("crossing", step=math.nan, lo=10.0, hi=math.inf, observable="loss/train", kind="threshold")]
        return report


def _strict(path):
    """The file parsed as standard JSON: ``NaN``, ``Infinity`` and ``-Infinity`` refused, as jq and JavaScript refuse them."""
    def refuse(token):
        raise ValueError(f"{path.name} holds {token}, which is not JSON")

    return json.loads(path.read_text(), parse_constant=refuse)


def test_the_files_beside_the_report_are_standard_json_and_a_rebuild_writes_them_again(tmp_path):
    """They were written with Python's json default: ``Infinity`` and ``NaN`` tokens."""
    run_case_study("toy-files-not-finite", "quick", tmp_path / "out", device="cpu", progress=False)
    for _ in range(2):  # as trained, then as rebuilt from the files alone
        sweeps = _strict(tmp_path / "out" / "toy_sweeps.json")
        assert sweeps == {"sweep": [{"dims_per_feature": None, "D": []}, {"dims_per_feature": None}], "weights": [[None, 1.5], [None, 0.25]]}
        events = _strict(tmp_path / "out" / "events.json")
        assert [(e["step"], e["lo"], e["hi"]) for e in events] == [(None, 10.0, None)]
        rebuilt = rebuild_report(tmp_path / "out")
        assert rebuilt.verdict == "pass" and bridge.load_run(tmp_path / "out").status == "complete"


def test_a_study_without_a_main_run_is_refused_before_any_training(tmp_path):
    with pytest.raises(ConfigError, match="case study 'toy-no-main-run' defines no 'main' run"):
        run_case_study("toy-no-main-run", "quick", tmp_path / "out", device="cpu", progress=False)
    assert not (tmp_path / "out").exists()


def test_an_auxiliary_run_that_diverges_is_the_run_the_invalid_report_names(tmp_path):
    report = run_case_study("toy-aux-diverges", "quick", tmp_path / "out", device="cpu", progress=False)
    assert report.verdict == "invalid" and report.extra["diverged"]["run"] == "aux"
    assert report.failed_preconditions == ["run 'aux' trained without diverging"] and report.checks[0].value == report.extra["diverged"]["step"]
    assert not (tmp_path / "out" / "run.json").exists()  # the main run was never trained


def test_a_rebuilt_report_is_judged_with_the_study_s_seed_and_settings(tmp_path):
    report = run_case_study("toy-derived-seed", "quick", tmp_path / "out", seed=1, device="cpu", progress=False, settings=["threshold=1e-9"])
    assert bridge.load_run(tmp_path / "out").config.seed == 101
    assert (report.seed, report.checks[0].target, report.verdict) == (1, "< 1e-09", "fail")
    rebuilt = rebuild_report(tmp_path / "out")
    assert rebuilt.to_dict() == report.to_dict()
