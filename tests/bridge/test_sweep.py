"""Sweeps on the local backend: points equal their runs trained alone, resume trains only what is missing,
failures are isolated, a different grid is refused, and the CLI runs and reports a case-study sweep."""

import dataclasses
import json
import os
import shutil

import pandas as pd
import pytest
import torch

import bridge
from bridge import ConfigError, RunConfig, ScheduleConfig, TrainConfig, train
from bridge.cli import main
from bridge.models import DeepLinearConfig, MLPConfig
from bridge.sweep import grid_points, load_sweep, parse_grid_option, parse_seeds
from bridge.tasks import LinearTeacherConfig
from helpers import Crash


def tiny(steps=30):
    return RunConfig(
        task=LinearTeacherConfig((2.0, 1.0), d_in=4, d_out=3, n_train=32),
        model=MLPConfig(d_in=4, d_out=3, widths=(8,), activation="tanh"),
        train=TrainConfig(optimizer="adam", lr=0.01, steps=steps, batch_size=8, schedule=ScheduleConfig(n_log=3, every=10)),
    )


def weights(run):
    return run.model_at(run.steps[-1]).state_dict()


def assert_same_weights(a, b):
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for name in wa:
        assert torch.equal(wa[name], wb[name]), name


def test_grid_points_order_keys_and_command_line_values():
    pts = grid_points({"train.lr": ["1e-3", 0.003], "train.optimizer": ["adam", "sgd"]}, seeds=[0, 2])
    assert len(pts) == 8 and pts[0].key == "train.lr=0.001__train.optimizer=adam__seed=0"
    assert [p.seed for p in pts[:2]] == [0, 2]  # seeds vary fastest
    assert pts[1].config_settings() == ["train.lr=0.001", "train.optimizer=adam"]
    assert [p.key for p in grid_points({"train.lr": [1e-3]})] == [p.key for p in grid_points({"train.lr": ["0.001"]})]
    listed = grid_points(points=[{"train.lr": 0.1, "train.weight_decay": 1.0}, {"train.lr": 0.2, "train.weight_decay": 0.5}], seeds=[3])
    assert [p.key for p in listed] == ["train.lr=0.1__train.weight_decay=1.0__seed=3", "train.lr=0.2__train.weight_decay=0.5__seed=3"]
    assert parse_grid_option("model.widths=[8,8],[16]") == ("model.widths", ["[8,8]", "[16]"])
    assert parse_seeds("0-2,7") == [0, 1, 2, 7]
    for bad in ({"train.lr": []}, {"train.lr": [0.1, "0.1"]}):
        with pytest.raises(ConfigError):
            grid_points(bad)
    with pytest.raises(ConfigError, match="either a grid or a list"):
        grid_points({"train.lr": [0.1]}, points=[{"train.lr": 0.1}])
    with pytest.raises(ConfigError, match="runs backwards"):
        parse_seeds("5-2")


def test_every_point_equals_its_config_trained_alone_and_the_table_holds_its_final_metrics(tmp_path):
    base = tiny()
    swept = bridge.sweep(base, tmp_path / "sw", grid={"train.lr": ["3e-3", "1e-2"]}, seeds=[0, 1], progress=False, stack=False)
    assert swept.keys == ["train.lr=0.003__seed=0", "train.lr=0.003__seed=1", "train.lr=0.01__seed=0", "train.lr=0.01__seed=1"]
    assert list(swept.trained) == swept.keys
    table = pd.read_csv(tmp_path / "sw" / "results.csv")
    pd.testing.assert_frame_equal(table, load_sweep(tmp_path / "sw").table)
    assert table["status"].tolist() == ["done"] * 4 and table["seed"].tolist() == [0, 1, 0, 1]
    for point, row in zip(swept.points, table.itertuples()):
        alone = train(dataclasses.replace(base, seed=point.seed, train=dataclasses.replace(base.train, lr=point.params["train.lr"])), tmp_path / point.key, progress=False, device="cpu")
        run = swept.run(point.key)
        assert run.config == alone.config
        assert_same_weights(run, alone)
        last = alone.metrics.query("observable == 'loss/train'").sort_values("step")["value"].iloc[-1]
        assert table.loc[row.Index, "loss/train"] == pytest.approx(last, rel=1e-12)
    manifest = json.loads((tmp_path / "sw" / "sweep.json").read_text())
    assert manifest["axes"] == {"train.lr": [0.003, 0.01], "seed": [0, 1]} and "torch" in manifest["versions"]
    assert manifest["target"]["config"]["train"]["lr"] == 0.01  # the base, unchanged
    assert sorted(swept.runs) == swept.keys


def test_a_rerun_trains_only_missing_and_interrupted_points_and_ends_as_an_uninterrupted_sweep(tmp_path):
    base, grid = tiny(60), {"train.lr": [3e-3, 1e-2]}
    first = bridge.sweep(base, tmp_path / "sw", grid=grid, seeds=[0, 1], progress=False, stack=False)
    reference = {k: {n: t.clone() for n, t in weights(first.run(k)).items()} for k in first.keys}
    missing, interrupted = first.keys[1], first.keys[2]
    kept = {k: os.stat(tmp_path / "sw" / "points" / k / "run.json").st_mtime_ns for k in first.keys if k not in (missing, interrupted)}
    for key in (missing, interrupted):
        shutil.rmtree(tmp_path / "sw" / "points" / key)
    cfg = first.points[2]
    config = dataclasses.replace(base, seed=cfg.seed, train=dataclasses.replace(base.train, lr=cfg.params["train.lr"]))
    with pytest.raises(KeyboardInterrupt):  # a kill in the middle of the point
        train(config, tmp_path / "sw" / "points" / interrupted, trackers=[Crash(at=40)], progress=False, device="cpu")
    assert load_sweep(tmp_path / "sw").status().set_index("key")["status"].to_dict() == {
        first.keys[0]: "done", missing: "pending", interrupted: "interrupted", first.keys[3]: "done"}
    again = bridge.sweep(base, tmp_path / "sw", grid=grid, seeds=[0, 1], progress=False, stack=False)
    assert set(again.trained) == {missing, interrupted}
    for key, mtime in kept.items():
        assert os.stat(tmp_path / "sw" / "points" / key / "run.json").st_mtime_ns == mtime
    for key in first.keys:
        w = weights(again.run(key))
        for name in w:
            assert torch.equal(w[name], reference[key][name]), (key, name)
    assert again.table["status"].tolist() == ["done"] * 4
    assert bridge.sweep(base, tmp_path / "sw", grid=grid, seeds=[0, 1], progress=False, stack=False).trained == ()


def stacks_of(out):
    return {p["key"]: p.get("stack") for p in json.loads((out / "sweep.json").read_text())["points"]}


def test_the_seeds_of_a_point_train_together_and_agree_with_training_each_alone(tmp_path):
    base, grid = tiny(), {"train.lr": [3e-3, 1e-2]}
    stacked = bridge.sweep(base, tmp_path / "stacked", grid=grid, seeds=[0, 1, 2], progress=False)
    alone = bridge.sweep(base, tmp_path / "alone", grid=grid, seeds=[0, 1, 2], progress=False, stack=False)
    assert stacks_of(tmp_path / "stacked")["train.lr=0.01__seed=1"] == "train.lr=0.01__seed=0 + train.lr=0.01__seed=1 + train.lr=0.01__seed=2"
    assert set(stacks_of(tmp_path / "alone").values()) == {None}
    for key in stacked.keys:  # one vectorised Adam step for three seeds: equal to float rounding
        a, b = stacked.run(key), alone.run(key)
        assert a.config == b.config and a.status == "complete"
        wa, wb = weights(a), weights(b)
        for name in wa:
            torch.testing.assert_close(wa[name], wb[name], rtol=1e-5, atol=1e-6)
    pd.testing.assert_series_equal(stacked.table["loss/train"], alone.table["loss/train"], rtol=1e-5)


def test_an_interrupted_stack_resumes_together_and_seeds_that_cannot_stack_run_alone(tmp_path, monkeypatch):
    base, grid = tiny(60), {"train.lr": [1e-2]}
    reference = bridge.sweep(base, tmp_path / "ref", grid=grid, seeds=[0, 1], progress=False)
    with pytest.raises(KeyboardInterrupt):  # a kill in the middle of the stack
        bridge.sweep(base, tmp_path / "sw", grid=grid, seeds=[0, 1], progress=False, trackers=lambda: [Crash(at=40)])
    assert set(load_sweep(tmp_path / "sw").status()["status"]) == {"interrupted"}
    again = bridge.sweep(base, tmp_path / "sw", grid=grid, seeds=[0, 1], progress=False, trackers=lambda: [Crash(at=-1)])
    assert set(again.trained) == set(reference.keys) and set(stacks_of(tmp_path / "sw").values()) == {" + ".join(reference.keys)}
    for key in reference.keys:
        wa, wb = weights(again.run(key)), weights(reference.run(key))
        assert all(torch.equal(wa[n], wb[n]) for n in wa), key

    from bridge.training import seeds as stacking

    def refuse(*args, **kwargs):
        raise ConfigError("train_seeds needs every seed to have the same loss")

    monkeypatch.setattr(stacking, "train_seeds", refuse)
    alone = bridge.sweep(base, tmp_path / "alone", grid=grid, seeds=[0, 1], progress=False)
    assert alone.table["status"].tolist() == ["done", "done"] and set(stacks_of(tmp_path / "alone").values()) == {None}


def test_a_failing_point_is_recorded_with_its_error_and_the_others_finish(tmp_path, capsys):
    base = RunConfig(
        task=LinearTeacherConfig((2.0, 1.0), d_in=4, d_out=4, n_train=16),
        model=DeepLinearConfig(4, 8, 4, init_std=0.1),
        train=TrainConfig(optimizer="gd", lr=0.05, steps=40, schedule=ScheduleConfig(n_log=3, every=20)),
    )
    with pytest.raises(ConfigError, match="sweep point train.lr=-1.0: train.lr must be a positive number, got -1.0"):  # invalid: before any work
        bridge.sweep(base, tmp_path / "sw", points=[{"train.lr": 0.05}, {"train.lr": -1.0}], progress=False)
    assert not (tmp_path / "sw").exists()
    swept = bridge.sweep(base, tmp_path / "sw", points=[{"train.lr": 0.05}, {"train.lr": 1e4}, {"train.lr": 0.1}], progress=False)
    status = swept.status().set_index("key")
    assert status["status"].tolist() == ["done", "failed", "done"]
    assert status.loc["train.lr=10000.0", "error"].startswith("Diverged: training loss became")
    table = swept.table.set_index("key")
    assert table.loc["train.lr=0.1", "status"] == "done" and table.loc["train.lr=0.1", "loss/train"] < table.loc["train.lr=0.05", "loss/train"]
    assert pd.isna(table.loc["train.lr=10000.0", "loss/train"]) and table.loc["train.lr=10000.0", "status"] == "failed"
    assert main(["sweep", "--status", str(tmp_path / "sw")]) == 0
    out = capsys.readouterr().out
    assert "train.lr=10000.0  failed       Diverged: training loss became" in out and out.strip().endswith("3 points: 2 done, 1 failed")


def test_a_sweep_directory_refuses_another_grid_and_an_unknown_field_is_refused_before_any_work(tmp_path):
    bridge.sweep(tiny(10), tmp_path / "sw", grid={"train.lr": [1e-3, 3e-3]}, progress=False)
    with pytest.raises(ConfigError, match=r"holds a different sweep \(axis train.lr is \[0.001, 0.003\] there, \[0.001, 0.01\] here\)"):
        bridge.sweep(tiny(10), tmp_path / "sw", grid={"train.lr": [1e-3, 1e-2]}, progress=False)
    with pytest.raises(ConfigError, match=r"base config.train.steps is 10 there, 20 here"):
        bridge.sweep(tiny(20), tmp_path / "sw", grid={"train.lr": [1e-3, 3e-3]}, progress=False)
    with pytest.raises(ConfigError, match="unknown sweep setting 'train.lrr': train has optimizer, lr"):
        bridge.sweep(tiny(), tmp_path / "new", grid={"train.lrr": [1e-3]}, progress=False)
    assert not (tmp_path / "new").exists()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not a sweep directory"):
        bridge.sweep(tiny(), tmp_path / "other", grid={"train.lr": [1e-3]}, progress=False)
    with pytest.raises(ConfigError, match="unknown backend 'dask'"):
        bridge.sweep(tiny(), tmp_path / "new", grid={"train.lr": [1e-3]}, backend="dask")


def test_a_grid_axis_given_twice_on_the_command_line_is_refused(tmp_path, capsys):
    code = main(["sweep", "deep-linear", "--grid", "train.lr=0.01", "--grid", "train.lr=0.02", "--out", str(tmp_path / "sw")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0 and "--grid train.lr is given more than once" in err
    assert not (tmp_path / "sw").exists()


@pytest.mark.slow
def test_the_cli_sweeps_a_case_study_and_reports_each_point(tmp_path, capsys):
    out = tmp_path / "dl"
    args = ["sweep", "deep-linear", "--set", "train.steps=200", "--grid", "train.lr=0.05,0.1", "--seeds", "0-1", "--out", str(out), "--quiet"]
    code = main(args)
    assert "sweep of 4 points: 4 done" in capsys.readouterr().out
    table = pd.read_csv(out / "results.csv").set_index("key")
    # 200 steps at lr 0.1 learn every mode of the hierarchy; at lr 0.05 the finest modes are still rising,
    # so the run has not converged and its verdict is invalid (a failed precondition, not a failed claim)
    assert table.loc["train.lr=0.1__seed=0", "verdict"] == "pass" and table.loc["train.lr=0.05__seed=0", "verdict"] == "invalid"
    assert code == 0
    for key in table.index:
        report = json.loads((out / "points" / key / "report.json").read_text())
        assert report["verdict"] == table.loc[key, "verdict"] and report["seed"] == int(table.loc[key, "seed"])
    slow = json.loads((out / "points" / "train.lr=0.05__seed=0" / "report.json").read_text())
    assert [name for name in slow["failed_preconditions"] if name.startswith("every mode learned")], slow["failed_preconditions"]
    # the half-rise time of the strongest mode scales as 1/lr (Saxe et al.): twice the rate, half the time
    ratio = table.loc["train.lr=0.05__seed=0", "event:mode 0 half-rise"] / table.loc["train.lr=0.1__seed=0", "event:mode 0 half-rise"]
    assert 1.9 < ratio < 2.1
    for key in table.index:  # event columns are the detected events, prediction columns the theory's steps
        events = json.loads((out / "points" / key / "events.json").read_text())
        detected = {e["name"]: e["step"] for e in events if e.get("type") == "event"}
        predicted = {e["name"]: e["step"] for e in events if e.get("type") == "prediction"}
        assert detected and predicted and detected != predicted
        assert {c[len("event:"):] for c in table.columns if c.startswith("event:") and pd.notna(table.loc[key, c])} == set(detected)
        for name, step in detected.items():
            assert table.loc[key, f"event:{name}"] == pytest.approx(step)
        for name, step in predicted.items():
            assert table.loc[key, f"prediction:{name}"] == pytest.approx(step)
    assert main(args) == 0  # the same command again: nothing to train
    assert "4 done" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args,message",
    [
        (["sweep"], "name a case study to sweep, or pass --status DIR"),
        (["sweep", "deep-linear"], "a sweep needs at least one --grid axis or --seeds"),
        (["sweep", "deep-linear", "--grid", "train.lrr=0.1"], "unknown sweep setting 'train.lrr'"),
        (["sweep", "deep-linear", "--grid", "train.lr"], "--grid takes key=v1,v2,..."),
        (["sweep", "deep-linear", "--seeds", "3-1"], "--seeds range '3-1' runs backwards"),
        (["sweep", "deep-linear", "--seeds", "0", "--backend", "dask"], "unknown backend 'dask'"),
        (["sweep", "deep-linear", "--seeds", "0", "--log", "tb"], "unknown logger 'tb'"),
        (["sweep", "--status", "no/such/sweep"], "no/such/sweep is not a sweep directory"),
    ],
)
def test_sweep_command_line_errors_are_one_line_before_any_work(tmp_path, capsys, args, message):
    assert main([*args, *(["--out", str(tmp_path / "out")] if len(args) > 1 and args[1] == "deep-linear" else [])]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("mechbridge: error:") and message in err[0], err
    assert not (tmp_path / "out").exists()


def test_a_diverging_seed_of_a_stack_fails_alone_as_it_would_point_by_point(tmp_path):
    from bridge.models import MLPConfig as MLP
    from bridge.tasks import TeacherMLPConfig

    cfg = RunConfig(TeacherMLPConfig(d_in=6, n_train=128, n_test=64), MLP(d_in=6, d_out=1, widths=(16,)),
                    TrainConfig(optimizer="gd", lr=0.7, steps=100, schedule=ScheduleConfig(n_log=5, every=50)))
    stacked = bridge.sweep(cfg, tmp_path / "stacked", seeds=range(4), progress=False)
    alone = bridge.sweep(cfg, tmp_path / "alone", seeds=range(4), progress=False, stack=False)
    states = lambda sweep: sweep.status().set_index("key")["status"].to_dict()  # noqa: E731
    assert states(stacked) == states(alone)
    assert set(states(alone).values()) == {"done", "failed"}  # at lr 0.7 some seeds diverge and some do not
    for key, state in states(alone).items():
        if state == "done":
            assert weights(load_run_of(tmp_path / "stacked", key)).keys() == weights(load_run_of(tmp_path / "alone", key)).keys()
            for name, w in weights(load_run_of(tmp_path / "alone", key)).items():
                torch.testing.assert_close(weights(load_run_of(tmp_path / "stacked", key))[name], w, rtol=1e-5, atol=1e-6)


def load_run_of(out, key):
    return bridge.load_run(out / "points" / key)


@pytest.mark.parametrize("options, message", [({"device": "gpu"}, "device must be auto, cpu or cuda, got 'gpu'"), ({"threads": 100000}, "threads=100000 exceeds the")])
def test_a_sweep_refuses_a_bad_device_or_thread_count_before_writing_anything(tmp_path, options, message):
    with pytest.raises(ConfigError, match=message):
        bridge.sweep(tiny(10), tmp_path / "sw", grid={"train.lr": [1e-3]}, progress=False, **options)
    assert not (tmp_path / "sw").exists()


def test_a_damaged_sweep_manifest_is_one_line(tmp_path, capsys):
    (tmp_path / "sw").mkdir()
    (tmp_path / "sw" / "sweep.json").write_text("[1, 2]")
    for args in (["sweep", "--status", str(tmp_path / "sw")], ["sweep", "deep-linear", "--grid", "train.lr=0.1", "--out", str(tmp_path / "sw")]):
        assert main(args) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and "is not a sweep manifest" in err


def test_a_case_study_point_whose_main_run_diverges_is_done_with_an_invalid_report_and_not_trained_again(tmp_path, capsys):
    # the study stops at the divergence with an invalid report; the point was 'done' in sweep.json but
    # 'interrupted' in results.csv and --status, and every re-run trained it again (and diverged again)
    args = ["sweep", "deep-linear", "--set", "train.steps=50", "--grid", "train.lr=0.1,1000", "--out", str(tmp_path / "sw"), "--quiet"]
    assert main(args) == 0
    table = pd.read_csv(tmp_path / "sw" / "results.csv").set_index("key")
    assert table.loc["train.lr=1000", "status"] == "done" and table.loc["train.lr=1000", "verdict"] == "invalid"
    assert table.loc["train.lr=0.1", "status"] == "done"
    report = tmp_path / "sw" / "points" / "train.lr=1000" / "report.json"
    assert json.loads(report.read_text())["diverged"]["step"] > 0
    before = report.stat().st_mtime_ns
    capsys.readouterr()
    assert main(args) == 0
    assert report.stat().st_mtime_ns == before  # not trained again
    assert main(["sweep", "--status", str(tmp_path / "sw")]) == 0
    assert capsys.readouterr().out.strip().endswith("2 points: 2 done")


@pytest.mark.parametrize("grid", [["--grid", "seed=1.5,2"], ["--grid", "seed=2.0"], ["--grid", "train.lr=0.1,abc"], ["--grid", "model.d_hidden=(16,16)"]])
def test_a_grid_value_its_field_refuses_is_one_line_before_any_work(tmp_path, capsys, grid):
    # seed=1.5 trained seed 1 under the label 1.5; train.lr=abc failed its point after the others trained,
    # and the sweep directory then refused the corrected grid
    assert main(["sweep", "deep-linear", *grid, "--out", str(tmp_path / "sw")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("mechbridge: error:")
    assert not (tmp_path / "sw").exists()


def test_python_grids_of_numpy_values_and_of_tuples_over_seeds(tmp_path):
    import numpy as np

    swept = bridge.sweep(tiny(4), tmp_path / "np", grid={"train.lr": np.array([1e-3, 1e-2])}, progress=False)
    assert swept.keys == ["train.lr=0.001", "train.lr=0.01"] and swept.table["status"].tolist() == ["done", "done"]
    assert swept.run("train.lr=0.01").config.train.lr == 0.01
    widths = bridge.sweep(tiny(4), tmp_path / "widths", grid={"model.widths": [(8,), (16,)]}, seeds=[0, 1], progress=False)  # stacked per width
    assert widths.table["status"].tolist() == ["done"] * 4
    assert [widths.run(k).config.model.widths for k in widths.keys] == [(8,), (8,), (16,), (16,)]
    with pytest.raises(ConfigError, match="sweep values are numbers, text, booleans, None or lists"):
        grid_points({"train.lr": [object()]})


def test_seed_lists_are_ascii_and_at_most_ten_thousand_in_all():
    with pytest.raises(ConfigError, match="more than 10000 seeds"):
        parse_seeds("0-9999,10000-19999")
    with pytest.raises(ConfigError, match="--seeds takes"):
        parse_seeds("\u0663")  # an Arabic-Indic three
    assert len(parse_seeds("0-4999,5000-9999")) == 10000


def test_the_threads_of_a_sweep_are_those_its_points_train_with_and_the_driver_keeps_its_own(tmp_path):
    seen = []

    class Threads:
        name = "threads"

        def __call__(self, model, step, data):
            seen.append(torch.get_num_threads())
            return []

    before = torch.get_num_threads()
    for stack in (True, False):
        seen.clear()
        bridge.sweep(tiny(4), tmp_path / f"sw{stack}", grid={"train.lr": [1e-3]}, seeds=[0, 1], threads=2, trackers=lambda: [Threads()], progress=False, stack=stack)
        assert seen and set(seen) == {2}  # trained on 1 thread while the sweep reserved 2
        assert torch.get_num_threads() == before
    run = bridge.load_run(tmp_path / "swFalse" / "points" / "train.lr=0.001__seed=0")
    assert run.config.train.threads == 2
    resumed = bridge.train(dataclasses.replace(run.config, train=dataclasses.replace(run.config.train, threads=1)), run.path, resume=True, progress=False)
    assert resumed.steps[-1] == 4  # another thread count resumes the same run


def test_a_backend_that_is_not_installed_or_a_ray_task_larger_than_its_cluster_is_refused_before_writing(tmp_path, monkeypatch):
    import importlib

    real = importlib.import_module

    def without_ray(name, *args, **kwargs):
        if name == "ray":
            raise ImportError("No module named 'ray'")
        return real(name, *args, **kwargs)

    with pytest.raises(ConfigError, match="threads=2 exceeds the 1 CPUs"):  # Ray would wait for ever for that CPU
        bridge.sweep(tiny(4), tmp_path / "big", grid={"train.lr": [1e-3]}, backend="ray", workers=1, threads=2, progress=False)
    monkeypatch.setattr(importlib, "import_module", without_ray)
    with pytest.raises(ConfigError, match=r"pip install 'mechbridge\[ray\]'"):
        bridge.sweep(tiny(4), tmp_path / "sw", grid={"train.lr": [1e-3]}, backend="ray", progress=False)
    assert main(["run", "deep-linear", "--backend", "ray", "--out", str(tmp_path / "run")]) == 2
    assert not (tmp_path / "sw").exists() and not (tmp_path / "big").exists() and not (tmp_path / "run").exists()


@pytest.mark.parametrize("record", [{"key": 5, "params": {}}, {"key": "a", "params": {}, "error": 5}, {"key": "../../x", "params": {}}, {"key": "a", "params": []}])
def test_a_manifest_whose_points_are_damaged_is_one_line(tmp_path, capsys, record):
    from bridge.sweep.manifest import new_manifest

    manifest = new_manifest({"kind": "run"}, grid_points({"train.lr": [0.1]}), "local")
    manifest["points"] = [record]
    (tmp_path / "sw").mkdir()
    (tmp_path / "sw" / "sweep.json").write_text(json.dumps(manifest))
    assert main(["sweep", "--status", str(tmp_path / "sw")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "is not a sweep manifest" in err


def test_a_sweep_resumed_with_other_packages_keeps_the_versions_of_both(tmp_path, monkeypatch):
    import bridge.sweep.manifest as manifest_module

    bridge.sweep(tiny(4), tmp_path / "sw", grid={"train.lr": [1e-3, 3e-3]}, progress=False)
    first = json.loads((tmp_path / "sw" / "sweep.json").read_text())["versions"]
    monkeypatch.setattr(manifest_module, "package_versions", lambda: {**first, "torch": "9.9.9"})
    bridge.sweep(tiny(4), tmp_path / "sw", grid={"train.lr": [1e-3, 3e-3]}, progress=False)
    stored = json.loads((tmp_path / "sw" / "sweep.json").read_text())
    assert stored["versions"]["torch"] == "9.9.9" and stored["earlier_versions"] == [first]  # the resume replaced them
    bridge.sweep(tiny(4), tmp_path / "sw", grid={"train.lr": [1e-3, 3e-3]}, progress=False)
    assert json.loads((tmp_path / "sw" / "sweep.json").read_text())["earlier_versions"] == [first]  # same packages: nothing added
