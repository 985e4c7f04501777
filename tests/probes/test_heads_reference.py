"""Head probes against dense references: a hand-built induction head, copying scores from the full
vocabulary circuit, composition scores under renumbered heads and in float64, and the previous-token reach
of a layer whose pattern is NaN."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from probes.heads import HeadWeights, composition_scores, copying_scores, pattern_scores, previous_token_by_position, previous_token_reach


def _repeated(batch: int, prefix: int, block: int, d_vocab: int, seed: int) -> torch.Tensor:
    """``batch`` sequences ``[prefix tokens, block, block]`` whose block has no repeated token and shares none with the prefix."""
    g = torch.Generator().manual_seed(seed)
    rows = []
    for _ in range(batch):
        perm = torch.randperm(d_vocab, generator=g)
        head, body = perm[:prefix], perm[prefix : prefix + block]
        rows.append(torch.cat([head, body, body]))
    return torch.stack(rows)


def _perfect_induction_head(tokens: torch.Tensor) -> torch.Tensor:
    """``(batch, 1, n, n)``: a query whose token occurred before attends only to the key right after that copy; others to themselves."""
    b, n = tokens.shape
    pattern = torch.zeros(b, 1, n, n, dtype=torch.float64)
    for i in range(b):
        for q in range(n):
            earlier = [s for s in range(q) if tokens[i, s] == tokens[i, q]]
            pattern[i, 0, q, earlier[0] + 1 if earlier else q] = 1.0
    return pattern


@settings(max_examples=25, deadline=None)
@given(batch=st.integers(1, 4), prefix=st.integers(1, 3), block=st.integers(2, 6), seed=st.integers(0, 10_000))
def test_a_hand_built_induction_head_scores_one_and_its_scores_ignore_the_order_of_the_batch_and_the_dtype(batch, prefix, block, seed):
    tokens = _repeated(batch, prefix, block, d_vocab=prefix + block + 3, seed=seed)
    pattern = _perfect_induction_head(tokens)
    scores = pattern_scores(pattern, tokens)
    assert float(scores["induction"][0]) == pytest.approx(1.0, abs=1e-6)
    assert float(scores["duplicate_token"][0]) == pytest.approx(0.0, abs=1e-6)  # the copy itself is never the key after it
    # previous-token: the mass on q - 1 (nonzero only where the induction key is q - 1, as at a block of 2), by a loop
    n = tokens.shape[1]
    prev = sum(float(pattern[i, 0, q, q - 1]) for i in range(batch) for q in range(1, n)) / (batch * (n - 1))
    assert float(scores["previous_token"][0]) == pytest.approx(prev, abs=1e-6)
    order = torch.randperm(batch, generator=torch.Generator().manual_seed(seed))
    shuffled = pattern_scores(pattern[order], tokens[order])
    single = pattern_scores(pattern.float(), tokens)
    for name, value in scores.items():
        assert float(shuffled[name][0]) == pytest.approx(float(value[0]), abs=1e-6)
        assert float(single[name][0]) == pytest.approx(float(value[0]), abs=1e-6)


def _random_weights(layers: int, heads: int, d_vocab: int, d_model: int, d_head: int, seed: int, dtype=torch.float64) -> HeadWeights:
    g = torch.Generator().manual_seed(seed)
    r = lambda *shape: torch.randn(*shape, generator=g, dtype=torch.float64).to(dtype)  # noqa: E731
    return HeadWeights(r(d_vocab, d_model), r(d_model, d_vocab), r(layers, heads, d_model, d_head), r(layers, heads, d_model, d_head), r(layers, heads, d_model, d_head), r(layers, heads, d_head, d_model))


@settings(max_examples=20, deadline=None)
@given(heads=st.integers(1, 3), d_vocab=st.integers(3, 9), d_head=st.integers(1, 3), seed=st.integers(0, 10_000))
def test_copying_scores_equal_the_share_read_from_every_eigenvalue_of_the_full_vocabulary_circuit(heads, d_vocab, d_head, seed):
    w = _random_weights(2, heads, d_vocab, d_model=5, d_head=d_head, seed=seed)
    got = copying_scores(w)
    assert got.shape == (2, heads)
    for layer in range(2):
        for head in range(heads):
            full = w.W_E @ w.W_V[layer, head] @ w.W_O[layer, head] @ w.W_U  # (vocab, vocab): rank ≤ d_head
            eig = torch.linalg.eigvals(full)
            share = float((eig.abs() * (eig.real > 0)).sum() / eig.abs().sum())
            assert float(got[layer, head]) == pytest.approx(share, abs=1e-5)


@settings(max_examples=20, deadline=None)
@given(layers=st.integers(2, 3), heads=st.integers(1, 3), seed=st.integers(0, 10_000))
def test_composition_scores_follow_renumbered_heads_and_agree_in_float32_and_float64(layers, heads, seed):
    w = _random_weights(layers, heads, 6, 8, 3, seed)
    base = composition_scores(w)
    perm = torch.randperm(heads, generator=torch.Generator().manual_seed(seed))
    renumbered = HeadWeights(w.W_E, w.W_U, w.W_Q[:, perm], w.W_K[:, perm], w.W_V[:, perm], w.W_O[:, perm])
    moved = composition_scores(renumbered)
    single = composition_scores(HeadWeights(*(m.float() for m in (w.W_E, w.W_U, w.W_Q, w.W_K, w.W_V, w.W_O))))
    for kind in ("q", "k", "v"):
        torch.testing.assert_close(moved[kind], base[kind][:, perm][:, :, :, perm], rtol=1e-6, atol=1e-6, equal_nan=True)
        torch.testing.assert_close(single[kind].double(), base[kind].double(), rtol=1e-4, atol=1e-6, equal_nan=True)
        later = base[kind][0, :, 1, :]
        ov = w.OV[0]
        right = {"q": w.QK[1], "k": w.QK[1].transpose(-1, -2), "v": w.OV[1]}[kind]
        for h0 in range(heads):
            for h1 in range(heads):
                ref = torch.linalg.matrix_norm(ov[h0] @ right[h1]) / (torch.linalg.matrix_norm(ov[h0]) * torch.linalg.matrix_norm(right[h1]))
                assert float(later[h0, h1]) == pytest.approx(float(ref), rel=1e-5)


def test_a_query_whose_summed_previous_token_attention_is_nan_ends_the_reach():
    prev = torch.tensor([[math.nan, 0.9, 0.8, 0.7, 0.9]])
    assert previous_token_reach(prev) == 4
    prev[0, 3] = math.nan  # a NaN head at query 3 (a diverging run): not ≥ level
    assert previous_token_reach(prev) == 2
    assert previous_token_reach(torch.full((2, 6), math.nan)) == 0  # it read 5, every position reached


def test_the_reach_of_a_nan_pattern_is_zero_and_a_level_that_is_not_finite_is_refused():
    pattern = torch.full((1, 2, 5, 5), math.nan)
    assert previous_token_reach(previous_token_by_position(pattern)) == 0
    with pytest.raises(ValueError, match=r"level must be a finite number, got nan"):
        previous_token_reach(torch.ones(1, 4), level=math.nan)
