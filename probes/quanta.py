"""Mechanisms of multitask sparse parity in a one-hidden-layer MLP: per-subtask loss, hidden progress, units.

The network reads ``[one-hot control (n_tasks) | task bits (n_bits)]`` and
gives two logits; subtask ``k`` is the parity of its bits ``S_k``. Every
function here is a pure measurement of ``(model, inputs)``:

- :func:`subtask_metrics`: loss and accuracy of each subtask;
- :func:`unit_contributions`: how much each hidden unit moves the logit
  difference on each subtask's inputs (the units that *serve* a subtask);
- :func:`relevant_bit_share`: hidden progress (Barak et al. 2022), the share of
  the serving units' first-layer weight norm that sits on the subtask's own bits
  (chance: ``k_bits / n_bits``);
- :func:`walsh_gap`: the output's Walsh coefficient on ``S_k`` against the
  largest on any other ``k_bits``-subset;
- :func:`~probes.quanta_ablation.unit_ablation` and :func:`~probes.quanta_ablation.units_needed` (in :mod:`probes.quanta_ablation`): the rise of each subtask's
  loss when a unit is zeroed, the units ranked by it, and the fewest top-ranked
  units whose joint ablation undoes the subtask;
- :func:`unit_sharing`: whether the needed units serve one subtask each
  (monogenic) or several (polygenic);
- :func:`quanta_learned`: how many subtasks are learned.

Rows ``x`` the network cannot read (another width, dtype, device or rank), labels ``y`` that are not one
integer class per row in ``[0, d_out)``, and (for the probes that read the logit difference or ablate units)
a network without exactly two logits are refused by name with a ``ValueError`` before the network runs.

Examples:
    >>> import torch
    >>> from bridge.models import MLPConfig, build_model
    >>> from bridge.tasks import make_task
    >>> from bridge.tasks.sparse_parity import SparseParityConfig
    >>> data = make_task(SparseParityConfig(n_tasks=3, n_bits=6, k_bits=2, n_train=8, n_test_per_task=64), seed=0)
    >>> net = build_model(MLPConfig(d_in=9, d_out=2, widths=(16,)), seed=0)
    >>> loss, acc = subtask_metrics(net, data.test.x, data.test.y, data.info["test_task"], 3)
    >>> tuple(loss.shape), bool((acc <= 1).all())
    ((3,), True)
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, cast

import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor, nn

from bridge.losses import at_least_float32

if TYPE_CHECKING:
    from bridge.models.mlp import MLP


def _layers(model: nn.Module) -> tuple[Callable[[Tensor], Tensor], Tensor, Tensor]:
    """``(pre-activation of x, readout weight (d_out, width), readout bias (d_out,))`` as the model's forward
    uses them: each layer's parametrisation multiplier included (``MLP.linear``)."""
    layers = getattr(model, "layers", None)
    if layers is None or len(layers) != 2:
        raise ValueError("the quanta probes read a one-hidden-layer MLP (model.layers of two nn.Linear)")
    first, last = layers
    if last.weight.shape[0] != 2:
        raise ValueError(f"the quanta probes read the two logits of a parity, got a readout of d_out={last.weight.shape[0]}")
    multipliers = getattr(model, "multipliers", (1.0, 1.0))
    pre = (lambda x: cast("MLP", model).linear(0, x)) if hasattr(model, "linear") else first
    bias = last.bias if last.bias is not None else torch.zeros(last.weight.shape[0], dtype=last.weight.dtype, device=last.weight.device)
    return pre, last.weight * multipliers[1], bias


def _activation(model: nn.Module) -> Callable[[Tensor], Tensor]:
    """The hidden layer's elementwise activation, ``model.activation`` (of an ``MLP``, a function held as a plain attribute)."""
    return cast("Callable[[Tensor], Tensor]", model.activation)


def _check_rows(model: nn.Module, x: Tensor, y: Tensor | None = None) -> None:
    """Refuse rows ``x`` (and labels ``y``) the network cannot read, by name, before it runs: ``x`` ``(n, d_in)`` of
    the first layer's dtype and device, ``y`` one integer label per row in ``[0, d_out)`` (for a model whose
    ``layers`` are ``nn.Linear``; of another model only the ranks and lengths are checked)."""
    layers = getattr(model, "layers", None)
    first, last = (layers[0], layers[-1]) if layers is not None and len(layers) and all(isinstance(m, nn.Linear) for m in (layers[0], layers[-1])) else (None, None)
    d_in = first.in_features if first is not None else None
    if getattr(x, "ndim", None) != 2 or (d_in is not None and x.shape[1] != d_in):
        raise ValueError(f"x must be (n, d_in={d_in if d_in is not None else 'd_in'}) rows, got shape {tuple(getattr(x, 'shape', ()))}")
    if first is not None and (x.dtype != first.weight.dtype or x.device != first.weight.device):
        raise ValueError(f"x must have the model's dtype {first.weight.dtype} on its device {first.weight.device}, got {x.dtype} on {x.device}")
    if y is None:
        return
    if not isinstance(y, Tensor) or y.ndim != 1 or len(y) != len(x):
        raise ValueError(f"y must be one label per row of x ({len(x)}), got shape {tuple(getattr(y, 'shape', ()))}")
    if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
        raise ValueError(f"y must be integer labels, got dtype {y.dtype}")
    d_out = last.out_features if last is not None else None
    if d_out is not None and len(y) and (int(y.min()) < 0 or int(y.max()) >= d_out):
        raise ValueError(f"y must be labels in [0, d_out={d_out}), got labels in [{int(y.min())}, {int(y.max())}]")


def _check_subtasks(task: Int[Tensor, " n"], n_tasks: int, n_rows: int) -> None:
    if not isinstance(task, Tensor) or task.ndim != 1 or task.dtype.is_floating_point or task.dtype == torch.bool:
        raise ValueError(f"task must be a 1-D integer tensor of subtask ids, got {getattr(task, 'shape', type(task))}")
    if len(task) != n_rows:
        raise ValueError(f"task must have one entry per input row ({n_rows}), got {len(task)}")
    if len(task) and (int(task.min()) < 0 or int(task.max()) >= n_tasks):
        raise ValueError(f"task ids must lie in [0, n_tasks={n_tasks}), got range [{int(task.min())}, {int(task.max())}]")
    empty = torch.nonzero(torch.bincount(task, minlength=n_tasks)[:n_tasks] == 0).flatten().tolist()
    if empty:
        raise ValueError(f"subtasks {empty} have no inputs")


EVAL_ELEMENTS = 2**24
"""Rows times the widest layer that :func:`subtask_metrics`, :func:`unit_contributions` and :func:`walsh_gap` evaluate
at once: 8192 rows on 2048 units (the full preset's test split of 500 subtasks x 512 rows, evaluated at once on 2048 units,
added 4 GB of activations to a subtask loss measurement and 6 GB to a hidden progress one)."""


def _row_chunks(n_rows: int, row_elements: int, budget: int) -> Iterator[slice]:
    """Slices of ``range(n_rows)`` of ``max(1, budget // row_elements)`` rows (one empty slice when there is no row).

    Examples:
        >>> [range(5)[rows] for rows in _row_chunks(5, 3, 6)]   # 5 rows of 3 elements, at most 6 elements a chunk
        [range(0, 2), range(2, 4), range(4, 5)]
    """
    size = max(1, budget // max(1, row_elements))
    return (slice(start, start + size) for start in range(0, max(n_rows, 1), size))


def _widest(model: nn.Module) -> int:
    """The largest dimension of any parameter of ``model``: the elements one row's widest layer holds."""
    return max((max(p.shape) for p in model.parameters() if p.ndim), default=1)


def _subtask_sums(values_of: Callable[[slice], tuple[Tensor, ...]], task: Int[Tensor, " n"], n_tasks: int, row_elements: int) -> list[Tensor]:
    """Per-subtask sums ``(n_tasks, ...)`` of each per-row tensor ``values_of(rows)`` gives for a chunk of rows,
    added row after row in the order of the rows, as one ``index_add_`` over all rows adds them."""
    sums: list[Tensor] = []
    for rows in _row_chunks(len(task), row_elements, EVAL_ELEMENTS):
        values, ids = values_of(rows), task[rows]
        if not sums:
            sums = [torch.zeros((n_tasks, *v.shape[1:]), dtype=v.dtype, device=v.device) for v in values]
        for total, v in zip(sums, values):
            total.index_add_(0, ids, v)
    return sums


def hidden_and_readout(model: nn.Module, x: Float[Tensor, "n d_in"]) -> tuple[Float[Tensor, "n width"], Float[Tensor, " width"], Tensor]:
    """Hidden activations, each unit's weight on the logit difference ``z₁ − z₀`` and the output bias difference.

    Returns:
        ``(hidden (n, width), readout (width,), bias ())``: ``z₁ − z₀ = hidden @ readout + bias``.

    Examples:
        >>> from bridge.models import MLPConfig, build_model
        >>> net = build_model(MLPConfig(d_in=2, d_out=2, widths=(2,)), seed=0)   # set by hand: unit u reads input u; unit 0 pushes logit 1, unit 1 logit 0
        >>> with torch.no_grad(): _ = net.layers[0].weight.copy_(10 * torch.eye(2)), net.layers[1].weight.copy_(torch.eye(2).flip(0)), [layer.bias.zero_() for layer in net.layers]
        >>> [t.tolist() for t in hidden_and_readout(net, torch.eye(2))]
        [[[10.0, 0.0], [0.0, 10.0]], [1.0, -1.0], 0.0]
    """
    first, weight, out_bias = _layers(model)
    with torch.no_grad():
        hidden = _activation(model)(first(x))
        readout = weight[1] - weight[0]
        bias = out_bias[1] - out_bias[0]
    return hidden, readout, bias


def subtask_metrics(model: nn.Module, x: Float[Tensor, "n d_in"], y: Int[Tensor, " n"], task: Int[Tensor, " n"], n_tasks: int) -> tuple[Float[Tensor, " n_tasks"], Float[Tensor, " n_tasks"]]:
    """Cross-entropy and accuracy of each subtask over its rows of ``(x, y)``.

    Args:
        x: inputs ``(n, n_tasks + n_bits)``; y: labels ``(n,)``; task: subtask of each row ``(n,)``.

    Returns:
        ``(loss, accuracy)``, each ``(n_tasks,)``, float64 for a float64 model and float32 otherwise.

    Examples:
        >>> from bridge.models import MLPConfig, build_model
        >>> net = build_model(MLPConfig(d_in=2, d_out=2, widths=(2,)), seed=0)   # set by hand: unit u reads input u; unit 0 pushes logit 1, unit 1 logit 0
        >>> with torch.no_grad(): _ = net.layers[0].weight.copy_(10 * torch.eye(2)), net.layers[1].weight.copy_(torch.eye(2).flip(0)), [layer.bias.zero_() for layer in net.layers]
        >>> loss, acc = subtask_metrics(net, torch.eye(2), torch.tensor([1, 1]), torch.tensor([0, 1]), 2)   # subtask 1's label is wrong by a margin of 10
        >>> [round(v, 4) for v in loss.tolist()], acc.tolist()
        ([0.0, 10.0], [1.0, 0.0])
    """
    _check_rows(model, x, y)
    _check_subtasks(task, n_tasks, len(x))

    def values_of(rows: slice) -> tuple[Tensor, Tensor]:
        out = model(x[rows])
        loss = F.cross_entropy(at_least_float32(out), y[rows], reduction="none")
        return loss, (out.argmax(-1) == y[rows]).to(loss.dtype)  # a float64 model's accuracy in float64

    with torch.no_grad():
        loss, correct = _subtask_sums(values_of, task, n_tasks, _widest(model))  # the rows in chunks of EVAL_ELEMENTS
    count = torch.bincount(task, minlength=n_tasks)
    return loss / count.to(loss.dtype), correct / count.to(correct.dtype)


def unit_contributions(model: nn.Module, x: Float[Tensor, "n d_in"], task: Int[Tensor, " n"], n_tasks: int) -> Float[Tensor, "n_tasks width"]:
    """``c[k, u]``: mean over subtask ``k``'s inputs of ``|h_u(x) · (W₂[1, u] − W₂[0, u])|``.

    The size of unit ``u``'s push on the logit difference when subtask ``k`` is asked:
    the units that serve subtask ``k`` are those with large ``c[k, u]``.

    Examples:
        >>> from bridge.models import MLPConfig, build_model
        >>> net = build_model(MLPConfig(d_in=2, d_out=2, widths=(2,)), seed=0)   # set by hand: unit u reads input u; unit 0 pushes logit 1, unit 1 logit 0
        >>> with torch.no_grad(): _ = net.layers[0].weight.copy_(10 * torch.eye(2)), net.layers[1].weight.copy_(torch.eye(2).flip(0)), [layer.bias.zero_() for layer in net.layers]
        >>> unit_contributions(net, torch.eye(2), torch.tensor([0, 1]), 2).tolist()   # one unit per subtask
        [[10.0, 0.0], [0.0, 10.0]]
    """
    _layers(model)  # a one-hidden-layer network with two logits
    _check_rows(model, x)
    _check_subtasks(task, n_tasks, len(x))

    def push(rows: slice) -> tuple[Tensor]:
        hidden, readout, _ = hidden_and_readout(model, x[rows])
        return ((hidden * readout).abs(),)

    (total,) = _subtask_sums(push, task, n_tasks, _widest(model))  # the rows in chunks of EVAL_ELEMENTS
    return total / torch.bincount(task, minlength=n_tasks).to(total.dtype).clamp(min=1)[:, None]


def relevant_bit_share(first_weight: Float[Tensor, "width d_in"], contributions: Float[Tensor, "n_tasks width"], subtask_bits: Int[Tensor, "n_tasks k_bits"]) -> Float[Tensor, " n_tasks"]:
    """Hidden progress: share of the serving units' task-bit weight norm on each subtask's own bits.

    ``share[k] = Σ_u c[k,u] ‖W₁[u, S_k]‖² / Σ_u c[k,u] ‖W₁[u, bits]‖²`` with the units
    weighted by their contribution ``c`` (:func:`unit_contributions`). Chance (weights
    spread evenly over the bits) is ``k_bits / n_bits``; a unit computing the parity of
    ``S_k`` alone has share 1.

    Examples:
        >>> W = torch.tensor([[0.0, 1.0, 1.0, 0.0, 0.0], [0.0, 1.0, 1.0, 1.0, 1.0]])  # 1 control bit, 4 task bits
        >>> relevant_bit_share(W, torch.tensor([[1.0, 0.0]]), torch.tensor([[0, 1]])).tolist()
        [1.0]
        >>> relevant_bit_share(W, torch.tensor([[0.0, 1.0]]), torch.tensor([[0, 1]])).tolist()
        [0.5]
    """
    n_tasks = subtask_bits.shape[0]
    bits = first_weight[:, n_tasks:] ** 2  # (width, n_bits)
    relevant = bits[:, subtask_bits].sum(-1).T  # (n_tasks, width)
    total = bits.sum(-1)  # (width,)
    return (contributions * relevant).sum(-1) / (contributions * total).sum(-1).clamp(min=torch.finfo(bits.dtype).tiny)


def _walsh(bits: Float[Tensor, "n n_bits"], subsets: Int[Tensor, "m k"]) -> Float[Tensor, "n m"]:
    signs = 1.0 - 2.0 * bits  # 0 → +1, 1 → −1
    return signs[:, subsets].prod(-1)


def walsh_gap(
    model: nn.Module,
    x: Float[Tensor, "n d_in"],
    task: Int[Tensor, " n"],
    subtask_bits: Int[Tensor, "n_tasks k_bits"],
    max_subsets: int = 512,
    seed: int = 0,
) -> Float[Tensor, " n_tasks"]:
    """Walsh gap of each subtask: ``|f̂(S_k)| − max_{T ≠ S_k} |f̂(T)|`` over ``k_bits``-subsets ``T``.

    ``f`` is the logit difference on subtask ``k``'s inputs, standardised; ``f̂(T)`` is its
    correlation with the parity ``χ_T`` of the bits ``T``. The competitors are every other
    ``k_bits``-subset, or ``max_subsets`` drawn with ``seed`` when there are more. Positive once
    the output correlates with the right parity more than with any other. With ``k_bits = n_bits``
    there is no other subset and the gap is ``|f̂(S_k)|``.

    Args:
        x: inputs ``(n, n_tasks + n_bits)``; task: subtask of each row ``(n,)``.
        subtask_bits: ``(n_tasks, k_bits)`` the bits of each subtask's parity.

    Returns:
        ``(n_tasks,)`` gaps, in ``[-1, 1]``.

    Raises:
        ValueError: ``max_subsets < 1``, or task ids that are not one per row in ``[0, n_tasks)``.

    Examples:
        >>> from bridge.models import MLPConfig, build_model; from bridge.tasks import SparseParityConfig, make_task
        >>> data = make_task(SparseParityConfig(n_tasks=3, n_bits=6, k_bits=2, n_train=8, n_test_per_task=64), seed=0)
        >>> gap = walsh_gap(build_model(MLPConfig(d_in=9, d_out=2, widths=(16,)), seed=0), data.test.x, data.info["test_task"], data.info["subtask_bits"])
        >>> tuple(gap.shape), bool((gap < 0).all())   # untrained: no subtask's own parity stands out
        ((3,), True)
    """
    n_tasks, k = subtask_bits.shape
    if max_subsets < 1:
        raise ValueError(f"max_subsets must be at least 1, got {max_subsets}")
    _layers(model)  # a one-hidden-layer network with two logits
    _check_rows(model, x)
    _check_subtasks(task, n_tasks, len(x))
    bits = x[:, n_tasks:]
    n_bits = bits.shape[1]
    if math.comb(n_bits, k) <= max_subsets + 1:
        others = torch.tensor(list(itertools.combinations(range(n_bits), k)), dtype=torch.long)
    else:
        g = torch.Generator().manual_seed(seed)
        others = torch.stack([torch.randperm(n_bits, generator=g)[:k].sort().values for _ in range(max_subsets)])
    others = others.to(subtask_bits.device)  # drawn on the CPU (the same subsets on every device), compared with the subtasks' bits
    chunks = (hidden_and_readout(model, x[rows]) for rows in _row_chunks(len(x), _widest(model), EVAL_ELEMENTS))
    f = torch.cat([hidden @ readout + bias for hidden, readout, bias in chunks])  # (n,): the hidden layer of one chunk of rows at a time
    gaps = torch.empty(n_tasks, dtype=f.dtype, device=f.device)
    for t in range(n_tasks):
        rows = task == t
        ft = f[rows] - f[rows].mean()
        ft = ft / ft.norm().clamp(min=1e-12) * math.sqrt(len(ft))
        own = _walsh(bits[rows], subtask_bits[t : t + 1])[:, 0]
        own_bits = subtask_bits[t].sort().values
        keep = ~(others == own_bits).all(-1)
        rivals = others[keep]
        if len(rivals) == 0 and k < n_bits:  # every drawn competitor was this subtask's own subset: the first other subset stands in
            first = torch.arange(k)
            rivals = (first if not torch.equal(first, own_bits.cpu()) else torch.cat([torch.arange(k - 1), torch.tensor([k])]))[None].to(others.device)
        rival = ((ft @ _walsh(bits[rows], rivals)).abs() / len(ft)).max() if len(rivals) else 0.0  # k_bits = n_bits: no other subset
        gaps[t] = (ft @ own).abs() / len(ft) - rival
    return gaps


def unit_sharing(ranking: Int[Tensor, "n_tasks width"], needed: Int[Tensor, " n_tasks"]) -> dict[str, float]:
    """Do the subtasks need separate units? Over the subtasks that need some (``0 < needed ≤ width``).

    Returns:
        ``monogenic_share``: share of the needed units that serve exactly one subtask;
        ``units_per_subtask``: mean number of needed units; ``units_used``: distinct
        needed units; ``subtasks``: subtasks counted.

    Raises:
        ValueError: ``needed`` not one count per row of ``ranking`` (as :func:`probes.quanta_ablation.units_needed` gives them).

    Examples:
        >>> unit_sharing(torch.tensor([[0, 1, 2], [0, 2, 1]]), torch.tensor([1, 2]))
        {'monogenic_share': 0.5, 'units_per_subtask': 1.5, 'units_used': 2.0, 'subtasks': 2.0}
    """
    if ranking.ndim != 2 or tuple(needed.shape) != (ranking.shape[0],):
        raise ValueError(f"needed must hold one count per subtask (row) of ranking {tuple(ranking.shape)}, got needed of shape {tuple(needed.shape)}")
    width = ranking.shape[1]
    sets = [set(ranking[k, : int(m)].tolist()) for k, m in enumerate(needed) if 0 < int(m) <= width]
    if not sets:
        return {"monogenic_share": float("nan"), "units_per_subtask": float("nan"), "units_used": 0.0, "subtasks": 0.0}
    counts: dict[int, int] = {}
    for s in sets:
        for u in s:
            counts[u] = counts.get(u, 0) + 1
    mono = sum(1 for c in counts.values() if c == 1)
    return {"monogenic_share": mono / len(counts), "units_per_subtask": sum(map(len, sets)) / len(sets), "units_used": float(len(counts)), "subtasks": float(len(sets))}


def quanta_learned(losses: Float[Tensor, "... n_tasks"], threshold: float = 0.5 * math.log(2.0)) -> Int[Tensor, ...]:
    """Number of subtasks whose loss is below ``threshold`` (default: half of chance, ``ln 2 / 2``).

    Examples:
        >>> quanta_learned(torch.tensor([0.01, 0.2, 0.69])).item()
        2
    """
    return (losses < threshold).sum(-1)


__all__ = ["hidden_and_readout", "quanta_learned", "relevant_bit_share", "subtask_metrics", "unit_contributions", "unit_sharing", "walsh_gap"]
