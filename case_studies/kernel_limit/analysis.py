"""The analysis of the ``kernel-limit`` case study: eigenlearning and the linearised dynamics from the lazy run's initial
tangent kernel, the sweep over output scales, and the report that judges them (pure functions of the runs or of numbers)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from bridge.match import check, match
from bridge.report import BridgeReport
from bridge.runs.run import Run
from bridge.stages.crossover import crossing, loglog_slope
from bridge.stages.detectors import threshold_crossing
from bridge.tasks.boolean_cube import degree_eigenvalues
from bridge.theory import eigenlearning
from bridge.theory.linearised import kernel_descent
from case_studies.base.targets import target_domains
from case_studies.kernel_limit.runs import by_alpha, cube_kernel, cube_terms, draws, final, initial_kernel, kernel_over_sets, outcome

EIGENLEARNING = "Simon et al. 2023 (eigenlearning: learnabilities and test MSE from the spectrum); bridge.theory.eigenlearning.predict"
LINEARISED = "Jacot et al. 2018 (linearised dynamics under the NTK); bridge.theory.linearised.kernel_descent"
LAZY = "Chizat, Oyallon & Bach 2019 (lazy training: the kernel moves O(1/α))"
RICH = "Chizat, Oyallon & Bach 2019; Geiger et al. 2020 (feature learning at small output scale)"


@dataclass(frozen=True)
@target_domains(below=(("lazy_distance", "rich_distance"),), test_mse="tolerance", learnability="tolerance", half_time="tolerance", lazy_distance="positive", lazy_slope="number", rich_distance="tolerance", alignment_rise="positive", enrichment="positive", crossover_distance="positive", crossover_departure="positive", crossover_factor="factor", feature_rise="positive", trained="positive", settled="tolerance")
class Targets:
    """What the kernel-limit report judges.

    Args:
        test_mse: lazy end: |cube MSE / eigenlearning's test MSE − 1| at most this.
        learnability: lazy end: |learned fraction − learnability| of each term at most this.
        half_time: lazy end: relative error of each term's half-rise against the linearised dynamics.
        lazy_distance: lazy end: final kernel distance below this.
        lazy_slope: over the lazy half of the sweep the log-log slope of the final kernel
            distance against α, upper end of its 95 % interval, at most this (α⁻¹ or faster).
        rich_distance: rich end: final kernel distance above this.
        alignment_rise: rich end: final kernel–target alignment at least this × the initial one.
        enrichment: rich end: first-layer support share at least this × its share at init.
        crossover_distance: the kernel distance that marks the kernel-side crossover.
        crossover_departure: the relative departure of the test MSE from eigenlearning that marks
            the test-side crossover.
        crossover_factor: the two crossover scales agree within this factor.
        feature_rise: the support enrichment that marks the feature-side crossover.
        trained: precondition: every run's final training MSE at most this × its initial one.
        settled: precondition: at the lazy end the linearised dynamics' test MSE at the last step
            within this relative gap of its limit (the interpolant eigenlearning describes).

    Examples:
        >>> Targets().test_mse, Targets().learnability, Targets(rich_distance=0.5).rich_distance
        (0.1, 0.05, 0.5)
    """

    test_mse: float = 0.10
    learnability: float = 0.05
    half_time: float = 0.20
    lazy_distance: float = 0.05
    lazy_slope: float = -1.0
    rich_distance: float = 0.3
    alignment_rise: float = 2.0
    enrichment: float = 3.0
    crossover_distance: float = 0.1
    crossover_departure: float = 0.10
    crossover_factor: float = 3.0
    feature_rise: float = 1.1
    trained: float = 0.1
    settled: float = 0.02


def theory(run: Run) -> dict:
    """Eigenlearning and the linearised dynamics from the run's initial tangent kernel on the whole cube.

    Examples:
        >>> found = theory(bridge.load_run("runs/kl")); found["prediction"].test_mse, found["learnability"]  # one learnability per target term  # doctest: +SKIP
    """
    data, kernel = run.task_data(), initial_kernel(run)
    n, info = len(data.train), data.info
    target, terms = info["cube_target"].numpy(), cube_terms(info)
    lam, coef, phi = eigenlearning.domain_spectrum(kernel, target)
    pred = eigenlearning.predict(lam, coef, n)
    learn = [eigenlearning.expected_fraction(pred, phi, coef, g) for g in terms]  # each term's, with the others' leak
    steps = run.curve("walsh/fraction", term=0)[0]
    lr = run.config.train.lr
    found = linearised(kernel, info["train_index"].numpy(), target, 2 * lr, steps, terms, info["coefficients"])  # mse: 2η
    modes, mult = target_modes(kernel, terms, info["subsets"])
    power = np.concatenate([np.zeros(mult.size - len(terms)), np.asarray(info["coefficients"], dtype=float)])
    weight = eigenlearning.elasticity(modes, power, n, multiplicities=mult)
    return {**found, "prediction": pred, "learnability": learn, "steps": steps, "degree_eigenvalues": degree_eigenvalues(kernel), "modes": modes, "elasticity": weight, "degrees": list(info["degrees"]), "lr": lr, "n": n}


def target_modes(kernel: np.ndarray, terms: list[np.ndarray], subsets: Iterable[Collection[int]]) -> tuple[np.ndarray, np.ndarray]:
    """The kernel's per-degree spectrum on the cube with each target term as a mode of its own.

    Degree ``k``'s eigenvalue is the mean of ``E_{x,x'}[χ_S(x) K(x, x') χ_S(x')]`` over the ``C(d, k)``
    Walsh functions of that degree (:func:`bridge.tasks.boolean_cube.degree_eigenvalues`); here the target's
    terms are taken out of their degree's mean and kept as modes of multiplicity 1, so a kernel that grows
    along the target alone shows it. A permutation-invariant kernel gives each term its degree's eigenvalue.

    Args:
        kernel: ``(2^d, 2^d)`` on the whole cube; terms: each target term ``χ_S`` on the cube, ``(2^d,)``; subsets: their ``S``.

    Returns:
        ``(eigenvalues, multiplicities)``, each ``(d + 1 + terms,)``: degrees 0 … d without the target's terms, then the terms.

    Examples:
        >>> from bridge.tasks.boolean_cube import cube_points
        >>> x = cube_points(3).double().numpy()
        >>> lam, mult = target_modes(x @ x.T, [x[:, 0]], [(0,)])   # K = x·x': degree 1 only
        >>> lam.tolist(), mult.tolist()
        ([0.0, 1.0, 0.0, 0.0, 1.0], [1.0, 2.0, 3.0, 1.0, 1.0])
    """
    per_degree = np.asarray(degree_eigenvalues(kernel), dtype=float)
    d, size = per_degree.size - 1, kernel.shape[0]
    own = np.array([float(g @ kernel @ g) / size**2 for g in terms])
    degree = [len(s) for s in subsets]
    mult = eigenlearning.cube_multiplicities(d) - np.bincount(degree, minlength=d + 1)
    rest = eigenlearning.cube_multiplicities(d) * per_degree - np.bincount(degree, weights=own, minlength=d + 1)
    rest = np.where(mult > 0, np.clip(rest, 0.0, None) / np.maximum(mult, 1), per_degree)
    return np.concatenate([rest, own]), np.concatenate([mult, np.ones(len(terms))])


def first_order_shift(elasticity: np.ndarray, before: np.ndarray, after: np.ndarray) -> float:
    """``Σⱼ eⱼ log(λⱼ'/λⱼ)``: eigenlearning's log test MSE moved to first order in the log eigenvalues (modes at 0 before are left out).

    At zero ridge the elasticities sum to zero, so a kernel scaled as a whole (``α²`` of the lazy model) moves nothing.

    Examples:
        >>> round(first_order_shift(np.array([0.5, -0.5]), np.array([1.0, 1.0]), np.array([2.0, 4.0])), 6)   # -0.5 log 2
        -0.346574
    """
    keep = (before > 0) & (after > 0)
    return float(elasticity[keep] @ np.log(after[keep] / before[keep]))


def linearised(kernel: np.ndarray, train: np.ndarray, target: np.ndarray, lr: float, steps: np.ndarray, terms: list[np.ndarray], coefficients: Sequence[float]) -> dict:
    """Kernel gradient descent from zero with ``kernel`` on the whole domain: each term's learned fraction over ``steps`` and at t → ∞.

    ``stability`` is ``η λ̂_max / n`` of the training Gram matrix; at 2 or above gradient
    descent of the linearised model diverges, and every other entry is NaN (the report's
    stability precondition then fails) rather than an error.

    Args:
        kernel: ``(N, N)`` on the domain; ``train``: the training rows ``(n,)``; ``target``: ``(N,)``;
        lr: ``η`` of the loss ``(1/2n) Σ (f − y)²``; ``steps``: ``(times,)``;
        terms: each Walsh term on the domain, ``(N,)``; ``coefficients``: their coefficients in the target.

    Returns:
        ``{"stability", "fractions": [(times,)], "limits": [float], "descent_mse", "limit_mse"}``.

    Examples:
        >>> out = linearised(np.eye(4), np.arange(4), np.ones(4), 0.5, np.arange(3.0), [np.ones(4)], [1.0])
        >>> out["fractions"][0].tolist(), out["limits"], out["stability"]
        ([0.0, 0.125, 0.234375], [1.0], 0.125)
    """
    n = len(train)
    stability = lr * float(np.linalg.eigvalsh(kernel[np.ix_(train, train)])[-1]) / n
    if stability < 2:
        curve = kernel_descent(kernel, train, target[train], lr, np.append(steps, np.inf))  # the last row is t → ∞
    else:
        curve = np.full((len(steps) + 1, len(target)), np.nan)
    fractions = [curve[:-1] @ g / len(g) / c for g, c in zip(terms, coefficients)]
    limits = [float(curve[-1] @ g / len(g) / c) for g, c in zip(terms, coefficients)]
    descent_mse, limit_mse = (float(((row - target) ** 2).mean()) for row in curve[-2:])
    return {"stability": stability, "fractions": fractions, "limits": limits, "descent_mse": descent_mse, "limit_mse": limit_mse}


def sweep(runs: Mapping[str, Run]) -> dict:
    """Per α (largest first): final cube MSE, per-term fractions, kernel distance and alignment, support enrichment, loss ratio,
    and the final kernel on the cube as :func:`target_modes`.

    Examples:
        >>> [(r["alpha"], r["distance"]) for r in sweep(runs)["rows"]]  # runs: key -> finished run of the study  # doctest: +SKIP
    """
    rows = []
    for alpha, run in by_alpha(runs):
        top = max(len(t) for t in run.config.task.subsets)
        info = run.task_data().info
        rows.append({
            "alpha": alpha, **outcome(run), "top_residual": final(run, "walsh/residual", degree=top), "distance": final(run, "kernel/distance"),
            "alignment": tuple(run.curve("kernel/alignment")[1][[0, -1]]), "enrichment": tuple(run.curve("features/support_enrichment")[1][[0, -1]]),
            "modes": target_modes(cube_kernel(run), cube_terms(info), info["subsets"])[0],
        })
    return {"rows": rows, "alphas": np.array([r["alpha"] for r in rows])}


def term_label(subset: tuple[int, ...]) -> str:
    """A Walsh term's label for rows and figures.

    Examples:
        >>> term_label((0, 1))
        'χ_{0,1} (degree 2)'
    """
    return f"χ_{{{','.join(map(str, subset))}}} (degree {len(subset)})"


def observe(runs: Mapping[str, Run]) -> dict:
    """Everything the report judges, as plain data: the theory of the lazy end, the sweep, the lazy end's term trajectories.

    Examples:
        >>> sorted(observe(runs))  # runs: key -> finished run of the study  # doctest: +SKIP
    """
    ordered = by_alpha(runs)
    lazy = ordered[0][1]
    task = lazy.config.task
    return {"theory": theory(lazy), "sweep": sweep(runs), "draws": draws(runs), "kernel_sets": kernel_over_sets(runs),
            "curves": [lazy.curve("walsh/fraction", term=i) for i in range(len(task.subsets))], "subsets": task.subsets, "coefficients": task.coefficients,
            "seed": lazy.config.seed, "paths": {f"{a:g}": "." if r.path == lazy.path else str(r.path.relative_to(lazy.path)) for a, r in ordered}, "size": 2**task.d}


def judge_lazy(obs: dict, targets: Targets, report: BridgeReport) -> None:
    """The lazy end's rows: test MSE and learnabilities from eigenlearning (on the mean over training sets), half-times and order from the linearised dynamics.

    Examples:
        >>> report = BridgeReport("kernel-limit", "custom", 0); judge_lazy(observe(runs), Targets(), report)  # runs: key -> finished run of the study  # doctest: +SKIP
    """
    found, first, drawn = obs["theory"], obs["sweep"]["rows"][0], obs["draws"]
    pred, tag, k = found["prediction"], f"lazy end α={first['alpha']:g}", len(drawn["cube_mse"])
    over = f"{tag}, mean over {k} training set{'s' * (k > 1)}"
    mse = float(np.mean(drawn["cube_mse"]))
    err = abs(mse / pred.test_mse - 1)
    report.checks.append(check(f"{over}: cube MSE vs eigenlearning from the initial NTK ({mse:.4g} vs {pred.test_mse:.4g})", err, f"<= {targets.test_mse:g} (relative error)", err <= targets.test_mse, key=f"{tag}: mean cube MSE over training sets vs eigenlearning from the initial NTK",
              claim="at large output scale the trained network's test error, averaged over training sets, is the kernel's, predicted from the initial NTK's spectrum", source=EIGENLEARNING, depends_on=("n_train", "width")))
    subsets = obs["subsets"]
    for i, subset in enumerate(subsets):
        frac = float(np.mean(drawn["fractions"][:, i]))
        report.checks.append(check(f"{over}: learned fraction of {term_label(subset)} vs its learnability {found['learnability'][i]:.3f}", frac, f"within {targets.learnability:g}", abs(frac - found["learnability"][i]) <= targets.learnability,
                  key=f"{tag}: mean learned fraction of {term_label(subset)} over training sets vs its learnability", claim="each Walsh term is learned, on average over training sets, to the fraction eigenlearning predicts", source=EIGENLEARNING, depends_on=("n_train",)))
    # for the reader: one training set against eigenlearning's average, and against its own kernel prediction
    one = abs(first["cube_mse"] / pred.test_mse - 1)
    spread = f"; spread over training sets {np.std(drawn['cube_mse'], ddof=1) / pred.test_mse:.1%} of the prediction" if k > 1 else ""
    report.checks.append(check(f"{tag}, this training set alone: cube MSE vs eigenlearning ({first['cube_mse']:.4g}{spread})", one, f"<= {targets.test_mse:g}", one <= targets.test_mse, role="info", source=EIGENLEARNING,
                               key=f"{tag}, this training set alone: cube MSE vs eigenlearning"))
    gap = float(np.max(np.abs(np.subtract(first["fractions"], found["learnability"]))))  # a NaN stays NaN (max() would skip it)
    report.checks.append(check(f"{tag}, this training set alone: largest gap of a term's learned fraction from its learnability", gap, f"<= {targets.learnability:g}", gap <= targets.learnability, role="info", source=EIGENLEARNING))
    own = abs(first["cube_mse"] / found["descent_mse"] - 1)
    gap = float(np.max(np.abs(np.subtract(first["fractions"], [f[-1] for f in found["fractions"]]))))
    report.checks += [
        check(f"{tag}: cube MSE vs kernel gradient descent with K₀ on this training set ({first['cube_mse']:.4g} vs {found['descent_mse']:.4g})", own, f"<= {targets.test_mse:g}", own <= targets.test_mse, role="info", source=LINEARISED,
              key=f"{tag}: cube MSE vs kernel gradient descent with K₀ on this training set"),
        check(f"{tag}: largest gap of a term's learned fraction from kernel gradient descent with K₀ on this training set", gap, f"<= {targets.learnability:g}", gap <= targets.learnability, role="info", source=LINEARISED),
    ]
    judge_kernel_sets(obs, targets, report, tag)
    halves = []
    for i, subset in enumerate(subsets):
        steps, observed = obs["curves"][i]
        theory_curve = found["fractions"][i]
        level = found["limits"][i] / 2  # half of what the linearised dynamics learn at t → ∞
        predicted = threshold_crossing(steps, theory_curve, level, name=f"{term_label(subset)} linearised half-time", observable="walsh/fraction")
        seen = threshold_crossing(steps, observed, level, name=f"{term_label(subset)} reaches {level:.3f}", observable="walsh/fraction")
        halves.append(None if seen is None else seen.step)
        report.matches.append(match(f"{tag}: {term_label(subset)} learned at the linearised half-time", None if predicted is None else predicted.step, seen, None, targets.half_time, require_mechanism=False,
                  detail={"term": i, "degree": len(subset)}, claim="in the lazy regime each term's coefficient follows the linearised (kernel) gradient descent", source=LINEARISED))
    lam = found["degree_eigenvalues"]
    eig = [lam[len(s)] for s in subsets]
    pairs = [(a, b) for a in range(len(subsets)) for b in range(len(subsets)) if eig[a] > eig[b] * 1.01]
    good = sum(ha is not None and hb is not None and ha < hb for ha, hb in ((halves[a], halves[b]) for a, b in pairs))
    order = good / len(pairs) if pairs else float("nan")
    report.checks.append(check(f"{tag}: terms learned in order of their degree's eigenvalue ({', '.join(f'λ_{len(s)}={e:.3g}' for s, e in zip(subsets, eig))})", order, "== 1 (fraction of ordered pairs)", order == 1.0,
              key=f"{tag}: terms learned in order of their degree's eigenvalue", claim="spectral bias: modes with larger kernel eigenvalue are learned first", source="Bordelon et al. 2020; Jacot et al. 2018"))


def judge_kernel_sets(obs: dict, targets: Targets, report: BridgeReport, tag: str) -> None:
    """Information rows that split the lazy end's gap to eigenlearning: the network against the K₀ interpolants on its own
    training sets, and eigenlearning against the K₀ interpolants averaged over further training sets.

    ``obs`` needs ``draws`` (``cube_mse`` ``(draws,)``, ``fractions`` ``(draws, terms)``), ``theory``
    (``prediction``, ``learnability``) and ``kernel_sets`` (:func:`~case_studies.kernel_limit.runs.kernel_over_sets`).

    Examples:
        >>> from bridge.report import BridgeReport; from bridge.theory.eigenlearning import predict
        >>> obs = {"draws": {"cube_mse": np.array([0.3, 0.5]), "fractions": np.array([[0.6], [0.8]])}, "theory": {"prediction": predict([1.0, 1.0, 1.0], [1.0, 0.0, 0.0], n=2), "learnability": [2 / 3]},
        ...        "kernel_sets": {"same": {"sets": 2, "cube_mse": 0.4, "fractions": [0.72]}, "further": {"sets": 100, "cube_mse": 0.36, "fractions": [0.65]}}}
        >>> report = BridgeReport("kernel-limit", "custom", 0); judge_kernel_sets(obs, Targets(), report, "lazy end")
        >>> [(round(r.value, 4), r.passed) for r in report.checks]   # network vs same sets: MSE, fractions; eigenlearning (MSE 1/3) vs further sets
        [(0.0, True), (0.02, True), (0.0741, True), (0.0167, True)]
    """
    sets, drawn, found = obs["kernel_sets"], obs["draws"], obs["theory"]
    same, further = sets["same"], sets["further"]
    net_mse, net_fractions = float(np.mean(drawn["cube_mse"])), np.mean(drawn["fractions"], axis=0)
    pairs = [  # (name, key, the compared mean, its reference)
        (f"{tag}: the network's mean over its {same['sets']} training sets vs the K₀ interpolants on the same sets", f"{tag}: the network vs the K₀ interpolants on its training sets",
         (net_mse, net_fractions), (same["cube_mse"], same["fractions"]), LINEARISED),
        (f"eigenlearning vs the K₀ interpolants averaged over {further['sets']} further training sets", "eigenlearning vs the K₀ interpolants averaged over further training sets",
         (found["prediction"].test_mse, found["learnability"]), (further["cube_mse"], further["fractions"]), EIGENLEARNING),
    ]
    for name, key, (mse, fractions), (ref_mse, ref_fractions), source in pairs:
        err = abs(mse / ref_mse - 1)
        gap = float(np.max(np.abs(np.asarray(fractions) - np.asarray(ref_fractions))))
        report.checks += [
            check(f"{name}: cube MSE ({mse:.4g} vs {ref_mse:.4g})", err, f"<= {targets.test_mse:g} (relative)", err <= targets.test_mse, role="info", source=source, key=f"{key}: cube MSE"),
            check(f"{name}: largest gap of a term's learned fraction", gap, f"<= {targets.learnability:g}", gap <= targets.learnability, role="info", source=source, key=f"{key}: largest fraction gap"),
        ]


def analyse_runs(runs: Mapping[str, Run], targets: Targets = Targets()) -> BridgeReport:
    """The bridge report over the runs of every output scale (pure: reads the runs); it keeps
    :func:`observe`'s observations for the figures (:attr:`~bridge.report.BridgeReport.observations`).

    Examples:
        >>> report = analyse_runs({"main": bridge.load_run("runs/kl")} | aux)   # doctest: +SKIP
        >>> report.extra["crossover"]                                           # doctest: +SKIP
    """
    obs = observe(runs)
    report = judge(obs, targets)
    report.observations = obs
    return report


def judge(obs: dict, targets: Targets = Targets()) -> BridgeReport:
    """The report from the observations of :func:`observe` (a pure function of numbers); a measurement that is not finite passes no row.

    Examples:
        >>> judge(observe(runs), Targets()).verdict  # runs: key -> finished run of the study  # doctest: +SKIP
    """
    found, rows, alphas = obs["theory"], obs["sweep"]["rows"], obs["sweep"]["alphas"]
    lazy_alpha, rich_alpha = rows[0]["alpha"], rows[-1]["alpha"]
    report = BridgeReport("kernel-limit", "custom", obs["seed"])
    worst = float(np.max([r["loss_ratio"] for r in rows] + list(obs["draws"]["loss_ratio"])))  # a NaN ratio fails (max() would skip it)
    report.checks.append(check("every run trained (largest final / initial training MSE over α)", worst, f"<= {targets.trained:g}", worst <= targets.trained, role="precondition"))
    report.checks.append(check(f"lazy end: linearised gradient descent is stable (2η λ̂_max / n at α={lazy_alpha:g})", found["stability"], "< 2", found["stability"] < 2, role="precondition"))
    settled = abs(found["descent_mse"] / found["limit_mse"] - 1)
    report.checks.append(check("lazy end: the linearised test MSE at the last step is at its t → ∞ (interpolating) limit (relative gap)", settled, f"<= {targets.settled:g}", settled <= targets.settled, role="precondition",
                               claim="ridgeless eigenlearning describes the interpolant: training must be long enough to reach it in test error"))
    judge_lazy(obs, targets, report)
    dist = np.array([r["distance"] for r in rows])
    report.checks.append(check(f"lazy end α={lazy_alpha:g}: final kernel distance", dist[0], f"< {targets.lazy_distance:g}", bool(np.isfinite(dist[0]) and dist[0] < targets.lazy_distance), claim="at large output scale the tangent kernel stays at its initial value", source=LAZY))
    half = alphas >= np.median(alphas)
    lazy = np.maximum(dist[half], 1e-300)
    slope, lo, hi = loglog_slope(alphas[half], lazy) if np.isfinite(lazy).all() else (float("nan"),) * 3  # a diverged distance: the check fails
    report.checks.append(check(f"lazy half (α ≥ {alphas[half].min():g}): log-log slope of final kernel distance vs α (95 % interval [{lo:.2f}, {hi:.2f}])", slope, f"interval's upper end <= {targets.lazy_slope:g}", hi <= targets.lazy_slope,
              key="lazy half: log-log slope of final kernel distance vs α", claim="the kernel moves as α⁻¹ or faster as the output scale grows", source=LAZY))
    tag = f"rich end α={rich_alpha:g}"
    report.checks.append(check(f"{tag}: final kernel distance", dist[-1], f"> {targets.rich_distance:g}", bool(np.isfinite(dist[-1]) and dist[-1] > targets.rich_distance), claim="at small output scale the tangent kernel moves far from its initial value", source=RICH))
    a0, a1 = rows[-1]["alignment"]
    report.checks.append(check(f"{tag}: kernel–target alignment, final / initial ({a0:.3f} → {a1:.3f})", a1 / a0, f">= {targets.alignment_rise:g}", bool(np.isfinite([a0, a1]).all() and a1 >= targets.alignment_rise * a0),
                               key=f"{tag}: kernel–target alignment, final / initial", claim="the moving kernel aligns with the target", source="Baratin et al. 2021; Fort et al. 2020"))
    e0, e1 = rows[-1]["enrichment"]
    report.checks.append(check(f"{tag}: first-layer weight share on the support, final / at init", e1 / e0, f">= {targets.enrichment:g}", bool(np.isfinite([e0, e1]).all() and e1 >= targets.enrichment * e0),
                               claim="features learn the target's coordinates: the first layer concentrates on the support", source=RICH))
    degree = max(len(t) for t in obs["subsets"])
    kernel_residual = sum((1 - L) ** 2 * c**2 for t, L, c in zip(obs["subsets"], found["learnability"], obs["coefficients"]) if len(t) == degree)
    report.checks.append(check(f"{tag}: degree-{degree} residual power on the cube vs the kernel's predicted {kernel_residual:.4f}", rows[-1]["top_residual"], f"< {kernel_residual:.4f}", bool(np.isfinite(rows[-1]["top_residual"]) and rows[-1]["top_residual"] < kernel_residual),
                               key=f"{tag}: degree-{degree} residual power on the cube vs the kernel's prediction", claim=f"features beat the kernel on the degree-{degree} term", source=RICH))
    departure = np.abs(np.array([r["cube_mse"] for r in rows]) / found["prediction"].test_mse - 1)
    a_kernel = crossing(alphas, dist, targets.crossover_distance)
    a_test = crossing(alphas, departure, targets.crossover_departure)
    a_feat = crossing(alphas, np.array([r["enrichment"][1] / r["enrichment"][0] for r in rows]), targets.feature_rise)
    ratio = None if a_kernel is None or a_test is None else max(a_kernel, a_test) / min(a_kernel, a_test)
    why = "" if ratio is not None else ("the kernel distance never crosses " if a_kernel is None else "the test MSE never departs from eigenlearning coming from the lazy end (or already at it) by ") + (f"{targets.crossover_distance:g}" if a_kernel is None else f"{targets.crossover_departure:.0%}")
    report.checks.append(check(f"crossover: α where the kernel distance reaches {targets.crossover_distance:g} ({_fmt(a_kernel)}) vs α where the test MSE departs from eigenlearning by {targets.crossover_departure:.0%} ({_fmt(a_test)}), ratio", ratio,
                               f"<= {targets.crossover_factor:g}", ratio is not None and ratio <= targets.crossover_factor,
                               key="crossover: α where the kernel distance leaves its initial value vs α where the test MSE leaves eigenlearning, ratio", claim="the kernel leaves its initial value where the test error leaves the kernel prediction", source=LAZY, reason=why))
    same = a_feat is not None and a_kernel is not None and a_feat <= targets.crossover_factor * a_kernel
    report.checks.append(check(f"crossover: α where the support enrichment reaches {targets.feature_rise:g} ({_fmt(a_feat)}) is on the rich side of the kernel crossover (≤ {targets.crossover_factor:g} × {_fmt(a_kernel)})", a_feat,
                               f"<= {targets.crossover_factor:g} × kernel crossover", same,
                               key="crossover: the support enrichment is on the rich side of the kernel crossover", claim="features move on the same side of the crossover as the kernel", source=RICH, reason="" if same or (a_feat and a_kernel) else "a crossover is absent"))
    own = np.abs(np.array([r["cube_mse"] for r in rows]) / found["descent_mse"] - 1)  # against the same training set's kernel descent: no draw spread
    a_own = crossing(alphas, own, targets.crossover_departure) if np.isfinite(own).all() else None
    ratio = None if a_own is None or a_kernel is None else max(a_own, a_kernel) / min(a_own, a_kernel)
    report.checks.append(check(f"test MSE against kernel gradient descent with K₀ on the same training set: α where it departs by {targets.crossover_departure:.0%} ({_fmt(a_own)}), ratio to the kernel crossover ({_fmt(a_kernel)})", ratio,
                               f"<= {targets.crossover_factor:g}", ratio is not None and ratio <= targets.crossover_factor, role="info", source=LINEARISED,
                               key="test MSE against kernel descent on the same training set: α where it departs, ratio to the kernel crossover"))
    rise = np.array([r["alignment"][1] / r["alignment"][0] for r in rows])  # the target-relevant part of the kernel's motion
    a_align = crossing(alphas, rise, 1 + targets.crossover_departure)
    ratio = None if a_own is None or a_align is None else max(a_own, a_align) / min(a_own, a_align)
    report.checks.append(check(f"kernel–target alignment: α where it has risen by {targets.crossover_departure:.0%} ({_fmt(a_align)}), ratio to where the test MSE departs from the same set's kernel descent ({_fmt(a_own)})", ratio,
                               f"<= {targets.crossover_factor:g}", ratio is not None and ratio <= targets.crossover_factor, role="info", source="Baratin et al. 2021",
                               key="kernel–target alignment: α where it rises, ratio to where the test MSE leaves the same set's kernel descent"))
    shift = np.array([first_order_shift(found["elasticity"], found["modes"], r["modes"]) for r in rows])  # the kernel's change along the target, in eigenlearning's log test MSE
    a_first = crossing(alphas, np.abs(np.expm1(shift)), targets.crossover_departure)
    ratio = None if a_own is None or a_first is None else max(a_own, a_first) / min(a_own, a_first)
    report.checks.append(check(f"eigenlearning moved to first order by the final kernel's change along the target's terms: α where it departs by {targets.crossover_departure:.0%} ({_fmt(a_first)}), ratio to where the test MSE departs from the same set's kernel descent ({_fmt(a_own)})", ratio,
                               f"<= {targets.crossover_factor:g}", ratio is not None and ratio <= targets.crossover_factor, role="info", source=EIGENLEARNING,
                               key="eigenlearning moved by the kernel's change along the target: α where it departs, ratio to where the test MSE leaves the same set's kernel descent"))
    report.extra["sweep"] = [{**r, "alignment": list(r["alignment"]), "enrichment": list(r["enrichment"]), "modes": np.asarray(r["modes"]).tolist(), "first_order_shift": float(v)} for r, v in zip(rows, shift)]
    drawn = obs["draws"]
    report.extra["draws"] = {"draw": list(drawn["draw"]), "cube_mse": np.asarray(drawn["cube_mse"]).tolist(), "fractions": np.asarray(drawn["fractions"]).tolist()}
    report.extra["kernel_sets"] = obs["kernel_sets"]
    report.extra["eigenlearning"] = {"test_mse": found["prediction"].test_mse, "kappa": found["prediction"].kappa, "learnability": found["learnability"], "degree_eigenvalues": found["degree_eigenvalues"][:4].tolist(), "modes": np.asarray(found["modes"]).tolist(), "elasticity": np.asarray(found["elasticity"]).tolist()}
    report.extra["crossover"] = {"kernel_distance": a_kernel, "test_mse": a_test, "features": a_feat, "test_mse_own_set": a_own, "alignment": a_align, "kernel_along_target": a_first}
    report.extra["runs"] = obs["paths"]
    report.notes.append(f"eigenlearning from the initial NTK on all {obs['size']} cube points: κ={found['prediction'].kappa:.4g}, test MSE {found['prediction'].test_mse:.4g}; cube MSE is E_x (f − f*)² over the uniform cube (what the theory predicts)")
    terms = len(obs["subsets"])
    report.notes.append("how eigenlearning's test MSE hinges on K₀'s eigenvalue along each target term, ∂ log MSE / ∂ log λ: " + ", ".join(f"{term_label(t)} {e:+.3f}" for t, e in zip(obs["subsets"], found["elasticity"][-terms:]))
                        + "; on the rest of degrees 1-3: " + ", ".join(f"{e:+.3f}" for e in found["elasticity"][1:4]))
    report.notes.append("per α (largest first): " + "; ".join(f"α={r['alpha']:g}: MSE {r['cube_mse']:.3g}, distance {r['distance']:.2g}, enrichment {r['enrichment'][1] / r['enrichment'][0]:.2f}" for r in rows))
    report.events = [{"type": "crossover", "name": k, "alpha": v} for k, v in report.extra["crossover"].items()]
    return report


def _fmt(value: float | None) -> str:
    return "none" if value is None else f"{value:.3g}"
