"""Training until the phenomenon appears: doubling steps up to a cap, "not reached" kept apart from "fail"."""

import json
import subprocess
import sys

import pytest

from bridge.config import ConfigError
from bridge.match import check
from bridge.report import BridgeReport, not_reached
from case_studies import run_case_study
from case_studies.generality.budget import budget_steps, run_until
from case_studies.generality.robustness import StoredReport, summarise, to_markdown
from tests.helpers import file_hashes, timeout

LEARNED = "every mode learned (max |final strength / s − 1|)"


def test_budget_doubles_from_the_preset_steps_and_ends_on_the_cap():
    assert budget_steps(100, 800) == [100, 200, 400, 800]
    assert budget_steps(300, 1000) == [300, 600, 1000]
    assert budget_steps(500, 500) == [500]
    with pytest.raises(ConfigError, match=r"budget cap \(99 steps\) is below the preset's train.steps \(100\)"):
        budget_steps(100, 99)


def _report(reason: str, passed: bool = False) -> BridgeReport:
    return BridgeReport("toy", "quick", 0, checks=[check("the phenomenon", None, "appears", passed, role="precondition", reason=reason), check("a claim", 1.0, "== 1", True)])


def test_a_report_is_not_reached_only_when_a_failed_precondition_says_so():
    assert _report(not_reached(2500, "test accuracy ends at 4.0%")).not_reached
    assert not _report("generalised before memorising").not_reached  # failed, but not for want of steps
    assert not _report("", passed=True).not_reached
    late = _report(not_reached(300))
    assert late.verdict == "invalid" and late.checks[0].reason == "not reached within 300 steps"


def test_robustness_tables_keep_not_reached_apart_from_failures():
    longer = _report("", passed=True)
    longer.extra["extended"] = [{"from": 600, "to": 1200}, {"from": 1200, "to": 2400}]
    table = summarise({"train.lr=0.1": {0: _report(not_reached(600)), 1: _report("broken"), 2: longer}}, "toy", "quick")
    assert [r["not_reached"] for r in table["runs"]] == [True, False, False]
    assert [r["extended_to"] for r in table["runs"]] == [None, None, 2400]
    md = to_markdown(table)
    assert "in 1 the phenomenon was not reached" in md and "| train.lr=0.1 | 0 | invalid (not reached) |" in md and "| train.lr=0.1 | 1 | invalid |" in md
    assert "| train.lr=0.1 | 2 | pass, trained to 2400 steps |" in md


def test_deep_linear_trains_on_until_every_mode_is_learned(tmp_path):
    short = run_case_study("deep-linear", "quick", tmp_path / "short", device="cpu", progress=False, settings=["train.steps=100"])
    assert short.not_reached and LEARNED in short.failed_preconditions
    report = run_until("deep-linear", "quick", tmp_path / "until", cap=800, device="cpu", progress=False, settings=["train.steps=100"])
    assert not report.not_reached and LEARNED not in report.failed_preconditions
    info = json.loads((tmp_path / "until" / "run.json").read_text())
    steps = info["config"]["train"]["steps"]
    assert steps in (200, 400, 800) and info["settings"] == ["train.steps=100", f"train.steps={steps}"]
    assert [e["to"] for e in info["extended"]] == budget_steps(100, steps)[1:]
    assert report.extra["extended"] == info["extended"]
    stored = json.loads((tmp_path / "until" / "report.json").read_text())
    assert stored["extended"] == info["extended"]
    metrics = (tmp_path / "until" / "metrics.csv").read_text()
    assert metrics.count("\n") > (tmp_path / "short" / "metrics.csv").read_text().count("\n")  # the short budget's records are kept
    again = run_until("deep-linear", "quick", tmp_path / "until", cap=800, device="cpu", progress=False, settings=["train.steps=100"], resume=True)
    assert again.verdict == report.verdict and json.loads((tmp_path / "until" / "run.json").read_text())["extended"] == info["extended"]  # nothing retrained


def test_a_phenomenon_beyond_the_cap_is_not_reached_within_the_cap(tmp_path):
    report = run_until("deep-linear", "quick", tmp_path / "capped", cap=60, device="cpu", progress=False, settings=["train.steps=30"])
    row = next(c for c in report.checks if c.name == LEARNED)
    assert report.not_reached and row.reason.startswith("not reached within 60 steps")
    assert [e["to"] for e in report.extra["extended"]] == [60]
    stored = StoredReport.read(tmp_path / "capped")  # what a backend's robustness table reads
    assert stored.not_reached and stored.verdict == "invalid" and LEARNED in stored.failed_preconditions
    assert summarise({"n": {0: stored}}, "deep-linear", "quick")["runs"][0]["extended_to"] == 60
    before = file_hashes(tmp_path / "capped")
    with pytest.raises(ConfigError, match=r"capped was trained for 60 steps, beyond the budget cap of 40: resume it with a cap of at least 60 \(--budget 60\)"):
        run_until("deep-linear", "quick", tmp_path / "capped", cap=40, device="cpu", progress=False, settings=["train.steps=30"], resume=True)
    assert file_hashes(tmp_path / "capped") == before


def test_a_study_without_train_steps_is_refused_before_any_work(tmp_path):
    with pytest.raises(ConfigError, match="has no train.steps to extend"):
        run_until("mup", "quick", tmp_path / "mup", cap=1000, device="cpu")
    with pytest.raises(ConfigError, match="below the preset's train.steps"):
        run_until("deep-linear", "quick", tmp_path / "dl", cap=10, device="cpu")
    assert not (tmp_path / "mup").exists() and not (tmp_path / "dl").exists()


def test_the_cli_says_how_far_a_budget_trained(tmp_path):
    result = subprocess.run([sys.executable, "-m", "bridge.cli", "run", "deep-linear", "--set", "train.steps=100", "--budget", "800", "--device", "cpu", "--out", str(tmp_path / "o"), "--quiet"],
                            capture_output=True, text=True, timeout=timeout(300))
    assert result.returncode == 0, result.stderr
    steps = json.loads((tmp_path / "o" / "run.json").read_text())["config"]["train"]["steps"]
    assert steps > 100 and result.stdout.startswith(f"deep-linear [quick, seed 0, trained to {steps} steps]: pass")


@pytest.mark.parametrize("args, message", [(["--seeds", "0-1", "--budget", "900"], "--budget trains one seed"), (["--budget", "10"], "below the preset's train.steps")])
def test_the_cli_refuses_a_budget_it_cannot_run_in_one_line(tmp_path, args, message):
    result = subprocess.run([sys.executable, "-m", "bridge.cli", "run", "deep-linear", "--out", str(tmp_path / "o"), *args], capture_output=True, text=True, timeout=timeout(120))
    assert result.returncode != 0 and message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "o").exists()


def test_training_stops_at_the_first_length_where_the_phenomenon_appears(monkeypatch, tmp_path):
    import case_studies.base.runner as runner

    calls = []

    def study_run(name, preset, out, *, seed, settings, resume, **options):
        calls.append(list(settings))
        return _report(not_reached(100)) if len(calls) == 1 else _report("", passed=True)

    monkeypatch.setattr(runner, "run_case_study", study_run)
    report = run_until("deep-linear", "quick", tmp_path / "o", cap=800, settings=["train.steps=100"])
    assert not report.not_reached
    assert calls == [["train.steps=100"], ["train.steps=100", "train.steps=200"]]  # not on to 400 and 800


@pytest.mark.parametrize(("steps", "cap", "named"), [(0, 10, "train.steps must be a positive integer number of steps, got 0"), (-5, 10, "got -5"),
                                                     (100, "800", "budget cap must be a positive integer number of steps, got '800'"), (100, 250.0, "got 250.0"), (100, True, "got True")])
def test_budget_lengths_are_positive_integers(steps, cap, named):
    with pytest.raises(ConfigError, match=named):
        budget_steps(steps, cap)


def test_a_budget_cap_that_is_not_a_number_of_steps_is_refused_before_any_work(tmp_path):
    from case_studies.generality.robustness import run_robustness

    for cap in ("800", 1e3):
        with pytest.raises(ConfigError, match="budget cap must be a positive integer"):
            run_until("deep-linear", "quick", tmp_path / "o", cap=cap, device="cpu")
        with pytest.raises(ConfigError, match="budget cap must be a positive integer"):
            run_robustness("deep-linear", "quick", tmp_path / "o", n_neighbours=1, seeds=[0], device="cpu", budget=cap)
    assert not (tmp_path / "o").exists()


def test_training_ends_at_the_first_length_where_the_phenomenon_appears_even_if_a_claim_then_fails(monkeypatch, tmp_path):
    import case_studies.base.runner as runner

    calls = []
    reached_but_wrong = BridgeReport("toy", "quick", 0, checks=[check("the phenomenon", 1.0, "appears", True, role="precondition"), check("a claim", 0.0, "== 1", False)])

    def study_run(name, preset, out, *, seed, settings, resume, **options):
        calls.append(list(settings))
        return _report(not_reached(100)) if len(calls) == 1 else reached_but_wrong

    monkeypatch.setattr(runner, "run_case_study", study_run)
    report = run_until("deep-linear", "quick", tmp_path / "o", cap=800, settings=["train.steps=100"])
    assert report is reached_but_wrong and report.verdict == "fail"
    assert calls == [["train.steps=100"], ["train.steps=100", "train.steps=200"]]  # a failed claim is a result: no longer training


@pytest.mark.parametrize("recorded", [1e9, 600.0, "600", None, True])
def test_a_resumed_output_whose_recorded_steps_are_no_whole_number_is_refused_before_any_work(monkeypatch, tmp_path, recorded):
    import bridge.runs.run as run_module
    import case_studies.base.runner as runner

    calls = []
    monkeypatch.setattr(runner, "run_case_study", lambda *args, **kwargs: calls.append(args))
    monkeypatch.setattr(run_module, "load_run", lambda out: type("Stored", (), {"info": {"config": {"train": {"steps": recorded}}}})())
    (tmp_path / "run.json").write_text("{}")
    with pytest.raises(ConfigError, match=rf"records train.steps = {recorded!r}, not a whole number of steps"):
        run_until("deep-linear", "quick", tmp_path, cap=800, settings=["train.steps=100"], resume=True)
    assert calls == []
