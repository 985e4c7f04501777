"""Token sequences with a repeated random segment: the induction-head task.

Each sequence is a non-repeating prefix of ``P`` tokens followed by a block of
``B`` distinct tokens repeated until the context is full; ``P`` and ``B`` are
drawn per sequence, so a model cannot predict the repeats from position alone
(with a fixed "second half repeats the first half" layout a small transformer
solves the task by position lookup and never forms an induction head). All
tokens of the prefix and the block are distinct, so "the earlier occurrence of
the current token" is unique within the first repeat.

The ``off_position`` evaluation set (in ``info``) uses prefix and block
lengths outside the training ranges: a model that really does induction is as
good there as on the test split.

With ``background="bigram"`` the prefix and the first copy of the block are
drawn from a seeded Markov chain (rows of the transition matrix are Dirichlet
with concentration ``bigram_concentration``), so a bigram statistic is there to
learn before the repeats are.

Examples:
    >>> from bridge.tasks import make_task
    >>> from bridge.tasks.repeated_tokens import RepeatedTokensConfig
    >>> data = make_task(RepeatedTokensConfig(d_vocab=16, n_ctx=12, n_train=8, n_test=4,
    ...                                       prefix=(0, 2), block=(3, 5), off_prefix=(3, 4), off_block=(3, 4)), seed=0)
    >>> tuple(data.train.x.shape), data.loss
    ((8, 12), 'cross_entropy_next')
    >>> bool(repeated_targets(data.test.x).any())
    True
"""

from __future__ import annotations

from dataclasses import dataclass

import einops
import torch
import torch.nn.functional as F
from jaxtyping import Bool, Float, Int
from torch import Tensor

from bridge.config import config_class, require
from bridge.losses import at_least_float32
from bridge.seeding import derive_seed, generator
from bridge.tasks.base import TASKS, Split, TaskData
from bridge.tasks.memory import check_memory, sized

BACKGROUNDS = ("uniform", "bigram")


@config_class("repeated_tokens")
@dataclass(frozen=True)
class RepeatedTokensConfig:
    """Layout and sizes of the repeated-segment sequences.

    Args:
        d_vocab: vocabulary size ``V``.
        n_ctx: sequence length.
        prefix: inclusive range ``(lo, hi)`` of the non-repeating prefix length ``P``.
        block: inclusive range of the repeated block length ``B`` (the period).
        n_train: training sequences (minibatches are drawn from these by index).
        n_test: test sequences (same distribution as training).
        n_off: sequences of the off-position evaluation set.
        off_prefix, off_block: prefix and block ranges of the off-position set.
        background: ``"uniform"`` tokens or a ``"bigram"`` Markov chain.
        bigram_concentration: Dirichlet concentration of the chain's rows (small = peaked).

    Examples:
        >>> RepeatedTokensConfig(d_vocab=16, n_ctx=12, prefix=[0, 2], block=(3, 5), off_prefix=(3, 4), off_block=(3, 4)).prefix
        (0, 2)
        >>> RepeatedTokensConfig(d_vocab=8, n_ctx=32)
        Traceback (most recent call last):
        ...
        bridge.config.ConfigError: repeated_tokens: prefix + block of up to 24 distinct tokens need d_vocab >= that, got 8
    """

    d_vocab: int = 64
    n_ctx: int = 32
    prefix: tuple[int, int] = (0, 8)
    block: tuple[int, int] = (4, 16)
    n_train: int = 131072
    n_test: int = 512
    n_off: int = 512
    off_prefix: tuple[int, int] = (9, 16)
    off_block: tuple[int, int] = (4, 8)
    background: str = "uniform"
    bigram_concentration: float = 0.3

    def __post_init__(self) -> None:
        for name in ("prefix", "block", "off_prefix", "off_block"):
            value = getattr(self, name)
            if isinstance(value, list):
                object.__setattr__(self, name, tuple(value))
                value = tuple(value)
            require(len(value) == 2 and 0 <= value[0] <= value[1], f"repeated_tokens.{name} must be (lo, hi) with 0 <= lo <= hi, got {value}")
        for name in ("block", "off_block"):
            require(getattr(self, name)[0] >= 2, f"repeated_tokens.{name}: blocks need at least 2 tokens, got {getattr(self, name)}")
        for pn, bn in (("prefix", "block"), ("off_prefix", "off_block")):
            p, b = getattr(self, pn), getattr(self, bn)
            require(p[1] + b[1] + 2 <= self.n_ctx, f"repeated_tokens.{pn} {p} and {bn} {b} leave no repeated target in n_ctx={self.n_ctx}")
            require(p[1] + b[1] <= self.d_vocab, f"repeated_tokens: {pn} + {bn} of up to {p[1] + b[1]} distinct tokens need d_vocab >= that, got {self.d_vocab}")
        for name in ("n_train", "n_test", "n_off"):
            require(getattr(self, name) > 0, f"repeated_tokens.{name} must be positive, got {getattr(self, name)}")
        require(self.background in BACKGROUNDS, f"repeated_tokens.background must be one of {BACKGROUNDS}, got {self.background!r}")
        require(self.bigram_concentration > 0, f"repeated_tokens.bigram_concentration must be positive, got {self.bigram_concentration}")


def _distinct_uniform(n: int, k: int, d_vocab: int, g: torch.Generator, max_elements: int = 1 << 24) -> Int[Tensor, "n k"]:
    """``k`` distinct uniformly random tokens per row (random keys sorted, in row chunks of bounded size)."""
    rows = max(1, max_elements // d_vocab)
    return torch.cat([torch.rand(min(rows, n - i), d_vocab, generator=g).argsort(dim=1)[:, :k] for i in range(0, n, rows)])


def _distinct_markov(n: int, k: int, transition: Tensor, g: torch.Generator) -> Int[Tensor, "n k"]:
    """``k`` distinct tokens per row from a Markov chain, each step renormalised over unused tokens.

    A row of the chain with no mass left on the unused tokens (a peaked chain: small Dirichlet
    concentrations put exact zeros in it) draws the next token uniformly from the unused ones.
    """
    d_vocab = transition.shape[0]
    used = torch.zeros(n, d_vocab, dtype=torch.bool)
    out = torch.empty(n, k, dtype=torch.long)
    probs = torch.full((n, d_vocab), 1.0 / d_vocab)
    for i in range(k):
        p = probs.masked_fill(used, 0.0)
        p = torch.where(p.sum(1, keepdim=True) > 0, p, (~used).to(p.dtype))
        tok = torch.multinomial(p / p.sum(1, keepdim=True), 1, generator=g).squeeze(1)
        out[:, i] = tok
        used[torch.arange(n), tok] = True
        probs = transition[tok]
    return out


def bigram_matrix(config: RepeatedTokensConfig, seed: int) -> Tensor:
    """The background chain's ``(V, V)`` row-stochastic transition matrix (Dirichlet rows).

    Examples:
        >>> m = bigram_matrix(RepeatedTokensConfig(d_vocab=8, n_ctx=12, prefix=(0, 2), block=(2, 4), off_prefix=(0, 2), off_block=(2, 4)), seed=0)
        >>> tuple(m.shape), bool(torch.allclose(m.sum(1), torch.ones(8)))
        ((8, 8), True)
    """
    g = generator(derive_seed(seed, "bigram"))
    gamma = torch._standard_gamma(torch.full((config.d_vocab, config.d_vocab), config.bigram_concentration, dtype=torch.float64), generator=g)
    return (gamma / gamma.sum(1, keepdim=True)).float()


def repeated_sequences(
    n: int, n_ctx: int, prefix: Int[Tensor, " n"], period: Int[Tensor, " n"], d_vocab: int, g: torch.Generator, transition: Tensor | None = None
) -> Int[Tensor, "n n_ctx"]:
    """Sequences ``prefix tokens | block | block | ...`` with all prefix and block tokens distinct.

    Args:
        n, n_ctx: number and length of the sequences.
        prefix, period: ``(n,)`` prefix lengths ``P`` and block lengths ``B``.
        d_vocab: vocabulary size.
        g: the generator to draw tokens from.
        transition: optional ``(V, V)`` Markov chain for the distinct tokens.

    Returns:
        ``(n, n_ctx)`` long tokens.

    Examples:
        >>> s = repeated_sequences(2, 8, torch.tensor([0, 2]), torch.tensor([3, 2]), 10, torch.Generator().manual_seed(0))
        >>> tuple(s.shape), bool(torch.equal(s[0, 3:], s[0, :5])), bool(torch.equal(s[1, 4:], s[1, 2:6]))   # period 3; prefix 2, period 2
        ((2, 8), True, True)
    """
    k = int((prefix + period).max())
    fresh = _distinct_uniform(n, k, d_vocab, g) if transition is None else _distinct_markov(n, k, transition, g)
    j = torch.arange(n_ctx)[None, :]
    p, b = prefix[:, None], period[:, None]
    index = torch.where(j < p, j, p + (j - p) % b)
    return fresh.gather(1, index)


def _draw(n: int, config: RepeatedTokensConfig, prefix_range: tuple[int, int], block_range: tuple[int, int], g: torch.Generator, transition: Tensor | None) -> tuple[Int[Tensor, "n n_ctx"], Int[Tensor, " n"], Int[Tensor, " n"]]:
    prefix = torch.randint(prefix_range[0], prefix_range[1] + 1, (n,), generator=g)
    period = torch.randint(block_range[0], block_range[1] + 1, (n,), generator=g)
    return repeated_sequences(n, config.n_ctx, prefix, period, config.d_vocab, g, transition), prefix, period


def seen_before(tokens: Int[Tensor, "batch pos"]) -> Bool[Tensor, "batch pos"]:
    """``True`` at position ``j`` when ``tokens[j]`` occurs at an earlier position of its sequence.

    Examples:
        >>> seen_before(torch.tensor([[5, 1, 2, 3, 1, 2, 3]])).int().tolist()
        [[0, 0, 0, 0, 1, 1, 1]]
    """
    eq = tokens[:, :, None] == tokens[:, None, :]
    return (eq & torch.ones(tokens.shape[1], tokens.shape[1], dtype=torch.bool, device=tokens.device).tril(-1)).any(-1)


def repeated_targets(tokens: Int[Tensor, "batch pos"]) -> Bool[Tensor, "batch pos"]:
    """Targets an induction head can predict: the token at ``j`` and its predecessor both occurred before.

    Examples:
        >>> repeated_targets(torch.tensor([[5, 1, 2, 3, 1, 2, 3]])).int().tolist()
        [[0, 0, 0, 0, 0, 1, 1]]
    """
    seen = seen_before(tokens)
    out = seen.clone()
    out[:, 1:] &= seen[:, :-1]
    out[:, 0] = False
    return out


def first_occurrences(tokens: Int[Tensor, "batch pos"]) -> Bool[Tensor, "batch pos"]:
    """Targets seen for the first time (position 0 excluded: it is never a target); ``(batch, pos)`` bool.

    Examples:
        >>> first_occurrences(torch.tensor([[5, 1, 2, 3, 1, 2, 3]])).int().tolist()
        [[0, 1, 1, 1, 0, 0, 0]]
    """
    out = ~seen_before(tokens)
    out[:, 0] = False
    return out


def next_token_losses(logits: Float[Tensor, "batch pos vocab"], tokens: Int[Tensor, "batch pos"]) -> Float[Tensor, "batch pos"]:
    """Per-target cross-entropy: entry ``j`` is the loss of predicting ``tokens[:, j]`` (column 0 is NaN).

    Examples:
        >>> losses = next_token_losses(torch.zeros(1, 3, 4), torch.tensor([[0, 1, 2]]))   # uniform over 4 tokens: ln 4
        >>> [round(v, 4) for v in losses[0].tolist()]
        [nan, 1.3863, 1.3863]
    """
    flat = at_least_float32(einops.rearrange(logits[:, :-1], "batch pos vocab -> (batch pos) vocab"))
    ce = F.cross_entropy(flat, einops.rearrange(tokens[:, 1:], "batch pos -> (batch pos)"), reduction="none")
    ce = einops.rearrange(ce, "(batch pos) -> batch pos", batch=tokens.shape[0])
    return torch.cat([torch.full_like(ce[:, :1], float("nan")), ce], dim=1)


def masked_mean(values: Float[Tensor, "batch pos"], mask: Bool[Tensor, "batch pos"]) -> Tensor:
    """Mean of ``values`` where ``mask`` (NaN when the mask is empty); both ``(batch, pos)``, a scalar out.

    Examples:
        >>> masked_mean(torch.tensor([[1.0, 2.0, 3.0]]), torch.tensor([[True, False, True]])).item()
        2.0
    """
    if not bool(mask.any()):
        return torch.tensor(float("nan"))
    return values[mask].mean()


def repeated_token_loss(logits: Float[Tensor, "batch pos vocab"], tokens: Int[Tensor, "batch pos"]) -> Tensor:
    """Mean next-token loss on the :func:`repeated_targets` (the targets induction can predict).

    Examples:
        >>> tokens = torch.tensor([[5, 1, 2, 3, 1, 2, 3]])
        >>> logits = torch.nn.functional.one_hot(tokens.roll(-1, 1), 8).float() * 50   # a perfect next-token predictor
        >>> float(repeated_token_loss(logits, tokens)) < 1e-6
        True
    """
    return masked_mean(next_token_losses(logits, tokens), repeated_targets(tokens))


def corrupt_first_copy(tokens: Int[Tensor, "batch pos"], d_vocab: int, g: torch.Generator) -> Int[Tensor, "batch pos"]:
    """Replace every first occurrence of a token that is later repeated with a fresh, unused token.

    The second copy of the block then has no earlier match, so induction cannot
    predict it, while the tokens being predicted and their positions stay the same.
    Needs ``d_vocab`` at least twice the number of distinct tokens in a sequence.

    Examples:
        >>> tokens = torch.tensor([[5, 1, 2, 3, 1, 2, 3]])
        >>> out = corrupt_first_copy(tokens, 16, torch.Generator().manual_seed(0))
        >>> (out != tokens).int().tolist(), int(repeated_targets(out).sum())
        ([[0, 1, 1, 1, 0, 0, 0]], 0)
    """
    first = ~seen_before(tokens)
    repeated_later = (tokens[:, :, None] == tokens[:, None, :]).triu(1).any(-1)
    return replace_with_unused(tokens, first & repeated_later, d_vocab, g)


def replace_with_unused(tokens: Tensor, where: Tensor, d_vocab: int, g: torch.Generator) -> Tensor:
    """``tokens`` ``(batch, pos)`` with the positions in the boolean mask ``where`` set to distinct tokens absent from their sequence.

    Raises:
        ValueError: a token outside ``[0, d_vocab)``, or a sequence that leaves too few unused tokens in the vocabulary.

    Examples:
        >>> tokens = torch.tensor([[0, 1, 2, 0, 1]])
        >>> out = replace_with_unused(tokens, torch.tensor([[False, False, False, True, True]]), 8, torch.Generator().manual_seed(0))
        >>> out[0, :3].tolist(), sorted(set(out[0, 3:].tolist()) & {0, 1, 2}), len(set(out[0, 3:].tolist()))
        ([0, 1, 2], [], 2)
    """
    if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= d_vocab):
        raise ValueError(f"tokens must lie in [0, d_vocab={d_vocab}), got range [{int(tokens.min())}, {int(tokens.max())}]")
    out = tokens.clone()
    for i in range(tokens.shape[0]):
        positions = where[i].nonzero().squeeze(1)
        unused = torch.ones(d_vocab, dtype=torch.bool)
        unused[tokens[i]] = False
        pool = unused.nonzero().squeeze(1)
        if len(pool) < len(positions):
            raise ValueError(f"d_vocab={d_vocab} has too few unused tokens to corrupt sequence {i}")
        out[i, positions] = pool[torch.randperm(len(pool), generator=g)[: len(positions)]].to(out)
    return out


@sized("repeated_tokens")
def _repeated_tokens_bytes(c: RepeatedTokensConfig) -> tuple[dict, int]:
    """Per split: tokens and their position index (int64), the distinct tokens drawn and their draw (random keys of the
    vocabulary, a bounded chunk of rows at a time; a bigram chain's per-row masks); the chain itself."""
    v, need = c.d_vocab, 0
    for n, pr, br in ((c.n_train, c.prefix, c.block), (c.n_test, c.prefix, c.block), (c.n_off, c.off_prefix, c.off_block)):
        k = pr[1] + br[1]
        draw = 17 * n * v if c.background == "bigram" else 24 * min(n * v, max(1 << 24, v))
        need += 8 * n * (3 * c.n_ctx + k + 2) + draw
    need += 20 * v * v if c.background == "bigram" else 0
    fields = {"d_vocab": v, "n_ctx": c.n_ctx, "n_train": c.n_train, "n_test": c.n_test, "n_off": c.n_off, "background": c.background}
    return fields, need


@TASKS.register("repeated_tokens")
def make_repeated_tokens(config: RepeatedTokensConfig, seed: int) -> TaskData:
    """Train/test splits (``x = y`` = tokens, loss ``cross_entropy_next``) and the off-position set.

    ``info`` holds ``d_vocab``, per-split ``{split}_prefix``/``{split}_period`` (``(n,)``),
    ``off_position`` (a :class:`Split`), ``off_prefix``/``off_period`` and, for the
    bigram background, ``transition``. Every split's ``x`` is ``(n, n_ctx)`` long tokens.

    Examples:
        >>> data = make_repeated_tokens(RepeatedTokensConfig(d_vocab=16, n_ctx=12, n_train=8, n_test=4, n_off=3, prefix=(0, 2),
        ...                                                  block=(3, 5), off_prefix=(3, 4), off_block=(3, 4)), seed=0)
        >>> tuple(data.train.x.shape), tuple(data.test.x.shape), tuple(data.info["off_position"].x.shape)
        ((8, 12), (4, 12), (3, 12))
        >>> p, b = data.info["train_prefix"], data.info["train_period"]
        >>> bool((repeated_targets(data.train.x).sum(1) == 12 - p - b - 1).all())   # every repeat but the first
        True
    """
    check_memory(config)
    transition = bigram_matrix(config, seed) if config.background == "bigram" else None
    info: dict = {"d_vocab": config.d_vocab, "n_ctx": config.n_ctx, "background": config.background}
    if transition is not None:
        info["transition"] = transition
    splits = {}
    for name, n, pr, br in (
        ("train", config.n_train, config.prefix, config.block),
        ("test", config.n_test, config.prefix, config.block),
        ("off", config.n_off, config.off_prefix, config.off_block),
    ):
        tokens, prefix, period = _draw(n, config, pr, br, generator(derive_seed(seed, "repeated_tokens", name)), transition)
        splits[name] = Split(tokens, tokens)
        info[f"{name}_prefix"], info[f"{name}_period"] = prefix, period
    info["off_position"] = splits["off"]
    return TaskData(splits["train"], splits["test"], "cross_entropy_next", info)


__all__ = [
    "BACKGROUNDS",
    "RepeatedTokensConfig",
    "bigram_matrix",
    "corrupt_first_copy",
    "masked_mean",
    "next_token_losses",
    "repeated_token_loss",
    "first_occurrences",
    "make_repeated_tokens",
    "repeated_sequences",
    "repeated_targets",
    "seen_before",
]
