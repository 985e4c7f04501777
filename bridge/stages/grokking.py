"""Grokking phases (Nanda et al. 2023): memorisation, circuit formation, clean-up.

Detected from the curves a grokking run records:

- **memorisation** ``[0, t_mem]``: ends when train accuracy first reaches
  ``train_threshold`` (uncertainty: the sampling bracket of the crossing);
- **circuit formation** ``[t_mem, t_drop]``: the train loss is already low and
  the test loss still high, while the restricted loss falls and the excluded
  loss rises; ends where the test loss's largest drop begins;
- **clean-up** ``[t_drop, t_end]``: the largest drop of the test loss (in
  nats, not on a log scale: its last decades, the removal of memorisation
  residue after the test accuracy is already perfect, would otherwise
  dominate), found by :func:`bridge.stages.detectors.plateaus_and_drops` on the curve
  after ``t_mem``; weight decay removes the memorising components, the weight
  norm falls.

Each boundary carries the sampling interval around it as its uncertainty.

Examples:
    >>> import numpy as np
    >>> t = np.arange(0, 1000, 10.0)
    >>> train_acc = np.clip(t / 100, 0, 1)
    >>> test_loss = np.interp(t, [0, 500, 700, 1000], [4.0, 4.0, 0.01, 0.01])
    >>> [(s.name, s.start, s.end) for s in grokking_phases(t, train_acc, test_loss)]
    [('memorisation', 0.0, 99.0), ('circuit formation', 99.0, 500.0), ('clean-up', 500.0, 700.0)]
"""

from __future__ import annotations

import numpy as np
from jaxtyping import Float

from bridge.stages.detectors import Event, Stage, half_rise, plateaus_and_drops, threshold_crossing

PHASES = ("memorisation", "circuit formation", "clean-up")


def grokking_phases(
    steps: Float[np.ndarray, " n"],
    train_accuracy: Float[np.ndarray, " n"],
    test_loss: Float[np.ndarray, " n"],
    train_threshold: float = 0.99,
    smooth: int = 3,
) -> list[Stage]:
    """The three phases in time order (fewer when a boundary is not found).

    Args:
        steps: sampled steps ``(n,)``, strictly increasing.
        train_accuracy: train accuracy at those steps.
        test_loss: test loss (positive) at those steps.
        train_threshold: train accuracy that ends memorisation.
        smooth: median-filter window for the drop detector.

    Returns:
        Stages named as in :data:`PHASES`, each with ``start_uncertainty`` and
        ``end_uncertainty`` in steps; ``change`` is the change of the test
        loss (nats) over the stage.
    """
    t = np.asarray(steps, float)
    acc, loss = np.asarray(train_accuracy, float), np.asarray(test_loss, float)
    if not (t.shape == acc.shape == loss.shape) or t.ndim != 1:
        raise ValueError(f"steps, train_accuracy and test_loss must be 1-D of one length, got {t.shape}, {acc.shape}, {loss.shape}")
    mem = threshold_crossing(t, acc, train_threshold, "up", name="memorised", observable="accuracy/train")
    if mem is None:
        return []
    stages = [Stage("memorisation", float(t[0]), mem.step, "accuracy/train", "phase", 0.0, mem.hi - mem.lo, float(np.interp(mem.step, t, loss) - loss[0]))]
    after = t >= mem.step
    if after.sum() < 3:
        return stages
    drops = [s for s in plateaus_and_drops(t[after], loss[after], observable="loss/test", log=False, smooth=smooth) if s.kind == "drop"]
    if not drops:
        return stages
    drop = min(drops, key=lambda s: s.change)
    change = float(np.interp(drop.start, t, loss) - np.interp(mem.step, t, loss))
    stages.append(Stage("circuit formation", mem.step, drop.start, "loss/test", "phase", mem.hi - mem.lo, drop.start_uncertainty, change))
    stages.append(Stage("clean-up", drop.start, drop.end, "loss/test", "phase", drop.start_uncertainty, drop.end_uncertainty, drop.change))
    return stages


def memorised_and_grokked(
    train_steps: Float[np.ndarray, " n"],
    train_accuracy: Float[np.ndarray, " n"],
    test_steps: Float[np.ndarray, " m"],
    test_accuracy: Float[np.ndarray, " m"],
    memorised: float = 0.99,
    grokked: float = 0.95,
) -> tuple[Event | None, Event | None]:
    """The step train accuracy first reaches ``memorised`` and the step test accuracy first reaches ``grokked``.

    Each is a :func:`~bridge.stages.detectors.threshold_crossing` (``None`` when never reached).

    Examples:
        >>> t = np.arange(0, 100, 10.0)
        >>> mem, grok = memorised_and_grokked(t, np.clip(t / 20, 0, 1), t, np.clip((t - 50) / 20, 0, 1))
        >>> mem.step, round(grok.step, 1), grok.name
        (19.8, 69.0, 'test accuracy > 95%')
    """
    return (
        threshold_crossing(train_steps, train_accuracy, memorised, "up", name=f"train accuracy > {memorised:.0%}", observable="accuracy/train"),
        threshold_crossing(test_steps, test_accuracy, grokked, "up", name=f"test accuracy > {grokked:.0%}", observable="accuracy/test"),
    )


def half_fall(steps: Float[np.ndarray, " n"], values: Float[np.ndarray, " n"], start: float, name: str, observable: str) -> Event | None:
    """First step after a curve's peak (at or after ``start``) where it is half-way down to its later minimum.

    Examples:
        >>> half_fall(np.array([0, 10, 20, 30, 40.0]), np.array([1.0, 3.0, 2.0, 1.0, 1.0]), 5, "drop", "x").step
        20.0
    """
    t, y = np.asarray(steps, float), np.asarray(values, float)
    keep = t >= start
    if keep.sum() < 2:
        return None
    t, y = t[keep], y[keep]
    peak = int(np.argmax(y))
    if len(t) - peak < 2:
        return None
    return half_rise(t[peak:], y[peak:], name=name, observable=observable, top=float(y[peak:].min()))


def phase_ordered(stages: list[Stage]) -> bool:
    """Whether all three phases were found, each of positive length, in order and contiguous.

    Examples:
        >>> phase_ordered([Stage("memorisation", 0, 10), Stage("circuit formation", 10, 50), Stage("clean-up", 50, 60)])
        True
    """
    if [s.name for s in stages] != list(PHASES):
        return False
    return all(s.end > s.start for s in stages) and all(a.end == b.start for a, b in zip(stages, stages[1:]))


__all__ = ["PHASES", "grokking_phases", "half_fall", "memorised_and_grokked", "phase_ordered"]
