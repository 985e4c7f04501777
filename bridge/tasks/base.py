"""The task contract: a seeded synthetic data source with known ground truth."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from bridge.losses import LossFn, get_loss
from bridge.registry import Registry


@dataclass
class Split:
    """Inputs and targets of one split. ``x``: ``(n, ...)``, ``y``: ``(n, ...)``.

    ``x`` is a tensor or rows held compactly (:class:`~bridge.tasks.rows.OneHotBitRows`, with ``shape``,
    ``to`` and indexing that decodes the rows read): read it by index (``x[idx]``, ``x[:n]``; ``x[:]`` for all);
    a torch function or tensor method given compact rows reads all of them decoded.

    Examples:
        >>> s = Split(torch.zeros(3, 2), torch.ones(3))
        >>> len(s), tuple(s.to("cpu").x.shape)
        (3, (3, 2))
        >>> Split(torch.zeros(3, 2), torch.ones(2))
        Traceback (most recent call last):
        ...
        ValueError: x and y disagree on the number of examples: 3 vs 2
    """

    x: Tensor  # or OneHotBitRows
    y: Tensor

    def __post_init__(self) -> None:
        if self.x.shape[0] != self.y.shape[0]:
            raise ValueError(f"x and y disagree on the number of examples: {self.x.shape[0]} vs {self.y.shape[0]}")

    def __len__(self) -> int:
        return self.x.shape[0]

    def to(self, device: torch.device | str) -> Split:
        return Split(self.x.to(device), self.y.to(device))


@dataclass
class TaskData:
    """What a task gives training and analysis.

    Attributes:
        train: the training split.
        test: the held-out split, or ``None`` when the task has none.
        loss: name of a loss in :mod:`bridge.losses`, or a callable
            ``(output, target) -> scalar`` built by the task from its config.
        info: ground truth (teacher SVD, hierarchy levels, key frequencies, ...).

    Examples:
        >>> data = TaskData(Split(torch.zeros(2, 1), torch.tensor([1.0, 0.0])), None, "mse")
        >>> data.loss_fn(torch.tensor([1.0, 2.0]), data.train.y).item()   # ((1 − 1)² + (2 − 0)²) / 2
        2.0
    """

    train: Split
    test: Split | None
    loss: str | LossFn
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def loss_fn(self) -> LossFn:
        return get_loss(self.loss) if isinstance(self.loss, str) else self.loss

    def to(self, device: torch.device | str) -> TaskData:
        test = None if self.test is None else self.test.to(device)
        move = getattr(self.loss, "to", None)
        loss = move(device) if callable(move) else self.loss  # a loss holding tensors (importances)
        return TaskData(self.train.to(device), test, loss, self.info)


TaskBuilder = Callable[[Any, int], TaskData]
TASKS: Registry[TaskBuilder] = Registry("task")


def make_task(config: Any, seed: int) -> TaskData:
    """Generate the data of ``config`` (a registered task config) with ``seed``.

    A task draws from named sub-streams of ``seed`` (``derive_seed(seed, "<task kind>", ...)``):
    a run builds its model from ``seed`` itself, and a task drawn from that same stream would
    hand the model a start correlated with the ground truth.

    Examples:
        >>> from bridge.tasks import LinearTeacherConfig, make_task
        >>> data = make_task(LinearTeacherConfig(singular_values=(3.0, 1.0), d_in=4, d_out=4), seed=0)
        >>> tuple(data.train.x.shape)
        (4, 4)
    """
    return TASKS.get(config.kind)(config, seed)
