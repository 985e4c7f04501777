"""Toy transformers built by TransformerLens's native factory (``TransformerBridge.boot_native``).

A ``TransformerBridge`` must never be ``copy.deepcopy``-ed (copies share the
original's capture hooks): copy weights through ``state_dict`` instead, or call
it functionally with ``torch.func.functional_call``.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from bridge.config import config_class, require
from bridge.models.base import MODELS

POSITIONAL_EMBEDDINGS = ("standard", "rotary")


@config_class("transformer")
@dataclass(frozen=True)
class TransformerConfig:
    """A toy decoder-only transformer (defaults: Nanda et al.'s grokking model, no LayerNorm).

    Args:
        d_vocab: input vocabulary size; ``d_vocab_out`` output size (``None``: same).
        n_ctx: context length.
        d_model, n_heads, d_head, n_layers: residual width, heads per layer, head size, layers.
        d_mlp: MLP width; ``None`` makes the model attention-only.
        act_fn: MLP activation (``relu``, ``gelu``, ...).
        normalization: ``None`` (no LayerNorm), ``"LN"``, ``"LNPre"``, ``"RMS"``.
        init_mode: TransformerLens init mode (``"gpt2"``, ``"xavier_normal"``, ...).
        init_range: std of the ``gpt2`` init; ``None``: TransformerLens's default (0.8/√d_model).
        positional_embedding: ``"standard"`` (a learned absolute embedding added to the
            residual stream) or ``"rotary"`` (queries and keys rotated by position, so attention
            scores depend on positions only through their difference; no ``pos_embed`` weights).
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

    def __post_init__(self) -> None:
        for name in ("d_vocab", "n_ctx", "d_model", "n_heads", "d_head", "n_layers"):
            require(getattr(self, name) > 0, f"transformer.{name} must be positive, got {getattr(self, name)}")
        require(self.d_mlp is None or self.d_mlp > 0, f"transformer.d_mlp must be positive or None, got {self.d_mlp}")
        require(self.positional_embedding in POSITIONAL_EMBEDDINGS, f"transformer.positional_embedding must be one of {POSITIONAL_EMBEDDINGS}, got {self.positional_embedding!r}")
        require(self.positional_embedding != "rotary" or self.d_head % 2 == 0, f"transformer: rotary positions need an even d_head, got {self.d_head}")
        require(self.d_vocab_out is None or self.d_vocab_out > 0, f"transformer.d_vocab_out must be positive or None, got {self.d_vocab_out}")

    @property
    def attn_only(self) -> bool:
        return self.d_mlp is None


def build_transformer(config: TransformerConfig, seed: int) -> nn.Module:
    """A ``TransformerBridge`` over a TransformerLens-native model; weights drawn from ``seed``.

    Examples:
        >>> import torch
        >>> from bridge.models import TransformerConfig, build_model
        >>> model = build_model(TransformerConfig(d_vocab=7, n_ctx=3, d_model=16, n_heads=2, d_head=8, d_mlp=32), seed=0)
        >>> tuple(model(torch.zeros(2, 3, dtype=torch.long)).shape)
        (2, 3, 7)
    """
    from transformer_lens import TransformerBridgeConfig
    from transformer_lens.model_bridge import TransformerBridge
    import transformer_lens.model_bridge.sources  # noqa: F401  (attaches boot_native)

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
        init_mode=config.init_mode,
        initializer_range=-1.0 if config.init_range is None else config.init_range,
        seed=seed,
        architecture="TransformerLensNative",
        default_prepend_bos=False,
    )
    return TransformerBridge.boot_native(tl_cfg)


MODELS.register("transformer")(build_transformer)
