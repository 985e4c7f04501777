"""Loss functions by name, written out so that higher-order autograd works.

``jvp(grad(f))`` fails on ``F.mse_loss`` in torch 2.13, so squared errors are
spelled out.

Examples:
    >>> import torch
    >>> from bridge.losses import get_loss
    >>> get_loss("half_sse")(torch.ones(4, 3), torch.zeros(4, 3)).item()
    1.5
"""

from __future__ import annotations

from collections.abc import Callable

import einops
import torch
import torch.nn.functional as F
from torch import Tensor

from bridge.registry import Registry

LossFn = Callable[[Tensor, Tensor], Tensor]
LOSSES: Registry[LossFn] = Registry("loss")


@LOSSES.register("half_sse")
def half_sse(output: Tensor, target: Tensor) -> Tensor:
    """½·Σ over outputs of the squared error, averaged over the batch (Saxe et al.'s convention).

    Args:
        output, target: ``(batch, d_out)``, the same shape (a ``ValueError`` names two shapes that differ).

    Returns:
        A scalar.

    Examples:
        >>> half_sse(torch.ones(2, 3), torch.zeros(2, 3)).item()  # ½ · 3 per row
        1.5
        >>> half_sse(torch.ones(2, 3), torch.zeros(2, 1))
        Traceback (most recent call last):
        ...
        ValueError: half_sse needs output and target of one shape, got output (2, 3) and target (2, 1)
    """
    _same_shape("half_sse", output, target)
    return 0.5 * ((output - target) ** 2).sum(-1).mean()


def _same_shape(name: str, output: Tensor, target: Tensor) -> None:
    """Refuse an output and target of different shapes, which the squared error would broadcast to a wrong loss."""
    if output.shape != target.shape:
        raise ValueError(f"{name} needs output and target of one shape, got output {tuple(output.shape)} and target {tuple(target.shape)}")


def _half_sse_stacked(output: Tensor, target: Tensor) -> Tensor:
    _same_shape("half_sse", output, target)
    return 0.5 * ((output - target) ** 2).sum(-1).mean(-1)


def _mse_stacked(output: Tensor, target: Tensor) -> Tensor:
    _same_shape("mse", output, target)
    return ((output - target) ** 2).mean(tuple(range(1, output.dim())))


half_sse.stacked = _half_sse_stacked  # type: ignore[attr-defined]


@LOSSES.register("mse")
def mse(output: Tensor, target: Tensor) -> Tensor:
    """Mean over every element of the squared error. ``output, target``: same shape (else a ``ValueError``); returns a scalar.

    Examples:
        >>> mse(torch.ones(2, 3), torch.zeros(2, 3)).item()
        1.0
    """
    _same_shape("mse", output, target)
    return ((output - target) ** 2).mean()


mse.stacked = _mse_stacked  # type: ignore[attr-defined]


def per_seed(loss: LossFn) -> Callable[[Tensor, Tensor], Tensor]:
    """``loss`` of many models at once: outputs and targets with a leading seed axis -> ``(seed,)``.

    A loss with a ``stacked`` attribute (the same reductions over the axes after the seed axis)
    computes it directly; any other loss is vmapped. Row ``k`` equals ``loss(output[k], target[k])``
    bit for bit either way.

    Examples:
        >>> per_seed(half_sse)(torch.ones(2, 4, 3), torch.zeros(2, 4, 3)).tolist()
        [1.5, 1.5]
    """
    from torch.func import vmap

    return getattr(loss, "stacked", None) or vmap(loss)


def at_least_float32(logits: Tensor) -> Tensor:
    """``logits`` upcast to float32 when stored in a lower precision (float16, bfloat16); float32 and float64 kept.

    Cross-entropy of half-precision logits loses digits, so the losses upcast them;
    ``.float()`` would also round a float64 model's logits, and with them its Hessian and LLC.

    Examples:
        >>> [at_least_float32(torch.zeros(2, dtype=d)).dtype for d in (torch.bfloat16, torch.float32, torch.float64)]
        [torch.float32, torch.float32, torch.float64]
    """
    return logits.to(torch.promote_types(logits.dtype, torch.float32))


@LOSSES.register("cross_entropy_last")
def cross_entropy_last(logits: Tensor, target: Tensor) -> Tensor:
    """Cross-entropy of the last position's logits ``(batch, pos, vocab)`` against ``target`` ``(batch,)``.

    Examples:
        >>> round(cross_entropy_last(torch.zeros(2, 5, 4), torch.tensor([0, 3])).item(), 4)  # uniform: ln 4
        1.3863
    """
    return F.cross_entropy(at_least_float32(logits[:, -1, :]), target)


@LOSSES.register("cross_entropy_next")
def cross_entropy_next(logits: Tensor, tokens: Tensor) -> Tensor:
    """Next-token cross-entropy: logits ``(batch, pos, vocab)`` predict ``tokens[:, 1:]`` ``(batch, pos)``.

    Examples:
        >>> logits = torch.zeros(1, 4, 3)
        >>> logits[0, torch.arange(3), torch.tensor([1, 2, 0])] = 100.0  # positions 0-2 predict tokens 1-3
        >>> cross_entropy_next(logits, torch.tensor([[0, 1, 2, 0]])).item()
        0.0
    """
    flat = at_least_float32(einops.rearrange(logits[:, :-1], "batch pos vocab -> (batch pos) vocab"))
    return F.cross_entropy(flat, einops.rearrange(tokens[:, 1:], "batch pos -> (batch pos)"))


def get_loss(name: str) -> LossFn:
    """The registered loss called ``name`` (a ``KeyError`` lists the known ones).

    Examples:
        >>> get_loss("mse") is mse
        True
        >>> get_loss("l1")
        Traceback (most recent call last):
        ...
        KeyError: "unknown loss 'l1' (known: ...)"
    """
    return LOSSES.get(name)


def accuracy(logits: Tensor, target: Tensor) -> Tensor:
    """Share of rows whose argmax equals the class label ``target`` ``(batch,)``.

    ``logits`` is ``(batch, classes)``, or ``(batch, pos, classes)`` read at the last position.

    Examples:
        >>> accuracy(torch.tensor([[0.1, 0.9], [0.8, 0.2]]), torch.tensor([1, 1])).item()
        0.5
    """
    if logits.ndim == 3:
        logits = logits[:, -1, :]
    return (logits.argmax(-1) == target).float().mean()


def is_class_labels(target: Tensor) -> bool:
    """Whether ``target`` is a ``(batch,)`` tensor of integer class labels.

    Examples:
        >>> is_class_labels(torch.tensor([0, 2, 1])), is_class_labels(torch.zeros(3, 2))
        (True, False)
    """
    return target.ndim == 1 and not target.is_floating_point() and not target.is_complex()


__all__ = ["LOSSES", "LossFn", "accuracy", "at_least_float32", "cross_entropy_last", "cross_entropy_next", "get_loss", "half_sse", "is_class_labels", "mse", "per_seed"]
