"""Bigram loss floors of the Markov-background task against their closed forms and against simulation."""

import dataclasses
import math

import pytest
import torch

from bridge.seeding import generator
from bridge.tasks import make_task
from bridge.tasks.repeated_tokens import RepeatedTokensConfig, first_occurrences, repeated_sequences
from bridge.theory.bigram import bigram_floors, bigram_losses


def _task(n: int, seed: int = 0, concentration: float = 0.5):
    cfg = RepeatedTokensConfig(d_vocab=8, n_ctx=10, prefix=(0, 2), block=(3, 5), n_train=n, n_test=n, n_off=4, off_prefix=(0, 0), off_block=(3, 3), background="bigram", bigram_concentration=concentration)
    return make_task(cfg, seed=seed)


def test_uniform_chain_gives_ln_v_and_the_exact_renormalised_floor():
    g = generator(0)
    n, v = 64, 8
    prefix, period = torch.randint(0, 3, (n,), generator=g), torch.randint(3, 6, (n,), generator=g)
    uniform = torch.full((v, v), 1.0 / v)
    tokens = repeated_sequences(n, 10, prefix, period, v, g, uniform)
    losses = bigram_losses(tokens, uniform)
    first = first_occurrences(tokens)
    torch.testing.assert_close(losses["chain"][first], torch.full((int(first.sum()),), math.log(v), dtype=torch.float64))
    j = torch.arange(10).expand(n, 10)  # first occurrences sit at positions 1 .. P+B-1, with j tokens used before
    torch.testing.assert_close(losses["bayes"][first], torch.log(v - j[first].double()))


def test_bayes_floor_is_below_the_chain_loss_at_every_first_occurrence():
    data = _task(512)
    losses = bigram_losses(data.test.x, data.info["transition"])
    first = first_occurrences(data.test.x)
    gap = losses["chain"][first] - losses["bayes"][first]
    assert float(gap.min()) >= -1e-12 and float(gap.mean()) > 0.05


def test_bayes_floor_is_the_mean_entropy_of_the_sampler_and_the_best_bigram_table_lies_between():
    data = _task(40_000)
    t = data.info["transition"]
    x, first = data.train.x, first_occurrences(data.train.x)
    floors = bigram_floors(x, t, first)
    # the sampler's own distribution at each first occurrence, and its entropy: E[−log p(drawn)] = E[H(p)]
    n = x.shape[0]
    used = torch.zeros(n, 8, dtype=torch.bool)
    entropies = []
    for j in range(1, x.shape[1]):
        used[torch.arange(n), x[:, j - 1]] = True
        p = t[x[:, j - 1]].double().masked_fill(used, 0.0)
        p = p / p.sum(1, keepdim=True)
        h = -(p * p.clamp_min(1e-300).log()).sum(1)
        entropies.append(h[first[:, j]])
    assert floors["bayes"] == pytest.approx(float(torch.cat(entropies).mean()), abs=0.01)
    # the best table P(next | previous) fitted on the training split, scored on the test split
    counts = torch.zeros(8, 8, dtype=torch.float64)
    prev, nxt = x[:, :-1][first[:, 1:]], x[:, 1:][first[:, 1:]]
    counts.index_put_((prev, nxt), torch.ones_like(prev, dtype=torch.float64), accumulate=True)
    table = (counts + 1e-3) / (counts + 1e-3).sum(1, keepdim=True)
    y, f = data.test.x, first_occurrences(data.test.x)
    fitted = float(-table.log()[y[:, :-1], y[:, 1:]][f[:, 1:]].mean())
    test_floors = bigram_floors(y, t, f)
    assert test_floors["bayes"] + 0.05 < fitted < test_floors["chain"] - 0.05, (test_floors, fitted)


def test_bad_input_is_named():
    t = torch.full((4, 4), 0.25)
    with pytest.raises(ValueError, match=r"\(V, V\) chain"):
        bigram_losses(torch.zeros(2, 3, dtype=torch.long), torch.ones(4, 3))
    with pytest.raises(ValueError, match=r"must lie in \[0, 4\)"):
        bigram_losses(torch.tensor([[0, 5]]), t)
    with pytest.raises(ValueError, match="selects no target"):
        bigram_floors(torch.tensor([[0, 1]]), t, torch.tensor([[True, False]]))


def test_case_study_reports_the_floors_beside_the_first_occurrence_loss(tmp_path):
    from bridge.config import RunConfig, ScheduleConfig, TrainConfig
    from bridge.models import TransformerConfig
    from bridge.trackers.induction import InContextTracker
    from bridge.training.loop import train
    from case_studies.induction_heads import bigram_background

    task = RepeatedTokensConfig(d_vocab=16, n_ctx=12, prefix=(0, 2), block=(3, 5), n_train=2048, n_test=256, n_off=16, off_prefix=(3, 4), off_block=(3, 4), background="bigram", bigram_concentration=0.3)
    model = TransformerConfig(d_vocab=16, n_ctx=12, d_model=32, n_heads=2, d_head=16, n_layers=1, d_mlp=None)
    cfg = RunConfig(task, model, TrainConfig(optimizer="adamw", lr=1e-2, steps=300, batch_size=64, schedule=ScheduleConfig(n_log=3, every=50), threads=1), seed=0)
    run = train(cfg, tmp_path / "run", trackers=[InContextTracker(n_eval=256)], device="cpu", progress=False)
    data = run.task_data()
    b = bigram_background(run, data)
    expected = bigram_floors(data.test.x, data.info["transition"], first_occurrences(data.test.x))
    assert (b["chain"], b["bayes"]) == pytest.approx((expected["chain"], expected["bayes"]), rel=1e-9)
    first = run.observable("icl/loss_first", split="test")
    assert b["first_loss_final"] == pytest.approx(float(first.iloc[-1])) and b["first_loss_min"] == pytest.approx(float(first.min()))
    # learning the chain takes the first-occurrence loss from ln V toward the floors, never below the Bayes floor
    assert float(first.iloc[0]) > math.log(16) - 0.1
    assert b["bayes"] < b["first_loss_min"] < float(first.iloc[0]) - 0.3, (b, first.to_dict())
    uniform = make_task(dataclasses.replace(task, background="uniform"), seed=0)
    assert bigram_background(run, uniform) is None


def test_the_bigram_background_of_data_without_a_test_split_is_refused_by_name():
    from case_studies.induction_heads import bigram_background

    data = _task(8)
    with pytest.raises(ValueError, match=r"reads the first occurrences of the test split, and data has no test split \(data.test is None\)"):
        bigram_background(None, dataclasses.replace(data, test=None))  # the run is not read before the split


_TOKENS, _UNIFORM = torch.tensor([[0, 1, 2]]), torch.full((4, 4), 0.25)
_SIGNED = torch.tensor([[1.5, -0.5, 0.0, 0.0]]).repeat(4, 1)  # rows sum to 1, one entry negative


@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda: bigram_losses(_TOKENS.float(), _UNIFORM), TypeError, "tokens must be integer token ids, got dtype torch.float32"),
    (lambda: bigram_losses(torch.zeros(0, 3, dtype=torch.long), _UNIFORM), ValueError, r"tokens is empty, shape \(0, 3\)"),
    (lambda: bigram_losses(_TOKENS, torch.full((4, 4), 0.5)), ValueError, r"transition must be row-stochastic \(finite, non-negative, rows summing to 1\), got row sums \[2.0"),
    (lambda: bigram_losses(_TOKENS, _SIGNED), ValueError, "transition must be row-stochastic"),
    (lambda: bigram_floors(_TOKENS, _UNIFORM, torch.tensor([[0, 1, 1]])), TypeError, "mask must be boolean, got dtype torch.int64"),
])
def test_tokens_chain_and_mask_outside_their_domain_are_refused_by_name(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_column_zero_of_the_mask_is_ignored():
    tokens, uniform = torch.tensor([[0, 1, 2], [2, 0, 3]]), torch.full((4, 4), 0.25)
    without = torch.tensor([[False, True, True], [False, False, True]])
    with_first = without.clone()
    with_first[:, 0] = True  # column 0 is never a target: its losses are NaN
    assert bigram_floors(tokens, uniform, with_first) == bigram_floors(tokens, uniform, without)
    assert math.isfinite(bigram_floors(tokens, uniform, with_first)["bayes"])


def test_a_chain_whose_rows_sum_one_percent_off_is_refused():
    chain = torch.full((4, 4), 0.25, dtype=torch.float64)
    chain[2] *= 1.01
    with pytest.raises(ValueError, match=r"transition must be row-stochastic .* got row sums \[1.0, 1.0, 1.01"):
        bigram_losses(torch.tensor([[0, 1, 2]]), chain)
