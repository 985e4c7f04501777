"""Loss (and accuracy, for classification tasks) on the train and test splits."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from bridge.losses import accuracy, is_class_labels
from bridge.tasks.base import TaskData
from bridge.models.base import evaluating
from bridge.trackers.base import Row, row


@dataclass
class LossTracker:
    """Rows ``loss/train``, ``loss/test``, and ``accuracy/train|test`` for classification tasks.

    Args:
        accuracy: record accuracy; ``None`` (default) records it when the
            targets are integer class labels ``(batch,)``.
        max_examples: evaluate on at most this many examples of each split (the
            first ones, so every step sees the same subset); ``None``: all.

    Examples:
        >>> import torch
        >>> from bridge.models import DeepLinearConfig, build_model
        >>> from bridge.tasks import LinearTeacherConfig, make_task
        >>> data = make_task(LinearTeacherConfig((2.0,), d_in=3, d_out=3), seed=0)
        >>> rows = LossTracker()(build_model(DeepLinearConfig(3, 8, 3), seed=0), 0, data)
        >>> [r["observable"] for r in rows]
        ['loss/train', 'loss/test']
    """

    accuracy: bool | None = None
    max_examples: int | None = None
    name: str = "loss"

    def __post_init__(self) -> None:
        if self.max_examples is not None and self.max_examples < 1:
            raise ValueError(f"max_examples must be positive or None, got {self.max_examples}")

    def __call__(self, model: nn.Module, step: int, data: TaskData) -> list[Row]:
        rows = []
        with evaluating(model):
            for split_name, split in (("train", data.train), ("test", data.test)):
                if split is None:
                    continue
                x, y = split.x[: self.max_examples], split.y[: self.max_examples]
                out = model(x)
                rows.append(row(f"loss/{split_name}", data.loss_fn(out, y)))
                if self.accuracy or (self.accuracy is None and is_class_labels(y)):
                    rows.append(row(f"accuracy/{split_name}", accuracy(out, y)))
        return rows
