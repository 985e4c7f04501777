"""The rows of the ``induction-heads`` report, judged from plain observables (no model, no run directory).

:class:`Observed` holds what the analysis measured (curves over training, circuit-graph z-scores, ablation
effects, the control's curve); :func:`judge` turns it into the report's matches and checks, each with its
role, claim and source. Keeping this pure lets a test hand it observables in which a claim is false and
see that row fail.

Examples:
    >>> import numpy as np
    >>> t = np.arange(0.0, 2001.0, 50.0)
    >>> obs = synthetic_observed(t)            # a run with the phase change, by construction
    >>> rows = judge(obs, d_vocab=64, n_chains=2)
    >>> all(m.passed for m in rows.matches), all(c.passed for c in rows.checks if c.counted)
    (True, True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from jaxtyping import Float

from bridge.match import Check, Match, check, match
from bridge.report import not_reached
from bridge.stages import (
    Event,
    Stage,
    abrupt_drop,
    drop_window,
    formation,
    half_rise,
    llc_boundary,
    main_drop,
    plateaus_and_drops,
    rise_between,
    stage_end,
)
from case_studies.base.targets import target_domains

OLSSON = "Olsson et al. 2022, In-context learning and induction heads"
ELHAGE = "Elhage et al. 2021, A mathematical framework for transformer circuits"
HOOGLAND = "Hoogland et al. 2024, The developmental landscape of in-context learning (stage boundaries at LLC critical points)"
PHASE = f"{OLSSON}, Argument 1 (the phase change co-occurs with induction-head formation)"
ONE_LAYER = f"{OLSSON}, Argument 1 (one-layer models show no phase change)"
KNOCKOUT = f"{OLSSON}, Argument 3 (ablating the circuit removes in-context learning); {ELHAGE}"
PRESET_CHOICES = ("rotary positions", "SGD")  # rows known to pass with these and to fail under AdamW with learned positions


@dataclass(frozen=True)
@target_domains(tolerance="tolerance", drop_fall="fraction", rise="interval", final_induction="fraction", prev_gain="fraction", ablation_loss="tolerance", ablation_induction="fraction", edge_z="tolerance", llc_sigmas="tolerance", control_loss="tolerance", control_rate="positive", control_induction="fraction")
class Targets:
    """What the induction-heads report judges.

    Args:
        tolerance: relative error allowed between matched events (of the observed step).
        drop_fall: the repeated-token loss drop is present only after a plateau and when the loss falls across it
            by at least this fraction of ln V (nats; ln V is the loss of a uniform guess over the vocabulary), and by
            more than the curve's noise; otherwise it is absent and every row needing it fails.
        rise: a head "forms" when its score rises from below ``rise[0]`` to above ``rise[1]`` and ends above it
            (previous-token and induction scores alike); a layer-1 head's induction score must rise so inside
            the window of the repeated-token loss drop.
        final_induction: its final induction score, on the test and the off-position sets, exceeds this.
        prev_gain: a layer-0 head's previous-token score rises by at least this, with or before it.
        ablation_loss: mean-ablating that head raises the repeated-token loss by at least this (nats)
        ablation_induction: and leaves every layer-1 induction score below this.
        edge_z: a K-composition edge is in the circuit graph at this z-score (against random matrices) or above.
        llc_sigmas: an LLC rise smaller than this many standard errors of the estimate is noise, not a stage.
        control_loss: the one-layer control's final repeated-token loss stays above this fraction of ln V
            (0.6 ln 64 = 2.50 nats in ``quick``).
        control_rate: the control's steepest fall of log repeated-token loss (per step) stays below this
            fraction of the two-layer run's drop rate: no phase change.
        control_induction: its induction scores stay below this throughout training (shown, not judged: a
            one-layer attention-only model cannot match prefixes).

    Examples:
        >>> t = Targets(); t.tolerance, t.rise, t.final_induction, t.edge_z
        (0.2, (0.2, 0.5), 0.85, 5.0)
    """

    tolerance: float = 0.2
    drop_fall: float = 0.5
    rise: tuple[float, float] = (0.2, 0.5)
    final_induction: float = 0.85
    prev_gain: float = 0.2
    ablation_loss: float = 1.0
    ablation_induction: float = 0.3
    edge_z: float = 5.0
    llc_sigmas: float = 3.0
    control_loss: float = 0.6
    control_rate: float = 0.1
    control_induction: float = 0.5


@dataclass(frozen=True)
class Observed:
    """What the analysis measured on the main run and the control (``n`` steps, ``H`` heads per layer).

    Attributes:
        steps, loss: the main run's steps and repeated-token test loss, shape ``(n,)``.
        induction, induction_off: layer-1 induction scores on the test and off-position sets, ``(n, H)``.
        previous_token: layer-0 previous-token scores (test), ``(n, H)``.
        k_composition: K-composition score of layer-0 head ``i`` into layer-1 head ``j``, ``(n, H, H)``.
        edge_z_first, edge_z_last: the same edges' z-scores in the first and last circuit graphs, ``(H, H)``.
        llc_steps, llc, llc_std: the learning coefficient's mean and spread over chains, ``(k,)``.
        ablation_loss, ablation_induction: mean-ablating :func:`previous_token_head` at the end: the rise of
            the repeated-token loss (nats) and the largest layer-1 induction score left (test and off-position).
        control_steps, control_loss: the one-layer control's repeated-token test loss, ``(m,)``.
        control_induction: its largest induction score over training (test and off-position).

    Examples:
        >>> obs = synthetic_observed(np.arange(0.0, 2001.0, 50.0))   # n = 41 steps, H = 4 heads, the LLC every 100 steps
        >>> obs.loss.shape, obs.induction.shape, obs.k_composition.shape, obs.edge_z_last.shape, obs.llc.shape
        ((41,), (41, 4), (41, 4, 4), (4, 4), (21,))
    """

    steps: Float[np.ndarray, " n"]
    loss: Float[np.ndarray, " n"]
    induction: Float[np.ndarray, "n head"]
    induction_off: Float[np.ndarray, "n head"]
    previous_token: Float[np.ndarray, "n head"]
    k_composition: Float[np.ndarray, "n head head"]
    edge_z_first: Float[np.ndarray, "head head"]
    edge_z_last: Float[np.ndarray, "head head"]
    llc_steps: Float[np.ndarray, " k"]
    llc: Float[np.ndarray, " k"]
    llc_std: Float[np.ndarray, " k"]
    ablation_loss: float
    ablation_induction: float
    control_steps: Float[np.ndarray, " m"]
    control_loss: Float[np.ndarray, " m"]
    control_induction: float


@dataclass
class Rows:
    """:func:`judge`'s output: the rows, the judged heads, and the stages and events behind them.

    Examples:
        >>> rows = judge(synthetic_observed(np.arange(0.0, 2001.0, 50.0)), d_vocab=64, n_chains=2)
        >>> rows.induction_head, rows.previous_token_head, len(rows.matches), len(rows.checks), (rows.drop.start, rows.drop.end)
        (0, 0, 4, 11, (1250.0, 1400.0))
    """

    matches: list[Match]
    checks: list[Check]
    induction_head: int
    previous_token_head: int
    candidates: dict[int, dict]
    stages: list[Stage]
    drop: Stage | None
    control_drop: Stage | None
    llc_event: Event | None
    llc_stages: list[Stage]
    events: list[Stage | Event] = field(default_factory=list)  # the loss's stages, then the events that were found


def previous_token_head(previous_token: Float[np.ndarray, "n head"]) -> int:
    """The layer-0 head with the highest final previous-token score (``previous_token``: shape ``(n, head)``).

    Examples:
        >>> previous_token_head(np.array([[0.1, 0.2, 0.0], [0.3, 0.9, 0.5]]))   # the last row decides
        1
    """
    return int(np.argmax(np.asarray(previous_token)[-1]))


def dynamics(
    steps: Float[np.ndarray, " n"], loss: Float[np.ndarray, " n"], llc_steps: Float[np.ndarray, " k"], llc: Float[np.ndarray, " k"], llc_std: Float[np.ndarray, " k"], *, d_vocab: int, n_chains: int, targets: Targets = Targets()
) -> tuple[list[Stage], Stage | None, Event | None, list[Stage]]:
    """The repeated-token loss's stages and its abrupt drop (``None`` when absent, :func:`~bridge.stages.abrupt_drop`
    with a fall of at least ``targets.drop_fall × ln d_vocab``); the LLC boundary (end of its largest rise above
    ``targets.llc_sigmas`` standard errors, the median spread over ``√n_chains``) and the LLC's stages.

    ``steps`` and ``loss`` have shape ``(n,)``; ``llc_steps``, ``llc`` and ``llc_std`` shape ``(k,)``. Checkpoints whose
    spread is not a number (a chain diverged) are left out of the median; with none left no rise can be told from the
    chains' noise, and the LLC has no boundary (``None``).

    Raises:
        ValueError: a spread below 0 (a spread over chains is a standard deviation).

    Examples:
        >>> obs = synthetic_observed(np.arange(0.0, 2001.0, 50.0), at=1300.0)
        >>> stages, drop, llc_event, llc_stages = dynamics(obs.steps, obs.loss, obs.llc_steps, obs.llc, obs.llc_std, d_vocab=64, n_chains=2)
        >>> (drop.start, drop.end), llc_event.step   # the drop around step 1300 ends where the LLC stops rising
        ((1250.0, 1400.0), 1400.0)
    """
    stages = plateaus_and_drops(steps, loss, name="repeated-token loss", observable="icl/loss_repeated")
    drop = abrupt_drop(steps, loss, targets.drop_fall * math.log(d_vocab), name="repeated-token loss", observable="icl/loss_repeated")
    spread = np.asarray(llc_std, dtype=float)
    if (spread < 0).any():  # a negative spread would lower the bar a rise must clear below 0
        raise ValueError(f"llc_std must hold spreads over chains >= 0, got {spread[spread < 0][:5].tolist()}")
    if not np.isfinite(spread).any():
        return stages, drop, None, []
    standard_error = float(np.median(spread[np.isfinite(spread)])) / math.sqrt(n_chains)
    llc_event, llc_stages = llc_boundary(llc_steps, llc, min_rise=targets.llc_sigmas * standard_error)
    return stages, drop, llc_event, llc_stages


def induction_candidates(steps: Float[np.ndarray, " n"], induction: Float[np.ndarray, "n head"], induction_off: Float[np.ndarray, "n head"], window: tuple[float, float] | None, tg: Targets) -> tuple[int, dict[int, dict]]:
    """Every layer-1 head's rise (:func:`~bridge.stages.rise_between`), whether it lies inside ``window``, and its
    final test and off-position induction scores; the chosen head meets the most targets, then has the highest test score.

    ``induction`` and ``induction_off`` have shape ``(n, head)``, ``steps`` ``(n,)``; ``window`` is ``(start, end)`` or ``None``.

    Examples:
        >>> t = np.arange(0.0, 1001.0, 100.0); scores = np.stack([np.where(t >= 500, 0.9, 0.1), np.full(len(t), 0.1)], axis=1)
        >>> head, heads = induction_candidates(t, scores, scores, (400.0, 600.0), Targets())
        >>> head, heads[0]["rise"], heads[0]["met"], heads[1]["rise"]   # 0.1 -> 0.9 between 400 and 500 crosses 0.2 at 412.5, 0.5 at 450
        (0, (412.5, 450.0), 3, None)
    """
    heads = {}
    for h in range(induction.shape[1]):
        v, v_off = induction[:, h], induction_off[:, h]
        rise = rise_between(steps, v, *tg.rise)
        inside = rise is not None and window is not None and window[0] <= rise[0] and rise[1] <= window[1]
        heads[h] = {"rise": rise, "inside": inside, "final_test": float(v[-1]), "final_off": float(v_off[-1])}
        heads[h]["met"] = int(inside) + int(v[-1] > tg.final_induction) + int(v_off[-1] > tg.final_induction)
    return max(heads, key=lambda h: (heads[h]["met"], heads[h]["final_test"])), heads


def drop_rate(stage: Stage | None) -> float:
    """Mean fall of log loss per step over a drop stage (0 for no stage).

    Examples:
        >>> from bridge.stages import Stage
        >>> drop_rate(Stage("drop", start=100.0, end=300.0, change=-2.0)), drop_rate(None)
        (0.01, 0.0)
    """
    return 0.0 if stage is None else float(-stage.change / (stage.end - stage.start))


def judge(obs: Observed, *, d_vocab: int, n_chains: int, targets: Targets = Targets()) -> Rows:
    """Every match and check of the report from ``obs``; events are first half-way crossings, absent (and their
    rows failing) when the loss shows no abrupt drop, a head no formation, or the K-composition edge never enters
    the circuit graph. A control loss that reaches 0 is a control that copies: both control rows fail.

    Raises:
        ValueError: a negative ``loss`` or ``control_loss``, or a ``loss`` of 0 (its stages are read on a log scale).

    Examples:
        >>> import dataclasses; obs = synthetic_observed(np.arange(0.0, 2001.0, 50.0))
        >>> weak = dataclasses.replace(obs, ablation_loss=0.2)   # ablating the previous-token head barely hurts
        >>> [c.key for c in judge(weak, d_vocab=64, n_chains=2).checks if c.counted and not c.passed]
        ['mean-ablating the previous-token head: repeated-token loss increase (nats)']
    """
    tg, t = targets, np.asarray(obs.steps, dtype=float)
    for name, steps in (("loss", t), ("control_loss", obs.control_steps)):
        _require_cross_entropy(name, steps, getattr(obs, name))
    zero = np.flatnonzero(np.asarray(obs.loss, dtype=float) == 0)
    if zero.size:
        raise ValueError(f"obs.loss reaches 0 at step {t[zero[0]]:g}: the repeated-token loss's stages are read on a log scale, "
                         "which has no value at 0 (record the loss in float64 so a perfect copy keeps a positive loss)")
    c_zero = np.flatnonzero(np.asarray(obs.control_loss, dtype=float) == 0)
    stages, drop, llc_event, llc_stages = dynamics(t, obs.loss, obs.llc_steps, obs.llc, obs.llc_std, d_vocab=d_vocab, n_chains=n_chains, targets=tg)
    window = drop_window(drop)
    # a control loss of 0 is a control that copies: its log falls without bound, and no stage detector reads it
    c_drop = None if c_zero.size else main_drop(plateaus_and_drops(obs.control_steps, obs.control_loss, name="control repeated-token loss", observable="icl/loss_repeated"))
    loss_half = None if drop is None else half_rise(t, obs.loss, name="repeated-token loss half-drop", observable="icl/loss_repeated")
    drop_end = stage_end(drop, "end of repeated-token loss drop")
    ind_head, candidates = induction_candidates(t, obs.induction, obs.induction_off, window, tg)
    prev_head = previous_token_head(obs.previous_token)
    ind_name, prev_name = f"L1H{ind_head}", f"L0H{prev_head}"
    prev = obs.previous_token[:, prev_head]
    ind_event = formation(t, obs.induction[:, ind_head], *tg.rise, name=f"{ind_name} induction score half-rise", observable="heads/induction")
    prev_event = formation(t, prev, *tg.rise, name=f"{prev_name} previous-token score half-rise", observable="heads/previous_token")
    z_first, z_last = float(obs.edge_z_first[prev_head, ind_head]), float(obs.edge_z_last[prev_head, ind_head])
    enters = _measured(z_first, z_last) and z_last >= tg.edge_z and z_first < tg.edge_z  # a z-score that is not finite is neither in nor out: the edge is not shown to enter
    kcomp = obs.k_composition[:, prev_head, ind_head]
    # K-composition grows only when the edge enters the circuit graph (z >= edge_z at the end, not at the start)
    k_event = half_rise(t, kcomp, name=f"K-composition {prev_name}->{ind_name} half-rise", observable="composition/k") if enters else None

    matches = [
        match("induction-score jump at the repeated-token loss drop", None, loss_half, ind_event, tg.tolerance,
              claim="a layer-1 head's induction score forms at the abrupt drop of the repeated-token loss", source=PHASE),
        match("previous-token head forms at the loss drop", None, loss_half, prev_event, tg.tolerance,
              claim="the layer-0 previous-token head forms at the same drop", source=f"{PHASE}; {ELHAGE} (induction needs a previous-token head)"),
        match("K-composition prev-token -> induction head grows at the loss drop", None, loss_half, k_event, tg.tolerance,
              claim="the induction head's keys compose with the previous-token head at the drop", source=f"{ELHAGE} (K-composition); {OLSSON}"),
        match("learning-coefficient stage boundary at the end of the loss drop", None, drop_end, llc_event, tg.tolerance,
              claim="the end of the LLC's rise (a critical point) marks the end of the drop", source=HOOGLAND),
    ]
    c, (lo, hi) = candidates[ind_head], tg.rise
    rises = "; ".join(f"L1H{h} {_fmt(v['rise'])}" for h, v in candidates.items())
    with_or_before = prev_event is not None and ind_event is not None and prev_event.lo <= ind_event.hi
    gain = float(prev[-1] - prev[0])
    c_loss, ln_v = float(obs.control_loss[-1]), math.log(d_vocab)
    rate, c_rate = drop_rate(drop), math.inf if c_zero.size else drop_rate(c_drop)
    c_reason = f"the control's repeated-token loss reaches 0 at step {float(np.asarray(obs.control_steps)[c_zero[0]]):g}: its log falls without bound" if c_zero.size else ""
    checks = [
        check("the phenomenon: an abrupt drop of the repeated-token loss", "absent" if drop is None else f"{drop.start:.0f}-{drop.end:.0f}", f"a fall of >= {tg.drop_fall:g} ln V", drop is not None,
              role="precondition", claim="in-context copying appeared within the training budget (the other rows judge it)", source=PHASE,
              reason="" if drop is not None else not_reached(t[-1], "the repeated-token loss shows no abrupt drop")),
        check(f"a layer-1 head ({ind_name}) rises < {lo:g} -> > {hi:g} within the loss-drop window {_fmt(window)}", rises, "rise inside window", c["inside"],
              claim="a layer-1 induction score rises inside the window of the repeated-token loss drop", source=PHASE, reason="" if window is not None else "loss drop absent",
              key="a layer-1 head rises within the loss-drop window"),
        check(f"{ind_name} final induction score (test)", c["final_test"], f"> {tg.final_induction:g}", _measured(c["final_test"]) and c["final_test"] > tg.final_induction,
              claim="an induction head forms in layer 1", source=f"{OLSSON} (induction heads: prefix matching)", key="induction head: final induction score (test)", reason=_unmeasured(c["final_test"])),
        check(f"{ind_name} final induction score (off-position)", c["final_off"], f"> {tg.final_induction:g}", _measured(c["final_off"]) and c["final_off"] > tg.final_induction,
              claim="the induction head matches prefixes at positions never used for a first copy in training", source=f"{OLSSON} (induction heads work at any position)",
              depends_on=PRESET_CHOICES, key="induction head: final induction score (off-position)", reason=_unmeasured(c["final_off"])),
        check(
            f"{prev_name} previous-token score rises (by >= {tg.prev_gain:g}) with or before the induction score",
            f"half-rise {None if prev_event is None else round(prev_event.step)} vs {None if ind_event is None else round(ind_event.step)}, gain {gain:.2f}",
            f"prev bracket starts no later than the induction bracket ends; gain >= {tg.prev_gain:g}",
            with_or_before and gain >= tg.prev_gain,
            claim="the previous-token head forms with or before the induction head", source=f"{ELHAGE}; {OLSSON}",
            reason="" if prev_event is not None and ind_event is not None else "previous-token or induction head did not form",
            key="previous-token score rises with or before the induction score",
        ),
        check(f"mean-ablating {prev_name}: repeated-token loss increase (nats)", obs.ablation_loss, f">= {tg.ablation_loss:g}", _measured(obs.ablation_loss) and obs.ablation_loss >= tg.ablation_loss,
              claim="the previous-token head is necessary for in-context copying", source=KNOCKOUT, depends_on=PRESET_CHOICES,
              key="mean-ablating the previous-token head: repeated-token loss increase (nats)", reason=_unmeasured(obs.ablation_loss)),
        check(f"mean-ablating {prev_name}: max layer-1 induction score (test and off-position)", obs.ablation_induction, f"< {tg.ablation_induction:g}", _measured(obs.ablation_induction) and obs.ablation_induction < tg.ablation_induction,
              claim="the induction heads depend on that previous-token head", source=KNOCKOUT, depends_on=PRESET_CHOICES,
              key="mean-ablating the previous-token head: max layer-1 induction score", reason=_unmeasured(obs.ablation_induction)),
        check(f"K-composition edge {prev_name}->{ind_name} in final graph, not initial", f"z {z_first:.1f} -> {z_last:.1f}", f"z >= {tg.edge_z:g} at the end only", enters,
              claim="the circuit forms by K-composition of the previous-token head into the induction head", source=f"{ELHAGE} (K-composition)",
              reason="" if math.isfinite(z_first) and math.isfinite(z_last) else "a z-score is not a number",
              key="K-composition edge previous-token head -> induction head in final graph, not initial"),
        check("one-layer control: final repeated-token loss (nats)", c_loss, f"> {tg.control_loss:g} ln V = {tg.control_loss * ln_v:.2f}", _measured(c_loss) and c_loss > tg.control_loss * ln_v,
              claim="without a second layer repeated tokens are not copied", source=ONE_LAYER, reason=_unmeasured(c_loss)),
        check("one-layer control: steepest fall of log repeated-token loss vs the two-layer drop (per 1000 steps)", f"{1000 * c_rate:.2f} vs {1000 * rate:.2f}",
              f"< {tg.control_rate:g} x the two-layer rate", drop is not None and c_rate < tg.control_rate * rate,
              claim="the one-layer control shows no phase change", source=ONE_LAYER, reason=c_reason or ("" if drop is not None else "two-layer loss drop absent")),
        check("one-layer control: max induction score over training", obs.control_induction, f"< {tg.control_induction:g}", obs.control_induction < tg.control_induction,
              role="info", claim="a one-layer attention-only model cannot match prefixes (cannot fail: shown for the reader)"),
    ]
    events: list[Stage | Event] = [*stages, *(e for e in (loss_half, ind_event, prev_event, k_event, llc_event, drop_end) if e is not None)]
    return Rows(matches, checks, ind_head, prev_head, candidates, stages, drop, c_drop, llc_event, llc_stages, events)


def synthetic_observed(steps: Float[np.ndarray, " n"], *, at: float = 1300.0, heads: int = 4) -> Observed:
    """Observables of a run with the phase change at step ``at`` (for tests and examples): the loss falls from a
    plateau at 2.8 nats to 0.1 within 100 steps; L0H0's previous-token, L1H0's induction and their K-composition
    scores rise with it; the LLC rises from 16 to 28 across it; the one-layer control declines slowly from 3.0.

    Examples:
        >>> obs = synthetic_observed(np.arange(0.0, 2001.0, 50.0), at=1000.0)
        >>> round(float(obs.loss[0]), 2), round(float(obs.loss[-1]), 2), obs.induction[-1].round(2).tolist()
        (2.8, 0.1, [0.95, 0.05, 0.05, 0.05])
    """
    t = np.asarray(steps, dtype=float)
    s = 1.0 / (1.0 + np.exp(-(t - at) / 15.0))
    loss = 2.8 - 2.7 * s
    rise = np.zeros((len(t), heads)) + 0.05
    rise[:, 0] = 0.05 + 0.9 * s
    k = np.zeros((len(t), heads, heads)) + 0.1
    k[:, 0, 0] = 0.1 + 0.3 * s
    z_last = np.zeros((heads, heads))
    z_last[0, 0] = 8.0
    llc_t = t[t % 100 == 0]
    llc = 16.0 + 12.0 / (1.0 + np.exp(-(llc_t - at - 50.0) / 30.0))
    return Observed(t, loss, rise, rise - 0.02, rise, k, np.zeros((heads, heads)), z_last, llc_t, llc, np.full(len(llc_t), 0.5),
                    3.5, 0.1, t, 3.0 - 0.05 * t / t[-1], 0.2)


def _require_cross_entropy(field: str, steps: Float[np.ndarray, " n"], values: Float[np.ndarray, " n"]) -> None:
    """Refuse a loss curve with a finite negative entry, naming the field, the value and its step (a cross-entropy is >= 0;
    a value that is not finite is no measurement, and passes no row)."""
    v = np.asarray(values, dtype=float)
    bad = np.flatnonzero(np.isfinite(v) & (v < 0))
    if bad.size:
        raise ValueError(f"obs.{field} must be >= 0 (a cross-entropy), got {v[bad[0]]:g} at step {float(np.asarray(steps)[bad[0]]):g}")


def _measured(*values: float) -> bool:
    """Whether every value is a finite number: a score, z-score or loss that is not is no measurement and passes no row."""
    return all(math.isfinite(v) for v in values)


def _unmeasured(value: float) -> str:
    """The reason of a row whose measured ``value`` is not finite ("" when it is)."""
    return "" if math.isfinite(value) else f"the measurement is not finite ({value})"


def _fmt(pair: tuple[float, float] | None) -> str:
    return "none" if pair is None else f"[{pair[0]:.0f}, {pair[1]:.0f}]"


__all__ = ["Observed", "Rows", "Targets", "drop_rate", "dynamics", "induction_candidates", "judge", "previous_token_head", "synthetic_observed"]
