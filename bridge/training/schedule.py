"""Checkpoint schedules: dense early, sparse late (stage-wise emergence spans time scales)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from bridge.config import ConfigError, ScheduleConfig


def checkpoint_steps(total: int, schedule: ScheduleConfig) -> list[int]:
    """Steps (``0 … total``) at which to save a checkpoint.

    Log-spaced ``n_log`` steps between 1 and ``total``, every ``schedule.every``
    steps, and always 0 and ``total``.

    Examples:
        >>> checkpoint_steps(1000, ScheduleConfig(n_log=4, every=500))
        [0, 1, 10, 100, 500, 1000]
        >>> checkpoint_steps(0, ScheduleConfig())
        Traceback (most recent call last):
        ...
        bridge.config.ConfigError: checkpoint_steps: total must be a positive whole number of steps, got 0
    """
    if isinstance(total, bool) or not isinstance(total, int) or total < 1:
        raise ConfigError(f"checkpoint_steps: total must be a positive whole number of steps, got {total!r}")
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
    ``1/resolution``, then the multiples of ``⌊resolution · t⌋`` (spacing grows in whole steps), and
    where the spacing grows (or before ``total``, which the caller tracks as a checkpoint) the last
    step that keeps the gap within bounds (multiples alone jump from 8 to 12 at resolution 0.3125,
    a gap of 4 where 3.75 is allowed).

    Args:
        total: the last step.
        resolution: the largest gap between tracked steps as a fraction of the step, in ``(0, 1)``.

    Examples:
        >>> relative_grid(30, 0.1)
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 22, 24, 26, 28, 30]
        >>> len(relative_grid(4000, 0.01))  # of 4001 steps
        543
        >>> relative_grid(12, 0.3125)
        [0, 1, 2, 3, 4, 5, 6, 8, 11, 12]
    """
    if not 0 < resolution < 1:
        raise ValueError(f"resolution must be in (0, 1), got {resolution}")
    grid = [0]
    for t in range(1, total + 1):
        multiple = t % max(1, int(resolution * t)) == 0
        while (multiple or t == total) and not _within(grid[-1], t, resolution):
            grid.append(_furthest_within(grid[-1], t - 1, resolution))
        if multiple:
            grid.append(t)
    return grid


def _within(a: int, b: int, resolution: float) -> bool:
    """Whether step ``b`` is at most ``resolution`` times itself (or one step) after step ``a``."""
    return b - a <= max(1.0, resolution * b)


def _furthest_within(a: int, limit: int, resolution: float) -> int:
    """The last step up to ``limit`` within bounds after ``a`` (about ``a / (1 - resolution)``; at least ``a + 1``)."""
    b = min(limit, max(a + 1, int(a / (1 - resolution))))
    while b > a + 1 and not _within(a, b, resolution):  # the float quotient may be a step off either way
        b -= 1
    while b < limit and _within(a, b + 1, resolution):
        b += 1
    return b
