"""Grokking phases (Nanda et al. 2023): memorisation, circuit formation, clean-up; and the half-way moves they use.

Detected from the curves a grokking run records, and only in a run that groks:
train accuracy reaches its threshold (memorisation) and test accuracy later
reaches its own and stays there (generalisation). A run that memorised and
never generalised has no grokking phases (an empty list), whatever its test
loss does.

- **memorisation** ``[0, t_mem]``: ends when train accuracy first reaches
  ``train_threshold`` (uncertainty: the sampling bracket of the crossing);
- **circuit formation** ``[t_mem, t_drop]``: the train loss is already low and
  the test loss still high; ends where the test loss's largest drop begins;
- **clean-up** ``[t_drop, t_end]``: the largest drop of the test loss (in
  nats, not on a log scale: its last decades, the removal of memorisation
  residue after the test accuracy is already perfect, would otherwise
  dominate), found by :func:`bridge.stages.detectors.plateaus_and_drops` on the curve
  after ``t_mem``, of at least ``min_drop`` nats.

The boundaries come from accuracy and test loss alone; whether the circuit
forms inside circuit formation (restricted loss falling, excluded loss rising)
is a measurement made against them, not built into them.

Each boundary carries the sampling interval around it as its uncertainty.

Examples:
    >>> import numpy as np
    >>> t = np.arange(0, 1000, 10.0)
    >>> train_acc = np.clip(t / 100, 0, 1)
    >>> test_acc = np.interp(t, [0, 500, 700], [0.02, 0.02, 1.0])
    >>> test_loss = np.interp(t, [0, 500, 700, 1000], [4.0, 4.0, 0.01, 0.01])
    >>> [(s.name, s.start, s.end) for s in grokking_phases(t, train_acc, test_loss, test_acc)]
    [('memorisation', 0.0, 99.0), ('circuit formation', 99.0, 500.0), ('clean-up', 500.0, 700.0)]
    >>> grokking_phases(t, train_acc, test_loss, np.full_like(t, 0.04))  # memorised, never generalised
    []
"""

from __future__ import annotations

import numpy as np
from jaxtyping import Float

from bridge.stages.detectors import Event, Stage, _as_arrays, plateaus_and_drops, settled_crossing, threshold_crossing
from bridge.stages.levels import half_way

PHASES = ("memorisation", "circuit formation", "clean-up")


def generalised(steps: Float[np.ndarray, " n"], test_accuracy: Float[np.ndarray, " n"], threshold: float = 0.95) -> Event | None:
    """The step after which test accuracy stays at or above ``threshold``; ``None`` when the run ends below it.

    Examples:
        >>> t = np.arange(0, 50, 10.0)
        >>> round(generalised(t, np.array([0.0, 0.5, 0.9, 1.0, 1.0])).step, 6)
        25.0
        >>> generalised(t, np.array([0.0, 0.97, 0.1, 0.04, 0.04])) is None   # a spike, then memorisation only
        True
    """
    return settled_crossing(steps, test_accuracy, threshold, "up", name=f"test accuracy stays > {threshold:.0%}", observable="accuracy/test")


def grokking_phases(
    steps: Float[np.ndarray, " n"],
    train_accuracy: Float[np.ndarray, " n"],
    test_loss: Float[np.ndarray, " n"],
    test_accuracy: Float[np.ndarray, " n"],
    train_threshold: float = 0.99,
    test_threshold: float = 0.95,
    min_drop: float = 0.1,
    smooth: int = 3,
) -> list[Stage]:
    """The three phases in time order; none unless the run memorised and then generalised.

    Args:
        steps: sampled steps ``(n,)``, strictly increasing.
        train_accuracy: train accuracy at those steps, ``(n,)``.
        test_loss: test loss (positive) at those steps, ``(n,)``.
        test_accuracy: test accuracy at those steps, ``(n,)``.
        train_threshold: train accuracy that ends memorisation.
        test_threshold: test accuracy the run must reach after memorisation and keep (see :func:`generalised`).
        min_drop: the smallest fall of the test loss (nats) that can be the clean-up.
        smooth: median-filter window for the drop detector.

    Returns:
        Stages named as in :data:`PHASES`, each with ``start_uncertainty`` and
        ``end_uncertainty`` in steps; ``change`` is the change of the test
        loss (nats) over the stage, read from its finite samples (one that is not finite is a missing
        measurement; ``nan`` when none is finite). ``[]`` when the run did not memorise or did
        not generalise after memorising; only memorisation when its test loss
        has no drop of ``min_drop`` after it (or fewer than three samples follow it).

    Examples:
        >>> t = np.arange(0, 110, 10.0)
        >>> train_acc, test_acc = np.minimum(t / 20, 1), np.interp(t, [50, 80], [0, 1])
        >>> test_loss = np.interp(t, [50, 80], [3.0, 0.5])   # train accuracy hits 0.99 at 19.8; test loss falls 2.5 nats
        >>> [(s.name, s.start, s.end, round(s.change, 4)) for s in grokking_phases(t, train_acc, test_loss, test_acc)]
        [('memorisation', 0.0, 19.8, 0.0), ('circuit formation', 19.8, 50.0, 0.0), ('clean-up', 50.0, 80.0, -2.5)]
    """
    t = np.asarray(steps, float)
    acc, loss, test_acc = (np.asarray(x, float) for x in (train_accuracy, test_loss, test_accuracy))
    if not (t.shape == acc.shape == loss.shape == test_acc.shape) or t.ndim != 1:
        raise ValueError(f"steps, train_accuracy, test_loss and test_accuracy must be 1-D of one length, got {t.shape}, {acc.shape}, {loss.shape}, {test_acc.shape}")
    if not min_drop > 0:
        raise ValueError(f"min_drop must be positive, got {min_drop}")
    mem = threshold_crossing(t, acc, train_threshold, "up", name="memorised", observable="accuracy/train")
    gen = generalised(t, test_acc, test_threshold)
    if mem is None or gen is None or gen.step < mem.step:
        return []
    measured = np.isfinite(loss)  # a NaN first sample made memorisation's change NaN
    lt, ly = t[measured], loss[measured]

    def loss_at(step: float) -> float:
        return float(np.interp(step, lt, ly)) if len(lt) else float("nan")

    stages = [Stage("memorisation", float(t[0]), mem.step, "accuracy/train", "phase", 0.0, mem.hi - mem.lo, loss_at(mem.step) - (float(ly[0]) if len(ly) else float("nan")))]
    after = t >= mem.step
    if after.sum() < 3:
        return stages
    drops = [s for s in plateaus_and_drops(t[after], loss[after], observable="loss/test", log=False, smooth=smooth, min_change=min_drop) if s.kind == "drop"]
    if not drops:
        return stages
    drop = min(drops, key=lambda s: s.change)
    change = loss_at(drop.start) - loss_at(mem.step)
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


def noise_level(values: Float[np.ndarray, " n"]) -> float:
    """Robust estimate of a curve's sample-to-sample noise from its second differences.

    The median of ``|y[i+1] − 2 y[i] + y[i−1]|`` over ``√6 · 0.6745``: σ for white noise of standard deviation σ,
    zero for a straight line, small against its moves for a smooth curve sampled finely enough. A sample that is not
    finite is no measurement and is left out (0 with fewer than three finite samples).

    Examples:
        >>> round(noise_level(np.random.default_rng(0).normal(0, 2.0, 20000)), 1)
        2.0
    """
    y = np.asarray(values, float)
    if y.ndim != 1:
        raise ValueError(f"values must be 1-D, got shape {y.shape}")
    y = y[np.isfinite(y)]  # a NaN made the noise NaN
    return float(np.median(np.abs(np.diff(y, 2))) / (np.sqrt(6) * 0.6745)) if len(y) > 2 else 0.0


def half_move(
    steps: Float[np.ndarray, " n"],
    values: Float[np.ndarray, " n"],
    start: float | None = None,
    direction: str = "down",
    min_change: float = 0.0,
    min_fraction: float = 0.0,
    snr: float = 10.0,
    name: str = "",
    observable: str = "",
) -> Event | None:
    """First step at which a curve is half-way through its move (after ``start``), or ``None`` when it makes none.

    ``"down"``: from its peak at or after ``start`` to its minimum after the peak; ``"up"``: from its trough to
    its maximum after the trough. The move is absent (``None``) when it is smaller than ``min_change`` (the scale
    the caller's task sets) or than ``min_fraction`` of the magnitude it starts from (0.5: a loss at least halves;
    1: a norm at least doubles), smaller than ``snr`` times the curve's :func:`noise_level`, or undone by the end
    (the last value back beyond half-way). Samples whose value is not finite are left out (a NaN would otherwise
    be taken for the peak); ``None`` for an empty curve.

    Raises:
        ValueError: ``direction`` not ``"up"``/``"down"``; ``min_change``, ``min_fraction`` or ``snr`` below 0 or
            not a number; a ``start`` that is not a number (``±inf``: from the first sample, after the last); ``steps`` and ``values`` not 1-D of one length, or ``steps`` not finite and strictly increasing.

    Examples:
        >>> t = np.arange(0, 100, 10.0)
        >>> fall = np.array([1.0, 3.0, 3.0, 3.0, 2.5, 2.0, 1.5, 1.0, 1.0, 1.0])
        >>> half_move(t, fall, start=5).step
        50.0
        >>> half_move(t, np.r_[fall[:-1], 3.0], start=5) is None  # back up at the end
        True
        >>> half_move(t, fall, start=5, min_change=2.5) is None  # smaller than the task's scale
        True
    """
    if direction not in ("up", "down"):
        raise ValueError(f"direction must be 'up' or 'down', got {direction!r}")
    for field, value in (("min_change", min_change), ("min_fraction", min_fraction), ("snr", snr)):
        if not value >= 0:  # nan let every move through
            raise ValueError(f"{field} must be a number >= 0, got {value}")
    if start is not None and start != start:  # nan kept no sample: every move absent
        raise ValueError(f"start must be a number, got {start}")
    t, y = _as_arrays(steps, values, min_samples=0)
    if len(t) == 0:
        return None
    keep = (t >= (t[0] if start is None else start)) & np.isfinite(y)
    if keep.sum() < 2:
        return None
    t, y = t[keep], y[keep]
    sign = 1.0 if direction == "down" else -1.0
    first = int(np.argmax(sign * y))
    if len(t) - first < 2:
        return None
    t, y = t[first:], y[first:]
    move = sign * (y[0] - y.min() if direction == "down" else y[0] - y.max())
    level = half_way(y[0], y.min() if direction == "down" else y.max())
    if move <= 0 or move < min_change or move < min_fraction * abs(y[0]) or move < snr * noise_level(y) or sign * (y[-1] - level) > 0:
        return None
    hit = threshold_crossing(t, y, level, direction, name=name, observable=observable)
    return None if hit is None else Event(hit.name, hit.step, hit.lo, hit.hi, observable, f"half_{'fall' if direction == 'down' else 'rise'}")


def half_fall(
    steps: Float[np.ndarray, " n"], values: Float[np.ndarray, " n"], start: float, name: str, observable: str, min_change: float = 0.0, min_fraction: float = 0.0
) -> Event | None:
    """First step after a curve's peak (at or after ``start``) where it is half-way down to its later minimum.

    :func:`half_move` downwards: ``None`` when the fall is below ``min_change`` or ``min_fraction`` of the peak,
    lost in noise, or undone by the end.

    Examples:
        >>> half_fall(np.arange(0, 80, 10.0), np.array([1.0, 3.0, 3.0, 2.5, 2.0, 1.5, 1.0, 1.0]), 5, "drop", "x").step
        40.0
    """
    return half_move(steps, values, start, "down", min_change, min_fraction, name=name, observable=observable)


def phase_ordered(stages: list[Stage]) -> bool:
    """Whether all three phases were found, each of positive length, in order and contiguous.

    Examples:
        >>> phase_ordered([Stage("memorisation", 0, 10), Stage("circuit formation", 10, 50), Stage("clean-up", 50, 60)])
        True
    """
    if [s.name for s in stages] != list(PHASES):
        return False
    return all(s.end > s.start for s in stages) and all(a.end == b.start for a, b in zip(stages, stages[1:]))


__all__ = ["PHASES", "generalised", "grokking_phases", "half_fall", "half_move", "memorised_and_grokked", "noise_level", "phase_ordered"]
