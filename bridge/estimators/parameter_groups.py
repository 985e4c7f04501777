"""Where a flat parameter-space vector lives: per parameter tensor, per neuron, per attention head.

A Hessian eigenvector is a vector over all trainable parameters, flattened in
``model.parameters()`` order. Its *loading* on a group of coordinates is the
squared norm of its entries there (a unit vector's loadings over a partition
sum to 1). Groups are

* one per parameter tensor, named by its ``state_dict`` key
  (``layers.0.weight``, ``blocks.0.attn.q.weight``);
* one per hidden unit of an MLP or deep linear network: the unit's incoming
  weights (and bias) plus its outgoing weights;
* one per attention head of a toy transformer: its rows of ``q, k, v`` (and
  biases) and its columns of ``o``.

Unit and head blocks come from the registry :data:`BLOCK_FINDERS`, keyed by
the model's class name, so a new model adds its own finder.

Examples:
    >>> import numpy as np
    >>> from bridge.models import MLPConfig, build_model
    >>> net = build_model(MLPConfig(d_in=2, d_out=1, widths=(3,)), seed=0)
    >>> vec = np.zeros(13); vec[0] = 1.0          # layers.0.weight[0, 0]
    >>> tensor_loading(net, vec)["layers.0.weight"]
    1.0
    >>> [(b.index, round(v, 3)) for b, v in block_loading(net, vec)][:2]
    [({'layer': 0, 'neuron': 0}, 1.0), ({'layer': 0, 'neuron': 1}, 0.0)]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence, Sized
from dataclasses import dataclass
from typing import Any, Protocol, cast

import numpy as np
from jaxtyping import Float
from torch import nn

from bridge.registry import Registry

Index = tuple[Any, ...]


@dataclass(frozen=True)
class Block:
    """A set of coordinates of the flat parameter vector that belong to one unit.

    Attributes:
        kind: ``"neuron"`` or ``"head"``.
        index: index columns for tidy rows, e.g. ``{"layer": 0, "neuron": 3}``.
        parts: ``(parameter name, numpy index into that tensor)`` pairs.

    Examples:
        >>> from bridge.models import MLP, MLPConfig
        >>> block = blocks(MLP(MLPConfig(d_in=2, d_out=1, widths=(3,))))[1]  # hidden unit 1: its row in, bias, column out
        >>> block.kind, block.index, [name for name, _ in block.parts]
        ('neuron', {'layer': 0, 'neuron': 1}, ['layers.0.weight', 'layers.0.bias', 'layers.1.weight'])
    """

    kind: str
    index: dict[str, int]
    parts: tuple[tuple[str, Index], ...]


BlockFinder = Callable[[nn.Module], list[Block]]
BLOCK_FINDERS: Registry[BlockFinder] = Registry("parameter-block finder")


def parameter_names(model: nn.Module) -> list[str]:
    """Names of the trainable parameters in ``model.parameters()`` order, as ``state_dict`` keys.

    TransformerBridge wraps its modules, so ``named_parameters`` gives names like
    ``layers.0._original_component.attn...``; the ``state_dict`` key of the same
    storage (``blocks.0.attn.q.weight``) is used instead when there is one.

    Examples:
        >>> parameter_names(torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Linear(3, 1, bias=False)))
        ['0.weight', '0.bias', '1.weight']
    """
    by_storage: dict[tuple[int, tuple[int, ...]], str] = {}
    for key, value in model.state_dict(keep_vars=True).items():
        by_storage.setdefault((value.data_ptr(), tuple(value.shape)), key)
    return [by_storage.get((p.data_ptr(), tuple(p.shape)), n) for n, p in model.named_parameters() if p.requires_grad]


def parameter_slices(model: nn.Module) -> dict[str, tuple[slice, tuple[int, ...]]]:
    """``name -> (slice of the flat vector, tensor shape)`` for every trainable parameter.

    Examples:
        >>> parameter_slices(torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Linear(3, 1, bias=False)))
        {'0.weight': (slice(0, 6, None), (3, 2)), '0.bias': (slice(6, 9, None), (3,)), '1.weight': (slice(9, 12, None), (1, 3))}
    """
    out, start = {}, 0
    params = [p for p in model.parameters() if p.requires_grad]
    for name, p in zip(parameter_names(model), params):
        out[name] = (slice(start, start + p.numel()), tuple(p.shape))
        start += p.numel()
    return out


def _check_vector(model: nn.Module, vector: np.ndarray) -> np.ndarray:
    vector = np.asarray(vector, dtype=np.float64).reshape(-1)
    n = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if vector.shape[0] != n:
        raise ValueError(f"vector has {vector.shape[0]} entries but the model has {n} trainable parameters")
    if not np.all(np.isfinite(vector)):
        bad = int(np.flatnonzero(~np.isfinite(vector))[0])
        raise ValueError(f"vector must be finite, got {vector[bad]} at entry {bad}")
    top = np.abs(vector).max(initial=0.0)  # shares are scale free: squares past 1e154 overflowed to NaN shares,
    return vector / top if top > 0 else vector  # below 1e-162 they underflowed to "the vector is zero"


def tensor_loading(model: nn.Module, vector: Float[np.ndarray, " n_params"]) -> dict[str, float]:
    """Squared norm of ``vector`` ``(n_params,)`` on each parameter tensor, divided by its total squared norm (sums to 1).

    Examples:
        >>> net = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Linear(3, 1, bias=False))  # 6 + 3 + 3 entries
        >>> tensor_loading(net, np.array([1.0] * 6 + [0.0] * 3 + [1.0, 1.0, 0.0]))
        {'0.weight': 0.75, '0.bias': 0.0, '1.weight': 0.25}
    """
    vector = _check_vector(model, vector)
    total = float(vector @ vector)
    if total == 0:
        raise ValueError("tensor_loading: the vector is zero")
    return {name: float(vector[s] @ vector[s]) / total for name, (s, _) in parameter_slices(model).items()}


def blocks(model: nn.Module) -> list[Block]:
    """The unit/head blocks of ``model`` (empty when no finder is registered for its class).

    Examples:
        >>> from bridge.models import MLP, MLPConfig
        >>> len(blocks(MLP(MLPConfig(d_in=2, d_out=1, widths=(3, 4))))), blocks(torch.nn.Linear(2, 2))
        (7, [])
    """
    name = type(model).__name__
    return BLOCK_FINDERS.get(name)(model) if name in BLOCK_FINDERS else []


def block_loading(model: nn.Module, vector: Float[np.ndarray, " n_params"]) -> list[tuple[Block, float]]:
    """Each block's share of ``vector``'s squared norm.

    Blocks may overlap (a weight between two hidden layers belongs to the
    outgoing set of one unit and the incoming set of the next), so the shares
    need not sum to 1.

    Args:
        vector: ``(n_params,)`` in ``model.parameters()`` order.

    Returns:
        ``(block, share)`` per block of :func:`blocks`.

    Examples:
        >>> from bridge.models import MLP, MLPConfig
        >>> net = MLP(MLPConfig(d_in=2, d_out=1, widths=(3,)))  # layers.0.weight (3, 2), bias (3,), layers.1.weight (1, 3), bias (1,)
        >>> vec = np.zeros(13); vec[[0, 9, 12]] = 1.0  # unit 0's first input weight and its output weight; the output bias
        >>> [round(share, 4) for _, share in block_loading(net, vec)]
        [0.6667, 0.0, 0.0]
    """
    vector = _check_vector(model, vector)
    total = float(vector @ vector)
    if total == 0:
        raise ValueError("block_loading: the vector is zero")
    slices = parameter_slices(model)
    out = []
    for block in blocks(model):
        mass = 0.0
        for pname, idx in block.parts:
            s, shape = slices[pname]
            part = vector[s].reshape(shape)[idx]
            mass += float(np.sum(part * part))
        out.append((block, mass / total))
    return out


class _MLPSettings(Protocol):
    widths: Sequence[int]
    bias: bool


class _MLPLike(Protocol):
    """What :func:`mlp_blocks` reads of a model (present: checked by :func:`_require_attributes`)."""

    config: _MLPSettings
    layers: Sized


class _DeepLinearSettings(Protocol):
    depth: int
    d_hidden: int


class _DeepLinearLike(Protocol):
    """What :func:`deep_linear_blocks` reads of a model (present: checked by :func:`_require_attributes`)."""

    config: _DeepLinearSettings


class _TransformerSettings(Protocol):
    n_layers: int
    n_heads: int
    d_head: int


class _TransformerLike(Protocol):
    """What :func:`transformer_blocks` reads of a model (TransformerLens's ``cfg``; present: checked by :func:`_require_attributes`)."""

    cfg: _TransformerSettings


def _require_attributes(finder: str, model: nn.Module, what: str, paths: tuple[str, ...]) -> None:
    """Refuse a ``model`` lacking any of the dotted attribute ``paths`` a block finder reads, naming the finder and what it needs."""
    for path in paths:
        obj = model
        for part in path.split("."):
            if not hasattr(obj, part):
                raise ValueError(f"{finder} needs {what} (with {' and '.join([', '.join(paths[:-1]), paths[-1]] if len(paths) > 1 else paths)}), got {type(model).__name__}")
            obj = getattr(obj, part)


def _unit_blocks(model: nn.Module, layer_names: Sequence[tuple[str, str | None]], widths: Sequence[int]) -> list[Block]:
    """Hidden unit ``j`` of layer ``l``: rows ``j`` of weight ``l`` (and bias), column ``j`` of weight ``l+1``.

    Frozen parameters (``requires_grad=False``) are not in the flat vector, so they are left out of the parts.
    """
    present = set(parameter_names(model))
    out = []
    for layer, width in enumerate(widths):
        w_in, b_in = layer_names[layer]
        w_out, _ = layer_names[layer + 1]
        for j in range(width):
            parts: list[tuple[str, Index]] = [(w_in, (j, slice(None)))]
            if b_in is not None:
                parts.append((b_in, (j,)))
            parts.append((w_out, (slice(None), j)))
            out.append(Block("neuron", {"layer": layer, "neuron": j}, tuple(p for p in parts if p[0] in present)))
    return out


@BLOCK_FINDERS.register("MLP")
def mlp_blocks(model: nn.Module) -> list[Block]:
    """Hidden neurons of :class:`bridge.models.MLP` (an example is at :class:`Block`); frozen parameters are left out.

    Raises:
        ValueError: a model without the MLP's ``config.widths``, ``config.bias`` and ``layers`` (e.g. a plain ``nn.Linear``).

    Examples:
        >>> from bridge.models import MLPConfig, build_model
        >>> net = build_model(MLPConfig(d_in=2, d_out=1, widths=(3,)), seed=0)
        >>> _ = net.layers[0].bias.requires_grad_(False)
        >>> [name for name, _ in mlp_blocks(net)[0].parts]
        ['layers.0.weight', 'layers.1.weight']
    """
    _require_attributes("mlp_blocks", model, "a bridge.models.MLP", ("config.widths", "config.bias", "layers"))
    mlp = cast(_MLPLike, model)
    bias = mlp.config.bias
    names = [(f"layers.{i}.weight", f"layers.{i}.bias" if bias else None) for i in range(len(mlp.layers))]
    return _unit_blocks(model, names, list(mlp.config.widths))


@BLOCK_FINDERS.register("DeepLinearNetwork")
def deep_linear_blocks(model: nn.Module) -> list[Block]:
    """Hidden units of :class:`bridge.models.DeepLinearNetwork`: each unit's row in and column out.

    Examples:
        >>> from bridge.models import DeepLinearConfig, build_model
        >>> found = deep_linear_blocks(build_model(DeepLinearConfig(2, 4, 2, depth=3), seed=0))  # 2 hidden layers of 4
        >>> len(found), found[4].index, [name for name, _ in found[4].parts]
        (8, {'layer': 1, 'neuron': 0}, ['weights.1', 'weights.2'])
    """
    _require_attributes("deep_linear_blocks", model, "a bridge.models.DeepLinearNetwork", ("config.depth", "config.d_hidden"))
    config = cast(_DeepLinearLike, model).config
    names = [(f"weights.{i}", None) for i in range(config.depth)]
    return _unit_blocks(model, names, [config.d_hidden] * (config.depth - 1))


@BLOCK_FINDERS.register("TransformerBridge")
def transformer_blocks(model: nn.Module) -> list[Block]:
    """Attention heads (rows of q, k, v and their biases, columns of o) and MLP neurons of a toy transformer.

    Frozen parameters are left out of the parts; a neuron all of whose parameters are frozen has no block.

    Examples:
        >>> from bridge.models import TransformerConfig, build_model
        >>> model = build_model(TransformerConfig(d_vocab=7, n_ctx=3, d_model=16, n_heads=2, d_head=8, d_mlp=32), seed=0)
        >>> found = transformer_blocks(model)  # 2 heads and 32 neurons
        >>> len(found), [(b.kind, b.index) for b in found[1:3]]
        (34, [('head', {'layer': 0, 'head': 1}), ('neuron', {'layer': 0, 'neuron': 0})])
    """
    _require_attributes("transformer_blocks", model, "a toy transformer", ("cfg.n_layers", "cfg.n_heads", "cfg.d_head"))
    cfg = cast(_TransformerLike, model).cfg
    present = set(parameter_names(model))
    out = []
    for layer in range(cfg.n_layers):
        pre = f"blocks.{layer}"
        for h in range(cfg.n_heads):
            rows = slice(h * cfg.d_head, (h + 1) * cfg.d_head)
            parts: list[tuple[str, Index]] = []
            for m in ("q", "k", "v"):
                parts.append((f"{pre}.attn.{m}.weight", (rows, slice(None))))
                if f"{pre}.attn.{m}.bias" in present:
                    parts.append((f"{pre}.attn.{m}.bias", (rows,)))
            parts.append((f"{pre}.attn.o.weight", (slice(None), rows)))
            out.append(Block("head", {"layer": layer, "head": h}, tuple(p for p in parts if p[0] in present)))
        for j in range(getattr(cfg, "d_mlp", None) or 0):
            parts = [(f"{pre}.mlp.in.weight", (j, slice(None))), (f"{pre}.mlp.in.bias", (j,)), (f"{pre}.mlp.out.weight", (slice(None), j))]
            kept = tuple(p for p in parts if p[0] in present)  # frozen parameters are not in the flat vector
            if kept:
                out.append(Block("neuron", {"layer": layer, "neuron": j}, kept))
    return out


__all__ = [
    "BLOCK_FINDERS",
    "Block",
    "block_loading",
    "blocks",
    "parameter_names",
    "parameter_slices",
    "tensor_loading",
]
