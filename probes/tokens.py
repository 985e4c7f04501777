"""The token sequences a transformer probe runs its model on, checked before any forward pass; the model and
its hook functions typed as the probes use them (:func:`as_bridge`, :class:`HookFn`).

A probe that runs a TransformerBridge on ``tokens`` refuses, by the argument's name and value,
what the model would either reject from deep inside torch (float ids, ids outside the
vocabulary, sequences longer than the context, tokens on another device) or read as something
else (a 1-D sequence taken as a batch of one).

Examples:
    >>> import torch
    >>> from bridge.models import TransformerConfig, build_model
    >>> model = build_model(TransformerConfig(d_vocab=8, n_ctx=6, d_model=16, n_heads=2, d_head=8, n_layers=1, d_mlp=None), seed=0)
    >>> check_tokens(model, tokens=torch.tensor([[1, 2, 9]]))
    Traceback (most recent call last):
    ...
    ValueError: tokens must be token ids in [0, d_vocab=8), got ids in [1, 9]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, cast

import torch
from jaxtyping import Int
from torch import Tensor, nn

if TYPE_CHECKING:
    from transformer_lens.hook_points import HookPoint
    from transformer_lens.model_bridge import TransformerBridge


def as_bridge(model: nn.Module) -> TransformerBridge:
    """``model`` as the ``TransformerBridge`` a transformer probe reads (its ``cfg``, ``hook_dict``, ``run_with_cache``).

    No check and no copy: the same object, typed for what the probes read from it.

    Examples:
        >>> from bridge.models import TransformerConfig, build_model
        >>> model = build_model(TransformerConfig(d_vocab=8, n_ctx=6, d_model=16, n_heads=2, d_head=8, n_layers=1, d_mlp=None), seed=0)
        >>> as_bridge(model) is model, as_bridge(model).cfg.n_ctx
        (True, 6)
    """
    return cast("TransformerBridge", model)


class HookFn(Protocol):
    """A forward hook ``fn(tensor, hook=point) -> tensor`` on a bridge's hook point: TransformerLens passes the
    activation by position and its hook point by the keyword ``hook``, so a hook function's second parameter is named ``hook``.

    Examples:
        >>> def keep(z: torch.Tensor, hook: object) -> torch.Tensor:
        ...     return z
        >>> fn: HookFn = keep
        >>> fn(torch.ones(1), hook=None).tolist()
        [1.0]
    """

    def __call__(self, tensor: Tensor, /, *, hook: HookPoint) -> Tensor: ...


def check_tokens(model: nn.Module, **sequences: Int[Tensor, "batch pos"] | None) -> None:
    """Raise ``ValueError`` naming the argument unless each of ``sequences`` is a ``(batch, pos)`` integer tensor the model reads.

    Each keyword is a probe's argument name and its value (``None``: not given, nothing to check): ``batch >= 1``,
    ``1 <= pos <= model.cfg.n_ctx``, every id in ``[0, model.cfg.d_vocab)``, on the device of the model's parameters.

    Examples:
        >>> from bridge.models import TransformerConfig, build_model
        >>> model = build_model(TransformerConfig(d_vocab=8, n_ctx=6, d_model=16, n_heads=2, d_head=8, n_layers=1, d_mlp=None), seed=0)
        >>> check_tokens(model, tokens=torch.tensor([[1, 2, 3]]), reference=None)   # fine: returns None
        >>> check_tokens(model, target=torch.tensor([[1, 2, 3]]), source=torch.tensor([1, 2, 3]))
        Traceback (most recent call last):
        ...
        ValueError: source must be (batch, pos) token ids, got shape (3,)
    """
    for name, tokens in sequences.items():
        if tokens is not None:
            _check(model, name, tokens)


def _check(model: nn.Module, name: str, tokens: object) -> None:
    if not isinstance(tokens, Tensor):
        raise ValueError(f"{name} must be a (batch, pos) tensor of token ids, got {type(tokens).__name__}")
    if tokens.is_floating_point() or tokens.is_complex() or tokens.dtype == torch.bool:
        raise ValueError(f"{name} must be integer token ids, got dtype {tokens.dtype}")
    if tokens.ndim != 2 or tokens.shape[0] == 0:
        raise ValueError(f"{name} must be (batch, pos) token ids, got shape {tuple(tokens.shape)}")
    cfg = as_bridge(model).cfg
    if not 1 <= tokens.shape[1] <= cfg.n_ctx:
        raise ValueError(f"{name} must hold 1 to n_ctx={cfg.n_ctx} positions, got shape {tuple(tokens.shape)}")
    device = next(model.parameters()).device
    if tokens.device != device:
        raise ValueError(f"{name} must be on the model's device {device}, got {tokens.device}")
    low, high = (int(v) for v in torch.aminmax(tokens))
    if low < 0 or high >= cfg.d_vocab:
        raise ValueError(f"{name} must be token ids in [0, d_vocab={cfg.d_vocab}), got ids in [{low}, {high}]")


__all__ = ["HookFn", "as_bridge", "check_tokens"]
