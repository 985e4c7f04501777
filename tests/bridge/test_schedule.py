"""Checkpoint and tracking schedules: the relative-resolution grid of tracked steps, the resume points, the order of minibatches."""

from __future__ import annotations

import math

import pytest

from bridge.config import ConfigError, ScheduleConfig
from bridge.training.schedule import checkpoint_steps, relative_grid, resume_points, tracked_steps


@pytest.mark.parametrize(("total", "resolution"), [(4000, 0.01), (1000, 0.05), (137, 0.2), (50, 0.01)])
def test_the_relative_grid_never_leaves_a_gap_wider_than_its_resolution(total, resolution):
    grid = relative_grid(total, resolution)
    assert grid[0] == 0 and grid == sorted(set(grid)) and grid[-1] <= total
    assert grid[: int(1 / resolution) + 1] == list(range(min(total, int(1 / resolution)) + 1))  # every step early
    gaps = [(b - a, b) for a, b in zip(grid, grid[1:])]
    assert all(gap <= max(1.0, resolution * b) for gap, b in gaps)
    assert total - grid[-1] < max(1.0, resolution * total)
    late = [gap for gap, b in gaps if b > 4 / resolution]
    assert not late or max(late) >= 3  # and it does thin out late in training


def test_the_grid_has_about_one_over_r_times_one_plus_log_steps():
    for total, r in ((4000, 0.01), (20000, 0.01), (4000, 0.02)):
        expected = (1 + math.log(r * total)) / r
        assert 0.9 * expected <= len(relative_grid(total, r)) <= 1.3 * expected


def test_tracked_steps_join_checkpoints_every_and_the_grid():
    schedule = ScheduleConfig(n_log=3, every=0, track_every=0, track_resolution=0.1)
    assert tracked_steps(45, schedule) == sorted(set(checkpoint_steps(45, schedule)) | set(relative_grid(45, 0.1)))
    assert 45 in tracked_steps(45, schedule) and 45 not in relative_grid(45, 0.1)  # the last step is a checkpoint
    assert tracked_steps(45, ScheduleConfig(n_log=0, track_every=0)) == [0, 45]


@pytest.mark.parametrize("bad", [-0.1, 1.0, 2])
def test_a_resolution_outside_zero_one_is_refused(bad):
    with pytest.raises(ConfigError, match="schedule.track_resolution"):
        ScheduleConfig(track_resolution=bad)
    with pytest.raises(ValueError, match="resolution must be in"):
        relative_grid(10, bad if bad else 0.0)


def test_the_last_three_checkpoints_keep_the_optimizer_state_however_close_they_are():
    assert resume_points(list(range(11)), 100) == [8, 9, 10]  # none is a tenth of the run after the previous point


def test_step_0_is_never_a_resume_point_of_a_short_run():
    assert resume_points([0, 1, 2, 3, 4, 5], 5) == [1, 2, 3, 4, 5]


def test_each_epoch_of_minibatches_is_one_permutation_cut_into_consecutive_slices():
    import torch

    from bridge.training.loop import _epoch_order, batch_indices

    for epoch in range(3):  # 12 examples in batches of 4: three steps an epoch
        order = _epoch_order(12, 7, epoch)
        batches = [batch_indices(12, 4, step, seed=7) for step in range(3 * epoch, 3 * epoch + 3)]
        assert torch.equal(torch.cat(batches), order) and sorted(order.tolist()) == list(range(12))
    assert not torch.equal(_epoch_order(12, 7, 0), _epoch_order(12, 7, 1))


def test_an_epoch_that_does_not_divide_into_batches_leaves_its_remainder_out_and_a_batch_above_n_takes_all():
    import torch

    from bridge.training.loop import _epoch_order, batch_indices

    # 10 examples in batches of 4: two steps an epoch, the last 2 of each permutation unused
    assert torch.equal(torch.cat([batch_indices(10, 4, 0, seed=3), batch_indices(10, 4, 1, seed=3)]), _epoch_order(10, 3, 0)[:8])
    assert torch.equal(batch_indices(10, 4, 2, seed=3), _epoch_order(10, 3, 1)[:4])
    for step in range(3):  # a batch larger than the data: the whole epoch's permutation, a new one each step
        assert torch.equal(batch_indices(10, 25, step, seed=3), _epoch_order(10, 3, step))


@pytest.mark.parametrize(("args", "named"), [((10, 0, 0), "batch_size=0"), ((10, -2, 0), "batch_size=-2"), ((0, 4, 0), "n=0"), ((10, 4, -1), "step=-1")])
def test_batch_indices_refuses_sizes_and_steps_that_name_no_batch(args, named):
    from bridge.training.loop import batch_indices

    with pytest.raises(ValueError, match=rf"batch_indices needs n >= 1, batch_size >= 1 and step >= 0, got .*{named}"):
        batch_indices(*args, seed=0)
