"""How often resuming a run reads and writes its metrics table: extending an analysed run (whose table an analysis
rewrote) reads the table no more than its checks and its parse need, and leaves a table that keeps every row as it is.
"""

import os
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from bridge import RunConfig, ScheduleConfig, TrainConfig, analyze, load_run, train
from bridge.models import DeepLinearConfig
from bridge.runs.metrics import encode_metrics, read_metrics
from bridge.runs.storage import whole_rows_size
from bridge.tasks import LinearTeacherConfig
from bridge.trackers import WeightNormTracker
from bridge.training import writer


def config(steps: int) -> RunConfig:
    return RunConfig(LinearTeacherConfig((2.0, 1.0), d_in=4, d_out=4, n_train=16), DeepLinearConfig(4, 8, 4, init_std=0.1), TrainConfig(lr=0.05, steps=steps, schedule=ScheduleConfig(n_log=4, every=10, track_every=1)))


def analysed_run(tmp_path: Path) -> Path:
    run = train(config(60), tmp_path / "run", device="cpu", progress=False)
    analyze(run, [WeightNormTracker()], steps=run.steps[-3:], progress=False)  # the table is rewritten: its sizes on record are dropped
    assert all(size is None for size in load_run(run.path).info["metrics_bytes"].values())
    return run.path


def test_extending_an_analysed_run_reads_its_table_three_times_and_does_not_rewrite_it(tmp_path, monkeypatch):
    path = analysed_run(tmp_path)
    before = (path / "metrics.csv").read_bytes()
    reads, rewrites = [], []
    read_bytes, write_metrics = Path.read_bytes, writer.write_metrics
    monkeypatch.setattr(Path, "read_bytes", lambda self: (reads.append(self.name) if self.name == "metrics.csv" else None, read_bytes(self))[1])
    monkeypatch.setattr(writer, "write_metrics", lambda *a, **k: (rewrites.append(1), write_metrics(*a, **k))[1])
    run = train(config(70), path, device="cpu", progress=False, resume=True)
    monkeypatch.undo()

    # checked against its record and parsed when the run opens, hashed for its new record when it completes: 3 (the
    # whole table was read a fourth time to find its last newline, and written again unchanged)
    assert 3 <= reads.count("metrics.csv") <= 3 and rewrites == []
    after = (path / "metrics.csv").read_bytes()
    assert after.startswith(before) and len(after) > len(before)  # the analysed table as it was, the new steps' rows after it
    assert encode_metrics(read_metrics(path)) == after and run.steps[-1] == 70 and run.observable("weights/norm").index.max() == 60


def test_resuming_an_analysed_run_short_of_its_last_step_drops_the_later_rows(tmp_path):
    path = analysed_run(tmp_path)
    run = load_run(path)
    os.remove(path / "checkpoints" / "optim_00000060.safetensors")  # the last resume point cannot be resumed from: 50 is
    run.update_info(status="interrupted")
    resumed = train(config(60), path, device="cpu", progress=False, resume=True)
    table = resumed.metrics
    assert resumed.status == "complete" and sorted(table.loc[table["observable"] == "weights/norm", "step"].unique().tolist()) == [40, 50]
    assert encode_metrics(table) == (path / "metrics.csv").read_bytes()


@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=300), block=st.integers(1, 70))
def test_whole_rows_size_is_the_end_of_the_last_newline(tmp_path_factory, data, block):
    file = tmp_path_factory.mktemp("rows") / "metrics.csv"
    file.write_bytes(data)
    assert whole_rows_size(file, block=block) == data.rfind(b"\n") + 1
