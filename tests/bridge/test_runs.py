"""The run directory contract: atomic checkpoints, resume, corruption, no overwrite."""

import importlib
import io
import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from bridge import ConfigError, RunConfig, RunError, ScheduleConfig, TrainConfig, load_run, train
from bridge.models import DeepLinearConfig, MLPConfig
from bridge.runs.checkpoints import checkpoint_path
from bridge.runs.metrics import MetricsLog, tidy_dtypes
from bridge.runs.storage import CorruptFileError
from bridge.tasks import HierarchyConfig, LinearTeacherConfig
from bridge.trackers import ModeTracker
from helpers import Crash


def small_config(optimizer="adam", batch_size=8, steps=60):
    return RunConfig(
        task=LinearTeacherConfig((2.0, 1.0, 0.5), d_in=6, d_out=5, n_train=32),
        model=MLPConfig(d_in=6, d_out=5, widths=(16,), activation="tanh"),
        train=TrainConfig(optimizer=optimizer, lr=0.01, steps=steps, batch_size=batch_size, schedule=ScheduleConfig(n_log=5, every=10, track_every=5)),
        seed=3,
    )


def weights(run, step):
    return run.model_at(step).state_dict()


@pytest.mark.parametrize("optimizer,batch_size", [("adam", 8), ("sgd", 8), ("adamw", None), ("gd", None)])
def test_interrupted_run_resumes_to_identical_weights(tmp_path, optimizer, batch_size):
    cfg = small_config(optimizer, batch_size)
    whole = train(cfg, tmp_path / "whole", progress=False)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "cut", trackers=[Crash(at=35)], progress=False)
    cut = load_run(tmp_path / "cut")
    assert cut.status == "interrupted" and cut.info["error"].startswith("KeyboardInterrupt") and max(cut.steps) == 30
    resumed = train(cfg, tmp_path / "cut", trackers=[Crash(at=-1)], progress=False, resume=True)
    assert resumed.status == "complete"
    assert resumed.steps == whole.steps
    for name, tensor in weights(whole, 60).items():
        assert torch.equal(tensor, weights(resumed, 60)[name]), name
    a = whole.observable("loss/train")
    b = resumed.observable("loss/train")
    pd.testing.assert_series_equal(a, b)


@pytest.mark.parametrize("damage", ["truncated", "weights bit", "optimizer bit"])
def test_corrupt_checkpoint_is_named_and_skipped(tmp_path, damage):
    cfg = small_config()
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "run", trackers=[Crash(at=45)], progress=False)
    last = checkpoint_path(tmp_path / "run", 40, "optim" if damage == "optimizer bit" else "step")
    data = bytearray(last.read_bytes())
    if damage == "truncated":  # as by a full disk
        data = data[:100]
    else:  # one bit of one stored value: the file still parses
        data[-3] ^= 0x01
    last.write_bytes(bytes(data))
    if damage != "optimizer bit":
        with pytest.raises(CorruptFileError, match="step_00000040"):
            load_run(tmp_path / "run").model_at(40)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = train(cfg, tmp_path / "run", trackers=[Crash(at=-1)], progress=False, resume=True)
    assert any(last.name in str(w.message) and "falling back" in str(w.message) for w in caught), [str(w.message) for w in caught]
    whole = train(cfg, tmp_path / "whole", progress=False)
    for name, tensor in weights(whole, 60).items():
        assert torch.equal(tensor, weights(run, 60)[name])


def test_existing_run_is_never_overwritten(tmp_path):
    cfg = small_config(steps=10)
    train(cfg, tmp_path / "run", progress=False)
    before = (tmp_path / "run" / "metrics.csv").read_bytes()
    with pytest.raises(FileExistsError, match="already exists"):
        train(cfg, tmp_path / "run", progress=False)
    assert (tmp_path / "run" / "metrics.csv").read_bytes() == before


def test_reading_a_run_s_figures_folder_writes_nothing(tmp_path):
    """load_run opens a run read-only: asking where its figures go does not create the folder."""
    run = load_run(train(small_config(steps=3), tmp_path / "run", progress=False).path)
    assert run.figures_dir == tmp_path / "run" / "figures" and not run.figures_dir.exists()


def test_resume_refuses_a_different_config(tmp_path):
    train(small_config(steps=10), tmp_path / "run", progress=False)
    with pytest.raises(ConfigError, match="different config"):
        train(small_config(steps=10, batch_size=4), tmp_path / "run", progress=False, resume=True)
    with pytest.raises(ConfigError, match="different config"):  # more steps extend a run, but not with another change
        train(small_config(steps=20, batch_size=4), tmp_path / "run", progress=False, resume=True)


def test_invalid_configs_are_refused_before_any_work(tmp_path):
    with pytest.raises(ConfigError, match="lr"):
        TrainConfig(lr=-1.0)
    with pytest.raises(ConfigError, match="optimizer"):
        TrainConfig(optimizer="lbfgs")
    with pytest.raises(ConfigError, match="depth"):
        DeepLinearConfig(4, 8, 3, depth=1)
    with pytest.raises(ConfigError, match="singular_values"):
        LinearTeacherConfig((1.0, -2.0), 4, 4)
    mismatched = RunConfig(HierarchyConfig(depth=2), DeepLinearConfig(d_in=5, d_hidden=8, d_out=7), TrainConfig(steps=5))
    with pytest.raises(ConfigError, match="does not fit"):
        train(mismatched, tmp_path / "bad", progress=False)
    assert not (tmp_path / "bad").exists()
    too_big = RunConfig(HierarchyConfig(depth=2), DeepLinearConfig(4, 8, 7), TrainConfig(optimizer="sgd", steps=5, batch_size=99))
    with pytest.raises(ConfigError, match="batch_size"):
        train(too_big, tmp_path / "bad", progress=False)
    assert not (tmp_path / "bad").exists()


def test_load_run_contract(tmp_path):
    cfg = RunConfig(HierarchyConfig(depth=2), DeepLinearConfig(4, 16, 7, init_std=0.01), TrainConfig(lr=0.1, steps=50, schedule=ScheduleConfig(n_log=5, every=25, track_every=5)), seed=1)
    run = train(cfg, tmp_path / "run", trackers=[ModeTracker()], progress=False)
    again = load_run(tmp_path / "run")
    assert again.config == cfg
    assert again.steps == [0, 1, 3, 7, 19, 25, 50]  # 50 ** (k/4) rounded, every 25
    frame = pd.read_csv(tmp_path / "run" / "metrics.csv")
    assert list(frame.columns[:3]) == ["step", "observable", "value"]
    assert set(frame["observable"]) == {"loss/train", "mode/strength", "mode/alignment"}
    strength = again.observable("mode/strength", mode=0)
    assert list(strength.index) == sorted(set(range(0, 51, 5)) | {1, 3, 7, 19})
    final = again.model_at(50)
    torch.testing.assert_close(final.end_to_end(), run.model_at(50).end_to_end(), rtol=0, atol=0)
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert {"config", "seed", "versions", "device", "status", "schedule"} <= set(info)
    assert info["versions"]["torch"].startswith(torch.__version__.split("+")[0])
    with pytest.raises(KeyError, match="nearest"):
        again.model_at(2)


def test_missing_and_corrupt_run_directories(tmp_path):
    with pytest.raises(RunError, match="does not exist"):
        load_run(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunError, match="no run.json"):
        load_run(tmp_path / "empty")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "run.json").write_text("{not json")
    with pytest.raises(CorruptFileError, match="run.json"):
        load_run(tmp_path / "broken")


KILL_SCRIPT = """
import sys
from bridge import RunConfig, ScheduleConfig, TrainConfig, train
from bridge.models import MLPConfig
from bridge.tasks import LinearTeacherConfig
cfg = RunConfig(LinearTeacherConfig((2.0, 1.0), d_in=6, d_out=5, n_train=64), MLPConfig(d_in=6, d_out=5, widths=(64, 64)),
                TrainConfig(optimizer="adam", lr=1e-3, steps=int(sys.argv[2]), batch_size=16, schedule=ScheduleConfig(n_log=0, every=200)), seed=5)
train(cfg, sys.argv[1], progress=False, resume=len(sys.argv) > 3)
"""


@pytest.mark.slow
def test_sigkilled_process_resumes_to_identical_weights(tmp_path):
    script = tmp_path / "job.py"
    script.write_text(KILL_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    steps = "4000"
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path / "killed"), steps], env=env)
    # kill it once 4 checkpoints are written; the child's own 4000 steps bound the wait (no clock:
    # a busy machine only makes it longer; a child that finished first fails the status check below)
    checkpoints = tmp_path / "killed" / "checkpoints"
    while proc.poll() is None and len(list(checkpoints.glob("step_*.safetensors"))) < 4:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed = load_run(tmp_path / "killed")
    assert killed.status == "interrupted" and max(killed.steps) < int(steps)  # the writer is gone: its lock is stale
    subprocess.run([sys.executable, str(script), str(tmp_path / "killed"), steps, "resume"], env=env, check=True)
    subprocess.run([sys.executable, str(script), str(tmp_path / "whole"), steps], env=env, check=True)
    a, b = load_run(tmp_path / "killed").model_at(int(steps)).state_dict(), load_run(tmp_path / "whole").model_at(int(steps)).state_dict()
    for name in a:
        assert torch.equal(a[name], b[name]), name


def test_offline_analysis_keeps_online_rows_and_a_stopped_run_still_resumes(tmp_path):
    from bridge import analyze
    from bridge.trackers import LossTracker

    cfg = small_config()
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "run", trackers=[Crash(at=45)], progress=False)
    run = load_run(tmp_path / "run")
    online = run.observable("loss/train")
    analyze(run, [LossTracker()])
    after = load_run(tmp_path / "run").observable("loss/train")
    pd.testing.assert_series_equal(online, after)  # same steps and values: checkpoints are a subset of tracked steps
    resumed = train(cfg, tmp_path / "run", trackers=[Crash(at=-1)], progress=False, resume=True)
    whole = train(cfg, tmp_path / "whole", progress=False)
    pd.testing.assert_series_equal(resumed.observable("loss/train"), whole.observable("loss/train"))
    for name, tensor in weights(whole, 60).items():
        assert torch.equal(tensor, weights(resumed, 60)[name])


def test_a_fresh_process_loads_runs_of_any_registered_task(tmp_path):
    from bridge.tasks.teacher_mlp import TeacherMLPConfig

    cfg = RunConfig(TeacherMLPConfig(), MLPConfig(d_in=TeacherMLPConfig().d_in, d_out=1, widths=(8,), activation="tanh"), TrainConfig(steps=3, lr=0.01), seed=0)
    train(cfg, tmp_path / "run", progress=False)
    code = "import sys; from bridge import load_run; print(type(load_run(sys.argv[1]).config.task).__name__)"
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "run")], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "TeacherMLPConfig"


def test_model_at_into_an_existing_model_equals_a_fresh_one(tmp_path):
    run = train(small_config(steps=20), tmp_path / "run", progress=False)
    reused = run.model_at(0)
    for step in run.steps:
        fresh = run.model_at(step)
        reused = run.model_at(step, into=reused)
        for name, tensor in fresh.state_dict().items():
            assert torch.equal(tensor, reused.state_dict()[name]), (step, name)


def test_metrics_log_round_trips_floats_missing_cells_and_quoting(tmp_path):
    log = MetricsLog(tmp_path)
    log.append([{"step": 0, "observable": "a", "value": 1.0, "mode": 1}])
    size = log.append([
        {"step": 1, "observable": "x,y", "value": float("nan"), "mode": 2},
        {"step": 1, "observable": "b", "value": float("inf")},
        {"step": 2, "observable": "c", "value": 0.1 + 0.2, "mode": None},
    ])
    assert size == (tmp_path / "metrics.csv").stat().st_size
    frame = pd.read_csv(tmp_path / "metrics.csv")
    assert frame.observable.tolist() == ["a", "x,y", "b", "c"]
    assert frame.value.iloc[3] == 0.1 + 0.2  # full precision
    assert pd.isna(frame.value.iloc[1]) and frame.value.iloc[2] == float("inf")
    assert frame["mode"].iloc[:2].tolist() == [1, 2] and frame["mode"].iloc[2:].isna().all()


def test_merge_rows_keys_on_the_index_columns_of_either_table():
    """With ``replace=True`` the key is observable, step and every index column of old or new:
    a new row without a ``mode`` has an absent mode, so it replaces only an old row whose mode is
    absent too, never the rows of mode 0 and 1 at the same step."""
    from bridge.runs.merge import merge_rows
    from bridge.runs.metrics import rows_to_frame

    old = rows_to_frame([
        {"step": 5, "observable": "a", "value": 1.0, "mode": 0},
        {"step": 5, "observable": "a", "value": 2.0, "mode": 1},
        {"step": 5, "observable": "a", "value": 3.0, "mode": None},
        {"step": 6, "observable": "a", "value": 4.0, "mode": None},
    ])
    new = rows_to_frame([{"step": 5, "observable": "a", "value": 9.0}])
    assert "mode" not in new.columns
    merged = merge_rows(old, new)
    assert len(merged) == 4
    assert sorted(zip(merged["step"].tolist(), [None if pd.isna(m) else int(m) for m in merged["mode"]], merged["value"].tolist()), key=str) == sorted(
        [(5, 0, 1.0), (5, 1, 2.0), (6, None, 4.0), (5, None, 9.0)], key=str
    )
    three = merge_rows(old.iloc[:2], new)  # 2 old rows with a mode, 1 new without
    assert len(three) == 3 and sorted(three["value"].tolist()) == [1.0, 2.0, 9.0]
    assert merge_rows(old.iloc[:2], new, ["observable", "step"])["value"].tolist() == [9.0]  # a narrower key, asked for


class StepByStep:
    """A tracker called at each step as a plain tracker (hides its batched capture/measure)."""

    def __init__(self, tracker):
        self.tracker, self.name = tracker, tracker.name

    def __call__(self, model, step, data):
        return self.tracker(model, step, data)


def hierarchy_config(steps=80, every=10):
    return RunConfig(
        task=HierarchyConfig(depth=3, branching=2),
        model=DeepLinearConfig(d_in=8, d_hidden=32, d_out=15, init_std=0.05),
        train=TrainConfig(optimizer="gd", lr=0.2, steps=steps, schedule=ScheduleConfig(n_log=5, every=every, track_every=5)),
        seed=1,
    )


def test_batched_trackers_write_the_rows_of_step_by_step_tracking(tmp_path, monkeypatch):
    train_module = importlib.import_module("bridge.training.writer")
    from bridge.trackers import DifferentiationTracker

    monkeypatch.setattr(train_module, "FLUSH_CAPTURES", 9)  # several flushes of several steps each
    cfg = hierarchy_config()
    batched = train(cfg, tmp_path / "batched", trackers=[ModeTracker(), DifferentiationTracker()], progress=False).metrics
    plain = train(cfg, tmp_path / "plain", trackers=[StepByStep(ModeTracker()), StepByStep(DifferentiationTracker())], progress=False).metrics
    assert len(batched) == len(plain) > 0
    keys = ["step", "observable", "mode", "level"]
    pd.testing.assert_frame_equal(batched[keys], plain[keys])  # same rows in the same order
    assert set(batched.observable) >= {"mode/strength", "mode/alignment", "differentiation/ratio"}
    np.testing.assert_allclose(batched.value, plain.value, rtol=1e-5, atol=1e-7)
    # offline over the checkpoints, batched the same way, the rows come back unchanged
    from bridge import analyze

    run = load_run(tmp_path / "batched")
    online = run.metrics[run.metrics.step.isin(run.steps)].reset_index(drop=True)
    analyze(run, [ModeTracker(), DifferentiationTracker()], progress=False)
    offline = load_run(tmp_path / "batched").metrics
    offline = offline[offline.step.isin(run.steps)].sort_values(keys + ["observable"], ignore_index=True)
    online = online.sort_values(keys + ["observable"], ignore_index=True)
    pd.testing.assert_frame_equal(offline[keys], online[keys])
    np.testing.assert_allclose(offline.value, online.value, rtol=1e-5, atol=1e-7)


def test_every_checkpoint_on_record_has_its_batched_rows_on_disk(tmp_path):
    from bridge.training.schedule import resume_points

    cfg = hierarchy_config(every=5)  # captures every 5 steps, checkpoints every 5 (and log-spaced)
    whole = train(cfg, tmp_path / "whole", trackers=[ModeTracker(), Crash(at=-1)], progress=False)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "cut", trackers=[ModeTracker(), Crash(at=75)], progress=False)
    info = json.loads((tmp_path / "cut" / "run.json").read_text())
    on_record = sorted(int(s) for s in info["metrics_bytes"])
    points = resume_points(whole.steps, cfg.train.steps)
    assert on_record == [s for s in points if s <= 70] and len(on_record) >= 5 and info["last_step"] == 70
    assert load_run(tmp_path / "cut").steps == [s for s in whole.steps if s <= 70]  # every checkpoint's weights, on record or not
    optimizer_states = sorted(int(f.stem.split("_")[1]) for f in (tmp_path / "whole" / "checkpoints").glob("optim_*"))
    assert optimizer_states == points[-3:] == whole.steps[-3:]
    written = tidy_dtypes(pd.read_csv(tmp_path / "cut" / "metrics.csv"))
    reference = whole.metrics[whole.metrics.step <= 70].reset_index(drop=True)
    pd.testing.assert_frame_equal(written, reference)  # no row of a checkpoint on record is missing
    for step in on_record:  # and each recorded size ends exactly after that step's rows
        size = info["metrics_bytes"][str(step)]
        head = (tmp_path / "whole" / "metrics.csv").read_bytes()[:size]
        assert head == (tmp_path / "cut" / "metrics.csv").read_bytes()[:size]
        assert pd.read_csv(io.BytesIO(head)).step.max() == step
    resumed = train(cfg, tmp_path / "cut", trackers=[ModeTracker(), Crash(at=-1)], progress=False, resume=True)
    assert (tmp_path / "cut" / "metrics.csv").read_bytes() == (tmp_path / "whole" / "metrics.csv").read_bytes()
    for name, tensor in weights(whole, 80).items():
        assert torch.equal(tensor, weights(resumed, 80)[name]), name


def test_a_run_killed_before_its_second_checkpoint_starts_over_without_duplicating_step_0(tmp_path):
    cfg = hierarchy_config(every=5)
    whole = train(cfg, tmp_path / "whole", trackers=[ModeTracker(), Crash(at=-1)], progress=False)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "cut", trackers=[ModeTracker(), Crash(at=1)], progress=False)
    assert load_run(tmp_path / "cut").steps == [0]
    train(cfg, tmp_path / "cut", trackers=[ModeTracker(), Crash(at=-1)], progress=False, resume=True)
    assert (tmp_path / "cut" / "metrics.csv").read_bytes() == (tmp_path / "whole" / "metrics.csv").read_bytes()
    assert load_run(tmp_path / "cut").steps == whole.steps


def test_progress_bars_show_when_asked_and_stay_quiet_off_a_terminal(capsys):
    from bridge.progress import progress_bar

    assert list(progress_bar(range(3), "counting", progress=True)) == [0, 1, 2]
    assert "counting" in capsys.readouterr().err
    for progress in (False, None):  # None: only on a terminal, and pytest's stderr is not one
        assert list(progress_bar(range(3), "counting", progress=progress)) == [0, 1, 2]
        assert capsys.readouterr().err == ""


def test_reads_are_exact_replacement_matches_the_full_key_and_rows_are_validated(tmp_path):
    run = train(hierarchy_config(steps=20, every=10), tmp_path / "run", trackers=[ModeTracker()], progress=False)
    with pytest.raises(KeyError, match=r"several rows per step: choose mode in \[0, 1"):
        run.observable("mode/strength")  # which mode? the old answer was silently the last one
    one = run.observable("mode/strength", mode=1)
    assert set(one.index) >= set(run.steps)  # every checkpoint, plus the steps tracked in between
    # replacing rows of one index value keeps the others at the same steps
    steps = list(one.index)
    run.append_metrics([{"step": s, "observable": "mode/strength", "value": -1.0, "mode": 0} for s in steps])
    again = load_run(run.path)
    assert (again.observable("mode/strength", mode=0) == -1.0).all()
    pd.testing.assert_series_equal(again.observable("mode/strength", mode=1), one)
    for bad, message in [({"value": "high"}, "value must be a number"), ({"observable": ""}, "observable must be a non-empty name"), ({"step": 1.5}, "step must be an integer"), ({"mode": 0.5}, "index column 'mode'")]:
        row = {"step": 0, "observable": "x/y", "value": 1.0, **bad}
        with pytest.raises(ValueError, match=message):
            again.append_metrics([row])
    assert load_run(run.path).metrics.equals(again.metrics)  # nothing written by the refused rows


def test_model_at_returns_an_eval_mode_model_unless_asked():
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        run = train(hierarchy_config(steps=10, every=10), folder, progress=False)
        assert not run.model_at(10).training
        assert run.model_at(10, train=True).training


class LateIndex:
    """A tracker whose rows gain an index column after step 10 (the table is rewritten with a wider header)."""

    name = "late"

    def __call__(self, model, step, data):
        return [{"observable": "late/x", "value": float(step), **({"part": 1} if step > 10 else {})}]


@pytest.mark.parametrize("kill", ["in the record of the next resume point", "between the widening and that record"])
def test_a_kill_after_a_wider_header_rewrote_the_table_resumes_to_the_same_bytes(tmp_path, monkeypatch, kill):
    """The table is rewritten wider at checkpoint 15, which is not a resume point; the next one (20)
    records it. Killed before that record, the run resumes from 9 with the narrower table on record."""
    from bridge.runs import storage
    from bridge.training.schedule import resume_points

    cfg = hierarchy_config(every=5)
    whole = train(cfg, tmp_path / "whole", trackers=[ModeTracker(), LateIndex()], progress=False)
    assert 15 not in resume_points(whole.steps, 80) and {9, 20} <= set(resume_points(whole.steps, 80))
    write, killed = storage.atomic_write_bytes, []

    def kill_before_recording_20(path, data):
        if killed:
            return  # a killed process writes nothing more
        if Path(path).name == "run.json" and (obj := json.loads(data)).get("last_step") == 20 and obj.get("status") == "running":
            killed.append(path)
            raise KeyboardInterrupt("simulated kill")
        write(path, data)

    if kill == "in the record of the next resume point":
        monkeypatch.setattr(storage, "atomic_write_bytes", kill_before_recording_20)
        trackers = [ModeTracker(), LateIndex()]
    else:
        trackers = [ModeTracker(), LateIndex(), Crash(at=20)]  # tracked before checkpoint 20 is written
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "cut", trackers=trackers, progress=False)
    assert "part" in pd.read_csv(tmp_path / "cut" / "metrics.csv", nrows=0).columns
    info = json.loads((tmp_path / "cut" / "run.json").read_text())
    assert max(int(s) for s in info["metrics_bytes"]) == 9 and "part" not in info["metrics_columns"]
    monkeypatch.setattr(storage, "atomic_write_bytes", write)
    train(cfg, tmp_path / "cut", trackers=[ModeTracker(), LateIndex()], progress=False, resume=True)
    assert (tmp_path / "cut" / "metrics.csv").read_bytes() == (tmp_path / "whole" / "metrics.csv").read_bytes()


def test_index_columns_read_back_as_integers_in_metrics_tables_and_the_csv(tmp_path):
    cfg = RunConfig(
        task=LinearTeacherConfig((2.0, 1.0), d_in=3, d_out=3),
        model=DeepLinearConfig(3, 8, 3, init_std=0.1),
        train=TrainConfig(optimizer="gd", lr=0.1, steps=20, schedule=ScheduleConfig(n_log=3, every=10)),
        seed=0,
    )
    run = train(cfg, tmp_path / "run", trackers=[ModeTracker()], progress=False)
    # a later analysis adds new index columns (one integer, one string): the table is rewritten wider
    run.append_metrics([{"step": s, "observable": "heads/score", "value": 0.25 * h, "layer": 1, "head": h, "split": "test"} for s in run.steps for h in range(3)])
    again = load_run(run.path)
    frame = again.metrics
    assert {c: str(frame[c].dtype) for c in ("step", "value", "mode", "layer", "head")} == {"step": "int64", "value": "float64", "mode": "Int64", "layer": "Int64", "head": "Int64"}
    assert set(frame["mode"].dropna().tolist()) == {0, 1}
    assert all(type(v) is int for v in frame["head"].dropna().tolist())
    table = again.table("mode/strength", "mode")
    assert list(table.columns) == [0, 1] and [str(c) for c in table.columns] == ["0", "1"]  # plot labels read "1", not "1.0"
    assert list(again.table("heads/score", ["layer", "head"]).columns) == [(1, 0), (1, 1), (1, 2)]
    assert again.observable("heads/score", layer=1, head=2, split="test").tolist() == [0.5] * len(run.steps)
    rows = [line.split(",") for line in (run.path / "metrics.csv").read_text().splitlines()]
    header = rows[0]
    for name in ("mode", "layer", "head"):
        cells = {r[header.index(name)] for r in rows[1:]} - {""}
        assert cells and all(c.isdigit() for c in cells), (name, cells)  # "0", never "0.0"
    # a table whose cells hold "2.0" (an older writer) reads back as integers too
    (run.path / "metrics.csv").write_text("step,observable,value,mode\n0,mode/strength,1.5,2.0\n0,loss/train,3,\n")
    old = load_run(run.path)
    old.info.pop("files", None)  # the checksum of the hand-written table is not recorded
    assert old.metrics["mode"].tolist()[0] == 2 and str(old.metrics["mode"].dtype) == "Int64" and str(old.metrics["value"].dtype) == "float64"


def test_string_index_values_read_back_as_written_and_ambiguous_ones_are_refused(tmp_path):
    run = train(small_config(steps=4), tmp_path / "run", progress=False)
    names = ["007", "1.5", "None", "NA", "null", "a,b", 'say "hi"', "-", "3e5"]
    run.append_metrics([{"step": 0, "observable": "x/tag", "value": float(i), "tag": name, "k": i} for i, name in enumerate(names)])
    again = load_run(run.path)
    for i, name in enumerate(names):
        assert again.observable("x/tag", tag=name).tolist() == [float(i)], name
    assert str(again.metrics["k"].dtype) == "Int64"
    tags = again.metrics.loc[again.metrics["observable"] == "x/tag", "tag"].tolist()
    assert tags == names and all(type(t) is str for t in tags)
    for bad, reads_as in [("7", "an integer"), ("2.0", "an integer"), ("", "missing"), ("nan", "missing")]:
        with pytest.raises(ValueError, match=f"reads back as {reads_as}"):
            run.append_metrics([{"step": 0, "observable": "x/tag", "value": 1.0, "tag": bad}])
    # a column holding integers and names keeps both
    run.append_metrics([{"step": 1, "observable": "x/mixed", "value": 1.0, "slot": 3}, {"step": 1, "observable": "x/mixed", "value": 2.0, "slot": "bias"}])
    assert load_run(run.path).observable("x/mixed", slot=3).tolist() == [1.0]
    assert load_run(run.path).observable("x/mixed", slot="bias").tolist() == [2.0]


def test_a_table_keeps_the_steps_whose_value_is_nan_and_the_last_row_written_wins(tmp_path):
    run = train(small_config(steps=4), tmp_path / "run", progress=False)
    run.append_metrics([{"step": s, "observable": "x/nan", "value": float("nan") if s >= 3 else 1.0, "k": k} for s in range(6) for k in range(2)])
    run.append_metrics([{"step": 1, "observable": "x/nan", "value": float("nan"), "k": 0}])  # a later row replaces a value by NaN
    table = load_run(run.path).table("x/nan", "k")
    assert table.index.tolist() == list(range(6)) and table.columns.tolist() == [0, 1]
    assert np.isnan(table.loc[1, 0]) and table.loc[1, 1] == 1.0
    assert np.isnan(table.loc[3:, :].to_numpy()).all() and (table.loc[[0, 2], :] == 1.0).all().all()
    steps, values = load_run(run.path).curve("x/nan", k=1)
    assert steps.tolist() == list(range(6)) and np.array_equal(np.isnan(values), np.isnan(table[1].to_numpy()))
