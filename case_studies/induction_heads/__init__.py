"""Case study ``induction-heads``: one phase change seen as a loss drop, a circuit and a learning-coefficient boundary.

A two-layer attention-only transformer trained on sequences with repeated
random blocks (varying offset and period) sits on a loss plateau, then its
repeated-token loss drops abruptly as a previous-token head in layer 0 and an
induction head in layer 1 compose through the induction head's keys (Olsson et
al. 2022); the local learning coefficient stops rising at the end of that drop
(Hoogland et al. 2024). A one-layer model trained the same way (run
``one_layer``) is the control: it cannot form an induction head and shows no
phase change. The report matches the half-way points of the loss drop and of the
three circuit scores, and the end of the drop against the end of the LLC's rise.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bridge.config import ConfigError, RunConfig, ScheduleConfig, TrainConfig
from bridge.estimators import SGLDConfig
from bridge.match import check
from bridge.models import TransformerConfig
from bridge.plots import (
    new_figure,
    plot_attention,
    plot_circuit,
    plot_head_heatmap,
    plot_induction_by_key,
    plot_loss_stages,
    plot_previous_token_coverage,
    plot_reach,
    save_figure,
)
from bridge.report import BridgeReport
from bridge.runs.run import Run
from bridge.stages import Stage
from bridge.tasks.base import TaskData
from bridge.tasks.repeated_tokens import (
    RepeatedTokensConfig,
    first_occurrences,
    repeated_targets,
)
from bridge.theory.bigram import bigram_floors
from bridge.trackers import HeadScoreTracker, InContextTracker, LLCTracker, LossTracker
from bridge.trackers.induction import evaluation_sets
from case_studies.base import CaseStudy, Offline, register
from case_studies.induction_heads.verdict import (
    Observed,
    Targets,
    dynamics,
    judge,
    previous_token_head,
)
from probes.circuits import (
    from_node_link,
    graph_change,
    node_name,
    to_node_link,
)
from probes.heads import attention_patterns
from probes.induction import (
    final_causal,
    head_graph,
    previous_token_coverage,
)
from probes.patching_data import corrupted_pair

if TYPE_CHECKING:
    import networkx as nx


@dataclass(frozen=True)
class InductionPreset:
    """Settings of the ``induction-heads`` case study.

    Args:
        task: the repeated-token task.
        model: the two-layer attention-only transformer; the control has ``control_layers`` layers.
        train: optimizer and schedule of both runs (checkpoints every ``schedule.every`` steps).
        sgld: the learning coefficient's sampler, run every ``llc_every`` steps on the first
            ``llc_sequences`` training sequences; ``nbeta=None`` means ``n / ln n`` over their
            ``n = llc_sequences × (n_ctx − 1)`` predicted tokens (the loss is per token).
        n_eval: sequences per evaluation set for head scores and causal checks.
        graph_every, graph_sequences: circuit graphs every ``graph_every`` steps, measured on
            that many test sequences and their corrupted counterparts.
        targets: what the report judges.

    Examples:
        >>> p = PRESETS["quick"]; p.task.d_vocab, p.task.n_ctx, p.model.n_layers, p.model.positional_embedding, p.train.optimizer, p.llc_every
        (64, 32, 2, 'rotary', 'sgd', 100)
    """

    task: RepeatedTokensConfig
    model: TransformerConfig
    train: TrainConfig
    sgld: SGLDConfig = SGLDConfig(n_chains=2, n_draws=30, n_burnin=15, step_size=1e-4, gamma=100.0)
    llc_every: int = 100
    llc_sequences: int = 32
    control_layers: int = 1
    n_eval: int = 256
    graph_every: int = 200
    graph_sequences: int = 128
    targets: Targets = Targets()

    def __post_init__(self) -> None:
        for name in ("llc_every", "llc_sequences", "control_layers", "n_eval", "graph_every", "graph_sequences"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"induction-heads {name} must be a positive integer, got {value!r}")


PRESETS = {
    # rotary positions let a previous-token head work at every position; SGD with momentum grows one such head;
    # warm-up and gradient clipping keep SGD finite on larger learning rates, contexts and widths
    "quick": InductionPreset(
        task=RepeatedTokensConfig(d_vocab=64, n_ctx=32, prefix=(0, 8), block=(4, 16)),
        model=TransformerConfig(d_vocab=64, n_ctx=32, d_model=64, n_heads=4, d_head=16, n_layers=2, d_mlp=None, normalization=None, positional_embedding="rotary"),
        train=TrainConfig(optimizer="sgd", lr=1.0, momentum=0.9, steps=2000, batch_size=64, schedule=ScheduleConfig(n_log=12, every=50), warmup=200, clip_grad_norm=1.0),
    ),
    "full": InductionPreset(
        task=RepeatedTokensConfig(d_vocab=512, n_ctx=128, prefix=(0, 32), block=(8, 48), n_train=524_288, n_test=1024, n_off=1024, off_prefix=(33, 64), off_block=(8, 32)),
        model=TransformerConfig(d_vocab=512, n_ctx=128, d_model=256, n_heads=8, d_head=32, n_layers=2, d_mlp=None, normalization=None),
        train=TrainConfig(optimizer="adamw", lr=1e-3, steps=20000, batch_size=256, schedule=ScheduleConfig(n_log=20, every=250)),
        sgld=SGLDConfig(n_chains=4, n_draws=200, n_burnin=100, step_size=1e-4, gamma=100.0),
        llc_every=1000, llc_sequences=256, n_eval=512, graph_every=2000, graph_sequences=256,
    ),
}


@register("induction-heads")
class InductionHeads(CaseStudy):
    """2-layer attention-only transformer: loss drop, induction circuit and LLC boundary coincide; 1-layer control.

    Examples:
        >>> runs = InductionHeads().runs(PRESETS["quick"], seed=0)
        >>> sorted(runs), runs["main"].model.n_layers, runs["one_layer"].model.n_layers, runs["one_layer"].train == runs["main"].train
        (['main', 'one_layer'], 2, 1, True)
    """

    presets = PRESETS
    family = {  # the depth stays 2: the claims name layer 0 (previous-token) and layer 1 (induction) heads
        "task.d_vocab+model.d_vocab": ((32, 32), (128, 128)),
        "task.n_ctx+model.n_ctx": ((28, 28), (48, 48)),
        "model.n_heads": (2, 8),
        "model.d_model": (48, 96),
        "train.lr": (0.5, 2.0),
    }

    def runs(self, preset: InductionPreset, seed: int) -> dict[str, RunConfig]:
        main = RunConfig(preset.task, preset.model, preset.train, seed=seed, name="induction-heads")
        control = dataclasses.replace(main, model=dataclasses.replace(preset.model, n_layers=preset.control_layers), name="induction-heads-control")
        return {"main": main, "one_layer": control}

    def trackers(self, preset: InductionPreset, key: str) -> list:
        # the loss on 512 training sequences: the whole training split would cost more than training
        return [LossTracker(max_examples=512), InContextTracker(n_eval=2 * preset.n_eval), HeadScoreTracker(n_eval=preset.n_eval)]

    def offline(self, preset: InductionPreset, key: str, run: Run) -> list[Offline]:
        if key != "main":
            return []
        n = preset.llc_sequences * (preset.task.n_ctx - 1)
        sgld = preset.sgld if preset.sgld.nbeta is not None else dataclasses.replace(preset.sgld, nbeta=n / math.log(n))
        # nβ exceeds the number of sequences by construction (the loss is per token): the estimator's warning about it is silenced
        tracker = LLCTracker(sgld, seed=run.config.seed, max_examples=preset.llc_sequences, warn=False)
        return [Offline([tracker], steps=[s for s in run.steps if s % preset.llc_every == 0])]

    def analyse(self, runs: Mapping[str, Run], preset: InductionPreset) -> BridgeReport:
        run, control, tg = runs["main"], runs["one_layer"], preset.targets
        data = run.task_data()
        sets = evaluation_sets(data, preset.n_eval, "cpu")
        corrupted = corrupted_pair(sets["test"], preset.task.d_vocab, run.config.seed).corrupted
        n_g = preset.graph_sequences
        graphs = {s: head_graph(run.model_at(s), sets["test"][:n_g], corrupted[:n_g], s) for s in run.steps if s % preset.graph_every == 0}
        first, last = graphs[min(graphs)], graphs[max(graphs)]
        final = run.model_at(run.steps[-1])
        previous = run.table("heads/previous_token", "head", layer=0, split="test")
        prev_head = previous_token_head(previous.to_numpy(dtype=float))
        causal = final_causal(final, sets, corrupted, prev_head, min_loss=tg.ablation_loss, max_induction=tg.ablation_induction)
        obs = observed(run, control, first, last, causal)
        rows = judge(obs, d_vocab=preset.task.d_vocab, n_chains=preset.sgld.n_chains, targets=tg)
        ind_head, ind_name, prev_name = rows.induction_head, node_name(1, rows.induction_head), node_name(0, prev_head)
        change = graph_change(first, last, "k_comp_z", tg.edge_z)
        coverage = previous_token_coverage(final, sets, data.info, ind_head)
        bigram = bigram_background(run, data)

        report = BridgeReport(self.name, "custom", run.config.seed)
        report.matches += rows.matches
        report.checks += rows.checks
        stages, drop, c_drop, candidates, llc_stages = rows.stages, rows.drop, rows.control_drop, rows.candidates, rows.llc_stages
        report.notes += _notes(preset, ind_name, prev_name, change, graphs, llc_stages, causal, drop, c_drop, coverage, bigram)
        report.extra = {
            "induction_head": [1, ind_head],
            "layer1_induction": {f"L1H{h}": {**v, "rise": None if v["rise"] is None else list(v["rise"])} for h, v in candidates.items()},
            "previous_token_head": [0, prev_head],
            "stages": [s.to_dict() for s in stages],
            "control_largest_drop": None if c_drop is None else c_drop.to_dict(),
            "llc": {"steps": run.curve("llc/mean")[0].tolist(), "mean": run.curve("llc/mean")[1].tolist(), "stages": [s.to_dict() for s in llc_stages]},
            "graph_change": {**change, "added": [list(e) for e in change["added"]], "removed": [list(e) for e in change["removed"]]},
            "causal": causal,
            "previous_token_coverage": coverage,
            "bigram_background": bigram,
        }
        report.events = rows.events
        report.files = {"circuits.json": {str(s): to_node_link(g) for s, g in sorted(graphs.items())}}
        return report

    def across_seeds(self, outs: Mapping[int, Path], preset: InductionPreset) -> list:
        return seed_circuits(outs, preset.targets.edge_z) if len(outs) > 1 else []

    def figures(self, runs: Mapping[str, Run], report: BridgeReport, preset: InductionPreset) -> list[str]:
        run, control = runs["main"], runs["one_layer"]
        stages, drop, llc_event, _ = dynamics(*run.curve("icl/loss_repeated", split="test"), *run.curve("llc/mean"), run.curve("llc/std")[1],
                                              d_vocab=preset.task.d_vocab, n_chains=preset.sgld.n_chains, targets=preset.targets)
        ind_head, prev_head = report.extra["induction_head"][1], report.extra["previous_token_head"][1]
        figures = {}

        fig, ax = figures["losses.png"] = new_figure(size=(7.5, 4.2))
        styles = (("repeated tokens (test)", run, "icl/loss_repeated", "test", "C0-"), ("repeated tokens (off-position)", run, "icl/loss_repeated", "off", "C0--"),
                  ("first occurrences (test)", run, "icl/loss_first", "test", "C1-"), ("1-layer control, repeated", control, "icl/loss_repeated", "test", "C3-"))
        curves = {label: (*r.curve(name, split=split), style) for label, r, name, split, style in styles}
        llc = (*run.curve("llc/mean"), run.curve("llc/std")[1])
        title = "loss plateau, drop (orange band) and LLC stage boundary (green dashed)"
        plot_loss_stages(ax, curves, stages=stages, reference=(math.log(preset.task.d_vocab), "ln V"), llc=llc, boundary=None if llc_event is None else llc_event.step, title=title, legend="below")

        fig, axes = figures["head_scores.png"] = new_figure(ncols=3, size=(4.6, 3.0))
        marks = [] if drop is None else [(drop.start, "loss drop"), (drop.end, "")]
        for ax, score in zip(axes, ("previous_token", "induction", "duplicate_token")):
            table = run.table(f"heads/{score}", ["layer", "head"], split="test")
            plot_head_heatmap(ax, table.index.to_numpy(dtype=float), [node_name(int(layer), int(head)) for layer, head in table.columns], table.to_numpy().T, title=f"{score.replace('_', '-')} score", marks=marks)  # type: ignore[str-unpack]  # pandas-stubs types every DataFrame's columns as Index[str]; a table over two index columns has a MultiIndex of (layer, head) pairs

        fig, axes = figures["attention.png"] = new_figure(ncols=2, nrows=2, size=(4.4, 4.0))
        before = max([s for s in run.steps if drop is None or s <= drop.start - drop.start_uncertainty] or [run.steps[0]])
        tokens = evaluation_sets(run.task_data(), preset.n_eval, "cpu")["test"]
        repeats = repeated_targets(tokens)
        good = ((repeats.float().argmax(1) >= 6) & (repeats.sum(1) >= 12)).nonzero().flatten()  # a prefix, then two repeats of a short block
        i = int(good[0]) if len(good) else 0
        seq, boundaries = tokens[i : i + 1], [int(repeats[i].float().argmax()) - 1] if repeats[i].any() else []
        for row, step in enumerate((before, run.steps[-1])):
            patterns = attention_patterns(run.model_at(step), seq)
            for col, (layer, head, label) in enumerate(((0, prev_head, "previous-token head"), (1, ind_head, "induction head"))):
                plot_attention(axes[2 * row + col], patterns[layer, 0, head].numpy(), seq[0].tolist(), title=f"{node_name(layer, head)} ({label}), step {step}", boundaries=boundaries)

        fig, axes = figures["circuit.png"] = new_figure(ncols=2, size=(4.4, 3.6))
        graphs = report.files["circuits.json"]
        for ax, step in zip(axes, (min(graphs, key=int), max(graphs, key=int))):
            plot_circuit(ax, from_node_link(graphs[step]), edge_attr="k_comp_z", threshold=preset.targets.edge_z, node_attr="induction", title=f"step {step}: K-composition z ≥ {preset.targets.edge_z:g}")

        fig, axes = figures["coverage.png"] = new_figure(ncols=3, size=(4.2, 3.4))
        plot_reach(axes[0], {split: run.curve("heads/previous_token_reach", layer=0, split=split) for split in ("test", "off")}, stages=stages)
        plot_previous_token_coverage(axes[1], report.extra["previous_token_coverage"])
        plot_induction_by_key(axes[2], report.extra["previous_token_coverage"], node_name(1, ind_head))
        return [str(save_figure(fig, run.figures_dir / name).relative_to(run.path)) for name, (fig, _) in figures.items()]


def seed_circuits(outs: Mapping[int, Path], edge_z: float) -> list:
    """Rows over seeds: is every seed's final circuit the same up to relabelling heads within a layer?

    Each seed's last circuit graph (``circuits.json``) is thresholded at K-composition
    z ≥ ``edge_z`` and compared with the first seed's (:func:`probes.circuits.same_circuit`,
    node scores ignored: the claim is about the wiring). Also reported, as information,
    each seed's number of previous-token heads that feed an induction head, the
    redundancy that differs between seeds.

    Examples:
        >>> rows = seed_circuits({0: "runs/ind/seed-0", 1: "runs/ind/seed-1"}, edge_z=5.0)  # doctest: +SKIP
        >>> rows[0].value  # doctest: +SKIP
        1.0
    """
    from probes.circuits import read_graphs, same_circuit, thresholded

    finals = {}
    for seed, out in outs.items():
        graphs = read_graphs(Path(out) / "circuits.json")
        finals[seed] = graphs[max(graphs)]
    seeds = sorted(finals)
    reference = finals[seeds[0]]
    same = {s: same_circuit(reference, finals[s], "k_comp_z", threshold=edge_z, node_tolerance=None) is not None for s in seeds}
    feeding = {s: sorted({u for u, _ in thresholded(finals[s], "k_comp_z", edge_z).edges}) for s in seeds}
    fraction = sum(same.values()) / len(seeds)
    return [
        check(
            f"the final circuit of every seed is the one of seed {seeds[0]} up to head relabelling (fraction of seeds)",
            fraction,
            "== 1",
            fraction == 1.0,
            claim="induction heads form by K-composition with previous-token heads in every run: the same circuit, whichever heads carry it",
            source="Olsson et al. 2022 (argument 1); universality: Olah et al. 2020, Chughtai et al. 2023",
            reason="" if fraction == 1.0 else f"differs in seeds {[s for s in seeds if not same[s]]}",
        ),
        check(
            "previous-token heads feeding an induction head, per seed",
            ", ".join(f"seed {s}: {len(v)}" for s, v in feeding.items()),
            "—",
            True,
            role="info",
        ),
    ]


def observed(run: Run, control: Run, first: nx.DiGraph, last: nx.DiGraph, causal: dict) -> Observed:
    """The :class:`~case_studies.induction_heads.verdict.Observed` of a main run and its control: curves from their metrics,
    K-composition z-scores from the ``first`` and ``last`` circuit graphs, ablation effects from ``causal``
    (:func:`~probes.induction.final_causal` of :func:`~case_studies.induction_heads.verdict.previous_token_head`).

    Examples:
        >>> report = get_case_study("induction-heads").analyse({"main": load_run("runs/ih"), "control": load_run("runs/ih/runs/control")}, PRESETS["quick"])  # calls it  # doctest: +SKIP
    """
    steps, loss = run.curve("icl/loss_repeated", split="test")
    induction, off, previous = (run.table(name, "head", layer=layer, split=split).to_numpy(dtype=float)
                                for name, layer, split in (("heads/induction", 1, "test"), ("heads/induction", 1, "off"), ("heads/previous_token", 0, "test")))
    k = run.table("composition/k", ["head", "to_head"], layer=0, to_layer=1)
    heads = previous.shape[1]
    kcomp = k.to_numpy(dtype=float).reshape(len(k), heads, heads)  # columns sorted by (head, to_head)
    z = [np.array([[g.edges[(node_name(0, i), node_name(1, j))]["k_comp_z"] for j in range(heads)] for i in range(heads)]) for g in (first, last)]
    ablation = causal["prev_ablation_mean"]
    c_ind = max(float(control.table("heads/induction", "head", layer=0, split=s).to_numpy().max()) for s in ("test", "off"))
    return Observed(steps, loss, induction, off, previous, kcomp, z[0], z[1], *run.curve("llc/mean"), run.curve("llc/std")[1],
                    float(ablation["loss_increase"]), float(max(max(v) for v in ablation["layer1_induction"].values())),
                    *control.curve("icl/loss_repeated", split="test"), c_ind)


def bigram_background(run: Run, data: TaskData) -> dict | None:
    """With a Markov background (else ``None``): the bigram floors ``chain`` and ``bayes`` of the test split's first
    occurrences (:func:`bridge.theory.bigram.bigram_floors`, nats) beside the model's loss there over training
    (``first_loss_min`` at ``first_loss_min_step``, ``first_loss_final``).

    Examples:
        >>> run = load_run("runs/ih"); sorted(bigram_background(run, run.task_data()))  # None without a Markov background  # doctest: +SKIP
        ['bayes', 'chain', 'first_loss_final', 'first_loss_min', 'first_loss_min_step']
    """
    transition = data.info.get("transition")
    if transition is None:
        return None
    if data.test is None:
        raise ValueError("bigram_background reads the first occurrences of the test split, and data has no test split (data.test is None)")
    tokens = data.test.x.cpu()
    t, first = run.curve("icl/loss_first", split="test")
    i = int(np.argmin(first))
    return {**bigram_floors(tokens, transition.cpu(), first_occurrences(tokens)), "first_loss_min": float(first[i]), "first_loss_min_step": float(t[i]), "first_loss_final": float(first[-1])}


def _notes(
    preset: InductionPreset, ind_name: str, prev_name: str, change: Mapping[str, Any], graphs: Mapping[int, nx.DiGraph], llc_stages: Sequence[Stage],
    causal: Mapping[str, Any], drop: Stage | None, c_drop: Stage | None, coverage: Mapping[str, Any], bigram: Mapping[str, float] | None,
) -> list[str]:
    tg, every = preset.targets, ", ".join(f"{r.end:.0f}" for r in llc_stages if r.kind == "drop") or "none"
    a, smallest = causal["all_prev_ablation_mean"], causal["prev_ablation_subsets"]["smallest_meeting_targets"]
    least = "no set of layer-0 heads meets both ablation targets" if smallest is None else (
        f"the smallest set of layer-0 heads meeting both ablation targets is {', '.join(node_name(*h) for h in smallest['heads'])} "
        f"(+{smallest['loss_increase']:.2f} nats, max layer-1 induction {smallest['max_layer1_induction']:.2f})")
    pooled = "; ".join(f"{split}: {coverage[f'induction_{split}']['covered']:.2f} inside, {coverage[f'induction_{split}']['uncovered']:.2f} beyond" for split in ("test", "off") if f"induction_{split}" in coverage)
    notes = [
        f"induction head {ind_name} (the layer-1 head meeting most induction targets), previous-token head {prev_name} (highest final score); events are the first half-way crossings of each curve, absent when the loss shows no abrupt drop or a head no rise from < {tg.rise[0]:g} to > {tg.rise[1]:g}; tolerance {tg.tolerance} relative to the observed step.",
        f"K-composition edges are z-scores against random rank-{preset.model.d_head} matrix pairs; an edge is in the graph at z >= {tg.edge_z:g}. Added {change['added']}, removed {change['removed']} between steps {min(graphs)} and {max(graphs)}.",
        f"LLC: {preset.sgld.n_chains} SGLD chains on {preset.llc_sequences} training sequences every {preset.llc_every} steps; nβ = n_tokens / ln n_tokens. Its rises end at steps {every}; the judged boundary is the end of the largest rise above {tg.llc_sigmas:g} standard errors of the estimate.",
        f"for information: mean-ablating every layer-0 head with previous-token score >= 0.3 ({', '.join(node_name(*h) for h in a['heads'])}) raises repeated-token loss by {a['loss_increase']:.2f} nats, max layer-1 induction then {max(max(v) for v in a['layer1_induction'].values()):.2f}; {least}.",
        f"for information: the largest fall of log repeated-token loss is {_rate(drop)} in the two-layer run and {_rate(c_drop)} in the one-layer control.",
        f"for information: layer-0 previous-token attention (summed over heads) stays >= 0.5 up to query position {coverage['reach']}; {100 * coverage['demand_beyond_coverage']:.0f}% of training sequences need an induction key beyond it. {ind_name}'s attention to the key it needs, keys inside the coverage vs beyond: {pooled}.",
    ]
    if bigram is not None:
        notes.append(f"for information (Markov background): on the test split's first occurrences the chain's bigram loss is {bigram['chain']:.3f} nats and the Bayes floor {bigram['bayes']:.3f}; the model's loss there is {bigram['first_loss_min']:.3f} at its lowest (step {bigram['first_loss_min_step']:.0f}) and {bigram['first_loss_final']:.3f} at the end.")
    return notes


def _rate(stage: Stage | None) -> str:
    return "none" if stage is None else f"{-stage.change:.2f} over steps {stage.start:.0f}-{stage.end:.0f} ({-1000 * stage.change / (stage.end - stage.start):.2f} per 1000 steps)"


def _fmt(pair: tuple[float, float] | None) -> str:
    return "none" if pair is None else f"[{pair[0]:.0f}, {pair[1]:.0f}]"
