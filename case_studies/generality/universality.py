"""Universality rows: the same representation or algorithm across seeds and widths.

Deep-linear (Saxe, McClelland & Ganguli 2019):

* :func:`universality` — every pair of runs (any seeds, any hidden widths) ends with the
  same hidden representation (debiased CKA ≥ 0.95); :func:`run_widths` trains the seeds
  of a preset at three hidden widths and judges them together.
* :func:`differentiation_tracking` — the CKA between one seed's representation at each
  step and another seed's final one follows the curve predicted by the exact
  balanced dynamics from each seed's initial weights (:func:`bridge.theory.balanced_flow.balanced_flow`).

Grokking (Nanda et al. 2023; Chughtai, Chan & Nanda 2023): :func:`fourier_algorithm`,
the key-frequency count and Gini of every seed that groks, and the overlap of the
key-frequency sets (information: the algorithm is shared, the frequencies are not).

Examples:
    >>> width_grid(128)
    (64, 128, 256)
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bridge.match import Check, check, outside

if TYPE_CHECKING:
    from bridge.runs.run import Run
    from case_studies.grokking.analysis import Targets

WIDTH_FACTORS = (0.5, 1.0, 2.0)
SAME_REPRESENTATION = 0.95  # the smallest debiased CKA between two runs' final representations that counts as the same
TRACKING = 0.1  # the largest |measured − predicted| CKA over training that counts as following the prediction
CROSSINGS = (0.5, 0.9)  # CKA levels whose crossing steps are reported
HOOK = "hook_hidden.0"
SAXE_2019 = "Saxe, McClelland & Ganguli 2019 (PNAS), eqs. 6-8 and progressive differentiation; CKA: Kornblith et al. 2019"
NANDA = "Nanda et al. 2023 (progress measures for grokking), Sec. 4: 5 key frequencies of 56 at p = 113"
CHUGHTAI = "Chughtai, Chan & Nanda 2023 (a toy model of universality)"

__all__ = ["differentiation_curves", "differentiation_tracking", "fourier_algorithm", "grokked", "run_widths", "sparse_fourier_rows", "universality", "width_grid"]




def _require_level(name: str, value: Any, lo: float, hi: float, closed_lo: bool, meaning: str) -> None:
    """Raise a ``ValueError`` naming argument ``name`` and ``value`` unless it is a number in ``[lo, hi]`` (``(lo, hi]``
    unless ``closed_lo``; ``hi`` left open when ``closed_lo``), the range in which ``meaning`` can both pass and fail.

    Examples:
        >>> _require_level("threshold", float("nan"), 0.0, 1.0, False, "a debiased CKA level")
        Traceback (most recent call last):
        ...
        ValueError: threshold must be a number in (0, 1] (a debiased CKA level), got nan
    """
    number = isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool) and bool(np.isfinite(value))
    inside = number and ((lo <= value < hi) if closed_lo else (lo < value <= hi))
    if not inside:
        band = f"[{lo:g}, {hi:g})" if closed_lo else f"({lo:g}, {hi:g}]"
        raise ValueError(f"{name} must be a number in {band} ({meaning}), got {value!r}")


def width_grid(width: int, factors: Sequence[float] = WIDTH_FACTORS) -> tuple[int, ...]:
    """Hidden widths ``round(width · factor)``, sorted and distinct (each at least 1).

    Examples:
        >>> width_grid(128), width_grid(3), width_grid(1)
        ((64, 128, 256), (2, 3, 6), (1, 2))
    """
    return tuple(sorted({max(1, round(width * f)) for f in factors}))


def universality(outs: Mapping[Any, str | Path], threshold: float = SAME_REPRESENTATION, step: int | None = None) -> Check:
    """The smallest debiased CKA between the final hidden representations of any two runs, as a check.

    ``outs`` maps a label (a seed, a ``(seed, width)`` pair) to a deep-linear run directory.
    Runs may differ in seed and hidden width: CKA compares ``(items, d1)`` with
    ``(items, d2)``. Saxe et al. (2019) predict the converged representation from the
    task's correlations alone, up to a rotation that CKA ignores: every run should
    reach it. Each run is read at checkpoint ``step`` (default: the last step all share).

    Examples:
        >>> row = universality({(0, 64): "dl/width-64/seed-0", (1, 256): "dl/width-256/seed-1"})  # doctest: +SKIP
        >>> row.value >= 0.95  # doctest: +SKIP
        True
    """
    from bridge.runs.run import load_run
    from bridge.training.compare import compare, weakest_pair

    _require_level("threshold", threshold, 0.0, 1.0, False, "the smallest debiased CKA that counts as the same representation: at or below 0 unrelated runs pass, above 1 none can")
    if len(outs) < 2:
        raise ValueError(f"universality needs at least 2 runs, got {len(outs)}")
    names = [str(label) for label in outs]
    if len(set(names)) < len(names):  # 0 and "0" would name one run, and the other would silently leave the judgement
        raise ValueError(f"universality needs labels that differ as text, got {list(outs)}")
    runs = {str(label): load_run(path) for label, path in outs.items()}
    final = min(run.steps[-1] for run in runs.values()) if step is None else step
    widths = sorted({run.config.model.d_hidden for run in runs.values()})
    table = compare(runs, HOOK, next(iter(runs.values())).task_data().train.x, steps=[final])
    worst = weakest_pair(table)
    value = float(worst["cka_debiased"])
    ckas = np.asarray(table["cka_debiased"], dtype=float)
    broken = outside(ckas, -1.0, 1.0)  # a debiased CKA lies in [−1, 1]: 1.5 is a broken measurement, not a match
    passed = value >= threshold and not broken
    reason = f"a debiased CKA outside [−1, 1]: {broken}" if broken else "" if passed else f"lowest pair: {worst['run_a']} vs {worst['run_b']}" + (" (CKA not a number)" if np.isnan(value) else "")
    return check(
        f"every pair of {len(runs)} runs (hidden widths {', '.join(map(str, widths))}) learns the same hidden representation (min debiased CKA at step {final})",
        value, f">= {threshold}", passed,
        claim="the converged representation is set by the task's correlations, the same for every seed and hidden width up to rotation",
        source=SAXE_2019, reason=reason,
    )


def run_widths(
    out: str | Path, seeds: Sequence[int], preset: str = "quick", factors: Sequence[float] = WIDTH_FACTORS, *, settings: Sequence[str] = (), **options: Any
) -> dict[str, Any]:
    """Run deep-linear over ``seeds`` at three hidden widths and judge every run against every other.

    Width ``w`` (:func:`width_grid` of the preset's ``model.d_hidden``) is an ordinary seed
    run in ``out/width-<w>`` (:func:`~case_studies.generality.seeds.run_seeds` with
    ``--set model.d_hidden=w`` after ``settings``, its seeds stacked; ``options`` go to
    ``run_seeds``). ``out/universality.json`` then holds each width's seed verdict and the
    :func:`universality` row over all runs.

    Returns:
        ``{"seed_reports": {width: SeedReport}, "universality": Check}``.

    Raises:
        ConfigError: a bad seed, or fewer than 2 runs (seeds × widths) to compare (before any training).

    Examples:
        >>> result = run_widths("runs/dl-widths", seeds=[0, 1, 2])  # doctest: +SKIP
        >>> result["universality"].passed  # doctest: +SKIP
        True
    """
    from bridge.config import ConfigError
    from bridge.overrides import apply
    from bridge.report import _finite, _row
    from bridge.runs.storage import atomic_write_json
    from bridge.sweep.grid import check_seeds
    from case_studies.base import get_case_study, resolve_preset
    from case_studies.generality.seeds import run_seeds, seed_dir

    _, chosen = resolve_preset(get_case_study("deep-linear"), preset)
    chosen = apply(chosen, settings)
    seeds, widths = check_seeds(seeds), width_grid(chosen.model.d_hidden, factors)
    if len(seeds) * len(widths) < 2:
        raise ConfigError(f"universality needs at least 2 runs, got {len(widths)} hidden widths × {len(seeds)} seeds")
    out = Path(out)
    reports, outs = {}, {}
    for width in widths:
        folder = out / f"width-{width}"
        reports[width] = run_seeds("deep-linear", preset, folder, seeds, settings=[*settings, f"model.d_hidden={width}"], **options)
        outs.update({f"seed {s}, width {width}": seed_dir(folder, s) for s in seeds})
    row = universality(outs)
    saved = {"seeds": list(seeds), "widths": {str(w): r.verdict for w, r in reports.items()}, "universality": _row(row)}
    atomic_write_json(out / "universality.json", _finite(saved, "universality.json"))  # a CKA not a number is null, as in report.json
    return {"seed_reports": reports, "universality": row}


def differentiation_curves(run_a: Run, run_b: Run) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Measured and predicted debiased CKA between ``run_a`` at each checkpoint and ``run_b`` at its last one.

    The prediction is each run's hidden Gram matrix ``X W₁ᵀW₁ Xᵀ`` on the exact solution of
    the balanced gradient flow from its own initial weights (:func:`bridge.theory.balanced_flow.balanced_flow`),
    represented as ``X (W₁ᵀW₁)^{1/2}``, which has that Gram matrix.

    Returns:
        ``(steps, measured, predicted)``, each ``(n_checkpoints,)``.

    Examples:
        >>> steps, measured, predicted = differentiation_curves(load_run("runs/dl-widths/width-64/seed-0"), load_run("runs/dl-widths/width-256/seed-0"))  # doctest: +SKIP
        >>> float(abs(measured - predicted).max())  # the largest gap between measured and predicted CKA over training  # doctest: +SKIP
    """
    from probes.activations import cached_activation
    from probes.similarity import linear_cka

    x = run_a.task_data().train.x
    final_b = cached_activation(run_b.model_at(run_b.steps[-1]), x, HOOK)
    steps = np.array(run_a.steps, dtype=float)
    model, measured = None, []
    for step in run_a.steps:
        model = run_a.model_at(step, into=model)
        measured.append(linear_cka(cached_activation(model, x, HOOK), final_b, debiased=True))
    pred_a, pred_b = _predicted(run_a, steps), _predicted(run_b, np.array([float(run_b.steps[-1])]))
    predicted = [linear_cka(p, pred_b[0], debiased=True) for p in pred_a]
    return steps, np.array(measured), np.array(predicted)


def _predicted(run: Run, steps: np.ndarray) -> np.ndarray:
    from bridge.models import DeepLinearNetwork
    from bridge.theory.balanced_flow import balanced_flow

    if run.config.model.depth != 2:
        raise ValueError(f"the representation trajectory is predicted for depth-2 networks, got depth {run.config.model.depth}")
    data, net = run.task_data(), run.model_at(0)
    if not isinstance(net, DeepLinearNetwork):
        raise ValueError(f"the representation trajectory is predicted from a DeepLinearNetwork's two weights, got a {type(net).__name__}")
    w_in, w_out = (w.detach().double().numpy() for w in net.weights)
    flow = balanced_flow(steps, data.info["teacher"].double().numpy(), w_in, w_out, run.config.train.lr)
    x, d_in = data.train.x.double().numpy(), w_in.shape[1]
    values, vectors = np.linalg.eigh(flow[:, :d_in, :d_in])  # W₁ᵀW₁ at each step
    return np.einsum("ni,tij->tnj", x, vectors * np.sqrt(np.clip(values, 0, None))[:, None, :])


def differentiation_tracking(outs: Mapping[Any, str | Path], tolerance: float = TRACKING) -> list:
    """Does CKA(seed a at step t, seed b at the end) follow the predicted mode-by-mode rise, for every pair of seeds?

    Counted: the largest ``|measured − predicted|`` over checkpoints and ordered pairs (each seed's
    path toward every other seed's end, so every seed's path is judged and the order of ``outs``
    does not matter) is at most ``tolerance``. Information: the steps where the measured and
    predicted curves settle above each level of :data:`CROSSINGS`, in the worst pair.

    Examples:
        >>> rows = differentiation_tracking({0: "dl/seed-0", 1: "dl/seed-1"})  # doctest: +SKIP
        >>> [r.role for r in rows]  # doctest: +SKIP
        ['claim', 'info']
    """
    from bridge.runs.run import load_run
    from bridge.stages.detectors import settled_crossing

    _require_level("tolerance", tolerance, 0.0, 1.0, True, "the largest CKA gap that counts as following the prediction: at 1 or above any two CKAs in [0, 1] pass")
    if len(outs) < 2:
        raise ValueError(f"differentiation_tracking needs at least 2 runs, got {len(outs)}")
    runs = {label: load_run(path) for label, path in outs.items()}
    worst, where, crossings, broken = -np.inf, "", "", []
    for a, b in itertools.permutations(runs, 2):
        steps, measured, predicted = differentiation_curves(runs[a], runs[b])
        gap = np.abs(measured - predicted)
        broken += [f"{a} vs {b} at step {t:.0f}: {what} {v:.6g}" for what, curve in (("measured", measured), ("predicted", predicted)) for t, v in zip(steps, curve) if outside(v, -1.0, 1.0)]
        at = int(np.argmax(np.where(np.isnan(gap), np.inf, gap)))  # a step not measured counts as the worst
        if _nan_first(gap[at]) > _nan_first(worst):  # a pair not measured stays the worst, whatever pairs follow
            worst, where = float(gap[at]), f"{a} vs {b} at step {steps[at]:.0f}: measured {measured[at]:.3f}, predicted {predicted[at]:.3f}"
            crossings = "; ".join(f"{level:g}: " + " vs ".join("never" if e is None else f"{e.step:.0f}" for e in (settled_crossing(steps, measured, level), settled_crossing(steps, predicted, level))) for level in CROSSINGS)
    return [
        check(
            f"CKA(seed a at step t, seed b at the end) follows the predicted differentiation (largest abs(measured − predicted) over steps and {len(runs) * (len(runs) - 1)} ordered pairs)",
            worst, f"<= {tolerance:g}", worst <= tolerance and not broken,
            claim="the representation of every seed approaches the shared final one mode by mode, as the exact linear dynamics from its own initial weights predict",
            source=SAXE_2019 + "; Fukumizu 1998, Braun et al. 2022 (the exact balanced flow); bridge.theory.balanced_flow", depends_on=("small init_std (nearly balanced start)", "whitened inputs"),
            reason="; ".join(filter(None, ["" if worst <= tolerance else f"worst: {where}", f"a debiased CKA outside [−1, 1]: {'; '.join(broken[:3])}" if broken else ""])),
        ),
        check("steps where CKA(step, final) settles above each level, measured vs predicted (worst pair)", crossings, "—", True, role="info", source="bridge.theory.saxe"),
    ]


def _nan_first(value: float) -> float:
    """``value``, with NaN ranked above every number."""
    return np.inf if np.isnan(value) else value


def _accuracy(run: Run, name: str, label: str) -> tuple[np.ndarray, np.ndarray]:
    """``run.curve(name)``, refused naming ``label`` and the curve when it has fewer than 2 samples or an accuracy
    outside [0, 1] (beyond float rounding).

    Examples:
        >>> from types import SimpleNamespace
        >>> _accuracy(SimpleNamespace(curve=lambda name: (np.array([0.0, 10.0]), np.array([0.5, 1.5]))), "accuracy/test", "seed 3")
        Traceback (most recent call last):
        ...
        ValueError: seed 3: accuracy/test has accuracies outside [0, 1]: [1.5]
    """
    steps, values = run.curve(name)
    values = np.asarray(values, dtype=float)
    if len(steps) < 2:
        raise ValueError(f"{label}: {name} has {len(steps)} sample{'' if len(steps) == 1 else 's'}; whether it grokked needs at least 2")
    if broken := outside(values, 0.0, 1.0):
        raise ValueError(f"{label}: {name} has accuracies outside [0, 1]: {broken[:5]}")
    return steps, values


def grokked(run: Run, targets: Targets, label: str = "the run") -> bool:
    """Whether a grokking main run memorised and then generalised (the study's precondition).

    ``run`` needs ``curve("accuracy/train")`` and ``curve("accuracy/test")``; ``targets`` is the grokking study's ``Targets``.

    Raises:
        ValueError: a curve with fewer than 2 samples or an accuracy outside [0, 1], naming ``label`` and the curve.

    Examples:
        >>> from types import SimpleNamespace; from case_studies.grokking import Targets
        >>> T = np.arange(0.0, 1001.0, 100.0); acc = {"accuracy/train": np.minimum(1.0, T / 200), "accuracy/test": (T >= 700).astype(float)}   # memorised at 200, generalised at 700
        >>> grokked(SimpleNamespace(curve=lambda name: (T, acc[name])), Targets())
        True
    """
    from bridge.stages.grokking import generalised, memorised_and_grokked

    train, test = (_accuracy(run, name, label) for name in ("accuracy/train", "accuracy/test"))
    memorised, _ = memorised_and_grokked(*train, *test, targets.memorised, targets.grokked)
    gen = generalised(*test, targets.grokked)
    return memorised is not None and gen is not None and gen.step >= memorised.step


def fourier_algorithm(outs: Mapping[int, str | Path], targets: Targets) -> list[Check]:
    """Rows over the grokking seeds: every seed that groks uses a sparse Fourier algorithm, on its own frequencies.

    For each seed whose main run grokked (:func:`grokked`), the key frequencies of the
    final embedding (the smallest set carrying ``targets.key_mass`` of its squared
    Fourier norm) and the Gini coefficient of its per-frequency norms. Counted:
    every such seed has between 1 and ``targets.n_top`` key frequencies, and a Gini of
    at least ``1 − n_top/F`` (``F = (p − 1)/2``: the Gini of ``n_top`` equal frequencies
    and nothing else). Nanda et al. (2023) find 5 key frequencies of 56 at p = 113
    (Gini near ``1 − 5/56 = 0.91``). Information: the mean pairwise Jaccard overlap
    of the seeds' key-frequency sets (two empty sets: 1), and the sets (Chughtai et al. 2023: the
    algorithm is universal, the frequencies are not).

    Examples:
        >>> rows = fourier_algorithm({0: "runs/grok-seeds/seed-0", 1: "runs/grok-seeds/seed-1"}, get_case_study("grokking").presets["quick"].targets)  # doctest: +SKIP
        >>> [(row.name, row.passed) for row in rows]  # counted rows, then the Jaccard overlap as information  # doctest: +SKIP
    """
    from bridge.runs.run import load_run
    from probes.fourier import frequency_norms
    from probes.modular import residue_embedding

    spectra, skipped = {}, []
    for seed, path in sorted(outs.items()):
        run = load_run(path)
        if grokked(run, targets, label=f"seed {seed} ({path})"):  # the final embedding's per-frequency norms, as the study's own analysis reads them
            spectra[seed] = frequency_norms(residue_embedding(run.model_at(run.steps[-1]), run.config.task.p))
        else:
            skipped.append(seed)
    return sparse_fourier_rows(spectra, targets, skipped)


def _gini_reaches(norms: Any, n_top: int) -> bool:
    """Whether the Gini of ``norms[1:]`` (``F`` entries) is at least ``1 − n_top/F``, in exact arithmetic: ``n_top`` equal
    frequencies and nothing else sit on the floor itself, where float rounding puts them an ulp either side.

    Examples:
        >>> _gini_reaches([5.0] + [1.0] * 8 + [0.0] * 48, 8), _gini_reaches([5.0] + [1.0] * 9 + [0.0] * 47, 8)
        (True, False)
    """
    from fractions import Fraction

    values = sorted(Fraction(float(v)) for v in norms[1:])
    f, total = len(values), sum(values)
    spread = 2 * sum((2 * i - f + 1) * v for i, v in enumerate(values))  # Σᵢⱼ |vᵢ − vⱼ| = 2 F · total · Gini
    return total > 0 and spread >= 2 * total * (f - n_top)


def sparse_fourier_rows(spectra: Mapping[int, Any], targets: Targets, skipped: Sequence[int] = ()) -> list[Check]:
    """The rows of :func:`fourier_algorithm` from each grokking seed's final per-frequency norms.

    Args:
        spectra: seed → ``(F + 1,)`` per-frequency norms (:func:`probes.fourier.frequency_norms`; entry 0 constant).
        targets: the grokking study's ``Targets`` (``key_mass``, ``n_top``).
        skipped: seeds that did not grok (named in the rows' reason).

    Examples:
        >>> import torch
        >>> from case_studies.grokking import Targets
        >>> sparse = torch.zeros(30); sparse[[3, 7, 11]] = 1.0
        >>> [(r.value, r.passed) for r in sparse_fourier_rows({0: sparse}, Targets())[:2]]
        [(3, True), (0.896551724137931, True)]
    """
    from probes.fourier import gini, key_frequencies

    for seed, norms in spectra.items():
        if len(np.shape(norms)) != 1 or len(norms) < 2:
            raise ValueError(f"spectra[{seed!r}] must be 1-D per-frequency norms, the constant and at least one frequency, got shape {tuple(np.shape(norms))}")
    found = {seed: (key_frequencies(norms, targets.key_mass), gini(norms[1:]), len(norms) - 1) for seed, norms in spectra.items()}
    why = f"seeds that did not grok: {list(skipped)}" if skipped else ""
    if not found:
        why = "no seed grokked"
    counts = {s: len(k) for s, (k, _, _) in found.items()}
    ginis = {s: g for s, (_, g, _) in found.items()}
    floors = {s: 1 - targets.n_top / f for s, (_, _, f) in found.items()}
    few = [f"seed {s}: {f} frequencies, not more than n_top = {targets.n_top}, so any embedding would pass" for s, (_, _, f) in found.items() if f <= targets.n_top]
    miscounted = [f"seed {s}: {c}" for s, c in counts.items() if not 1 <= c <= targets.n_top]
    below = [f"seed {s}: {g:.3g} < {floors[s]:.3g}" for s, g in ginis.items() if not _gini_reaches(spectra[s], targets.n_top)]
    count_ok = bool(found) and not few and not miscounted
    gini_ok = bool(found) and not few and not below
    sets = {s: set(k) for s, (k, _, _) in found.items()}
    pairs = list(itertools.combinations(sorted(sets), 2))
    jaccard = float(np.mean([len(sets[a] & sets[b]) / len(sets[a] | sets[b]) if sets[a] | sets[b] else 1.0 for a, b in pairs])) if pairs else None
    span = lambda d: ", ".join(f"{s}: {v:.3g}" if isinstance(v, float) else f"{s}: {v}" for s, v in d.items()) or "none"
    return [
        check(f"key frequencies of every seed that grokked ({len(found)} of {len(found) + len(skipped)}), per seed: {span(counts)}", max(counts.values(), default=None), f"1 to {targets.n_top} in every seed", count_ok,
              claim=f"every seed that groks uses a sparse Fourier algorithm: at most {targets.n_top} frequencies carry {targets.key_mass:.0%} of the embedding's squared norm", source=NANDA, reason="; ".join(filter(None, [why, *few, *miscounted]))),
        check(f"Gini of the final embedding's Fourier norms in every seed that grokked, per seed: {span(ginis)}", min(ginis.values(), default=None), f">= 1 − {targets.n_top}/F ({min(floors.values(), default=float('nan')):.3f})", gini_ok,
              claim=f"every seed's embedding is at least as concentrated as {targets.n_top} equal frequencies and nothing else", source=f"{NANDA}, Fig. 7 (Gini)", reason="; ".join(filter(None, [why, *few, *below]))),
        check("key-frequency overlap across the seeds that grokked (mean pairwise Jaccard)", jaccard, "— (the frequencies need not be shared)", True, role="info", source=CHUGHTAI),
        check("key-frequency sets per seed that grokked", "; ".join(f"{s}: {sorted(k)}" for s, k in sets.items()) or "none", "—", True, role="info", source=CHUGHTAI),
    ]
