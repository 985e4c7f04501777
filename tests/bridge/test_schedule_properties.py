"""Property tests of checkpoint schedules: the steps a run saves, tracks and can resume from, for any total and
schedule, and the steps of a run extended stage by stage (what ``docs/run-directories.md`` promises)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.config import ConfigError, ScheduleConfig, TrainConfig
from bridge.training.schedule import KEEP_OPTIMIZER_STATES, RESUMES_PER_RUN, checkpoint_steps, relative_grid, resume_points, staged_steps, tracked_steps

PROPERTY = settings(max_examples=200, deadline=None, database=None)
totals = st.integers(1, 3000)
schedules = st.builds(ScheduleConfig, n_log=st.integers(0, 60), every=st.integers(0, 400), track_every=st.integers(0, 200), track_resolution=st.one_of(st.just(0.0), st.floats(0.02, 0.9)))


def increasing(steps: list[int]) -> bool:
    return all(type(s) is int for s in steps) and all(a < b for a, b in zip(steps, steps[1:]))


@given(totals, schedules)
@PROPERTY
def test_checkpoints_run_from_0_to_the_total_in_increasing_steps_with_every_multiple_of_every(total, schedule):
    steps = checkpoint_steps(total, schedule)
    assert increasing(steps) and steps[0] == 0 and steps[-1] == total
    assert schedule.every == 0 or set(range(schedule.every, total + 1, schedule.every)) <= set(steps)
    assert schedule.n_log == 0 or 1 in steps  # the log-spaced steps start at 1
    extra = total // schedule.every if schedule.every else 0
    assert len(steps) <= 2 + schedule.n_log + extra


@given(totals, schedules)
@PROPERTY
def test_tracked_steps_hold_every_checkpoint_every_multiple_of_track_every_and_the_relative_grid(total, schedule):
    steps = tracked_steps(total, schedule)
    assert increasing(steps) and steps[0] == 0 and steps[-1] == total
    assert set(checkpoint_steps(total, schedule)) <= set(steps)
    assert schedule.track_every == 0 or set(range(0, total + 1, schedule.track_every)) <= set(steps)
    if schedule.track_resolution > 0:
        assert set(relative_grid(total, schedule.track_resolution)) <= set(steps)
        assert all(b - a <= max(1.0, schedule.track_resolution * b) for a, b in zip(steps, steps[1:]))
    else:
        expected = set(checkpoint_steps(total, schedule)) | (set(range(0, total + 1, schedule.track_every)) if schedule.track_every else set())
        assert set(steps) == expected


@given(totals, schedules)
@PROPERTY
def test_resume_points_are_the_checkpoints_a_tenth_of_the_run_apart_and_the_last_three(total, schedule):
    checkpoints = checkpoint_steps(total, schedule)
    points = resume_points(checkpoints, total)
    assert increasing(points) and set(points) <= set(checkpoints) and points[-1] == total
    assert set(checkpoints[-KEEP_OPTIMIZER_STATES:]) <= set(points)
    spacing = max(1, total // RESUMES_PER_RUN)
    for i, step in enumerate(checkpoints):  # the docstring's rule, checkpoint by checkpoint
        previous = max([p for p in points if p < step], default=0)
        assert (step in points) == (step - previous >= spacing or i >= len(checkpoints) - KEEP_OPTIMIZER_STATES), (step, previous)
    # a run killed anywhere redoes at most a tenth of the run, plus the gap between two checkpoints
    gaps = [b - a for a, b in zip(checkpoints, checkpoints[1:])] or [0]
    assert all(b - a < spacing + max(gaps) for a, b in zip([0, *points], points))


@given(st.lists(st.integers(1, 1500), min_size=1, max_size=4, unique=True).map(sorted), schedules)
@PROPERTY
def test_an_extended_run_keeps_the_schedule_of_each_stage_and_each_extension_adds_to_the_end(run_totals, schedule):
    for steps_of in (checkpoint_steps, tracked_steps):
        steps = staged_steps(steps_of, run_totals, schedule)
        assert increasing(steps) and steps[0] == 0 and steps[-1] == run_totals[-1] and set(run_totals) <= set(steps)
        assert staged_steps(steps_of, run_totals[:1], schedule) == steps_of(run_totals[0], schedule)
        for k in range(1, len(run_totals)):  # the steps so far are kept, and the extension adds its own past them
            added = [s for s in steps_of(run_totals[k], schedule) if s > run_totals[k - 1]]
            assert staged_steps(steps_of, run_totals[: k + 1], schedule) == staged_steps(steps_of, run_totals[:k], schedule) + added
        if len(run_totals) == 2:  # the page's words: the old schedule up to the old total, the new one past it
            old, new = run_totals
            assert steps == [s for s in steps_of(old, schedule) if s <= old] + [s for s in steps_of(new, schedule) if s > old]


@pytest.mark.parametrize("run_totals", [[100, 100], [300, 200], [20, 10, 30]])
def test_totals_of_extensions_that_do_not_increase_are_refused(run_totals):
    with pytest.raises(ValueError, match=r"the totals of a run's extensions must increase"):
        staged_steps(checkpoint_steps, run_totals, ScheduleConfig())


@pytest.mark.parametrize("total", [0, -5, 2.5, True, None])
def test_a_schedule_of_no_steps_is_refused_naming_the_total(total):
    for steps_of in (checkpoint_steps, tracked_steps):
        with pytest.raises(ConfigError, match=rf"^checkpoint_steps: total must be a positive whole number of steps, got {total!r}$"):
            steps_of(total, ScheduleConfig(n_log=3, every=2))
    with pytest.raises(ConfigError, match="total must be a positive whole number"):
        staged_steps(checkpoint_steps, [0, 10], ScheduleConfig())


# The examples the properties above found, written out.


def test_the_relative_grid_adds_a_step_where_the_multiples_of_a_growing_spacing_jump_too_far():
    assert relative_grid(12, 0.3125) == [0, 1, 2, 3, 4, 5, 6, 8, 11, 12]  # multiples alone: 8 to 12, a gap of 4 > 0.3125 * 12
    assert relative_grid(9, 0.75) == [0, 1, 2, 8]  # multiples alone end at 2, and 9 is 7 > 0.75 * 9 after it


@pytest.mark.parametrize("resolution", [k / 100 for k in range(1, 100)])
def test_the_relative_grid_spans_the_whole_run_within_its_resolution_for_any_resolution(resolution):
    """Multiples alone end where no multiple of the spacing has that spacing (after step 1984 at 0.063, say):
    every later step was untracked but for checkpoints."""
    grid = relative_grid(3000, resolution)
    assert increasing(grid) and grid[0] == 0
    assert all(b - a <= max(1.0, resolution * b) for a, b in zip(grid, [*grid[1:], 3000]))
    assert grid[: int(1 / resolution) + 1] == list(range(int(1 / resolution) + 1))  # every step early


bad_numbers = st.one_of(st.integers(max_value=-1), st.integers(min_value=2**63), st.floats(allow_nan=True).filter(lambda x: not math.isfinite(x) or x != int(x)), st.booleans(), st.text(max_size=3), st.none())


@given(st.sampled_from(["n_log", "every", "track_every"]), bad_numbers)
@PROPERTY
def test_a_schedule_count_that_is_not_a_non_negative_64_bit_integer_is_refused_naming_it(name, value):
    with pytest.raises(ConfigError, match=rf"^schedule\.{name} must be "):
        ScheduleConfig(**{name: value})


@given(st.one_of(st.floats(max_value=-1e-300), st.floats(min_value=1.0), st.just(float("nan")), st.integers(min_value=1), st.integers(max_value=-1), st.booleans(), st.text(max_size=3)))
@PROPERTY
def test_a_track_resolution_outside_zero_one_is_refused_naming_it(value):
    with pytest.raises(ConfigError, match=r"^schedule\.track_resolution must be "):
        ScheduleConfig(track_resolution=value)


@given(st.one_of(st.integers(max_value=0), st.integers(min_value=2**63), st.floats(allow_nan=True), st.booleans(), st.text(max_size=3), st.none()))
@PROPERTY
def test_a_number_of_steps_that_is_not_a_positive_64_bit_integer_is_refused_naming_it(value):
    with pytest.raises(ConfigError, match=r"^train\.steps must be "):
        TrainConfig(steps=value)
