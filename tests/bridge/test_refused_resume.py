"""A refused resume changes no file and leaves no lock (docs/run-directories.md: no command that fails changes a file)."""

import pytest

from bridge import RunConfig, ScheduleConfig, TrainConfig, load_run, train
from bridge.models import MLPConfig
from bridge.runs.errors import CorruptFileError
from bridge.runs.lock import holder
from bridge.tasks import LinearTeacherConfig
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
