"""Per-subtask emergence: one detected drop of each subtask's loss, with its onset, end and width.

A subtask's loss starts at chance ``b`` (``ln 2`` for a binary label) and, when
the subtask is learned, falls toward 0. Its **emergence** is the step after which
the loss stays below ``b / 2`` (half-way); the drop's **onset** is the last time
the loss was still above ``0.9 b`` before that, its **end** the first time after it
that the loss falls below ``0.1 b``. ``width = end − onset`` measures how abrupt the
drop is against its own time scale, the emergence step.

Examples:
    >>> import numpy as np
    >>> t = np.arange(0.0, 1001.0, 10.0)
    >>> loss = np.log(2) / (1 + np.exp((t - 600) / 20))
    >>> drop = subtask_drop(t, loss)
    >>> round(drop.step), round(drop.onset), round(drop.end), round(drop.width / drop.step, 3)
    (600, 556, 644, 0.148)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from jaxtyping import Float

from bridge.stages.detectors import (
    Event,
    _as_arrays,
    settled_crossing,
    threshold_crossing,
)


@dataclass(frozen=True)
class SubtaskDrop:
    """One subtask's loss drop (steps, interpolated between samples).

    Attributes:
        step: emergence (loss settles below half of chance).
        onset: last crossing of ``0.9 b`` before it (``nan`` when the loss starts below).
        end: first crossing of ``0.1 b`` after it (``nan`` when it never gets there).
        event: the emergence as an :class:`~bridge.stages.detectors.Event`.

    Examples:
        >>> from bridge.stages import Event
        >>> SubtaskDrop(step=15.0, onset=5.0, end=25.0, event=Event("subtask emergence", 15.0, 10.0, 20.0)).width
        20.0
    """

    step: float
    onset: float
    end: float
    event: Event

    @property
    def width(self) -> float:
        """``end − onset`` (``nan`` when either is missing)."""
        return self.end - self.onset


BLIP = 2  # tracked samples: a learned subtask's loss back above chance / 2 for at most this long is a spike, not forgetting


def subtask_drop(
    steps: Float[np.ndarray, " n"], loss: Float[np.ndarray, " n"], chance: float = math.log(2.0), name: str = "", observable: str = "subtask/loss"
) -> SubtaskDrop | None:
    """The drop of one subtask's loss curve, or ``None`` when it does not end below ``chance / 2``.

    Its step is where the loss settles below ``chance / 2``; a later spike back above it for at
    most :data:`BLIP` tracked samples does not move it.

    Args:
        steps, loss: the sampled curve, shape ``(n,)``.
        chance: the loss of an unlearned subtask ``b`` (positive and finite, else ``ValueError``).

    Examples:
        >>> d = subtask_drop([0, 10, 20, 30], [1.0, 0.8, 0.4, 0.0], chance=1.0)   # crosses 0.9, 0.5, 0.1
        >>> d.onset, d.step, d.end, d.width
        (5.0, 17.5, 27.5, 22.5)
        >>> subtask_drop([0, 10, 20], [1.0, 0.9, 0.8], chance=1.0) is None   # never below chance / 2
        True
    """
    if not 0 < chance < math.inf:  # nan, 0 or a negative chance found no drop on any curve
        raise ValueError(f"chance must be a positive finite loss, got {chance}")
    t, y = _as_arrays(steps, loss)
    half = settled_crossing(t, y, chance / 2, "down", name=name or "subtask emergence", observable=observable, blip=BLIP)
    if half is None:
        return None
    before = t <= half.hi
    onset = settled_crossing(t[before], y[before], 0.9 * chance, "down") if before.sum() >= 2 else None
    after = t >= half.lo
    end = threshold_crossing(t[after], y[after], 0.1 * chance, "down") if after.sum() >= 2 else None
    event = Event(half.name, half.step, half.lo, half.hi, observable, "emergence")
    return SubtaskDrop(half.step, math.nan if onset is None else onset.step, math.nan if end is None else end.step, event)


def value_at(steps: Float[np.ndarray, " n"], values: Float[np.ndarray, " n"], step: float) -> float:
    """A sampled curve linearly interpolated at ``step`` (``nan`` outside the sampled range or at ``nan``).

    Examples:
        >>> value_at([0, 10, 20], [0.0, 1.0, 3.0], 15.0), value_at([10], [0.5], 10.0), value_at([10], [0.5], 11.0)
        (2.0, 0.5, nan)
        >>> value_at([], [], 10.0)
        Traceback (most recent call last):
        ...
        ValueError: steps and values need at least 1 sample, got 0
    """
    t, y = _as_arrays(steps, values, min_samples=1)  # one sample is its own value at its step
    if not math.isfinite(step) or step < t[0] or step > t[-1]:
        return math.nan
    return float(np.interp(step, t, y))


__all__ = ["SubtaskDrop", "subtask_drop", "value_at"]
