"""Robustness tables resumed and checked before any work: a preset object's table resumes, every neighbour and seed is
validated first, a file is never taken for a neighbour's folder, stored rows keep their verdicts, a family lists tuples."""

import dataclasses
import json

import pytest

from bridge.config import ConfigError
from case_studies import get_case_study
from case_studies.generality.robustness import StoredReport, neighbours, run_robustness, summarise


def test_a_table_of_a_preset_object_resumes_without_training_again(tmp_path):
    quick = get_case_study("deep-linear").presets["quick"]
    short = dataclasses.replace(quick, train=dataclasses.replace(quick.train, steps=40))
    kwargs = dict(n_neighbours=1, seeds=[0, 1], device="cpu", progress=False)
    first = run_robustness("deep-linear", short, tmp_path / "r", **kwargs)
    folder = tmp_path / "r" / first["runs"][0]["neighbour"] / "seed-1"
    metrics = (folder / "metrics.csv").read_bytes()
    again = run_robustness("deep-linear", short, tmp_path / "r", resume=True, **kwargs)
    assert [(r["verdict"], r["error"]) for r in again["runs"]] == [(r["verdict"], r["error"]) for r in first["runs"]]
    assert all(r["error"] is None for r in again["runs"]) and again["preset"] == "custom"
    assert (folder / "metrics.csv").read_bytes() == metrics and json.loads((folder / "run.json").read_text())["config"]["train"]["steps"] == 40


def test_every_neighbour_and_seed_is_validated_before_any_work(tmp_path, monkeypatch):
    import bridge.training.inputs as inputs

    chosen = neighbours(get_case_study("deep-linear").family, 2)
    validated, real = [], inputs.validate

    def validate(cfg):
        validated.append((cfg.seed, cfg.train.lr, cfg.model.d_hidden, cfg.task.depth))
        if len(validated) == 4:  # the second neighbour, seed 1
            raise ConfigError("model.d_hidden does not fit")
        return real(cfg)

    monkeypatch.setattr(inputs, "validate", validate)
    with pytest.raises(ConfigError, match="model.d_hidden does not fit"):
        run_robustness("deep-linear", "quick", tmp_path / "r", n_neighbours=2, seeds=[0, 1], device="cpu", progress=False)
    assert not (tmp_path / "r").exists() and [v[0] for v in validated] == [0, 1, 0, 1]
    assert {v[1:] for v in validated[2:]} != {v[1:] for v in validated[:2]} and len(chosen) == 2  # two neighbours, each under both seeds


def test_a_file_named_like_a_neighbour_is_not_part_of_a_robustness_output(tmp_path):
    out = tmp_path / "r"
    out.mkdir()
    (out / "train.lr=0.1").write_text("a note")
    with pytest.raises(FileExistsError, match=r"not part of a robustness output \(train\.lr=0\.1\)"):
        run_robustness("deep-linear", "quick", out, n_neighbours=1, seeds=[0], device="cpu", resume=True)
    assert [p.name for p in out.iterdir()] == ["train.lr=0.1"]


def test_a_stored_match_that_failed_is_a_failing_row_of_the_table(monkeypatch):
    import bridge.runs.run as run_module

    data = {"verdict": "partial", "failed_claims": ["mode 1"], "failed_preconditions": [],
            "matches": [{"prediction": "mode 0", "passed": True}, {"prediction": "mode 1", "passed": False}], "checks": [{"name": "order", "key": "", "passed": True, "role": "claim", "reason": ""}]}
    monkeypatch.setattr(run_module, "load_run", lambda folder: type("Run", (), {"report": data})())
    stored = StoredReport.read("anywhere")
    assert [(r.row_key, r.passed) for r in stored.rows] == [("mode 0", True), ("mode 1", False), ("order", True)]
    table = summarise({"n": {0: stored, 1: StoredReport("pass", [], [], [r for r in stored.rows if r.row_key != "mode 1"])}}, "toy", "quick")
    assert table["rows"] == {"mode 0": {"pass_fraction": 1.0, "runs": 2}, "mode 1": {"pass_fraction": 0.0, "runs": 1}, "order": {"pass_fraction": 1.0, "runs": 2}}
    assert (table["pass_fraction"], table["neighbours"]) == (0.5, {"n": 0.5})


def test_a_match_whose_name_holds_a_measured_strength_is_one_row_by_its_key_across_neighbours_and_seeds(tmp_path, monkeypatch):
    """deep-linear names each mode's match by its strength s, which the task sets: neighbouring tasks gave one row
    per strength; its key joins them, in a robustness table read from report.json and in a seed report."""
    import bridge.runs.run as run_module
    from bridge.match import match
    from bridge.report import BridgeReport
    from bridge.stages import Event
    from case_studies.generality.seeds import summarise as over_seeds

    rows = {s: match(f"mode 0 (level 0, s={s:.3f}) half-rise", 100.0, Event("rise", 100.0 + 10 * i, 95, 105), None, 0.05, require_mechanism=False, key="mode 0 half-rise")
            for i, s in enumerate((1.392, 0.968))}
    reports = {s: BridgeReport("deep-linear", "quick", 0, matches=[m]) for s, m in rows.items()}
    stored = {}
    for s, report in reports.items():
        (tmp_path / str(s)).mkdir()
        data = json.loads(report.write(tmp_path / str(s)).read_text())
        assert data["matches"][0]["key"] == "mode 0 half-rise"
        monkeypatch.setattr(run_module, "load_run", lambda folder, data=data: type("Run", (), {"report": data})())
        stored[s] = StoredReport.read(tmp_path / str(s))
    table = summarise({"task.depth=3": {0: stored[1.392]}, "task.depth=4": {0: stored[0.968]}}, "deep-linear", "quick")
    assert table["rows"] == {"mode 0 half-rise": {"pass_fraction": 0.5, "runs": 2}}
    seeds = over_seeds({0: reports[1.392], 1: reports[0.968]}, "deep-linear", "quick", threshold=0.5)
    assert list(seeds.rows) == ["mode 0 half-rise"] and seeds.rows["mode 0 half-rise"]["passed"] == {0: True, 1: False}


def test_a_table_without_runs_passes_none():
    table = summarise({}, "toy", "quick")
    assert (table["pass_fraction"], table["runs"], table["rows"], table["neighbours"]) == (0.0, [], {}, {})


@pytest.mark.parametrize(("values", "named"), [("0.1", "got '0.1' (a string is not one value: give ('0.1',))"), (0.1, "got 0.1"), (None, "got None")])
def test_a_family_field_whose_values_are_not_a_tuple_is_refused_naming_it(values, named):
    with pytest.raises(ConfigError, match=f"family field 'train.lr' needs a tuple of values to try, {named.replace('(', '[(]').replace(')', '[)]')}"):
        neighbours({"train.lr": values, "model.d_hidden": (64,)}, 2)
    assert [n.settings for n in neighbours({"train.lr": [0.1]}, 2)] == [("train.lr=0.1",)]  # a list is a tuple of values too
