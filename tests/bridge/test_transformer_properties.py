"""Property tests of the toy transformer over drawn tiny configs (one or two layers, d_model up to 16, n_ctx up to 8,
attention-only or with MLPs, every normalization, learned or rotary positions, standard or μP): the cached attention
patterns are causal softmaxes of the scaled query-key scores, the logits are the final residual stream (normalised by
hand) times the unembedding plus its bias, a position's logits never read later tokens, a config and a seed give the
same weights whatever the global random state, and a checkpoint written and read by the run store gives the weights
back bit for bit."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.models import TransformerConfig, build_model, move_to
from bridge.models.transformer import ACTIVATIONS, INIT_MODES
from bridge.runs.checkpoints import checkpoint_path, load_model, saved_steps
from bridge.runs.storage import save_tensors

PROPERTY = settings(max_examples=12, deadline=None, database=None)
EPS = 1e-5  # TransformerLens's LayerNorm and RMSNorm epsilon


@st.composite
def configs(draw) -> TransformerConfig:
    d_head = draw(st.sampled_from([2, 4, 8]))
    n_heads = draw(st.integers(1, 16 // d_head))
    mup = draw(st.booleans())
    return TransformerConfig(
        d_vocab=draw(st.integers(2, 9)),
        n_ctx=draw(st.integers(1, 8)),
        d_model=draw(st.sampled_from([4, 8, 12, 16])),
        n_heads=n_heads,
        d_head=d_head,
        n_layers=draw(st.integers(1, 2)),
        d_mlp=draw(st.one_of(st.none(), st.integers(1, 16))),
        d_vocab_out=draw(st.one_of(st.none(), st.integers(2, 6))),
        act_fn=draw(st.sampled_from(["relu", "gelu", "silu"])),
        normalization=draw(st.sampled_from([None, "LN", "LNPre", "RMS", "RMSPre"])),
        positional_embedding=draw(st.sampled_from(["standard", "rotary"])),
        parametrisation="mup" if mup else "standard",
        base_width=draw(st.sampled_from([2, 4, 8])) if mup else None,
    )


def tokens(cfg: TransformerConfig, batch: int, seed: int) -> torch.Tensor:
    return torch.randint(0, cfg.d_vocab, (batch, cfg.n_ctx), generator=torch.Generator().manual_seed(seed))


def with_drawn_norms_and_unembedding_bias(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """The model with every LayerNorm/RMS gain and bias and the unembedding bias drawn away from their 1 and 0 init."""
    g = torch.Generator().manual_seed(seed)
    state = model.state_dict()
    for name, value in state.items():
        if name.startswith("ln_final.") or ".ln" in name or name == "unembed.bias":
            state[name] = value + 0.5 * torch.randn(value.shape, generator=g, dtype=value.dtype)
    model.load_state_dict(state)
    return model


def normalise(x: torch.Tensor, kind: str | None, weight: torch.Tensor | None, bias: torch.Tensor | None) -> torch.Tensor:
    """TransformerLens's final normalisation written out: centre (LN), divide by the root mean square, then gain and bias."""
    if kind is None:
        return x
    if kind.startswith("LN"):
        x = x - x.mean(-1, keepdim=True)
    x = x / (x.pow(2).mean(-1, keepdim=True) + EPS).sqrt()
    return x if kind.endswith("Pre") else x * weight + (0.0 if bias is None else bias)


# ---------------------------------------------------------------- attention, logits, causality


@PROPERTY
@given(configs(), st.integers(0, 2**16))
def test_every_attention_pattern_is_a_causal_softmax_of_the_scaled_query_key_scores(cfg, seed):
    model = build_model(cfg, seed)
    _, cache = model.run_with_cache(tokens(cfg, 3, seed))
    scale = math.sqrt(cfg.d_head * (cfg.d_model / cfg.base_width if cfg.parametrisation == "mup" else 1.0))
    above = torch.ones(cfg.n_ctx, cfg.n_ctx, dtype=torch.bool).triu(1)
    for layer in range(cfg.n_layers):
        pattern = cache[f"blocks.{layer}.attn.hook_pattern"]  # (batch, head, query, key)
        assert pattern.shape == (3, cfg.n_heads, cfg.n_ctx, cfg.n_ctx)
        assert torch.all(pattern[..., above] == 0)  # exactly zero above the diagonal
        torch.testing.assert_close(pattern.sum(-1), torch.ones(3, cfg.n_heads, cfg.n_ctx), rtol=0, atol=1e-6)
        if cfg.positional_embedding == "standard":  # rotary rotates q and k after their hooks
            q, k = cache[f"blocks.{layer}.attn.hook_q"], cache[f"blocks.{layer}.attn.hook_k"]  # (batch, pos, head, d_head)
            scores = torch.einsum("bqhd,bkhd->bhqk", q, k) / scale
            torch.testing.assert_close(pattern, scores.masked_fill(above, -math.inf).softmax(-1), rtol=1e-5, atol=1e-6)


@PROPERTY
@given(configs(), st.integers(0, 2**16))
def test_the_logits_are_the_normalised_final_residual_stream_times_the_unembedding_plus_its_bias(cfg, seed):
    model = with_drawn_norms_and_unembedding_bias(build_model(cfg, seed), seed + 1)
    logits, cache = model.run_with_cache(tokens(cfg, 2, seed))
    state = model.state_dict()
    resid = cache[f"blocks.{cfg.n_layers - 1}.hook_resid_post"]
    final = normalise(resid, cfg.normalization, state.get("ln_final.weight"), state.get("ln_final.bias"))
    expected = final @ state["unembed.weight"].T + state["unembed.bias"]
    assert logits.shape == expected.shape == (2, cfg.n_ctx, cfg.d_vocab_out or cfg.d_vocab)
    torch.testing.assert_close(logits, expected, rtol=1e-5, atol=1e-5)
    if cfg.normalization is None:  # no final norm: the residual stream reaches the unembedding as it is
        torch.testing.assert_close(cache["ln_final.hook_out"], resid, rtol=0, atol=0)


@PROPERTY
@given(configs(), st.integers(0, 2**16), st.data())
def test_the_logits_at_a_position_do_not_depend_on_later_tokens(cfg, seed, data):
    model = build_model(cfg, seed)
    before = tokens(cfg, 4, seed)
    t = data.draw(st.integers(0, cfg.n_ctx - 1), label="last position kept")
    after = before.clone()
    after[:, t + 1 :] = tokens(cfg, 4, seed + 1)[:, t + 1 :]
    assert torch.equal(model(before)[:, : t + 1], model(after)[:, : t + 1])
    if t + 1 < cfg.n_ctx and cfg.d_vocab > 1:  # and the changed positions do see their own tokens
        changed = before.clone()
        changed[:, t + 1] = (before[:, t + 1] + 1) % cfg.d_vocab
        assert not torch.equal(model(before)[:, t + 1], model(changed)[:, t + 1])


# ---------------------------------------------------------------- seeds and the run store


@PROPERTY
@given(configs(), st.integers(0, 2**16), st.integers(1, 2**16), st.integers(0, 2**16))
def test_a_config_and_seed_build_the_same_weights_whatever_the_global_random_state(cfg, seed, offset, global_seed):
    torch.manual_seed(global_seed)
    state = torch.get_rng_state()
    a = build_model(cfg, seed).state_dict()
    assert torch.equal(torch.get_rng_state(), state)  # building draws nothing from the global generator
    torch.manual_seed(global_seed + 1)
    b = build_model(cfg, seed).state_dict()
    c = build_model(cfg, seed + offset).state_dict()
    assert list(a) == list(b)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["embed.weight"], c["embed.weight"])


@PROPERTY
@given(configs(), st.integers(0, 2**16), st.sampled_from([torch.float32, torch.float64]), st.integers(0, 10**6))
def test_a_checkpoint_written_and_read_by_the_run_store_gives_the_weights_back_bit_for_bit(cfg, seed, dtype, step):
    model = move_to(with_drawn_norms_and_unembedding_bias(build_model(cfg, seed), seed + 1), dtype)
    fresh = move_to(build_model(cfg, seed + 2), dtype)
    with tempfile.TemporaryDirectory() as folder:
        run = SimpleNamespace(path=Path(folder), steps=[step], config=None)
        checkpoint_path(run.path, step).parent.mkdir()
        save_tensors(checkpoint_path(run.path, step), model.state_dict(), {"step": str(step)})
        assert saved_steps(run.path) == [step]
        loaded = load_model(run, step, into=fresh)
    assert loaded is fresh and not loaded.training
    saved, back = model.state_dict(), loaded.state_dict()
    assert list(saved) == list(back)
    for name in saved:
        assert back[name].dtype == dtype and torch.equal(back[name], saved[name]), name
    x = tokens(cfg, 2, seed)
    assert torch.equal(loaded(x), model.eval()(x))


# ---------------------------------------------------------------- settings


@pytest.mark.parametrize("act_fn", ACTIVATIONS)
def test_every_accepted_activation_builds_and_runs(act_fn):
    model = build_model(TransformerConfig(d_vocab=5, n_ctx=3, d_model=8, n_heads=2, d_head=4, d_mlp=6, act_fn=act_fn), seed=0)
    assert torch.isfinite(model(torch.tensor([[0, 1, 2]]))).all()


@pytest.mark.parametrize("init_mode", INIT_MODES)
def test_every_accepted_init_mode_builds_and_a_given_init_range_sets_its_scale(init_mode):
    """``gpt2`` draws with std ``init_range``; xavier and kaiming read it as their gain: doubling it doubles every weight."""
    cfg = TransformerConfig(d_vocab=50, n_ctx=3, d_model=16, n_heads=2, d_head=8, d_mlp=16, init_mode=init_mode, init_range=0.1)
    one = build_model(cfg, seed=0).state_dict()
    two = build_model(TransformerConfig(**{**cfg.__dict__, "init_range": 0.2}), seed=0).state_dict()
    torch.testing.assert_close(two["embed.weight"], 2.0 * one["embed.weight"], rtol=1e-6, atol=0)
    if init_mode == "gpt2":
        assert 0.08 < float(one["embed.weight"].std()) < 0.12  # 800 draws of std 0.1
