"""What a run directory guarantees: one writer, atomic creation, interrupted runs detected and resumed."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

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


@pytest.mark.slow
@pytest.mark.parametrize("attempt", range(20))
def test_two_writers_started_together_exactly_one_writes(tmp_path, attempt):
    out = tmp_path / "run"
    a, b = writer(out, 200), writer(out, 200)
    codes = sorted([a.wait(), b.wait()])
    errors = [p.stderr.read() for p in (a, b)]
    assert codes == [0, 2], errors
    refused = [e for e in errors if "refused" in e][0].strip().splitlines()
    assert len(refused) == 1 and "already exists" in refused[0]
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
    save_tensors(tmp_path / "c.safetensors", {"x": torch.arange(3.0)}, {"step": "3"})  # one key: stored as it is
    assert read_metadata(tmp_path / "c.safetensors") == {"step": "3"}
