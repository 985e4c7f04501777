"""The repeated-token task: layout, off-position set, bigram background, masks, loss, corruption, trackers."""

import math

import pytest
import torch

from bridge.config import ConfigError
from bridge.models import TransformerConfig, build_model
from bridge.seeding import generator
from bridge.tasks import make_task
from bridge.tasks.repeated_tokens import (
    RepeatedTokensConfig,
    corrupt_first_copy,
    first_occurrences,
    next_token_losses,
    repeated_targets,
    repeated_token_loss,
)
from bridge.trackers.induction import HeadScoreTracker, InContextTracker
from bridge.trackers.loss import LossTracker
from probes.heads import attention_patterns, previous_token_by_position, previous_token_reach

CFG = RepeatedTokensConfig(d_vocab=32, n_ctx=24, prefix=(0, 5), block=(3, 9), n_train=400, n_test=50, n_off=50, off_prefix=(6, 10), off_block=(3, 6))


@pytest.fixture(scope="module")
def data():
    return make_task(CFG, seed=0)


def _check_layout(tokens, prefix, period):
    for seq, p, b in zip(tokens.tolist(), prefix.tolist(), period.tolist()):
        distinct = seq[: p + b]
        assert len(set(distinct)) == p + b
        assert all(seq[j] == seq[j - b] for j in range(p + b, len(seq)))
        mask = repeated_targets(torch.tensor([seq]))[0].tolist()
        assert mask == [j >= p + b + 1 for j in range(len(seq))]


def test_layout_prefix_and_period_vary_within_their_ranges(data):
    _check_layout(data.train.x, data.info["train_prefix"], data.info["train_period"])
    assert set(data.info["train_prefix"].tolist()) == set(range(0, 6))
    assert set(data.info["train_period"].tolist()) == set(range(3, 10))
    assert torch.equal(data.train.x, data.train.y)
    assert data.loss == "cross_entropy_next"


def test_off_position_set_uses_its_own_ranges(data):
    off = data.info["off_position"]
    _check_layout(off.x, data.info["off_prefix"], data.info["off_period"])
    assert data.info["off_prefix"].min().item() >= 6


def test_seeded_and_reproducible():
    a, b, c = make_task(CFG, 1), make_task(CFG, 1), make_task(CFG, 2)
    assert torch.equal(a.train.x, b.train.x) and not torch.equal(a.train.x, c.train.x)


def test_bigram_background_follows_the_chain():
    cfg = RepeatedTokensConfig(d_vocab=8, n_ctx=10, prefix=(2, 2), block=(3, 3), n_train=20000, n_test=4, n_off=4, off_prefix=(2, 2), off_block=(3, 3), background="bigram", bigram_concentration=0.5)
    data = make_task(cfg, 0)
    T = data.info["transition"]
    torch.testing.assert_close(T.sum(1), torch.ones(8))
    x = data.train.x
    # the first draw after token a avoids only a itself: P(next=b | a) = T[a, b] / (1 - T[a, a])
    a, b = x[:, 0], x[:, 1]
    counts = torch.zeros(8, 8)
    counts.index_put_((a, b), torch.ones(len(a)), accumulate=True)
    empirical = counts / counts.sum(1, keepdim=True)
    expected = T.clone().fill_diagonal_(0.0)
    expected = expected / expected.sum(1, keepdim=True)
    torch.testing.assert_close(empirical, expected, atol=0.04, rtol=0)
    _check_layout(x[:200], data.info["train_prefix"][:200], data.info["train_period"][:200])


def test_masks_and_losses_on_a_known_sequence():
    tokens = torch.tensor([[9, 4, 5, 6, 4, 5, 6, 4]])
    assert repeated_targets(tokens)[0].tolist() == [False] * 5 + [True] * 3
    assert first_occurrences(tokens)[0].tolist() == [False, True, True, True, False, False, False, False]
    uniform = torch.zeros(1, 8, 12)
    assert repeated_token_loss(uniform, tokens).item() == pytest.approx(math.log(12))
    perfect = torch.nn.functional.one_hot(tokens.roll(-1, 1), 12).float() * 100.0
    assert repeated_token_loss(perfect, tokens).item() == pytest.approx(0.0, abs=1e-6)
    assert torch.isnan(next_token_losses(uniform, tokens)[0, 0])


def test_corruption_removes_the_earlier_copy_only(data):
    x = data.test.x
    bad = corrupt_first_copy(x, CFG.d_vocab, generator(0))
    prefix, period = data.info["test_prefix"], data.info["test_period"]
    for i in range(len(x)):
        p, b = int(prefix[i]), int(period[i])
        assert torch.equal(bad[i, :p], x[i, :p]) and torch.equal(bad[i, p + b :], x[i, p + b :])
        assert not set(bad[i, p : p + b].tolist()) & set(x[i].tolist())
        # the second copy no longer has an earlier match
        assert not repeated_targets(bad[i : i + 1])[0, p + b : p + 2 * b].any()


def test_config_errors_name_the_problem():
    with pytest.raises(ConfigError, match="no repeated target"):
        RepeatedTokensConfig(n_ctx=20, prefix=(0, 8), block=(4, 16))
    with pytest.raises(ConfigError, match="background"):
        RepeatedTokensConfig(background="zipf")
    with pytest.raises(ConfigError, match="d_vocab"):
        RepeatedTokensConfig(d_vocab=10, n_ctx=32, prefix=(0, 4), block=(4, 8), off_prefix=(0, 4), off_block=(4, 8))


def test_the_shortest_context_allowed_leaves_one_repeated_target_and_a_block_needs_two_tokens():
    ranges = {"prefix": (2, 2), "block": (3, 3), "off_prefix": (2, 2), "off_block": (3, 3)}
    shortest = RepeatedTokensConfig(d_vocab=16, n_ctx=7, n_train=4, n_test=2, n_off=2, **ranges)  # P + B + 2
    data = make_task(shortest, seed=0)
    assert repeated_targets(data.train.x).sum(1).tolist() == [1, 1, 1, 1]  # position P + B + 1 only
    with pytest.raises(ConfigError, match=r"prefix \(2, 2\) and block \(3, 3\) leave no repeated target in n_ctx=6"):
        RepeatedTokensConfig(d_vocab=16, n_ctx=6, **ranges)
    for name in ("block", "off_block"):
        with pytest.raises(ConfigError, match="blocks need at least 2 tokens"):
            RepeatedTokensConfig(d_vocab=16, n_ctx=12, **{**ranges, name: (1, 3)})


def test_trackers_agree_with_direct_computation(data):
    model = build_model(TransformerConfig(d_vocab=32, n_ctx=24, d_model=32, n_heads=2, d_head=16, n_layers=2, d_mlp=None), seed=0)
    rows = InContextTracker(n_eval=50)(model, 0, data)
    by = {(r["observable"], r["split"]): r["value"] for r in rows}
    with torch.no_grad():
        for split, tokens in (("test", data.test.x), ("off", data.info["off_position"].x)):
            assert by[("icl/loss_repeated", split)] == pytest.approx(repeated_token_loss(model(tokens), tokens).item(), rel=1e-5)
    assert by[("icl/repeat_vs_first", "test")] == pytest.approx(by[("icl/loss_repeated", "test")] - by[("icl/loss_first", "test")], rel=1e-5)
    heads = HeadScoreTracker(n_eval=50)(model, 0, data)
    assert {r["observable"] for r in heads} >= {"heads/induction", "heads/previous_token", "heads/copying", "composition/k"}
    assert len([r for r in heads if r["observable"] == "composition/k"]) == 4
    reach = {(r["layer"], r["split"]): r["value"] for r in heads if r["observable"] == "heads/previous_token_reach"}
    assert set(reach) == {(0, "test"), (1, "test"), (0, "off"), (1, "off")}
    for (layer, split), value in reach.items():
        tokens = (data.test.x if split == "test" else data.info["off_position"].x)[:50]
        assert value == previous_token_reach(previous_token_by_position(attention_patterns(model, tokens)[layer]))
    loss = {r["observable"]: r["value"] for r in LossTracker(max_examples=50)(model, 0, data)}
    with torch.no_grad():
        assert loss["loss/train"] == pytest.approx(data.loss_fn(model(data.train.x[:50]), data.train.x[:50]).item(), rel=1e-5)


def test_early_and_late_windows_are_the_first_and_last_targets():
    short = make_task(RepeatedTokensConfig(d_vocab=16, n_ctx=8, n_train=8, n_test=8, n_off=8, prefix=(0, 2), block=(2, 3), off_prefix=(1, 2), off_block=(2, 3)), seed=0)
    model = build_model(TransformerConfig(d_vocab=16, n_ctx=8, d_model=16, n_heads=2, d_head=8, n_layers=2, d_mlp=None), seed=0)
    for window in (7, 8):  # 7 targets: the whole sequence would be both early and late (window 8 gave a NaN late loss)
        with pytest.raises(ValueError, match="covers all 7 targets"):
            InContextTracker(window=window)(model, 0, short)
    with pytest.raises(ValueError, match="positive integer"):
        InContextTracker(window=0)
    by = {(r["observable"], r["split"]): r["value"] for r in InContextTracker(window=3)(model, 0, short)}
    with torch.no_grad():
        for split, tokens in (("test", short.test.x), ("off", short.info["off_position"].x)):
            losses = next_token_losses(model(tokens), tokens)
            assert by[("icl/loss_early", split)] == pytest.approx(losses[:, 1:4].mean().item(), rel=1e-6)
            assert by[("icl/loss_late", split)] == pytest.approx(losses[:, 5:8].mean().item(), rel=1e-6)
            assert by[("icl/late_vs_early", split)] == pytest.approx((losses[:, 5:8].mean() - losses[:, 1:4].mean()).item(), rel=1e-5, abs=1e-7)


def test_corruption_uses_every_unused_token_when_there_are_just_enough():
    from bridge.tasks.repeated_tokens import replace_with_unused

    tokens = torch.tensor([[0, 1, 2, 0, 1]])
    out = replace_with_unused(tokens, torch.tensor([[False, False, False, True, True]]), 5, generator(0))
    assert out[0, :3].tolist() == [0, 1, 2] and sorted(out[0, 3:].tolist()) == [3, 4]
    with pytest.raises(ValueError, match="too few unused tokens"):
        replace_with_unused(tokens, torch.tensor([[False, False, True, True, True]]), 5, generator(0))


def test_losses_over_an_empty_mask_are_nan_not_zero():
    from bridge.tasks.repeated_tokens import masked_mean

    assert math.isnan(masked_mean(torch.ones(2, 3), torch.zeros(2, 3, dtype=torch.bool)).item())
    assert math.isnan(repeated_token_loss(torch.zeros(1, 4, 6), torch.tensor([[0, 1, 2, 3]])).item())  # nothing repeats


@pytest.mark.parametrize("tracker", [InContextTracker, HeadScoreTracker])
@pytest.mark.parametrize("n_eval", [0, -3, 2.0, True])
def test_an_evaluation_count_that_is_not_a_positive_integer_is_refused(tracker, n_eval):
    """0 would give NaN rows and a negative count would drop the last sequences (``x[:-3]``)."""
    with pytest.raises(ValueError, match=rf"{tracker.__name__}\.n_eval must be a positive integer, got {n_eval!r}"):
        tracker(n_eval=n_eval)
