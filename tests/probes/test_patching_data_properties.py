"""Property tests of clean/corrupted pairs against loops over positions: which positions are replaced, that the
replacements are fresh and distinct, that the rest of the sequence is kept, and which induction targets break."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from probes.patching_data import corrupted_pair, repeated_pairs

PROPERTY = settings(max_examples=60, deadline=None, database=None)


@st.composite
def sequences(draw):
    """``(batch, pos)`` tokens from a small alphabet (many repeats) and a vocabulary leaving room for replacements."""
    batch, pos, alphabet = draw(st.integers(1, 3)), draw(st.integers(1, 10)), draw(st.integers(1, 5))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    tokens = rng.integers(0, alphabet, size=(batch, pos))
    return torch.as_tensor(tokens), alphabet + pos + draw(st.integers(0, 3))


def loop_targets(seq: list[int]) -> list[bool]:
    """Position ``j`` is a repeated target when ``seq[j]`` and ``seq[j − 1]`` both occur before ``j`` (and ``j − 1``)."""
    return [j > 0 and seq[j] in seq[:j] and seq[j - 1] in seq[: j - 1] for j in range(len(seq))]


@PROPERTY
@given(sequences(), st.sampled_from(["first", "later"]), st.integers(0, 1000))
def test_corrupted_pairs_replace_exactly_one_copy_with_fresh_distinct_tokens(case, copy, seed):
    tokens, d_vocab = case
    pair = corrupted_pair(tokens, d_vocab, seed, copy)
    assert torch.equal(pair.clean, tokens)
    for s, seq in enumerate(tokens.tolist()):
        if copy == "first":  # the first occurrence of every token that occurs again later
            where = [seq[j] not in seq[:j] and seq[j] in seq[j + 1 :] for j in range(len(seq))]
        else:  # every occurrence after the first
            where = [seq[j] in seq[:j] for j in range(len(seq))]
        corrupted = pair.corrupted[s].tolist()
        assert pair.changed[s].tolist() == where
        assert [c for c, w, t in zip(corrupted, where, seq) if not w] == [t for t, w in zip(seq, where) if not w]
        fresh = [c for c, w in zip(corrupted, where) if w]
        assert len(set(fresh)) == len(fresh) and not set(fresh) & set(seq) and all(0 <= c < d_vocab for c in fresh)
        if copy == "later":
            assert len(set(corrupted)) == len(corrupted)  # no repeat is left
        broken = [a and not b for a, b in zip(loop_targets(seq), loop_targets(corrupted))]
        assert pair.broken[s].tolist() == broken
    again = corrupted_pair(tokens, d_vocab, seed, copy)
    assert torch.equal(again.corrupted, pair.corrupted)


@PROPERTY
@given(st.integers(1, 4), st.integers(1, 5), st.integers(0, 6), st.integers(0, 1000))
def test_repeated_pairs_break_every_second_copy_target_and_keep_the_second_copy(n, block, spare, seed):
    pair = repeated_pairs(n, block, 2 * block + spare, seed)
    assert torch.equal(pair.clean[:, :block], pair.clean[:, block:])
    assert all(len(set(row)) == block for row in pair.clean[:, :block].tolist())
    assert pair.changed[:, :block].all() and not pair.changed[:, block:].any()
    assert torch.equal(pair.corrupted[:, block:], pair.clean[:, block:])
    # in the clean run the second copy's tokens after its first are predictable; the corruption leaves none
    expected = torch.zeros(n, 2 * block, dtype=torch.bool)
    expected[:, block + 1 :] = True
    assert torch.equal(pair.broken, expected)
