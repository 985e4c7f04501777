"""The einops expressions are rewrites: each gives, bit for bit, what the view/permute/reshape chain it replaced gave.

Every test calls the library function and compares it with the replaced chain written out here.
"""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import bridge.theory.superposition as superposition_theory
from bridge.estimators.llc import _chain_copies
from bridge.losses import cross_entropy_next
from bridge.models import MLPConfig, TransformerConfig, build_model
from bridge.models.toy_superposition import (
    ToySuperposition,
    ToySuperpositionConfig,
    fit_fresh_samples,
    instance_losses,
)
from bridge.seeding import derive_seed, generator
from bridge.tasks import make_task
from bridge.tasks.modular import ModularConfig, all_pairs, modular_table
from bridge.tasks.repeated_tokens import next_token_losses
from bridge.trackers.fourier import FourierTracker
from case_studies.superposition import (
    PhaseSweep,
    phase_grid,
    trained_n2m1_phases,
)
from probes.feature_geometry import n2m1_phase
from probes.fourier import fourier_basis, n_frequencies, neuron_frequency_fve
from probes.heads import head_weights, induction_by_key_position
from probes.modular import grid_inputs, logits_and_neurons, residue_embedding
from probes.restricted_loss import (
    _phase_table,
    excluded_loss,
    logit_fve,
    restricted_loss,
    sum_directions,
    template_loss_components,
)

_SAME_WIDTH_INT = {torch.float16: torch.int16, torch.float32: torch.int32, torch.float64: torch.int64}


def assert_bitwise(new: torch.Tensor, old: torch.Tensor) -> None:
    """Same dtype, shape and bits (NaNs included, so not ``torch.equal``)."""
    assert new.dtype == old.dtype and new.shape == old.shape, (new.dtype, old.dtype, tuple(new.shape), tuple(old.shape))
    if new.is_floating_point():
        new, old = new.contiguous().view(_SAME_WIDTH_INT[new.dtype]), old.contiguous().view(_SAME_WIDTH_INT[old.dtype])
    assert torch.equal(new, old)


def test_head_weights_split_heads_as_the_view_transpose_chains_did():
    # d_model differs from n_heads * d_head, so a swapped axis cannot pass
    cfg = TransformerConfig(d_vocab=7, n_ctx=5, d_model=10, n_heads=3, d_head=4, n_layers=2, d_mlp=None)
    model = build_model(cfg, seed=5)
    w = head_weights(model)
    sd = {k: v.detach().float().cpu() for k, v in model.state_dict().items()}
    L, H, dh = cfg.n_layers, cfg.n_heads, cfg.d_head
    for name, new in (("q", w.W_Q), ("k", w.W_K), ("v", w.W_V)):
        stacked = torch.stack([sd[f"blocks.{layer}.attn.{name}.weight"] for layer in range(L)])
        assert_bitwise(new, stacked.view(L, H, dh, -1).transpose(-1, -2).contiguous())
        assert new.is_contiguous() and new.shape == (L, H, cfg.d_model, dh)
    w_o = torch.stack([sd[f"blocks.{layer}.attn.o.weight"] for layer in range(L)])
    assert_bitwise(w.W_O, w_o.view(L, -1, H, dh).permute(0, 2, 3, 1).contiguous())
    assert w.W_O.is_contiguous() and w.W_O.shape == (L, H, dh, cfg.d_model)


def _induction_by_key_position_before(pattern, tokens):
    n = tokens.shape[1]
    same = (tokens[:, :, None] == tokens[:, None, :]) & torch.ones(n, n, dtype=torch.bool).tril(-1)
    once = same.sum(-1) == 1
    key = (same.float().argmax(-1) + 1).clamp_max(n - 1)
    mass = pattern.float().gather(3, key[:, None, :, None].expand(-1, pattern.shape[1], -1, 1)).squeeze(-1)
    onehot = F.one_hot(key, n).float() * once[..., None].float()
    count = onehot.sum((0, 1))
    total = torch.einsum("bhq,bqk->hk", mass, onehot)
    return (total / count.clamp_min(1.0)).masked_fill(count == 0, float("nan")), count.long()


@pytest.mark.parametrize("seed", [0, 1])
def test_induction_by_key_position_gathers_and_contracts_as_before(seed):
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, 6, (4, 12), generator=g)
    pattern = torch.rand(4, 3, 12, 12, generator=g).tril().softmax(-1)
    mass, count = induction_by_key_position(pattern, tokens)
    old_mass, old_count = _induction_by_key_position_before(pattern, tokens)
    assert bool(mass.isnan().any()) and bool((~mass.isnan()).any())  # both branches exercised
    assert_bitwise(mass, old_mass)
    assert_bitwise(count, old_count)


def _modular(encoding: str, **kwargs):
    return make_task(ModularConfig(p=7, encoding=encoding, **kwargs), seed=3)


def test_residue_embedding_puts_the_a_and_b_blocks_side_by_side():
    net = build_model(MLPConfig(d_in=14, d_out=7, widths=(5,), activation="quadratic"), seed=2)
    w = net.layers[0].weight.detach()
    assert_bitwise(residue_embedding(net, 7), torch.cat([w[:, :7].T, w[:, 7:].T], dim=1))


@pytest.mark.parametrize("family", ["mlp", "transformer"])
def test_logits_and_neurons_fold_the_pair_grid_as_before(family):
    if family == "mlp":
        data = _modular("onehot")
        net, hook = build_model(MLPConfig(d_in=14, d_out=7, widths=(6,), activation="relu"), seed=1), "hook_post.0"
    else:
        data = _modular("tokens")
        net = build_model(TransformerConfig(d_vocab=8, d_vocab_out=7, n_ctx=3, d_model=8, n_heads=2, d_head=4, d_mlp=6), seed=1)
        hook = "blocks.0.mlp.hook_post"
    _, acts = logits_and_neurons(net, data)
    with torch.no_grad():
        _, cache = net.run_with_cache(grid_inputs(data), names_filter=lambda name: name == hook)
    old = cache[hook]
    old = old[:, -1, :] if old.ndim == 3 else old
    assert_bitwise(acts, old.reshape(7, 7, -1).detach().cpu())


def test_fourier_tracker_reads_the_label_table_in_pair_order():
    data = _modular("onehot", op="-")  # a − b: the table is not symmetric, so reading it transposed would show
    net = build_model(MLPConfig(d_in=14, d_out=7, widths=(6,), activation="quadratic"), seed=4)
    logits, _ = logits_and_neurons(net, data, neurons=False)
    rows = {r["observable"]: r["value"] for r in FourierTracker(key_frequencies=(1, 2))._logit_rows(logits, data)}
    labels, index = data.info["table"].flatten(), data.info["train_index"]
    assert rows["fourier/restricted_loss"] == restricted_loss(logits, labels, index, [1, 2], "-")
    assert rows["fourier/excluded_loss"] == excluded_loss(logits, labels, index, [1, 2], "-")
    assert rows["fourier/full_loss"] == excluded_loss(logits, labels, index, [], "-")


@pytest.mark.parametrize("op", ["+", "-"])
def test_pair_phases_fold_as_before(op):
    p, s = 7, 1 if op == "+" else -1
    a, b, c = torch.meshgrid(*(torch.arange(p, dtype=torch.float64),) * 3, indexing="ij")
    assert_bitwise(_phase_table(p, s), (a + s * b - c).reshape(p * p, p))
    a2, b2 = torch.meshgrid(torch.arange(p, dtype=torch.float64), torch.arange(p, dtype=torch.float64), indexing="ij")
    phase = (a2 + s * b2).flatten()
    cols = [f(2 * math.pi * k * phase / p) for k in (3, 1) for f in (torch.cos, torch.sin)]
    assert_bitwise(sum_directions(p, [3, 1], op), torch.stack(cols, 1) * (math.sqrt(2.0) / p))


@pytest.mark.parametrize("op", ["+", "-"])
def test_logit_fve_and_template_components_unchanged(op):
    p, s = 7, 1 if op == "+" else -1
    logits = torch.randn(p * p, p, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    a, b, c = torch.meshgrid(*(torch.arange(p, dtype=torch.float64),) * 3, indexing="ij")
    lg = logits - logits.mean(1, keepdim=True)
    phase = (a + s * b - c).reshape(p * p, p)
    explained = 0.0
    for k in (2, 3):
        f = torch.cos(2 * math.pi * k * phase / p)
        explained += float((lg * f).sum()) ** 2 / float((f * f).sum())
    assert logit_fve(logits, [2, 3], op) == explained / float((lg**2).sum())
    phase = (2 * math.pi / p) * (a + s * b - c).reshape(p * p, p)
    old = {k: 0.5 * ((float((logits * torch.cos(k * phase)).sum()) / (p**3 / 2) - m) ** 2 + (float((logits * torch.sin(k * phase)).sum()) / (p**3 / 2)) ** 2) for k, m in {1: 0.5, 3: 2.0}.items()}
    assert template_loss_components(logits, {1: 0.5, 3: 2.0}, op) == old


def test_neuron_frequency_fve_contracts_as_the_index_einsum_did():
    p = 7
    acts = torch.randn(p, p, 5, generator=torch.Generator().manual_seed(1))
    basis = fourier_basis(p)
    c = torch.einsum("ia,abn,jb->ijn", basis, acts.to(torch.float64), basis) ** 2
    total = c.sum((0, 1)) - c[0, 0]
    old = torch.zeros(n_frequencies(p) + 1, 5, dtype=torch.float64)
    for k in range(1, n_frequencies(p) + 1):
        idx = torch.tensor([0, 2 * k - 1, 2 * k])
        old[k] = c[idx][:, idx].sum((0, 1)) - c[0, 0]
    assert_bitwise(neuron_frequency_fve(acts), old / total.clamp_min(1e-30))


@pytest.mark.parametrize("kwargs", [{}, {"random_labels": True}, {"op": "-"}])
def test_modular_pairs_labels_and_table_as_before(kwargs):
    p = 7
    a, b = torch.meshgrid(torch.arange(p), torch.arange(p), indexing="ij")
    assert_bitwise(all_pairs(p), torch.stack([a.flatten(), b.flatten()], dim=1))
    data = _modular("tokens", **kwargs)
    labels = modular_table(p, kwargs.get("op", "+")).flatten()
    if kwargs.get("random_labels"):
        labels = torch.randint(0, p, (p * p,), generator=generator(derive_seed(3, "modular", "labels")))
    assert_bitwise(data.info["table"], labels.reshape(p, p))
    assert_bitwise(data.train.y, labels[data.info["train_index"]])


def _expected_loss_before(w1, w2, b1, b2, r, p, u, a):
    s = 1 - p
    zero = torch.zeros((), dtype=u.dtype)
    x1 = torch.cat([zero[None], torch.zeros_like(u), u, u[:, None].expand(-1, len(u)).reshape(-1)])
    x2 = torch.cat([zero[None], u, torch.zeros_like(u), u[None, :].expand(len(u), -1).reshape(-1)])
    wts = [(s**2)[..., None], (s * p)[..., None] * a, (p * s)[..., None] * a, (p**2)[..., None] * (a[:, None] * a[None, :]).reshape(-1)]
    weight = torch.cat([w.expand(*p.shape, -1) for w in wts], dim=-1)
    h = w1[..., None] * x1 + w2[..., None] * x2
    err = (x1 - torch.relu(w1[..., None] * h + b1[..., None])) ** 2 + r[..., None] * (x2 - torch.relu(w2[..., None] * h + b2[..., None])) ** 2
    return (weight * err).sum(-1)


def test_superposition_quadrature_grid_as_before():
    g = torch.Generator().manual_seed(2)
    w1, w2, b1, b2 = (torch.randn(3, 4, generator=g, dtype=torch.float64) for _ in range(4))
    r, p = torch.rand(3, 4, generator=g, dtype=torch.float64) + 0.1, torch.rand(3, 4, generator=g, dtype=torch.float64)
    u, a = superposition_theory._quadrature(5)
    assert_bitwise(superposition_theory._expected_loss(w1, w2, b1, b2, r, p, u, a), _expected_loss_before(w1, w2, b1, b2, r, p, u, a))


def test_superposition_importance_density_grid_as_before(monkeypatch):
    seen = []
    original = superposition_theory._expected_loss

    def spy(w1, w2, b1, b2, r, p, u, a, **kwargs):
        seen.append((r, p))
        return original(w1, w2, b1, b2, r, p, u, a, **kwargs)

    monkeypatch.setattr(superposition_theory, "_expected_loss", spy)
    importance, density = [0.5, 2.0, 4.0], [1.0, 0.1]
    superposition_theory.n2m1_candidate_losses(importance, density, n_nodes=4, steps=1)
    old_r = torch.tensor(np.asarray(importance, dtype=float))[:, None].expand(-1, len(density))
    old_p = torch.tensor(np.asarray(density, dtype=float))[None, :].expand(len(importance), -1)
    assert len(seen) == 6
    for r, p in seen:
        assert_bitwise(r, old_r)
        assert_bitwise(p, old_p)


@pytest.mark.parametrize("instances", [1, 3])
def test_toy_superposition_forward_and_gradient_as_the_index_einsums(instances):
    model = ToySuperposition(ToySuperpositionConfig(n_features=5, n_hidden=2, n_instances=instances), seed=1)
    with torch.no_grad():
        model.b.normal_(generator=torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(4)
    for x in (torch.rand(6, 5, generator=g), torch.rand(6, instances, 5, generator=g)):
        new = model(x)
        (grad_new,) = torch.autograd.grad(new.square().sum(), model.W)
        xi = x[:, None, :].expand(-1, instances, -1) if x.dim() == 2 else x
        h = torch.einsum("bin,imn->bim", xi, model.W)
        old = torch.relu(torch.einsum("bim,imn->bin", h, model.W) + model.b)
        old = old[:, 0] if x.dim() == 2 and instances == 1 else old
        (grad_old,) = torch.autograd.grad(old.square().sum(), model.W)
        assert_bitwise(new, old)
        assert_bitwise(grad_new, grad_old)


def test_trained_n2m1_phases_group_instances_by_seed_as_before():
    preset, seed = PhaseSweep(importance=3, density=2, seeds=2, steps=4, batch_size=16), 5
    phases, weights = trained_n2m1_phases(preset, seed)
    r, p = phase_grid(preset)
    R, P = np.meshgrid(r, p, indexing="ij")
    cells, seeds = R.size, preset.seeds
    importance = torch.tensor(np.stack([np.ones(cells), R.ravel()], axis=1), dtype=torch.float32).repeat(seeds, 1)
    density = torch.tensor(P.ravel(), dtype=torch.float32).repeat(seeds)
    model = ToySuperposition(ToySuperpositionConfig(2, 1, n_instances=cells * seeds), seed=seed)
    fit_fresh_samples(model, importance, density, steps=preset.steps, batch_size=preset.batch_size, lr=preset.lr, seed=seed)
    losses = instance_losses(model, importance, density, seed=seed + 1).reshape(seeds, cells)
    W = model.W.detach().reshape(seeds, cells, 1, 2)
    best = losses.argmin(dim=0)
    old_weights = torch.stack([W[best[c], c] for c in range(cells)])
    old_phases = np.array([n2m1_phase(w) for w in old_weights], dtype=object).reshape(R.shape)
    assert len(set(best.tolist())) == 2  # the best seed differs between cells: the grouping is tested
    assert phases.shape == old_phases.shape and (phases == old_phases).all()
    assert weights.dtype == np.float32 and np.array_equal(weights, old_weights.reshape(*R.shape, 2).numpy())


def test_chain_copies_stack_one_copy_per_chain():
    g = torch.Generator().manual_seed(6)
    w_star = {"w": torch.randn(3, 4, generator=g), "b": torch.randn(4, generator=g), "scale": torch.randn((), generator=g)}
    copies = _chain_copies(w_star, 5)
    for k, v in w_star.items():
        assert_bitwise(copies[k], v.unsqueeze(0).repeat(5, *([1] * v.dim())))
        assert copies[k].is_contiguous() and copies[k].data_ptr() != v.data_ptr()


def test_next_token_losses_merge_and_split_batch_and_positions_as_before():
    g = torch.Generator().manual_seed(7)
    logits, tokens = torch.randn(3, 6, 9, generator=g), torch.randint(0, 9, (3, 6), generator=g)
    ce = F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), tokens[:, 1:].flatten(), reduction="none").view(tokens.shape[0], -1)
    assert_bitwise(next_token_losses(logits, tokens), torch.cat([torch.full_like(ce[:, :1], float("nan")), ce], dim=1))
    assert_bitwise(cross_entropy_next(logits, tokens), F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), tokens[:, 1:].flatten()))
