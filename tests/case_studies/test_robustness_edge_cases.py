"""Robustness tables at their edges: what is refused before any run, a run that raises, stored reports, keys."""

import dataclasses
import json

import pytest

from bridge.config import ConfigError
from case_studies import get_case_study
from case_studies.generality.robustness import neighbours, run_robustness

FAMILY = {"train.lr": (0.025, 0.1), "model.d_hidden": (64, 256)}


@pytest.mark.parametrize(("n", "named"), [(0, "got 0"), (-2, "got -2"), ("3", "got '3'"), (2.5, "got 2.5"), (True, "got True")])
def test_the_number_of_neighbours_is_a_positive_integer(n, named):
    with pytest.raises(ConfigError, match="neighbours takes n") as refused:
        neighbours(FAMILY, n)
    assert named in str(refused.value)


@pytest.mark.parametrize(("kwargs", "message"), [
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
