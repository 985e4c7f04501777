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
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from bridge.config import RunConfig, ScheduleConfig, TrainConfig
from bridge.estimators import SGLDConfig
from bridge.match import check, match
from bridge.models import TransformerConfig
from bridge.plots import new_figure, plot_attention, plot_circuit, plot_head_heatmap, plot_induction_by_key, plot_loss_stages, plot_previous_token_coverage, plot_reach, save_figure
from bridge.report import BridgeReport
from bridge.runs.run import Run
from bridge.stages import drop_window, half_rise, llc_boundary, main_drop, plateaus_and_drops, rise_between, stage_end
from bridge.tasks.base import TaskData
from bridge.tasks.repeated_tokens import RepeatedTokensConfig, first_occurrences, repeated_targets
from bridge.theory.bigram import bigram_floors
from bridge.trackers import HeadScoreTracker, InContextTracker, LLCTracker, LossTracker
from bridge.trackers.induction import evaluation_sets
from case_studies.base import CaseStudy, Offline, register
from probes.circuits import edges_above, from_node_link, graph_change, node_name, to_node_link
from probes.heads import attention_patterns
from probes.induction import corrupted_pair, final_causal, head_graph, previous_token_coverage


@dataclass(frozen=True)
class Targets:
    """What the induction-heads report judges.

    Args:
        tolerance: relative error allowed between matched events (of the observed step).
        rise: a layer-1 head's induction score rises from below ``rise[0]`` to above ``rise[1]``
            inside the window of the repeated-token loss drop.
        final_induction: its final induction score, on the test and the off-position sets, exceeds this.
        prev_gain: a layer-0 head's previous-token score rises by at least this, with or before it.
        ablation_loss: mean-ablating that head raises the repeated-token loss by at least this (nats)
        ablation_induction: and leaves every layer-1 induction score below this.
        edge_z: a K-composition edge is in the circuit graph at this z-score (against random matrices) or above.
        control_loss: the one-layer control's final repeated-token loss stays above this (nats)
        control_induction: and its induction scores below this throughout training.
    """

    tolerance: float = 0.2
    rise: tuple[float, float] = (0.2, 0.5)
    final_induction: float = 0.85
    prev_gain: float = 0.2
    ablation_loss: float = 1.0
    ablation_induction: float = 0.3
    edge_z: float = 5.0
    control_loss: float = 2.5
    control_induction: float = 0.5


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


PRESETS = {
    # rotary positions let a previous-token head work at every position; SGD with momentum grows one such head
    "quick": InductionPreset(
        task=RepeatedTokensConfig(d_vocab=64, n_ctx=32, prefix=(0, 8), block=(4, 16)),
        model=TransformerConfig(d_vocab=64, n_ctx=32, d_model=64, n_heads=4, d_head=16, n_layers=2, d_mlp=None, normalization=None, positional_embedding="rotary"),
        train=TrainConfig(optimizer="sgd", lr=1.0, momentum=0.9, steps=2000, batch_size=64, schedule=ScheduleConfig(n_log=12, every=50)),
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
    """2-layer attention-only transformer: loss drop, induction circuit and LLC boundary coincide; 1-layer control."""

    presets = PRESETS

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
        corrupted = corrupted_pair(sets["test"], preset.task.d_vocab, run.config.seed)
        t, loss = run.curve("icl/loss_repeated", split="test")
        stages, drop, llc_event, llc_stages = _dynamics(run)
        window = drop_window(drop)
        c_drop = main_drop(plateaus_and_drops(*control.curve("icl/loss_repeated", split="test"), name="control repeated-token loss", observable="icl/loss_repeated"))
        loss_half = half_rise(t, loss, name="repeated-token loss half-drop", observable="icl/loss_repeated", crossing="last")
        drop_end = stage_end(drop, "end of repeated-token loss drop")

        ind_head, candidates = _induction_candidates(run, window, tg)
        prev_head = int(np.argmax(run.table("heads/previous_token", "head", layer=0, split="test").iloc[-1].to_numpy()))
        ind_name, prev_name = node_name(1, ind_head), node_name(0, prev_head)
        prev = run.curve("heads/previous_token", layer=0, head=prev_head, split="test")[1]
        ind_event = half_rise(t, run.curve("heads/induction", layer=1, head=ind_head, split="test")[1], name=f"{ind_name} induction score half-rise", observable="heads/induction", crossing="last")
        prev_event = half_rise(t, prev, name=f"{prev_name} previous-token score half-rise", observable="heads/previous_token", crossing="last")
        kcomp = run.curve("composition/k", layer=0, head=prev_head, to_layer=1, to_head=ind_head)[1]
        k_event = half_rise(t, kcomp, name=f"K-composition {prev_name}->{ind_name} half-rise", observable="composition/k", crossing="last")

        n_g = preset.graph_sequences
        graphs = {s: head_graph(run.model_at(s), sets["test"][:n_g], corrupted[:n_g], s) for s in run.steps if s % preset.graph_every == 0}
        first, last = graphs[min(graphs)], graphs[max(graphs)]
        change = graph_change(first, last, "k_comp_z", tg.edge_z)
        final = run.model_at(run.steps[-1])
        causal = final_causal(final, sets, corrupted, prev_head, min_loss=tg.ablation_loss, max_induction=tg.ablation_induction)
        coverage = previous_token_coverage(final, sets, data.info, ind_head)
        bigram = bigram_background(run, data)

        report = BridgeReport(self.name, "custom", run.config.seed)
        report.matches += [
            match("induction-score jump at the repeated-token loss drop", None, loss_half, ind_event, tg.tolerance),
            match("previous-token head forms at the loss drop", None, loss_half, prev_event, tg.tolerance),
            match("K-composition prev-token -> induction head grows at the loss drop", None, loss_half, k_event, tg.tolerance),
            match("learning-coefficient stage boundary at the end of the loss drop", None, drop_end, llc_event, tg.tolerance),
        ]
        c = candidates[ind_head]
        lo, hi = tg.rise
        rises = "; ".join(f"L1H{h} {_fmt(v['rise'])}" for h, v in candidates.items())
        with_or_before = prev_event is not None and ind_event is not None and prev_event.lo <= ind_event.hi
        gain = float(prev[-1] - prev[0])
        ablation = causal["prev_ablation_mean"]
        worst = max(max(v) for v in ablation["layer1_induction"].values())
        edge = (prev_name, ind_name)
        in_last, in_first = edge in edges_above(last, "k_comp_z", tg.edge_z), edge in edges_above(first, "k_comp_z", tg.edge_z)
        c_loss = float(control.curve("icl/loss_repeated", split="test")[1][-1])
        c_ind = max(float(control.table("heads/induction", "head", layer=0, split=s).to_numpy().max()) for s in ("test", "off"))
        report.checks += [
            check(f"a layer-1 head ({ind_name}) rises < {lo:g} -> > {hi:g} within the loss-drop window {_fmt(window)}", rises, "rise inside window", c["inside"]),
            check(f"{ind_name} final induction score (test)", c["final_test"], f"> {tg.final_induction:g}", c["final_test"] > tg.final_induction),
            check(f"{ind_name} final induction score (off-position)", c["final_off"], f"> {tg.final_induction:g}", c["final_off"] > tg.final_induction),
            check(
                f"{prev_name} previous-token score rises (by >= {tg.prev_gain:g}) with or before the induction score",
                f"half-rise {None if prev_event is None else round(prev_event.step)} vs {None if ind_event is None else round(ind_event.step)}, gain {gain:.2f}",
                f"prev bracket starts no later than the induction bracket ends; gain >= {tg.prev_gain:g}",
                with_or_before and gain >= tg.prev_gain,
            ),
            check(f"mean-ablating {prev_name}: repeated-token loss increase (nats)", ablation["loss_increase"], f">= {tg.ablation_loss:g}", ablation["loss_increase"] >= tg.ablation_loss),
            check(f"mean-ablating {prev_name}: max layer-1 induction score (test and off-position)", worst, f"< {tg.ablation_induction:g}", worst < tg.ablation_induction),
            check(f"K-composition edge {prev_name}->{ind_name} in final graph, not initial", f"z {first.edges[edge]['k_comp_z']:.1f} -> {last.edges[edge]['k_comp_z']:.1f}", f"z >= {tg.edge_z:g} at the end only", in_last and not in_first),
            check("one-layer control: final repeated-token loss (nats)", c_loss, f"> {tg.control_loss:g}", c_loss > tg.control_loss),
            check("one-layer control: max induction score over training", c_ind, f"< {tg.control_induction:g}", c_ind < tg.control_induction),
        ]
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
        report.events = [*stages, *(e for e in (loss_half, ind_event, prev_event, k_event, llc_event, drop_end) if e is not None)]
        report.files = {"circuits.json": {str(s): to_node_link(g) for s, g in sorted(graphs.items())}}
        return report

    def figures(self, runs: Mapping[str, Run], report: BridgeReport, preset: InductionPreset) -> list[str]:
        run, control = runs["main"], runs["one_layer"]
        stages, drop, llc_event, _ = _dynamics(run)
        ind_head, prev_head = report.extra["induction_head"][1], report.extra["previous_token_head"][1]
        figures = {}

        fig, ax = figures["losses.png"] = new_figure(size=(7.5, 4.2))
        styles = (("repeated tokens (test)", run, "icl/loss_repeated", "test", "C0-"), ("repeated tokens (off-position)", run, "icl/loss_repeated", "off", "C0--"),
                  ("first occurrences (test)", run, "icl/loss_first", "test", "C1-"), ("1-layer control, repeated", control, "icl/loss_repeated", "test", "C3-"))
        curves = {label: (*r.curve(name, split=split), style) for label, r, name, split, style in styles}
        llc = (*run.curve("llc/mean"), run.curve("llc/std")[1])
        title = "loss plateau, drop (orange band) and LLC stage boundary (green dashed)"
        plot_loss_stages(ax, curves, stages=stages, reference=(math.log(preset.task.d_vocab), "ln V"), llc=llc, boundary=None if llc_event is None else llc_event.step, title=title)

        fig, axes = figures["head_scores.png"] = new_figure(ncols=3, size=(4.6, 3.0))
        marks = [] if drop is None else [(drop.start, "loss drop"), (drop.end, "")]
        for ax, score in zip(axes, ("previous_token", "induction", "duplicate_token")):
            table = run.table(f"heads/{score}", ["layer", "head"], split="test")
            plot_head_heatmap(ax, table.index.to_numpy(dtype=float), [node_name(int(layer), int(head)) for layer, head in table.columns], table.to_numpy().T, title=f"{score.replace('_', '-')} score", marks=marks)

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


def _dynamics(run: Run) -> tuple:
    """The repeated-token loss's stages and largest drop; the LLC boundary during that drop and the LLC's stages."""
    stages = plateaus_and_drops(*run.curve("icl/loss_repeated", split="test"), name="repeated-token loss", observable="icl/loss_repeated")
    drop = main_drop(stages)
    llc_event, llc_stages = llc_boundary(*run.curve("llc/mean"), during=drop_window(drop))
    return stages, drop, llc_event, llc_stages


def _induction_candidates(run: Run, window: tuple[float, float] | None, tg: Targets) -> tuple[int, dict[int, dict]]:
    """Every layer-1 head's rise (:func:`~bridge.stages.rise_between`), whether it lies inside ``window``, and its
    final test and off-position induction scores; the chosen head meets the most targets, then has the highest test score."""
    test, off = (run.table("heads/induction", "head", layer=1, split=s) for s in ("test", "off"))
    heads = {}
    for h in test.columns:
        v, v_off = test[h].to_numpy(dtype=float), off[h].to_numpy(dtype=float)
        rise = rise_between(test.index.to_numpy(dtype=float), v, *tg.rise)
        inside = rise is not None and window is not None and window[0] <= rise[0] and rise[1] <= window[1]
        heads[int(h)] = {"rise": rise, "inside": inside, "final_test": float(v[-1]), "final_off": float(v_off[-1])}
        heads[int(h)]["met"] = int(inside) + int(v[-1] > tg.final_induction) + int(v_off[-1] > tg.final_induction)
    return max(heads, key=lambda h: (heads[h]["met"], heads[h]["final_test"])), heads


def bigram_background(run: Run, data: TaskData) -> dict | None:
    """With a Markov background (else ``None``): the bigram floors ``chain`` and ``bayes`` of the test split's first
    occurrences (:func:`bridge.theory.bigram.bigram_floors`, nats) beside the model's loss there over training
    (``first_loss_min`` at ``first_loss_min_step``, ``first_loss_final``)."""
    transition = data.info.get("transition")
    if transition is None:
        return None
    tokens = data.test.x.cpu()
    t, first = run.curve("icl/loss_first", split="test")
    i = int(np.argmin(first))
    return {**bigram_floors(tokens, transition.cpu(), first_occurrences(tokens)), "first_loss_min": float(first[i]), "first_loss_min_step": float(t[i]), "first_loss_final": float(first[-1])}


def _notes(preset, ind_name, prev_name, change, graphs, llc_stages, causal, drop, c_drop, coverage, bigram) -> list[str]:
    tg, every = preset.targets, ", ".join(f"{r.end:.0f}" for r in llc_stages if r.kind == "drop") or "none"
    a, smallest = causal["all_prev_ablation_mean"], causal["prev_ablation_subsets"]["smallest_meeting_targets"]
    least = "no set of layer-0 heads meets both ablation targets" if smallest is None else (
        f"the smallest set of layer-0 heads meeting both ablation targets is {', '.join(node_name(*h) for h in smallest['heads'])} "
        f"(+{smallest['loss_increase']:.2f} nats, max layer-1 induction {smallest['max_layer1_induction']:.2f})")
    pooled = "; ".join(f"{split}: {coverage[f'induction_{split}']['covered']:.2f} inside, {coverage[f'induction_{split}']['uncovered']:.2f} beyond" for split in ("test", "off") if f"induction_{split}" in coverage)
    notes = [
        f"induction head {ind_name} (the layer-1 head meeting most induction targets), previous-token head {prev_name} (highest final score); events are the steps after which each curve stays past half-way; tolerance {tg.tolerance} relative to the observed step.",
        f"K-composition edges are z-scores against random rank-{preset.model.d_head} matrix pairs; an edge is in the graph at z >= {tg.edge_z:g}. Added {change['added']}, removed {change['removed']} between steps {min(graphs)} and {max(graphs)}.",
        f"LLC: {preset.sgld.n_chains} SGLD chains on {preset.llc_sequences} training sequences every {preset.llc_every} steps; nβ = n_tokens / ln n_tokens. Its rises end at steps {every}; the judged boundary is the end of the largest rise overlapping the loss drop's window.",
        f"for information: mean-ablating every layer-0 head with previous-token score >= 0.3 ({', '.join(node_name(*h) for h in a['heads'])}) raises repeated-token loss by {a['loss_increase']:.2f} nats, max layer-1 induction then {max(max(v) for v in a['layer1_induction'].values()):.2f}; {least}.",
        f"for information: the largest fall of log repeated-token loss is {_rate(drop)} in the two-layer run and {_rate(c_drop)} in the one-layer control.",
        f"for information: layer-0 previous-token attention (summed over heads) stays >= 0.5 up to query position {coverage['reach']}; {100 * coverage['demand_beyond_coverage']:.0f}% of training sequences need an induction key beyond it. {ind_name}'s attention to the key it needs, keys inside the coverage vs beyond: {pooled}.",
    ]
    if bigram is not None:
        notes.append(f"for information (Markov background): on the test split's first occurrences the chain's bigram loss is {bigram['chain']:.3f} nats and the Bayes floor {bigram['bayes']:.3f}; the model's loss there is {bigram['first_loss_min']:.3f} at its lowest (step {bigram['first_loss_min_step']:.0f}) and {bigram['first_loss_final']:.3f} at the end.")
    return notes


def _rate(stage) -> str:
    return "none" if stage is None else f"{-stage.change:.2f} over steps {stage.start:.0f}-{stage.end:.0f} ({-1000 * stage.change / (stage.end - stage.start):.2f} per 1000 steps)"


def _fmt(pair) -> str:
    return "none" if pair is None else f"[{pair[0]:.0f}, {pair[1]:.0f}]"
