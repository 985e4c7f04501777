"""Analysis parts of the induction-heads case study: events, LLC over checkpoints, causal checks, graphs.

Plain functions over a :class:`~bridge.runs.run.Run` and models; the case study
(:mod:`case_studies.induction_heads`) assembles them.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np
import torch
from torch import Tensor, nn

from bridge.estimators.llc import LLCWarning
from bridge.progress import progress_bar
from bridge.runs.run import Run
from bridge.seeding import derive_seed, generator
from bridge.stages.detectors import Event, Stage, plateaus_and_drops
from bridge.tasks.base import Split, TaskData
from bridge.tasks.repeated_tokens import corrupt_first_copy, first_occurrences, masked_mean, next_token_losses, repeated_targets, repeated_token_loss
from bridge.theory.bigram import bigram_floors
from bridge.trackers.llc import LLCTracker
from probes.circuits import circuit_graph
from probes.heads import attention_patterns, copying_scores, head_scores, head_weights, induction_by_key_position, previous_token_by_position, previous_token_reach
from probes.patching import ablated, ablation_effects, ablation_subsets, mean_head_outputs, patch_heads, path_patch_matrix


# issue 5's ablation targets: ablating the previous-token circuit raises repeated-token loss by at least
# ABLATION_MIN_LOSS nats and leaves every layer-1 induction score below ABLATION_MAX_INDUCTION
ABLATION_MIN_LOSS = 1.0
ABLATION_MAX_INDUCTION = 0.3


def meets_ablation_targets(loss_increase: float, max_layer1_induction: float) -> bool:
    """Both ablation targets of the case study."""
    return loss_increase >= ABLATION_MIN_LOSS and max_layer1_induction < ABLATION_MAX_INDUCTION


def series(run: Run, name: str, **index: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(steps, values)`` of one observable as float arrays."""
    s = run.observable(name, **index)
    return s.index.to_numpy(dtype=float), s.to_numpy(dtype=float)


def best_head(run: Run, score: str, layer: int, split: str = "test") -> int:
    """The head of ``layer`` with the highest final ``heads/{score}``."""
    n_heads = run.config.model.n_heads
    finals = [series(run, f"heads/{score}", layer=layer, head=h, split=split)[1][-1] for h in range(n_heads)]
    return int(np.argmax(finals))


def main_drop(stages: list[Stage]) -> Stage | None:
    """The drop stage with the largest decrease (``None`` when there is no drop)."""
    drops = [s for s in stages if s.kind == "drop"]
    return min(drops, key=lambda s: s.change) if drops else None


def rise_between(steps: np.ndarray, values: np.ndarray, lo: float, hi: float) -> tuple[float, float] | None:
    """Interpolated steps at which a rising score last leaves ``< lo`` and first reaches ``> hi``.

    ``None`` when the score never exceeds ``hi`` or was never below ``lo`` before it did.

    Example:
        >>> rise_between(np.array([0.0, 10, 20, 30]), np.array([0.1, 0.15, 0.4, 0.9]), 0.2, 0.5)
        (12.0, 22.0)
    """
    above = np.nonzero(values > hi)[0]
    if len(above) == 0 or above[0] == 0:
        return None
    j = int(above[0])
    t_hi = float(np.interp(hi, values[j - 1 : j + 1], steps[j - 1 : j + 1]))
    below = np.nonzero(values[:j] < lo)[0]
    if len(below) == 0:
        return None
    i = int(below[-1])
    t_lo = float(np.interp(lo, values[i : i + 2], steps[i : i + 2]))
    return t_lo, t_hi


def induction_candidates(run: Run, window: tuple[float, float] | None, lo: float = 0.2, hi: float = 0.5, final: float = 0.85) -> tuple[int, dict[int, dict[str, Any]]]:
    """Pick "a layer-1 head" for the issue's induction targets, and every head's measurements.

    For each layer-1 head: the interval over which its test induction score rises
    from ``< lo`` to ``> hi`` (:func:`rise_between`), whether it lies inside ``window``,
    and its final test and off-position scores. The chosen head satisfies the most
    of (rise inside window, final test > ``final``, final off-position > ``final``),
    ties broken by the higher final test score.
    """
    heads: dict[int, dict[str, Any]] = {}
    for h in range(run.config.model.n_heads):
        t, v = series(run, "heads/induction", layer=1, head=h, split="test")
        off = series(run, "heads/induction", layer=1, head=h, split="off")[1]
        rise = rise_between(t, v, lo, hi)
        inside = rise is not None and window is not None and window[0] <= rise[0] and rise[1] <= window[1]
        heads[h] = {"rise": rise, "inside": inside, "final_test": float(v[-1]), "final_off": float(off[-1])}
        heads[h]["met"] = int(inside) + int(v[-1] > final) + int(off[-1] > final)
    chosen = max(heads, key=lambda h: (heads[h]["met"], heads[h]["final_test"]))
    return chosen, heads


@dataclass(frozen=True)
class LLCSettings:
    """SGLD settings for the learning coefficient over checkpoints (see :func:`bridge.estimators.llc.estimate_llc`).

    ``sequences`` training sequences form the full batch; ``nβ = n_tokens / ln n_tokens``
    with ``n_tokens = sequences × (n_ctx − 1)`` predicted tokens (the loss is per token).
    """

    every: int = 100
    sequences: int = 32
    n_chains: int = 2
    n_burnin: int = 15
    n_draws: int = 30
    step_size: float = 1e-4
    gamma: float = 100.0


def llc_over_checkpoints(run: Run, data: TaskData, steps: list[int], settings: LLCSettings, seed: int, progress: bool | None = None) -> list[dict[str, Any]]:
    """Rows ``llc/mean``, ``llc/std``, ``llc/diverged`` (with ``step``) at each of ``steps`` (a progress bar on a terminal)."""
    x = data.train.x[: settings.sequences]
    n_tokens = x.shape[0] * (x.shape[1] - 1)
    subset = TaskData(Split(x, x), None, data.loss, {})
    tracker = LLCTracker(
        n_chains=settings.n_chains,
        n_draws=settings.n_draws,
        n_burnin=settings.n_burnin,
        step_size=settings.step_size,
        gamma=settings.gamma,
        nbeta=n_tokens / math.log(n_tokens),
        seed=seed,
    )
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LLCWarning)  # nβ > n by construction (per-token loss); divergences are counted in llc/diverged
        for step in progress_bar(steps, "LLC over checkpoints", progress):
            rows += [{"step": step, **r} for r in tracker(run.model_at(step), step, subset)]
    return rows


def llc_boundary(steps: np.ndarray, llc: np.ndarray, during: tuple[float, float] | None = None) -> tuple[Event | None, list[Stage]]:
    """Critical point of the LLC curve at a transition: the end of the LLC rise that goes with it.

    ``steps`` and ``llc`` are the sampled curve, shape ``(n,)``. Rises are found
    with :func:`bridge.stages.detectors.plateaus_and_drops` on ``−llc`` (linear scale,
    default thresholds). Each rise's end is a critical point (a
    stage boundary, where the growth stops); the boundary returned is the end of
    the largest rise overlapping ``during = (start, end)`` (a loss drop's window),
    or of the largest rise overall when ``during`` is ``None``; ``None`` when no
    rise qualifies. Its uncertainty is the sampling interval.

    A run with two stages (a first loss fall, a plateau, then the induction drop)
    has an LLC rise in each; the boundary of the induction drop is the end of the
    second, even when the first rise is larger.

    Example:
        >>> t = np.arange(0.0, 2001.0, 100.0)
        >>> two_stages = 30 / (1 + np.exp(-(t - 500) / 40)) + 15 / (1 + np.exp(-(t - 1500) / 40))
        >>> llc_boundary(t, two_stages)[0].step, llc_boundary(t, two_stages, during=(1400, 1700))[0].step
        (600.0, 1600.0)
    """
    stages = plateaus_and_drops(steps, -llc, name="LLC", observable="llc/mean", log=False)
    rises = [s for s in stages if s.kind == "drop" and (during is None or (s.start <= during[1] and s.end >= during[0]))]
    rise = main_drop(rises)
    if rise is None:
        return None, stages
    u = rise.end_uncertainty
    return Event("LLC stage boundary (end of rise)", rise.end, rise.end - u, rise.end + u, "llc/mean", "critical_point"), stages


def corrupted_pair(tokens: Tensor, d_vocab: int, seed: int) -> Tensor:
    """The corrupted counterpart of ``tokens`` (first copies replaced; see :func:`corrupt_first_copy`)."""
    return corrupt_first_copy(tokens.cpu(), d_vocab, generator(derive_seed(seed, "corrupt"))).to(tokens.device)


def head_graph(model: nn.Module, tokens: Tensor, corrupted: Tensor, step: int) -> nx.DiGraph:
    """Circuit graph of one checkpoint: head scores, mean-ablation effects, composition and key path patching."""
    scores = head_scores(model, tokens)
    w = head_weights(model)
    nodes = {**scores, "copying": copying_scores(w), "ablation": ablation_effects(model, tokens, repeated_token_loss, mode="mean")}
    key_path = path_patch_matrix(model, tokens, corrupted, repeated_token_loss) if model.cfg.n_layers >= 2 else None
    return circuit_graph(w, node_scores=nodes, key_path=key_path, step=step)


def previous_token_demand(prefix: Tensor, period: Tensor, n_ctx: int) -> np.ndarray:
    """Share of sequences in which position ``q`` is a key induction needs, ``(n_ctx,)``.

    Induction from a later copy attends to the position after the token's first
    occurrence, ``P + 1 ≤ q ≤ P + B``; a previous-token head must cover ``q`` there.
    """
    q = torch.arange(n_ctx)[None, :]
    return ((q >= prefix[:, None] + 1) & (q <= prefix[:, None] + period[:, None])).float().mean(0).numpy()


def previous_token_coverage(model: nn.Module, sets: dict[str, Tensor], info: dict, ind_head: int) -> dict[str, Any]:
    """Where the layer-0 previous-token heads work, and what that does to induction.

    Returns ``previous_token_by_position`` (per layer-0 head, queries 1 … n−1),
    ``reach`` (:func:`probes.heads.previous_token_reach`), the training sequences'
    ``demand`` (:func:`previous_token_demand`, positions 1 … n−1) and the share of
    them that need a key beyond the reach; and for each evaluation set the layer-1
    head's induction attention by the key it needs
    (:func:`probes.heads.induction_by_key_position`), pooled over keys inside and beyond the reach.
    """
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


def bigram_background(run: Run, data: TaskData) -> dict[str, Any] | None:
    """With a Markov background: the bigram floors of the test split's first occurrences beside the model's loss there.

    ``None`` for the uniform background. Otherwise ``{"chain", "bayes"}`` (nats,
    :func:`bridge.theory.bigram.bigram_floors`), ``first_loss_min`` with
    ``first_loss_min_step`` (the lowest test first-occurrence loss over training)
    and ``first_loss_final``.
    """
    transition = data.info.get("transition")
    if transition is None:
        return None
    tokens = data.test.x.cpu()
    floors = bigram_floors(tokens, transition.cpu(), first_occurrences(tokens))
    t, first = series(run, "icl/loss_first", split="test")
    i = int(np.argmin(first))
    return {**floors, "first_loss_min": float(first[i]), "first_loss_min_step": float(t[i]), "first_loss_final": float(first[-1])}


def _second_copy_loss(clean: Tensor, corrupted: Tensor):
    """Metric for denoising: loss on the clean labels at targets repeated in ``clean`` but not in ``corrupted``."""
    mask = repeated_targets(clean) & ~repeated_targets(corrupted)

    def metric(logits: Tensor, tokens: Tensor) -> Tensor:
        return masked_mean(next_token_losses(logits, clean), mask)

    return metric


def final_causal(model: nn.Module, sets: dict[str, Tensor], corrupted: Tensor, prev_head: int) -> dict[str, Any]:
    """Causal measurements at the end of training (values in nats of repeated-token loss).

    Returns a dict with per-head zero and mean ablation effects, activation
    patching in both directions (noising: clean run, one head from the corrupted
    run; denoising: corrupted run, one head from the clean run, scored on the
    second copy of the block whose earlier match the corruption removed), key path patching,
    and the effect of mean- and zero-ablating the previous-token head ``(0, prev_head)``
    on the repeated-token loss and on every layer-1 head's induction score; for
    information, the same for mean-ablating every layer-0 head with a
    previous-token score >= 0.3 together (``all_prev_ablation_mean``), and every set of
    layer-0 heads mean-ablated together with the smallest set that meets both
    ablation targets (``prev_ablation_subsets``).
    """
    test = sets["test"]
    out: dict[str, Any] = {
        "ablation_zero": ablation_effects(model, test, repeated_token_loss, mode="zero").tolist(),
        "ablation_mean": ablation_effects(model, test, repeated_token_loss, mode="mean").tolist(),
        "patching_noising": patch_heads(model, test, corrupted, repeated_token_loss).tolist(),
        "patching_denoising": patch_heads(model, corrupted, test, _second_copy_loss(test, corrupted)).tolist(),
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
    out["prev_ablation_subsets"] = _layer0_subsets(model, sets, means, clean)
    return out


def _layer0_subsets(model: nn.Module, sets: dict[str, Tensor], means: Tensor, clean: float) -> dict[str, Any]:
    """Mean-ablate every set of layer-0 heads: Δ repeated-token loss and the max layer-1 induction score for each,
    and the smallest set meeting both ablation targets (:func:`meets_ablation_targets`), the costliest of its size."""
    test = sets["test"]

    def measure(m: nn.Module) -> dict[str, float]:
        induction = max(float(head_scores(m, tokens)["induction"][1].max()) for tokens in sets.values())
        return {"loss_increase": float(repeated_token_loss(m(test), test)) - clean, "max_layer1_induction": induction}

    rows = [{"heads": [list(h) for h in subset], **r} for subset, r in ablation_subsets(model, [(0, h) for h in range(model.cfg.n_heads)], measure, "mean", means)]
    meets = [r for r in rows if meets_ablation_targets(r["loss_increase"], r["max_layer1_induction"])]
    smallest = min(meets, key=lambda r: (len(r["heads"]), -r["loss_increase"])) if meets else None
    return {"subsets": rows, "smallest_meeting_targets": smallest}


__all__ = [
    "LLCSettings",
    "best_head",
    "corrupted_pair",
    "final_causal",
    "head_graph",
    "induction_candidates",
    "llc_boundary",
    "llc_over_checkpoints",
    "main_drop",
    "meets_ablation_targets",
    "previous_token_coverage",
    "previous_token_demand",
    "rise_between",
    "series",
]
