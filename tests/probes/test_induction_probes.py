"""The induction circuit's measurements (corrupted-input metric, causal checks, previous-token coverage)
against slow references built from the model's own forward pass."""

import math

import pytest
import torch
import torch.nn.functional as F

from bridge.models import TransformerConfig, build_model
from bridge.tasks.repeated_tokens import repeated_token_loss
from helpers import without_heads
from probes.heads import head_scores, previous_token_reach
from probes.induction import final_causal, previous_token_coverage, second_copy_loss
from probes.patching import hook_count, hooked
from probes.patching_data import corrupted_pair

CFG = TransformerConfig(d_vocab=24, n_ctx=10, d_model=32, n_heads=3, d_head=8, n_layers=2, d_mlp=None)


@pytest.fixture(scope="module")
def model():
    net = build_model(CFG, seed=4)
    sd = net.state_dict()
    for name in ("blocks.0.attn.q.weight", "blocks.1.attn.q.weight", "blocks.1.attn.k.weight", "blocks.0.attn.o.weight"):
        sd[name] = sd[name] * 4.0  # sharper attention, so every head's removal moves the loss
    net.load_state_dict(sd)
    return net


def _sequences(seed, n=5):
    g = torch.Generator().manual_seed(seed)
    block = torch.stack([torch.randperm(12, generator=g)[:4] for _ in range(n)])
    fresh = torch.stack([12 + torch.randperm(12, generator=g)[:2] for _ in range(n)])
    return torch.cat([fresh, block, block], dim=1)  # (n, 10): two fresh tokens, then a block of 4 twice


def test_second_copy_loss_reads_the_clean_labels_where_only_the_clean_run_repeats():
    clean = torch.tensor([[7, 1, 2, 3, 1, 2, 3, 1, 2]])  # three copies: the corrupted run still repeats at 8
    corrupted = corrupted_pair(clean, 16, seed=0).corrupted
    logits = torch.randn(1, 9, 16, generator=torch.Generator().manual_seed(0))
    metric = second_copy_loss(clean, corrupted)
    log_p = F.log_softmax(logits[0], -1)
    expected = -sum(float(log_p[j - 1, clean[0, j]]) for j in (5, 6, 7)) / 3  # targets 5..8 repeat in clean; 8 also in corrupted
    assert float(metric(logits, clean)) == pytest.approx(expected, rel=1e-6)
    assert float(metric(logits, corrupted)) == pytest.approx(expected, rel=1e-6)
    # with the later copies replaced the labels there differ between the runs: the clean ones are read
    later = corrupted_pair(clean, 16, seed=0, copy="later").corrupted
    metric = second_copy_loss(clean, later)
    expected = -sum(float(log_p[j - 1, clean[0, j]]) for j in (5, 6, 7, 8)) / 4
    assert float(metric(logits, later)) == pytest.approx(expected, rel=1e-6)


def test_final_causal_matches_hand_made_ablations_and_patches(model):
    test, other = _sequences(0), _sequences(1)
    corrupted = corrupted_pair(test, CFG.d_vocab, seed=0).corrupted
    out = final_causal(model, {"test": test, "other": other}, corrupted, prev_head=1, min_loss=-math.inf, max_induction=math.inf)
    assert hook_count(model) == 0
    with torch.no_grad():
        clean = float(repeated_token_loss(model(test), test))
        for layer in range(2):
            for head in range(3):
                zeroed = float(repeated_token_loss(without_heads(model, CFG, [(layer, head)])(test), test))
                assert out["ablation_zero"][layer][head] == pytest.approx(zeroed - clean, abs=1e-5)
        # denoising: the corrupted run with one head's output from the clean run, scored on the broken second copies
        _, cache = model.run_with_cache(test)
        metric = second_copy_loss(test, corrupted)
        base = float(metric(model(corrupted), corrupted))
        for layer in range(2):
            for head in range(3):
                def swap(z, hook, layer=layer, head=head):
                    z = z.clone()
                    z[:, :, head] = cache[f"blocks.{layer}.attn.hook_z"][:, :, head]
                    return z

                with hooked(model, [(f"blocks.{layer}.attn.hook_z", swap)]):
                    patched = float(metric(model(corrupted), corrupted))
                assert out["patching_denoising"][layer][head] == pytest.approx(patched - base, abs=1e-5)
        zeroed = without_heads(model, CFG, [(0, 1)])
        prev = out["prev_ablation_zero"]
        assert prev["heads"] == [(0, 1)] and prev["loss_clean"] == pytest.approx(clean, rel=1e-6)
        assert prev["loss_increase"] == pytest.approx(float(repeated_token_loss(zeroed(test), test)) - clean, abs=1e-5)
        for split, tokens in (("test", test), ("other", other)):
            assert prev["layer1_induction"][split] == pytest.approx(head_scores(zeroed, tokens)["induction"][1].tolist(), abs=1e-5)
    assert abs(prev["loss_increase"]) > 1e-3 and min(abs(v) for row in out["patching_denoising"] for v in row) > 1e-5
    scores = head_scores(model, test)["previous_token"][0]
    assert out["all_prev_ablation_mean"]["heads"] == [(0, h) for h in range(3) if h == 1 or scores[h] >= 0.3]  # the named head always


def test_the_smallest_set_meeting_the_targets_is_the_costliest_of_its_size(model):
    test = _sequences(2)
    rows_of = lambda out: out["prev_ablation_subsets"]  # noqa: E731
    out = final_causal(model, {"test": test}, corrupted_pair(test, CFG.d_vocab, seed=1).corrupted, prev_head=0, min_loss=-math.inf, max_induction=math.inf)
    subsets = rows_of(out)["subsets"]
    assert [len(r["heads"]) for r in subsets] == [1, 1, 1, 2, 2, 2, 3]
    singles = subsets[:3]
    assert len({round(r["loss_increase"], 6) for r in singles}) == 3  # the choice among them is not a tie
    assert rows_of(out)["smallest_meeting_targets"] == max(singles, key=lambda r: r["loss_increase"])
    def costliest_smallest(rows, min_loss, max_induction):
        meets = [r for r in rows if r["loss_increase"] >= min_loss and r["max_layer1_induction"] < max_induction]
        size = min(len(r["heads"]) for r in meets)
        return max((r for r in meets if len(r["heads"]) == size), key=lambda r: r["loss_increase"])

    # a loss target no single head meets, and an induction target the costliest single head misses
    target = max(r["loss_increase"] for r in singles) + 1e-4
    induction = sorted(r["max_layer1_induction"] for r in singles)
    for min_loss, max_induction in ((target, math.inf), (-math.inf, (induction[0] + induction[1]) / 2)):
        out = final_causal(model, {"test": test}, corrupted_pair(test, CFG.d_vocab, seed=1).corrupted, prev_head=0, min_loss=min_loss, max_induction=max_induction)
        expected = costliest_smallest(subsets, min_loss, max_induction)
        assert rows_of(out)["smallest_meeting_targets"] == expected
        assert expected != costliest_smallest(subsets, -math.inf, math.inf)  # each target changes the answer
    out = final_causal(model, {"test": test}, corrupted_pair(test, CFG.d_vocab, seed=1).corrupted, prev_head=0, min_loss=-math.inf, max_induction=-1.0)
    assert rows_of(out)["smallest_meeting_targets"] is None  # no induction score is below -1


def test_previous_token_coverage_equals_loops_over_queries(model):
    sets = {"test": _sequences(3), "other": _sequences(4, n=3)}
    info = {"train_prefix": torch.tensor([0, 1, 2, 3]), "train_period": torch.tensor([2, 3, 4, 5])}
    out = previous_token_coverage(model, sets, info, ind_head=2)
    with torch.no_grad():
        patterns = {split: model.run_with_cache(tokens)[1] for split, tokens in sets.items()}
    p0 = patterns["test"]["blocks.0.attn.hook_pattern"]
    prev = [[float(p0[:, h, q, q - 1].mean()) for q in range(1, 10)] for h in range(3)]
    assert list(out["previous_token_by_position"]) == ["L0H0", "L0H1", "L0H2"]
    for h in range(3):
        assert out["previous_token_by_position"][f"L0H{h}"] == pytest.approx(prev[h], abs=1e-6)
    reach = previous_token_reach(torch.tensor([[math.nan] + row for row in prev]))
    assert out["reach"] == reach and 1 <= reach <= 8  # neither nothing nor everything is covered
    demand = [sum(int(p + 1 <= q <= p + b) for p, b in zip([0, 1, 2, 3], [2, 3, 4, 5])) / 4 for q in range(1, 10)]
    assert out["demand"] == pytest.approx(demand)
    assert out["demand_beyond_coverage"] == pytest.approx(sum(int(p + b > reach) for p, b in zip([0, 1, 2, 3], [2, 3, 4, 5])) / 4)
    for split, tokens in sets.items():
        p1 = patterns[split]["blocks.1.attn.hook_pattern"][:, 2]
        by_key, covered, uncovered = [[] for _ in range(10)], [], []
        for i in range(tokens.shape[0]):
            for q in range(10):
                earlier = [s for s in range(q) if tokens[i, s] == tokens[i, q]]
                if len(earlier) == 1:
                    k = earlier[0] + 1
                    by_key[k].append(float(p1[i, q, k]))
                    (covered if k <= reach else uncovered).append(float(p1[i, q, k]))
        got = out[f"induction_{split}"]
        assert got["count"] == [len(v) for v in by_key]
        assert got["by_key"] == pytest.approx([sum(v) / len(v) if v else None for v in by_key], abs=1e-6)
        assert got["covered"] == pytest.approx(sum(covered) / len(covered), abs=1e-6)
        assert got["uncovered"] == pytest.approx(sum(uncovered) / len(uncovered), abs=1e-6)


def test_each_ablated_subset_reports_the_highest_layer1_induction_over_every_set(model):
    from probes.patching import ablated, mean_head_outputs

    sets = {"test": _sequences(1), "other": _sequences(0)}
    out = final_causal(model, sets, corrupted_pair(sets["test"], CFG.d_vocab, seed=0).corrupted, prev_head=0, min_loss=-math.inf, max_induction=math.inf)
    means = mean_head_outputs(model, sets["test"])
    from_other = 0
    for row in out["prev_ablation_subsets"]["subsets"]:
        with torch.no_grad(), ablated(model, [tuple(h) for h in row["heads"]], "mean", means):
            by_set = {split: float(head_scores(model, tokens)["induction"][1].max()) for split, tokens in sets.items()}
        assert row["max_layer1_induction"] == pytest.approx(max(by_set.values()), abs=1e-6)
        from_other += by_set["other"] > by_set["test"]
    assert from_other > 0  # the maximum is not always the test set's
