"""Kept: a run directory's files as they were, put back byte for byte after a refused resume."""

import os

from bridge.runs.lock import LOCK
from bridge.training.undo import KEPT, Kept


def tree(out):
    """Every entry under ``out`` but the kept copy: relative path -> bytes, a link's target, or 'dir'."""
    found = {}
    for root, dirs, names in os.walk(out):
        dirs[:] = [d for d in dirs if d != KEPT]
        for name in dirs + names:
            path = os.path.join(root, name)
            rel = os.path.relpath(path, out)
            found[rel] = ("link", os.readlink(path)) if os.path.islink(path) else "dir" if os.path.isdir(path) else open(path, "rb").read()
    return found


def make_run(out):
    (out / "checkpoints").mkdir(parents=True)
    (out / "run.json").write_text('{"status": "complete"}')
    (out / "metrics.csv").write_text("step,observable,value\n0,loss/train,1.5\n10,loss/train,0.5\n")
    (out / "checkpoints" / "step_00000010.safetensors").write_bytes(b"weights")
    os.symlink("checkpoints/step_00000010.safetensors", out / "latest")
    (out / "runs" / "a").mkdir(parents=True)  # a run nested in this one, written by its own writer
    (out / "runs" / "a" / "run.json").write_text("{}")


def test_restore_puts_back_every_file_cut_replaced_or_deleted_and_removes_what_was_added(tmp_path):
    out = tmp_path / "run"
    make_run(out)
    (out / KEPT).mkdir()
    (out / KEPT / "stale.txt").write_text("a dead writer's kept copy")
    before = tree(out)
    kept = Kept(out)
    assert not (out / KEPT / "stale.txt").exists()  # a kept copy found at the start is a dead writer's
    with open(out / "metrics.csv", "r+") as f:  # cut in place, as a resume cuts the table
        f.truncate(22)
    (out / "run.json.new").write_text('{"status": "running"}')
    os.replace(out / "run.json.new", out / "run.json")
    (out / "checkpoints" / "step_00000010.safetensors").unlink()
    (out / "checkpoints" / "step_00000020.safetensors").write_bytes(b"later")
    (out / "tensorboard" / "events").mkdir(parents=True)
    (out / "runs" / "a" / "step_7.safetensors").write_bytes(b"the nested run's own")
    (out / LOCK).write_text("{}")  # the lock is its holder's, never kept or removed
    kept.restore()
    after = tree(out)
    assert after.pop(os.path.join("runs", "a", "step_7.safetensors")) == b"the nested run's own"
    assert after.pop(LOCK) == b"{}"
    assert after == before and not (out / KEPT).exists()
    assert os.path.islink(out / "latest")


def test_a_lock_released_while_kept_is_not_put_back_and_discard_keeps_the_changes(tmp_path):
    out = tmp_path / "run"
    make_run(out)
    (out / LOCK).write_text("{}")
    kept = Kept(out)
    (out / LOCK).unlink()
    kept.restore()
    assert not (out / LOCK).exists()
    kept = Kept(out)
    (out / "metrics.csv").write_text("step,observable,value\n")
    kept.discard()
    assert (out / "metrics.csv").read_text() == "step,observable,value\n" and not (out / KEPT).exists()
