"""Property tests of the bigram loss floors: both losses against a plain per-token recomputation, the Bayes loss
never above the chain loss on a first occurrence and ``inf`` on a target of probability 0, the closed form of a
uniform chain, invariance under relabelling the vocabulary, any integer dtype of the tokens alike, and the floors
as the mean over the mask."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.theory.bigram import bigram_floors, bigram_losses

PROPERTY = settings(max_examples=60, deadline=None, database=None)


def _orders(n: int):
    """The numbers ``0 … n − 1``, each once, in any order."""
    return st.lists(st.integers(0, n - 1), min_size=n, max_size=n, unique=True)


@st.composite
def chains_and_tokens(draw, distinct: bool | None = None):
    """``(transition (V, V) float64, tokens (batch, pos) int64)``; some entries of the chain may be 0."""
    vocab = draw(st.integers(2, 7))
    rows = []
    for _ in range(vocab):
        row = np.array(draw(st.lists(st.sampled_from([0.0, 1e-300, 1e-9, 0.3, 1.0, 2.5]), min_size=vocab, max_size=vocab)))
        if row.sum() == 0:
            row[draw(st.integers(0, vocab - 1))] = 1.0
        rows.append(row / row.sum())
    batch = draw(st.integers(1, 3))
    length = draw(st.integers(1, vocab if distinct else vocab + 3))
    if distinct:
        tokens = [draw(_orders(vocab))[:length] for _ in range(batch)]
    else:
        tokens = [draw(st.lists(st.integers(0, vocab - 1), min_size=length, max_size=length)) for _ in range(batch)]
    return torch.tensor(np.array(rows)), torch.tensor(tokens, dtype=torch.long)


def _reference(tokens: torch.Tensor, transition: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Both losses one token at a time, with Python floats and sets."""
    t = transition.tolist()
    chain = np.full(tokens.shape, np.nan)
    bayes = np.full(tokens.shape, np.nan)
    for b, row in enumerate(tokens.tolist()):
        for j in range(1, len(row)):
            prev, target, used = row[j - 1], row[j], set(row[:j])
            chain[b, j] = math.inf if t[prev][target] == 0 else -math.log(t[prev][target])
            if target in used or t[prev][target] == 0:
                bayes[b, j] = math.inf
            else:
                bayes[b, j] = -math.log(t[prev][target] / math.fsum(t[prev][x] for x in range(len(t)) if x not in used))
    return chain, bayes


@PROPERTY
@given(chains_and_tokens())
def test_losses_are_the_per_token_log_probabilities_of_the_chain_and_of_the_sampler(problem):
    transition, tokens = problem
    out = bigram_losses(tokens, transition)
    chain, bayes = _reference(tokens, transition)
    np.testing.assert_allclose(out["chain"].numpy(), chain, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out["bayes"].numpy(), bayes, rtol=1e-12, atol=1e-12)


@PROPERTY
@given(chains_and_tokens(distinct=True))
def test_on_first_occurrences_the_bayes_loss_is_at_most_the_chain_loss(problem):
    transition, tokens = problem
    out = bigram_losses(tokens, transition)
    chain, bayes = out["chain"][:, 1:], out["bayes"][:, 1:]
    assert not torch.isnan(bayes).any()
    assert bool((bayes <= chain + 1e-12).all())
    assert bool((bayes >= 0).all())


@PROPERTY
@given(st.integers(2, 12), st.integers(1, 4), st.data())
def test_a_uniform_chain_costs_ln_v_and_the_sampler_ln_of_the_tokens_left(vocab, batch, data):
    length = data.draw(st.integers(2, vocab))
    tokens = torch.tensor([data.draw(_orders(vocab))[:length] for _ in range(batch)])
    out = bigram_losses(tokens, torch.full((vocab, vocab), 1.0 / vocab, dtype=torch.float64))
    left = torch.arange(1, length, dtype=torch.float64)  # j tokens used before position j
    torch.testing.assert_close(out["chain"][:, 1:], torch.full((batch, length - 1), math.log(vocab), dtype=torch.float64), rtol=1e-14, atol=0)
    torch.testing.assert_close(out["bayes"][:, 1:], torch.log(vocab - left).expand(batch, -1), rtol=1e-14, atol=1e-15)


@PROPERTY
@given(chains_and_tokens(), st.data())
def test_relabelling_the_vocabulary_leaves_every_loss_unchanged(problem, data):
    transition, tokens = problem
    perm = torch.tensor(data.draw(_orders(transition.shape[0])))
    relabelled = torch.empty_like(transition)
    relabelled[perm[:, None], perm[None, :]] = transition  # token a is now perm[a]
    before, after = bigram_losses(tokens, transition), bigram_losses(perm[tokens], relabelled)
    for name in ("chain", "bayes"):
        torch.testing.assert_close(after[name], before[name], rtol=1e-13, atol=1e-13, equal_nan=True)


@PROPERTY
@given(chains_and_tokens(), st.sampled_from([torch.uint8, torch.int8, torch.int16, torch.int32]))
def test_tokens_of_any_integer_dtype_give_the_losses_of_int64_tokens(problem, dtype):
    transition, tokens = problem
    before, after = bigram_losses(tokens, transition), bigram_losses(tokens.to(dtype), transition)
    for name in ("chain", "bayes"):
        torch.testing.assert_close(after[name], before[name], rtol=0, atol=0, equal_nan=True)


def test_uint8_tokens_are_ids_not_a_mask():
    # a uint8 index tensor is read by torch as a boolean mask: "too many indices for tensor of dimension 2"
    out = bigram_losses(torch.tensor([[0, 1, 2]], dtype=torch.uint8), torch.full((4, 4), 0.25))
    assert out["bayes"][0, 1:].tolist() == pytest.approx([math.log(3), math.log(2)], rel=1e-14)


def test_a_target_of_probability_zero_costs_inf_even_with_no_unused_token_left():
    # the renormaliser was 0 there and the loss 0/0 = NaN, against the documented inf
    uniform = torch.full((3, 3), 1 / 3, dtype=torch.float64)
    assert bigram_losses(torch.tensor([[0, 1, 2, 0]]), uniform)["bayes"][0, 3].item() == math.inf
    cycle = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]], dtype=torch.float64)
    out = bigram_losses(torch.tensor([[0, 2, 1]]), cycle)  # 0 → 2 and 2 → 1 are impossible
    assert out["bayes"][0, 1:].tolist() == [math.inf, math.inf] == out["chain"][0, 1:].tolist()


@PROPERTY
@given(chains_and_tokens(distinct=True), st.data())
def test_floors_are_the_means_of_the_losses_over_the_mask(problem, data):
    transition, tokens = problem
    if tokens.shape[1] < 2:
        return
    mask = torch.tensor(data.draw(st.lists(st.booleans(), min_size=tokens.numel(), max_size=tokens.numel()))).reshape(tokens.shape)
    mask[0, 1] = True
    floors = bigram_floors(tokens, transition, mask)
    losses = bigram_losses(tokens, transition)
    selected = mask.clone()
    selected[:, 0] = False
    for name in ("chain", "bayes"):
        values = losses[name][selected].tolist()
        assert floors[name] == pytest.approx(math.fsum(values) / len(values), rel=1e-12, abs=1e-15)
    assert floors["bayes"] <= floors["chain"] + 1e-12
