"""Ablation of the hidden units of a multitask sparse parity MLP: which units each subtask needs.

- :func:`unit_ablation`: the rise of each subtask's loss when one unit alone is zeroed;
- :func:`units_needed`: the units ranked by that rise, and the fewest top-ranked units whose
  joint ablation undoes the subtask (its loss back to half of chance).

Both read the rows in chunks of at most ``ABLATION_ELEMENTS`` rows times hidden units, so
their memory is set by the chunk, not by the test split (the full preset's 500 subtasks x 512
rows on 2048 units). The network is a one-hidden-layer MLP as in :mod:`probes.quanta`; the
needed units' sharing between subtasks is :func:`probes.quanta.unit_sharing`.

Examples:
    >>> from bridge.models import MLPConfig, build_model
    >>> from bridge.tasks import make_task
    >>> from bridge.tasks.sparse_parity import SparseParityConfig
    >>> data = make_task(SparseParityConfig(n_tasks=3, n_bits=6, k_bits=2, n_train=8, n_test_per_task=64), seed=0)
    >>> net = build_model(MLPConfig(d_in=9, d_out=2, widths=(16,)), seed=0)
    >>> ranking, needed = units_needed(net, data.test.x, data.test.y, data.info["test_task"], 3)
    >>> tuple(ranking.shape), needed.tolist()   # untrained: no subtask learned, nothing to undo
    ((3, 16), [0, 0, 0])
"""

from __future__ import annotations

import functools
import math
import operator

import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor, nn

from probes.quanta import _activation, _check_rows, _check_subtasks, _layers, _row_chunks

ABLATION_ELEMENTS = 2**21
"""Rows times hidden units that :func:`unit_ablation` and :func:`units_needed` evaluate at once (their ablated
logits are twice that): 1024 rows on 2048 units. A test split of 500 subtasks x 512 rows on 2048 units would
otherwise hold 2 · 10⁹ ablated logits in :func:`unit_ablation`, over 20 GB with its intermediates, and its
(rows, 2048) hidden layer in :func:`units_needed`, 2 GB and as much again for the pre-activations."""


def unit_ablation(model: nn.Module, x: Float[Tensor, "n d_in"], y: Int[Tensor, " n"], task: Int[Tensor, " n"], n_tasks: int) -> Float[Tensor, "n_tasks width"]:
    """``effect[k, u]``: rise of subtask ``k``'s loss when unit ``u`` alone is zeroed.

    The rows are taken in chunks of about ``ABLATION_ELEMENTS / width``, so memory does not grow
    with ``n · width``.

    Examples:
        >>> from bridge.models import MLPConfig, build_model
        >>> net = build_model(MLPConfig(d_in=4, d_out=2, widths=(3,)), seed=0)
        >>> x, y, task = torch.rand(6, 4), torch.tensor([0, 1] * 3), torch.tensor([0, 1] * 3)
        >>> tuple(unit_ablation(net, x, y, task, 2).shape)
        (2, 3)
    """
    first, weight, bias = _layers(model)
    _check_rows(model, x, y)
    _check_subtasks(task, n_tasks, len(x))
    width = weight.shape[1]
    total = torch.zeros(n_tasks, width, dtype=weight.dtype, device=weight.device)  # the logits' type and device
    with torch.no_grad():
        for rows in _row_chunks(len(x), width, ABLATION_ELEMENTS):  # the (rows, width, 2) ablated logits of one chunk, never of all n rows at once
            xs, ys, ts = x[rows], y[rows], task[rows]
            hidden = _activation(model)(first(xs))
            logits = hidden @ weight.T + bias
            ablated = logits[:, None, :] - hidden[:, :, None] * weight.T[None]  # (rows, width, 2)
            clean = F.cross_entropy(logits, ys, reduction="none")
            loss = F.cross_entropy(ablated.flatten(0, 1), ys.repeat_interleave(width), reduction="none").view_as(hidden)
            rise = loss - clean[:, None]
            total.index_add_(0, ts, rise)
    count = torch.bincount(task, minlength=n_tasks).to(total.dtype).clamp(min=1)
    return total / count[:, None]


def _subtask_rows(task: Int[Tensor, " n"], n_tasks: int) -> list[Tensor]:
    """The indices of each subtask's rows, in the order of the rows (as ``task == k`` selects them)."""
    order = torch.argsort(task, stable=True)
    return list(torch.split(order, torch.bincount(task, minlength=n_tasks).tolist()))


@torch.no_grad()
def _joint_ablation(model: nn.Module, x: Float[Tensor, "n d_in"], y: Int[Tensor, " n"], rows: Int[Tensor, " n_k"], ranking: Int[Tensor, " width"], undone: float) -> tuple[Tensor, Tensor | None]:
    """``(clean loss (), loss (width,) with the top 1 … width units of ranking zeroed together, or None)`` of one
    subtask's ``rows``, in chunks of ``ABLATION_ELEMENTS / width`` of them; ``None`` when the clean loss is already
    at ``undone`` (nothing to undo). Each mean is the chunks' sums over the rows; one chunk gives the mean of all rows."""
    first, weight, bias = _layers(model)
    width = weight.shape[1]
    chunks = [rows[part] for part in _row_chunks(len(rows), width, ABLATION_ELEMENTS)]

    def logits_of(part: Tensor) -> tuple[Tensor, Tensor]:
        hidden = _activation(model)(first(x[part]))
        return hidden, hidden @ weight.T + bias

    kept = logits_of(chunks[0]) if len(chunks) == 1 else None  # one chunk: evaluated once for both passes
    # _row_chunks gives at least one chunk: the sums over the chunks add up in their order
    clean = functools.reduce(operator.add, [F.cross_entropy((kept or logits_of(part))[1], y[part], reduction="sum") for part in chunks]) / len(rows)
    if float(clean) >= undone:
        return clean, None
    losses = []
    for part in chunks:
        hidden, logits = kept or logits_of(part)
        removed = torch.cumsum(hidden[:, ranking, None] * weight.T[ranking][None], dim=1)  # (chunk, width, 2)
        ablated = logits[:, None, :] - removed
        losses.append(F.cross_entropy(ablated.flatten(0, 1), y[part].repeat_interleave(width), reduction="none").view(-1, width).sum(0))
    return clean, functools.reduce(operator.add, losses) / len(rows)


def units_needed(
    model: nn.Module, x: Float[Tensor, "n d_in"], y: Int[Tensor, " n"], task: Int[Tensor, " n"], n_tasks: int, undone: float = 0.5 * math.log(2.0)
) -> tuple[Int[Tensor, "n_tasks width"], Int[Tensor, " n_tasks"]]:
    """Units ranked by single-unit ablation effect, and how many top-ranked units a subtask needs.

    Zeroing the top ``m`` units of subtask ``k`` together (ranked by :func:`unit_ablation`)
    raises its loss; ``needed[k]`` is the smallest ``m`` bringing it to ``≥ undone`` nats
    (default: half of chance, ``ln 2 / 2``), ``0`` when the subtask's loss is already there
    (not learned) and ``width + 1`` when even zeroing every unit does not. Each subtask's rows
    are evaluated apart, in chunks of about ``ABLATION_ELEMENTS / width`` rows.

    Returns:
        ``(ranking (n_tasks, width), needed (n_tasks,))``.

    Examples:
        >>> from bridge.models import MLPConfig, build_model
        >>> net = build_model(MLPConfig(d_in=2, d_out=2, widths=(2,)), seed=0)   # set by hand: unit u reads input u; unit 0 pushes logit 1, unit 1 logit 0
        >>> with torch.no_grad(): _ = net.layers[0].weight.copy_(10 * torch.eye(2)), net.layers[1].weight.copy_(torch.eye(2).flip(0)), [layer.bias.zero_() for layer in net.layers]
        >>> [t.tolist() for t in units_needed(net, torch.eye(2), torch.tensor([1, 0]), torch.tensor([0, 1]), 2)]   # each subtask needs its own unit
        [[[0, 1], [1, 0]], [1, 1]]
    """
    effect = unit_ablation(model, x, y, task, n_tasks)
    ranking = effect.argsort(dim=1, descending=True)
    width = effect.shape[1]
    needed = torch.zeros(n_tasks, dtype=torch.long, device=ranking.device)
    with torch.no_grad():
        for k, rows in enumerate(_subtask_rows(task, n_tasks)):
            _, loss = _joint_ablation(model, x, y, rows, ranking[k], undone)
            if loss is None:
                continue
            hit = torch.nonzero(loss >= undone).flatten()
            needed[k] = int(hit[0]) + 1 if len(hit) else width + 1
    return ranking, needed


__all__ = ["unit_ablation", "units_needed"]
