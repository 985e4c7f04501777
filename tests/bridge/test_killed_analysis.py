"""Rewriting a recorded file (metrics.csv by an offline analysis, events.json): its record follows, and a
process killed while it replaces the file leaves a run that reads, resumes and re-analyses."""

import json
import subprocess
import sys
import textwrap

import pytest

from bridge import RunConfig, ScheduleConfig, TrainConfig, analyze, load_run, train
from bridge.models import DeepLinearConfig
from bridge.runs.errors import CorruptFileError
from bridge.tasks import LinearTeacherConfig
from bridge.trackers.modes import ModeTracker
from tests.helpers import timeout

CONFIG = RunConfig(LinearTeacherConfig((2.0, 1.0), d_in=3, d_out=3), DeepLinearConfig(3, 8, 3, init_std=0.1),
                   TrainConfig(lr=0.05, steps=20, schedule=ScheduleConfig(n_log=3, every=10)), seed=0)

# analyse the run in a child that SIGKILLs itself when metrics.csv is replaced: before the replacement
# (after run.json records the new table), or after it (before run.json drops the old one)
ANALYSE_AND_DIE = textwrap.dedent('''
    import os, signal, sys
    import bridge.runs.storage as storage
    from bridge import analyze, load_run
    from bridge.trackers.modes import ModeTracker
    when, replace = sys.argv[2], storage._replace
    def dying_replace(tmp, path):
        if when == "after" or not path.endswith("metrics.csv"):
            replace(tmp, path)
        if path.endswith("metrics.csv"):
            os.kill(os.getpid(), signal.SIGKILL)
    storage._replace = dying_replace
    analyze(load_run(sys.argv[1]), [ModeTracker()], progress=False)
''')


@pytest.fixture
def run(tmp_path):
    return train(CONFIG, tmp_path / "run", progress=False)


@pytest.mark.parametrize("when", ["before", "after"])
def test_an_analysis_killed_while_replacing_the_table_leaves_a_run_that_reads_resumes_and_analyses_again(run, when):
    old = run.metrics
    done = subprocess.run([sys.executable, "-c", ANALYSE_AND_DIE, str(run.path), when], capture_output=True, text=True, timeout=timeout(60))
    assert done.returncode == -9, done.stderr[-2000:]
    killed = load_run(run.path)
    table = killed.metrics  # the old table before the replacement, the new one after it
    assert killed.info["files"]["metrics.csv"]["before"] is not None  # the kill came between the two records
    if when == "before":
        assert table.equals(old)
    else:
        assert set(table["observable"]) == {"loss/train", "loss/test", "mode/strength", "mode/alignment"}
        assert table.loc[lambda t: t["observable"].str.startswith("loss/"), old.columns].reset_index(drop=True).equals(old)
    train(CONFIG, run.path, progress=False, resume=True)  # finishing a complete run is a no-op that must not refuse the table
    analyze(killed, [ModeTracker()], progress=False)
    again = load_run(run.path)
    assert "before" not in again.info["files"]["metrics.csv"]
    assert again.metrics.loc[lambda t: t["observable"].str.startswith("loss/"), old.columns].reset_index(drop=True).equals(old)
    assert len(again.metrics) > len(old) and set(again.metrics["observable"]) == {"loss/train", "loss/test", "mode/strength", "mode/alignment"}


def test_a_damaged_table_is_refused_while_either_table_is_on_record(run):
    analyze(run, [ModeTracker()], progress=False)
    info = json.loads((run.path / "run.json").read_text())
    entry = info["files"]["metrics.csv"]
    info["files"]["metrics.csv"] = {**entry, "sha256": "0" * 64, "before": entry}  # a replacement under way, of the file on disk
    (run.path / "run.json").write_text(json.dumps(info))
    assert len(load_run(run.path).metrics) == len(run.metrics)  # the file is the one before: it reads
    data = (run.path / "metrics.csv").read_bytes()
    (run.path / "metrics.csv").write_bytes(data[:-20] + b"9" * 20)  # neither the new table nor the old one
    with pytest.raises(CorruptFileError, match="metrics.csv does not match its checksum"):
        _ = load_run(run.path).metrics


def test_rewritten_events_are_on_record_and_a_kill_while_writing_them_leaves_the_old_or_new_ones(run):
    first = [{"name": "drop", "step": 10}, {"name": "plateau", "step": 20}]
    run.write_events(first)  # a run without events.json: it is written and recorded
    assert load_run(run.path).events == first and "events.json" in load_run(run.path).info["files"]
    run.write_events(first[:1])
    assert load_run(run.path).events == first[:1]
    die = ANALYSE_AND_DIE.replace("metrics.csv", "events.json").replace(
        "analyze(load_run(sys.argv[1]), [ModeTracker()], progress=False)", "load_run(sys.argv[1]).write_events([{'name': 'late', 'step': 20}])"
    )
    for when, expected in [("before", first[:1]), ("after", [{"name": "late", "step": 20}])]:
        done = subprocess.run([sys.executable, "-c", die, str(run.path), when], capture_output=True, text=True, timeout=timeout(60))
        assert done.returncode == -9, done.stderr[-2000:]
        assert load_run(run.path).events == expected
