"""Experiment loggers: TensorBoard event files and offline W&B run files, read back with the tools' own formats,
hold every metrics row the run wrote."""

import glob
import json
import struct
import time
from pathlib import Path

import pytest

from bridge import ConfigError, RunConfig, ScheduleConfig, TrainConfig, train
from bridge.models import MLPConfig
from bridge.tasks import LinearTeacherConfig
from bridge.training.loggers import WandbLogger, get_logger, tag
from helpers import Crash


def tiny():
    return RunConfig(
        task=LinearTeacherConfig((2.0, 1.0), d_in=4, d_out=3, n_train=32),
        model=MLPConfig(d_in=4, d_out=3, widths=(8,), activation="tanh"),
        train=TrainConfig(optimizer="adam", lr=0.01, steps=30, batch_size=8, schedule=ScheduleConfig(n_log=3, every=10, track_every=5)),
    )


def metrics_by_tag(run):
    frame = run.metrics
    return {(int(r["step"]), tag(r)): float(r["value"]) for r in frame.to_dict("records")}


def test_tensorboard_events_hold_every_metrics_row(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = train(tiny(), tmp_path / "run", loggers=["tensorboard"], progress=False, device="cpu")
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"))
    events.Reload()
    logged = {(e.step, name): e.value for name in events.Tags()["scalars"] for e in events.Scalars(name)}
    expected = metrics_by_tag(run)
    assert logged.keys() == expected.keys() and len(expected) == 2 * len(set(run.metrics["step"]))
    for key, value in expected.items():
        assert logged[key] == pytest.approx(value, rel=1e-6)  # TensorBoard stores float32


def _wandb_records(path):
    """The records of a W&B run file: a 7-byte header, then LevelDB-log blocks of 32 KiB holding protobuf records."""
    data, block, header = open(path, "rb").read(), 32768, 7
    assert data[:4] == b":W&B"
    pos, parts = header, b""
    while pos + header <= len(data):
        left = block - pos % block
        if left < header:
            pos += left
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + header])
        if kind == 0 and length == 0:
            pos += left
            continue
        chunk, pos = data[pos + header : pos + header + length], pos + header + length
        if kind == 1:
            yield chunk
        elif kind == 2:
            parts = chunk
        elif kind == 3:
            parts += chunk
        elif kind == 4:
            yield parts + chunk


def _wandb_history(path):
    """``(step, tag) -> value`` of the metrics in a finished offline W&B run file."""
    from google.protobuf.message import DecodeError
    from wandb.proto import wandb_internal_pb2

    # W&B's service writes the run file on its own schedule: on a loaded machine the records can land after
    # finish() returns. The file is whole once it ends with the run's exit record.
    deadline = time.monotonic() + 60
    while True:
        records = []
        try:
            for raw in _wandb_records(path):
                records.append(wandb_internal_pb2.Record())
                records[-1].ParseFromString(raw)
        except DecodeError:  # a record cut where the writer has got to
            records = []
        if (records and records[-1].WhichOneof("record_type") == "exit") or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert records and records[-1].WhichOneof("record_type") == "exit", f"the run file has no exit record 60 s after the run: {[r.WhichOneof('record_type') for r in records]}"
    logged = {}
    for record in records:
        if record.WhichOneof("record_type") == "history":
            items = {item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in record.history.item}
            if all(k.startswith("_") for k in items):  # W&B's own bookkeeping (run time) without a metric
                continue
            logged |= {(items["_step"], k): v for k, v in items.items() if not k.startswith("_")}
    return logged


def test_offline_wandb_run_files_hold_every_metrics_row(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_SILENT", "true")
    run = train(tiny(), tmp_path / "run", loggers=[WandbLogger(project="test")], progress=False, device="cpu")
    (path,) = glob.glob(str(tmp_path / "run" / "wandb" / "offline-run-*" / "run-*.wandb"))
    assert _wandb_history(path) == pytest.approx(metrics_by_tag(run), rel=1e-7)


def test_a_resumed_run_continues_its_wandb_run(tmp_path, monkeypatch):
    """Killed at step 25 and resumed: both sessions log under one W&B run id, each metrics row once."""
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_SILENT", "true")
    with pytest.raises(KeyboardInterrupt):
        train(tiny(), tmp_path / "run", trackers=[Crash(at=25)], loggers=[WandbLogger(project="test")], progress=False, device="cpu")
    run = train(tiny(), tmp_path / "run", loggers=[WandbLogger(project="test")], progress=False, device="cpu", resume=True)
    stored = json.loads((tmp_path / "run" / "wandb" / "mechbridge.json").read_text())
    first, second = sorted(glob.glob(str(tmp_path / "run" / "wandb" / "offline-run-*")))
    assert [Path(d).name.split("-")[3] for d in (first, second)] == [stored["id"]] * 2 and stored["last_step"] == 30  # offline-run-<time>-<id>[-n]
    before, after = (_wandb_history(glob.glob(d + "/run-*.wandb")[0]) for d in (first, second))
    assert max(step for step, _ in before) == 20 and min(step for step, _ in after) == 25  # rows after the last good checkpoint once
    assert before | after == pytest.approx(metrics_by_tag(run), rel=1e-7)


def test_one_wandb_logger_serves_several_runs(tmp_path, monkeypatch):
    """The same logger object passed to two runs logs every row of each, not only the first run's."""
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_SILENT", "true")
    logger = WandbLogger(project="test")
    for name in ("a", "b"):
        run = train(tiny(), tmp_path / name, loggers=[logger], progress=False, device="cpu")
        (path,) = glob.glob(str(tmp_path / name / "wandb" / "offline-run-*" / "run-*.wandb"))
        assert _wandb_history(path) == pytest.approx(metrics_by_tag(run), rel=1e-7)


def test_an_unknown_logger_or_mode_is_refused_before_any_work(tmp_path):
    with pytest.raises(ConfigError, match="unknown logger 'mlflow'"):
        train(tiny(), tmp_path / "run", loggers=["mlflow"], progress=False)
    assert not (tmp_path / "run").exists()
    pytest.importorskip("wandb")
    with pytest.raises(ConfigError, match="wandb mode must be offline, online or disabled"):
        get_logger("wandb", mode="cloud")


def test_every_point_of_a_sweep_logs_into_its_own_run_directory(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    import bridge

    swept = bridge.sweep(tiny(), tmp_path / "sw", grid={"train.lr": [1e-3, 1e-2]}, loggers=["tensorboard"], progress=False)
    for key in swept.keys:
        events = EventAccumulator(str(tmp_path / "sw" / "points" / key / "tensorboard"))
        events.Reload()
        final = events.Scalars("loss/train")[-1]
        assert final.step == 30 and final.value == pytest.approx(swept.table.set_index("key").loc[key, "loss/train"], rel=1e-6)
    with pytest.raises(ConfigError, match="unknown logger 'tb'"):
        bridge.sweep(tiny(), tmp_path / "other", grid={"train.lr": [1e-3]}, loggers=["tb"], progress=False)
    assert not (tmp_path / "other").exists()


def _events(folder):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder))
    events.Reload()
    return {(e.step, name): e.value for name in events.Tags()["scalars"] for e in events.Scalars(name)}


def test_stacked_seeds_log_what_each_seed_trained_alone_logs(tmp_path):
    """train_seeds(loggers=[...]) gives every seed its own logger, in its own run directory, holding the rows
    bridge.train(loggers=[...]) logs for that seed (it took no loggers: nothing was logged)."""
    pytest.importorskip("tensorboard")
    import dataclasses

    from bridge.training.seeds import train_seeds

    runs = train_seeds(tiny(), [0, 1], tmp_path / "stacked", loggers=["tensorboard"], progress=False, device="cpu")
    for run in runs:
        alone = train(dataclasses.replace(tiny(), seed=run.config.seed), tmp_path / f"alone{run.config.seed}", loggers=["tensorboard"], progress=False, device="cpu")
        stacked, single = _events(run.path / "tensorboard"), _events(alone.path / "tensorboard")
        assert stacked.keys() == single.keys() == metrics_by_tag(run).keys()
        for key, value in single.items():
            assert stacked[key] == pytest.approx(value, rel=1e-5, abs=1e-7)
    with pytest.raises(ConfigError, match="unknown logger 'tb'"):
        train_seeds(tiny(), [0, 1], tmp_path / "other", loggers=["tb"], progress=False, device="cpu")
    with pytest.raises(TypeError, match="loggers by name"):
        train_seeds(tiny(), [0, 1], tmp_path / "other", loggers=[get_logger("tensorboard")], progress=False, device="cpu")
    assert not (tmp_path / "other").exists()


def test_a_sweep_with_loggers_stacks_its_seeds_and_every_point_logs_what_it_would_alone(tmp_path):
    """A run sweep with loggers trained its seeds point by point; they stack now, each point logging into its own directory."""
    pytest.importorskip("tensorboard")
    import dataclasses

    import bridge

    swept = bridge.sweep(tiny(), tmp_path / "sw", seeds=[0, 1], loggers=["tensorboard"], progress=False)
    assert {r["stack"] for r in swept.manifest["points"]} == {"seed=0 + seed=1"}
    for key in swept.keys:
        run = swept.run(key)
        alone = train(dataclasses.replace(tiny(), seed=run.config.seed), tmp_path / f"alone{run.config.seed}", loggers=["tensorboard"], progress=False, device="cpu")
        stacked, single = _events(run.path / "tensorboard"), _events(alone.path / "tensorboard")
        assert stacked.keys() == single.keys() and stacked
        for name, value in single.items():
            assert stacked[name] == pytest.approx(value, rel=1e-5, abs=1e-7)
