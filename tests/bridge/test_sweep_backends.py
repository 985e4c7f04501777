"""Sweeps on Ray and submitit: the same points as the local backend, bit for bit; a killed Ray driver's sweep,
re-run, trains only the missing points and ends equal to an uninterrupted one."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

import bridge
from bridge import RunConfig, ScheduleConfig, TrainConfig
from bridge.config import config_to_dict
from bridge.models import MLPConfig
from bridge.sweep.point import DONE, RUNNING, point_state
from bridge.tasks import LinearTeacherConfig
from helpers import timeout

ROOT = Path(__file__).resolve().parents[2]
LRS = ["1e-3", "3e-3", "1e-2", "3e-2"]
SEEDS = [0, 1]

DRIVER = f"""
import json, sys
import bridge
from bridge.config import config_from_dict
config = config_from_dict(json.loads(sys.argv[3]))
swept = bridge.sweep(config, sys.argv[1], grid={{"train.lr": {LRS!r}}}, seeds={SEEDS!r}, backend=sys.argv[2], workers=2, progress=False)
print(json.dumps(list(swept.trained)))
"""


def config(steps):
    return RunConfig(
        task=LinearTeacherConfig((2.0, 1.0, 0.5), d_in=6, d_out=4, n_train=64),
        model=MLPConfig(d_in=6, d_out=4, widths=(16,), activation="tanh"),
        train=TrainConfig(optimizer="adam", lr=0.01, steps=steps, batch_size=8, schedule=ScheduleConfig(n_log=3, every=max(steps // 8, 1))),
    )


@pytest.fixture
def workers_import_this_tree(monkeypatch):
    """Ray workers and submitit jobs are new processes: they import the package from the tree under test."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


def final_weights(swept, key):
    run = swept.run(key)
    return run.model_at(run.steps[-1]).state_dict()


def assert_same_sweep(a, b):
    assert a.keys == b.keys and len(a.keys) == len(LRS) * len(SEEDS)
    for key in a.keys:
        wa, wb = final_weights(a, key), final_weights(b, key)
        assert wa.keys() == wb.keys()
        for name in wa:
            assert torch.equal(wa[name], wb[name]), (key, name)
    drop = ["seconds"]
    pd.testing.assert_frame_equal(a.table.drop(columns=drop), b.table.drop(columns=drop))


@pytest.mark.slow
def test_local_ray_and_submitit_give_the_same_points_bit_for_bit(tmp_path, workers_import_this_tree):
    ray = pytest.importorskip("ray")
    pytest.importorskip("submitit")
    base = config(40)
    local = bridge.sweep(base, tmp_path / "local", grid={"train.lr": LRS}, seeds=SEEDS, progress=False)
    try:
        on_ray = bridge.sweep(base, tmp_path / "ray", grid={"train.lr": LRS}, seeds=SEEDS, backend="ray", workers=2, progress=False)
        assert ray.cluster_resources().get("CPU") == 2.0
    finally:
        ray.shutdown()
    on_submitit = bridge.sweep(base, tmp_path / "submitit", grid={"train.lr": LRS}, seeds=SEEDS, backend="submitit", cluster="local", workers=2, progress=False)
    assert_same_sweep(local, on_ray)
    assert_same_sweep(local, on_submitit)
    for swept in (on_ray, on_submitit):  # every point ran in a worker process of its own backend
        pids = {r["pid"] for r in swept.manifest["points"]}
        assert os.getpid() not in pids and len(pids) >= 2
    assert {r["pid"] for r in local.manifest["points"]} == {os.getpid()}
    assert json.loads((tmp_path / "ray" / "sweep.json").read_text())["backend"] == "ray"


@pytest.mark.slow
def test_a_killed_ray_driver_is_resumed_by_the_same_command_training_only_missing_points(tmp_path, workers_import_this_tree):
    pytest.importorskip("ray")
    base, out = config(4000), tmp_path / "sweep"  # long enough that the jobs running when the driver is killed do not finish as Ray tears them down
    command = [sys.executable, "-c", DRIVER, str(out), "ray", json.dumps(config_to_dict(base))]
    driver = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    folders = lambda: sorted((out / "points").iterdir()) if (out / "points").exists() else []  # noqa: E731
    deadline = time.monotonic() + timeout(300)
    while sum(point_state(f, "run") == DONE for f in folders()) < 2:
        assert driver.poll() is None, driver.communicate()
        assert time.monotonic() < deadline, "the Ray sweep finished no point in time"
        time.sleep(0.2)
    os.kill(driver.pid, signal.SIGKILL)  # the driver only: Ray's own processes follow it down
    driver.wait()
    deadline = time.monotonic() + timeout(60)
    while any(point_state(f, "run") == RUNNING for f in folders()):  # wait for the killed workers to be gone
        assert time.monotonic() < deadline, "a Ray worker outlived its driver"
        time.sleep(0.5)
    done_before = {f.name for f in folders() if point_state(f, "run") == DONE}
    assert 2 <= len(done_before) < len(LRS) * len(SEEDS)
    stamps = {k: (out / "points" / k / "run.json").stat().st_mtime_ns for k in done_before}

    again = subprocess.run(command, capture_output=True, text=True, timeout=timeout(900))
    assert again.returncode == 0, again.stderr
    trained = set(json.loads(again.stdout.strip().splitlines()[-1]))
    resumed = bridge.load_sweep(out)
    assert trained == set(resumed.keys) - done_before
    assert {k: (out / "points" / k / "run.json").stat().st_mtime_ns for k in done_before} == stamps
    uninterrupted = bridge.sweep(base, tmp_path / "local", grid={"train.lr": LRS}, seeds=SEEDS, progress=False)
    assert_same_sweep(resumed, uninterrupted)
