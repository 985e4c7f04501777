"""The toy transformer's config accepts exactly the activations and init modes TransformerLens's native builder
builds, and a positive init range, and refuses anything else when it is constructed, naming the setting."""

from __future__ import annotations

import math
import re

import pytest
import torch

from bridge.config import ConfigError
from bridge.models import TransformerConfig, build_model
from bridge.models.transformer import ACTIVATIONS, INIT_MODES
from bridge.overrides import apply

SMALL = dict(d_vocab=7, n_ctx=3, d_model=16, n_heads=2, d_head=8, d_mlp=32)


def test_the_accepted_names_are_those_of_transformer_lens_native_builder():
    from transformer_lens.model_bridge.sources.native import init as native_init
    from transformer_lens.model_bridge.sources.native import model as native_model

    assert ACTIVATIONS == tuple(sorted(native_model._ACTIVATIONS))
    assert INIT_MODES == tuple(sorted(native_init._SUPPORTED_MODES))


@pytest.mark.parametrize("act_fn", ACTIVATIONS)
def test_every_accepted_activation_builds_a_model_whose_output_is_finite(act_fn):
    model = build_model(TransformerConfig(**SMALL, act_fn=act_fn), seed=0)
    out = model(torch.zeros(2, 3, dtype=torch.long))
    assert out.shape == (2, 3, 7) and torch.isfinite(out).all()


@pytest.mark.parametrize("init_mode", INIT_MODES)
def test_every_accepted_init_mode_builds_with_and_without_an_init_range(init_mode):
    for init_range in (None, 0.05):
        model = build_model(TransformerConfig(**SMALL, init_mode=init_mode, init_range=init_range), seed=0)
        assert all(torch.isfinite(p).all() for p in model.parameters())


def test_gpt2_init_range_sets_the_embedding_std_and_none_gives_the_default():
    cfg = dict(SMALL, d_vocab=400, d_model=64, d_head=32)
    default = build_model(TransformerConfig(**cfg), seed=0).tok_embed.weight
    chosen = build_model(TransformerConfig(**cfg, init_range=0.02), seed=0).tok_embed.weight
    # 400·64 draws: the sample std is within 2% of the drawn one
    assert default.std().item() == pytest.approx(0.8 / math.sqrt(64), rel=0.02)
    assert chosen.std().item() == pytest.approx(0.02, rel=0.02)


@pytest.mark.parametrize("act_fn", ["tanh", "ReLU", "GELU", "", "relu "])
@pytest.mark.parametrize("d_mlp", [32, None])
def test_an_unknown_activation_is_refused_at_construction_naming_model_act_fn(act_fn, d_mlp):
    with pytest.raises(ConfigError, match=re.escape(f"transformer.act_fn must be one of {ACTIVATIONS}, got {act_fn!r}")):
        TransformerConfig(**dict(SMALL, d_mlp=d_mlp), act_fn=act_fn)


@pytest.mark.parametrize("init_mode", ["normal", "GPT2", "Xavier_Normal", "kaiming"])
def test_an_unknown_init_mode_is_refused_at_construction_naming_model_init_mode(init_mode):
    """``"GPT2"`` was built by TransformerLens as ``gpt2`` but with std 1 instead of 0.8/√d_model."""
    with pytest.raises(ConfigError, match=re.escape(f"transformer.init_mode must be one of {INIT_MODES}, got {init_mode!r}")):
        TransformerConfig(**SMALL, init_mode=init_mode)


@pytest.mark.parametrize("init_range", [-0.5, -1.0, -1e-12, 0.0])
def test_an_init_range_that_is_not_positive_is_refused_naming_it(init_range):
    """A negative or zero range was silently replaced by TransformerLens's default."""
    with pytest.raises(ConfigError, match=re.escape(f"transformer.init_range must be positive or None (TransformerLens's default), got {init_range!r}")):
        TransformerConfig(**SMALL, init_range=init_range)


@pytest.mark.parametrize("init_range", [float("nan"), float("inf"), True])
def test_an_init_range_that_is_not_a_finite_number_is_refused_naming_it(init_range):
    with pytest.raises(ConfigError, match="init_range"):
        TransformerConfig(**SMALL, init_range=init_range)


def test_set_on_a_preset_refuses_these_values_naming_the_field():
    from case_studies.induction_heads import PRESETS

    for setting, field in (("model.act_fn=tanh", "transformer.act_fn"), ("model.init_mode=normal", "transformer.init_mode"), ("model.init_range=-0.02", "transformer.init_range")):
        with pytest.raises(ConfigError, match=re.escape(field)):
            apply(PRESETS["quick"], [setting])
    assert apply(PRESETS["quick"], ["model.act_fn=gelu_new", "model.init_range=0.02"]).model.init_range == 0.02
