"""Toy transformers built by TransformerLens's native factory (``TransformerBridge.boot_native``).

A ``TransformerBridge`` must never be ``copy.deepcopy``-ed (copies share the
original's capture hooks): copy weights through ``state_dict`` instead, or call
it functionally with ``torch.func.functional_call``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import MethodType
from typing import TYPE_CHECKING

import torch
from torch import nn

from bridge.config import ConfigError, config_class, require
from bridge.models.base import MODELS
from bridge.tasks.memory import check_memory, sized
from bridge.theory import mup as parametrisations

if TYPE_CHECKING:
    from transformer_lens.model_bridge import TransformerBridge

POSITIONAL_EMBEDDINGS = ("standard", "rotary")
NORMALIZATIONS = (None, "LN", "LNPre", "RMS", "RMSPre")
# What TransformerLens's native transformer builds (its NativeMLP activations and initialize_native_model's modes),
# spelled as it spells them: it lower-cases a name before looking it up, but its config reads init_range by the exact
# "gpt2" (so "GPT2" would draw the weights with std 1 instead of 0.8/√d_model); only these spellings are accepted.
ACTIVATIONS = ("gelu", "gelu_new", "relu", "silu", "solu", "solu_ln", "swish")
INIT_MODES = ("gpt2", "kaiming_normal", "kaiming_uniform", "xavier_normal", "xavier_uniform")


@config_class("transformer")
@dataclass(frozen=True)
class TransformerConfig:
    """A toy decoder-only transformer (defaults: Nanda et al.'s grokking model, no LayerNorm).

    Args:
        d_vocab: input vocabulary size; ``d_vocab_out`` output size (``None``: same).
        n_ctx: context length.
        d_model, n_heads, d_head, n_layers: residual width, heads per layer, head size, layers.
        d_mlp: MLP width; ``None`` makes the model attention-only.
        act_fn: MLP activation, one of :data:`ACTIVATIONS` (``relu``, ``gelu``, ``gelu_new``, ``silu``, ...).
        normalization: ``None`` (no LayerNorm), ``"LN"``, ``"LNPre"`` (LayerNorm without gain and bias),
            ``"RMS"`` or ``"RMSPre"`` (RMSNorm without gain).
        init_mode: TransformerLens init mode, one of :data:`INIT_MODES` (``"gpt2"``, ``"xavier_normal"``, ...).
        init_range: positive; the std of the ``gpt2`` init, the gain of the others; ``None``: TransformerLens's
            default (0.8/√d_model for ``gpt2``, gain 1 for the others).
        positional_embedding: ``"standard"`` (a learned absolute embedding added to the
            residual stream) or ``"rotary"`` (queries and keys rotated by position, so attention
            scores depend on positions only through their difference; no ``pos_embed`` weights).
        parametrisation: ``"standard"`` or ``"mup"``. Under μP, with ``r = d_model / base_width``
            (``d_head`` and ``d_mlp`` are taken to grow with ``d_model``): attention scores
            are divided by ``√d_head·√r`` (∝ ``d_head``, Yang et al. 2022, instead of ``√d_head``),
            the readout's init variance is multiplied by ``1/r`` and the embeddings' by ``r``
            (TransformerLens draws them with variance ∝ 1/d_model; μP keeps them Θ(1)), and the learning rates of
            :mod:`bridge.theory.mup` reach the optimizer through ``model.optimizer_groups``
            (embeddings and every 1-D parameter, biases and LayerNorm/RMS gains: ``input``;
            attention and MLP matrices: ``hidden``; unembedding: ``output``). At ``d_model == base_width`` it equals the standard one.
        base_width: the ``d_model`` at which μP equals the standard parametrisation.
        zero_init: μP only: start the readout and the queries at zero (Yang et al. 2022's
            recommendation; the model then differs from the standard one at ``base_width``).

    Examples:
        >>> TransformerConfig(d_vocab=7, n_ctx=3, d_mlp=None).attn_only
        True
        >>> TransformerConfig(d_vocab=7, n_ctx=3, parametrisation="mup")
        Traceback (most recent call last):
        ...
        bridge.config.ConfigError: transformer.base_width is required with parametrisation 'mup' (the d_model at which it equals the standard one)
        >>> TransformerConfig(d_vocab=7, n_ctx=3, normalization="RMSNorm")
        Traceback (most recent call last):
        ...
        bridge.config.ConfigError: transformer.normalization must be one of (None, 'LN', 'LNPre', 'RMS', 'RMSPre'), got 'RMSNorm'
        >>> TransformerConfig(d_vocab=7, n_ctx=3, act_fn="tanh")
        Traceback (most recent call last):
        ...
        bridge.config.ConfigError: transformer.act_fn must be one of ('gelu', 'gelu_new', 'relu', 'silu', 'solu', 'solu_ln', 'swish'), got 'tanh'
    """

    d_vocab: int
    n_ctx: int
    d_model: int = 128
    n_heads: int = 4
    d_head: int = 32
    n_layers: int = 1
    d_mlp: int | None = 512
    d_vocab_out: int | None = None
    act_fn: str = "relu"
    normalization: str | None = None
    init_mode: str = "gpt2"
    init_range: float | None = None
    positional_embedding: str = "standard"
    parametrisation: str = "standard"
    base_width: int | None = None
    zero_init: bool = False

    def __post_init__(self) -> None:
        for name in ("d_vocab", "n_ctx", "d_model", "n_heads", "d_head", "n_layers"):
            require(getattr(self, name) > 0, f"transformer.{name} must be positive, got {getattr(self, name)}")
        require(self.d_mlp is None or self.d_mlp > 0, f"transformer.d_mlp must be positive or None, got {self.d_mlp}")
        require(self.act_fn in ACTIVATIONS, f"transformer.act_fn must be one of {ACTIVATIONS}, got {self.act_fn!r}")
        require(self.init_mode in INIT_MODES, f"transformer.init_mode must be one of {INIT_MODES}, got {self.init_mode!r}")
        require(self.init_range is None or self.init_range > 0, f"transformer.init_range must be positive or None (TransformerLens's default), got {self.init_range!r}")
        require(self.normalization in NORMALIZATIONS, f"transformer.normalization must be one of {NORMALIZATIONS}, got {self.normalization!r}")
        require(self.positional_embedding in POSITIONAL_EMBEDDINGS, f"transformer.positional_embedding must be one of {POSITIONAL_EMBEDDINGS}, got {self.positional_embedding!r}")
        require(self.positional_embedding != "rotary" or self.d_head % 2 == 0, f"transformer: rotary positions need an even d_head, got {self.d_head}")
        require(self.d_vocab_out is None or self.d_vocab_out > 0, f"transformer.d_vocab_out must be positive or None, got {self.d_vocab_out}")
        require(self.parametrisation in ("standard", "mup"), f"transformer.parametrisation must be 'standard' or 'mup', got {self.parametrisation!r}")
        require(self.base_width is None or self.base_width > 0, f"transformer.base_width must be a positive integer, got {self.base_width}")
        require(self.parametrisation == "standard" or self.base_width is not None, "transformer.base_width is required with parametrisation 'mup' (the d_model at which it equals the standard one)")
        require(not self.zero_init or self.parametrisation == "mup", "transformer.zero_init applies to parametrisation 'mup' only")

    @property
    def attn_only(self) -> bool:
        return self.d_mlp is None


@sized("transformer")
def _transformer_bytes(c: TransformerConfig) -> tuple[dict, int]:
    """The float32 weights (embeddings, attention and MLP matrices, unembedding; twice: drawn and held), each layer's causal mask
    (``n_ctx²`` booleans) and rotary tables."""
    d, mlp = c.d_model, c.d_mlp or 0
    layer = 4 * c.n_heads * c.d_head * (d + 1) + 2 * d * mlp + mlp + 5 * d
    params = c.d_vocab * d + c.n_ctx * d + c.n_layers * layer + (d + 1) * (c.d_vocab_out or c.d_vocab) + 2 * d
    need = 8 * params + c.n_layers * (c.n_ctx**2 + 8 * c.n_ctx * c.d_head)  # weights drawn, then held
    fields = {"d_vocab": c.d_vocab, "d_vocab_out": c.d_vocab_out, "n_ctx": c.n_ctx, "d_model": d, "n_heads": c.n_heads, "d_head": c.d_head, "d_mlp": c.d_mlp, "n_layers": c.n_layers}
    return fields, need


def build_transformer(config: TransformerConfig, seed: int) -> nn.Module:
    """A ``TransformerBridge`` over a TransformerLens-native model; weights drawn from ``seed``.

    Examples:
        >>> import torch
        >>> from bridge.models import TransformerConfig, build_model
        >>> model = build_model(TransformerConfig(d_vocab=7, n_ctx=3, d_model=16, n_heads=2, d_head=8, d_mlp=32), seed=0)
        >>> tuple(model(torch.zeros(2, 3, dtype=torch.long)).shape)
        (2, 3, 7)
    """
    check_memory(config)
    from transformer_lens import TransformerBridgeConfig
    from transformer_lens.model_bridge.sources import boot_native

    tl_cfg = TransformerBridgeConfig(
        d_model=config.d_model,
        d_head=config.d_head,
        n_layers=config.n_layers,
        n_ctx=config.n_ctx,
        n_heads=config.n_heads,
        d_vocab=config.d_vocab,
        d_vocab_out=config.d_vocab_out or config.d_vocab,
        d_mlp=config.d_mlp,
        attn_only=config.attn_only,
        act_fn=config.act_fn,
        normalization_type=config.normalization,
        positional_embedding_type=config.positional_embedding,
        attn_scale=math.sqrt(config.d_head * _ratio(config)) if config.parametrisation == "mup" else -1.0,
        init_mode=config.init_mode,
        initializer_range=-1.0 if config.init_range is None else config.init_range,
        seed=seed,
        architecture="TransformerLensNative",
        default_prepend_bos=False,
    )
    model = boot_native(tl_cfg)
    if config.parametrisation == "mup":
        _apply_mup(model, config)
    return model


def _ratio(config: TransformerConfig) -> float:
    return config.d_model / config.base_width if config.base_width else 1.0


def _is_embedding(name: str) -> bool:
    return name.startswith(("tok_embed", "pos"))


def _kind(name: str, param: torch.Tensor) -> str:
    """The μP layer kind of a transformer parameter: every 1-D one (biases, LayerNorm/RMS gains) and the
    embeddings are ``input`` (vector-like), the unembedding ``output``, other matrices ``hidden``."""
    if param.ndim == 1 or _is_embedding(name):
        return "input"
    return "output" if name.startswith("head") else "hidden"


def _base_width(config: TransformerConfig) -> int:
    """``config.base_width``, which μP needs (``TransformerConfig`` requires it)."""
    if config.base_width is None:
        raise ConfigError("transformer.base_width is required with parametrisation 'mup' (the d_model at which it equals the standard one)")
    return config.base_width


def _apply_mup(model: TransformerBridge, config: TransformerConfig) -> None:
    """Rescale the readout's init (or zero it and the queries) and attach ``optimizer_groups``."""
    base = _base_width(config)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if _kind(name, p) == "output":
                p.mul_(0.0 if config.zero_init else parametrisations.factors("mup", "sgd", "output", config.d_model, base)[0] ** 0.5)
            elif _is_embedding(name):
                p.mul_(math.sqrt(_ratio(config)))  # TransformerLens draws embeddings with std ∝ 1/√d_model; μP keeps them Θ(1)
            elif config.zero_init and ".q." in name and name.endswith("weight"):
                p.zero_()

    def optimizer_groups(self: nn.Module, optimizer: str, lr: float) -> list[dict]:
        opt = "sgd" if optimizer in ("gd", "sgd") else optimizer
        return [{"params": [p], "lr": lr * parametrisations.factors("mup", opt, _kind(name, p), config.d_model, base)[2]} for name, p in self.named_parameters()]

    model.optimizer_groups = MethodType(optimizer_groups, model)


MODELS.register("transformer")(build_transformer)
