"""Modular arithmetic ``a ∘ b mod p`` as 3-token sequences "a b =" (Power et al. 2022).

Tokens ``0 … p-1`` are the residues and token ``p`` is "="; the model reads
``[a, b, p]`` and its last-position logits over the ``p`` residues are trained
with ``cross_entropy_last``. All ``p²`` pairs are split once, by a seeded
permutation, into a training fraction and a held-out test set.

A second encoding, ``encoding="onehot"``, gives the concatenated one-hots of
``a`` and ``b`` (``2p`` inputs) for the two-layer MLPs of the theory.

Examples:
    >>> from bridge.tasks import make_task
    >>> from bridge.tasks.modular import ModularConfig
    >>> data = make_task(ModularConfig(p=7, op="+", train_fraction=0.5), seed=0)
    >>> tuple(data.train.x.shape), data.train.x[0, 2].item(), len(data.train) + len(data.test)
    ((24, 3), 7, 49)
    >>> bool(((data.train.x[:, 0] + data.train.x[:, 1]) % 7 == data.train.y).all())
    True
"""

from __future__ import annotations

from dataclasses import dataclass

import einops
import torch
from jaxtyping import Int
from torch import Tensor

from bridge.config import config_class, require
from bridge.losses import at_least_float32
from bridge.seeding import derive_seed, generator
from bridge.tasks.base import TASKS, Split, TaskData
from bridge.tasks.memory import check_memory, sized

OPS = ("+", "-", "*")
ENCODINGS = ("tokens", "onehot")


def _is_prime(n: int) -> bool:
    """Whether ``n`` is prime: Miller–Rabin with the first twelve primes as bases, exact below 3·10²⁴ (every 64-bit ``n``).

    Examples:
        >>> [k for k in range(30) if _is_prime(k)], _is_prime(2**61 - 1), _is_prime(2**61 + 1)
        ([2, 3, 5, 7, 11, 13, 17, 19, 23, 29], True, False)
    """
    bases = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37)
    if n < 2 or any(n % b == 0 for b in bases):
        return n in bases
    odd, twos = n - 1, 0
    while odd % 2 == 0:
        odd, twos = odd // 2, twos + 1
    for b in bases:
        x = pow(b, odd, n)
        if x not in (1, n - 1) and all((x := x * x % n) != n - 1 for _ in range(twos - 1)):
            return False
    return True


@config_class("modular")
@dataclass(frozen=True)
class ModularConfig:
    """``c = a ∘ b mod p`` over all pairs ``(a, b)``.

    Args:
        p: the modulus (a prime, so that every residue but 0 is invertible).
        op: ``"+"``, ``"-"`` or ``"*"``.
        train_fraction: share of the ``p²`` pairs in the training split, in (0, 1].
        encoding: ``"tokens"`` (``[a, b, p]`` long tensor, loss
            ``cross_entropy_last``) or ``"onehot"`` (``[onehot(a), onehot(b)]``
            float tensor of width ``2p``, loss ``cross_entropy``).
        random_labels: control: every pair gets a uniformly random label
            (memorisable, nothing to generalise).
        template_frequencies, template_magnitudes: when given, a regression
            variant for the theory of feature learning: the target of pair
            ``(a, b)`` is the vector ``y_c = Σ_k m_k cos(2πk(a∘b − c)/p)``
            over outputs ``c`` (loss ``mse``), whose Fourier coefficient at
            frequency ``k`` has magnitude ``m_k`` (a one-hot target has all
            ``m_k`` equal).

    Examples:
        >>> ModularConfig(p=5, template_frequencies=[1], template_magnitudes=[2.0]).regression
        True
        >>> ModularConfig(p=6)
        Traceback (most recent call last):
        ...
        bridge.config.ConfigError: modular.p must be a prime, got 6
    """

    p: int = 59
    op: str = "+"
    train_fraction: float = 0.4
    encoding: str = "tokens"
    random_labels: bool = False
    template_frequencies: tuple[int, ...] = ()
    template_magnitudes: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        for name in ("template_frequencies", "template_magnitudes"):
            if isinstance(getattr(self, name), list):
                object.__setattr__(self, name, tuple(getattr(self, name)))
        require(isinstance(self.p, int) and _is_prime(self.p), f"modular.p must be a prime, got {self.p!r}")
        require(self.op in OPS, f"modular.op must be one of {OPS}, got {self.op!r}")
        require(0 < self.train_fraction <= 1, f"modular.train_fraction must be in (0, 1], got {self.train_fraction}")
        require(self.encoding in ENCODINGS, f"modular.encoding must be one of {ENCODINGS}, got {self.encoding!r}")
        freqs, mags = self.template_frequencies, self.template_magnitudes
        require(len(freqs) == len(mags), f"modular.template_frequencies and template_magnitudes differ in length: {len(freqs)} vs {len(mags)}")
        top = (self.p - 1) // 2  # p = 2 has no frequency but 0, the mean
        within = f"distinct in 1..{top}" if top >= 1 else f"empty for p={self.p}, which has no non-zero frequency below p/2"
        require(all(1 <= k <= top for k in freqs) and len(set(freqs)) == len(freqs), f"modular.template_frequencies must be {within}, got {freqs}")
        require(all(m > 0 for m in mags), f"modular.template_magnitudes must be positive, got {mags}")
        require(not (freqs and self.random_labels), f"modular.random_labels cannot be True with template_frequencies {freqs}: a template target has no labels to randomise")

    @property
    def regression(self) -> bool:
        """Whether targets are template vectors (MSE) rather than class labels."""
        return bool(self.template_frequencies)


def modular_table(p: int, op: str) -> Int[Tensor, "p p"]:
    """``table[a, b] = a ∘ b mod p``.

    Examples:
        >>> modular_table(5, "-")[1, 3].item()
        3
    """
    if op not in OPS:
        raise ValueError(f"op must be one of {OPS}, got {op!r}")
    a = torch.arange(p)[:, None]
    b = torch.arange(p)[None, :]
    out = {"+": a + b, "-": a - b, "*": a * b}[op]
    return out % p


def all_pairs(p: int) -> Int[Tensor, "pairs 2"]:
    """Every ``(a, b)``, row ``a·p + b``; shape ``(p², 2)``.

    Examples:
        >>> all_pairs(3)[[0, 1, 5]].tolist()   # rows 0, 1 and 1·3 + 2
        [[0, 0], [0, 1], [1, 2]]
    """
    a, b = torch.meshgrid(torch.arange(p), torch.arange(p), indexing="ij")
    return einops.rearrange([a, b], "operand a b -> (a b) operand")


def encode_pairs(pairs: Int[Tensor, "n 2"], p: int, encoding: str = "tokens") -> Tensor:
    """``[a, b, p]`` tokens ``(n, 3)`` or concatenated one-hots ``(n, 2p)`` of the ``(n, 2)`` ``pairs``.

    Examples:
        >>> encode_pairs(torch.tensor([[1, 2]]), 3).tolist(), encode_pairs(torch.tensor([[1, 2]]), 3, "onehot").tolist()
        ([[1, 2, 3]], [[0.0, 1.0, 0.0, 0.0, 0.0, 1.0]])
    """
    if encoding == "tokens":
        return torch.cat([pairs, torch.full((pairs.shape[0], 1), p, dtype=pairs.dtype)], dim=1)
    if encoding == "onehot":
        eye = torch.eye(p)
        return torch.cat([eye[pairs[:, 0]], eye[pairs[:, 1]]], dim=1)
    raise ValueError(f"encoding must be one of {ENCODINGS}, got {encoding!r}")


def template_targets(values: Int[Tensor, " n"], p: int, freqs: tuple[int, ...], mags: tuple[float, ...]) -> Tensor:
    """``y[n, c] = Σ_k m_k cos(2πk(values[n] − c)/p)``, shape ``(n, p)``.

    Examples:
        >>> template_targets(torch.tensor([0]), 5, (1,), (2.0,))[0, 0].item()
        2.0
    """
    import math

    c = torch.arange(p, dtype=torch.float64)[None, :]
    v = values.to(torch.float64)[:, None]
    out = torch.zeros(values.shape[0], p, dtype=torch.float64)
    for k, m in zip(freqs, mags):
        out += m * torch.cos(2 * math.pi * k * (v - c) / p)
    return out.float()


def _cross_entropy(logits: Tensor, target: Tensor) -> Tensor:
    return torch.nn.functional.cross_entropy(at_least_float32(logits), target)


def _mse_last(logits: Tensor, target: Tensor) -> Tensor:
    if logits.ndim != 3 or logits.shape[0] != target.shape[0] or logits.shape[-1:] != target.shape[-1:]:
        raise ValueError(f"the template loss needs last-position logits of the p={target.shape[-1]} residues, (n, pos, {target.shape[-1]}), "
                         f"for targets {tuple(target.shape)}, got logits {tuple(logits.shape)}")
    return ((logits[:, -1, :] - target) ** 2).mean()


@sized("modular")
def _modular_bytes(c: ModularConfig) -> tuple[dict, int]:
    """The ``p²`` pairs as integers (pairs, table, labels, split indices, tokens); one-hot rows (``2p`` floats a pair) or
    template vectors (``p`` doubles a pair and their temporaries) when asked for."""
    p2 = c.p**2
    need = 128 * p2 + (24 * c.p * p2 if c.encoding == "onehot" else 0) + (40 * c.p * p2 if c.template_frequencies else 0)
    return {"p": c.p, "encoding": c.encoding, "template_frequencies": c.template_frequencies}, need


@TASKS.register("modular")
def make_modular(config: ModularConfig, seed: int) -> TaskData:
    """The split task; ``info`` holds ``p``, ``op``, ``train_index``/``test_index`` (rows ``a·p + b``) and the table.

    Splits: ``x`` as :func:`encode_pairs`; ``y`` ``(n,)`` labels, or ``(n, p)`` template vectors.

    Examples:
        >>> data = make_modular(ModularConfig(p=5, op="*", train_fraction=0.6), seed=0)
        >>> tuple(data.train.x.shape), tuple(data.test.x.shape), data.loss, data.info["table"][2, 3].item()   # 2·3 ≡ 1
        ((15, 3), (10, 3), 'cross_entropy_last', 1)
        >>> bool((data.train.x[:, 0] * data.train.x[:, 1] % 5 == data.train.y).all())
        True
    """
    check_memory(config)
    g = generator(derive_seed(seed, "modular", "split"))
    p = config.p
    pairs = all_pairs(p)
    labels = einops.rearrange(modular_table(p, config.op), "a b -> (a b)")
    if config.random_labels:
        labels = torch.randint(0, p, (p * p,), generator=generator(derive_seed(seed, "modular", "labels")))
    perm = torch.randperm(p * p, generator=g)
    n_train = max(1, round(config.train_fraction * p * p))
    train_index, test_index = perm[:n_train].sort().values, perm[n_train:].sort().values
    x = encode_pairs(pairs, p, config.encoding)
    targets = template_targets(labels, p, config.template_frequencies, config.template_magnitudes) if config.regression else labels
    train = Split(x[train_index], targets[train_index])
    test = Split(x[test_index], targets[test_index]) if len(test_index) else None
    if config.regression:
        loss = "mse" if config.encoding == "onehot" else _mse_last
    else:
        loss = "cross_entropy_last" if config.encoding == "tokens" else _cross_entropy
    info = {
        "p": p,
        "op": config.op,
        "train_index": train_index,
        "test_index": test_index,
        "table": einops.rearrange(labels, "(a b) -> a b", a=p, b=p),
        "encoding": config.encoding,
        "random_labels": config.random_labels,
        "template": dict(zip(config.template_frequencies, config.template_magnitudes)),
    }
    return TaskData(train, test, loss, info)


__all__ = ["ENCODINGS", "OPS", "ModularConfig", "all_pairs", "encode_pairs", "make_modular", "modular_table", "template_targets"]
