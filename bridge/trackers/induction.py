"""Trackers of the induction-head task: in-context learning losses and per-head scores.

Both evaluate on the test split (``split="test"``) and, when the task provides
one in ``info["off_position"]``, on the off-position set (``split="off"``),
whose repeats sit at offsets and periods never seen in training.

Examples:
    >>> from bridge.models import TransformerConfig, build_model
    >>> from bridge.tasks import make_task
    >>> from bridge.tasks.repeated_tokens import RepeatedTokensConfig
    >>> data = make_task(RepeatedTokensConfig(d_vocab=16, n_ctx=12, n_train=8, n_test=8, n_off=8,
    ...                                       prefix=(0, 2), block=(3, 5), off_prefix=(3, 4), off_block=(3, 4)), seed=0)
    >>> model = build_model(TransformerConfig(d_vocab=16, n_ctx=12, d_model=16, n_heads=2, d_head=8, n_layers=2, d_mlp=None), seed=0)
    >>> rows = InContextTracker()(model, 0, data)
    >>> sorted({r["observable"] for r in rows})[:3]
    ['icl/late_vs_early', 'icl/loss_early', 'icl/loss_first']
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from bridge.models.base import evaluating
from bridge.tasks.base import TaskData
from bridge.tasks.repeated_tokens import first_occurrences, masked_mean, next_token_losses, repeated_targets
from bridge.theory.base import require_count
from bridge.trackers.base import Row, model_output, row
from probes.heads import SCORES, attention_patterns, composition_scores, copying_scores, head_scores, head_weights, previous_token_by_position, previous_token_reach


def evaluation_sets(data: TaskData, n_eval: int, device: torch.device | str) -> dict[str, Tensor]:
    """``{"test": tokens, "off": tokens}`` (first ``n_eval`` sequences of each; ``off`` when present),
    each ``(min(n_eval, n), n_ctx)``.

    Examples:
        >>> from bridge.tasks import RepeatedTokensConfig, make_task
        >>> data = make_task(RepeatedTokensConfig(d_vocab=16, n_ctx=12, n_train=8, n_test=8, n_off=8,
        ...                                       prefix=(0, 2), block=(3, 5), off_prefix=(3, 4), off_block=(3, 4)), seed=0)
        >>> {k: tuple(v.shape) for k, v in evaluation_sets(data, 4, torch.device("cpu")).items()}
        {'test': (4, 12), 'off': (4, 12)}
    """
    if data.test is None:
        raise ValueError("the induction trackers need a task with a test split")
    sets = {"test": data.test.x[:n_eval].to(device)}
    off = data.info.get("off_position")
    if off is not None:
        sets["off"] = off.x[:n_eval].to(device)
    return sets


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


@dataclass
class InContextTracker:
    """In-context learning observables, per split:

    ``icl/loss_repeated`` (targets induction can predict), ``icl/loss_first``
    (first occurrences), ``icl/repeat_vs_first`` (their difference),
    ``icl/loss_early`` and ``icl/loss_late`` (mean loss of the first and last
    ``window`` targets) and ``icl/late_vs_early`` (late − early; negative = in-context learning).
    A sequence of ``n_ctx`` tokens has ``n_ctx − 1`` targets; a ``window`` of that many
    or more would make the early and late targets the same, so it is refused when called.
    First-occurrence loss can rise above ln V during the transition, so
    ``repeat_vs_first`` overstates the gain for a while; ``loss_repeated`` alone does not.

    Examples:
        >>> from bridge.models import TransformerConfig, build_model
        >>> from bridge.tasks import RepeatedTokensConfig, make_task
        >>> data = make_task(RepeatedTokensConfig(d_vocab=16, n_ctx=12, n_train=8, n_test=8, n_off=8,
        ...                                       prefix=(0, 2), block=(3, 5), off_prefix=(3, 4), off_block=(3, 4)), seed=0)
        >>> model = build_model(TransformerConfig(d_vocab=16, n_ctx=12, d_model=16, n_heads=2, d_head=8, n_layers=2, d_mlp=None), seed=0)
        >>> [round(r["value"], 1) for r in InContextTracker(window=4)(model, 0, data) if r["observable"] == "icl/loss_repeated"]  # untrained: ln 16
        [2.8, 2.8]
    """

    n_eval: int = 512
    window: int = 8
    name: str = "icl"

    def __post_init__(self) -> None:
        require_count("InContextTracker.n_eval", self.n_eval)  # 0 gives NaN rows; a negative count, x[:-k], drops sequences
        if not (isinstance(self.window, int) and self.window >= 1):
            raise ValueError(f"InContextTracker.window must be a positive integer, got {self.window!r}")

    def __call__(self, model: nn.Module, step: int, data: TaskData) -> list[Row]:
        rows: list[Row] = []
        with evaluating(model):
            for split, tokens in evaluation_sets(data, self.n_eval, _device(model)).items():
                n_targets = tokens.shape[1] - 1  # column 0 has no target
                if self.window >= n_targets:
                    raise ValueError(
                        f"InContextTracker.window={self.window} covers all {n_targets} targets of sequences of n_ctx={n_targets + 1}, "
                        f"so the early and late targets would be the same; pass a window below {n_targets}"
                    )
                losses = next_token_losses(model_output(model, tokens), tokens)
                rep = masked_mean(losses, repeated_targets(tokens))
                first = masked_mean(losses, first_occurrences(tokens))
                early = losses[:, 1 : 1 + self.window].mean()
                late = losses[:, -self.window :].mean()
                rows += [
                    row("icl/loss_repeated", rep, split=split),
                    row("icl/loss_first", first, split=split),
                    row("icl/repeat_vs_first", rep - first, split=split),
                    row("icl/loss_early", early, split=split),
                    row("icl/loss_late", late, split=split),
                    row("icl/late_vs_early", late - early, split=split),
                ]
        return rows


@dataclass
class HeadScoreTracker:
    """Per-head observables: ``heads/{previous_token,duplicate_token,induction}`` per split,
    ``heads/copying`` and ``composition/{q,k,v}`` (index ``layer, head, to_layer, to_head``);
    per layer and split, ``heads/previous_token_reach``: the last query position up to
    which the layer's previous-token attention, summed over its heads, stays ≥ 0.5
    (:func:`probes.heads.previous_token_reach`).

    Examples:
        >>> from bridge.models import TransformerConfig, build_model
        >>> from bridge.tasks import RepeatedTokensConfig, make_task
        >>> data = make_task(RepeatedTokensConfig(d_vocab=16, n_ctx=12, n_train=8, n_test=8, n_off=8,
        ...                                       prefix=(0, 2), block=(3, 5), off_prefix=(3, 4), off_block=(3, 4)), seed=0)
        >>> model = build_model(TransformerConfig(d_vocab=16, n_ctx=12, d_model=16, n_heads=2, d_head=8, n_layers=2, d_mlp=None), seed=0)
        >>> [(r["layer"], r["head"]) for r in HeadScoreTracker()(model, 0, data) if r["observable"] == "heads/induction" and r["split"] == "test"]
        [(0, 0), (0, 1), (1, 0), (1, 1)]
    """

    n_eval: int = 256
    name: str = "heads"
    version = 2  # 4bc3aa1: copying and composition scores fold the LayerNorm/RMSNorm weights into W_Q, W_K, W_V, W_U

    def __post_init__(self) -> None:
        require_count("HeadScoreTracker.n_eval", self.n_eval)

    def __call__(self, model: nn.Module, step: int, data: TaskData) -> list[Row]:
        rows: list[Row] = []
        for split, tokens in evaluation_sets(data, self.n_eval, _device(model)).items():
            patterns = attention_patterns(model, tokens)
            scores = head_scores(model, tokens, patterns)
            for score in SCORES:
                rows += [row(f"heads/{score}", v, layer=l, head=h, split=split) for (l, h), v in _items(scores[score])]
            rows += [row("heads/previous_token_reach", previous_token_reach(previous_token_by_position(p)), layer=l, split=split) for l, p in enumerate(patterns)]
        w = head_weights(model)
        rows += [row("heads/copying", v, layer=l, head=h) for (l, h), v in _items(copying_scores(w))]
        for kind, comp in composition_scores(w).items():
            L, H = comp.shape[:2]
            rows += [
                row(f"composition/{kind}", comp[l0, h0, l1, h1], layer=l0, head=h0, to_layer=l1, to_head=h1)
                for l0 in range(L)
                for l1 in range(l0 + 1, L)
                for h0 in range(H)
                for h1 in range(H)
            ]
        return rows


def _items(scores: Tensor) -> list[tuple[tuple[int, int], float]]:
    L, H = scores.shape
    return [((l, h), float(scores[l, h])) for l in range(L) for h in range(H)]


__all__ = ["HeadScoreTracker", "InContextTracker", "evaluation_sets"]
