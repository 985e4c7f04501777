"""Measurements of an induction circuit at one checkpoint: the circuit graph,
the causal checks at the end of training, and where the previous-token heads work.

Pure functions of (model, token sequences) for attention-only transformers on
repeated-token sequences (:mod:`bridge.tasks.repeated_tokens`); values are in
nats of repeated-token loss.

Examples:
    >>> demand = previous_token_demand(torch.tensor([0, 2]), torch.tensor([3, 4]), n_ctx=8)
    >>> demand.tolist()   # keys 1..3 for the first sequence, 3..6 for the second
    [0.0, 0.5, 0.5, 1.0, 0.5, 0.5, 0.5, 0.0]
"""

from __future__ import annotations

from typing import Any

import networkx as nx
import numpy as np
import torch
from jaxtyping import Float, Int
from torch import Tensor, nn

from bridge.tasks.repeated_tokens import masked_mean, next_token_losses, repeated_targets, repeated_token_loss
from probes.circuits import circuit_graph
from probes.heads import attention_patterns, copying_scores, head_scores, head_weights, induction_by_key_position, previous_token_by_position, previous_token_reach
from probes.patching import Metric, ablated, ablation_effects, ablation_subsets, mean_head_outputs, patch_heads, path_patch_matrix
from probes.tokens import as_bridge, check_tokens


def head_graph(model: nn.Module, tokens: Int[Tensor, "batch pos"], corrupted: Int[Tensor, "batch pos"], step: int) -> nx.DiGraph:
    """Circuit graph of one checkpoint: head scores, mean-ablation effects, composition and key path patching.

    Args:
        tokens, corrupted: ``(batch, pos)`` clean sequences and their corrupted counterparts (:func:`probes.patching_data.corrupted_pair`'s ``.corrupted``).
        step: the checkpoint's step (a graph attribute).

    Examples:
        >>> from bridge.models import TransformerConfig, build_model
        >>> model = build_model(TransformerConfig(d_vocab=8, n_ctx=6, d_model=16, n_heads=2, d_head=8, n_layers=2, d_mlp=None), seed=0)
        >>> from probes import corrupted_pair
        >>> tokens = torch.tensor([[1, 2, 3, 1, 2, 3]]); g = head_graph(model, tokens, corrupted_pair(tokens, 8, seed=0).corrupted, step=0)
        >>> g.number_of_edges(), "key_path" in g.edges["L0H0", "L1H0"], g.nodes["L1H0"]["ablation"]   # one sequence: its own mean
        (4, True, 0.0)
    """
    check_tokens(model, tokens=tokens, corrupted=corrupted)
    scores = head_scores(model, tokens)
    w = head_weights(model)
    nodes = {**scores, "copying": copying_scores(w), "ablation": ablation_effects(model, tokens, repeated_token_loss, mode="mean")}
    key_path = path_patch_matrix(model, tokens, corrupted, repeated_token_loss) if as_bridge(model).cfg.n_layers >= 2 else None
    return circuit_graph(w, node_scores=nodes, key_path=key_path, step=step)


def second_copy_loss(clean: Int[Tensor, "batch pos"], corrupted: Int[Tensor, "batch pos"]) -> Metric:
    """Metric for denoising: loss on the clean labels at targets repeated in ``clean`` but not in ``corrupted``.

    Args:
        clean, corrupted: ``(batch, pos)`` token sequences.

    Returns:
        ``metric(logits (batch, pos, d_vocab), tokens) -> scalar``.

    Examples:
        >>> clean = torch.tensor([[7, 1, 2, 3, 1, 2, 3]])
        >>> from probes import corrupted_pair
        >>> metric = second_copy_loss(clean, corrupted_pair(clean, 16, seed=0).corrupted)
        >>> round(float(metric(torch.zeros(1, 7, 16), clean)), 4)   # uniform logits: ln 16
        2.7726
    """
    mask = repeated_targets(clean) & ~repeated_targets(corrupted)

    def metric(logits: Tensor, tokens: Tensor) -> Tensor:
        return masked_mean(next_token_losses(logits, clean), mask)

    return metric


def final_causal(model: nn.Module, sets: dict[str, Tensor], corrupted: Tensor, prev_head: int, *, min_loss: float, max_induction: float) -> dict[str, Any]:
    """Causal measurements of a two-layer model (values in nats of repeated-token loss).

    Args:
        model: the trained model.
        sets: evaluation sets ``{"test": (batch, pos), ...}``; ablations are scored on ``"test"``.
        corrupted: the corrupted counterpart of ``sets["test"]`` (:func:`probes.patching_data.corrupted_pair`'s ``.corrupted``).
        prev_head: the layer-0 previous-token head.
        min_loss, max_induction: the ablation targets (a set of heads meets them when
            ablating it raises the loss by ``>= min_loss`` and leaves every layer-1
            induction score ``< max_induction``).

    Returns:
        Per-head zero and mean ablation effects (``ablation_zero``, ``ablation_mean``),
        activation patching in both directions (``patching_noising``: clean run, one
        head from the corrupted run; ``patching_denoising``: corrupted run, one head from
        the clean run, scored on the second copies the corruption broke), key path
        patching, the effect of mean- and zero-ablating ``(0, prev_head)`` on the loss
        and on every layer-1 induction score (``prev_ablation_mean|zero``); for
        information the same for every layer-0 head with previous-token score >= 0.3
        together (``all_prev_ablation_mean``), and every set of layer-0 heads
        mean-ablated together with the smallest set meeting both targets, the
        costliest of its size (``prev_ablation_subsets``).

    Examples:
        >>> from bridge.models import TransformerConfig, build_model
        >>> model = build_model(TransformerConfig(d_vocab=8, n_ctx=6, d_model=16, n_heads=2, d_head=8, n_layers=2, d_mlp=None), seed=0)
        >>> from probes import corrupted_pair
        >>> tokens = torch.tensor([[1, 2, 3, 1, 2, 3]]); out = final_causal(model, {"test": tokens}, corrupted_pair(tokens, 8, seed=0).corrupted, prev_head=0, min_loss=0.1, max_induction=0.5)
        >>> len(out["ablation_zero"]), out["prev_ablation_mean"]["loss_increase"]   # mean ablation over one sequence changes nothing
        (2, 0.0)
    """
    check_tokens(model, **{f"sets[{split!r}]": tokens for split, tokens in sets.items()}, corrupted=corrupted)
    test = sets["test"]
    out: dict[str, Any] = {
        "ablation_zero": ablation_effects(model, test, repeated_token_loss, mode="zero").tolist(),
        "ablation_mean": ablation_effects(model, test, repeated_token_loss, mode="mean").tolist(),
        "patching_noising": patch_heads(model, test, corrupted, repeated_token_loss).tolist(),
        "patching_denoising": patch_heads(model, corrupted, test, second_copy_loss(test, corrupted)).tolist(),
        "key_path_patching": path_patch_matrix(model, test, corrupted, repeated_token_loss).tolist(),
    }
    means = mean_head_outputs(model, test)
    prev_scores = head_scores(model, test)["previous_token"][0]
    all_prev = [(0, h) for h in range(len(prev_scores)) if prev_scores[h] >= 0.3 or h == prev_head]
    with torch.no_grad():
        clean = float(repeated_token_loss(model(test), test))
    for key, heads, mode in (("prev_ablation_mean", [(0, prev_head)], "mean"), ("prev_ablation_zero", [(0, prev_head)], "zero"), ("all_prev_ablation_mean", all_prev, "mean")):
        with torch.no_grad(), ablated(model, heads, mode, means):
            loss = float(repeated_token_loss(model(test), test))
            induction = {split: head_scores(model, tokens)["induction"][1].tolist() for split, tokens in sets.items()}
        out[key] = {"heads": heads, "loss_clean": clean, "loss_ablated": loss, "loss_increase": loss - clean, "layer1_induction": induction}

    def measure(m: nn.Module) -> dict[str, float]:
        induction = max(float(head_scores(m, tokens)["induction"][1].max()) for tokens in sets.values())
        return {"loss_increase": float(repeated_token_loss(m(test), test)) - clean, "max_layer1_induction": induction}

    rows = [{"heads": [list(h) for h in subset], **r} for subset, r in ablation_subsets(model, [(0, h) for h in range(as_bridge(model).cfg.n_heads)], measure, "mean", means)]
    meets = [r for r in rows if r["loss_increase"] >= min_loss and r["max_layer1_induction"] < max_induction]
    smallest = min(meets, key=lambda r: (len(r["heads"]), -r["loss_increase"])) if meets else None
    out["prev_ablation_subsets"] = {"subsets": rows, "smallest_meeting_targets": smallest}
    return out


def previous_token_demand(prefix: Int[Tensor, " batch"], period: Int[Tensor, " batch"], n_ctx: int) -> Float[np.ndarray, " pos"]:
    """Share of sequences in which position ``q`` is a key induction needs, ``(n_ctx,)``.

    Induction from a later copy attends to the position after the token's first
    occurrence, ``P + 1 ≤ q ≤ P + B`` (prefix ``P``, period ``B``); a previous-token
    head must cover ``q`` there.

    Args:
        prefix, period: ``(batch,)`` each training sequence's prefix length and period.

    Raises:
        ValueError: ``prefix`` and ``period`` that are not 1-D of one common, non-zero length (a length-one
            tensor would otherwise be broadcast against the other), or ``n_ctx < 1``.

    Examples:
        >>> previous_token_demand(torch.tensor([1]), torch.tensor([2]), n_ctx=5).tolist()
        [0.0, 0.0, 1.0, 1.0, 0.0]
    """
    for name, value in (("prefix", prefix), ("period", period)):
        if not isinstance(value, Tensor) or value.ndim != 1 or len(value) == 0:
            raise ValueError(f"{name} must be a non-empty 1-D tensor, one entry per sequence, got {getattr(value, 'shape', type(value))}")
    if len(prefix) != len(period):
        raise ValueError(f"prefix and period must have one entry per sequence each, got lengths {len(prefix)} and {len(period)}")
    if n_ctx < 1:
        raise ValueError(f"n_ctx must be at least 1, got {n_ctx}")
    q = torch.arange(n_ctx)[None, :]
    return ((q >= prefix[:, None] + 1) & (q <= prefix[:, None] + period[:, None])).float().mean(0).numpy()


def previous_token_coverage(model: nn.Module, sets: dict[str, Tensor], info: dict, ind_head: int) -> dict[str, Any]:
    """Where the layer-0 previous-token heads work, and what that does to induction.

    Args:
        model: a two-layer model.
        sets: evaluation sets ``{"test": (batch, pos), ...}``.
        info: the task's info (``train_prefix``, ``train_period`` per training sequence).
        ind_head: the layer-1 induction head.

    Returns:
        ``previous_token_by_position`` (per layer-0 head, queries 1 … n−1), ``reach``
        (:func:`probes.heads.previous_token_reach`), the training sequences' ``demand``
        (:func:`previous_token_demand`, positions 1 … n−1) and the share of them that
        need a key beyond the reach; for each evaluation set the induction head's
        attention by the key it needs (:func:`probes.heads.induction_by_key_position`),
        pooled over keys inside (``covered``) and beyond (``uncovered``) the reach.

    Examples:
        >>> from bridge.models import TransformerConfig, build_model
        >>> model = build_model(TransformerConfig(d_vocab=8, n_ctx=6, d_model=16, n_heads=2, d_head=8, n_layers=2, d_mlp=None), seed=0)
        >>> out = previous_token_coverage(model, {"test": torch.tensor([[1, 2, 3, 1, 2, 3]])}, {"train_prefix": torch.tensor([0]), "train_period": torch.tensor([3])}, ind_head=0)
        >>> out["demand"], out["induction_test"]["count"]   # keys 1..3 needed; queries 3, 4, 5 need keys 1, 2, 3
        ([1.0, 1.0, 1.0, 0.0, 0.0], [0, 1, 1, 1, 0, 0])
    """
    check_tokens(model, **{f"sets[{split!r}]": tokens for split, tokens in sets.items()})
    n_ctx = sets["test"].shape[1]
    patterns = {split: attention_patterns(model, tokens) for split, tokens in sets.items()}
    prev = previous_token_by_position(patterns["test"][0])
    reach = previous_token_reach(prev)
    out: dict[str, Any] = {
        "previous_token_by_position": {f"L0H{h}": row[1:].tolist() for h, row in enumerate(prev)},
        "reach": reach,
        "demand": previous_token_demand(info["train_prefix"], info["train_period"], n_ctx)[1:].tolist(),
        "demand_beyond_coverage": float(((info["train_prefix"] + info["train_period"]) > reach).float().mean()),
    }
    inside = torch.arange(n_ctx) <= reach
    for split, tokens in sets.items():
        mass, count = induction_by_key_position(patterns[split][1], tokens)
        mass, count = mass[ind_head].nan_to_num(0.0).cpu(), count.float().cpu()
        pooled = {name: float((mass * count * m).sum() / (count * m).sum()) if bool((count * m).sum() > 0) else float("nan") for name, m in (("covered", inside), ("uncovered", ~inside))}
        out[f"induction_{split}"] = {"by_key": [float(v) if c > 0 else None for v, c in zip(mass.tolist(), count.tolist())], "count": count.long().tolist(), **pooled}
    return out


__all__ = ["final_causal", "head_graph", "previous_token_coverage", "previous_token_demand", "second_copy_loss"]
