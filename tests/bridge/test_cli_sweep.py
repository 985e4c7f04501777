"""``mechbridge sweep``: what it hands to run_sweep, its summary line and its exit code (run_sweep replaced by a record)."""

from pathlib import Path

import pandas as pd
import pytest

import bridge.sweep
from bridge.cli.app import main


class _Result:
    def __init__(self, states):
        self.keys = [f"p{i}" for i in range(len(states))]
        self.states = states

    def status(self):
        return pd.DataFrame({"key": self.keys, "status": self.states, "error": [""] * len(self.states)})


class _Calls(list):
    pass


@pytest.fixture
def sweep_calls(monkeypatch):
    made = _Calls()
    made.states = ["done", "done"]
    monkeypatch.setattr(bridge.sweep, "run_sweep", lambda case, out, **kw: made.append((case, out, kw)) or _Result(made.states))
    return made


def test_the_command_line_is_handed_to_run_sweep_as_typed(sweep_calls, capsys):
    code = main(["sweep", "deep-linear", "--grid", "train.lr=1e-3,[1,2]", "--grid", "model.d_hidden=8", "--seeds", "2,0-1", "--set", "train.steps=5", "--threads", "2", "--quiet"])
    assert code == 0
    (case, out, kw), = sweep_calls
    assert (case, out) == ("deep-linear", Path("sweeps") / "deep-linear-quick")
    assert kw["grid"] == {"train.lr": ["1e-3", "[1,2]"], "model.d_hidden": ["8"]} and list(kw["grid"]) == ["train.lr", "model.d_hidden"]
    assert (kw["seeds"], kw["settings"], kw["threads"], kw["backend"], kw["device"], kw["progress"], kw["loggers"]) == ([0, 1, 2], ["train.steps=5"], 2, "local", "cpu", False, [])
    assert capsys.readouterr().out == f"deep-linear [quick] sweep of 2 points: 2 done — results: {Path('sweeps') / 'deep-linear-quick' / 'results.csv'}\n"


def test_a_sweep_with_a_point_not_done_exits_1_and_counts_each_state(sweep_calls, capsys, tmp_path):
    sweep_calls.states = ["interrupted", "failed", "interrupted", "done"]
    assert main(["sweep", "deep-linear", "--seeds", "0-3", "--out", str(tmp_path / "sw")]) == 1
    assert capsys.readouterr().out == f"deep-linear [quick] sweep of 4 points: 1 done, 1 failed, 2 interrupted — results: {tmp_path / 'sw' / 'results.csv'}\n"


def test_a_sweep_of_one_point_says_point(sweep_calls, capsys, tmp_path):
    sweep_calls.states = ["done"]
    assert main(["sweep", "deep-linear", "--seeds", "0", "--out", str(tmp_path / "sw")]) == 0
    assert capsys.readouterr().out == f"deep-linear [quick] sweep of 1 point: 1 done — results: {tmp_path / 'sw' / 'results.csv'}\n"


@pytest.mark.parametrize("extra", [["--workers", "2"], ["--address", "auto"], ["--cluster", "local"]])
def test_backend_options_on_the_local_backend_are_refused_before_any_work(sweep_calls, capsys, extra):
    assert main(["sweep", "deep-linear", "--seeds", "0", *extra]) == 2
    assert sweep_calls == []
    assert capsys.readouterr().err == "mechbridge: error: --address, --workers and --cluster apply to the ray and submitit backends\n"


def test_status_prints_one_aligned_line_per_point_and_the_counts(tmp_path, capsys):
    from bridge.sweep.grid import grid_points
    from bridge.sweep.manifest import new_manifest, write_manifest

    write_manifest(tmp_path, new_manifest({"kind": "run"}, grid_points({"train.lr": [0.1, 0.25]}, seeds=[0]), "local"))
    assert main(["sweep", "--status", str(tmp_path)]) == 0
    assert capsys.readouterr().out.splitlines() == ["train.lr=0.1__seed=0   pending", "train.lr=0.25__seed=0  pending", "2 points: 2 pending"]


def test_a_sweep_json_that_does_not_parse_is_one_line_naming_its_directory_and_is_kept(tmp_path, capsys):
    (tmp_path / "sw").mkdir()
    (tmp_path / "sw" / "sweep.json").write_text("{not json")
    for args in (["sweep", "--status", str(tmp_path / "sw")], ["sweep", "deep-linear", "--seeds", "0", "--out", str(tmp_path / "sw")]):
        assert main(args) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"mechbridge: error: {tmp_path / 'sw' / 'sweep.json'} is not valid JSON (") and err.count("\n") == 1
    assert (tmp_path / "sw" / "sweep.json").read_text() == "{not json" and [p.name for p in (tmp_path / "sw").iterdir()] == ["sweep.json"]


@pytest.mark.parametrize(
    "extra,named",
    [
        (["deep-linear", "--grid", "train.lr=0.1,0.2"], "CASE, --grid"),
        (["deep-linear", "--seeds", "0-3", "--out", "elsewhere"], "CASE, --seeds, --out"),
        (["--set", "train.steps=100"], "--set"),
        (["--backend", "ray", "--workers", "2", "--threads", "2"], "--backend, --workers, --threads"),
        (["--address", "auto", "--cluster", "local", "--device", "cuda", "--preset", "full"], "--preset, --address, --cluster, --device"),
    ],
)
def test_status_with_the_options_of_a_sweep_is_refused_naming_them_and_runs_nothing(tmp_path, capsys, sweep_calls, extra, named):
    """``--status`` printed the state and exit 0, so a sweep command with it added trained nothing and said nothing of it."""
    from bridge.sweep.grid import grid_points
    from bridge.sweep.manifest import new_manifest, write_manifest

    write_manifest(tmp_path, new_manifest({"kind": "run"}, grid_points({"train.lr": [0.1]}, seeds=[0]), "local"))
    assert main(["sweep", "--status", str(tmp_path), *extra]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == f"mechbridge: error: --status DIR prints a sweep's state and trains nothing; it takes no {named} (drop --status to run the sweep)\n"
    assert sweep_calls == [] and [p.name for p in tmp_path.iterdir()] == ["sweep.json"]


@pytest.mark.parametrize("setting", ["train.lr=0.5", " train.lr =0.5"])
def test_a_setting_and_a_grid_axis_of_the_same_field_are_refused_naming_it(sweep_calls, capsys, tmp_path, setting):
    """The grid's values silently replaced ``--set`` of the same field at every point."""
    assert main(["sweep", "deep-linear", "--set", "train.steps=5", "--set", setting, "--grid", "train.lr=0.05,0.1", "--out", str(tmp_path / "sw")]) == 2
    assert capsys.readouterr().err == f"mechbridge: error: --set {setting.strip()} and --grid train.lr=... both set train.lr: every point would take the grid's value; give train.lr in one of them\n"
    assert sweep_calls == [] and not (tmp_path / "sw").exists()
