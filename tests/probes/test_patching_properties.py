"""Property tests of activation patching on a tiny attention-only transformer: a patched logit difference equals a
manual forward with a plain torch hook on the head's output; positions before the first one where the two runs differ
are untouched (causal attention); for a last-layer head, whose only path to the logits is direct, noising is minus
denoising and the effects of patching heads one at a time add up to patching them all together."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.models import TransformerConfig, build_model
from probes.heads import head_weights
from probes.patching import hook_count, hooked, patch_heads, z_hook

PROPERTY = settings(max_examples=12, deadline=None, database=None)
CFG = TransformerConfig(d_vocab=8, n_ctx=6, d_model=16, n_heads=2, d_head=8, n_layers=2, d_mlp=None)
MODEL = build_model(CFG, seed=0)


def token_pair(seed: int, batch: int, first_diff: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Random clean tokens and a corrupted copy that differs from them at position ``first_diff`` and may differ after it."""
    g = torch.Generator().manual_seed(seed)
    clean = torch.randint(0, CFG.d_vocab, (batch, CFG.n_ctx), generator=g)
    corrupted = clean.clone()
    corrupted[:, first_diff:] = torch.randint(0, CFG.d_vocab, (batch, CFG.n_ctx - first_diff), generator=g)
    corrupted[:, first_diff] = (clean[:, first_diff] + 1) % CFG.d_vocab
    return clean, corrupted


def logit_difference(position: int, good: int, bad: int):
    def metric(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        return (logits[:, position, good] - logits[:, position, bad]).mean()

    return metric


def manual_patch(target: torch.Tensor, source: torch.Tensor, layer: int, head: int, metric) -> float:
    """``metric(patched) − metric(target)`` from a plain torch forward hook on the hook point, outside the probe's own code."""
    with torch.no_grad():
        _, cache = MODEL.run_with_cache(source)
        base = float(metric(MODEL(target), target))
        z_source = cache[z_hook(layer)]
        point = MODEL.hook_dict[z_hook(layer)]

        conversion = point.hook_conversion  # the bridge's hook point carries (batch, pos, head · d_head); the cache shows heads apart

        def swap(module, inputs, output):
            z = conversion.convert(output).clone()
            z[:, :, head] = z_source[:, :, head]
            return conversion.revert(z)

        handle = point.register_forward_hook(swap)
        try:
            patched = float(metric(MODEL(target), target))
        finally:
            handle.remove()
    return patched - base


@PROPERTY
@given(st.integers(0, 2**31 - 1), st.integers(1, 3), st.integers(0, CFG.n_ctx - 1), st.integers(0, CFG.n_ctx - 1), st.integers(0, 7), st.integers(0, 7))
def test_a_patched_logit_difference_equals_a_manual_forward_with_a_plain_hook(seed, batch, first_diff, position, good, bad):
    clean, corrupted = token_pair(seed, batch, first_diff)
    metric = logit_difference(position, good, bad)
    effects = patch_heads(MODEL, clean, corrupted, metric)
    for layer in range(CFG.n_layers):
        for head in range(CFG.n_heads):
            assert float(effects[layer, head]) == pytest.approx(manual_patch(clean, corrupted, layer, head, metric), abs=2e-5)
    assert hook_count(MODEL) == 0
    # causal attention: a position before the first difference sees the same prefix in both runs, so no patch moves it
    if position < first_diff:
        assert float(effects.abs().max()) == 0.0
    elif good != bad:
        assert float(effects.abs().max()) > 0.0


@PROPERTY
@given(st.integers(0, 2**31 - 1), st.integers(1, 3), st.integers(0, CFG.n_ctx - 1), st.integers(0, 7), st.integers(0, 7))
def test_last_layer_noising_is_minus_denoising_and_single_head_effects_add_up_to_patching_all(seed, batch, position, good, bad):
    clean, corrupted = token_pair(seed, batch, 0)
    metric = logit_difference(position, good, bad)
    last = CFG.n_layers - 1
    noising = patch_heads(MODEL, clean, corrupted, metric)[last]
    denoising = patch_heads(MODEL, corrupted, clean, metric)[last]
    torch.testing.assert_close(noising, -denoising, atol=2e-5, rtol=0)
    # the direct path is linear in z: the effect of patching both heads at once is the sum, and equals (Δz W_O W_U) read by the metric
    with torch.no_grad():
        _, cache = MODEL.run_with_cache(corrupted)
        _, clean_cache = MODEL.run_with_cache(clean)
        base = float(metric(MODEL(clean), clean))
        with hooked(MODEL, [(z_hook(last), lambda z, hook: cache[z_hook(last)].clone())]):
            together = float(metric(MODEL(clean), clean)) - base
    assert together == pytest.approx(float(noising.sum()), abs=2e-5)
    w = head_weights(MODEL)
    for head in range(CFG.n_heads):
        dz = cache[z_hook(last)][:, :, head] - clean_cache[z_hook(last)][:, :, head]
        d_logits = dz @ w.W_O[last, head] @ w.W_U
        assert float(noising[head]) == pytest.approx(float((d_logits[:, position, good] - d_logits[:, position, bad]).mean()), abs=2e-5)
