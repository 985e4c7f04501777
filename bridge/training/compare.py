"""Representation similarity between runs over training: one tidy table of CKA and RSA per pair of runs and step."""

from __future__ import annotations

import itertools
import numbers
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from bridge.runs.run import Run, load_run

COLUMNS = ["step", "run_a", "run_b", "cka", "cka_debiased", "rsa"]


def _named_runs(runs: Sequence[Run | str | Path] | Mapping[str, Run | str | Path]) -> dict[str, Run]:
    """``{label: Run}``: mapping keys, else the run directories' names (their full paths when names repeat)."""
    if isinstance(runs, Mapping):
        named = {str(k): v if isinstance(v, Run) else load_run(v) for k, v in runs.items()}
        if len(named) < len(runs):
            raise ValueError(f"two runs have one label once written as text ({[str(k) for k in runs]}); give each a label of its own")
    else:
        loaded = [r if isinstance(r, Run) else load_run(r) for r in runs]
        names = [r.path.name for r in loaded]
        if len(set(names)) < len(names):
            names = [str(r.path) for r in loaded]
        if len(set(names)) < len(names):
            raise ValueError(f"the same run is given twice ({names}); pass a mapping of labels to runs to compare a run with itself")
        named = dict(zip(names, loaded))
    if len(named) < 2:
        raise ValueError(f"compare needs at least 2 runs, got {len(named)}")
    return named


def compare(
    runs: Sequence[Run | str | Path] | Mapping[str, Run | str | Path],
    hook: str,
    inputs: Tensor,
    steps: Sequence[int] | None = None,
    *,
    rsa_metric: str = "euclidean",
    rsa_method: str = "spearman",
) -> pd.DataFrame:
    """CKA (biased and debiased) and RSA between every pair of runs at hook ``hook`` on the same ``inputs``.

    Each run's model at each step (:meth:`~bridge.runs.run.Run.model_at`) is run on
    ``inputs`` and the activation at ``hook`` is read with
    :func:`probes.activations.cached_activation`; axes after the first are
    flattened into features, so row ``i`` is the representation of input ``i``
    (for a transformer's ``(batch, pos, d_model)`` activations, one row per
    sequence). Runs may differ in width: CKA and RSA compare ``(n, d1)`` with
    ``(n, d2)``. See :mod:`probes.similarity` for the estimators.

    Args:
        runs: runs or run directories, or a mapping of labels to them (labels
            name the runs in the table; a mapping may hold one run under two
            labels). Without labels, runs are named by their directory.
        hook: hook point name, e.g. ``"hook_hidden.0"``.
        inputs: ``(n, ...)`` model inputs, ``n ≥ 4``.
        steps: checkpoint steps; default: the steps every run has.
        rsa_metric: ``"euclidean"`` or ``"correlation"`` dissimilarity.
        rsa_method: ``"spearman"`` or ``"pearson"`` comparison of the dissimilarities.

    Returns:
        One row per (step, pair of runs ``run_a`` before ``run_b`` in the given
        order), columns ``step, run_a, run_b, cka, cka_debiased, rsa``.

    Raises:
        ValueError: fewer than 2 runs or 4 inputs, no shared steps, given steps that are none or not integers, or a step a run lacks.
        KeyError: ``hook`` is not a hook point of a run's model.

    Examples:
        >>> table = compare({"a": "runs/seed0", "b": "runs/seed1"}, "hook_hidden.0", torch.eye(8))  # doctest: +SKIP
        >>> table.pivot(index="step", columns=["run_a", "run_b"], values="cka")  # doctest: +SKIP
    """
    from probes.activations import cached_activation
    from probes.similarity import linear_cka, rsa

    named = _named_runs(runs)
    if not isinstance(inputs, Tensor) or inputs.ndim < 1 or inputs.shape[0] < 4:
        raise ValueError(f"inputs must be a tensor with at least 4 rows (one per input), got {getattr(inputs, 'shape', type(inputs))}")
    if rsa_metric not in ("euclidean", "correlation") or rsa_method not in ("spearman", "pearson"):
        raise ValueError(f"rsa_metric must be 'euclidean' or 'correlation' and rsa_method 'spearman' or 'pearson', got {rsa_metric!r}, {rsa_method!r}")
    available = {name: set(run.steps) for name, run in named.items()}
    if steps is None:
        steps = sorted(set.intersection(*available.values()))
        if not steps:
            raise ValueError(f"the runs share no checkpoint step: {', '.join(f'{n}: {len(s)} steps' for n, s in available.items())}")
    else:
        given = list(steps)
        bad = [s for s in given if isinstance(s, bool) or not isinstance(s, numbers.Integral)]
        if bad or not given:
            raise ValueError(f"steps must name checkpoint steps as integers, got {given!r:.120}" + (f" ({bad[0]!r} is not an integer)" if bad else " (no step)"))
        steps = [int(s) for s in given]
        for name, have in available.items():
            missing = sorted(set(steps) - have)
            if missing:
                raise ValueError(f"run {name!r} has no checkpoint at step(s) {missing}")
    rows = []
    models: dict[str, nn.Module] = {}
    for step in steps:
        acts = {}
        for name, run in named.items():
            models[name] = run.model_at(step, into=models.get(name))
            acts[name] = cached_activation(models[name], inputs, hook).reshape(inputs.shape[0], -1).to(torch.float64)
        for a, b in itertools.combinations(named, 2):
            x, y = acts[a], acts[b]
            rows.append({
                "step": step, "run_a": a, "run_b": b,
                "cka": linear_cka(x, y), "cka_debiased": linear_cka(x, y, debiased=True),
                "rsa": rsa(x, y, metric=rsa_metric, method=rsa_method),
            })
    return pd.DataFrame(rows, columns=COLUMNS)


def weakest_pair(table: pd.DataFrame, column: str = "cka_debiased") -> pd.Series:
    """The row of a :func:`compare` table with the lowest ``column``; a pair whose value is not a number counts as lowest.

    A similarity that could not be measured (``linear_cka`` is NaN when an HSIC term is not
    positive) must not let a claim over every pair pass on the others.

    Examples:
        >>> table = pd.DataFrame({"run_a": ["a", "a", "b"], "run_b": ["b", "c", "c"], "cka_debiased": [0.9, float("nan"), 0.8]})
        >>> row = weakest_pair(table); row["run_a"], row["run_b"]
        ('a', 'c')
    """
    if table.empty:
        raise ValueError("the table holds no pair of runs")
    values = table[column].to_numpy(dtype=float)
    return table.iloc[int(np.argmin(np.where(np.isnan(values), -np.inf, values)))]


__all__ = ["compare", "weakest_pair"]
