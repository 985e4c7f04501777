"""Trackers of multitask sparse parity: per-subtask loss and accuracy, and per-subtask hidden progress.

Both read the task's test split, whose rows ``info["test_task"]`` assigns to
subtasks, and a one-hidden-layer MLP (:mod:`probes.quanta`), evaluated in chunks of
rows (``probes.quanta.EVAL_ELEMENTS`` rows times units at a time), so the memory of a
call does not grow with the test split's rows times the width.

Examples:
    >>> from bridge.models import MLPConfig, build_model
    >>> from bridge.tasks import make_task
    >>> from bridge.tasks.sparse_parity import SparseParityConfig
    >>> data = make_task(SparseParityConfig(n_tasks=3, n_bits=6, k_bits=2, n_train=8, n_test_per_task=32), seed=0)
    >>> net = build_model(MLPConfig(d_in=9, d_out=2, widths=(8,)), seed=0)
    >>> rows = SubtaskLossTracker()(net, 0, data)
    >>> sorted({r["observable"] for r in rows})
    ['quanta/mean_loss', 'subtask/accuracy', 'subtask/loss']
    >>> len([r for r in HiddenProgressTracker()(net, 0, data) if r["observable"] == "subtask/relevant_share"])
    3
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from bridge.models.base import evaluating
from bridge.tasks.base import TaskData
from bridge.trackers.base import Row, row
from probes.quanta import (
    relevant_bit_share,
    subtask_metrics,
    unit_contributions,
    walsh_gap,
)


def _test_split(data: TaskData) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The test split's ``x``, ``y``, each item's subtask (on ``x``'s device) and the subtask bits ``(n_tasks, k_bits)``."""
    if data.test is None or "test_task" not in data.info or "subtask_bits" not in data.info:
        raise ValueError("the quanta trackers need a multitask sparse parity task (info['test_task'], info['subtask_bits'])")
    return data.test.x, data.test.y, data.info["test_task"].to(data.test.x.device), data.info["subtask_bits"]


@dataclass
class SubtaskLossTracker:
    """Rows ``subtask/loss`` and ``subtask/accuracy`` (per ``subtask``) on the test split, and
    ``quanta/mean_loss``: the subtask losses weighted by the subtask frequencies (the mean
    loss on fresh samples of the task).

    Examples:
        >>> from bridge.models import MLP, MLPConfig
        >>> from bridge.tasks import SparseParityConfig, make_task
        >>> data = make_task(SparseParityConfig(n_tasks=3, n_bits=6, k_bits=2, n_train=8, n_test_per_task=32), seed=0)
        >>> zero = MLP(MLPConfig(d_in=9, d_out=2, widths=(8,))); _ = zero.layers[-1].weight.data.zero_()  # zero logits
        >>> [round(r["value"], 4) for r in SubtaskLossTracker()(zero, 0, data) if "loss" in r["observable"]]  # ln 2 everywhere
        [0.6931, 0.6931, 0.6931, 0.6931]
    """

    name: str = "subtask_loss"

    def __call__(self, model: nn.Module, step: int, data: TaskData) -> list[Row]:
        x, y, task, bits = _test_split(data)
        n_tasks = bits.shape[0]
        with evaluating(model):
            loss, acc = subtask_metrics(model, x, y, task, n_tasks)
        freq = data.info["frequencies"].to(device=loss.device, dtype=loss.dtype)
        rows = [row("quanta/mean_loss", (loss * freq).sum() / freq.sum())]
        losses, accuracies = loss.tolist(), acc.tolist()  # one read of each from the device, not one per subtask
        rows += [row("subtask/loss", losses[k], subtask=k) for k in range(n_tasks)]
        rows += [row("subtask/accuracy", accuracies[k], subtask=k) for k in range(n_tasks)]
        return rows


@dataclass
class HiddenProgressTracker:
    """Rows ``subtask/relevant_share`` (first-layer weight share on the subtask's bits among the
    units serving it; chance ``k_bits / n_bits``) and ``subtask/walsh_gap`` (per ``subtask``).

    Args:
        walsh: also record the Walsh gap (one standardised correlation per ``k_bits``-subset).
        max_subsets: competitors of the Walsh gap (all other subsets when there are fewer).

    Examples:
        >>> from bridge.models import MLP, MLPConfig
        >>> from bridge.tasks import SparseParityConfig, make_task
        >>> data = make_task(SparseParityConfig(n_tasks=3, n_bits=6, k_bits=2, n_train=8, n_test_per_task=32), seed=0)
        >>> [(r["observable"], r["subtask"]) for r in HiddenProgressTracker(walsh=False)(MLP(MLPConfig(d_in=9, d_out=2, widths=(8,))), 0, data)]
        [('subtask/relevant_share', 0), ('subtask/relevant_share', 1), ('subtask/relevant_share', 2)]
    """

    walsh: bool = True
    max_subsets: int = 512
    name: str = "hidden_progress"
    version = 2  # 4bc3aa1: the shares and Walsh gaps read the layers with their parametrisation multipliers

    def __call__(self, model: nn.Module, step: int, data: TaskData) -> list[Row]:
        x, _, task, bits = _test_split(data)
        n_tasks = bits.shape[0]
        with evaluating(model):
            contributions = unit_contributions(model, x, task, n_tasks)
            share = relevant_bit_share(model.get_parameter("layers.0.weight").detach(), contributions, bits.to(x.device))
            gap = walsh_gap(model, x, task, bits.to(x.device), self.max_subsets) if self.walsh else None
        shares = share.tolist()  # one read from the device, not one per subtask
        rows = [row("subtask/relevant_share", shares[k], subtask=k) for k in range(n_tasks)]
        if gap is not None:
            gaps = gap.tolist()
            rows += [row("subtask/walsh_gap", gaps[k], subtask=k) for k in range(n_tasks)]
        return rows


__all__ = ["HiddenProgressTracker", "SubtaskLossTracker"]
