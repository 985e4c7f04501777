"""When tracker rows reach metrics.csv: together at each resume point (batched trackers measured over
every capture held), earlier when too many are held or too long has passed, and up to the last
checkpoint when a run fails."""

import warnings

import pytest

import bridge.training.writer as writer
from bridge import RunConfig, ScheduleConfig, TrainConfig, load_run, train
from bridge.models import DeepLinearConfig
from bridge.tasks import HierarchyConfig
from bridge.trackers import DifferentiationTracker, ModeTracker
from bridge.training.schedule import checkpoint_steps, resume_points, tracked_steps
from helpers import Crash

CONFIG = RunConfig(
    HierarchyConfig(depth=3, branching=2),
    DeepLinearConfig(d_in=8, d_hidden=16, d_out=15, init_std=0.05),
    TrainConfig(optimizer="gd", lr=0.2, steps=120, schedule=ScheduleConfig(n_log=12, every=20, track_every=4)),
    seed=1,
)
CHECKPOINTS = checkpoint_steps(120, CONFIG.train.schedule)
RESUMES = resume_points(CHECKPOINTS, 120)


class Counted(ModeTracker):
    """The mode tracker, noting how many captures each measurement takes."""

    def __init__(self):
        super().__init__()
        self.batches = []

    def measure(self, captures, data):
        self.batches.append(len(captures))
        return super().measure(captures, data)


def test_batched_trackers_are_measured_once_per_resume_point_and_the_table_is_the_same_bytes(tmp_path, monkeypatch):
    assert len(CHECKPOINTS) > 2 * len(RESUMES)  # many checkpoints are not resume points
    batched = Counted()
    train(CONFIG, tmp_path / "held", trackers=[batched, DifferentiationTracker()], device="cpu", progress=False)
    tracked = tracked_steps(120, CONFIG.train.schedule)
    assert len(batched.batches) == len(RESUMES)
    assert batched.batches == [sum(a < s <= b for s in tracked) for a, b in zip([-1, *RESUMES], RESUMES)]
    monkeypatch.setattr(writer, "FLUSH_SECONDS", 0.0)  # rows at every checkpoint
    every = Counted()
    train(CONFIG, tmp_path / "every", trackers=[every, DifferentiationTracker()], device="cpu", progress=False)
    assert len(every.batches) == len(CHECKPOINTS)
    assert (tmp_path / "held" / "metrics.csv").read_bytes() == (tmp_path / "every" / "metrics.csv").read_bytes()
    steps = set(load_run(tmp_path / "held").metrics["step"])
    assert steps == set(tracked)


def test_rows_are_written_once_the_captures_held_reach_the_bound(tmp_path, monkeypatch):
    monkeypatch.setattr(writer, "FLUSH_CAPTURES", 3)
    batched = Counted()
    train(CONFIG, tmp_path / "run", trackers=[batched], device="cpu", progress=False)
    tracked, held, expected = tracked_steps(120, CONFIG.train.schedule), 0, []
    for a, b in zip([-1, *CHECKPOINTS], CHECKPOINTS):  # measured at a resume point or at the first checkpoint holding 3
        held += sum(a < s <= b for s in tracked)
        if b in RESUMES or held >= 3:
            expected, held = [*expected, held], 0
    assert batched.batches == expected
    assert len(expected) > len(RESUMES)


@pytest.mark.parametrize("at", [33, 78])
def test_a_failed_run_has_the_rows_of_every_checkpoint_it_took(tmp_path, at):
    """Killed after checkpoints that are not resume points: their rows are written as the run fails,
    and no row of a later step."""
    whole = tmp_path / "whole"
    train(CONFIG, whole, trackers=[ModeTracker()], device="cpu", progress=False)
    last = max(c for c in CHECKPOINTS if c < at)
    assert last not in RESUMES
    with pytest.raises(KeyboardInterrupt), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train(CONFIG, tmp_path / "cut", trackers=[ModeTracker(), Crash(at)], device="cpu", progress=False)
    cut = load_run(tmp_path / "cut")
    assert cut.status == "interrupted"
    expected = load_run(whole).metrics
    expected = expected[expected["step"] <= last].reset_index(drop=True)
    got = cut.metrics
    assert got["step"].max() == last
    assert got.sort_values(["step", "observable", "mode"], kind="stable").reset_index(drop=True).equals(expected.sort_values(["step", "observable", "mode"], kind="stable").reset_index(drop=True))


def test_a_tracker_failing_as_the_rows_are_written_is_named_beside_the_run_error(tmp_path):
    class Failing(ModeTracker):
        def measure(self, captures, data):
            raise ValueError("cannot measure")

    with pytest.raises(KeyboardInterrupt):
        train(CONFIG, tmp_path / "run", trackers=[Failing(), Crash(12)], device="cpu", progress=False)
    error = load_run(tmp_path / "run").info["error"]
    assert error.startswith("KeyboardInterrupt: simulated kill")
    assert "rows after the last resume point were not written: ValueError: cannot measure" in error
