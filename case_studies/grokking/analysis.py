"""The ``grokking`` study's targets and analysis: the main run's phases, delay, circuit formation and Fourier sparsity;
the AGF run's frequency order against alternating gradient flows; the sweep's grokking step against ``lr · wd``."""

from __future__ import annotations

import dataclasses

import numpy as np
from torch import Tensor

from bridge.match import check, match, outside
from bridge.report import BridgeReport, not_reached
from bridge.runs.run import Run
from bridge.stages.detectors import Event, threshold_crossing
from bridge.stages.grokking import generalised, grokking_phases, half_fall, half_move, memorised_and_grokked
from bridge.theory import agf
from bridge.theory.weight_decay import fit_power_law, time_scale
from case_studies.base.targets import target_domains
from probes.fourier import frequency_norms, key_frequencies, top_share
from probes.modular import residue_embedding


@dataclasses.dataclass(frozen=True)
@target_domains(memorised="share", grokked="share", grok_ratio="positive", key_mass="share", n_top="count", sparse_share="share", excluded_rise="positive", lag_tolerance="tolerance", cleanup_drop="tolerance", loss_fall="fraction", gini_rise="fraction", norm_growth="positive", agf_tolerance="tolerance", sweep_weight_decays="count", sweep_exponent="number")
class Targets:
    """What the grokking report judges.

    Args:
        memorised, grokked: train accuracy that marks memorisation; test accuracy that marks grokking (the precondition: reached after memorising and kept to the end).
        grok_ratio: the grokking step must come at least this many times later than memorisation.
        key_mass: share of the squared Fourier norm that defines key frequencies.
        n_top: the "few" frequencies that must carry most of the final embedding's squared norm; over seeds, the most key frequencies a seed that groks may use.
        sparse_share: what "most" means for them.
        excluded_rise: factor by which the excluded loss must rise over circuit formation (1: it rises).
        lag_tolerance: relative lag allowed between the test-loss half-drop and the W_E Gini half-rise.
        cleanup_drop: the clean-up lowers the test loss by at least this fraction of ``ln p`` (a uniform guess's loss).
        loss_fall: a loss's half-way-down event needs it to fall by at least this fraction of its peak.
        gini_rise: the Gini's half-rise event needs it to rise by at least this much (a Gini lies in [0, 1)).
        norm_growth: a frequency emerges in the AGF network only if its norm grows by this multiple of its lowest value.
        agf_tolerance: relative error allowed between AGF's predicted step, the loss step and the emergence.
        sweep_weight_decays, sweep_exponent: weight decays that must grok for the fit to be judged; the predicted
            exponent of the grokking step against ``lr · weight decay``.

    Examples:
        >>> t = Targets(); t.grokked, t.grok_ratio, t.key_mass, t.agf_tolerance, t.sweep_exponent
        (0.95, 3.0, 0.8, 0.2, -1.0)
    """

    memorised: float = 0.99
    grokked: float = 0.95
    grok_ratio: float = 3.0
    key_mass: float = 0.8
    n_top: int = 8
    sparse_share: float = 0.5
    excluded_rise: float = 1.0
    lag_tolerance: float = 0.5
    cleanup_drop: float = 0.5
    loss_fall: float = 0.5
    gini_rise: float = 0.1
    norm_growth: float = 1.0
    agf_tolerance: float = 0.2
    sweep_weight_decays: int = 4
    sweep_exponent: float = -1.0


def final_spectrum(run: Run) -> Tensor:
    """Per-frequency norms of the final checkpoint's residue embedding.

    Examples:
        >>> from bridge import load_run; final_spectrum(load_run("runs/grokking")).shape  # (frequencies,)  # doctest: +SKIP
    """
    return frequency_norms(residue_embedding(run.model_at(run.steps[-1]), run.config.task.p))


NANDA = "Nanda et al. 2023 (progress measures for grokking)"
POWER = "Power et al. 2022, Fig. 1"
KUNIN = "Kunin et al. 2025 (alternating gradient flows); bridge.theory.agf"
AGF_SPACING = "AGF template magnitudes 1, 0.65, 0.42, 0.27 (consecutive ratio ~1.5)"


def analyse_main(report: BridgeReport, run: Run, t: Targets) -> None:
    """The main run: precondition (it generalised), the grokking delay, circuit formation and clean-up measured by the restricted/excluded loss and the W_E Gini against the phases, and the Fourier-sparse embedding.

    Examples:
        >>> from bridge import load_run; report = BridgeReport("grokking", "quick", 0); analyse_main(report, load_run("runs/grokking"), Targets())  # doctest: +SKIP
        >>> [(c.name, c.passed) for c in report.checks]  # doctest: +SKIP
    """
    (t_acc, train_acc), (t_test, test_acc), (t_loss, test_loss) = (curve(run, name) for name in ("accuracy/train", "accuracy/test", "loss/test"))
    ln_p = float(np.log(run.config.task.p))
    memorised, grokked = memorised_and_grokked(t_acc, train_acc, t_test, test_acc, t.memorised, t.grokked)
    gen = generalised(t_test, test_acc, t.grokked)
    outside = _outside_unit({"accuracy/train": train_acc, "accuracy/test": test_acc})  # an accuracy of 1.5 crosses any threshold: a broken measurement
    ok = memorised is not None and gen is not None and gen.step >= memorised.step and not outside
    why = outside if outside else "" if ok else (not_reached(t_test[-1], "train accuracy never reached its threshold") if memorised is None else not_reached(t_test[-1], f"test accuracy ends at {test_acc[-1]:.1%}, below {t.grokked:.0%}") if gen is None else "generalised before memorising")
    report.checks.append(check("the run generalised", f"test accuracy {test_acc[-1]:.1%} at the end", f"train acc ≥ {t.memorised:.0%}, then test acc ≥ {t.grokked:.0%} to the end", ok, role="precondition",
                               claim="the run memorised its training pairs and then generalised (the phenomenon the other rows judge)", source=POWER, reason=why))
    ratio = (grokked.step / memorised.step) if memorised and grokked and memorised.step > 0 else None
    report.checks.append(check(f"test acc > {t.grokked:.0%} step / train acc > {t.memorised:.0%} step", ratio, f">= {t.grok_ratio:g}", ratio is not None and ratio >= t.grok_ratio,
                               claim="generalisation comes long after memorisation", source=POWER, reason="" if ratio is not None else "no memorisation or no generalisation step"))
    stages = grokking_phases(t_acc, train_acc, np.interp(t_acc, t_loss, test_loss), np.interp(t_acc, t_test, test_acc), t.memorised, t.grokked, min_drop=t.cleanup_drop * ln_p)
    no_phases = "" if len(stages) == 3 else ("no grokking phases: " + (why or f"no test-loss drop of {t.cleanup_drop:g}·ln p after memorisation"))
    report.checks.append(check("grokking phases (from train accuracy and test loss)", " → ".join(f"{s.name} [{s.start:.0f}, {s.end:.0f}]" for s in stages) or "none", "memorisation → circuit formation → clean-up",
                               len(stages) == 3, role="info", source=f"{NANDA}, Sec. 5", reason=no_phases))
    t_mem = memorised.step if memorised else 0.0

    (t_r, restricted), (t_e, excluded), (t_g, gini) = (curve(run, f"fourier/{name}") for name in ("restricted_loss", "excluded_loss", "embed_gini"))
    test_drop = half_fall(t_loss, test_loss, t_mem, "test loss half-way down from its peak", "loss/test", min_fraction=t.loss_fall) if ok else None
    restricted_drop = half_fall(t_r, restricted, t_mem, "restricted loss half-way down from its peak", "fourier/restricted_loss", min_fraction=t.loss_fall)
    gini_rise = half_move(t_g, gini, t_mem, "up", min_change=t.gini_rise, name="embedding Gini half-rise", observable="fourier/embed_gini")
    before = restricted_drop is not None and test_drop is not None and restricted_drop.step < test_drop.step
    absent = [what for what, e in (("restricted loss never falls half-way", restricted_drop), ("test loss never falls half-way" + ("" if ok else " (the run did not generalise)"), test_drop)) if e is None]
    report.checks.append(check("restricted loss falls before test loss (half-drop steps)", " vs ".join("not detected" if e is None else f"{e.step:.0f}" for e in (restricted_drop, test_drop)), "restricted < test", before,
                               claim="the generalising circuit forms before the test loss falls: the loss of the key-frequency part of the logits drops first", source=f"{NANDA}, Fig. 7", reason="; ".join(absent)))
    ends = [float(np.interp(s, t_e, excluded)) for s in (stages[1].start, stages[1].end)] if len(stages) == 3 else None
    rise = ends[1] / ends[0] if ends and np.isfinite(ends).all() and ends[0] > 0 and ends[1] >= 0 else None  # a cross-entropy is positive: −2 / −1 is no rise
    not_positive = f"the excluded loss is {ends[0]:g} at the start and {ends[1]:g} at the end of circuit formation: a ratio needs finite positive losses" if ends and rise is None else ""
    report.checks.append(check("excluded loss rise over circuit formation (end / start)", rise, f"> {t.excluded_rise:g}", rise is not None and rise > t.excluded_rise,
                               claim="during circuit formation the logits without the key frequencies lose what memorisation gave them: the excluded loss rises", source=f"{NANDA}, Fig. 7", reason=no_phases or not_positive))

    final = final_spectrum(run)
    share, keys = top_share(final, t.n_top), key_frequencies(final, t.key_mass)
    report.checks.append(check(f"share of final embedding Fourier norm² in the top {t.n_top} frequencies", share, f"> {t.sparse_share:g}", share > t.sparse_share,
                               claim="the trained embedding is sparse in the Fourier basis: a few key frequencies carry most of it", source=f"{NANDA}, Sec. 4"))
    report.extra.update(key_frequencies=keys, embedding_n_key=len(keys))
    report.notes.append(f"{len(keys)} frequencies carry {t.key_mass:.0%} of the final embedding's squared Fourier norm; key frequencies (restricted/excluded loss): {keys}")

    report.matches.append(match("W_E Gini half-rise with the test-loss half-drop", None, test_drop, gini_rise, t.lag_tolerance, claim="the embedding turns Fourier-sparse with the test-loss drop", source=f"{NANDA}, Fig. 7"))
    g_rise = float(np.interp(stages[2].end, t_g, gini) - np.interp(stages[2].start, t_g, gini)) if len(stages) == 3 else None
    report.checks.append(check("Gini of W_E Fourier norms rises during clean-up (end − start)", g_rise, "> 0", g_rise is not None and g_rise > 0, role="info", source=f"{NANDA}, Fig. 7", reason=no_phases))
    tau = time_scale(run.config.train.lr, run.config.train.weight_decay)
    report.extra["time_scale_1_over_lr_wd"] = tau
    if grokked is not None:
        report.notes.append(f"grokking step {grokked.step:.0f} = {grokked.step / tau:.2f} × 1/(lr·wd) = {tau:.0f} steps; memorised at {t_mem:.0f}")
    report.matches.append(match("restricted-loss half-drop ↔ test-loss half-drop (time scale 1/(lr·wd), no step predicted)", None, test_drop, restricted_drop, t.lag_tolerance, detail={"tau": tau}, role="info",
                                source="bridge.theory.weight_decay (time scale only)", depends_on=("seed", "CPU float rounding")))
    if gini_rise is not None and test_drop is not None:
        report.notes.append(f"the W_E Gini reaches half its rise at step {gini_rise.step:.0f}, {gini_rise.step / test_drop.step:.2f}× the test-loss half-drop step")
    report.events += [e for e in (memorised, grokked, gen, test_drop, restricted_drop, gini_rise) if e is not None] + list(stages)


def agf_template(run: Run) -> dict[int, float]:
    """``{k: m_k}`` of the run's own template target.

    Examples:
        >>> from types import SimpleNamespace; from case_studies import get_case_study; study = get_case_study("grokking")
        >>> agf_template(SimpleNamespace(config=study.runs(study.presets["quick"], seed=0)["agf"]))  # frequency: magnitude
        {3: 1.0, 1: 0.65, 6: 0.42, 2: 0.27}
    """
    return dict(zip(run.config.task.template_frequencies, run.config.task.template_magnitudes))


def analyse_agf(report: BridgeReport, run: Run, t: Targets) -> None:
    """Match AGF's acquisition steps with the loss staircase and each frequency's emergence in the weights; the orders.

    Examples:
        >>> from bridge import load_run; report = BridgeReport("grokking", "quick", 0); analyse_agf(report, load_run("runs/grokking/runs/agf"), Targets())  # doctest: +SKIP
        >>> [m.name for m in report.matches]  # one match per template frequency  # doctest: +SKIP
    """
    net, p = run.model_at(0), run.config.task.p
    w1 = net.get_parameter("layers.0.weight").detach()  # a − b = a + (−b): for − the b columns are relabelled b → −b
    w_b = w1[:, p:] if run.config.task.op == "+" else w1[:, p:][:, (-np.arange(p)) % p]
    preds = agf.predict_acquisitions(w1[:, :p], w_b, net.get_parameter("layers.1.weight").detach(), agf_template(run), run.config.train.lr)
    plateaus = [preds[0].value + preds[0].extra["drop"]] + [pred.value for pred in preds]
    t_loss, loss = curve(run, "loss/train")
    emerged: dict[int, Event | None] = {}
    shares: dict[int, Event | None] = {}
    for j, pred in enumerate(preds):
        k, level = pred.extra["frequency"], 0.5 * (plateaus[j] + plateaus[j + 1])
        drop = threshold_crossing(t_loss, loss, level, "down", name=f"loss below {level:.3f} (drop {j + 1})", observable="loss/train")
        emerged[k] = half_move(*curve(run, "fourier/embed_norm", frequency=k), direction="up", min_fraction=t.norm_growth, name=f"frequency {k} norm half-rise", observable="fourier/embed_norm")
        shares[k] = threshold_crossing(*curve(run, "template/loss", frequency=k), pred.extra["drop"] / 2, "down", name=f"frequency-{k} loss share half-way down", observable="template/loss")
        report.matches.append(match(f"AGF: frequency {k} (m={pred.extra['magnitude']:g}) acquired", pred.step, drop, emerged[k], t.agf_tolerance, detail={"frequency": k, "plateau_after": pred.value},
                                    claim=f"from the initial weights AGF predicts when frequency {k} is learned: the loss steps down to the next plateau and the frequency's weight norm rises at the predicted step",
                                    source=KUNIN, depends_on=(AGF_SPACING,)))
    order = " → ".join(map(str, agf.magnitude_order(agf_template(run))))
    predicted = " → ".join(str(pred.extra["frequency"]) for pred in preds)
    observed = " → ".join(str(k) for _, k in sorted((e.step, k) for k, e in emerged.items() if e is not None))
    missing = "; ".join(f"frequency {k} not detected" for k, e in emerged.items() if e is None)
    for name, target, claim in (("the predicted order", predicted, "the frequencies are acquired one at a time in the order AGF predicts from the initial weights"),
                                ("order of target magnitude", order, "Fourier features appear in the weights in order of the target's Fourier magnitude")):
        report.checks.append(check(f"AGF: frequencies emerge in the weights in {name}", observed, target, observed == target, claim=claim, source=KUNIN, depends_on=(AGF_SPACING,), reason=missing))
    report.checks.append(check("AGF: predicted acquisition times follow the magnitude order", predicted, order, predicted == order, role="info", source="bridge.theory.agf"))
    errors = [abs(e.step - pred.step) / pred.step for pred, e in zip(preds, shares.values()) if e is not None and pred.step is not None]  # AGF predicts every step
    worst = max(errors) if len(errors) == len(preds) else None
    report.checks.append(check("AGF: each frequency's loss share half-way down vs its predicted step (largest relative error)", worst, f"<= {t.agf_tolerance:g}", worst is not None and worst <= t.agf_tolerance, role="info", source=KUNIN))
    report.extra["agf"] = {
        "predicted_steps": {pred.extra["frequency"]: pred.step for pred in preds},
        "plateaus": plateaus,
        "loss_share_half_drops": {k: _at(e) for k, e in shares.items()},
        "emergence": {k: _at(e) for k, e in emerged.items()},
    }
    events = [e for e in [*shares.values(), *emerged.values()] if e is not None] + [pred.to_dict() | {"type": "prediction"} for pred in preds]
    report.files["runs/agf/events.json"] = [e.to_dict() if hasattr(e, "to_dict") else e for e in events]


def analyse_sweep(report: BridgeReport, points: list[Run], t: Targets) -> None:
    """Grokking and memorisation steps per sweep point, the power-law fit against ``lr·wd``, and its claim.

    Examples:
        >>> from bridge import load_run; points = [load_run(p) for p in sorted(Path("runs/grokking/runs").glob("sweep_*"))]  # doctest: +SKIP
        >>> report = BridgeReport("grokking", "quick", 0); analyse_sweep(report, points, Targets()); report.checks[-1].value  # the fitted exponent  # doctest: +SKIP
    """
    rows, broken = [], []
    for run in points:
        lr, wd = run.config.train.lr, run.config.train.weight_decay
        (t_train, train), (t_test, test) = curve(run, "accuracy/train"), curve(run, "accuracy/test")
        if outside := _outside_unit({"accuracy/train": train, "accuracy/test": test}):
            broken.append(f"lr={lr:g}, wd={wd:g}: {outside}")
        mem, grok = memorised_and_grokked(t_train, train, t_test, test, t.memorised, t.grokked)
        rows.append({"lr": lr, "weight_decay": wd, "lr_wd": lr * wd, "grok_step": _at(grok), "memorised_step": _at(mem)})
    at_start = [r for r in rows if r["grok_step"] is not None and r["grok_step"] <= 0]  # no step to fit: log 0 is −∞
    ok = [r for r in rows if r["grok_step"] is not None and r["grok_step"] > 0]
    extra: dict = {"points": rows}
    n_wd = len({r["weight_decay"] for r in ok})
    fit = None
    if len(ok) >= 3 and len({r["lr_wd"] for r in ok}) >= 2:
        fit = fit_power_law(np.array([r["lr_wd"] for r in ok]), np.array([r["grok_step"] for r in ok]))
        extra["fit"] = fit.to_dict()
        delays = [(r["lr_wd"], grok_at - mem_at) for r in ok if (grok_at := r["grok_step"]) is not None and (mem_at := r["memorised_step"]) is not None and grok_at > mem_at]
        if len(delays) >= 3 and len({x for x, _ in delays}) >= 2:
            extra["fit_delay"] = fit_power_law(*map(np.array, zip(*delays))).to_dict()
    report.checks.append(check("sweep: weight decays that grokked", n_wd, f">= {t.sweep_weight_decays}", fit is not None and n_wd >= t.sweep_weight_decays and not broken, role="precondition", source="bridge.theory.weight_decay",
                               reason="; ".join(broken + [f"lr={r['lr']:g}, wd={r['weight_decay']:g}: test accuracy ≥ {t.grokked:.0%} at step {r['grok_step']:g}, left out of the fit" for r in at_start])))
    value, inside = "no fit", False
    if fit is not None:
        inside = fit.ci_low <= t.sweep_exponent <= fit.ci_high
        value = f"α = {fit.exponent:.2f} ± {fit.stderr:.2f} (95% CI [{fit.ci_low:.2f}, {fit.ci_high:.2f}], {fit.n} runs)"
        extra["theory_exponent_in_ci"] = bool(inside)
    report.checks.append(check(f"sweep: exponent of grokking step vs lr·wd (theory: {t.sweep_exponent:g})", value, f"{t.sweep_exponent:g} inside the 95% CI", inside,
                               claim="decoupled weight decay shrinks the weights as (1 − lr·wd)^t, so the grokking step scales as (lr·wd)^−1", source="bridge.theory.weight_decay", reason="" if fit else "no fit"))
    report.extra["sweep"] = extra


def curve(run: Run, name: str, /, **index: int) -> tuple[np.ndarray, np.ndarray]:
    """``run.curve(name, **index)``: ``(steps, values)``, each ``(n,)``, refused by name when ``n < 2`` (no event can be detected on it).

    Examples:
        >>> from types import SimpleNamespace
        >>> run = SimpleNamespace(config=SimpleNamespace(name="grokking"), curve=lambda name, **index: (np.array([0.0]), np.array([1.0])))
        >>> curve(run, "loss/test")
        Traceback (most recent call last):
        ...
        ValueError: run 'grokking': observable 'loss/test' has 1 sample; the analysis needs at least 2
    """
    steps, values = run.curve(name, **index)
    if len(steps) < 2:
        where = f"observable {name!r}" + "".join(f" at {key}={value}" for key, value in index.items())
        raise ValueError(f"run {run.config.name!r}: {where} has {len(steps)} sample{'' if len(steps) == 1 else 's'}; the analysis needs at least 2")
    return steps, values


def _outside_unit(curves: dict[str, np.ndarray]) -> str:
    """Which accuracy curves hold values outside [0, 1] beyond float rounding (``""`` if none), NaN left to the events.

    Examples:
        >>> _outside_unit({"accuracy/train": np.array([0.5, 1.0 + 1e-12]), "accuracy/test": np.array([0.2, 1.5])})
        'accuracy/test has accuracies outside [0, 1]: [1.5]'
    """
    found = {name: outside(values, 0.0, 1.0) for name, values in curves.items()}
    return "; ".join(f"{name} has accuracies outside [0, 1]: {v[:5]}" for name, v in found.items() if v)


def _at(event: Event | None) -> float | None:
    return None if event is None else event.step
