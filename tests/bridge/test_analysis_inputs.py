"""Offline analysis and checkpoint access: re-analysis replaces rows by key or whole, and wrong arguments are named."""

from dataclasses import dataclass

import pytest

from bridge import RunConfig, ScheduleConfig, TrainConfig, analyze, train, train_seeds
from bridge.models import DeepLinearConfig
from bridge.tasks import LinearTeacherConfig
from bridge.trackers import LossTracker
from bridge.trackers.modes import ModeTracker

CONFIG = RunConfig(LinearTeacherConfig((2.0, 1.0), d_in=3, d_out=3), DeepLinearConfig(3, 8, 3, init_std=0.1),
                   TrainConfig(lr=0.05, steps=20, schedule=ScheduleConfig(n_log=3, every=10)), seed=0)


@dataclass
class TopK:
    """k rows per step, as a top-k spectrum tracker writes them."""

    k: int
    name: str = "topk"

    def __call__(self, model, step, data):
        return [{"observable": "spectrum/top", "value": float(self.k * 10 + r), "rank": r} for r in range(self.k)]


@pytest.fixture
def run(tmp_path):
    return train(CONFIG, tmp_path / "run", progress=False)


def test_reanalysis_replaces_rows_by_key_and_fresh_replaces_the_observable_at_the_analysed_steps(run):
    analyze(run, [TopK(3)], progress=False)
    analyze(run, [TopK(1)], progress=False)  # by key: rank 0 replaced, ranks 1 and 2 of the first analysis stay
    table = run.table("spectrum/top", "rank")
    assert table.columns.tolist() == [0, 1, 2] and (table[0] == 10.0).all() and (table[2] == 32.0).all()
    first, *rest = run.steps
    analyze(run, [TopK(1)], steps=rest, fresh=True, progress=False)
    table = run.table("spectrum/top", "rank")
    assert table.loc[first].tolist() == [10.0, 31.0, 32.0]  # a step not analysed keeps its rows
    assert table.loc[rest, 0].tolist() == [10.0] * len(rest) and table.loc[rest, [1, 2]].isna().all().all()
    assert len(run.metrics[run.metrics["observable"] == "spectrum/top"]) == 3 + len(rest)
    assert not run.metrics[run.metrics["observable"] == "loss/train"].empty  # other observables are kept


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda run: analyze(run, ["loss"]), r"got the name 'loss': use bridge.trackers.get_tracker\('loss'\)"),
        (lambda run: analyze(run, LossTracker()), "trackers must be a list of tracker objects, got LossTracker"),
        (lambda run: analyze(run, [3]), "a tracker must be callable"),
        # a class was called as the tracker, building LossTracker(model, step, data): "max_examples must be positive"
        (lambda run: analyze(run, [LossTracker]), r"^trackers must be tracker objects, got the class LossTracker: pass an instance, LossTracker\(\)$"),
        (lambda run: analyze(run, [LossTracker()], steps=10), "steps must be a list of checkpoint steps, got 10"),
        (lambda run: run.model_at(10.0), "step must be an integer checkpoint step"),
        (lambda run: run.model_at("10"), "step must be an integer checkpoint step"),
    ],
)
def test_wrong_arguments_are_named_before_any_work(run, call, message):
    before = run.metrics.copy()
    with pytest.raises(TypeError, match=message):
        call(run)
    assert run.metrics.equals(before)


def test_training_refuses_tracker_names_and_lists_where_a_factory_is_due_before_creating_anything(tmp_path):
    with pytest.raises(TypeError, match="got the name 'modes'"):
        train(CONFIG, tmp_path / "one", trackers=["modes"], progress=False)
    with pytest.raises(TypeError, match="function returning fresh trackers"):
        train_seeds(CONFIG, [0, 1], tmp_path / "many", trackers=[ModeTracker()], progress=False)
    assert not (tmp_path / "one").exists() and not (tmp_path / "many").exists()
    runs = train_seeds(CONFIG, [0, 1], tmp_path / "many", trackers=lambda: [ModeTracker()], progress=False)
    assert [len(r.observable("mode/strength", mode=0)) for r in runs] == [len(runs[0].steps)] * 2


def test_an_observable_read_without_its_index_lists_the_choices_in_numeric_order(run):
    analyze(run, [TopK(12)], progress=False)
    with pytest.raises(KeyError, match=r"choose rank in \[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11\]"):
        run.observable("spectrum/top")
    assert run.observable("spectrum/top", rank=11).tolist() == [131.0] * len(run.steps)


def test_an_observable_the_run_never_recorded_is_named_with_those_it_has(run):
    """It said "has no index column 'mode'" when the run had no mode/strength rows at all (trained without ModeTracker)."""
    for read in (lambda: run.observable("mode/strength", mode=0), lambda: run.table("mode/strength", "mode"), lambda: run.curve("mode/strength")):
        with pytest.raises(KeyError, match=r"no observable 'mode/strength' in the metrics \(they hold loss/test, loss/train\)"):
            read()


def test_a_runs_repr_counts_checkpoints_and_names_the_last_step(run):
    """It said steps=5 for a 20-step run with 5 checkpoints, read as the length of training."""
    assert run.steps == [0, 1, 4, 10, 20]
    assert repr(run) == f"Run({str(run.path)!r}, status='complete', checkpoints=5, last_step=20)"


def test_a_negative_step_is_answered_as_a_step_not_a_position(run):
    with pytest.raises(KeyError, match=r"no checkpoint at step -1 .*\(nearest: \[0, 1, 4\]; a step, not a position: the last is run.steps\[-1\]\)"):
        run.model_at(-1)
    with pytest.raises(KeyError, match=r"\(nearest: \[1, 4, 10\]\)'$"):  # a positive step missing gets the nearest alone
        run.model_at(7)


def test_an_index_column_of_other_observables_only_is_refused_naming_the_observables_own(run):
    """A column the metrics hold for other observables gave a table with one column labelled <NA>."""
    analyze(run, [TopK(2)], progress=False)
    with pytest.raises(KeyError, match=r"^\"observable 'loss/train' has no index column 'rank' \(it has no index columns\)\"$"):
        run.table("loss/train", "rank")
    with pytest.raises(KeyError, match=r"has no index column 'rnk' \(its index columns: rank\)"):
        run.observable("spectrum/top", rnk=0)
    assert run.table("spectrum/top", "rank").shape == (len(run.steps), 2)


def test_an_analysis_of_no_step_computes_and_writes_nothing(run):
    # it rewrote metrics.csv and run.json for no row
    from helpers import file_hashes

    before = file_hashes(run.path)
    assert analyze(run, [TopK(2)], steps=[], progress=False) is run
    assert file_hashes(run.path) == before and "spectrum/top" not in set(run.metrics["observable"])
