"""Loss (and accuracy, for classification tasks) on the train and test splits."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from bridge.losses import accuracy, is_class_labels, per_seed
from bridge.models.base import evaluating
from bridge.tasks.base import TaskData
from bridge.trackers.base import Row, model_output, row


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
                out = model_output(model, x)
                rows.append(row(f"loss/{split_name}", data.loss_fn(out, y)))
                if self._with_accuracy(y):
                    rows.append(row(f"accuracy/{split_name}", accuracy(out, y)))
        return rows

    def stacked(self, forward: Callable[[Tensor], Tensor], datas: Sequence[TaskData]) -> list[list[Row]] | None:
        """The rows of many models at once, one list per model, as :meth:`__call__` gives them.

        ``forward`` maps inputs with a leading model axis ``(model, batch, ...)`` to outputs with one
        (:func:`bridge.train_seeds` passes the model's ``forward_stacked``); ``datas`` holds each
        model's task data. ``None`` when the rows need accuracy (class labels) or the models' splits
        differ in shape: then call the tracker on each model.
        """
        per: list[list[Row]] = [[] for _ in datas]
        with torch.no_grad():
            for split_name in ("train", "test"):
                splits = [getattr(d, split_name) for d in datas]
                if all(s is None for s in splits):
                    continue
                if any(s is None for s in splits) or len({(tuple(s.x.shape), tuple(s.y.shape)) for s in splits}) > 1:
                    return None
                x = torch.stack([s.x[: self.max_examples] for s in splits])
                y = torch.stack([s.y[: self.max_examples] for s in splits])
                if self._with_accuracy(y[0]):
                    return None
                for rows, value in zip(per, per_seed(datas[0].loss_fn)(forward(x), y).tolist()):
                    rows.append(row(f"loss/{split_name}", value))
        return per

    def _with_accuracy(self, target: Tensor) -> bool:
        return bool(self.accuracy or (self.accuracy is None and is_class_labels(target)))
