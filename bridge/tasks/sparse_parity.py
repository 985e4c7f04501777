"""Multitask sparse parity (Michaud et al. 2023): Zipfian subtasks, each the parity of a few bits.

An input is ``n_tasks`` one-hot control bits followed by ``n_bits`` task bits
(all in {0, 1}); the control bit names subtask ``k``, whose label is the parity
of its own ``k_bits`` task bits (fixed per subtask, drawn by the seed).
Subtask ``k`` (0-based) is drawn with frequency ``∝ (k + 1)^{−(α+1)}``, so the
subtasks are the quanta of the quantization model, most frequent first.

Two regimes: the training split is a fixed set of ``n_train`` samples (the
data-limited regime, ``D = n_train``); for the online regime draw fresh
batches from ``info["sampler"]`` with a ``torch.Generator``. The test split is
``n_test_per_task`` samples of every subtask (``info["test_task"]`` says which).
Labels are class indices for a two-logit output (cross-entropy).

Examples:
    >>> from bridge.tasks import make_task
    >>> data = make_task(SparseParityConfig(n_tasks=4, n_bits=8, k_bits=2, n_train=64, n_test_per_task=5), seed=0)
    >>> tuple(data.train.x.shape), len(data.test), data.info["subtask_bits"].shape
    ((64, 12), 20, torch.Size([4, 2]))
    >>> bool((sparse_parity_labels(data.train.x, data.info["subtask_bits"]) == data.train.y).all())
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor

from bridge.config import config_class, require
from bridge.losses import at_least_float32
from bridge.seeding import derive_seed, generator
from bridge.tasks.base import TASKS, Split, TaskData
from bridge.tasks.memory import check_memory, sized
from bridge.tasks.rows import OneHotBitRows, pack_bits

SAMPLE_CHUNK = 1 << 16  # rows drawn at a time (their 100 bits as uint8: 6.5 MB)


def _comb_beyond(n: int, k: int, bound: int) -> int:
    """``comb(n, k)`` when it is at most ``bound``, else some number above ``bound`` (found in a few steps, however large ``n``).

    Examples:
        >>> _comb_beyond(4, 2, 10), _comb_beyond(2**62, 2**61, 5) > 5
        (6, True)
    """
    count = 1
    for i in range(min(k, n - k)):  # count = comb(n, i + 1) after step i, increasing up to k = n / 2
        count = count * (n - i) // (i + 1)
        if count > bound:
            break
    return count


@config_class("multitask_sparse_parity")
@dataclass(frozen=True)
class SparseParityConfig:
    """Sizes and frequencies of the multitask sparse parity task.

    Args:
        n_tasks: number of subtasks (control bits).
        n_bits: number of task bits ``n``.
        k_bits: bits per subtask's parity.
        alpha: Zipf exponent; subtask ``k`` has frequency ``∝ (k + 1)^{−(α+1)}``.
        n_train: size ``D`` of the fixed training set.
        n_test_per_task: test samples of each subtask.

    Examples:
        >>> SparseParityConfig(n_tasks=6, n_bits=4, k_bits=2).n_tasks   # C(4, 2) = 6 subsets: just enough
        6
        >>> SparseParityConfig(n_tasks=10, n_bits=4, k_bits=2)
        Traceback (most recent call last):
        ...
        bridge.config.ConfigError: multitask_sparse_parity.n_tasks=10 needs as many distinct subsets of k_bits=2 of the n_bits=4 bits, and there are only 6
    """

    n_tasks: int = 100
    n_bits: int = 50
    k_bits: int = 3
    alpha: float = 0.4
    n_train: int = 100_000
    n_test_per_task: int = 256

    def __post_init__(self) -> None:
        for name in ("n_tasks", "n_bits", "k_bits", "n_train", "n_test_per_task"):
            value = getattr(self, name)
            require(isinstance(value, int) and value >= 1, f"multitask_sparse_parity.{name} must be a positive integer, got {value!r}")
        require(self.k_bits <= self.n_bits, f"multitask_sparse_parity.k_bits ({self.k_bits}) exceeds n_bits ({self.n_bits})")
        subsets = _comb_beyond(self.n_bits, self.k_bits, self.n_tasks)
        require(subsets >= self.n_tasks, f"multitask_sparse_parity.n_tasks={self.n_tasks} needs as many distinct subsets of k_bits={self.k_bits} of the n_bits={self.n_bits} bits, and there are only {subsets}")
        require(self.alpha >= 0, f"multitask_sparse_parity.alpha must be >= 0, got {self.alpha}")


def zipf_weights(n_tasks: int, alpha: float) -> Float[Tensor, " n_tasks"]:
    """``(k + 1)^{−(α+1)}`` normalised to sum 1, float64.

    Examples:
        >>> zipf_weights(2, 1.0).tolist()
        [0.8, 0.2]
    """
    w = torch.arange(1, n_tasks + 1, dtype=torch.float64) ** -(alpha + 1.0)
    return w / w.sum()


def sparse_parity_labels(x: Float[Tensor, "n features"], subtask_bits: Int[Tensor, "n_tasks k_bits"]) -> Int[Tensor, " n"]:
    """The label of each row: parity of the bits of the subtask its control bits name.

    Args:
        x: rows ``[one-hot control (n_tasks) | task bits (n_bits)]``.
        subtask_bits: each subtask's bit indices (into the task bits).

    Examples:
        >>> x = torch.tensor([[1.0, 0.0, 1.0, 1.0, 0.0], [0.0, 1.0, 1.0, 1.0, 0.0]])
        >>> sparse_parity_labels(x, torch.tensor([[0, 1], [1, 2]])).tolist()
        [0, 1]
    """
    n_tasks = subtask_bits.shape[0]
    task = x[:, :n_tasks].argmax(-1)
    bits = x[:, n_tasks:].round().long()
    return bits.gather(1, subtask_bits[task]).sum(-1) % 2


@dataclass(frozen=True)
class SparseParitySampler:
    """Fresh samples of the task, for the online regime.

    Attributes:
        subtask_bits: ``(n_tasks, k_bits)`` bit indices of each subtask.
        frequencies: ``(n_tasks,)`` subtask probabilities.
        n_bits: number of task bits.

    Examples:
        >>> sampler = SparseParitySampler(torch.tensor([[0, 1], [1, 2]]), torch.tensor([0.5, 0.5]), n_bits=3)
        >>> x, y, task = sampler.sample(4, torch.Generator().manual_seed(0))
        >>> tuple(x.shape), tuple(y.shape), bool((sparse_parity_labels(x, sampler.subtask_bits) == y).all())
        ((4, 5), (4,), True)
    """

    subtask_bits: Tensor
    frequencies: Tensor
    n_bits: int

    def sample(self, batch: int, g: torch.Generator, task: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """``(x (batch, n_tasks + n_bits) float, y (batch,) long, task (batch,) long)``.

        Subtasks are drawn from ``frequencies`` unless ``task`` (``(batch,)``) fixes them.
        """
        rows, y, task = self.sample_rows(batch, g, task)
        return rows[:], y, task

    def sample_rows(self, batch: int, g: torch.Generator, task: Tensor | None = None) -> tuple[OneHotBitRows, Tensor, Tensor]:
        """What :meth:`sample` draws (the same rows from the same generator), its inputs held compactly
        (:class:`~bridge.tasks.rows.OneHotBitRows`, 8 bytes and ``ceil(n_bits / 8)`` bytes a row), drawn
        ``SAMPLE_CHUNK`` rows at a time.

        Examples:
            >>> sampler = SparseParitySampler(torch.tensor([[0, 1], [1, 2]]), torch.tensor([0.5, 0.5]), n_bits=3)
            >>> rows, y, task = sampler.sample_rows(4, torch.Generator().manual_seed(0))
            >>> x, _, _ = sampler.sample(4, torch.Generator().manual_seed(0))
            >>> bool(torch.equal(rows[:], x)), rows.nbytes   # 4 rows of 8 + 1 bytes
            (True, 36)
        """
        if task is None:
            task = torch.multinomial(self.frequencies, batch, replacement=True, generator=g)
        n_tasks = self.subtask_bits.shape[0]
        y = torch.empty(batch, dtype=torch.long)
        packed = torch.empty(batch, -(-self.n_bits // 8), dtype=torch.uint8)
        for start in range(0, batch, SAMPLE_CHUNK):  # the generator's stream is the same drawn in chunks or at once
            rows = task[start : start + SAMPLE_CHUNK]
            bits = torch.randint(0, 2, (len(rows), self.n_bits), generator=g, dtype=torch.uint8)
            y[start : start + len(rows)] = bits.gather(1, self.subtask_bits[rows]).sum(-1) % 2
            packed[start : start + len(rows)] = pack_bits(bits)
        return OneHotBitRows(task, packed, n_tasks, self.n_bits), y, task


def draw_subtask_bits(n_tasks: int, n_bits: int, k_bits: int, g: torch.Generator) -> Int[Tensor, "n_tasks k_bits"]:
    """Distinct sorted ``k_bits``-subsets of ``range(n_bits)``, one per subtask; shape ``(n_tasks, k_bits)``.

    Examples:
        >>> bits = draw_subtask_bits(3, 5, 2, torch.Generator().manual_seed(0))
        >>> tuple(bits.shape), len({tuple(b) for b in bits.tolist()}), bool((bits[:, 0] < bits[:, 1]).all())
        ((3, 2), 3, True)
    """
    chosen: list[tuple[int, ...]] = []
    seen: set[tuple[int, ...]] = set()
    while len(chosen) < n_tasks:
        s = tuple(sorted(torch.randperm(n_bits, generator=g)[:k_bits].tolist()))
        if s not in seen:
            seen.add(s)
            chosen.append(s)
    return torch.tensor(chosen, dtype=torch.long)


def _cross_entropy(logits: Tensor, target: Tensor) -> Tensor:
    return F.cross_entropy(at_least_float32(logits), target)


def sparse_parity_test(config: SparseParityConfig, seed: int) -> tuple[Split, dict[str, Any]]:
    """The test split and ``info`` of :func:`make_sparse_parity` without drawing its training set
    (``info`` has no ``train_task``): what reading the test split of a run needs.

    Examples:
        >>> cfg = SparseParityConfig(n_tasks=2, n_bits=6, k_bits=2, n_train=40, n_test_per_task=3)
        >>> test, info = sparse_parity_test(cfg, seed=0)
        >>> bool(torch.equal(test.x, make_sparse_parity(cfg, seed=0).test.x)), "train_task" in info
        (True, False)
    """
    check_memory(config)
    bits = draw_subtask_bits(config.n_tasks, config.n_bits, config.k_bits, generator(derive_seed(seed, "sparse_parity", "bits")))
    freqs = zipf_weights(config.n_tasks, config.alpha)
    sampler = SparseParitySampler(bits, freqs, config.n_bits)
    test_task = torch.arange(config.n_tasks).repeat_interleave(config.n_test_per_task)
    x_test, y_test, _ = sampler.sample(len(test_task), generator(derive_seed(seed, "sparse_parity", "test")), task=test_task)
    info = {"subtask_bits": bits, "frequencies": freqs, "alpha": config.alpha, "n_tasks": config.n_tasks, "n_bits": config.n_bits, "k_bits": config.k_bits, "test_task": test_task, "sampler": sampler}
    return Split(x_test, y_test), info


@sized("multitask_sparse_parity")
def _sparse_parity_bytes(c: SparseParityConfig) -> tuple[dict, int]:
    """The dense test rows (decoded from their bits), the compact training rows (index, label, packed bits), a chunk
    of bits drawn at a time and the subsets."""
    n_test = c.n_tasks * c.n_test_per_task
    chunk = min(max(c.n_train, n_test), SAMPLE_CHUNK)
    need = 8 * n_test * (c.n_tasks + c.n_bits) + c.n_train * (16 + -(-c.n_bits // 8)) + 3 * chunk * c.n_bits + 8 * (c.n_tasks * c.k_bits + c.n_bits)
    return {"n_tasks": c.n_tasks, "n_bits": c.n_bits, "n_train": c.n_train, "n_test_per_task": c.n_test_per_task}, need


@TASKS.register("multitask_sparse_parity")
def make_sparse_parity(config: SparseParityConfig, seed: int) -> TaskData:
    """The fixed training set and per-subtask test sets.

    ``info``: ``subtask_bits`` ``(n_tasks, k_bits)``, ``frequencies`` ``(n_tasks,)``,
    ``alpha``, ``n_tasks``, ``n_bits``, ``k_bits``, ``train_task`` / ``test_task``
    (subtask of each row) and ``sampler`` (a :class:`SparseParitySampler`). Splits: ``x``
    ``(n, n_tasks + n_bits)`` float, ``y`` ``(n,)`` long; the training inputs are held compactly
    (:class:`~bridge.tasks.rows.OneHotBitRows`: 8 + ``ceil(n_bits / 8)`` bytes a row, the subtask
    index shared with ``train_task``) and decoded as they are indexed, the test inputs dense.

    Examples:
        >>> data = make_sparse_parity(SparseParityConfig(n_tasks=2, n_bits=6, k_bits=2, alpha=1.0, n_train=40, n_test_per_task=3), seed=0)
        >>> tuple(data.train.x.shape), tuple(data.train.y.shape), data.info["test_task"].tolist()
        ((40, 8), (40,), [0, 0, 0, 1, 1, 1])
        >>> data.train.x.nbytes, data.train.x[:2].dtype   # 40 rows of 8 + 1 bytes
        (360, torch.float32)
        >>> data.info["frequencies"].tolist()   # ∝ 1, 1/4
        [0.8, 0.2]
    """
    test, info = sparse_parity_test(config, seed)
    x, y, train_task = info["sampler"].sample_rows(config.n_train, generator(derive_seed(seed, "sparse_parity", "train")))
    info = {**info, "train_task": train_task}
    return TaskData(Split(x, y), test, _cross_entropy, info)


__all__ = ["SparseParityConfig", "SparseParitySampler", "draw_subtask_bits", "make_sparse_parity", "sparse_parity_labels", "sparse_parity_test", "zipf_weights"]
