"""Resuming trusts only what run.json records of metrics.csv: a table that differs from its record
is refused before anything changes, a table cut short is never padded, and only checkpoints on
record are resumed from."""

from __future__ import annotations

import hashlib
import json
import re
import warnings
from pathlib import Path

import pytest

from bridge import RunConfig, TrainConfig, load_run, train
from bridge.models import DeepLinearConfig
from bridge.runs.metrics import MetricsLog
from bridge.runs.storage import CorruptFileError
from bridge.tasks import LinearTeacherConfig
from helpers import Crash


def config(steps=100, **train_fields):
    return RunConfig(LinearTeacherConfig((2.0, 1.0), d_in=4, d_out=4), DeepLinearConfig(4, 16, 4, init_std=0.01), TrainConfig(lr=0.1, steps=steps, **train_fields))


def hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def info(out: Path) -> dict:
    return json.loads((out / "run.json").read_text())


def test_metrics_log_truncate_never_pads_a_shorter_file(tmp_path):
    log = MetricsLog(tmp_path)
    size = log.append([{"step": 0, "observable": "loss/train", "value": 0.5}])
    with pytest.raises(CorruptFileError, match=f"metrics.csv has {size} bytes, fewer than the {size + 10}"):
        log.truncate(size + 10)
    assert (tmp_path / "metrics.csv").stat().st_size == size


@pytest.mark.parametrize("damage", ["truncated", "edited"])
def test_extending_a_run_whose_table_differs_from_its_record_is_refused_and_changes_nothing(tmp_path, damage):
    out = tmp_path / "run"
    train(config(100), out, device="cpu", progress=False)
    file = out / "metrics.csv"
    data = file.read_bytes()
    if damage == "truncated":  # shorter than its record (and than the last resume point)
        file.write_bytes(data[: len(data) * 3 // 4])
    else:  # one digit of a value changed, same length
        at = data.index(b"loss/train,") + len(b"loss/train,")
        file.write_bytes(data[:at] + (b"8" if data[at:at + 1] != b"8" else b"7") + data[at + 1 :])
    before = hashes(out)
    message = "metrics.csv has .* bytes but run.json records" if damage == "truncated" else "metrics.csv does not match its checksum"
    with pytest.raises(CorruptFileError, match=message):
        train(config(200), out, device="cpu", progress=False, resume=True)
    assert hashes(out) == before  # no padding, no new checksum, no lock left behind
    assert load_run(out).status == "complete"


def test_a_stopped_run_whose_table_was_cut_short_resumes_from_a_resume_point_it_still_holds(tmp_path):
    whole = train(config(100), tmp_path / "whole", device="cpu", progress=False, trackers=[Crash(at=-1)])
    cut = tmp_path / "cut"
    with pytest.raises(KeyboardInterrupt):
        train(config(100), cut, device="cpu", progress=False, trackers=[Crash(at=100)])
    sizes = sorted(info(cut)["metrics_bytes"].values())
    assert len(sizes) >= 3
    file = cut / "metrics.csv"
    file.write_bytes(file.read_bytes()[: sizes[-2] + 5])  # an operating-system crash lost the tail
    with pytest.warns(RuntimeWarning, match="metrics.csv has .* bytes, fewer than run.json records"):
        resumed = train(config(100), cut, device="cpu", progress=False, trackers=[Crash(at=-1)], resume=True)
    assert b"\0" not in file.read_bytes()
    assert resumed.status == "complete" and file.read_bytes() == (tmp_path / "whole" / "metrics.csv").read_bytes()
    assert whole.metrics.equals(load_run(cut).metrics)


class Widening:
    """Rows with an index column from step 60 on (the header widens at checkpoint 62); fails at ``fail_at``."""

    name = "widen"

    def __init__(self, fail_at=None):
        self.fail_at = fail_at

    def __call__(self, model, step, data):
        if step == self.fail_at:
            raise RuntimeError(f"tracker failed at step {step}")
        rows = [{"observable": "w/norm", "value": float(step)}]
        return rows + ([{"observable": "w/extra", "value": float(step), "k": 1}] if step >= 60 else [])


def test_falling_back_past_a_wider_header_filters_the_table_instead_of_cutting_it_mid_row(tmp_path):
    whole = train(config(100), tmp_path / "whole", device="cpu", progress=False, trackers=[Widening()])
    cut = tmp_path / "cut"
    with pytest.raises(RuntimeError):
        train(config(100), cut, device="cpu", progress=False, trackers=[Widening(fail_at=100)])
    recorded = info(cut)
    assert sorted(map(int, recorded["metrics_bytes"]))[-3:] == [53, 73, 85] and "k" in recorded["metrics_columns"]
    for step in (73, 85):  # the resume points with the wide header are damaged: back to 53, measured on the narrow one
        optim = cut / "checkpoints" / f"optim_{step:08d}.safetensors"
        optim.write_bytes(optim.read_bytes()[:20])
    with pytest.warns(UserWarning, match="optim_00000073.safetensors"):
        resumed = train(config(100), cut, device="cpu", progress=False, trackers=[Widening()], resume=True)
    assert resumed.status == "complete"
    assert (cut / "metrics.csv").read_bytes() == (tmp_path / "whole" / "metrics.csv").read_bytes()
    assert whole.metrics.equals(load_run(cut).metrics)


@pytest.mark.parametrize("header", ["value", ["step", 3]])
def test_a_run_json_header_that_is_not_a_list_of_column_names_is_refused_before_anything_changes(tmp_path, header):
    """The header a resume point's size was measured on selects the columns kept when the table is filtered back to it:
    a column's name there (an edited run.json) took one column as a Series, and the resume failed on it after cutting the table."""
    out = tmp_path / "run"
    with pytest.raises(RuntimeError):
        train(config(100), out, device="cpu", progress=False, trackers=[Widening(fail_at=100)])
    for step in (73, 85):  # back to 53, measured on the narrow header
        optim = out / "checkpoints" / f"optim_{step:08d}.safetensors"
        optim.write_bytes(optim.read_bytes()[:20])
    record = info(out)
    record["metrics_headers"]["53"] = header
    (out / "run.json").write_text(json.dumps(record))
    before = hashes(out)
    with pytest.raises(CorruptFileError, match=re.escape(f"run.json's metrics_headers['53'] is not a list of column names: {header!r}")):
        train(config(100), out, device="cpu", progress=False, trackers=[Widening()], resume=True)
    assert hashes(out) == before


@pytest.mark.parametrize("analysed_by", ["this version", "an older version"])
def test_analysing_a_failed_run_keeps_its_resume_points_so_resume_loses_no_tracked_row(tmp_path, monkeypatch, analysed_by):
    from bridge import analyze
    from bridge.config import ScheduleConfig
    from bridge.runs import storage
    from bridge.trackers import LossTracker

    cfg = config(100, schedule=ScheduleConfig(track_every=2))
    whole = train(cfg, tmp_path / "whole", device="cpu", progress=False)
    append = storage.append_bytes

    def disk_full_at_85(path, data):  # the rows flushed at resume point 85 (steps 74..85) are never written
        if data.startswith(b"74,"):
            raise OSError(28, "No space left on device")
        append(path, data)

    cut = tmp_path / "cut"
    monkeypatch.setattr(storage, "append_bytes", disk_full_at_85)
    with pytest.raises(OSError):
        train(cfg, cut, device="cpu", progress=False)
    monkeypatch.setattr(storage, "append_bytes", append)
    run = load_run(cut)
    assert run.status == "failed" and run.info["last_step"] == 73 and (cut / "checkpoints" / "optim_00000085.safetensors").exists()
    analyze(run, [LossTracker()], progress=False)
    assert max(map(int, info(cut)["metrics_bytes"])) == 73  # still on record: the resume points, not 85
    if analysed_by == "an older version":  # which dropped the resume points: the steps up to last_step are trusted
        (cut / "run.json").write_text(json.dumps({**info(cut), "metrics_bytes": {}}))
    resumed = train(cfg, cut, device="cpu", progress=False, resume=True)
    assert resumed.status == "complete"
    expected = whole.metrics.loc[whole.metrics.observable == "loss/train", "step"].tolist()
    assert resumed.metrics.loc[resumed.metrics.observable == "loss/train", "step"].sort_values().tolist() == expected


@pytest.mark.parametrize("damage", ["missing", "unreadable"])
def test_a_run_with_no_readable_optimizer_state_on_record_warns_before_it_starts_over(tmp_path, damage):
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train(config(100), out, device="cpu", progress=False, trackers=[Crash(at=100)])
    for optim in (out / "checkpoints").glob("optim_*"):
        optim.unlink() if damage == "missing" else optim.write_bytes(b"not safetensors")
    why = "none has its optimizer state on disk" if damage == "missing" else r"the optimizer states of steps \[53, 73, 85\] do not read back"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        resumed = train(config(100), out, device="cpu", progress=False, trackers=[Crash(at=-1)], resume=True)
    restarts = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(restarts) == 1 and "starting over from step 0, deleting its 24 checkpoints" in restarts[0], restarts
    assert re.search(why, restarts[0]), restarts[0]
    assert resumed.status == "complete"


def test_a_run_killed_before_its_first_resume_point_starts_over_without_a_warning(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train(config(100), out, device="cpu", progress=False, trackers=[Crash(at=9)])
    assert info(out)["metrics_bytes"] == {}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert train(config(100), out, device="cpu", progress=False, trackers=[Crash(at=-1)], resume=True).status == "complete"


def test_metrics_log_sizes_are_bytes_so_a_resume_truncates_non_ascii_rows_intact(tmp_path):
    """The size append returns (recorded per checkpoint) counts bytes: "λ" is 2 bytes in UTF-8,
    so counting characters would cut a resumed table inside its last kept row."""
    from bridge.runs.metrics import read_metrics

    log = MetricsLog(tmp_path)
    first = log.append([{"step": 0, "observable": "loss/λ", "value": 0.5}])
    assert first == (tmp_path / "metrics.csv").stat().st_size == len("step,observable,value\n0,loss/λ,0.5\n".encode())
    second = log.append([{"step": 1, "observable": "loss/λ", "value": 0.25}, {"step": 1, "observable": "λ/μ", "value": 0.125}])
    assert second == (tmp_path / "metrics.csv").stat().st_size == first + len("1,loss/λ,0.25\n1,λ/μ,0.125\n".encode())
    resumed = MetricsLog(tmp_path)  # a resume from step 0's checkpoint: back to its recorded size
    resumed.truncate(first)
    assert resumed.append([{"step": 1, "observable": "loss/λ", "value": 0.3}]) == (tmp_path / "metrics.csv").stat().st_size
    frame = read_metrics(tmp_path)
    assert frame["step"].tolist() == [0, 1] and frame["observable"].tolist() == ["loss/λ", "loss/λ"] and frame["value"].tolist() == [0.5, 0.3]
    assert (tmp_path / "metrics.csv").read_text(encoding="utf-8") == "step,observable,value\n0,loss/λ,0.5\n1,loss/λ,0.3\n"
