"""A refused resume changes no file and leaves no lock (docs/run-directories.md: no command that fails changes a file)."""

import json
import os
import socket
import time

import pytest

from bridge import ConfigError, RunConfig, RunError, ScheduleConfig, TrainConfig, load_run, train
from bridge.models import MLPConfig
from bridge.runs.errors import CorruptFileError
from bridge.runs.lock import LOCK, holder
from bridge.tasks import LinearTeacherConfig
from bridge.training.seeds import train_seeds
from helpers import Crash


def config():
    return RunConfig(
        task=LinearTeacherConfig((2.0, 1.0), d_in=4, d_out=3, n_train=16),
        model=MLPConfig(d_in=4, d_out=3, widths=(8,), activation="tanh"),
        train=TrainConfig(optimizer="adam", lr=0.01, steps=60, batch_size=8, schedule=ScheduleConfig(n_log=5, every=10, track_every=5)),
        seed=0,
    )


def files(folder):
    """Every file under ``folder`` (the lock included), by relative path, with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


class RefusingLogger:
    """An experiment logger that cannot open (a tracking server down, say): the resume is refused after run.json was rewritten."""

    def open(self, out, config, resume):
        raise OSError("logger unavailable")

    def log(self, rows):
        pass

    def close(self):
        pass


def interrupted_run(out):
    with pytest.raises(KeyboardInterrupt):
        train(config(), out, trackers=[Crash(at=35)], device="cpu", progress=False)
    assert load_run(out).status == "interrupted"
    return out


def test_a_resume_refused_in_open_frees_the_lock_and_changes_no_file(tmp_path):
    out = interrupted_run(tmp_path / "run")
    (out / "metrics.csv").rename(tmp_path / "metrics.csv")
    before = files(out)
    with pytest.raises(CorruptFileError, match="metrics.csv is missing but run.json records its rows"):
        train(config(), out, device="cpu", progress=False, resume=True)
    assert holder(out) is None  # another process may resume it once the file is back
    assert files(out) == before
    (tmp_path / "metrics.csv").rename(out / "metrics.csv")
    assert train(config(), out, device="cpu", progress=False, resume=True).status == "complete"


def test_a_resume_refused_after_run_json_was_rewritten_puts_every_file_back(tmp_path):
    out = interrupted_run(tmp_path / "run")
    before = files(out)
    with pytest.raises(OSError, match="logger unavailable"):
        train(config(), out, device="cpu", progress=False, resume=True, loggers=[RefusingLogger()])
    assert holder(out) is None
    assert files(out) == before  # run.json, the metrics cut back to the last record and the checkpoints after it
    assert load_run(out).status == "interrupted"


def interrupted_sweep(out):
    with pytest.raises(KeyboardInterrupt):
        train_seeds(config(), [0, 1], out, trackers=lambda: [Crash(at=35)], device="cpu", progress=False)
    return out


def test_a_stacked_resume_refused_by_a_live_writer_of_one_seed_changes_no_seed(tmp_path):
    out = interrupted_sweep(tmp_path / "sweep")
    live = {"pid": os.getppid(), "host": socket.gethostname(), "started": time.time()}  # a live process resuming seed_1
    (out / "seed_1" / LOCK).write_text(json.dumps(live))
    before = {s: files(out / s) for s in ("seed_0", "seed_1")}
    with pytest.raises(RunError, match=f"seed_1 is being written by process {os.getppid()}"):
        train_seeds(config(), [0, 1], out, device="cpu", progress=False, resume=True)
    assert {s: files(out / s) for s in ("seed_0", "seed_1")} == before
    assert holder(out / "seed_0") is None and holder(out / "seed_1") == live
    (out / "seed_1" / LOCK).unlink()  # that writer is done: the sweep resumes
    assert {r.status for r in train_seeds(config(), [0, 1], out, device="cpu", progress=False, resume=True)} == {"complete"}


def test_a_stacked_resume_refused_at_a_later_seed_puts_the_earlier_ones_back(tmp_path):
    out = interrupted_sweep(tmp_path / "sweep")
    (out / "seed_1" / "metrics.csv").rename(tmp_path / "metrics.csv")
    before = {s: files(out / s) for s in ("seed_0", "seed_1")}
    with pytest.raises(CorruptFileError, match="metrics.csv is missing"):
        train_seeds(config(), [0, 1], out, device="cpu", progress=False, resume=True)
    assert {s: files(out / s) for s in ("seed_0", "seed_1")} == before
    assert holder(out / "seed_0") is None and holder(out / "seed_1") is None
    assert load_run(out / "seed_0").status == "interrupted"


def test_a_stacked_resume_refused_after_every_seed_was_opened_changes_no_seed(tmp_path, monkeypatch):
    from bridge.training import seeds

    out = interrupted_sweep(tmp_path / "sweep")
    before = {s: files(out / s) for s in ("seed_0", "seed_1")}

    def differ(optimizers):
        raise RunError("cannot resume the sweep: the seeds' optimizer 'step' differ")

    monkeypatch.setattr(seeds, "_stack_optimizer_state", differ)
    with pytest.raises(RunError, match="optimizer 'step' differ"):
        train_seeds(config(), [0, 1], out, device="cpu", progress=False, resume=True)
    assert {s: files(out / s) for s in ("seed_0", "seed_1")} == before
    assert holder(out / "seed_0") is None and holder(out / "seed_1") is None


def test_a_new_sweep_that_fails_before_training_is_recorded_failed_and_unlocked(tmp_path, monkeypatch):
    from bridge.training import seeds

    def broken(base):
        raise RuntimeError("cannot swap parameters")

    monkeypatch.setattr(seeds, "ParameterSlots", broken)
    cfg = config()
    with pytest.raises(RuntimeError, match="cannot swap parameters"):
        train_seeds(cfg, [0, 1], tmp_path / "sweep", device="cpu", progress=False)
    for s in ("seed_0", "seed_1"):
        assert holder(tmp_path / "sweep" / s) is None
        assert json.loads((tmp_path / "sweep" / s / "run.json").read_text())["status"] == "failed"


def test_a_refused_resume_of_a_run_holding_other_runs_leaves_them_alone(tmp_path):
    # a case study's main run holds its auxiliary runs (runs/<key>), which other workers may be writing
    # while the main run resumes: a refused resume must not delete what they wrote meanwhile
    out = interrupted_run(tmp_path / "run")
    nested = out / "runs" / "aux"
    nested.mkdir(parents=True)
    (nested / "run.json").write_text("{}")

    class WrittenMeanwhile(RefusingLogger):
        def open(self, out, config, resume):
            (nested / "step_7.safetensors").write_text("x")  # another worker's checkpoint, during the open
            super().open(out, config, resume)

    with pytest.raises(OSError, match="logger unavailable"):
        train(config(), out, device="cpu", progress=False, resume=True, loggers=[WrittenMeanwhile()])
    assert (nested / "step_7.safetensors").read_text() == "x" and (nested / "run.json").read_text() == "{}"
    assert not (out / ".kept").exists() and holder(out) is None


def test_a_refused_resume_that_cut_the_metrics_back_puts_their_rows_back(tmp_path):
    # killed at 25: the last resume point is 20, but checkpoint 22 (log-spaced, weights only) already wrote rows up to 22
    with pytest.raises(KeyboardInterrupt):
        train(config(), tmp_path / "run", trackers=[Crash(at=25)], device="cpu", progress=False)
    out = tmp_path / "run"
    assert 22 in load_run(out).steps and list(json.loads((out / "run.json").read_text())["metrics_bytes"]) == ["8", "20"]
    assert max(load_run(out).metrics.step) == 22
    before = files(out)
    with pytest.raises(OSError, match="logger unavailable"):
        train(config(), out, device="cpu", progress=False, resume=True, loggers=[RefusingLogger()])
    assert files(out) == before  # the rows of step 22 are back
    assert max(load_run(out).metrics.step) == 22


def test_a_resume_with_another_config_names_the_first_field_that_differs_and_changes_no_file(tmp_path):
    import dataclasses

    out = interrupted_run(tmp_path / "run")
    before = files(out)
    other = dataclasses.replace(config(), train=dataclasses.replace(config().train, lr=0.02, steps=90))
    with pytest.raises(ConfigError, match=r"different config \(train\.lr is 0\.01 there, 0\.02 here; only train\.steps may change"):
        train(other, out, device="cpu", progress=False, resume=True)
    wider = dataclasses.replace(config(), model=dataclasses.replace(config().model, widths=(16,)))
    with pytest.raises(ConfigError, match=r"different config \(model\.widths is \[8\] there, \[16\] here;"):
        train(wider, out, device="cpu", progress=False, resume=True)
    assert holder(out) is None and files(out) == before
