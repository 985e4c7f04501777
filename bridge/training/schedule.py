"""Checkpoint schedules: dense early, sparse late (stage-wise emergence spans time scales)."""

from __future__ import annotations

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


def tracked_steps(total: int, schedule: ScheduleConfig) -> list[int]:
    """Steps at which online trackers run: every checkpoint, plus every ``track_every`` steps.

    Examples:
        >>> tracked_steps(10, ScheduleConfig(n_log=0, track_every=4))
        [0, 4, 8, 10]
    """
    steps = set(checkpoint_steps(total, schedule))
    if schedule.track_every > 0:
        steps.update(range(0, total + 1, schedule.track_every))
    return sorted(steps)
