"""The analysis of the ``mup`` case study: observables of the runs, the judged rows, the figures.

:func:`observables` reads the finished runs into plain arrays; :func:`judge` turns
arrays into the report, so every counted row can be tested on synthetic numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from numbers import Real
from typing import Any

import numpy as np

from bridge.match import check, outside
from bridge.models.mlp import MLP
from bridge.report import BridgeReport
from bridge.runs.run import Run
from bridge.theory import mup as theory
from case_studies.base import MAIN

LAYERS = ("input", "hidden", "output")
TP4 = "Yang & Hu 2021 (Tensor Programs IV), abc-parametrisations"
TP5 = "Yang et al. 2022 (Tensor Programs V)"
CKA_SOURCE = "Yang & Hu 2021 (feature learning in the infinite-width limit under μP); CKA: Kornblith et al. 2019"
NAMES = {"mup": "μP", "standard": "SP", "ntk": "NTK"}



def coord_key(parametrisation: str, width: int, preset: Any, seed: int = 0) -> str:
    """Run key of a coordinate-check run of the report's ``seed``-th seed (μP at the widest width, seed 0, is ``"main"``).

    Examples:
        >>> from case_studies.mup import PRESETS
        >>> quick = PRESETS["quick"]; widest = quick.coord_widths[-1]
        >>> coord_key("mup", widest, quick), coord_key("standard", widest, quick, seed=1)
        ('main', 'coord_standard_w8192_s1')
    """
    return MAIN if parametrisation == "mup" and width == preset.coord_widths[-1] and seed == 0 else f"coord_{parametrisation}_w{width}_s{seed}"


def lr_key(parametrisation: str, width: int, index: int, seed: int = 0) -> str:
    """Run key of the transfer grid's point (parametrisation, width, learning-rate index) of the report's ``seed``-th seed.

    Examples:
        >>> lr_key("ntk", 256, 3), lr_key("mup", 64, 0, seed=2)
        ('lr_ntk_w256_3_s0', 'lr_mup_w64_0_s2')
    """
    return f"lr_{parametrisation}_w{width}_{index}_s{seed}"


@dataclass(frozen=True)
class MupObservables:
    """What the report judges, as plain arrays.

    Attributes:
        optimizer: ``"adam"`` or ``"sgd"``.
        coord_widths: widths of the coordinate check.
        delta: parametrisation → ``(step, width, layer)`` RMS Δh (step 0 … coord_steps).
        first_layer: parametrisation → ``(width,)`` RMS entry change of the first layer's weights at the last step.
        lr_widths, lrs: the transfer grid's axes.
        final_loss, initial_loss: parametrisation → ``(width, lr)`` training loss at the end and at step 0
            (``inf`` where a run's loss is not finite).
        cka: parametrisation → ``(width,)`` linear CKA of the last hidden layer with the widest model's,
            at the learning rate best for the widest model (1 for the widest itself).
        seed_final_loss: parametrisation → ``(seed, width, lr)`` the final loss of each seed, when the
            other fields are the mean over seeds (empty for one seed).

    Examples:
        >>> both = lambda shape: {"mup": np.ones(shape), "standard": np.ones(shape)}
        >>> obs = MupObservables("adam", (64, 512, 4096), both((4, 3, 3)), {"mup": np.ones(3)}, (32, 64, 128, 512), tuple(2.0**k for k in range(-10, -3)), both((4, 7)), both((4, 7)))
        >>> obs.delta["mup"].shape, obs.final_loss["mup"].shape, obs.cka
        ((4, 3, 3), (4, 7), {})
        >>> MupObservables("adam", (64, 512, 4096), both((4, 3, 3)), {"mup": np.ones(3)}, (32, 64, 128, 512), tuple(2.0**k for k in range(-10, -3)), both((5, 7)), both((4, 7)))
        Traceback (most recent call last):
        ...
        ValueError: MupObservables.final_loss['mup'] must be a parametrisation of ['mup', 'ntk', 'standard'] with shape (4, 7), got shape (5, 7)
    """

    optimizer: str
    coord_widths: tuple[int, ...]
    delta: dict[str, np.ndarray]
    first_layer: dict[str, np.ndarray]
    lr_widths: tuple[int, ...]
    lrs: tuple[float, ...]
    final_loss: dict[str, np.ndarray]
    initial_loss: dict[str, np.ndarray]
    cka: dict[str, np.ndarray] = field(default_factory=dict)
    seed_final_loss: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, widths, least in (("coord_widths", self.coord_widths, 2), ("lr_widths", self.lr_widths, 3)):
            if len(widths) < least or not all(isinstance(w, (int, np.integer)) and not isinstance(w, bool) and w >= 1 for w in widths) or list(widths) != sorted(set(widths)):
                raise ValueError(f"MupObservables.{name} must be at least {least} increasing positive integer widths, got {widths!r}")
        if len(self.lrs) < 3 or not all(isinstance(lr, Real) and not isinstance(lr, bool) and 0 < lr < np.inf for lr in self.lrs) or list(self.lrs) != sorted(set(self.lrs)):
            raise ValueError(f"MupObservables.lrs must be at least 3 increasing positive finite learning rates, got {self.lrs!r}")
        grid, n = (len(self.lr_widths), len(self.lrs)), len(self.coord_widths)
        shapes = [("delta", self.delta, lambda s: len(s) == 3 and s[0] >= 2 and s[1:] == (n, 3), f"(1 + steps ≥ 2, {n}, 3)"), ("first_layer", self.first_layer, lambda s: s == (n,), f"({n},)"),
                  ("final_loss", self.final_loss, lambda s: s == grid, str(grid)), ("initial_loss", self.initial_loss, lambda s: s == grid, str(grid)),
                  ("cka", self.cka, lambda s: s == grid[:1], f"({grid[0]},)"), ("seed_final_loss", self.seed_final_loss, lambda s: len(s) == 3 and s[1:] == grid, f"(seed, {grid[0]}, {grid[1]})")]
        for name, table, fits, expected in shapes:
            for p, values in table.items():
                if p not in NAMES or not fits(np.shape(values)):
                    raise ValueError(f"MupObservables.{name}[{p!r}] must be a parametrisation of {sorted(NAMES)} with shape {expected}, got shape {np.shape(values)}")
        for name, table, needed in (("delta", self.delta, ("mup", "standard")), ("first_layer", self.first_layer, ("mup",)), ("final_loss", self.final_loss, ("mup", "standard"))):
            if not set(needed) <= set(table):
                raise ValueError(f"MupObservables.{name} must hold {' and '.join(needed)}, got {sorted(table)}")
        if set(self.initial_loss) != set(self.final_loss):
            raise ValueError(f"MupObservables.initial_loss must hold the parametrisations of final_loss {sorted(self.final_loss)}, got {sorted(self.initial_loss)}")


def still(delta: Any) -> Any:
    """From ``delta`` ``(step, width, layer)`` (RMS Δh, step 0 first), ``(step − 1, layer)``: whether a layer
    has not moved yet after steps 1, 2, …: Δh exactly 0 at every width at that step and every step before it.

    Under μP with a readout that starts at zero, only the readout gets a gradient on the
    first step, so the other layers first move on the second. A layer that moved and then
    reads exactly 0 again is not waiting: that step is judged (and its slope is not a number).

    Examples:
        >>> delta = np.zeros((4, 2, 2)); delta[1:, :, 1] = 0.3; delta[2:, :, 0] = 0.2; delta[2, :, 1] = 0.0  # layer 0 moves on step 2; layer 1 returns to 0 on step 2
        >>> still(delta).tolist()
        [[True, False], [False, False], [False, False]]
    """
    return np.logical_and.accumulate(np.all(np.asarray(delta)[1:] == 0, axis=1), axis=0)


def slope(widths: Any, values: Any) -> float:
    """Least-squares slope of ``log values`` against ``log widths`` (``nan`` if any value is not positive and finite).

    Examples:
        >>> round(slope([64, 128, 256], [1.0, 2.0, 4.0]), 6)
        1.0
    """
    v = np.asarray(values, dtype=float)
    if not np.all(np.isfinite(v)) or np.any(v <= 0):
        return float("nan")
    return float(np.polyfit(np.log(np.asarray(widths, dtype=float)), np.log(v), 1)[0])


def best_indices(losses: np.ndarray) -> np.ndarray:
    """Per width (row), the index of the learning rate with the smallest final loss (non-finite losses lose).

    ``losses`` ``(width, lr)`` → ``(width,)`` integer indices.

    Examples:
        >>> best_indices(np.array([[3.0, 1.0, 2.0], [np.nan, 5.0, 4.0]])).tolist()
        [1, 2]
    """
    return np.argmin(np.where(np.isfinite(losses), losses, np.inf), axis=1)


def observables(runs: Mapping[str, Run], preset: Any) -> MupObservables:
    """Read the coordinate check, the transfer grid and the hidden representations from finished runs,
    each the mean over the report's ``preset.seeds`` seeds (a final loss that is not finite in one seed is ``inf``).

    Examples:
        >>> obs = observables(runs, get_case_study("mup").presets["quick"])  # ``runs``: key -> finished run of the study  # doctest: +SKIP
    """

    cw, seeds = preset.coord_widths, range(preset.seeds)
    delta, first = {}, {}
    for p in preset.coord_parametrisations:
        moves = [[runs[coord_key(p, w, preset, k)] for w in cw] for k in seeds]
        delta[p] = np.mean([np.stack([np.stack([r.curve("coordinates/delta", layer=layer)[1] for layer in range(3)], axis=-1) for r in row], axis=1) for row in moves], axis=0)  # (step, width, layer)
        first[p] = np.mean([[r.curve("coordinates/weight_delta", layer=0)[1][-1] for r in row] for row in moves], axis=0)
    final, initial, cka, per_seed = {}, {}, {}, {}
    for p in ("mup", "standard"):
        curves = [[[runs[lr_key(p, w, i, k)].curve("loss/train")[1] for i in range(len(preset.lrs))] for w in preset.lr_widths] for k in seeds]
        per_seed[p] = np.array([[[c[-1] if np.isfinite(c[-1]) else np.inf for c in row] for row in grid] for grid in curves])  # (seed, width, lr)
        final[p] = per_seed[p].mean(axis=0)
        initial[p] = np.array([[[c[0] for c in row] for row in grid] for grid in curves]).mean(axis=0)
        cka[p] = np.mean([representation_similarity(runs, preset, p, int(best_indices(final[p])[-1]), k) for k in seeds], axis=0)
    return MupObservables(preset.optimizer, tuple(cw), delta, first, tuple(preset.lr_widths), tuple(preset.lrs), final, initial, cka, per_seed if preset.seeds > 1 else {})


def representation_similarity(runs: Mapping[str, Run], preset: Any, parametrisation: str, index: int, seed: int = 0) -> np.ndarray:
    """Linear CKA of each width's last hidden layer with the widest model's of the same seed, at the end of
    training at ``lrs[index]``, on the task's held-out inputs: ``(width,)``.

    Examples:
        >>> representation_similarity(runs, preset, "mup", index=2)  # one CKA per width, 1.0 at the widest  # doctest: +SKIP
    """
    from probes.similarity import linear_cka

    def hidden(width: int) -> Any:
        run = runs[lr_key(parametrisation, width, index, seed)]
        model = run.model_at(run.steps[-1])
        if not isinstance(model, MLP):
            raise TypeError(f"run {lr_key(parametrisation, width, index, seed)!r} must hold an MLP, got {type(model).__name__}")
        test = run.task_data().test
        if test is None:
            raise ValueError(f"run {lr_key(parametrisation, width, index, seed)!r} has no test split: the widths' representations are compared on it")
        x = test.x
        return model.run_to(x, "hook_post.1").detach()

    widest = hidden(preset.lr_widths[-1])
    return np.array([linear_cka(hidden(w), widest) for w in preset.lr_widths[:-1]] + [1.0])


def judge(obs: MupObservables, targets: Any) -> BridgeReport:
    """The report of ``obs`` against ``targets`` (a :class:`case_studies.mup.Targets`).

    Examples:
        >>> from case_studies.mup import Targets   # Δh flat in width for both parametrisations; every width's best lr at index 3
        >>> flat, loss = np.stack([np.zeros((3, 3)), np.ones((3, 3))]), np.array([[(1 + (i - 3) ** 2) / (10 * (w + 1)) for i in range(7)] for w in range(4)])
        >>> first, cka = {"mup": np.ones(3), "ntk": np.array([1.0, 8**-0.5, 1 / 8])}, {"mup": np.array([0.7, 0.8, 0.9, 1.0])}   # NTK's first layer as width^(−1/2); CKA rising
        >>> report = judge(MupObservables("adam", (64, 512, 4096), {"mup": flat, "standard": flat}, first, (32, 64, 128, 512), tuple(2.0**k for k in range(-10, -3)), {"mup": loss, "standard": loss}, {"mup": np.ones((4, 7)), "standard": np.ones((4, 7))}, cka), Targets())
        >>> report.verdict, [name.split(":")[0] for name in report.failed_claims]   # μP holds; SP's growing updates and drifting rate do not
        ('partial', ['SP coordinate check, hidden layer', 'SP coordinate check, output layer', 'SP'])
    """
    report = BridgeReport("mup", "custom", 0)
    opt, cw = obs.optimizer, obs.coord_widths
    last = obs.delta["mup"].shape[0] - 1
    for p, d in obs.delta.items():
        measurable = bool(np.all(np.isfinite(d[1:])) and np.all(d[-1] > 0) and np.all(still(d) | np.all(d[1:] > 0, axis=1)))
        back = [f"{LAYERS[layer]} layer at step {step + 1}" for step, layer in zip(*np.nonzero(~still(d) & np.all(d[1:] == 0, axis=1)))]
        report.checks.append(check(f"{NAMES.get(p, p)}: every layer moved and stayed finite in the coordinate check", measurable, "true", measurable, role="precondition",
                                   claim="Δh is measurable at every width and step (a layer may wait at exactly zero at every width while the readout starts from zero)",
                                   reason=f"Δh back to exactly 0 at every width after it moved: {', '.join(back)}" if back else ""))
    for layer, kind in enumerate(LAYERS):
        moved = [step for step in range(1, last + 1) if not still(obs.delta["mup"])[step - 1, layer]]
        slopes = {step: slope(cw, obs.delta["mup"][step, :, layer]) for step in moved}
        worst = max(slopes, key=lambda t: (not np.isfinite(slopes[t]), abs(slopes[t]))) if slopes else None  # a slope that is not a number is the worst
        value = None if worst is None else slopes[worst]
        held = value is not None and abs(value) <= targets.mup_slope
        report.checks.append(
            check(
                f"μP coordinate check, {kind} layer: largest |slope| of Δh vs width over the steps it moved", value, f"|·| <= {targets.mup_slope:g}", held,
                claim=f"under μP the {kind} layer's features move by Θ(1) as width grows, at every step of the check", source=f"{TP5}, Table 3 (μP); bridge.theory.mup", depends_on=(opt,),
                reason="never moved" if worst is None else "; ".join(([] if held else [f"at step {worst}"]) + ([] if len(moved) == last else [f"moves from step {moved[0]}: the readout starts at zero"])),
            )
        )
        for step in range(1, last + 1):
            s_t = slopes.get(step)
            report.checks.append(check(f"μP coordinate check, {kind} layer: slope after {step} step(s)", "not moved" if s_t is None else s_t, f"|·| <= {targets.mup_slope:g}", s_t is not None and abs(s_t) <= targets.mup_slope, role="info"))
    for layer, kind in enumerate(LAYERS):
        predicted = theory.predicted_exponent("standard", opt, kind)
        s = slope(cw, obs.delta["standard"][1, :, layer])
        report.checks.append(
            check(
                f"SP coordinate check, {kind} layer: slope of Δh vs width after 1 step", s, f"{predicted:+g} ± {targets.sp_slope:g}", bool(abs(s - predicted) <= targets.sp_slope),
                claim=f"under SP the {kind} layer's first-step change scales as width^{predicted:g}", source=f"{TP5}, section on the defects of SP; bridge.theory.mup", depends_on=(opt,),
            )
        )
        if "ntk" in obs.delta:
            pn = theory.predicted_exponent("ntk", opt, kind)
            sn = slope(cw, obs.delta["ntk"][1, :, layer])
            report.checks.append(check(f"NTK coordinate check, {kind} layer: slope after 1 step", sn, f"{pn:+g} ± {targets.sp_slope:g}", bool(abs(sn - pn) <= targets.sp_slope), role="info"))
    s = slope(cw, obs.first_layer["mup"])
    report.checks.append(
        check(
            "μP: slope of the first layer's weight change vs width", s, f"|·| <= {targets.first_layer_slope:g}", bool(abs(s) <= targets.first_layer_slope),
            claim="under μP the first-layer weights move by Θ(1) at every width (feature learning survives the limit)", source=f"{TP4}, Theorem on μP feature learning; bridge.theory.mup", depends_on=(opt,),
        )
    )
    s_ntk = slope(cw, obs.first_layer["ntk"]) if "ntk" in obs.first_layer else None  # not measured: the claim fails, it is not dropped
    report.checks.append(
        check(
            "NTK: slope of the first layer's weight change vs width", s_ntk, f"{targets.ntk_first_layer:+g} ± {targets.sp_slope:g}", s_ntk is not None and bool(abs(s_ntk - targets.ntk_first_layer) <= targets.sp_slope),
            claim="under the NTK parametrisation the first-layer weights' change vanishes as width^(−1/2) (lazy training)", source=f"{TP4}, NTK as an abc-parametrisation; bridge.theory.mup", depends_on=(opt,),
            reason="" if s_ntk is not None else "no NTK first-layer weight change measured",
        )
    )
    _transfer_rows(report, obs, targets)
    _similarity_rows(report, obs)
    report.extra["slopes"] = {p: {kind: [slope(cw, d[t, :, i]) for t in range(1, d.shape[0])] for i, kind in enumerate(LAYERS)} for p, d in obs.delta.items()}
    report.extra["best_lr"] = {p: [obs.lrs[i] for i in best_indices(obs.final_loss[p])] for p in obs.final_loss}
    report.extra["best_lr_per_seed"] = {p: [[obs.lrs[i] for i in best_indices(grid)] for grid in g] for p, g in obs.seed_final_loss.items()}
    report.notes.append("coordinate check: slopes are fitted on log RMS Δh against log width; μP is judged at every step of the check (its largest |slope|), SP after the first (where its exponents are predicted); each μP step's slope is shown as information")
    return report


def _transfer_rows(report: BridgeReport, obs: MupObservables, targets: Any) -> None:
    widths, lrs = obs.lr_widths, obs.lrs
    best = {p: best_indices(obs.final_loss[p]) for p in obs.final_loss}
    for p in obs.final_loss:
        lowest, start = obs.final_loss[p][np.arange(len(widths)), best[p]], obs.initial_loss[p][:, 0]
        unmeasured = [w for w, v in zip(widths, start) if not (np.isfinite(v) and v > 0)]  # an infinite start would make any end look like progress
        progress = float("nan") if unmeasured else float(np.max(lowest / start))
        report.checks.append(
            check(f"{NAMES[p]}: best final loss / initial loss, worst width", progress, f"< {targets.learned:g}", bool(progress < targets.learned), role="precondition", claim="training made progress at every width",
                  reason=f"initial loss not a positive finite number at widths {unmeasured}" if unmeasured else "")
        )
        exponent = slope(widths, [lrs[i] for i in best[p]])
        report.checks.append(check(f"{NAMES[p]}: fitted exponent of the best learning rate vs width", exponent, "reported", True, role="info"))
        if p in obs.seed_final_loss:
            each = [[int(i) for i in best_indices(grid)] for grid in obs.seed_final_loss[p]]
            report.checks.append(check(f"{NAMES[p]}: each seed's own best learning-rate index per width (the counted rows judge the mean over seeds)", each, "reported", True, role="info"))
    interior = bool(np.all((best["mup"] > 0) & (best["mup"] < len(lrs) - 1)))
    report.checks.append(
        check("μP: best learning rate inside the grid at every width", [int(i) for i in best["mup"]], f"indices in 1..{len(lrs) - 2}", interior, role="precondition", claim="the grid brackets μP's optimum, so its shift is measured")
    )
    shift = int(best["mup"].max() - best["mup"].min())
    report.checks.append(
        check(
            f"μP: best learning rate moves across widths {widths[0]}–{widths[-1]} (grid steps of 2×)", shift, f"<= {targets.mup_lr_shift}", shift <= targets.mup_lr_shift,
            claim="under μP the best learning rate transfers from narrow to wide models", source=f"{TP5}, Fig. 1 right and section 4 (μTransfer)", depends_on=(obs.optimizer,),
        )
    )
    lowest = obs.final_loss["mup"][np.arange(len(widths)), best["mup"]]
    finite = bool(np.all(np.isfinite(lowest)))  # inf − x is −inf: an infinite loss at the narrowest width read as a fall
    monotone = finite and bool(np.all(np.diff(lowest) < 0))
    report.checks.append(
        check(
            "μP: training loss at the best learning rate falls with every doubling of width", [float(f"{v:.3g}") for v in lowest], "strictly decreasing", monotone,
            claim="under μP wider is better at the tuned learning rate", source=f"{TP5}, Fig. 1 right (wider is better under μP at the tuned rate)", depends_on=(obs.optimizer,),
            reason="" if finite else "a best final loss is not finite",
        )
    )
    drift = int(best["standard"].max() - best["standard"].min())
    report.checks.append(
        check(
            f"SP: best learning rate moves across widths {widths[0]}–{widths[-1]} (grid steps of 2×)", drift, f">= {targets.sp_lr_shift}", drift >= targets.sp_lr_shift,
            claim="under SP the best learning rate drifts with width", source=f"{TP5}, Fig. 1 left", depends_on=(obs.optimizer,),
        )
    )


def _similarity_rows(report: BridgeReport, obs: MupObservables) -> None:
    widths = obs.lr_widths
    values = np.asarray(obs.cka.get("mup", ()), dtype=float)[:-1]  # not measured: the claim fails, it is not dropped
    broken = outside(values, 0.0, 1.0)  # a linear CKA lies in [0, 1]: 1.2 is a broken measurement
    rising = bool(values.size and np.all(np.isfinite(values)) and np.all(np.diff(values) > 0)) and not broken
    report.checks.append(
        check(
            f"μP: CKA of the last hidden layer with width {widths[-1]}'s, widths {widths[0]}–{widths[-2]}", [round(float(v), 4) for v in values] if values.size else None, "strictly increasing with width", rising,
            claim="under μP the learned representations converge as width grows", source=CKA_SOURCE, depends_on=(obs.optimizer, "learning rate best for the widest model"),
            reason="no μP CKA measured" if not values.size else f"a CKA outside [0, 1]: {broken}" if broken else "",
        )
    )
    if "standard" in obs.cka:
        report.checks.append(check(f"SP: CKA with width {widths[-1]}'s", [round(float(v), 4) for v in obs.cka["standard"][:-1]], "reported", True, role="info"))


def analyse(runs: Mapping[str, Run], preset: Any) -> BridgeReport:
    """The bridge report of a finished ``mup`` case study.

    Examples:
        >>> analyse(runs, get_case_study("mup").presets["quick"]).verdict  # ``runs``: key -> finished run of the study  # doctest: +SKIP
    """
    obs = observables(runs, preset)
    report = judge(obs, preset.targets)
    report.events, report.observations = [], obs  # the figures draw the same observations
    first = runs[MAIN].config.seed
    report.notes.append(f"every coordinate-check value, final loss and CKA is the mean over the runs of seeds {first}–{first + preset.seeds - 1}" if preset.seeds > 1 else f"one seed per run ({first})")
    return report


def figures(runs: Mapping[str, Run], report: BridgeReport, preset: Any) -> list[str]:
    """The coordinate check per parametrisation, loss against learning rate per width (SP beside μP), CKA against width.

    Examples:
        >>> figures(runs, report, preset)  # paths of the figures, relative to the main run  # doctest: +SKIP
    """
    from bridge.plots.base import new_figure, save_figure
    from bridge.plots.parametrisation import plot_coordinate_check, plot_loss_vs_lr, plot_similarity_vs_width

    obs = report.observed(lambda: observables(runs, preset))
    folder = runs[MAIN].figures_dir
    paths = []
    params = list(obs.delta)
    fig, axes = new_figure(ncols=len(params), size=(4.2, 3.6))
    last = obs.delta["mup"].shape[0] - 1
    for ax, p in zip(axes, params):
        step = last if p == "mup" else 1
        curves = {kind: obs.delta[p][step, :, i] for i, kind in enumerate(LAYERS)}
        slopes = {kind: slope(obs.coord_widths, v) for kind, v in curves.items()}
        predicted = {kind: theory.predicted_exponent(p, obs.optimizer, kind) for kind in LAYERS}
        plot_coordinate_check(ax, obs.coord_widths, curves, slopes=slopes, predicted=predicted, title=f"{NAMES.get(p, p)} ({obs.optimizer}), after {step} step(s)")
    paths.append(save_figure(fig, folder / "coordinate_check.png"))
    fig, axes = new_figure(ncols=2, size=(4.6, 3.8))
    for ax, p in zip(axes, ("standard", "mup")):
        plot_loss_vs_lr(ax, obs.lrs, {w: obs.final_loss[p][j] for j, w in enumerate(obs.lr_widths)}, title=f"{NAMES[p]}: loss vs learning rate (★ best)")
        if preset.seeds > 1:
            ax.set_ylabel(f"final training loss (mean of {preset.seeds} seeds)")
    paths.append(save_figure(fig, folder / "lr_transfer.png"))
    fig, ax = new_figure(size=(4.8, 3.6))
    plot_similarity_vs_width(ax, obs.lr_widths, {NAMES[p]: v for p, v in obs.cka.items()}, reference=obs.lr_widths[-1])
    ax.set_title("Hidden layer vs the widest model, end of training", fontsize=10)
    paths.append(save_figure(fig, folder / "cka.png"))
    return [str(p.relative_to(runs[MAIN].path)) for p in paths]


__all__ = ["MupObservables", "analyse", "best_indices", "figures", "judge", "observables", "representation_similarity", "slope"]
