"""Seed runs resumed and stacked: a diverged seed is read back as it was judged, an unfinished seed is trained on,
the study's across-seed rows see the preset as changed, and only runs that differ in their seed alone are stacked."""

import dataclasses
import json
import re

import pytest

from bridge.match import check, match
from bridge.report import BridgeReport
from bridge.runs.checksums import unstamp
from bridge.stages import Event
from case_studies import get_case_study
from case_studies.generality.seeds import run_seeds, seed_dir, stack_seed_runs
from case_studies.generality.stored import diverged_report


def test_a_seeds_output_whose_seeds_diverged_resumes_to_the_same_seed_report(tmp_path):
    kwargs = dict(device="cpu", progress=False, settings=["train.lr=3", "train.steps=60"])
    first = run_seeds("deep-linear", "quick", tmp_path / "s", [0, 1], **kwargs)
    written = (tmp_path / "s" / "seed_report.json").read_text()
    again = run_seeds("deep-linear", "quick", tmp_path / "s", [0, 1], resume=True, **kwargs)
    assert again.verdicts == first.verdicts == {0: "invalid", 1: "invalid"} and again.pass_fraction == 0.0
    assert (tmp_path / "s" / "seed_report.json").read_text() == written
    for seed in (0, 1):
        stored = json.loads((seed_dir(tmp_path / "s", seed) / "report.json").read_text())
        assert diverged_report(seed_dir(tmp_path / "s", seed)).to_dict() == stored
        assert stored["diverged"]["run"] == "main" and stored["settings"] == kwargs["settings"]


def test_a_report_of_a_run_that_did_not_diverge_is_not_read_as_final(tmp_path):
    from case_studies import run_case_study

    run_case_study("deep-linear", "quick", tmp_path / "ok", device="cpu", progress=False, settings=["train.steps=40"])
    assert diverged_report(tmp_path / "ok") is None


def _stub_study_run(calls):
    def study_run(name, preset, out, *, seed, resume, **options):
        calls.append((seed, resume))
        observed = 100.0 + 5 * seed
        return BridgeReport(name, "quick", seed, matches=[match("mode 0", 100.0, Event("rise", observed, observed - 5, observed + 5), Event("diff", 120.0, 115, 125), 0.5)])

    return study_run


def test_a_seed_folder_without_a_report_is_trained_on_when_resumed_not_re_analysed(tmp_path, monkeypatch):
    import case_studies.base.runner as runner

    calls = []
    monkeypatch.setattr(runner, "run_case_study", _stub_study_run(calls))
    monkeypatch.setattr(runner, "rebuild_report", lambda folder: pytest.fail(f"{folder} has no report to re-analyse"))
    monkeypatch.setattr(type(get_case_study("deep-linear")), "across_seeds", lambda self, outs, preset: [])
    seed_dir(tmp_path / "s", 1).mkdir(parents=True)  # seed 1 was being trained when its process was killed
    (seed_dir(tmp_path / "s", 1) / "metrics.csv").write_text("step\n0\n")
    report = run_seeds("deep-linear", "quick", tmp_path / "s", [0, 1], device="cpu", progress=False, stack=False, resume=True)
    assert calls == [(0, True), (1, True)] and report.verdicts == {0: "pass", 1: "pass"}


def test_the_seed_report_keeps_each_seed_s_mechanism_step_its_threshold_and_links_its_figure(tmp_path):
    reports = {s: BridgeReport("toy", "quick", s, matches=[match("mode 0", 100.0, Event("rise", 100.0 + s, 95, 105), Event("diff", 120.0 + 2 * s, 115, 125), 0.5)],
                               checks=[check("gap", 0.1, "< 0.5", s != 2)]) for s in range(3)}
    from case_studies.generality.seeds import summarise

    sr = summarise(reports, "toy", "quick", threshold=0.6)
    assert [sr.rows["mode 0"]["steps"][s] for s in range(3)] == [{"predicted": 100.0, "observed": 100.0 + s, "mechanism": 120.0 + 2 * s} for s in range(3)]
    data = json.loads(sr.write(tmp_path).read_text())
    assert (data["threshold"], data["pass_fraction"], data["verdict"]) == (0.6, pytest.approx(2 / 3), "pass")
    assert data["rows"]["mode 0"]["steps"]["2"]["mechanism"] == 124.0
    text, agrees = unstamp((tmp_path / "seed_report.md").read_text(), "seed_report.json", (tmp_path / "seed_report.json").read_bytes())
    assert agrees is True and text.endswith("\n![seed timeline](figures/seed_timeline.png)\n")
    assert data["markdown_stamped"] is True


def test_a_seed_report_markdown_cut_short_is_refused_and_one_written_before_stamps_is_printed(tmp_path, capsys):
    """A seed_report.md cut short loses its stamp: its seed_report.json records that it had one (it printed as a
    markdown written before stamps were)."""
    from bridge.cli import main
    from case_studies.generality.seeds import summarise

    reports = {s: BridgeReport("deep-linear", "quick", s, checks=[check("gap", 0.1, "< 0.5", True)]) for s in range(2)}
    summarise(reports, "deep-linear", "quick", threshold=0.5).write(tmp_path)
    md = tmp_path / "seed_report.md"
    whole = md.read_text()
    md.write_text(whole[: whole.index("<!-- written from")])  # cut short just before its stamp
    assert main(["report", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith(f"mechbridge: error: {md} was not written with the seed_report.json beside it")
    old = json.loads((tmp_path / "seed_report.json").read_text())
    del old["markdown_stamped"]  # a seed report written before the markdown was stamped
    (tmp_path / "seed_report.json").write_text(json.dumps(old))
    assert main(["report", str(tmp_path)]) == 0 and capsys.readouterr().out == whole[: whole.index("<!-- written from")] + "\n"


def test_the_study_s_across_seed_rows_are_judged_on_the_preset_as_the_settings_change_it(tmp_path, monkeypatch):
    import case_studies.base.runner as runner

    seen = []
    monkeypatch.setattr(runner, "run_case_study", _stub_study_run([]))
    monkeypatch.setattr(type(get_case_study("deep-linear")), "across_seeds", lambda self, outs, preset: seen.append((sorted(outs), preset.train.steps, preset.train.lr)) or [])
    run_seeds("deep-linear", "quick", tmp_path / "s", [0, 1], device="cpu", progress=False, stack=False, settings=["train.steps=60", "train.lr=0.02"])
    assert seen == [([0, 1], 60, 0.02)]


class _Study:
    """Runs ``same`` (one config under each seed) and ``other`` (its learning rate grows with the seed)."""

    def __init__(self):
        self.study = get_case_study("deep-linear")
        self.preset = self.study.presets["quick"]

    def runs(self, preset, seed):
        main = self.study.runs(preset, seed)["main"]
        return {"main": main, "other": dataclasses.replace(main, train=dataclasses.replace(main.train, lr=main.train.lr * (1 + seed)))}

    def trackers(self, preset, key):
        return []


def test_only_runs_that_differ_in_their_seed_alone_are_trained_stacked(tmp_path, monkeypatch):
    import bridge.training.seeds as seeds_module

    stacked = []
    monkeypatch.setattr(seeds_module, "train_seeds", lambda cfg, seeds, out, *, folders, **options: stacked.append((cfg.train.lr, list(seeds), [f.relative_to(out).as_posix() for f in folders])))
    study = _Study()
    assert stack_seed_runs(study, study.preset, [0, 1], tmp_path) == ["main"]
    assert stacked == [(study.preset.train.lr, [0, 1], ["seed-0", "seed-1"])]


@pytest.mark.parametrize("fraction", [80, 1.5, -0.1, float("nan"), True, "0.8", None])
def test_a_seed_pass_fraction_that_is_not_a_fraction_is_refused_before_any_work(tmp_path, monkeypatch, fraction):
    from bridge.config import ConfigError
    from case_studies.generality.seeds import summarise

    monkeypatch.setattr(type(get_case_study("deep-linear")), "seed_pass_fraction", fraction)
    with pytest.raises(ConfigError, match=f"seed pass fraction of 'deep-linear' must be a number from 0 to 1, got {re.escape(repr(fraction))}"):
        run_seeds("deep-linear", "quick", tmp_path / "s", [0, 1], device="cpu", progress=False)
    assert not (tmp_path / "s").exists()
    with pytest.raises(ConfigError, match="seed pass fraction of 'toy'"):
        summarise({0: BridgeReport("toy", "quick", 0, checks=[check("gap", 0.1, "< 0.5", True)])}, "toy", "quick", fraction)


def test_the_seed_verdict_at_the_ends_of_the_threshold():
    from case_studies.generality.seeds import summarise

    reports = {s: BridgeReport("toy", "quick", s, checks=[check("gap", 0.1, "< 0.5", s == 0)]) for s in range(2)}
    assert [summarise(reports, "toy", "quick", t).verdict for t in (0, 0.5, 0.51, 1)] == ["pass", "pass", "fail", "fail"]


def test_a_seeds_output_of_a_preset_object_resumes_without_training_again(tmp_path):
    quick = get_case_study("deep-linear").presets["quick"]
    short = dataclasses.replace(quick, train=dataclasses.replace(quick.train, steps=40))
    first = run_seeds("deep-linear", short, tmp_path / "s", [0, 1], device="cpu", progress=False)
    written = {s: (seed_dir(tmp_path / "s", s) / "metrics.csv").read_bytes() for s in (0, 1)}
    again = run_seeds("deep-linear", short, tmp_path / "s", [0, 1], device="cpu", progress=False, resume=True)
    assert first.preset == again.preset == "custom" and again.to_dict() == first.to_dict()
    assert {s: (seed_dir(tmp_path / "s", s) / "metrics.csv").read_bytes() for s in (0, 1)} == written
    assert json.loads((seed_dir(tmp_path / "s", 1) / "run.json").read_text())["config"]["train"]["steps"] == 40


def test_a_report_cut_short_or_damaged_is_left_to_be_rebuilt_not_read(tmp_path):
    from bridge.runs.run import load_run
    from case_studies import rebuild_report, run_case_study

    first = run_case_study("deep-linear", "quick", tmp_path / "ok", device="cpu", progress=False, settings=["train.steps=40"])
    run = load_run(tmp_path / "ok")
    run.update_info(files={k: v for k, v in run.info["files"].items() if k != "report.json"})  # killed before the report was recorded
    assert diverged_report(tmp_path / "ok") is None
    assert rebuild_report(tmp_path / "ok").to_dict() == first.to_dict()
    (tmp_path / "ok" / "report.json").write_text('{"verdict": "pass", "diverged": {"run": "main", "step": 1}}')  # differs from its record
    assert diverged_report(tmp_path / "ok") is None
