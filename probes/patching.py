"""Causal interventions on attention heads: ablation, activation patching, path patching.

Every intervention is a forward hook on a TransformerBridge hook point
(``blocks.{l}.attn.hook_z`` for a head's output, ``blocks.{l}.attn.hook_k`` for its
keys) added inside :func:`hooked`, which removes exactly the hooks it added when
the block exits, also when the measured function raises.

Effects are differences of a scalar ``metric(logits, tokens)`` (e.g.
:func:`bridge.tasks.repeated_tokens.repeated_token_loss`): intervened minus
clean, so a positive effect on a loss means the intervention hurt. They are
float64 when the metric is (a float64 model's loss), else float32.

Examples:
    >>> import torch
    >>> from bridge.models import TransformerConfig, build_model
    >>> from bridge.tasks.repeated_tokens import repeated_token_loss
    >>> model = build_model(TransformerConfig(d_vocab=8, n_ctx=6, d_model=16, n_heads=2, d_head=8, n_layers=2, d_mlp=None), seed=0)
    >>> tokens = torch.tensor([[1, 2, 3, 1, 2, 3]])
    >>> effects = patch_heads(model, tokens, tokens, repeated_token_loss)   # a run patched into itself
    >>> float(effects.abs().max())
    0.0
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from itertools import combinations

import torch
from jaxtyping import Float, Int
from torch import Tensor, nn

from probes.heads import head_weights
from probes.tokens import HookFn, as_bridge, check_tokens

Metric = Callable[[Tensor, Tensor], Tensor]
Head = tuple[int, int]
ABLATIONS = ("zero", "mean")


def z_hook(layer: int) -> str:
    """Name of the hook point holding layer ``layer``'s per-head outputs ``(batch, pos, head, d_head)``.

    Examples:
        >>> z_hook(1)
        'blocks.1.attn.hook_z'
    """
    return f"blocks.{layer}.attn.hook_z"


def hook_count(model: nn.Module) -> int:
    """Number of forward hooks attached to the model's hook points (0 for a clean model).

    Examples:
        >>> from bridge.models import TransformerConfig, build_model
        >>> model = build_model(TransformerConfig(d_vocab=8, n_ctx=6, d_model=16, n_heads=2, d_head=8, n_layers=2, d_mlp=None), seed=0)
        >>> hook_count(model)
        0
    """
    points = {id(point): point for point in as_bridge(model).hook_dict.values()}  # aliases share one point
    return sum(len(point._forward_hooks) for point in points.values())


@contextmanager
def hooked(model: nn.Module, fwd_hooks: Sequence[tuple[str, HookFn]]) -> Iterator[nn.Module]:
    """Attach forward hooks for the duration of the block; they are removed in ``finally``.

    Args:
        model: a TransformerBridge.
        fwd_hooks: ``(hook point name, fn(tensor, hook) -> tensor)`` pairs.

    Raises:
        KeyError: an unknown hook point (before anything is attached).

    Examples:
        >>> from bridge.models import TransformerConfig, build_model
        >>> model = build_model(TransformerConfig(d_vocab=8, n_ctx=6, d_model=16, n_heads=2, d_head=8, n_layers=2, d_mlp=None), seed=0)
        >>> with hooked(model, [(z_hook(0), lambda z, hook: z)]): print(hook_count(model))
        1
        >>> hook_count(model)
        0
    """
    points = as_bridge(model).hook_dict
    for name, _ in fwd_hooks:
        if name not in points:
            raise KeyError(f"unknown hook point {name!r}")
    handles = []
    try:
        for name, fn in fwd_hooks:
            handles.append((points[name], points[name].add_hook(fn, dir="fwd")))  # type: ignore[arg-type]  # TransformerLens's HookFunction names the tensor `tensor`, though it passes it by position
        yield model
    finally:
        for point, handle in handles:
            handle.hook.remove()
            if handle in point.fwd_hooks:
                point.fwd_hooks.remove(handle)


def _effect_dtype(value: Tensor) -> torch.dtype:
    """The dtype of effects of a metric whose value is ``value``: float64 for a float64 metric, else float32."""
    return torch.float64 if torch.as_tensor(value).dtype == torch.float64 else torch.float32


def _forward(model: nn.Module, tokens: Tensor, hooks: Sequence[tuple[str, HookFn]] = ()) -> Tensor:
    with torch.no_grad(), hooked(model, hooks):
        return model(tokens)


def _z_cache(model: nn.Module, tokens: Tensor) -> list[Tensor]:
    names = [z_hook(layer) for layer in range(as_bridge(model).cfg.n_layers)]
    with torch.no_grad():
        _, cache = as_bridge(model).run_with_cache(tokens, names_filter=lambda name: name in names)
    return [cache[name] for name in names]


def _check_heads(model: nn.Module, heads: Sequence[Head]) -> None:
    cfg = as_bridge(model).cfg
    for layer, head in heads:
        if not (0 <= layer < cfg.n_layers and 0 <= head < cfg.n_heads):
            raise ValueError(f"head ({layer}, {head}) does not exist in a model with {cfg.n_layers} layers of {cfg.n_heads} heads")


def _check_means(model: nn.Module, means: object) -> None:
    cfg = as_bridge(model).cfg
    if not isinstance(means, Tensor) or means.ndim != 4 or (means.shape[0], means.shape[2], means.shape[3]) != (cfg.n_layers, cfg.n_heads, cfg.d_head):
        got = tuple(means.shape) if isinstance(means, Tensor) else type(means).__name__
        raise ValueError(f"means must be (layer, pos, head, d_head) = ({cfg.n_layers}, pos, {cfg.n_heads}, {cfg.d_head}) from mean_head_outputs, got {got}")


def mean_head_outputs(model: nn.Module, tokens: Int[Tensor, "batch pos"]) -> Float[Tensor, "layer pos head d_head"]:
    """Per-position mean of every head's output ``z`` over the sequences in ``tokens`` (for mean ablation).

    Examples:
        >>> from bridge.models import TransformerConfig, build_model
        >>> model = build_model(TransformerConfig(d_vocab=8, n_ctx=6, d_model=16, n_heads=2, d_head=8, n_layers=2, d_mlp=None), seed=0)
        >>> tuple(mean_head_outputs(model, torch.tensor([[1, 2, 3, 1, 2, 3], [4, 5, 6, 4, 5, 6]])).shape)   # (layer, pos, head, d_head)
        (2, 6, 2, 8)
    """
    check_tokens(model, tokens=tokens)
    return torch.stack([z.mean(0) for z in _z_cache(model, tokens)])


@contextmanager
def ablated(model: nn.Module, heads: Sequence[Head], mode: str = "zero", means: Tensor | None = None) -> Iterator[nn.Module]:
    """Inside the block, the output ``z`` of each head in ``heads`` is zeroed or replaced by its mean.

    Args:
        model: a TransformerBridge.
        heads: ``(layer, head)`` pairs.
        mode: ``"zero"`` or ``"mean"``.
        means: ``(layer, pos, head, d_head)`` from :func:`mean_head_outputs` (needed for ``"mean"``).

    Examples:
        >>> from bridge.models import TransformerConfig, build_model
        >>> model = build_model(TransformerConfig(d_vocab=8, n_ctx=6, d_model=16, n_heads=2, d_head=8, n_layers=2, d_mlp=None), seed=0)
        >>> tokens = torch.tensor([[1, 2, 3, 1, 2, 3]]); before = model(tokens)
        >>> with ablated(model, [(0, 1)], "mean", mean_head_outputs(model, tokens)): after = model(tokens)
        >>> torch.equal(before, after), hook_count(model)   # the mean over one sequence is the head's own output
        (True, 0)
    """
    if mode not in ABLATIONS:
        raise ValueError(f"ablation mode must be one of {ABLATIONS}, got {mode!r}")
    if mode == "mean" and means is None:
        raise ValueError("mean ablation needs means=mean_head_outputs(model, reference_tokens)")
    _check_heads(model, heads)
    if mode == "mean":
        _check_means(model, means)
    by_layer: dict[int, list[int]] = {}
    for layer, head in heads:
        by_layer.setdefault(layer, []).append(head)
    fill = means if mode == "mean" else None  # None: zero ablation

    def make(layer: int, hs: list[int]) -> HookFn:
        def fn(z: Tensor, hook: object) -> Tensor:
            if fill is not None and fill.shape[1] < z.shape[1]:
                raise ValueError(f"means cover {fill.shape[1]} positions, the tokens have {z.shape[1]}: take them with mean_head_outputs on sequences at least as long")
            z = z.clone()
            z[:, :, hs] = 0.0 if fill is None else fill[layer, : z.shape[1], hs].to(z)
            return z

        return fn

    with hooked(model, [(z_hook(layer), make(layer, hs)) for layer, hs in by_layer.items()]):
        yield model


def ablation_effects(
    model: nn.Module, tokens: Int[Tensor, "batch pos"], metric: Metric, mode: str = "zero", reference: Tensor | None = None
) -> Float[Tensor, "layer head"]:
    """``metric(ablated) − metric(clean)`` for each head ablated alone.

    Args:
        tokens: the sequences the metric is measured on.
        metric: ``(logits, tokens) -> scalar``.
        mode: ``"zero"`` or ``"mean"`` ablation.
        reference: sequences for the means of mean ablation (default: ``tokens``).

    Returns:
        ``(n_layers, n_heads)`` effects.

    Examples:
        >>> from bridge.models import TransformerConfig, build_model; from bridge.tasks.repeated_tokens import repeated_token_loss
        >>> model = build_model(TransformerConfig(d_vocab=8, n_ctx=6, d_model=16, n_heads=2, d_head=8, n_layers=2, d_mlp=None), seed=0)
        >>> effects = ablation_effects(model, torch.tensor([[1, 2, 3, 1, 2, 3]]), repeated_token_loss, mode="mean")
        >>> tuple(effects.shape), float(effects.abs().max())   # one sequence: each head replaced by itself
        ((2, 2), 0.0)
    """
    if mode not in ABLATIONS:
        raise ValueError(f"ablation mode must be one of {ABLATIONS}, got {mode!r}")
    check_tokens(model, tokens=tokens, reference=reference)
    if reference is not None and reference.shape[1:] != tokens.shape[1:]:
        raise ValueError(f"reference sequences must have the tokens' length: got shape {tuple(reference.shape)} for tokens {tuple(tokens.shape)}")
    means = mean_head_outputs(model, tokens if reference is None else reference) if mode == "mean" else None
    clean = metric(_forward(model, tokens), tokens)
    out = torch.zeros(as_bridge(model).cfg.n_layers, as_bridge(model).cfg.n_heads, dtype=_effect_dtype(clean))
    for layer in range(out.shape[0]):
        for head in range(out.shape[1]):
            with torch.no_grad(), ablated(model, [(layer, head)], mode, means):
                out[layer, head] = metric(model(tokens), tokens) - clean
    return out


def patch_heads(model: nn.Module, target: Int[Tensor, "batch pos"], source: Int[Tensor, "batch pos"], metric: Metric) -> Float[Tensor, "layer head"]:
    """Activation patching: run ``target`` with one head's output taken from the ``source`` run.

    Returns ``metric(patched) − metric(target run)`` per head, the metric scored
    against ``target``. With ``target`` clean and ``source`` corrupted this is
    "noising" (how much the head's clean output matters); swapped, "denoising".
    A run patched into itself (``source == target``) gives exactly zero.

    Args:
        target, source: ``(batch, pos)`` token sequences of one shape.
        metric: ``(logits, tokens) -> scalar``.

    Returns:
        ``(n_layers, n_heads)`` effects.

    Examples:
        >>> from bridge.models import TransformerConfig, build_model; from bridge.tasks.repeated_tokens import repeated_token_loss
        >>> model = build_model(TransformerConfig(d_vocab=8, n_ctx=6, d_model=16, n_heads=2, d_head=8, n_layers=2, d_mlp=None), seed=0)
        >>> tokens = torch.tensor([[1, 2, 3, 1, 2, 3]])
        >>> tuple(patch_heads(model, tokens, tokens.flip(1), repeated_token_loss).shape)
        (2, 2)
    """
    check_tokens(model, target=target, source=source)
    if target.shape != source.shape:
        raise ValueError(f"target and source must have one shape, got {tuple(target.shape)} and {tuple(source.shape)}")
    z_src = _z_cache(model, source)
    base = metric(_forward(model, target), target)
    out = torch.zeros(as_bridge(model).cfg.n_layers, as_bridge(model).cfg.n_heads, dtype=_effect_dtype(base))
    for layer in range(out.shape[0]):
        for head in range(out.shape[1]):

            def fn(z: Tensor, hook: object, layer: int = layer, head: int = head) -> Tensor:
                z = z.clone()
                z[:, :, head] = z_src[layer][:, :, head]
                return z

            out[layer, head] = metric(_forward(model, target, [(z_hook(layer), fn)]), target) - base
    return out


def _path_checks(model: nn.Module, target: Tensor, source: Tensor, sender: Head, receiver: Head) -> None:
    _check_heads(model, [sender, receiver])
    if sender[0] >= receiver[0]:
        raise ValueError(f"sender {sender} must sit in an earlier layer than receiver {receiver}")
    if getattr(model.cfg, "normalization_type", None) is not None or not getattr(model.cfg, "attn_only", False):
        raise ValueError("path patching needs an attention-only model without normalisation (a linear residual stream)")
    if target.shape != source.shape:
        raise ValueError(f"target and source must have one shape, got {tuple(target.shape)} and {tuple(source.shape)}")


def _path_patch(model: nn.Module, target: Tensor, metric: Metric, base: Tensor, dz: Tensor, w_ok: Tensor, receiver: Head) -> float:
    layer, head = receiver
    delta_k = dz @ w_ok.to(dz)  # (batch, pos, d_head)

    def fn(k: Tensor, hook: object) -> Tensor:
        k = k.clone()
        k[:, :, head] = k[:, :, head] + delta_k
        return k

    return float(metric(_forward(model, target, [(f"blocks.{layer}.attn.hook_k", fn)]), target) - base)


def ablation_subsets(
    model: nn.Module, heads: Sequence[Head], measure: Callable[[nn.Module], dict], mode: str = "mean", means: Tensor | None = None, max_heads: int = 10
) -> list[tuple[tuple[Head, ...], dict]]:
    """``measure(model)`` with every non-empty subset of ``heads`` ablated together, smallest subsets first.

    What one head's ablation cannot show when several heads share a job: which
    sets of them the measured behaviour needs. ``2 ** len(heads) − 1`` forward
    passes of ``measure``, so ``heads`` is capped at ``max_heads``.

    Args:
        heads: the candidate ``(layer, head)`` pairs.
        measure: called inside each ablation (no grad) and returns a dict of numbers.
        mode, means: as for :func:`ablated`.

    Returns:
        ``[(subset, measure(model) with subset ablated), ...]``, by size, then in the order of ``heads``.

    Examples:
        >>> import torch
        >>> from bridge.models import TransformerConfig, build_model
        >>> model = build_model(TransformerConfig(d_vocab=8, n_ctx=6, d_model=16, n_heads=2, d_head=8, n_layers=1, d_mlp=None), seed=0)
        >>> tokens = torch.tensor([[1, 2, 3, 1, 2, 3]])
        >>> rows = ablation_subsets(model, [(0, 0), (0, 1)], lambda m: {"logit": float(m(tokens)[0, -1, 0])}, mode="zero")
        >>> [subset for subset, _ in rows]
        [((0, 0),), ((0, 1),), ((0, 0), (0, 1))]
    """
    pairs = [(layer, head) for layer, head in heads]
    if not pairs or len(set(pairs)) != len(pairs):
        raise ValueError(f"ablation_subsets needs distinct heads, got {pairs}")
    if len(pairs) > max_heads:
        raise ValueError(f"{len(pairs)} heads make {2 ** len(pairs) - 1} subsets; pass at most max_heads={max_heads}")
    _check_heads(model, pairs)
    out = []
    for size in range(1, len(pairs) + 1):
        for subset in combinations(pairs, size):
            with torch.no_grad(), ablated(model, subset, mode, means):
                out.append((subset, measure(model)))
    return out


def path_patch_keys(
    model: nn.Module, target: Int[Tensor, "batch pos"], source: Int[Tensor, "batch pos"], metric: Metric, sender: Head, receiver: Head
) -> float:
    """Path patching sender → receiver's keys: only the receiver's keys see the sender's ``source`` output.

    In an attention-only model without normalisation the residual stream is a
    sum, so the receiver's keys change by ``(out_src − out_tgt) @ W_K`` where
    ``out = z_sender @ W_O``; every other path keeps the ``target`` run's values.
    Returns ``metric(patched) − metric(target run)``.

    Raises:
        ValueError: heads out of range, sender not before receiver, or a model
            with normalisation or MLPs (the residual is not a plain sum there).

    Examples:
        >>> from bridge.models import TransformerConfig, build_model; from bridge.tasks.repeated_tokens import repeated_token_loss
        >>> model = build_model(TransformerConfig(d_vocab=8, n_ctx=6, d_model=16, n_heads=2, d_head=8, n_layers=2, d_mlp=None), seed=0)
        >>> tokens = torch.tensor([[1, 2, 3, 1, 2, 3]])
        >>> path_patch_keys(model, tokens, tokens, repeated_token_loss, sender=(0, 0), receiver=(1, 1))   # source == target
        0.0
    """
    return float(path_patch_matrix(model, target, source, metric, sender[0], receiver[0], senders=[sender[1]], receivers=[receiver[1]])[0, 0])


def path_patch_matrix(
    model: nn.Module,
    target: Int[Tensor, "batch pos"],
    source: Int[Tensor, "batch pos"],
    metric: Metric,
    sender_layer: int = 0,
    receiver_layer: int = 1,
    *,
    senders: Sequence[int] | None = None,
    receivers: Sequence[int] | None = None,
) -> Float[Tensor, "sender receiver"]:
    """:func:`path_patch_keys` for every sender head of ``sender_layer`` into every receiver head of ``receiver_layer``.

    Args:
        target, source: ``(batch, pos)`` token sequences of one shape.
        senders, receivers: head indices (default: all heads of the layer).

    Returns:
        ``(len(senders), len(receivers))`` effects.

    Examples:
        >>> from bridge.models import TransformerConfig, build_model; from bridge.tasks.repeated_tokens import repeated_token_loss
        >>> model = build_model(TransformerConfig(d_vocab=8, n_ctx=6, d_model=16, n_heads=2, d_head=8, n_layers=2, d_mlp=None), seed=0)
        >>> tokens = torch.tensor([[1, 2, 3, 1, 2, 3]]); m = path_patch_matrix(model, tokens, tokens.flip(1), repeated_token_loss)
        >>> tuple(m.shape), abs(float(m[0, 1]) - path_patch_keys(model, tokens, tokens.flip(1), repeated_token_loss, (0, 0), (1, 1))) < 1e-7
        ((2, 2), True)
    """
    check_tokens(model, target=target, source=source)
    H = as_bridge(model).cfg.n_heads
    senders = list(range(H)) if senders is None else list(senders)
    receivers = list(range(H)) if receivers is None else list(receivers)
    for a in senders:
        for b in receivers:
            _path_checks(model, target, source, (sender_layer, a), (receiver_layer, b))
    w = head_weights(model)
    z_src, z_tgt = _z_cache(model, source)[sender_layer], _z_cache(model, target)[sender_layer]
    base = metric(_forward(model, target), target)
    out = torch.zeros(len(senders), len(receivers), dtype=_effect_dtype(base))
    for i, a in enumerate(senders):
        dz = z_src[:, :, a] - z_tgt[:, :, a]
        for j, b in enumerate(receivers):
            out[i, j] = _path_patch(model, target, metric, base, dz, w.W_O[sender_layer, a] @ w.W_K[receiver_layer, b], (receiver_layer, b))
    return out


__all__ = [
    "ABLATIONS", "ablated", "ablation_effects", "ablation_subsets", "hook_count", "hooked", "mean_head_outputs", "patch_heads",
    "path_patch_keys", "path_patch_matrix", "z_hook",
]
