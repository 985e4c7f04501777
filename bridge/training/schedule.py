"""Checkpoint schedules: dense early, sparse late (stage-wise emergence spans time scales)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from bridge.config import ScheduleConfig


def checkpoint_steps(total: int, schedule: ScheduleConfig) -> list[int]:
    """Steps (``0 … total``) at which to save a checkpoint.

    Log-spaced ``n_log`` steps between 1 and ``total``, every ``schedule.every``
    steps, and always 0 and ``total``.

    Examples:
        >>> checkpoint_steps(1000, ScheduleConfig(n_log=4, every=500))
        [0, 1, 10, 100, 500, 1000]
    """
    steps = {0, total}
    if schedule.n_log > 0:
        steps.update(int(round(s)) for s in np.logspace(0, np.log10(total), schedule.n_log))
    if schedule.every > 0:
        steps.update(range(schedule.every, total + 1, schedule.every))
    return sorted(s for s in steps if 0 <= s <= total)


def staged_steps(steps_of: Callable[[int, ScheduleConfig], list[int]], totals: Sequence[int], schedule: ScheduleConfig) -> list[int]:
    """The steps of a run trained to ``totals[0]`` and then extended to each later total in turn: the
    steps so far keep the schedule they were trained with, and each extension adds those of its own
    total's schedule past the total before it.

    Args:
        steps_of: :func:`checkpoint_steps` or :func:`tracked_steps`.
        totals: the totals trained to, increasing (one: a run never extended).
        schedule: the run's schedule config.

    Examples:
        >>> s = ScheduleConfig(n_log=3)
        >>> checkpoint_steps(100, s), checkpoint_steps(1000, s)
        ([0, 1, 10, 100], [0, 1, 32, 1000])
        >>> staged_steps(checkpoint_steps, [100, 1000], s)
        [0, 1, 10, 100, 1000]
    """
    steps: list[int] = []
    for before, total in zip([-1, *totals], totals):
        if total <= before:
            raise ValueError(f"the totals of a run's extensions must increase, got {list(totals)}")
        steps += [t for t in steps_of(total, schedule) if t > before]
    return steps


RESUMES_PER_RUN = 10  # a killed run redoes at most about a tenth of its steps
KEEP_OPTIMIZER_STATES = 3


def resume_points(checkpoints: Sequence[int], total: int) -> list[int]:
    """The checkpoints that also save the optimizer state and go on record in ``run.json``:
    the ones a killed run can resume from.

    A checkpoint at least ``total / RESUMES_PER_RUN`` steps after the previous resume point (or
    after step 0), and the last ``KEEP_OPTIMIZER_STATES`` checkpoints. The other checkpoints hold
    weights only: the dense early checkpoints of a log-spaced schedule are there for analysis,
    and restarting from them would save little work.

    Examples:
        >>> resume_points([0, 1, 10, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000], 1000)
        [100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]
        >>> resume_points([0, 1, 2, 4, 8, 16, 32, 64], 64)
        [8, 16, 32, 64]
    """
    spacing, last, points = max(1, total // RESUMES_PER_RUN), 0, []
    for i, step in enumerate(checkpoints):
        if step - last >= spacing or i >= len(checkpoints) - KEEP_OPTIMIZER_STATES:
            points.append(step)
            last = step
    return points


def tracked_steps(total: int, schedule: ScheduleConfig) -> list[int]:
    """Steps at which online trackers run: every checkpoint, every ``track_every`` steps, and the
    grid of relative spacing ``track_resolution`` (:func:`relative_grid`).

    Examples:
        >>> tracked_steps(10, ScheduleConfig(n_log=0, track_every=4))
        [0, 4, 8, 10]
    """
    steps = set(checkpoint_steps(total, schedule))
    if schedule.track_every > 0:
        steps.update(range(0, total + 1, schedule.track_every))
    if schedule.track_resolution > 0:
        steps.update(relative_grid(total, schedule.track_resolution))
    return sorted(steps)


def relative_grid(total: int, resolution: float) -> list[int]:
    """Steps ``0 … total`` spaced by at most ``resolution`` times the step: every step up to
    ``1/resolution``, then the multiples of ``⌊resolution · t⌋`` (spacing grows in whole steps).

    Args:
        total: the last step.
        resolution: the largest gap between tracked steps as a fraction of the step, in ``(0, 1)``.

    Examples:
        >>> relative_grid(30, 0.1)
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 22, 24, 26, 28, 30]
        >>> len(relative_grid(4000, 0.01))  # of 4001 steps
        543
    """
    if not 0 < resolution < 1:
        raise ValueError(f"resolution must be in (0, 1), got {resolution}")
    return [t for t in range(total + 1) if t % max(1, int(resolution * t)) == 0]
