"""What a run directory guarantees: one writer, atomic creation, interrupted runs detected and resumed."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pandas as pd
import pytest

from bridge import load_run
from bridge.runs.errors import RunError
from bridge.runs.lock import LOCK, acquire, create_run_dir, holder, release

WRITER = textwrap.dedent('''
    import sys, time
    from bridge import RunConfig, ScheduleConfig, TrainConfig, train
    from bridge.models import DeepLinearConfig
    from bridge.tasks import LinearTeacherConfig
    from bridge.cli import main
    steps = int(sys.argv[2])
    cfg = RunConfig(LinearTeacherConfig((2.0, 1.0), d_in=4, d_out=4), DeepLinearConfig(4, 16, 4, init_std=0.01),
                    TrainConfig(lr=0.05, steps=steps, schedule=ScheduleConfig(n_log=4, every=max(steps // 20, 1))), seed=0)
    try:
        train(cfg, sys.argv[1], progress=False, resume=len(sys.argv) > 3)
    except (FileExistsError, Exception) as e:
        print(f"refused: {e}", file=sys.stderr)
        sys.exit(2)
''')


def writer(out, steps, resume=False, start=True):
    argv = [sys.executable, "-c", WRITER, str(out), str(steps)] + (["resume"] if resume else [])
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})


RACERS = textwrap.dedent('''
    import json, sys, time
    from pathlib import Path
    from bridge import RunConfig, ScheduleConfig, TrainConfig, train
    from bridge.models import DeepLinearConfig
    from bridge.tasks import LinearTeacherConfig
    base, attempts, me = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    cfg = RunConfig(LinearTeacherConfig((2.0, 1.0), d_in=4, d_out=4), DeepLinearConfig(4, 16, 4, init_std=0.01),
                    TrainConfig(lr=0.05, steps=200, schedule=ScheduleConfig(n_log=4, every=10)), seed=0)
    for k in range(attempts):
        (base / f"ready-{k}-{me}").touch()
        while len(list(base.glob(f"ready-{k}-*"))) < 2:  # both racers are here: start together
            time.sleep(0.0005)
        try:
            train(cfg, base / f"run-{k}", progress=False)
            print(json.dumps({"attempt": k, "wrote": True}), flush=True)
        except Exception as e:
            print(json.dumps({"attempt": k, "wrote": False, "error": f"{type(e).__name__}: {e}"}), flush=True)
''')


@pytest.mark.slow
def test_two_writers_started_together_exactly_one_writes(tmp_path):
    """Two warm processes start each of many runs on the same directory within a millisecond of each other."""
    attempts = 30
    racers = [subprocess.Popen([sys.executable, "-c", RACERS, str(tmp_path), str(attempts), me], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}) for me in "ab"]
    outcomes = []
    for racer in racers:
        out, err = racer.communicate(timeout=600)
        assert racer.returncode == 0, err[-2000:]
        outcomes += [json.loads(line) for line in out.splitlines()]
    for k in range(attempts):
        pair = [o for o in outcomes if o["attempt"] == k]
        assert sorted(o["wrote"] for o in pair) == [False, True], pair
        (refused,) = [o["error"] for o in pair if not o["wrote"]]
        assert refused.startswith("FileExistsError") and "already exists" in refused, refused
        out = tmp_path / f"run-{k}"
        run = load_run(out)
        assert run.status == "complete" and not (out / LOCK).exists()
        assert run.metrics.duplicated(subset=["step", "observable"]).sum() == 0  # one writer's rows only


def test_creation_is_atomic_and_a_second_creator_is_refused_naming_the_holder(tmp_path):
    out = tmp_path / "run"
    create_run_dir(out, {"status": "running"})
    assert holder(out)["pid"] == os.getpid()
    with pytest.raises(FileExistsError, match=f"being written by process {os.getpid()}"):
        create_run_dir(out, {"status": "running"})
    assert json.loads((out / "run.json").read_text()) == {"status": "running"}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".run.staging")]  # no staging left behind
    acquire(out)  # this process holds it already: taking it again is a no-op
    other = {**holder(out), "pid": os.getppid()}  # a live process that is not this one
    (out / LOCK).write_text(json.dumps(other))
    with pytest.raises(RunError, match=f"being written by process {os.getppid()}"):
        acquire(out)  # a live holder: resuming is refused too
    release(out)  # not ours: left alone
    assert holder(out)["pid"] == os.getppid()
    (out / LOCK).unlink()
    acquire(out)
    assert holder(out)["pid"] == os.getpid()


def test_bad_output_locations_are_one_clear_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(RunError, match="a file of that name exists"):
        create_run_dir(tmp_path / "file", {})
    with pytest.raises(RunError, match="cannot create run directory"):
        create_run_dir(tmp_path / "file" / "below", {})
    assert (tmp_path / "file").read_text() == "x"


@pytest.mark.slow
def test_a_killed_writer_leaves_an_interrupted_run_that_resume_finishes_identically(tmp_path):
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    assert writer(whole, 3000).wait() == 0
    proc = writer(cut, 3000)
    for _ in range(20000):  # poll until the writer has saved a few checkpoints (it has its own bound: 3000 steps)
        if (cut / "checkpoints").exists() and len(list((cut / "checkpoints").glob("step_*"))) >= 8 or proc.poll() is not None:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the writer finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    run = load_run(cut)
    assert run.status == "interrupted"
    from bridge import analyze
    from bridge.trackers import LossTracker

    with pytest.raises(ValueError, match="was interrupted at step"):
        analyze(run, [LossTracker()])
    assert writer(cut, 3000, resume=True).wait() == 0
    done, reference = load_run(cut), load_run(whole)
    assert done.status == "complete" and done.steps == reference.steps
    for step in reference.steps:
        a, b = (cut / "checkpoints" / f"step_{step:08d}.safetensors").read_bytes(), (whole / "checkpoints" / f"step_{step:08d}.safetensors").read_bytes()
        assert a == b, step
    assert (cut / "metrics.csv").read_bytes() == (whole / "metrics.csv").read_bytes()


def test_safetensors_metadata_of_several_keys_is_stored_reproducibly(tmp_path):
    import torch

    from bridge.runs.storage import read_metadata, save_tensors

    meta = {"step": "3", "param_groups": "[]", "scalars": "{}"}
    save_tensors(tmp_path / "a.safetensors", {"x": torch.arange(3.0)}, meta)
    save_tensors(tmp_path / "b.safetensors", {"x": torch.arange(3.0)}, dict(reversed(meta.items())))
    assert (tmp_path / "a.safetensors").read_bytes() == (tmp_path / "b.safetensors").read_bytes()
    assert read_metadata(tmp_path / "a.safetensors") == meta
    save_tensors(tmp_path / "c.safetensors", {"x": torch.arange(3.0)}, {"step": "3"})
    assert read_metadata(tmp_path / "c.safetensors") == {"step": "3"}  # the checksum of the data is not part of it


def test_a_file_queue_applies_batches_in_order_and_drops_those_after_a_failure(tmp_path):
    from bridge.runs.file_queue import FileBatch, FileQueue

    files, log = FileQueue(), tmp_path / "log"
    for i in range(50):
        batch = FileBatch()
        batch.append(log, f"{i},".encode())
        batch.write(tmp_path / "last", f"{i}".encode())
        files.submit(batch)
    files.wait()
    assert log.read_text() == "".join(f"{i}," for i in range(50)) and (tmp_path / "last").read_text() == "49"
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left

    failing, after = FileBatch(), FileBatch()
    failing.append(log, b"a,")
    failing.write(tmp_path / "missing" / "file", b"x")  # no such folder: this write fails
    failing.append(log, b"b,")
    after.append(log, b"c,")
    files.submit(failing)
    files.submit(after)
    with pytest.raises(FileNotFoundError):
        files.wait()
    files.wait(quiet=True)
    with pytest.raises(FileNotFoundError):  # the training thread learns of it at its next checkpoint
        files.submit(FileBatch())
    files.close()
    assert log.read_text().endswith("49,a,")  # nothing after the failure, in that batch or later ones


def test_a_file_queue_holds_at_most_its_limit_and_submits_a_block_together(tmp_path):
    import threading

    from bridge.runs.file_queue import FileBatch, FileQueue

    release, files, seen = threading.Event(), FileQueue(limit=1), []
    first = FileBatch()
    first.then(release.wait)
    files.submit(first)
    second = FileBatch()
    second.append(tmp_path / "log", b"2")
    submitter = threading.Thread(target=files.submit, args=(second,))
    submitter.start()
    submitter.join(timeout=0.2)
    assert submitter.is_alive()  # one batch pending: the second waits for room
    release.set()
    submitter.join(timeout=10)
    files.wait()
    assert (tmp_path / "log").read_text() == "2"

    with files.together():
        for i in range(3):
            batch = FileBatch()
            batch.append(tmp_path / "log", f"{i}".encode())
            batch.then(lambda i=i: seen.append(i))
            files.submit(batch)
        time.sleep(0.05)
        assert seen == []  # nothing is applied before the block ends
    files.close()
    assert seen == [0, 1, 2] and (tmp_path / "log").read_text() == "2012"


def test_encoded_metrics_rows_are_the_bytes_append_writes(tmp_path):
    from bridge.runs.metrics import MetricsLog
    from bridge.runs.storage import append_bytes

    rows = [[{"step": s, "observable": "loss/train", "value": 1.0 / (s + 1), **({"layer": s % 2} if s else {})}] for s in range(6)]
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    direct, encoded = MetricsLog(tmp_path / "a"), MetricsLog(tmp_path / "b")
    for r in rows:
        size = direct.append(r)
        data = encoded.encode(r)
        if data is None:  # a wider header: the table is rewritten from the file
            assert encoded.append(r) == size
        else:
            append_bytes(encoded.file, data)
        assert encoded.size == size == encoded.file.stat().st_size
    assert encoded.file.read_bytes() == direct.file.read_bytes()
    assert encoded.encode([]) == b"" and encoded.size == size


def test_a_new_metrics_table_reads_back_as_the_tidy_frame_of_its_rows(tmp_path):
    from bridge.runs.metrics import MetricsLog, read_metrics, rows_to_frame

    rows = [
        {"step": 0, "observable": "loss/train", "value": 0.1},
        {"step": 0, "observable": "loss/test", "value": None},
        {"step": 0, "observable": "mode/strength", "value": float("nan"), "mode": 3, "split": "a,b"},
        {"step": 2, "observable": "mode/strength", "value": 7, "mode": None, "split": 'say "x"'},
    ]
    log = MetricsLog(tmp_path)
    data = log.encode(rows)
    assert data.startswith(b"step,observable,value,mode,split\n") and log.columns == ["step", "observable", "value", "mode", "split"]
    (tmp_path / "metrics.csv").write_bytes(data)
    pd.testing.assert_frame_equal(read_metrics(tmp_path), rows_to_frame(rows))


@pytest.mark.parametrize(
    "case",
    ["every dtype", "no metadata", "packed metadata", "non-ASCII metadata", "unsupported dtype", "one name non-ASCII"],
)
def test_checkpoint_bytes_are_the_bytes_safetensors_writes(case):
    """The in-house serialiser (common dtypes, ASCII names) gives safetensors' own bytes; anything else falls back to it."""
    import torch
    from safetensors.torch import load, save

    from bridge.runs.storage import tensors_to_bytes
    from tests.helpers import packed_metadata

    g = torch.Generator().manual_seed(0)
    every = {
        "b": torch.randn(2, generator=g), "a": torch.randn(3, 4, generator=g).T, "c": torch.arange(3), "d": torch.randn(2, generator=g).half(),
        "e": torch.tensor(1.5, dtype=torch.float64), "f": torch.zeros(0, 3), "g": torch.tensor([True, False, True]), "h": torch.randn(2, generator=g).bfloat16(),
        "i": torch.arange(2, dtype=torch.uint8), "j": torch.arange(2, dtype=torch.int32), "k": torch.arange(3, dtype=torch.int8), "l": torch.arange(5, dtype=torch.int16),
    }
    tensors, metadata = {
        "every dtype": (every, {"step": "3"}),
        "no metadata": ({"x": torch.randn(4, 4, generator=g)}, None),
        "packed metadata": ({"x": torch.randn(4, 4, generator=g)}, {"step": "1", "param_groups": '[{"lr": 0.1, "name": "a\\\\b"}]'}),
        "non-ASCII metadata": ({"x": torch.randn(4, 4, generator=g)}, {"note": "é\n"}),
        "unsupported dtype": ({"x": torch.randn(4, generator=g).to(torch.complex64), "y": torch.ones(2)}, None),
        "one name non-ASCII": ({"wé": torch.ones(2), "v": torch.zeros(3)}, {"step": "0"}),
    }[case]
    plain = {k: v.contiguous() for k, v in tensors.items()}
    data = tensors_to_bytes(tensors, metadata)
    assert data == save(plain, metadata=packed_metadata(save(plain), metadata))
    assert all(torch.equal(load(data)[k], v) for k, v in tensors.items())


@pytest.mark.parametrize("fail_at", [0, 3])
def test_a_tracker_failing_on_any_call_fails_the_run_and_frees_its_lock(tmp_path, fail_at):
    from bridge import RunConfig, ScheduleConfig, TrainConfig, train
    from bridge.models import DeepLinearConfig
    from bridge.tasks import LinearTeacherConfig

    class Failing:
        name = "failing"

        def __call__(self, model, step, data):
            if step >= fail_at:
                raise RuntimeError(f"boom at {step}")
            return []

    cfg = RunConfig(LinearTeacherConfig((2.0, 1.0), d_in=4, d_out=4), DeepLinearConfig(4, 8, 4, init_std=0.01),
                    TrainConfig(lr=0.05, steps=10, schedule=ScheduleConfig(n_log=2, every=1)), seed=0)
    with pytest.raises(RuntimeError, match="boom"):
        train(cfg, tmp_path / "run", trackers=[Failing()], progress=False)
    run = load_run(tmp_path / "run")
    assert run.status == "failed" and run.info["error"] == f"RuntimeError: boom at {fail_at} (raised by tracker 'failing' in the call at step {fail_at})"
    assert not (tmp_path / "run" / LOCK).exists()
    resumed = train(cfg, tmp_path / "run", progress=False, resume=True)  # nobody holds it
    assert resumed.status == "complete" and "error" not in resumed.info  # the failure it resumed from is over
    whole = train(cfg, tmp_path / "whole", progress=False)
    drop = {"wall_time", "created", "finished", "device", "files", "trackers", "tracker_versions"}  # trackers: those the run was started with
    assert resumed.tracker_versions == {"loss": 1, "failing": 1} and whole.tracker_versions == {"loss": 1}  # the versions of every tracker whose rows it holds
    assert {k: v for k, v in resumed.info.items() if k not in drop} == {k: v for k, v in whole.info.items() if k not in drop}
    assert (tmp_path / "run" / "metrics.csv").read_bytes() == (tmp_path / "whole" / "metrics.csv").read_bytes()


def _race_for_the_lock(folder, go, results, slow):
    import bridge.runs.lock as lock_module

    if slow:  # widen the window between judging a lock and acting on it, as a busy machine does
        judged = lock_module.is_stale

        def slowly(lock):
            stale = judged(lock)
            time.sleep(0.15)
            return stale

        lock_module.is_stale = slowly
    go.wait()
    try:
        lock_module.acquire(folder)
        results.put("acquired")
        time.sleep(0.6)  # hold it while the other tries
    except RunError:
        results.put("refused")


@pytest.mark.parametrize("start", ["no lock", "stale lock", "stale lock, slow"])
def test_two_processes_racing_for_a_lock_never_both_take_it(tmp_path, start):
    # the lock was created empty and written after, and a stale lock was judged and deleted in two steps:
    # a second process read the empty file as stale and deleted the first's lock, or deleted a fresh lock
    # that had just replaced the stale one (both acquired in 18-42 of 100 races)
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    both = 0
    for trial in range(8):
        folder = tmp_path / f"run{trial}"
        folder.mkdir()
        if start != "no lock":
            (folder / LOCK).write_text(json.dumps({"pid": 2**22 + 12345, "host": __import__("socket").gethostname(), "started": 0}))
        go, results = ctx.Event(), ctx.Queue()
        racers = [ctx.Process(target=_race_for_the_lock, args=(folder, go, results, start.endswith("slow"))) for _ in range(2)]
        for p in racers:
            p.start()
        time.sleep(0.2)
        go.set()
        outcome = sorted(results.get(timeout=30) for _ in racers)
        for p in racers:
            p.join()
        both += outcome == ["acquired", "acquired"]
        assert outcome in (["acquired", "refused"], ["acquired", "acquired"]), outcome
        assert not [p.name for p in folder.iterdir() if p.name != LOCK]  # no temporary lock file left behind
    assert both == 0


def test_a_lock_whose_pid_now_belongs_to_a_later_process_is_stale_and_an_unreadable_one_is_not_taken_at_once(tmp_path):
    from bridge.runs.lock import is_stale

    here = __import__("socket").gethostname()
    assert is_stale({"pid": os.getpid(), "host": here, "started": time.time() - 10**6})  # a pid reused after a reboot
    assert not is_stale({"pid": os.getpid(), "host": here, "started": time.time()})
    (tmp_path / LOCK).write_text("")  # a lock file being written, or from another version
    with pytest.raises(RunError, match="cannot be read"):
        acquire(tmp_path)
    old = time.time() - 3600
    os.utime(tmp_path / LOCK, (old, old))
    acquire(tmp_path)  # an hour old: its writer is gone
    assert holder(tmp_path)["pid"] == os.getpid()


def test_a_staging_directory_left_by_a_killed_creator_is_removed_and_does_not_block_a_seeds_resume(tmp_path, capsys):
    from bridge.cli import main

    out = tmp_path / "seeds"
    assert main(["run", "deep-linear", "--seeds", "0-1", "--steps", "20", "--out", str(out)]) in (0, 1)
    dead = {"pid": 2**22 + 12345, "host": __import__("socket").gethostname(), "started": 0}
    for name in (".seed-0.staging-4206457", ".seed-2.staging-4206458"):  # killed before the rename onto seed-0, seed-2
        (out / name / "checkpoints").mkdir(parents=True)
        (out / name / LOCK).write_text(json.dumps(dead))
    capsys.readouterr()
    assert main(["run", "deep-linear", "--seeds", "0-2", "--steps", "20", "--out", str(out), "--resume"]) in (0, 1)
    assert "not part of a seeds output" not in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []
    assert (out / "seed-2" / "report.json").exists()
    live = tmp_path / ".run.staging-1"
    live.mkdir()
    (live / LOCK).write_text(json.dumps({"pid": os.getpid(), "host": __import__("socket").gethostname(), "started": time.time()}))
    create_run_dir(tmp_path / "run", {"status": "running"})
    assert live.exists()  # a live creator's staging is left alone
