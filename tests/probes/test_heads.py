"""Head scores against analytic values on hand-built patterns and weights; weights against the model's forward."""

import math

import pytest
import torch

from bridge.models import TransformerConfig, build_model
from probes.heads import (
    HeadWeights,
    composition_score,
    composition_scores,
    copying_scores,
    head_scores,
    head_weights,
    induction_by_key_position,
    pattern_scores,
    previous_token_by_position,
    previous_token_reach,
)

TOKENS = torch.tensor([[7, 1, 2, 3, 1, 2, 3, 1, 2]])  # prefix 1, block 3, repeated


def _pattern(rows):
    n = len(rows)
    p = torch.zeros(1, 1, n, n)
    for q, row in enumerate(rows):
        for k, w in row.items():
            p[0, 0, q, k] = w
    return p


def test_previous_token_pattern_scores():
    n = TOKENS.shape[1]
    p = _pattern([{0: 1.0}] + [{q - 1: 1.0} for q in range(1, n)])
    s = pattern_scores(p, TOKENS)
    assert s["previous_token"].item() == pytest.approx(1.0)
    assert s["induction"].item() == pytest.approx(0.0)
    assert s["duplicate_token"].item() == pytest.approx(0.0)


def test_induction_pattern_sums_over_every_earlier_copy():
    # queries 4..8 have earlier copies; q in the third copy (7, 8) has two induction targets.
    n = TOKENS.shape[1]
    rows = [{q: 1.0} for q in range(4)]
    rows += [{q - 2: 1.0} for q in (4, 5, 6)]  # token after the previous copy
    rows += [{q - 2: 0.5, q - 5: 0.5} for q in (7, 8)]  # both tokens that followed a copy
    p = _pattern(rows)
    s = pattern_scores(p, TOKENS)
    assert s["induction"].item() == pytest.approx(1.0)
    assert s["duplicate_token"].item() == pytest.approx(0.0)
    # previous-token: q=1..3 attend to themselves (0); q>=4 attend to q-2 (0): zero everywhere
    assert s["previous_token"].item() == pytest.approx(0.0)
    assert n == 9


def test_mixed_pattern_gives_weighted_means():
    rows = [{q: 1.0} for q in range(4)]
    rows += [{q - 2: 0.3, q - 3: 0.7} for q in range(4, 9)]  # 0.3 induction, 0.7 on the previous copy
    s = pattern_scores(_pattern(rows), TOKENS)
    # induction: q=4..6 get 0.3; q=7,8 also have the older copy's successor q-5 (not attended) -> 0.3
    assert s["induction"].item() == pytest.approx(0.3)
    # duplicate: q-3 is an earlier copy of the same token for every q >= 4
    assert s["duplicate_token"].item() == pytest.approx(0.7)
    # previous-token: only q=0 has no predecessor; q in 1..3 attend to themselves
    assert s["previous_token"].item() == pytest.approx(0.0)


def test_pooled_over_batch_and_heads_separate():
    p = torch.zeros(2, 2, 4, 4)
    p[:, 0] = torch.eye(4)  # head 0: self
    p[:, 1, 0, 0] = 1.0
    p[:, 1, 1:, :] = torch.eye(4)[:-1]  # head 1: previous token
    s = pattern_scores(p, torch.tensor([[1, 2, 3, 4], [5, 6, 7, 8]]))
    torch.testing.assert_close(s["previous_token"], torch.tensor([0.0, 1.0]))


def _random_case(seed, b=6, h=3, n=12, vocab=5):
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, vocab, (b, n), generator=g)  # small vocabulary: many repeats, some tokens seen twice or more
    logits = torch.randn(b, h, n, n, generator=g).masked_fill(~torch.ones(n, n, dtype=torch.bool).tril(), float("-inf"))
    return logits.softmax(-1), tokens


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_previous_token_by_position_averages_to_the_pooled_score(seed):
    pattern, tokens = _random_case(seed)
    by_position = previous_token_by_position(pattern)
    assert torch.isnan(by_position[:, 0]).all()
    for q in (1, 5, 11):
        torch.testing.assert_close(by_position[:, q], pattern[:, :, q, q - 1].mean(0))
    torch.testing.assert_close(by_position[:, 1:].mean(1), pattern_scores(pattern, tokens)["previous_token"])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_induction_by_key_position_equals_a_loop_over_queries(seed):
    pattern, tokens = _random_case(seed)
    b, h, n, _ = pattern.shape
    total, count = torch.zeros(h, n), torch.zeros(n)
    for i in range(b):
        for q in range(n):
            earlier = [s for s in range(q) if tokens[i, s] == tokens[i, q]]
            if len(earlier) == 1:
                k = earlier[0] + 1
                total[:, k] += pattern[i, :, q, k]
                count[k] += 1
    mass, got_count = induction_by_key_position(pattern, tokens)
    assert got_count.tolist() == count.long().tolist() and count.sum() > 10
    seen = count > 0
    torch.testing.assert_close(mass[:, seen], total[:, seen] / count[seen])
    assert torch.isnan(mass[:, ~seen]).all()


def test_previous_token_reach_is_the_last_position_before_the_summed_attention_drops():
    nan = float("nan")
    prev = torch.tensor([[nan, 0.5, 0.2, 0.3, 0.0, 0.9], [nan, 0.4, 0.3, 0.1, 0.1, 0.0]])  # sums 0.9, 0.5, 0.4, 0.1, 0.9
    assert previous_token_reach(prev) == 2
    assert previous_token_reach(prev, level=0.3) == 3
    assert previous_token_reach(torch.tensor([[nan, 1.0, 1.0]])) == 2  # covered to the end


def test_previous_token_reach_refuses_a_row_without_its_head_axis():
    # One head's row (h,) used to fail on an index; a (batch, head, query) stack gave a count of a summed batch.
    nan = float("nan")
    with pytest.raises(ValueError, match=r"prev_by_position must be \(head, query\).*got shape \(3,\)"):
        previous_token_reach(torch.tensor([nan, 0.9, 0.6]))
    with pytest.raises(ValueError, match=r"got shape \(2, 1, 3\)"):
        previous_token_reach(torch.tensor([[[nan, 0.9, 0.6]], [[nan, 0.9, 0.6]]]))


def test_pattern_scores_reject_bad_shapes():
    with pytest.raises(ValueError, match="pattern must be"):
        pattern_scores(torch.zeros(1, 1, 3, 3), TOKENS)


def test_head_weights_reproduce_the_forward_pass():
    cfg = TransformerConfig(d_vocab=11, n_ctx=7, d_model=24, n_heads=3, d_head=5, n_layers=2, d_mlp=None, d_vocab_out=11)
    model = build_model(cfg, seed=3)
    w = head_weights(model)
    sd = model.state_dict()
    x = torch.randint(0, 11, (2, 7), generator=torch.Generator().manual_seed(0))
    _, cache = model.run_with_cache(x)
    for layer in range(2):
        resid = cache[f"blocks.{layer}.hook_resid_pre"]
        bq = sd[f"blocks.{layer}.attn.q.bias"].view(3, 5)
        bk = sd[f"blocks.{layer}.attn.k.bias"].view(3, 5)
        q = torch.einsum("bpd,hde->bphe", resid, w.W_Q[layer]) + bq
        k = torch.einsum("bpd,hde->bphe", resid, w.W_K[layer]) + bk
        scores = torch.einsum("bqhe,bkhe->bhqk", q, k) / math.sqrt(5)
        mask = torch.triu(torch.ones(7, 7, dtype=torch.bool), 1)
        torch.testing.assert_close(scores.masked_fill(mask, -torch.inf).softmax(-1), cache[f"blocks.{layer}.attn.hook_pattern"], atol=1e-5, rtol=1e-4)
        out = torch.einsum("bphe,hed->bpd", cache[f"blocks.{layer}.attn.hook_z"], w.W_O[layer]) + sd[f"blocks.{layer}.attn.o.bias"]
        torch.testing.assert_close(out, cache[f"blocks.{layer}.hook_attn_out"], atol=1e-5, rtol=1e-4)
    logits = cache["blocks.1.hook_resid_post"] @ w.W_U + sd["unembed.bias"]
    torch.testing.assert_close(logits, model(x), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(w.W_E, sd["embed.weight"])


def _weights(ov: torch.Tensor, d: int) -> HeadWeights:
    """One head whose OV circuit is ``ov`` (d×d, via W_V = ov, W_O = I) with identity embed/unembed."""
    eye = torch.eye(d)
    stack = lambda m: m[None, None]  # noqa: E731
    return HeadWeights(eye, eye, stack(eye), stack(eye), stack(ov), stack(eye))


def test_copying_score_is_share_of_positive_eigenvalues():
    assert copying_scores(_weights(torch.diag(torch.tensor([1.0, 2.0, -1.0, 0.0])), 4)).item() == pytest.approx(3.0 / 4.0)
    assert copying_scores(_weights(torch.eye(3), 3)).item() == pytest.approx(1.0)
    assert copying_scores(_weights(-torch.eye(3), 3)).item() == pytest.approx(0.0)
    rot = torch.tensor([[0.0, -1.0], [1.0, 0.0]])  # eigenvalues ±i: real part 0, not positive
    assert copying_scores(_weights(rot, 2)).item() == pytest.approx(0.0)


def test_composition_score_analytic_values():
    d = 8
    assert composition_score(torch.eye(d), torch.eye(d)).item() == pytest.approx(1 / math.sqrt(d))
    p1, p2 = torch.zeros(d, d), torch.zeros(d, d)
    p1[0, 0] = 1.0
    p2[1, 1] = 1.0
    assert composition_score(p1, p2).item() == pytest.approx(0.0)
    assert composition_score(p1, p1).item() == pytest.approx(1.0)


def test_composition_scores_distinguish_q_k_v():
    # layer-0 head writes into direction e1; layer-1 head's keys read e1, queries read e2, values read e3.
    d, e = 4, torch.eye(4)
    W_V = torch.zeros(2, 1, d, 1)
    W_O = torch.zeros(2, 1, 1, d)
    W_Q = torch.zeros(2, 1, d, 1)
    W_K = torch.zeros(2, 1, d, 1)
    W_V[0, 0, :, 0], W_O[0, 0, 0] = e[0], e[1]  # layer 0: reads e0, writes e1
    W_Q[0, 0, :, 0], W_K[0, 0, :, 0] = e[0], e[0]
    W_Q[1, 0, :, 0], W_K[1, 0, :, 0] = e[2], e[1]
    W_V[1, 0, :, 0], W_O[1, 0, 0] = e[3], e[0]
    comp = composition_scores(HeadWeights(torch.eye(d), torch.eye(d), W_Q, W_K, W_V, W_O))
    assert comp["k"][0, 0, 1, 0].item() == pytest.approx(1.0)
    assert comp["q"][0, 0, 1, 0].item() == pytest.approx(0.0)
    assert comp["v"][0, 0, 1, 0].item() == pytest.approx(0.0)
    assert torch.isnan(comp["k"][1, 0, 0, 0])


def test_head_scores_find_a_hand_made_previous_token_head():
    cfg = TransformerConfig(d_vocab=16, n_ctx=8, d_model=32, n_heads=2, d_head=8, n_layers=1, d_mlp=None)
    model = build_model(cfg, seed=0)
    sd = model.state_dict()
    # head 0: query = position q, key = position k+1 through the positional embedding -> attends to q-1
    pos = torch.zeros(8, 32)
    pos[:, :8] = torch.eye(8) * 30.0
    sd["pos_embed.weight"] = pos
    sd["embed.weight"] = torch.zeros(16, 32)
    wq, wk = torch.zeros(16, 32), torch.zeros(16, 32)
    wq[:8, :8] = torch.eye(8)
    shift = torch.zeros(8, 8)
    shift[torch.arange(1, 8), torch.arange(7)] = 1.0  # the key at k lights slot k+1, read by query k+1
    wk[:8, :8] = shift
    sd["blocks.0.attn.q.weight"], sd["blocks.0.attn.k.weight"] = wq, wk
    sd["blocks.0.attn.q.bias"], sd["blocks.0.attn.k.bias"] = torch.zeros(16), torch.zeros(16)
    model.load_state_dict(sd)
    scores = head_scores(model, torch.randint(0, 16, (4, 8), generator=torch.Generator().manual_seed(1)))
    assert scores["previous_token"][0, 0].item() == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize("normalization", ["LN", "RMS"])
def test_normalisation_weights_are_folded_into_the_matrices_that_read_the_normalised_stream(normalization):
    model = build_model(TransformerConfig(d_vocab=10, n_ctx=6, d_model=16, n_heads=2, d_head=4, n_layers=2, d_mlp=None, normalization=normalization), seed=0)
    g = torch.Generator().manual_seed(1)
    state = model.state_dict()
    scales = {name: torch.rand(16, generator=g) + 0.5 for name in ("blocks.0.ln1", "blocks.1.ln1", "ln_final")}
    for name, scale in scales.items():
        state[f"{name}.weight"].copy_(scale)
    model.load_state_dict(state)
    w = head_weights(model)
    q = state["blocks.1.attn.q.weight"].reshape(2, 4, 16)  # (head, d_head, d_model)
    torch.testing.assert_close(w.W_Q[1, 0], (q[0] * scales["blocks.1.ln1"]).T)
    torch.testing.assert_close(w.W_U, (state["unembed.weight"] * scales["ln_final"]).T)
    before = copying_scores(w)
    state["ln_final.weight"].mul_(-1)  # every OV-to-logit path changes sign: copying becomes suppression
    model.load_state_dict(state)
    torch.testing.assert_close(copying_scores(head_weights(model)), 1 - before, atol=1e-5, rtol=0)


def test_composition_scores_equal_a_loop_over_head_pairs_and_are_nan_within_and_before_a_layer():
    g = torch.Generator().manual_seed(0)
    L, H, d, e = 3, 2, 6, 3
    w = HeadWeights(torch.eye(d), torch.eye(d), *(torch.randn(L, H, d, e, generator=g) for _ in range(3)), torch.randn(L, H, e, d, generator=g))
    comp = composition_scores(w)
    fro = torch.linalg.matrix_norm
    for l0, h0, l1, h1 in ((l0, h0, l1, h1) for l0 in range(L) for h0 in range(H) for l1 in range(L) for h1 in range(H)):
        a = w.W_V[l0, h0] @ w.W_O[l0, h0]
        qk = w.W_Q[l1, h1] @ w.W_K[l1, h1].T
        for kind, b in (("q", qk), ("k", qk.T), ("v", w.W_V[l1, h1] @ w.W_O[l1, h1])):
            value = comp[kind][l0, h0, l1, h1]
            if l1 <= l0:
                assert torch.isnan(value), (kind, l0, h0, l1, h1)
            else:
                torch.testing.assert_close(value, fro(a @ b) / (fro(a) * fro(b)), rtol=1e-5, atol=1e-6)
    assert len({round(float(v), 4) for v in comp["k"][0, :, 1, :].flatten()}) == 4  # four distinct pairs: no index can be swapped unseen


def test_head_probes_name_a_pattern_of_the_wrong_shape_and_a_model_without_a_shared_vocabulary():
    with pytest.raises(ValueError, match=r"pattern must be \(batch, head, 9, 9\) for tokens \(1, 9\), got \(1, 1, 8, 8\)"):
        induction_by_key_position(torch.zeros(1, 1, 8, 8), TOKENS)
    with pytest.raises(ValueError, match=r"pattern must be \(batch, head, 9, 9\) for tokens \(1, 9\), got \(2, 1, 9, 9\)"):
        induction_by_key_position(torch.zeros(2, 1, 9, 9), TOKENS)
    for score in (pattern_scores, induction_by_key_position):
        with pytest.raises(ValueError, match=r"tokens must be \(batch, pos\), got shape \(9,\)"):
            score(torch.zeros(1, 1, 9, 9), TOKENS[0])
    with pytest.raises(ValueError, match=r"query == key, got \(1, 2, 5, 4\)"):
        previous_token_by_position(torch.zeros(1, 2, 5, 4))
    eye = torch.eye(3)[None, None]
    with pytest.raises(ValueError, match="copying score needs d_vocab == d_vocab_out, got 5 and 4"):
        copying_scores(HeadWeights(torch.randn(5, 3), torch.randn(3, 4), eye, eye, eye, eye))
