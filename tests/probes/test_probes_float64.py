"""Probes of a float64 model (what a run with ``train.dtype="float64"`` hands them) measure in float64: head
weights and the scores read from them, attention read by position, patching effects, subtask accuracies and
cached activations agree with float64 references computed here from the state dict to 1e-12, a tolerance
float32 rounding (about 1e-7) does not meet; a float32 model keeps its float32 results."""

import itertools

import pytest
import torch

from bridge.models import MLPConfig, TransformerConfig, build_model
from bridge.tasks import SparseParityConfig, make_task
from bridge.tasks.repeated_tokens import repeated_token_loss
from bridge.training.inputs import in_dtype
from probes.activations import cached_activation
from probes.heads import attention_patterns, composition_scores, copying_scores, head_weights, induction_by_key_position, previous_token_by_position
from probes.patching import ablation_effects, hooked, patch_heads, path_patch_matrix
from probes.quanta import subtask_metrics

CFG = TransformerConfig(d_vocab=12, n_ctx=8, d_model=16, n_heads=2, d_head=4, n_layers=2, d_mlp=None)
REL = 1e-12


def model64(cfg=CFG):
    """The model in float64, every weight moved off the float32 grid (as float64 training moves it)."""
    model, g = build_model(cfg, seed=0).double(), torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g, dtype=torch.float64))
    return model


def tokens(seed, n=3):
    g = torch.Generator().manual_seed(seed)
    drawn = torch.stack([torch.randperm(CFG.d_vocab, generator=g)[:5] for _ in range(n)])
    return torch.cat([drawn[:, 3:], drawn[:, :3], drawn[:, :3]], dim=1)  # (n, 8): two prefix tokens, a block of 3 repeated


def per_head(model):
    """``{(layer, head): (W_Q, W_K, W_V, W_O)}`` cut from the float64 state dict, row-vector convention."""
    sd, d = model.state_dict(), CFG.d_head
    cut = lambda name, layer, h: sd[f"blocks.{layer}.attn.{name}.weight"][h * d : (h + 1) * d].T  # noqa: E731
    return {(layer, h): (cut("q", layer, h), cut("k", layer, h), cut("v", layer, h), sd[f"blocks.{layer}.attn.o.weight"][:, h * d : (h + 1) * d].T)
            for layer in range(CFG.n_layers) for h in range(CFG.n_heads)}


def test_head_weights_of_a_float64_model_keep_its_float64_weights_and_a_float32_model_its_float32_ones():
    model = model64(TransformerConfig(**{**CFG.__dict__, "normalization": "LN"}))
    sd, w = model.state_dict(), head_weights(model)
    assert {m.dtype for m in (w.W_E, w.W_U, w.W_Q, w.W_K, w.W_V, w.W_O)} == {torch.float64}
    assert torch.equal(w.W_U, (sd["unembed.weight"] * sd["ln_final.weight"]).T)
    assert torch.equal(w.W_Q[1, 1], (sd["blocks.1.attn.q.weight"] * sd["blocks.1.ln1.weight"])[4:8].T)
    assert head_weights(build_model(CFG, seed=0)).W_Q.dtype == torch.float32


def test_copying_and_composition_scores_of_a_float64_model_are_its_float64_scores():
    model = model64()
    sd, heads = model.state_dict(), per_head(model)
    w = head_weights(model)
    copying, composition = copying_scores(w), composition_scores(w)
    assert copying.dtype == torch.float64 and composition["k"].dtype == torch.float64
    norm = torch.linalg.matrix_norm
    for (layer, h), (_q, _k, v, o) in heads.items():
        eig = torch.linalg.eigvals(sd["embed.weight"] @ v @ o @ sd["unembed.weight"].T)
        assert float(copying[layer, h]) == pytest.approx(float((eig.abs() * (eig.real > 0)).sum() / eig.abs().sum()), rel=REL)
    for h0, h1 in itertools.product(range(CFG.n_heads), repeat=2):
        ov = heads[0, h0][2] @ heads[0, h0][3]
        q, k, v, o = heads[1, h1]
        for kind, right in (("q", q @ k.T), ("k", k @ q.T), ("v", v @ o)):
            assert float(composition[kind][0, h0, 1, h1]) == pytest.approx(float(norm(ov @ right) / (norm(ov) * norm(right))), rel=REL), (kind, h0, h1)
    assert copying_scores(head_weights(build_model(CFG, seed=0))).dtype == torch.float32


def test_previous_token_and_induction_attention_by_position_of_a_float64_pattern_are_float64_means():
    x = tokens(0)
    pattern = attention_patterns(model64(), x)  # (layer, batch, head, query, key), float64
    prev = previous_token_by_position(pattern[0])
    mass, count = induction_by_key_position(pattern[1], x)
    assert prev.dtype == mass.dtype == torch.float64
    b, _, n, _ = pattern[0].shape
    for h, q in itertools.product(range(CFG.n_heads), range(1, n)):
        assert float(prev[h, q]) == pytest.approx(sum(float(pattern[0, i, h, q, q - 1]) for i in range(b)) / b, rel=REL)
    for h in range(CFG.n_heads):  # each query of the second block needs the key right after its first copy: q - 2
        for key in range(3, 6):
            assert int(count[key]) == b
            assert float(mass[h, key]) == pytest.approx(sum(float(pattern[1, i, h, key + 2, key]) for i in range(b)) / b, rel=REL)
    assert previous_token_by_position(pattern[0].float()).dtype == torch.float32


def test_ablation_and_patching_effects_of_a_float64_model_are_float64_differences_of_its_loss():
    model, x, source = model64(), tokens(1), tokens(2)
    with torch.no_grad():
        clean = repeated_token_loss(model(x), x)
        _, cache = model.run_with_cache(source, names_filter=lambda name: name.endswith("hook_z"))
    zero, patched = ablation_effects(model, x, repeated_token_loss), patch_heads(model, x, source, repeated_token_loss)
    assert zero.dtype == patched.dtype == torch.float64
    for layer, h in itertools.product(range(CFG.n_layers), range(CFG.n_heads)):
        cut = model.state_dict()  # zero ablation: the head's columns of W_O set to zero in a copy of the weights
        cut[f"blocks.{layer}.attn.o.weight"] = cut[f"blocks.{layer}.attn.o.weight"].clone()
        cut[f"blocks.{layer}.attn.o.weight"][:, h * CFG.d_head : (h + 1) * CFG.d_head] = 0.0
        other = build_model(CFG, seed=0).double()
        other.load_state_dict(cut)
        with torch.no_grad():
            assert float(zero[layer, h]) == pytest.approx(float(repeated_token_loss(other(x), x) - clean), rel=REL, abs=1e-15)

        def swap(z, hook, layer=layer, h=h):
            z = z.clone()
            z[:, :, h] = cache[f"blocks.{layer}.attn.hook_z"][:, :, h]
            return z

        with torch.no_grad(), hooked(model, [(f"blocks.{layer}.attn.hook_z", swap)]):
            assert float(patched[layer, h]) == pytest.approx(float(repeated_token_loss(model(x), x) - clean), rel=REL)
    assert ablation_effects(build_model(CFG, seed=0), x, repeated_token_loss).dtype == torch.float32


def test_key_path_patching_of_a_float64_model_adds_the_float64_sender_output_to_the_receiver_keys():
    model, x, source = model64(), tokens(3), tokens(4)
    heads = per_head(model)
    got = path_patch_matrix(model, x, source, repeated_token_loss)
    assert got.dtype == torch.float64
    with torch.no_grad():
        clean = repeated_token_loss(model(x), x)
        z = {name: model.run_with_cache(t, names_filter=lambda n: n == "blocks.0.attn.hook_z")[1]["blocks.0.attn.hook_z"] for name, t in (("src", source), ("tgt", x))}
    for a, b in itertools.product(range(CFG.n_heads), repeat=2):
        delta = (z["src"][:, :, a] - z["tgt"][:, :, a]) @ heads[0, a][3] @ heads[1, b][1]

        def shift(k, hook, b=b, delta=delta):
            k = k.clone()
            k[:, :, b] += delta
            return k

        with torch.no_grad(), hooked(model, [("blocks.1.attn.hook_k", shift)]):
            assert float(got[a, b]) == pytest.approx(float(repeated_token_loss(model(x), x) - clean), rel=REL, abs=1e-15), (a, b)


def test_subtask_accuracies_of_a_float64_model_are_float64_fractions():
    data = in_dtype(make_task(SparseParityConfig(n_tasks=3, n_bits=6, k_bits=2, n_train=8, n_test_per_task=30), seed=0), torch.float64)
    model = build_model(MLPConfig(d_in=9, d_out=2, widths=(8,)), seed=0).double()
    x, y, task = data.test.x, data.test.y, data.info["test_task"]
    loss, accuracy = subtask_metrics(model, x, y, task, 3)
    assert loss.dtype == accuracy.dtype == torch.float64
    with torch.no_grad():
        right = model(x).argmax(-1) == y
    expected = [int(right[task == k].sum()) / int((task == k).sum()) for k in range(3)]
    assert any(e != float(torch.tensor(e, dtype=torch.float32)) for e in expected)  # fractions float32 rounds
    assert accuracy.tolist() == pytest.approx(expected, rel=REL)
    single = build_model(MLPConfig(d_in=9, d_out=2, widths=(8,)), seed=0)
    assert subtask_metrics(single, x.float(), y, task, 3)[1].dtype == torch.float32


def test_float32_inputs_of_a_float64_model_are_widened_for_its_cached_activation():
    model = build_model(MLPConfig(d_in=4, d_out=2, widths=(6,)), seed=0).double()
    x = torch.randn(5, 4, generator=torch.Generator().manual_seed(0))  # float32, as a task draws them
    for hook in ("hook_post.0", "layers.0"):  # a hook point and a submodule's output
        got = cached_activation(model, x, hook)
        assert got.dtype == torch.float64 and torch.equal(got, cached_activation(model, x.double(), hook))
    assert cached_activation(build_model(MLPConfig(d_in=4, d_out=2, widths=(6,)), seed=0), x, "hook_post.0").dtype == torch.float32
