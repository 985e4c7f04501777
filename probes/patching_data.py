"""Clean / corrupted input pairs for activation patching on repeated-token sequences.

Patching compares a model run on clean inputs with one on corrupted inputs that
differ only where the mechanism under study reads. For an induction circuit the
clean input repeats a block of tokens and the corrupted one breaks the repeat by
replacing one copy with fresh tokens that occur nowhere else in the sequence:

- ``copy="first"`` replaces the first copy: the tokens being predicted (the
  second copy) stay the same, but have no earlier match to copy from. This is
  the pair the induction-heads case study patches with.
- ``copy="later"`` replaces every later copy: the earlier context stays the
  same and the repeated targets disappear.

Examples:
    >>> pair = corrupted_pair(torch.tensor([[7, 1, 2, 3, 1, 2, 3]]), d_vocab=16, seed=0)
    >>> pair.changed.int().tolist()
    [[0, 1, 1, 1, 0, 0, 0]]
    >>> bool((pair.corrupted[:, 4:] == pair.clean[:, 4:]).all()), pair.broken.int().tolist()
    (True, [[0, 0, 0, 0, 0, 1, 1]])
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from jaxtyping import Bool, Int
from torch import Tensor

from bridge.seeding import derive_seed, generator
from bridge.tasks.repeated_tokens import repeated_targets, replace_with_unused, seen_before

COPIES = ("first", "later")


@dataclass(frozen=True)
class PatchingPair:
    """Clean and corrupted token sequences, aligned position by position.

    Attributes:
        clean: ``(batch, pos)`` the clean tokens.
        corrupted: ``(batch, pos)`` the same with one copy of each repeat replaced.
        changed: ``(batch, pos)`` ``True`` where ``corrupted`` differs from ``clean``.
        broken: ``(batch, pos)`` targets induction predicts in ``clean`` but not in
            ``corrupted`` (where a denoising metric should be read).

    Examples:
        >>> pair = repeated_pairs(2, block=3, d_vocab=12, seed=0)   # two blocks of 3 tokens, each repeated once
        >>> tuple(pair.corrupted.shape), pair.changed.sum(1).tolist(), pair.broken[0].int().tolist()
        ((2, 6), [3, 3], [0, 0, 0, 0, 1, 1])
    """

    clean: Int[Tensor, "batch pos"]
    corrupted: Int[Tensor, "batch pos"]
    changed: Bool[Tensor, "batch pos"]
    broken: Bool[Tensor, "batch pos"]


def corrupted_pair(tokens: Int[Tensor, "batch pos"], d_vocab: int, seed: int, copy: str = "first") -> PatchingPair:
    """Break every repeat in ``tokens`` by replacing one copy with fresh, unused tokens.

    In each sequence the replaced positions receive distinct tokens drawn
    (from ``seed``) among those that do not occur in the sequence, so the
    replaced positions repeat nothing and create no new repeat. A token that
    occurs three or more times keeps a repeat with ``copy="first"`` (its second
    copy now comes first); ``copy="later"`` leaves no repeat at all.
    With ``copy="first"`` the result equals the induction-heads case study's
    corrupted inputs for the same ``seed``.

    Args:
        tokens: ``(batch, pos)`` integer tokens in ``[0, d_vocab)``.
        d_vocab: vocabulary size; needs enough tokens unused by each sequence.
        seed: seeds the replacement tokens.
        copy: ``"first"`` (default) replaces first occurrences of tokens repeated
            later; ``"later"`` replaces every occurrence after the first.

    Returns:
        A :class:`PatchingPair` on the device of ``tokens``.

    Raises:
        ValueError: for tokens that are not a 2-D integer tensor in ``[0, d_vocab)``,
            an unknown ``copy``, or a sequence with too few unused tokens.

    Examples:
        >>> pair = corrupted_pair(torch.tensor([[1, 2, 1, 2]]), d_vocab=8, seed=0, copy="later")
        >>> pair.changed.int().tolist(), pair.corrupted[0, :2].tolist()
        ([[0, 0, 1, 1]], [1, 2])
    """
    if copy not in COPIES:
        raise ValueError(f"copy must be one of {COPIES}, got {copy!r}")
    if not isinstance(tokens, Tensor) or tokens.ndim != 2 or tokens.dtype.is_floating_point or tokens.dtype == torch.bool:
        raise ValueError(f"tokens must be a 2-D integer tensor (batch, pos), got {getattr(tokens, 'shape', type(tokens))}")
    if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= d_vocab):
        raise ValueError(f"tokens must lie in [0, d_vocab={d_vocab}), got range [{int(tokens.min())}, {int(tokens.max())}]")
    clean = tokens.cpu()
    seen = seen_before(clean)
    if copy == "first":
        repeated_later = (clean[:, :, None] == clean[:, None, :]).triu(1).any(-1)
        where = ~seen & repeated_later
    else:
        where = seen
    corrupted = replace_with_unused(clean, where, d_vocab, generator(derive_seed(seed, "corrupt")))
    device = tokens.device
    return PatchingPair(
        clean=tokens,
        corrupted=corrupted.to(device),
        changed=(corrupted != clean).to(device),
        broken=(repeated_targets(clean) & ~repeated_targets(corrupted)).to(device),
    )


def repeated_pairs(n: int, block: int, d_vocab: int, seed: int, copy: str = "first") -> PatchingPair:
    """``n`` sequences of ``block`` distinct random tokens repeated twice, with their corrupted pairs.

    Args:
        n: number of sequences.
        block: length of the repeated block (sequences have ``2 * block`` tokens).
        d_vocab: vocabulary size; at least ``2 * block``.
        seed: seeds the blocks and the replacement tokens.
        copy: which copy :func:`corrupted_pair` replaces (default ``"first"``).

    Returns:
        A :class:`PatchingPair` with ``clean[:, :block] == clean[:, block:]``.

    Examples:
        >>> pair = repeated_pairs(3, block=4, d_vocab=16, seed=0)
        >>> tuple(pair.clean.shape), bool((pair.clean[:, :4] == pair.clean[:, 4:]).all())
        ((3, 8), True)
        >>> bool((pair.corrupted[:, :4] != pair.clean[:, :4]).all()), bool((pair.corrupted[:, 4:] == pair.clean[:, 4:]).all())
        (True, True)
    """
    if n < 1 or block < 1:
        raise ValueError(f"n and block must be >= 1, got n={n}, block={block}")
    if d_vocab < 2 * block:
        raise ValueError(f"d_vocab={d_vocab} must be at least 2 * block = {2 * block} to leave unused tokens")
    g = generator(derive_seed(seed, "repeated_pairs"))
    blocks = torch.stack([torch.randperm(d_vocab, generator=g)[:block] for _ in range(n)])
    return corrupted_pair(torch.cat([blocks, blocks], dim=1), d_vocab, seed, copy)
