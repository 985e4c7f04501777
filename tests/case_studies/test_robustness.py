"""Neighbouring configurations: the draw, the table, and a case study run on neighbours end to end."""

import dataclasses
import json
import subprocess
import sys

import pytest

from bridge.config import ConfigError
from bridge.match import check
from bridge.overrides import apply
from bridge.report import BridgeReport
from bridge.training.inputs import validate
from case_studies import case_study_names, get_case_study
from case_studies.base.inputs import check_settings_take_effect
from case_studies.generality.robustness import field_settings, neighbours, summarise, to_markdown
from case_studies.generality.tables import RobustnessJSON, load_robustness
from tests.helpers import timeout

FAMILY = {"train.lr": (0.025, 0.1), "model.d_hidden": (64, 256), "task.depth": (3, 5)}


def test_the_draw_is_seeded_distinct_and_changes_one_or_two_fields():
    drawn = neighbours(FAMILY, 10, seed=3)
    assert drawn == neighbours(FAMILY, 10, seed=3)
    assert drawn != neighbours(FAMILY, 10, seed=4)
    assert len({n.settings for n in drawn}) == 10
    for n in drawn:
        fields = [s.partition("=")[0] for s in n.settings]
        assert 1 <= len(fields) <= 2 and len(set(fields)) == len(fields)
        assert all(s.partition("=")[2] in {str(v) for v in FAMILY[s.partition("=")[0]]} for s in n.settings)


def test_a_small_family_gives_every_neighbour_it_has_and_no_more():
    drawn = neighbours({"train.lr": (0.025, 0.1)}, 8)
    assert sorted(n.settings for n in drawn) == [("train.lr=0.025",), ("train.lr=0.1",)]


def test_asking_for_more_neighbours_than_exist_gives_all_of_them_after_a_bounded_draw(monkeypatch):
    import random
    import types

    class Counted(random.Random):  # refuses to draw without end (the draw of 10**6 neighbours ran 10**8 times)
        draws = 0

        def randint(self, a, b):
            Counted.draws += 1
            if Counted.draws > 20_000:
                raise RuntimeError("the draw does not end once every neighbour is found")
            return super().randint(a, b)

    monkeypatch.setattr("case_studies.generality.robustness.random", types.SimpleNamespace(Random=Counted))
    drawn = neighbours(FAMILY, 10**6)
    assert len({n.settings for n in drawn}) == len(drawn) == 3 * 2 + 3 * 2 * 2  # one field changed, or two of the three
    assert 18 <= Counted.draws <= 20_000


@pytest.mark.parametrize("family", [{}, {"train.lr": ()}])
def test_an_empty_family_is_refused(family):
    with pytest.raises(ConfigError, match="family"):
        neighbours(family, 3)


@pytest.fixture
def built_once(monkeypatch):
    """``validate`` builds each distinct task and model once in the test (both are pure functions of their
    config and seed); every config still gets its forward, loss and batch checks."""
    import bridge.training.inputs as inputs

    tasks, models = {}, {}
    make_task, build_for_task = inputs.make_task, inputs.build_for_task

    def task(config, seed):
        key = (repr(config), seed)
        if key not in tasks:
            tasks[key] = make_task(config, seed)
        return tasks[key]

    def model(config, data):
        key = (repr(config.task), repr(config.model), config.seed, config.train.dtype)
        if key not in models:
            models[key] = build_for_task(config, data)
        return models[key]

    monkeypatch.setattr(inputs, "make_task", task)
    monkeypatch.setattr(inputs, "build_for_task", model)
    return tasks, models


def _distinct(configs):
    """The configs up to their seed (a study may train one config under several seeds: validating one is enough)."""
    seen = {}
    for cfg in configs:
        seen.setdefault(repr(dataclasses.replace(cfg, seed=0)), cfg)
    return list(seen.values())


@pytest.mark.parametrize("name", [n for n in case_study_names() if get_case_study(n).family])
def test_every_family_setting_is_reachable_and_differs_from_the_preset(name, built_once):
    study = get_case_study(name)
    preset = study.presets["quick"]
    for field, values in study.family.items():
        own = []
        for path in field.split("+"):
            value = preset
            for part in path.split("."):
                value = getattr(value, part)
            own.append(value)
        own = own[0] if len(own) == 1 else tuple(own)
        assert own not in values, f"{name}: {field} lists the preset's own value {own!r}"
        for value in values:
            changed = apply(preset, field_settings(field, value))
            check_settings_take_effect(study, preset, field_settings(field, value))  # the study does not override it
            for cfg in _distinct(study.runs(changed, 0).values()):
                validate(cfg)  # a neighbour is a valid run: ConfigError otherwise


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in case_study_names() if get_case_study(n).family])
def test_every_pair_of_family_values_is_a_valid_run(name, built_once):
    """A neighbour changes up to two fields, and run_robustness refuses an invalid one before any training."""
    import itertools

    study = get_case_study(name)
    preset = study.presets["quick"]
    validated = set()  # a config two neighbours share (e.g. one that a field of the pair does not reach) is validated once
    for (f1, values1), (f2, values2) in itertools.combinations(study.family.items(), 2):
        for v1, v2 in itertools.product(values1, values2):
            check_settings_take_effect(study, preset, field_settings(f1, v1) + field_settings(f2, v2))
            for cfg in _distinct(study.runs(apply(preset, field_settings(f1, v1) + field_settings(f2, v2)), 0).values()):
                if repr(cfg) not in validated:
                    validate(cfg)
                    validated.add(repr(cfg))


def test_fields_that_change_together_are_set_together_and_checked():
    family = {"task.d_vocab+model.d_vocab": ((32, 32), (128, 128)), "train.lr": (0.5,)}
    drawn = neighbours(family, 5, seed=0)
    assert len(drawn) == 5 and all(("task.d_vocab=32" in n.settings) == ("model.d_vocab=32" in n.settings) for n in drawn)
    assert {"task.d_vocab=128", "model.d_vocab=128", "train.lr=0.5"} in [set(n.settings) for n in drawn]
    with pytest.raises(ConfigError, match="joins 2 paths"):
        field_settings("task.d_vocab+model.d_vocab", (32,))


def _report(passes):
    return BridgeReport("toy", "quick", 0, checks=[check(name, float(p), "== 1", p) for name, p in passes.items()])


def test_the_table_counts_rows_runs_and_errors():
    results = {
        "train.lr=0.1": {0: _report({"a": True, "b": True}), 1: _report({"a": True, "b": False})},
        "task.depth=3": {0: "FloatingPointError: loss diverged at step 12", 1: _report({"a": False, "b": True})},
    }
    table = summarise(results, "toy", "quick")
    assert table["pass_fraction"] == 0.25
    assert table["rows"] == {"a": {"pass_fraction": 2 / 3, "runs": 3}, "b": {"pass_fraction": 2 / 3, "runs": 3}}
    assert table["neighbours"] == {"train.lr=0.1": 0.5, "task.depth=3": 0.0}
    errors = [r for r in table["runs"] if r["verdict"] == "error"]
    assert len(errors) == 1 and errors[0]["error"].startswith("FloatingPointError") and errors[0]["seed"] == 0
    assert [r["failed_claims"] for r in table["runs"] if r["verdict"] == "partial"] == [["b"], ["a"]]
    md = to_markdown(table)
    assert "1 of 4 runs pass" in md and "| task.depth=3 | 0 | error | FloatingPointError" in md


def test_a_bar_in_a_row_name_is_escaped_in_the_table_not_turned_into_a_slash():
    table = summarise({"train.lr=0.1": {0: _report({"max |u − s|/s": False})}}, "toy", "quick")
    md = to_markdown(table)
    assert "| train.lr=0.1 | 0 | fail | max \\|u − s\\|/s |" in md and "| max \\|u − s\\|/s | 0.00 | 1 |" in md


def _cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "bridge.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout(600))


@pytest.mark.slow
def test_deep_linear_on_two_neighbours_end_to_end(tmp_path):
    out = tmp_path / "robust"
    result = _cli("robustness", "deep-linear", "--neighbours", "2", "--seeds", "0", "--out", str(out), "--quiet", cwd=tmp_path)
    table = json.loads((out / "robustness.json").read_text())
    assert result.returncode == (0 if all(r["verdict"] == "pass" for r in table["runs"]) else 1), result.stderr
    assert [n.key for n in neighbours(get_case_study("deep-linear").family, 2)] == list(table["neighbours"])
    for run in table["runs"]:
        report = json.loads((out / run["neighbour"] / "seed-0" / "report.json").read_text())
        assert report["verdict"] == run["verdict"] and report["settings"] == run["neighbour"].split(",")
    assert (out / "robustness.md").read_text().startswith("## Robustness: deep-linear around preset quick")


class FailFirst:
    """A backend that runs every job in this process but reports the first one's worker as dead."""

    name = "fail-first"

    def run(self, jobs, on_done):
        for i, job in enumerate(jobs):
            on_done({"key": job.key, "status": "failed", "error": "WorkerCrashedError: the worker died"} if i == 0 else job.fn(*job.args))


@pytest.mark.slow
def test_on_a_backend_each_neighbour_is_a_job_and_a_dead_one_is_recorded(tmp_path):
    from case_studies.generality.robustness import run_robustness

    table = run_robustness("deep-linear", "quick", tmp_path / "robust", n_neighbours=2, seeds=[0], device="cpu", progress=False, backend=FailFirst())
    first, second = table["runs"]
    assert first["verdict"] == "error" and first["error"] == "WorkerCrashedError: the worker died"
    report = json.loads((tmp_path / "robust" / second["neighbour"] / "seed-0" / "report.json").read_text())
    assert second["verdict"] == report["verdict"] and second["failed_claims"] == report["failed_claims"]
    assert set(table["rows"]) == {m["key"] or m["prediction"] for m in report["matches"]} | {c["key"] or c["name"] for c in report["checks"]}  # rows by key, else name
    assert table["pass_fraction"] == (0.5 if report["verdict"] == "pass" else 0.0)


def test_base_settings_change_the_preset_under_every_neighbour(tmp_path):
    from case_studies.generality.robustness import run_robustness

    table = run_robustness("deep-linear", "quick", tmp_path / "r", n_neighbours=1, seeds=[0], device="cpu", progress=False, settings=["train.steps=60"])
    run = table["runs"][0]
    report = json.loads((tmp_path / "r" / run["neighbour"] / "seed-0" / "report.json").read_text())
    assert report["settings"] == ["train.steps=60", *run["neighbour"].split(",")] and table["settings"] == ["train.steps=60"]
    assert json.loads((tmp_path / "r" / run["neighbour"] / "seed-0" / "run.json").read_text())["config"]["train"]["steps"] == 60
    assert (tmp_path / "r" / "robustness.md").read_text().startswith("## Robustness: deep-linear around preset quick with train.steps=60")
    assert isinstance(table, RobustnessJSON) and table._repr_markdown_() == load_robustness(tmp_path / "r").markdown  # a notebook shows the table
    with pytest.raises(ConfigError, match="train.stepz"):
        run_robustness("deep-linear", "quick", tmp_path / "bad", n_neighbours=1, seeds=[0], device="cpu", settings=["train.stepz=60"])
    assert not (tmp_path / "bad").exists()


@pytest.mark.parametrize("lr", ["3", "1000"])  # 1000: the weights overflow before the loss does (an SVD of them would fail)
def test_a_diverged_run_s_report_is_on_record_so_a_backend_s_table_reads_it(tmp_path, lr):
    from case_studies import run_case_study
    from case_studies.generality.robustness import StoredReport

    report = run_case_study("deep-linear", "quick", tmp_path / "run", device="cpu", progress=False, settings=[f"train.lr={lr}"])
    assert report.verdict == "invalid" and "diverged" in report.extra
    stored = StoredReport.read(tmp_path / "run")  # checks report.json against the record in run.json
    assert stored.verdict == "invalid" and stored.failed_preconditions == ["run 'main' trained without diverging"]
    result = _cli("report", str(tmp_path / "run"), "--rebuild", cwd=tmp_path)
    assert result.returncode == 2 and "holds a run that failed (Diverged" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_resumed_robustness_reads_a_diverged_neighbour_s_report(tmp_path):
    from case_studies.generality.robustness import run_robustness

    kwargs = dict(n_neighbours=1, seeds=[0], draw_seed=1, device="cpu", progress=False, settings=["train.lr=3"])  # draw 1: model.d_hidden=256, the base lr stays
    first = run_robustness("deep-linear", "quick", tmp_path / "r", **kwargs)
    again = run_robustness("deep-linear", "quick", tmp_path / "r", resume=True, **kwargs)
    assert [r["verdict"] for r in again["runs"]] == [r["verdict"] for r in first["runs"]] == ["invalid"]
    assert again["runs"][0]["failed_preconditions"] == ["run 'main' trained without diverging"]


def test_a_report_left_from_a_stopped_extension_is_not_taken_as_finished(tmp_path):
    from bridge.runs.run_json import has_report
    from bridge.runs.storage import atomic_write_json, read_json
    from case_studies.generality.robustness import run_robustness

    kwargs = dict(n_neighbours=1, seeds=[0], draw_seed=1, device="cpu", progress=False)
    first = run_robustness("deep-linear", "quick", tmp_path / "r", **kwargs)
    folder = tmp_path / "r" / first["runs"][0]["neighbour"] / "seed-0"
    assert has_report(folder)
    # what a stop during a longer budget's training leaves: the old report, its record gone from run.json
    info = read_json(folder / "run.json")
    info["files"] = {k: v for k, v in info["files"].items() if k != "report.json"}
    atomic_write_json(folder / "run.json", info)
    report = read_json(folder / "report.json")
    atomic_write_json(folder / "report.json", {**report, "verdict": "stale"})
    assert not has_report(folder)
    again = run_robustness("deep-linear", "quick", tmp_path / "r", resume=True, **kwargs)
    assert [r["verdict"] for r in again["runs"]] == [r["verdict"] for r in first["runs"]] != ["stale"]
    assert has_report(folder) and read_json(folder / "report.json")["verdict"] == first["runs"][0]["verdict"]


def test_a_report_that_records_a_diverged_auxiliary_run_is_read_not_rebuilt(tmp_path):
    from bridge.runs.checksums import record
    from bridge.runs.run import RunError, load_run
    from bridge.runs.storage import atomic_write_json, read_json
    from case_studies import rebuild_report
    from case_studies.generality.robustness import run_robustness

    kwargs = dict(n_neighbours=1, seeds=[0], draw_seed=1, device="cpu", progress=False)
    first = run_robustness("deep-linear", "quick", tmp_path / "r", **kwargs)
    folder = tmp_path / "r" / first["runs"][0]["neighbour"] / "seed-0"
    # what a study whose auxiliary run diverged leaves: a complete main run and a report that says where
    report = {**read_json(folder / "report.json"), "verdict": "invalid", "diverged": {"run": "aux", "step": 3}}
    atomic_write_json(folder / "report.json", report)
    load_run(folder).update_info(files={**load_run(folder).info["files"], **record(folder, ["report.json"])})
    with pytest.raises(RunError, match="its run 'aux' diverged at step 3"):
        rebuild_report(folder)
    again = run_robustness("deep-linear", "quick", tmp_path / "r", resume=True, **kwargs)
    assert [r["verdict"] for r in again["runs"]] == ["invalid"]


def test_a_setting_the_study_overrides_is_refused_and_linked_or_transformed_ones_pass():
    deep = get_case_study("deep-linear")
    with pytest.raises(ConfigError, match=r"--set model.d_out=5 changes no run of 'deep-linear': the study sets model.d_out itself \(to 31\)"):
        check_settings_take_effect(deep, deep.presets["quick"], ["model.d_out=5"])
    check_settings_take_effect(deep, deep.presets["quick"], ["model.d_out=31", "train.lr=0.05"])  # the value it uses anyway; a real change
    kernel = get_case_study("kernel-limit")
    check_settings_take_effect(kernel, kernel.presets["quick"], ["train.lr=0.02"])  # each run uses η/α²: never 0.02 itself, but every run changes
    with pytest.raises(ConfigError, match="model.d_in"):
        check_settings_take_effect(kernel, kernel.presets["quick"], ["model.d_in=7"])  # follows task.d


def test_resuming_a_robustness_table_with_other_settings_is_refused(tmp_path, capsys):
    from bridge.cli import main

    out = tmp_path / "rob"
    args = ["robustness", "deep-linear", "--neighbours", "1", "--seeds", "0", "--device", "cpu", "--out", str(out), "--quiet"]
    main([*args, "--set", "train.steps=40"])
    capsys.readouterr()
    assert main([*args, "--set", "train.steps=60", "--resume"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "was trained with settings" in err and "train.steps=40" in err
    assert main([*args, "--set", "train.steps=40", "--resume"]) in (0, 1)  # the same settings resume


def test_seeds_refuse_a_setting_the_study_overrides_before_any_work(tmp_path, capsys):
    from bridge.cli import main

    assert main(["run", "deep-linear", "--seeds", "0-1", "--set", "model.d_out=5", "--out", str(tmp_path / "s"), "--quiet"]) == 2
    assert "changes no run of 'deep-linear'" in capsys.readouterr().err and not (tmp_path / "s").exists()


def test_a_budgeted_table_resumes_with_the_settings_it_was_trained_with(tmp_path):
    from bridge.runs.storage import read_json
    from case_studies.generality.robustness import run_robustness

    kwargs = dict(n_neighbours=1, seeds=[0], draw_seed=1, device="cpu", progress=False, settings=["train.steps=100"], budget=1600)
    first = run_robustness("deep-linear", "quick", tmp_path / "r", **kwargs)
    folder = tmp_path / "r" / first["runs"][0]["neighbour"] / "seed-0"
    recorded = read_json(folder / "run.json")["settings"]
    assert recorded[0] == "train.steps=100" and recorded[-1].startswith("train.steps=") and recorded[-1] != "train.steps=100"  # the budget extended it
    again = run_robustness("deep-linear", "quick", tmp_path / "r", resume=True, **kwargs)
    assert [r["verdict"] for r in again["runs"]] == [r["verdict"] for r in first["runs"]]
    with pytest.raises(ConfigError, match="was trained with settings"):
        run_robustness("deep-linear", "quick", tmp_path / "r", resume=True, **{**kwargs, "settings": ["train.steps=120"]})


def test_a_run_that_raised_counts_against_its_neighbour_s_pass_fraction():
    results = {
        "train.lr=0.1": {0: _report({"a": True}), 1: "RuntimeError: out of memory", 2: _report({"a": True})},
        "task.depth=3": {0: _report({"a": True}), 1: _report({"a": False})},
    }
    table = summarise(results, "toy", "quick")
    assert table["neighbours"] == {"train.lr=0.1": pytest.approx(2 / 3), "task.depth=3": 0.5}
    assert table["pass_fraction"] == pytest.approx(3 / 5)
    assert table["rows"] == {"a": {"pass_fraction": 0.75, "runs": 4}}
