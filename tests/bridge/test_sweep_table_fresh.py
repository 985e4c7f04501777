"""A sweep read back whose ``results.csv`` is behind its run directories (the driver killed, its workers finishing
after it) shows in ``.table`` what the runs hold, as ``.status()`` does."""

import shutil

import pytest

import bridge
from bridge import models, tasks
from bridge.config import RunConfig, TrainConfig, config_to_dict
from bridge.sweep.grid import Point
from bridge.sweep.manifest import read_manifest
from bridge.sweep.point import Target, run_point
from bridge.sweep.runner import write_results


def test_a_point_finished_after_the_table_was_written_shows_its_numbers(tmp_path):
    cfg = RunConfig(tasks.LinearTeacherConfig((2.0, 1.0), d_in=3, d_out=3), models.DeepLinearConfig(3, 8, 3), TrainConfig(steps=20))
    out = tmp_path / "sw"
    bridge.sweep(cfg, out, grid={"train.lr": [0.05, 0.1]}, progress=False)
    late = out / "points" / "train.lr=0.1"
    shutil.rmtree(late)
    write_results(out, read_manifest(out))  # the table as a driver killed before this point's end left it
    assert bridge.load_sweep(out).table["status"].tolist() == ["done", "pending"]
    assert run_point(Target("run", config=config_to_dict(cfg)), Point((("train.lr", 0.1),)), str(late))["status"] == "done"  # its worker finishes
    sweep = bridge.load_sweep(out)
    table = sweep.table.set_index("key")
    assert table["status"].tolist() == sweep.status()["status"].tolist() == ["done", "done"]
    for key in sweep.keys:
        metrics = sweep.run(key).metrics
        final = metrics[metrics["observable"] == "loss/train"].sort_values("step")["value"].iloc[-1]
        assert table.loc[key, "loss/train"] == pytest.approx(final, rel=1e-12, abs=0)
        assert table.loc[key, "final_step"] == 20
    assert table["train.lr"].dtype.kind == "f" and table["final_step"].dtype.kind == "i"
