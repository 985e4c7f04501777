"""What the run store refuses or leaves alone: untidy metric rows, malformed file records, a reserved
checkpoint key, locks of another host, staging directories of a writer that may still be starting, and
the old file when an atomic write fails."""

import json
import os
import socket
import time

import pytest
import torch

from bridge.runs.checksums import digest, record, verify
from bridge.runs.errors import CorruptFileError, RunError
from bridge.runs.lock import LOCK, UNREADABLE_GRACE, acquire, create_run_dir, held_here, holder, release, remove_stale_staging
from bridge.runs.metrics import read_metrics, validate_rows
from bridge.runs.storage import tensors_to_bytes


@pytest.mark.parametrize(("bad", "message"), [({"step": True}, "step must be an integer, got True"), ({"value": False}, "value must be a number, got False")])
def test_a_boolean_step_or_value_is_not_a_metric_row(bad, message):
    with pytest.raises(ValueError, match=message):
        validate_rows([{"step": 0, "observable": "loss/train", "value": 0.5, **bad}])


def test_a_table_with_a_row_that_names_no_observable_is_refused(tmp_path):
    (tmp_path / "metrics.csv").write_text("step,observable,value\n0,loss/train,0.5\n1,,0.25\n")
    with pytest.raises(CorruptFileError, match="metrics.csv is not a tidy metrics table: a row names no observable"):
        read_metrics(tmp_path)


@pytest.mark.parametrize("entry", [{"bytes": "3", "sha256": "ab"}, {"bytes": 3}, {"bytes": 3, "sha256": "ab", "before": {"bytes": 3}}])
def test_a_malformed_record_of_a_file_is_named_as_such(tmp_path, entry):
    (tmp_path / "a.txt").write_text("abc")
    with pytest.raises(CorruptFileError, match=r"run.json's record of a.txt is malformed \(expected bytes and sha256"):
        verify(tmp_path, {"a.txt": entry}, "a.txt")


def test_records_are_of_files_only(tmp_path):
    (tmp_path / "figures").mkdir()
    (tmp_path / "a.txt").write_text("abc")
    assert record(tmp_path, ["figures", "a.txt"]) == {"a.txt": digest(b"abc")}


@pytest.mark.parametrize("key", ["data_sha256", "header_sha256"])
def test_the_checksum_keys_of_checkpoint_metadata_cannot_be_given(key):
    with pytest.raises(ValueError, match=f"'{key}' is reserved"):
        tensors_to_bytes({"w": torch.zeros(2)}, {key: "0" * 64})


@pytest.mark.parametrize(("old", "new"), [(b'"wa"', b'"wb"'), (b'"shape":[2,0]', b'"shape":[0,2]'), (b'\\"step\\": \\"7\\"', b'\\"step\\": \\"5\\"')], ids=["a tensor renamed", "an empty tensor reshaped", "the metadata changed"])
def test_a_header_changed_since_it_was_written_is_refused_naming_the_file(tmp_path, old, new):
    """The tensor data is whole, but the header names, shapes or describes it otherwise than it was saved."""
    from bridge.runs.checkpoints import check_checkpoints
    from bridge.runs.storage import load_tensors, read_metadata

    data = tensors_to_bytes({"wa": torch.arange(3.0), "e": torch.zeros(2, 0)}, {"step": "7"})
    assert data.count(old) == 1
    (tmp_path / "checkpoints").mkdir()
    file = tmp_path / "checkpoints" / "step_00000007.safetensors"
    file.write_bytes(data.replace(old, new))
    message = "checkpoint step_00000007.safetensors has a header that does not match the checksum it was saved with"
    for read in (load_tensors, read_metadata, check_checkpoints):
        with pytest.raises(CorruptFileError, match=message):
            read(file if read is not check_checkpoints else tmp_path)


def test_a_checkpoint_saved_with_the_data_checksum_alone_still_loads(tmp_path):
    """Files written before the header had a checksum of its own."""
    import hashlib

    from safetensors.torch import save

    from bridge.runs.storage import DIGEST, PACKED, load_tensors, read_metadata

    plain = save({"w": torch.arange(3.0)})
    packed = {PACKED: json.dumps({"step": "1", DIGEST: hashlib.sha256(plain[-12:]).hexdigest()}, sort_keys=True)}
    (tmp_path / "step_00000001.safetensors").write_bytes(save({"w": torch.arange(3.0)}, metadata=packed))
    assert load_tensors(tmp_path / "step_00000001.safetensors")["w"].tolist() == [0.0, 1.0, 2.0]
    assert read_metadata(tmp_path / "step_00000001.safetensors") == {"step": "1"}


def test_checkpoint_bytes_keep_the_values_of_when_they_were_taken(tmp_path):
    """The bytes of a checkpoint are a copy: the weights changed afterwards change neither them nor their checksum."""
    from bridge.runs.storage import DIGEST, load_tensors, read_metadata, save_tensors

    w, flags = torch.arange(6.0).reshape(2, 3), torch.tensor([True, False])
    data = tensors_to_bytes({"w": w, "flags": flags, "empty": torch.zeros(0)}, {"step": "1"})
    w.mul_(-1.0)
    flags.logical_not_()
    file = tmp_path / "step_00000001.safetensors"
    file.write_bytes(data)
    loaded = load_tensors(file)  # checked against the checksum it was saved with
    assert loaded["w"].tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]] and loaded["flags"].tolist() == [True, False] and loaded["empty"].numel() == 0
    assert read_metadata(file) == {"step": "1"} and DIGEST not in read_metadata(file)
    save_tensors(tmp_path / "again.safetensors", {"w": w, "flags": flags, "empty": torch.zeros(0)}, {"step": "1"})
    assert load_tensors(tmp_path / "again.safetensors")["w"].tolist() == [[-0.0, -1.0, -2.0], [-3.0, -4.0, -5.0]]


def test_a_lock_of_this_pid_on_another_host_is_not_this_process_lock(tmp_path):
    other = {"pid": os.getpid(), "host": socket.gethostname() + "-elsewhere", "started": time.time()}
    assert not held_here(other) and held_here({**other, "host": socket.gethostname()})
    (tmp_path / LOCK).write_text(json.dumps(other))
    with pytest.raises(RunError, match=f"being written by process {os.getpid()} on {other['host']}"):
        acquire(tmp_path)
    release(tmp_path)
    assert holder(tmp_path) == other  # left for its own writer


def test_a_staging_directory_without_a_lock_is_left_until_it_is_older_than_the_grace(tmp_path):
    staging = tmp_path / ".run.staging-4206459"
    (staging / "checkpoints").mkdir(parents=True)  # its creator has not written the lock yet
    assert remove_stale_staging(tmp_path) == [] and staging.is_dir()
    old = time.time() - 2 * UNREADABLE_GRACE
    os.utime(staging, (old, old))
    assert remove_stale_staging(tmp_path) == [staging] and not staging.exists()


def test_an_existing_run_whose_writer_is_gone_is_refused_without_naming_it(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / LOCK).write_text(json.dumps({"pid": 2**30, "host": socket.gethostname(), "started": 0}))
    with pytest.raises(FileExistsError) as refused:
        create_run_dir(out, {"status": "running"})
    assert str(refused.value) == f"run directory {out} already exists; choose another --out or resume it"


def _untrained_run(folder, status="complete"):
    """A run directory holding a config, the given status and a metrics table written row by row (no lock)."""
    from bridge import RunConfig, TrainConfig
    from bridge.config import config_to_dict
    from bridge.models import DeepLinearConfig
    from bridge.tasks import LinearTeacherConfig

    cfg = RunConfig(LinearTeacherConfig((2.0,), d_in=2, d_out=2), DeepLinearConfig(2, 4, 2), TrainConfig(steps=3))
    folder.mkdir()
    (folder / "run.json").write_text(json.dumps({"config": config_to_dict(cfg), "status": status, "files": {}}))
    return folder


def test_the_last_row_written_for_a_step_is_read_and_one_index_value_is_no_choice(tmp_path):
    from bridge import load_run
    from bridge.runs.metrics import MetricsLog

    run = _untrained_run(tmp_path / "run")
    MetricsLog(run).append([{"step": 0, "observable": "x", "value": 1.0, "k": 0}, {"step": 1, "observable": "x", "value": 3.0, "k": 0}])
    MetricsLog(run).append([{"step": 0, "observable": "x", "value": 2.0, "k": 0}, {"step": 0, "observable": "y", "value": 5.0, "k": 1}, {"step": 0, "observable": "y", "value": 6.0, "k": 1}])
    loaded = load_run(run)
    assert loaded.observable("x").to_dict() == {0: 2.0, 1: 3.0}  # k is 0 in every row: nothing to choose
    assert loaded.table("x", "k").to_dict() == {0: {0: 2.0, 1: 3.0}}
    assert loaded.table("y", "k").to_dict() == {1: {0: 6.0}}


def test_a_running_run_without_a_lock_is_interrupted(tmp_path):
    from bridge import load_run

    assert load_run(_untrained_run(tmp_path / "run", status="running")).status == "interrupted"
    assert load_run(_untrained_run(tmp_path / "done")).status == "complete"


@pytest.mark.parametrize("fails", ["write", "rename", "interrupt"])
def test_an_atomic_write_that_fails_at_any_step_keeps_the_old_file_and_leaves_no_temporary_file(tmp_path, monkeypatch, fails):
    from bridge.runs import storage

    target = tmp_path / "run.json"
    storage.atomic_write_bytes(target, b'{"last_step": 10}\n')
    write_all = storage._write_all

    def half(fd, data):
        write_all(fd, data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    def raising(error=None):
        raise OSError(28, "No space left on device") if error is None else error

    if fails == "write":  # a full disk half-way
        monkeypatch.setattr(storage, "_write_all", half)
    elif fails == "rename":
        monkeypatch.setattr(storage, "_replace", lambda tmp, path: raising())
    else:
        monkeypatch.setattr(storage, "_replace", lambda tmp, path: raising(error=KeyboardInterrupt()))
    with pytest.raises((OSError, KeyboardInterrupt)):
        storage.atomic_write_bytes(target, b'{"last_step": 20}\n')
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.json"] and target.read_bytes() == b'{"last_step": 10}\n'
