"""Reading the ``kernel-limit`` runs: the sweep in order of output scale, the lazy end's training sets, what each
run ends with, the initial tangent kernel on the whole cube, and kernel interpolants averaged over training sets."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from bridge.estimators.ntk import empirical_ntk
from bridge.runs.checkpoints import checkpoint_path
from bridge.runs.run import Run
from bridge.tasks.boolean_cube import cube_points, make_boolean_cube
from bridge.theory import linearised

FURTHER_SETS = 100  # training sets, beyond the trained ones, over which the K₀ interpolant is averaged for the reader


def by_alpha(runs: Mapping[str, Run]) -> list[tuple[float, Run]]:
    """``(α, run)`` pairs of the sweep (each seed's own training set), largest α (the lazy end) first.

    Examples:
        >>> from types import SimpleNamespace
        >>> from case_studies.kernel_limit import PRESETS, run_config
        >>> runs = {k: SimpleNamespace(config=run_config(PRESETS["quick"], a, 0, d)) for k, a, d in [("alpha_0.5", 0.5, 0), ("main", 50.0, 0), ("draw_1", 50.0, 1)]}
        >>> [a for a, _ in by_alpha(runs)]   # the draw is left out
        [50.0, 0.5]
    """
    return sorted(((float(r.config.model.alpha), r) for r in runs.values() if not r.config.task.draw), key=lambda p: -p[0])


def lazy_draws(runs: Mapping[str, Run]) -> list[Run]:
    """The lazy end's runs on every training set (the main run's first), all at the largest α.

    Examples:
        >>> from types import SimpleNamespace
        >>> from case_studies.kernel_limit import PRESETS, run_config
        >>> runs = {k: SimpleNamespace(config=run_config(PRESETS["quick"], a, 0, d)) for k, a, d in [("draw_1", 50.0, 1), ("alpha_0.5", 0.5, 0), ("main", 50.0, 0)]}
        >>> [r.config.task.draw for r in lazy_draws(runs)]
        [0, 1]
    """
    top = max(float(r.config.model.alpha) for r in runs.values())
    return sorted((r for r in runs.values() if float(r.config.model.alpha) == top), key=lambda r: r.config.task.draw)


@lru_cache(maxsize=32)
def _cube_kernel(path: str, step: int, mtime: float) -> np.ndarray:
    from bridge.runs.run import load_run

    run = load_run(path)
    model = run.model_at(step)
    return empirical_ntk(model, cube_points(run.config.task.d).to(next(model.parameters()).dtype), chunk_size=256).double().numpy()


def initial_kernel(run: Run) -> np.ndarray:
    """The tangent kernel at initialisation on every point of the cube, ``(2^d, 2^d)`` (cached per run).

    Examples:
        >>> from bridge import load_run; initial_kernel(load_run("runs/kernel-limit")).shape  # d = 8: (256, 256)  # doctest: +SKIP
    """
    return cube_kernel(run, 0)


def cube_kernel(run: Run, step: int | None = None) -> np.ndarray:
    """The tangent kernel of the run's checkpoint at ``step`` (default: its last) on every point of the cube, ``(2^d, 2^d)`` (cached).

    Examples:
        >>> from bridge import load_run; run = load_run("runs/kernel-limit"); cube_kernel(run).shape == initial_kernel(run).shape  # doctest: +SKIP
        True
    """
    step = run.steps[-1] if step is None else step
    return _cube_kernel(str(run.path), step, checkpoint_path(run.path, step).stat().st_mtime)


def cube_terms(info: Mapping) -> list[np.ndarray]:
    """Each Walsh term of the target on every cube point, ``(2^d,)`` each, from a Boolean-cube task's ``info``.

    Examples:
        >>> terms = cube_terms({"d": 2, "subsets": ((0,), (0, 1))})   # χ_{0,1} = x₀x₁: mean 0 on the cube
        >>> [t.shape for t in terms], float(terms[1].sum()), float(terms[1] @ terms[1])
        ([(4,), (4,)], 0.0, 4.0)
    """
    points = cube_points(info["d"]).double().numpy()
    return [np.prod(points[:, list(s)], axis=1) for s in info["subsets"]]


def final(run: Run, name: str, **index: Any) -> float:
    """The last value of an observable (``run.curve(name, **index)``'s last entry).

    Examples:
        >>> from types import SimpleNamespace
        >>> final(SimpleNamespace(curve=lambda name, **index: (np.arange(3.0), np.array([1.0, 0.5, 0.25]))), "loss/train")
        0.25
    """
    return float(run.curve(name, **index)[1][-1])


def outcome(run: Run) -> dict:
    """What one run ends with, on the cube: ``cube_mse``, each term's learned ``fractions`` and the final / initial training loss ``loss_ratio``.

    Examples:
        >>> from types import SimpleNamespace
        >>> from case_studies.kernel_limit import PRESETS, run_config
        >>> ends = {"loss/train": 0.05, "walsh/cube_mse": 0.2, "walsh/fraction": 0.9}   # each curve goes from 1.0 to these
        >>> outcome(SimpleNamespace(config=run_config(PRESETS["quick"], 50.0, 0), curve=lambda name, **index: (np.arange(2.0), np.array([1.0, ends[name]]))))
        {'cube_mse': 0.2, 'fractions': [0.9, 0.9, 0.9], 'loss_ratio': 0.05}
    """
    loss = run.curve("loss/train")[1]
    terms = len(run.config.task.subsets)
    return {"cube_mse": final(run, "walsh/cube_mse"), "fractions": [final(run, "walsh/fraction", term=i) for i in range(terms)], "loss_ratio": float(loss[-1] / loss[0])}


def draws(runs: Mapping[str, Run]) -> dict:
    """The lazy end over training sets: each one's draw index, final cube MSE ``(draws,)``, per-term fractions ``(draws, terms)`` and loss ratio.

    Examples:
        >>> from types import SimpleNamespace
        >>> from case_studies.kernel_limit import PRESETS, run_config
        >>> stand_in = lambda draw, mse: SimpleNamespace(config=run_config(PRESETS["quick"], 50.0, 0, draw), curve=lambda name, **index: (np.arange(2.0), np.array([1.0, mse])))
        >>> out = draws({"main": stand_in(0, 0.2), "draw_1": stand_in(1, 0.4)}); out["draw"], out["cube_mse"].tolist(), out["fractions"].shape
        ([0, 1], [0.2, 0.4], (2, 3))
    """
    found = lazy_draws(runs)
    ends = [outcome(r) for r in found]
    return {"draw": [r.config.task.draw for r in found], "cube_mse": np.array([e["cube_mse"] for e in ends]), "fractions": np.array([e["fractions"] for e in ends]), "loss_ratio": [e["loss_ratio"] for e in ends]}


def interpolants(kernel: np.ndarray, sets: list[np.ndarray], target: np.ndarray, terms: list[np.ndarray], coefficients: Sequence[float]) -> dict:
    """The kernel's interpolant on each training set, averaged over the sets: cube MSE and each term's learned fraction.

    The interpolant is the minimum-norm one (:func:`bridge.theory.linearised.interpolant`), the ``t → ∞`` limit of
    kernel gradient descent from zero (what the lazy end converges to); a Gram matrix of lower rank than the set
    (fewer parameters than points) is fine.

    Args:
        kernel: ``(N, N)`` on the domain; sets: training rows of each set, each ``(n,)``; target: ``(N,)``;
        terms: each Walsh term on the domain, ``(N,)``; coefficients: their coefficients in the target.

    Returns:
        ``{"sets", "cube_mse", "fractions"}``: the number of sets, and the means over them.

    Examples:
        >>> out = interpolants(np.eye(4), [np.array([0, 1])], np.ones(4), [np.ones(4)], [1.0])
        >>> out["cube_mse"], out["fractions"]
        (0.5, [0.5])
    """
    mse, fractions = [], []
    for rows in sets:
        f = linearised.interpolant(kernel, rows, target[rows])
        mse.append(float(((f - target) ** 2).mean()))
        fractions.append([float(f @ g / len(g) / c) for g, c in zip(terms, coefficients)])
    return {"sets": len(sets), "cube_mse": float(np.mean(mse)), "fractions": np.mean(fractions, axis=0).tolist()}


def kernel_over_sets(runs: Mapping[str, Run]) -> dict:
    """The initial kernel's interpolant averaged over the lazy end's own training sets (``same``) and over
    :data:`FURTHER_SETS` further training sets the seed draws (``further``): what the network's mean and eigenlearning are compared with.

    Examples:
        >>> from bridge import load_run; sorted(kernel_over_sets({"main": load_run("runs/kernel-limit")}))  # doctest: +SKIP
    """
    found = lazy_draws(runs)
    main = found[0]
    data, kernel = main.task_data(), initial_kernel(main)
    info = data.info
    terms, target, config = cube_terms(info), info["cube_target"].numpy(), main.config.task
    own = [r.task_data().info["train_index"].numpy() for r in found]
    first = max(r.config.task.draw for r in found) + 1
    further = [make_boolean_cube(dataclasses.replace(config, draw=k), main.config.seed).info["train_index"].numpy() for k in range(first, first + FURTHER_SETS)]
    return {"same": interpolants(kernel, own, target, terms, info["coefficients"]), "further": interpolants(kernel, further, target, terms, info["coefficients"])}


__all__ = ["FURTHER_SETS", "by_alpha", "cube_kernel", "cube_terms", "draws", "final", "initial_kernel", "interpolants", "kernel_over_sets", "lazy_draws", "outcome"]
