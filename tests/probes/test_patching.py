"""Ablation, activation patching and path patching: identities, manual references, and hook hygiene."""

import pytest
import torch

from bridge.models import TransformerConfig, build_model
from bridge.tasks.repeated_tokens import repeated_token_loss
from helpers import without_heads
from probes.heads import head_weights
from probes.patching import ablated, ablation_effects, ablation_subsets, hook_count, hooked, mean_head_outputs, patch_heads, path_patch_keys, path_patch_matrix

CFG = TransformerConfig(d_vocab=16, n_ctx=10, d_model=32, n_heads=2, d_head=8, n_layers=2, d_mlp=None)


@pytest.fixture(scope="module")
def model():
    return build_model(CFG, seed=0)


def _tokens(seed, n=6):
    g = torch.Generator().manual_seed(seed)
    block = torch.stack([torch.randperm(16, generator=g)[:4] for _ in range(n)])
    return torch.cat([block, block, block[:, :2]], dim=1)  # (n, 10): a block of 4 repeated


def test_patching_a_run_into_itself_changes_nothing(model):
    x = _tokens(0)
    assert patch_heads(model, x, x, repeated_token_loss).abs().max().item() == 0.0
    assert path_patch_matrix(model, x, x, repeated_token_loss).abs().max().item() == 0.0
    assert hook_count(model) == 0


def _direct_effects(model, tokens, new_z):
    """Loss change of replacing each last-layer head's ``z`` by ``new_z(head)``, computed from the logits:
    in the last layer of an attention-only model without normalisation a head reaches the logits only
    directly, so the replacement adds ``(new − z) W_O W_U`` to them. Returns (last layer, effects per head)."""
    w, last = head_weights(model), model.cfg.n_layers - 1
    with torch.no_grad():
        logits, cache = model.run_with_cache(tokens)
        base = repeated_token_loss(logits, tokens)
        effects = []
        for head in range(model.cfg.n_heads):
            dz = new_z(head) - cache[f"blocks.{last}.attn.hook_z"][:, :, head]
            effects.append((repeated_token_loss(logits + dz @ w.W_O[last, head] @ w.W_U, tokens) - base).float())
    return last, torch.stack(effects)


def test_patching_a_last_layer_head_swaps_its_direct_contribution_to_the_logits(model):
    target, source = _tokens(0), _tokens(1)
    effects = patch_heads(model, target, source, repeated_token_loss)
    with torch.no_grad():
        _, cache_s = model.run_with_cache(source)
    last, expected = _direct_effects(model, target, lambda head: cache_s[f"blocks.{model.cfg.n_layers - 1}.attn.hook_z"][:, :, head])
    torch.testing.assert_close(effects[last], expected, atol=1e-5, rtol=1e-4)
    assert effects.abs().min().item() > 1e-4  # and every head's patch moves the loss


def test_zero_ablating_every_head_leaves_only_embeddings_and_biases(model):
    x = _tokens(2)
    sd = model.state_dict()
    expected = (sd["embed.weight"][x] + sd["pos_embed.weight"][:10] + sd["blocks.0.attn.o.bias"] + sd["blocks.1.attn.o.bias"]) @ sd["unembed.weight"].T + sd["unembed.bias"]
    with torch.no_grad(), ablated(model, [(0, 0), (0, 1), (1, 0), (1, 1)], "zero"):
        torch.testing.assert_close(model(x), expected, atol=1e-5, rtol=1e-4)
    assert hook_count(model) == 0


def test_mean_ablation_on_a_single_sequence_is_the_identity(model):
    x = _tokens(3, n=1)
    effects = ablation_effects(model, x, repeated_token_loss, mode="mean")
    torch.testing.assert_close(effects, torch.zeros(2, 2), atol=1e-6, rtol=0)
    means = mean_head_outputs(model, x)
    assert tuple(means.shape) == (2, 10, 2, 8)


def test_hooks_are_removed_when_the_measured_function_raises(model):
    x = _tokens(4)
    with pytest.raises(RuntimeError, match="boom"):
        with ablated(model, [(0, 1)], "zero"):
            assert hook_count(model) == 1
            raise RuntimeError("boom")
    assert hook_count(model) == 0

    def bad_hook(z, hook):
        raise RuntimeError("hook failed")

    with pytest.raises(RuntimeError, match="hook failed"):
        with hooked(model, [("blocks.0.attn.hook_z", bad_hook), ("blocks.1.attn.hook_z", bad_hook)]):
            model(x)
    assert hook_count(model) == 0
    with pytest.raises(RuntimeError, match="metric failed"):
        patch_heads(model, x, _tokens(5), lambda logits, tokens: (_ for _ in ()).throw(RuntimeError("metric failed")))
    assert hook_count(model) == 0
    with pytest.raises(KeyError, match="unknown hook point"):
        with hooked(model, [("blocks.0.attn.hook_z", bad_hook), ("no.such.hook", bad_hook)]):
            pass
    assert hook_count(model) == 0


def test_path_patching_matches_patching_the_key_input_of_a_single_head():
    cfg = TransformerConfig(d_vocab=16, n_ctx=10, d_model=32, n_heads=1, d_head=8, n_layers=2, d_mlp=None)
    model = build_model(cfg, seed=1)
    sd = model.state_dict()
    for name in ("blocks.1.attn.q.weight", "blocks.1.attn.k.weight", "blocks.0.attn.v.weight", "blocks.0.attn.o.weight"):
        sd[name] = sd[name] * 8.0  # sharp layer-1 attention that depends on layer 0's output
    model.load_state_dict(sd)
    target, source = _tokens(6), _tokens(7)
    w = head_weights(model)
    with torch.no_grad():
        _, c_src = model.run_with_cache(source)
        _, c_tgt = model.run_with_cache(target)
        delta = (c_src["blocks.0.attn.hook_z"][:, :, 0] - c_tgt["blocks.0.attn.hook_z"][:, :, 0]) @ w.W_O[0, 0]
        with hooked(model, [("blocks.1.attn.k.hook_in", lambda x, hook: x + delta)]):
            reference = repeated_token_loss(model(target), target)
        clean = repeated_token_loss(model(target), target)
    effect = path_patch_keys(model, target, source, repeated_token_loss, (0, 0), (1, 0))
    assert effect == pytest.approx(float(reference - clean), abs=1e-5)
    assert abs(effect) > 1e-2


def test_bad_requests_fail_before_any_work(model):
    x = _tokens(0)
    with pytest.raises(ValueError, match="earlier layer"):
        path_patch_keys(model, x, x, repeated_token_loss, (1, 0), (1, 1))
    with pytest.raises(ValueError, match="does not exist"):
        ablated(model, [(2, 0)]).__enter__()
    with pytest.raises(ValueError, match="ablation mode"):
        ablated(model, [(0, 0)], "random").__enter__()
    with pytest.raises(ValueError, match="one shape"):
        patch_heads(model, x, x[:2], repeated_token_loss)
    ln = build_model(TransformerConfig(d_vocab=16, n_ctx=10, d_model=32, n_heads=2, d_head=8, n_layers=2, d_mlp=None, normalization="LN"), seed=0)
    with pytest.raises(ValueError, match="without normalisation"):
        path_patch_keys(ln, x, x, repeated_token_loss, (0, 0), (1, 0))
    assert hook_count(model) == 0


def test_ablation_subsets_equal_zeroed_output_weights_for_every_subset(model):
    x = _tokens(6)
    heads = [(0, 0), (0, 1), (1, 0), (1, 1)]
    rows = ablation_subsets(model, heads, lambda m: {"loss": float(repeated_token_loss(m(x), x))}, mode="zero")
    assert [len(s) for s, _ in rows] == [1] * 4 + [2] * 6 + [3] * 4 + [4]
    assert len({s for s, _ in rows}) == 15 and hook_count(model) == 0
    with torch.no_grad():
        for subset, result in rows:
            assert result["loss"] == pytest.approx(float(repeated_token_loss(without_heads(model, CFG, subset)(x), x)), rel=1e-5)
    single = ablation_effects(model, x, repeated_token_loss, mode="zero")
    with torch.no_grad():
        clean = float(repeated_token_loss(model(x), x))
    for (head,), result in rows[:4]:
        assert result["loss"] - clean == pytest.approx(float(single[head]), abs=1e-5)


def test_ablation_subsets_refuse_bad_heads_and_clean_up_after_a_failing_measure(model):
    with pytest.raises(ValueError, match="distinct heads"):
        ablation_subsets(model, [(0, 0), (0, 0)], lambda m: {})
    with pytest.raises(ValueError, match="at most max_heads=2"):
        ablation_subsets(model, [(0, 0), (0, 1), (1, 0)], lambda m: {}, max_heads=2)
    with pytest.raises(RuntimeError, match="measure failed"):
        ablation_subsets(model, [(0, 0), (1, 1)], lambda m: (_ for _ in ()).throw(RuntimeError("measure failed")), mode="zero")
    assert hook_count(model) == 0


def test_mean_ablation_refuses_reference_sequences_of_another_length():
    model = build_model(TransformerConfig(d_vocab=8, n_ctx=6, d_model=16, n_heads=2, d_head=8, n_layers=1, d_mlp=None), seed=0)
    tokens = torch.tensor([[1, 2, 3, 1, 2, 3]])
    with pytest.raises(ValueError, match="reference sequences must have the tokens' length"):
        ablation_effects(model, tokens, repeated_token_loss, "mean", reference=tokens[:, :4])


def test_corrupting_refuses_tokens_outside_the_vocabulary_and_residues_beyond_the_embedding():
    from probes.modular import residue_embedding
    from probes.patching_data import corrupted_pair

    for tokens in (torch.tensor([[1, -1, 1, -1]]), torch.tensor([[1, 20, 1, 20]])):
        with pytest.raises(ValueError, match=r"tokens must lie in \[0, d_vocab=10\)"):
            corrupted_pair(tokens, 10, 0)
    model = build_model(TransformerConfig(d_vocab=6, n_ctx=4, d_model=16, n_heads=2, d_head=8, n_layers=1, d_mlp=None), seed=0)
    with pytest.raises(ValueError, match="fewer than the p = 11 residues"):
        residue_embedding(model, 11)
    assert residue_embedding(model, 5).shape == (5, 16)


def test_mean_ablation_replaces_a_head_with_its_mean_over_the_reference_sequences(model):
    tokens, reference = _tokens(4), _tokens(5, n=3)
    effects = ablation_effects(model, tokens, repeated_token_loss, mode="mean", reference=reference)
    with torch.no_grad():
        _, cache_r = model.run_with_cache(reference)
    last, expected = _direct_effects(model, tokens, lambda head: cache_r[f"blocks.{model.cfg.n_layers - 1}.attn.hook_z"][:, :, head].mean(0)[None])
    torch.testing.assert_close(effects[last], expected, atol=1e-5, rtol=1e-4)
    own = ablation_effects(model, tokens, repeated_token_loss, mode="mean")
    assert (effects - own).abs().max().item() > 1e-3  # the reference's means are not the tokens' own


def test_path_patching_matrix_equals_swapping_one_receiver_s_keys_for_every_head_pair():
    """Reference built from the model's own projections: run the target with the sender's output change
    added to layer 1's key input, read every head's keys there, then rerun the target with only the
    receiver's keys taken from that run. Two heads per layer, so sender and receiver indices cannot swap unseen."""
    model = build_model(CFG, seed=2)
    sd = model.state_dict()
    for name in ("blocks.1.attn.q.weight", "blocks.1.attn.k.weight", "blocks.0.attn.v.weight", "blocks.0.attn.o.weight"):
        sd[name] = sd[name] * 10.0
    model.load_state_dict(sd)
    target, source = _tokens(8), _tokens(9)
    with torch.no_grad():
        _, c_src = model.run_with_cache(source)
        _, c_tgt = model.run_with_cache(target)
        clean = repeated_token_loss(model(target), target)
    expected = torch.zeros(2, 2)
    for a in range(2):
        w_o = sd["blocks.0.attn.o.weight"][:, a * 8 : (a + 1) * 8].T  # (d_head, d_model)
        delta = (c_src["blocks.0.attn.hook_z"][:, :, a] - c_tgt["blocks.0.attn.hook_z"][:, :, a]) @ w_o
        with torch.no_grad(), hooked(model, [("blocks.1.attn.k.hook_in", lambda x, hook, delta=delta: x + delta)]):
            _, c_moved = model.run_with_cache(target)
        for b in range(2):
            def keys(k, hook, b=b, c_moved=c_moved):
                k = k.clone()
                k[:, :, b] = c_moved["blocks.1.attn.hook_k"][:, :, b]
                return k

            with torch.no_grad(), hooked(model, [("blocks.1.attn.hook_k", keys)]):
                expected[a, b] = repeated_token_loss(model(target), target) - clean
    got = path_patch_matrix(model, target, source, repeated_token_loss)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)
    values = expected.flatten()
    assert float((values[:, None] - values[None, :]).abs().add(torch.eye(4)).min()) > 5e-3 and float(values.abs().min()) > 5e-3  # four distinct effects
    assert path_patch_keys(model, target, source, repeated_token_loss, (0, 1), (1, 0)) == pytest.approx(float(expected[1, 0]), abs=1e-5)
    assert hook_count(model) == 0


def test_patching_a_first_layer_head_matches_replacing_its_output_by_hand(model):
    target, source = _tokens(0), _tokens(1)
    effects = patch_heads(model, target, source, repeated_token_loss)
    with torch.no_grad():
        _, cache_s = model.run_with_cache(source)
        clean = repeated_token_loss(model(target), target)
        for head in range(2):
            def swap(z, hook, head=head):
                z = z.clone()
                z[:, :, head] = cache_s["blocks.0.attn.hook_z"][:, :, head]
                return z

            with hooked(model, [("blocks.0.attn.hook_z", swap)]):
                assert float(effects[0, head]) == pytest.approx(float(repeated_token_loss(model(target), target) - clean), abs=1e-5)
    assert float(effects[0].abs().min()) > 1e-4


def test_heads_at_the_edge_of_the_model_and_mismatched_path_inputs_are_refused(model):
    x = _tokens(0)
    for heads in ([(0, 2)], [(2, 0)], [(-1, 0)], [(0, -1)]):  # n_heads, n_layers, and negatives that would index from the end
        with pytest.raises(ValueError, match=rf"head \({heads[0][0]}, {heads[0][1]}\) does not exist in a model with 2 layers of 2 heads"):
            ablated(model, heads).__enter__()
    with pytest.raises(ValueError, match="does not exist"):
        path_patch_keys(model, x, x, repeated_token_loss, (0, 0), (1, 2))
    with pytest.raises(ValueError, match=r"target and source must have one shape, got \(6, 10\) and \(2, 10\)"):
        path_patch_matrix(model, x, x[:2], repeated_token_loss)
    assert hook_count(model) == 0


def test_mean_ablation_needs_means_and_max_heads_is_inclusive(model):
    with pytest.raises(ValueError, match=r"mean ablation needs means=mean_head_outputs"):
        ablated(model, [(0, 0)], "mean").__enter__()
    x = _tokens(3)
    rows = ablation_subsets(model, [(0, 0), (1, 1)], lambda m: {"loss": float(repeated_token_loss(m(x), x))}, mode="zero", max_heads=2)
    assert [subset for subset, _ in rows] == [((0, 0),), ((1, 1),), ((0, 0), (1, 1))]
    assert hook_count(model) == 0


def test_mean_ablating_two_heads_of_one_layer_gives_each_its_own_mean(model):
    tokens, reference = _tokens(4), _tokens(5, n=3)
    means = mean_head_outputs(model, reference)
    with torch.no_grad():
        _, cache = model.run_with_cache(reference)

        def by_hand(z, hook):
            z = z.clone()
            for head in (0, 1):
                z[:, :, head] = cache["blocks.0.attn.hook_z"][:, :, head].mean(0)
            return z

        with hooked(model, [("blocks.0.attn.hook_z", by_hand)]):
            expected = model(tokens)
        with ablated(model, [(0, 0), (0, 1)], "mean", means):
            got = model(tokens)
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=1e-5)
    assert float((means[0, :, 0] - means[0, :, 1]).abs().max()) > 1e-3  # the two heads' means differ


def test_means_of_the_wrong_shape_are_refused_before_they_are_broadcast(model):
    x = _tokens(3)
    means = mean_head_outputs(model, x)  # (2, 10, 2, 8)
    for bad, got in ((means[..., :1], r"\(2, 10, 2, 1\)"), (means[:1], r"\(1, 10, 2, 8\)"), (means[0], r"\(10, 2, 8\)"), (means.tolist(), "list")):
        with pytest.raises(ValueError, match=rf"means must be \(layer, pos, head, d_head\) = \(2, pos, 2, 8\) from mean_head_outputs, got {got}"):
            ablated(model, [(0, 0)], "mean", bad).__enter__()
    with pytest.raises(ValueError, match="means cover 4 positions, the tokens have 10"):
        with torch.no_grad(), ablated(model, [(0, 0)], "mean", means[:, :4]):
            model(x)
    assert hook_count(model) == 0
    with torch.no_grad(), ablated(model, [(0, 0)], "mean", means):  # longer means than tokens: the first positions are used
        model(x[:, :6])
