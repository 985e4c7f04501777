"""Robustness tables at their edges: what is refused before any run, a run that raises, stored reports, keys."""

import dataclasses
import json

import pytest
import torch

import case_studies.generality.robustness as rob
from bridge.config import ConfigError
from bridge.match import check
from bridge.report import BridgeReport, not_reached
from bridge.sweep.grid import value_text
from case_studies import get_case_study
from case_studies.generality.robustness import Neighbour, StoredReport, field_settings, neighbours, run_robustness, summarise, to_markdown

FAMILY = {"train.lr": (0.025, 0.1), "model.d_hidden": (64, 256)}


def test_a_slash_in_a_setting_does_not_make_a_nested_folder():
    assert Neighbour(("task.path=data/a.csv", "train.lr=0.1")).key == "task.path=data_a.csv,train.lr=0.1"


def test_a_list_value_of_one_field_is_one_setting():
    assert field_settings("model.widths", (64, 64)) == ["model.widths=[64, 64]"]
    assert field_settings("task.n_ctx+model.n_ctx", [28, 28]) == ["task.n_ctx=28", "model.n_ctx=28"]
    with pytest.raises(ConfigError, match=r"joins 2 paths, so each value needs 2 parts, got \(28, 28, 28\)"):
        field_settings("task.n_ctx+model.n_ctx", (28, 28, 28))


@pytest.mark.parametrize(("n", "named"), [(0, "got 0"), (-2, "got -2"), ("3", "got '3'"), (2.5, "got 2.5"), (True, "got True")])
def test_the_number_of_neighbours_is_a_positive_integer(n, named):
    with pytest.raises(ConfigError, match="neighbours takes n") as refused:
        neighbours(FAMILY, n)
    assert named in str(refused.value)


def _report(seed, *failing, preconditions=()):
    rows = [check(name, 0.0, "== 1", False) for name in failing] + [check(name, None, "present", False, role="precondition", reason=why) for name, why in preconditions]
    return BridgeReport("toy", "quick", seed, checks=[check("a", 1.0, "== 1", True), *rows])


def test_the_table_names_the_failed_preconditions_and_claims_of_each_run():
    table = summarise({"train.lr=0.1": {0: _report(0, "b", preconditions=[("phenomenon", "no drop")]), 1: _report(1, "b")}}, "toy", "quick")
    lines = to_markdown(table).splitlines()
    assert lines[0] == "## Robustness: toy around preset quick"
    assert "| train.lr=0.1 | 0 | invalid | phenomenon, b |" in lines and "| train.lr=0.1 | 1 | partial | b |" in lines
    assert lines[2].startswith("0 of 2 runs pass (fraction 0.00); in 0 the phenomenon was not reached")
    table["settings"] = []  # run_robustness records the base settings, none here
    assert to_markdown(table).splitlines()[0] == "## Robustness: toy around preset quick"
    table["settings"] = ["train.steps=60", "train.lr=0.2"]
    assert to_markdown(table).splitlines()[0] == "## Robustness: toy around preset quick with train.steps=60, train.lr=0.2"


def test_a_stored_report_reads_rows_by_key_and_not_reached_from_any_check(monkeypatch):
    import bridge.runs.run as run_module

    data = {
        "verdict": "invalid", "failed_claims": [], "failed_preconditions": ["phenomenon"], "extended": [{"from": 100, "to": 200}],
        "matches": [{"prediction": "mode 0", "passed": True}],
        "checks": [{"name": "L1H3 induction score", "key": "induction head: score", "passed": True, "role": "claim", "reason": ""},
                   {"name": "phenomenon", "key": "", "passed": False, "role": "precondition", "reason": not_reached(200)}],
    }
    monkeypatch.setattr(run_module, "load_run", lambda folder: type("Run", (), {"report": data})())
    stored = StoredReport.read("anywhere")
    assert [(r.row_key, r.passed) for r in stored.rows] == [("mode 0", True), ("induction head: score", True), ("phenomenon", False)]
    assert stored.not_reached and stored.extra == {"extended": [{"from": 100, "to": 200}]}
    assert summarise({"n": {0: stored}}, "toy", "quick")["runs"][0]["extended_to"] == 200


def test_a_study_without_a_family_is_refused_before_any_work(tmp_path, monkeypatch):
    monkeypatch.setattr(type(get_case_study("deep-linear")), "family", {})
    with pytest.raises(ConfigError, match="'deep-linear' declares no family"):
        run_robustness("deep-linear", "quick", tmp_path / "r", n_neighbours=1, seeds=[0], device="cpu")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"budget": 10}, r"budget cap \(10 steps\) is below the preset's train.steps \(600\)"),
    ({"seeds": []}, "no seed"),
    ({"seeds": "0-2"}, "seeds must be a list of integers, got '0-2'"),
    ({"seeds": [0, -1]}, "seeds must be non-negative integers, got -1"),
    ({"n_neighbours": 0}, "neighbours takes n >= 1"),
    ({"n_neighbours": "8"}, "neighbours takes n >= 1 and max_changes >= 1 \\(integers\\), got '8'"),
])
def test_bad_arguments_are_refused_before_any_work(tmp_path, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        run_robustness("deep-linear", "quick", tmp_path / "r", **{"n_neighbours": 1, "seeds": [0], "device": "cpu", **kwargs})
    assert not (tmp_path / "r").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_a_device_this_machine_lacks_is_refused_before_any_work(tmp_path):
    with pytest.raises(ConfigError, match="CUDA is not available"):
        run_robustness("deep-linear", "quick", tmp_path / "r", n_neighbours=1, seeds=[0], device="cuda")
    assert not (tmp_path / "r").exists()


def test_a_run_that_raises_is_recorded_by_its_error_and_the_table_by_its_draw(tmp_path, monkeypatch):
    family = get_case_study("deep-linear").family
    chosen = neighbours(family, 2, seed=1)
    assert chosen != neighbours(family, 2, seed=0)

    def train(name, preset, seed, settings, key, folder, **options):
        if (key, seed) == (chosen[0].key, 1):
            raise ValueError("loss is not finite\nat step 7")
        return BridgeReport(name, preset, seed, checks=[check("a", 1.0, "== 1", True)])

    monkeypatch.setattr(rob, "train_neighbour", train)
    table = run_robustness("deep-linear", "quick", tmp_path / "r", n_neighbours=2, seeds=[0, 1], draw_seed=1, device="cpu", progress=False)
    assert [(r["neighbour"], r["seed"], r["verdict"], r["error"]) for r in table["runs"]] == [
        (chosen[0].key, 0, "pass", None), (chosen[0].key, 1, "error", "ValueError: loss is not finite"), (chosen[1].key, 0, "pass", None), (chosen[1].key, 1, "pass", None)]
    saved = json.loads((tmp_path / "r" / "robustness.json").read_text())
    assert (saved["seeds"], saved["draw_seed"], saved["settings"]) == ([0, 1], 1, [])
    assert saved["family"] == {k: [value_text(v) for v in values] for k, values in family.items()}
    assert saved["pass_fraction"] == 0.75 and saved["neighbours"] == {chosen[0].key: 0.5, chosen[1].key: 1.0}
    assert f"| {chosen[0].key} | 1 | error | ValueError: loss is not finite |" in (tmp_path / "r" / "robustness.md").read_text()


def test_a_preset_object_is_run_as_given(tmp_path):
    quick = get_case_study("deep-linear").presets["quick"]
    short = dataclasses.replace(quick, train=dataclasses.replace(quick.train, steps=40))
    table = run_robustness("deep-linear", short, tmp_path / "r", n_neighbours=1, seeds=[0], device="cpu", progress=False)
    [run] = table["runs"]
    assert table["preset"] == "custom" and run["verdict"] != "error", run["error"]
    info = json.loads((tmp_path / "r" / run["neighbour"] / "seed-0" / "run.json").read_text())
    assert info["config"]["train"]["steps"] == 40 and info["settings"] == run["neighbour"].split(",")


@pytest.mark.parametrize("found", ["run.json", "seed-0", "notes.txt"])
def test_resume_refuses_a_folder_that_is_not_a_robustness_output_and_writes_nothing(tmp_path, found):
    out = tmp_path / "r"
    out.mkdir()
    (out / found).mkdir() if found == "seed-0" else (out / found).write_text("{}")
    with pytest.raises(FileExistsError, match=f"not part of a robustness output \\({found}\\)"):
        run_robustness("deep-linear", "quick", out, n_neighbours=1, seeds=[0], device="cpu", resume=True)
    assert [p.name for p in out.iterdir()] == [found]


class InProcess:
    """A backend that runs every job here; the first call reports the first job's worker as dead, with a traceback."""

    name = "in-process"

    def __init__(self):
        self.calls = []

    def run(self, jobs, on_done):
        self.calls.append([job.key for job in jobs])
        for i, job in enumerate(jobs):
            dead = len(self.calls) == 1 and i == 0
            on_done({"key": job.key, "status": "failed", "error": "WorkerCrashedError: the worker died\nTraceback (most recent call last):\n  ..."} if dead else job.fn(*job.args))


def test_on_a_backend_an_error_is_one_line_and_resume_runs_only_what_is_missing(tmp_path):
    backend = InProcess()
    kwargs = dict(n_neighbours=1, seeds=[0, 1], device="cpu", progress=False, backend=backend, settings=["train.steps=30"])
    first = run_robustness("deep-linear", "quick", tmp_path / "r", **kwargs)
    assert [r["error"] for r in first["runs"]] == ["WorkerCrashedError: the worker died", None]
    again = run_robustness("deep-linear", "quick", tmp_path / "r", resume=True, **kwargs)
    key = first["runs"][0]["neighbour"]
    assert backend.calls == [[f"{key}/seed-0", f"{key}/seed-1"], [f"{key}/seed-0"]]
    assert [r["error"] for r in again["runs"]] == [None, None] and again["runs"][1]["verdict"] == first["runs"][1]["verdict"]


def test_resume_refuses_the_same_settings_in_another_order_before_any_work(tmp_path):
    chosen = neighbours(get_case_study("deep-linear").family, 1)[0]
    folder = tmp_path / "r" / chosen.key / "seed-0"
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps({"settings": ["train.lr=0.2", "train.lr=0.1", *chosen.settings]}))  # trained at lr 0.1
    with pytest.raises(ConfigError, match="was trained with settings"):
        run_robustness("deep-linear", "quick", tmp_path / "r", n_neighbours=1, seeds=[0], device="cpu", resume=True, settings=["train.lr=0.1", "train.lr=0.2"])
    assert sorted(p.name for p in folder.iterdir()) == ["run.json"]
