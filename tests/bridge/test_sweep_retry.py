"""A point that raised, re-run: only it trains again, every file of the finished points is byte for byte and
time for time the same, and the sweep ends equal to one that never failed (weights, manifest, table)."""

import hashlib
import json

import torch

import bridge
from bridge import RunConfig, ScheduleConfig, TrainConfig
from bridge.models import MLPConfig
from bridge.tasks import LinearTeacherConfig


class RaiseAt:
    """A tracker that raises (a bug in a probe, a full disk) when training reaches ``step``."""

    name = "raise_at"

    def __init__(self, step):
        self.step = step

    def __call__(self, model, step, data):
        if step == self.step:
            raise RuntimeError(f"raised at step {step}")
        return []


def tiny():
    return RunConfig(
        task=LinearTeacherConfig((2.0, 1.0), d_in=4, d_out=3, n_train=32),
        model=MLPConfig(d_in=4, d_out=3, widths=(8,), activation="tanh"),
        train=TrainConfig(optimizer="adam", lr=0.01, steps=40, batch_size=8, schedule=ScheduleConfig(n_log=3, every=10)),
    )


def files(folder):
    return {str(f.relative_to(folder)): (hashlib.sha256(f.read_bytes()).hexdigest(), f.stat().st_mtime_ns) for f in sorted(folder.rglob("*")) if f.is_file()}


def test_a_point_that_raised_is_trained_again_alone_and_the_sweep_ends_as_one_that_never_failed(tmp_path):
    grid = {"train.lr": [3e-3, 1e-2]}
    reference = bridge.sweep(tiny(), tmp_path / "ref", grid=grid, seeds=[0, 1], progress=False, stack=False)
    calls = iter(range(4))  # one call per point, in sweep order: the points of lr 0.01 raise
    first = bridge.sweep(tiny(), tmp_path / "sw", grid=grid, seeds=[0, 1], progress=False, stack=False, trackers=lambda: [RaiseAt(20)] if next(calls) >= 2 else [])
    states = first.status().set_index("key")
    assert states["status"].tolist() == ["done", "done", "failed", "failed"] and set(states["error"][2:]) == {"RuntimeError: raised at step 20"}
    done = [k for k in first.keys if states.loc[k, "status"] == "done"]
    before = {k: files(tmp_path / "sw" / "points" / k) for k in done}
    again = bridge.sweep(tiny(), tmp_path / "sw", grid=grid, seeds=[0, 1], progress=False, stack=False)
    assert list(again.trained) == [k for k in first.keys if k not in done]
    for key in done:
        assert files(tmp_path / "sw" / "points" / key) == before[key], key
    for key in reference.keys:
        a, b = again.run(key), reference.run(key)
        wa, wb = a.model_at(a.steps[-1]).state_dict(), b.model_at(b.steps[-1]).state_dict()
        assert all(torch.equal(wa[n], wb[n]) for n in wa), key
    manifest = json.loads((tmp_path / "sw" / "sweep.json").read_text())["points"]
    assert [(r["key"], r["status"], r["error"]) for r in manifest] == [(k, "done", None) for k in reference.keys]
    assert again.table.drop(columns="seconds").equals(reference.table.drop(columns="seconds"))
