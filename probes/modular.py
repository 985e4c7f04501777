"""Reading modular-arithmetic networks: the residue embedding, the inputs of every pair, logits and neurons.

Works on the two model families of modular arithmetic: toy transformers
reading ``[a, b, =]`` (residue embedding ``W_E[:p]``, neurons at
``blocks.{last}.mlp.hook_post``, last-position logits) and two-layer MLPs on
concatenated one-hots (residue embedding: the ``a``- and ``b``-blocks of the
first layer side by side, neurons at ``hook_post.0``). The trackers that
record these over training live in :mod:`bridge.trackers.fourier`.

Examples:
    >>> from bridge.models import MLPConfig, build_model
    >>> from bridge.tasks import make_task
    >>> from bridge.tasks.modular import ModularConfig
    >>> data = make_task(ModularConfig(p=7, encoding="onehot"), seed=0)
    >>> net = build_model(MLPConfig(d_in=14, d_out=7, widths=(8,), activation="quadratic"), seed=0)
    >>> tuple(residue_embedding(net, 7).shape)
    (7, 16)
    >>> logits, neurons = logits_and_neurons(net, data)
    >>> tuple(logits.shape), tuple(neurons.shape)
    ((49, 7), (7, 7, 8))
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, cast

import einops
from jaxtyping import Float
from torch import Tensor, nn

from bridge.models.base import evaluating
from bridge.tasks.base import TaskData
from bridge.tasks.modular import all_pairs, encode_pairs

if TYPE_CHECKING:
    from transformer_lens.model_bridge import TransformerBridge

    from bridge.models.mlp import MLP


def _is_mlp(model: nn.Module) -> bool:
    return hasattr(model, "layers") and hasattr(model, "hook_post")


def residue_embedding(model: nn.Module, p: int) -> Float[Tensor, "p d"]:
    """How the model embeds residues: ``W_E[:p]`` (transformer) or ``[W₁[:, :p]ᵀ, W₁[:, p:2p]ᵀ]`` (one-hot MLP).

    Returns:
        ``(p, d_model)`` for a transformer, ``(p, 2 * d_hidden)`` for an MLP.

    Examples:
        >>> from bridge.models import MLPConfig, build_model
        >>> net = build_model(MLPConfig(d_in=10, d_out=5, widths=(3,)), seed=0)
        >>> emb = residue_embedding(net, 5)
        >>> tuple(emb.shape), torch.equal(emb[:, 3:], net.layers[0].weight[:, 5:].T)   # columns 3..5: the b-block
        ((5, 6), True)
    """
    if _is_mlp(model):
        w = model.get_parameter("layers.0.weight").detach()
        if w.shape[1] != 2 * p:
            raise ValueError(f"MLP first layer takes {w.shape[1]} inputs, expected 2p = {2 * p} (one-hot a, b)")
        return einops.rearrange(w, "d_hidden (operand residue) -> residue (operand d_hidden)", operand=2)
    state = model.state_dict()
    if "embed.weight" not in state:
        raise ValueError("model has neither an MLP first layer nor 'embed.weight'")
    if state["embed.weight"].shape[0] < p:
        raise ValueError(f"the embedding has {state['embed.weight'].shape[0]} tokens, fewer than the p = {p} residues")
    return state["embed.weight"].detach()[:p]


def grid_inputs(data: TaskData) -> Tensor:
    """The model inputs of all ``p²`` pairs (row ``a·p + b``) in the task's encoding, dtype and device.

    Returns:
        ``(p², 3)`` tokens ``[a, b, =]`` (``=`` is token ``p``), or ``(p², 2p)`` one-hots in the
        dtype of the task's inputs (float64 in a ``train.dtype="float64"`` run).

    Examples:
        >>> from bridge.tasks import ModularConfig, make_task
        >>> x = grid_inputs(make_task(ModularConfig(p=5), seed=0))
        >>> tuple(x.shape), x[7].tolist()   # row 7 = 1·5 + 2: the pair (1, 2)
        ((25, 3), [1, 2, 5])
    """
    p = data.info["p"]
    return encode_pairs(all_pairs(p), p, data.info.get("encoding", "tokens")).to(data.train.x)


def logits_and_neurons(model: nn.Module, data: TaskData, neurons: bool = True) -> tuple[Tensor, Tensor | None]:
    """Logits ``(p², p)`` on every pair and, when available, the last MLP layer's activations ``(p, p, d_mlp)``.

    Examples:
        >>> from bridge.models import MLPConfig, build_model
        >>> from bridge.tasks import ModularConfig, make_task
        >>> logits, acts = logits_and_neurons(build_model(MLPConfig(d_in=10, d_out=5, widths=(3,)), seed=0), make_task(ModularConfig(p=5, encoding="onehot"), seed=0), neurons=False)
        >>> tuple(logits.shape), acts
        ((25, 5), None)
    """
    p = data.info["p"]
    x = grid_inputs(data)
    hook: str | None
    with evaluating(model):
        if _is_mlp(model):
            n_hidden = len(cast("MLP", model).hook_post)
            hook = f"hook_post.{n_hidden - 1}"
        else:
            n_layers = sum(1 for k in model.state_dict() if k.endswith("mlp.in.weight"))
            hook = f"blocks.{n_layers - 1}.mlp.hook_post" if n_layers else None
        if neurons and hook is not None:
            out, cache = cast("MLP | TransformerBridge", model).run_with_cache(x, names_filter=lambda name: name == hook)
            acts = cache[hook]
            acts = acts[:, -1, :] if acts.ndim == 3 else acts
            acts = einops.rearrange(acts, "(a b) neuron -> a b neuron", a=p, b=p)
        else:
            out, acts = model(x), None
    logits = out[:, -1, :] if out.ndim == 3 else out
    return logits.detach().cpu(), None if acts is None else acts.detach().cpu()


def weight_norm(model: nn.Module) -> float:
    """‖θ‖₂ over every parameter.

    Examples:
        >>> layer = nn.Linear(2, 2, bias=False)
        >>> _ = nn.init.ones_(layer.weight)
        >>> weight_norm(layer)
        2.0
    """
    return math.sqrt(sum(float((p.detach().double() ** 2).sum()) for p in model.parameters()))


__all__ = ["grid_inputs", "logits_and_neurons", "residue_embedding", "weight_norm"]
