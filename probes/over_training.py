"""A probe fitted at every checkpoint of a run, on held-out splits, with a shuffled-label control."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from torch import Tensor

from probes.activations import Checkpoints, cached_activation
from probes.linear import LinearProbe

COLUMNS = ("step", "split", "score", "control_score")


def probe_over_checkpoints(
    run: Checkpoints,
    inputs: Tensor,
    labels: ArrayLike | Tensor,
    hook: str,
    estimator: Any = None,
    steps: Sequence[int] | None = None,
    test_size: float = 0.25,
    seed: int = 0,
    shuffled_control: bool = True,
) -> pd.DataFrame:
    """Fit a probe on the activation at ``hook`` at each checkpoint; score it on train and held-out items.

    One train/test split of the items is drawn from ``seed`` and used at every
    step (stratified when the probe is a classifier), so scores at different
    steps are comparable. At each step a fresh clone of the probe is fitted on
    the train items; the control is a clone fitted on the same activations with
    the train labels permuted (one permutation drawn from ``seed``), scored
    against the permuted train labels and the true test labels. A representation
    that merely memorises reaches a high train score for both; only a decodable
    feature gives a test score above the control's.

    Args:
        run: a :class:`bridge.runs.run.Run` (anything with ``steps`` and ``model_at(step)``).
        inputs: model inputs ``(n, ...)``, one per labelled item.
        labels: ``(n,)`` classes or regression targets.
        hook: hook point read by :func:`probes.activations.cached_activation`.
        estimator: a scikit-learn estimator, ``Pipeline`` or :class:`~probes.linear.LinearProbe`
            (cloned, never modified); ``None`` for ``LinearProbe()`` (logistic regression).
        steps: checkpoints to probe; ``None`` for all of ``run.steps``.
        test_size: held-out fraction (or count, when an integer ≥ 1) of the items. Default 0.25.
        seed: seeds the split and the control's label permutation. Default 0.
        shuffled_control: fit the shuffled-label control (else ``control_score`` is NaN). Default True.

    Returns:
        A tidy frame with columns ``step``, ``split`` (``"train"`` / ``"test"``),
        ``score`` (the estimator's score: accuracy, or R² for a regressor) and
        ``control_score``; two rows per step, in step order.

    Raises:
        ValueError: when ``labels`` and ``inputs`` differ in length, or a step is not a checkpoint of ``run``.

    Examples:
        >>> import tempfile, torch
        >>> from bridge import RunConfig, ScheduleConfig, TrainConfig, train
        >>> from bridge.models import DeepLinearConfig
        >>> from bridge.tasks import HierarchyConfig
        >>> cfg = RunConfig(HierarchyConfig(depth=3), DeepLinearConfig(8, 16, 15),
        ...                 TrainConfig(lr=0.05, steps=20, schedule=ScheduleConfig(n_log=0, every=10)), seed=0)
        >>> run = train(cfg, tempfile.mkdtemp() + "/run", progress=False)
        >>> frame = probe_over_checkpoints(run, run.task_data().train.x, [0, 0, 0, 0, 1, 1, 1, 1], "hook_hidden.0")
        >>> list(frame.columns), len(frame) == 2 * len(run.steps)
        (['step', 'split', 'score', 'control_score'], True)
    """
    from sklearn.base import clone, is_classifier
    from sklearn.model_selection import train_test_split

    y = np.asarray(labels.cpu() if isinstance(labels, Tensor) else labels)
    if len(y) != len(inputs):
        raise ValueError(f"labels has {len(y)} entries but inputs has {len(inputs)}")
    steps = list(run.steps if steps is None else steps)
    missing = sorted(set(steps) - set(run.steps))
    if missing:
        raise ValueError(f"steps {missing} are not checkpoints of the run (saved: {run.steps})")
    probe = LinearProbe() if estimator is None else estimator
    stratify = y if is_classifier(probe) else None
    items = np.arange(len(y))
    train_idx, test_idx = train_test_split(items, test_size=test_size, random_state=seed, stratify=stratify)
    shuffled = np.random.default_rng(seed).permutation(y[train_idx])
    rows = []
    for step in steps:
        h = cached_activation(run.model_at(step), inputs, hook).cpu().numpy().reshape(len(y), -1)
        fitted = clone(probe).fit(h[train_idx], y[train_idx])
        control = clone(probe).fit(h[train_idx], shuffled) if shuffled_control else None
        for split, idx, control_y in (("train", train_idx, shuffled), ("test", test_idx, y[test_idx])):
            rows.append(
                {
                    "step": int(step),
                    "split": split,
                    "score": float(fitted.score(h[idx], y[idx])),
                    "control_score": float(control.score(h[idx], control_y)) if control is not None else float("nan"),
                }
            )
    return pd.DataFrame(rows, columns=list(COLUMNS))
