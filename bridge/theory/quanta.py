"""Scaling laws from quanta: the quantization model (Michaud, Liu, Girit & Tegmark 2023).

**Model.** A task decomposes into ``n_tasks`` discrete skills ("quanta"); a
sample needs exactly one of them, quantum ``k`` (1-based rank) with Zipfian
frequency ``p_k = k^{−(α+1)} / Σ_{j ≤ n_tasks} j^{−(α+1)}``. A sample's loss is
``b`` (``loss_unlearned``) if its quantum is not learned and ``a``
(``loss_learned``) if it is. A network that has learned the set ``Q`` has
mean loss ``a + (b − a) Σ_{k ∉ Q} p_k``.

**Laws.** Quanta are learned in order of frequency, so with the first ``k``
learned ``L(k) − a = (b − a) Σ_{j > k} p_j ≈ (b − a) k^{−α} / (α Z)`` far from
the floor. Each quantum costs a fixed number of parameters ``C``, so
``k = N / C`` and ``L(N) − a ∝ N^{−α}``. With ``D`` training samples
quantum ``k`` is learned once it is seen ``τ`` times (``D p_k ≳ τ``), so
``k_max ∝ D^{1/(α+1)}`` and ``L(D) − a ∝ D^{−α/(α+1)}``; in the online regime
the same holds for steps ``S`` with ``D = S·B`` (batch ``B``).

**Finite ``n_tasks``.** The sums stop at ``n_tasks``: the loss reaches its
floor ``a`` once all quanta are learned (``N ≥ C·n_tasks``, or ``D p_{n_tasks} ≫ τ``),
and the local log-log slope steepens as the floor approaches
(:func:`local_exponent`); the pure power law holds for ``k ≪ n_tasks``.

Examples:
    >>> pred = predict(alpha=0.5, n_tasks=100)
    >>> pred.parameter_exponent, round(pred.data_exponent, 4), pred.order[:3].tolist()
    (0.5, 0.3333, [0, 1, 2])
    >>> round(float(expected_loss(0, 0.5, 100)), 4), float(expected_loss(100, 0.5, 100))
    (0.6931, 0.0)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import poisson

from bridge.theory.base import require_positive

ASSUMPTIONS = (
    "each sample needs exactly one quantum; quantum frequencies are Zipfian, p_k ∝ k^−(α+1)",
    "a quantum is either learned (per-sample loss a) or not (loss b); nothing in between",
    "quanta are learned in order of frequency; each costs the same number of parameters",
    "with data, a quantum is learned once its samples reach a fixed count τ",
)
CHANCE_LOSS = math.log(2.0)
"""Cross-entropy of a binary prediction at chance, the default unlearned loss."""


def _check(alpha: float, n_tasks: int) -> None:
    require_positive("alpha", alpha)
    _check_n_tasks(n_tasks)


def _check_losses(loss_unlearned: float, loss_learned: float) -> None:
    for name, value in (("loss_unlearned", loss_unlearned), ("loss_learned", loss_learned)):
        if not np.isfinite(value):  # NaN fails too
            raise ValueError(f"{name} must be a finite number, got {value}")


def _check_n_tasks(n_tasks: int) -> None:
    if isinstance(n_tasks, bool) or not (np.isfinite(n_tasks) and n_tasks >= 1 and float(n_tasks).is_integer()):  # NaN fails `>= 1`
        raise ValueError(f"n_tasks must be a positive integer, got {n_tasks}")


def zipf_frequencies(alpha: float, n_tasks: int) -> np.ndarray:
    """``p_k ∝ k^{−(α+1)}`` for ranks ``k = 1 … n_tasks``, summing to 1, shape ``(n_tasks,)``.

    Examples:
        >>> zipf_frequencies(1.0, 2).round(4).tolist()
        [0.8, 0.2]
    """
    _check(alpha, n_tasks)
    weights = np.arange(1, int(n_tasks) + 1, dtype=float) ** -(alpha + 1.0)
    return weights / weights.sum()


def acquisition_order(frequencies: ArrayLike) -> np.ndarray:
    """Predicted order of acquisition: subtask indices by decreasing frequency (ties by index).

    Raises:
        ValueError: ``frequencies`` not 1-D, or a frequency NaN.

    Examples:
        >>> acquisition_order([0.1, 0.6, 0.3]).tolist()
        [1, 2, 0]
    """
    p = np.asarray(frequencies, dtype=float)
    if p.ndim != 1:
        raise ValueError(f"frequencies must be 1-D (n_tasks,), got shape {p.shape}")
    if np.isnan(p).any():
        raise ValueError("frequencies must be numbers, got NaN")
    return np.argsort(-p, kind="stable")


def parameter_exponent(alpha: float) -> float:
    """Exponent of ``L(N) − a ∝ N^{−α}`` against parameters: ``α``.

    Examples:
        >>> parameter_exponent(0.5)
        0.5
    """
    _check(alpha, 1)
    return float(alpha)


def data_exponent(alpha: float) -> float:
    """Exponent of ``L(D) − a ∝ D^{−α/(α+1)}`` against data (or online steps): ``α/(α+1)``.

    Examples:
        >>> data_exponent(1.0)   # 1/2
        0.5
    """
    _check(alpha, 1)
    return float(alpha / (alpha + 1.0))


def loss_from_learned(learned: ArrayLike, frequencies: ArrayLike, loss_unlearned: float = CHANCE_LOSS, loss_learned: float = 0.0) -> float:
    """Mean loss ``Σ_k p_k · (a if learned_k else b)`` for any set of learned quanta.

    Args:
        learned: ``(n_tasks,)`` booleans (or per-subtask learned probabilities in [0, 1]).
        frequencies: ``(n_tasks,)`` subtask frequencies (normalised here).

    Raises:
        ValueError: shapes that differ, a frequency not finite or negative, all frequencies zero,
            a learned entry outside ``[0, 1]``, or a loss not finite.

    Examples:
        >>> loss_from_learned([True, False], [0.75, 0.25], loss_unlearned=1.0)
        0.25
    """
    _check_losses(loss_unlearned, loss_learned)
    p = np.asarray(frequencies, dtype=float)
    q = np.asarray(learned, dtype=float)
    if p.shape != q.shape:
        raise ValueError(f"learned has shape {q.shape}, frequencies {p.shape}")
    if not (np.all(np.isfinite(p)) and np.all(p >= 0) and p.size and p.max() > 0):
        raise ValueError(f"frequencies must be finite, non-negative and not all zero, got {p.tolist()}")
    if not np.all((q >= 0) & (q <= 1)):  # NaN fails both
        raise ValueError(f"learned must be booleans or probabilities in [0, 1], got {q.tolist()}")
    p = p / p.max()  # then the sum is at most n_tasks: counts near the largest float do not overflow it
    p = p / p.sum()
    return float(np.sum(p * (q * loss_learned + (1 - q) * loss_unlearned)))


def _tail(alpha: float, n_tasks: int) -> np.ndarray:
    """``T[k] = Σ_{j > k} p_j`` for ``k = 0 … n_tasks``."""
    p = zipf_frequencies(alpha, n_tasks)
    return np.concatenate([np.cumsum(p[::-1])[::-1], [0.0]])


def expected_loss(k_learned: ArrayLike, alpha: float, n_tasks: int, loss_unlearned: float = CHANCE_LOSS, loss_learned: float = 0.0) -> np.ndarray:
    """Mean loss with the ``k`` most frequent quanta learned: ``a + (b − a) Σ_{j > k} p_j``.

    Args:
        k_learned: number of learned quanta in ``[0, n_tasks]`` (a fraction is rounded down), any shape.

    Returns:
        Loss of the same shape as ``k_learned``; ``loss_learned`` (the floor) at ``k = n_tasks``.

    Raises:
        ValueError: ``k_learned`` below 0, above ``n_tasks`` or NaN; ``alpha`` or ``n_tasks`` out of range;
            a loss not finite.

    Examples:
        >>> expected_loss([0, 1, 2], 1.0, 2, loss_unlearned=1.0).round(4).tolist()   # p = (0.8, 0.2)
        [1.0, 0.2, 0.0]
    """
    _check(alpha, n_tasks)
    _check_losses(loss_unlearned, loss_learned)
    k = np.asarray(k_learned, dtype=float)
    if not np.all((k >= 0) & (k <= n_tasks)):  # NaN fails both
        raise ValueError(f"k_learned must be in [0, n_tasks] = [0, {n_tasks}], got {k[~((k >= 0) & (k <= n_tasks))][:3].tolist()} among them")
    k = np.floor(k).astype(int)
    return loss_learned + (loss_unlearned - loss_learned) * _tail(alpha, n_tasks)[k]


def quanta_learned_parameters(n_params: ArrayLike, params_per_quantum: float, n_tasks: int) -> np.ndarray:
    """Quanta a model of ``N`` parameters holds: ``min(⌊N / C⌋, n_tasks)``, same shape as ``n_params``.

    Raises:
        ValueError: ``params_per_quantum`` not finite and positive, ``n_tasks`` not a positive integer,
            or ``n_params`` negative or NaN.

    Examples:
        >>> quanta_learned_parameters([5, 25, 1000], params_per_quantum=10, n_tasks=50).tolist()
        [0, 2, 50]
    """
    require_positive("params_per_quantum", params_per_quantum)
    _check_n_tasks(n_tasks)
    n = np.asarray(n_params, dtype=float)
    if not np.all(n >= 0):  # NaN fails too
        raise ValueError(f"n_params must be non-negative, got {n[~(n >= 0)][:3].tolist()} among them")
    return np.minimum(np.floor(n / params_per_quantum), n_tasks).astype(int)


def loss_vs_parameters(n_params: ArrayLike, alpha: float, n_tasks: int, params_per_quantum: float, loss_unlearned: float = CHANCE_LOSS, loss_learned: float = 0.0) -> np.ndarray:
    """``L(N)``: the expected loss with the ``⌊N / C⌋`` most frequent quanta learned.

    Examples:
        >>> loss_vs_parameters([10, 40], 1.0, 1000, params_per_quantum=10).round(4).tolist()
        [0.2715, 0.0929]
    """
    k = quanta_learned_parameters(n_params, params_per_quantum, n_tasks)
    return expected_loss(k, alpha, n_tasks, loss_unlearned, loss_learned)


def _poisson_means(n_samples: ArrayLike, alpha: float, n_tasks: int, samples_needed: int) -> np.ndarray:
    """``D p_k``, shape ``(*D.shape, n_tasks)``, after checking every argument."""
    if isinstance(samples_needed, bool) or not (np.isfinite(samples_needed) and samples_needed >= 1 and float(samples_needed).is_integer()):
        raise ValueError(f"samples_needed must be a positive integer, got {samples_needed}")
    d = np.asarray(n_samples, dtype=float)
    if not np.all(d >= 0):  # NaN fails too
        raise ValueError(f"n_samples must be non-negative, got {d[~(d >= 0)][:3].tolist()} among them")
    return d[..., None] * zipf_frequencies(alpha, n_tasks)


def learned_probability(n_samples: ArrayLike, alpha: float, n_tasks: int, samples_needed: int = 1) -> np.ndarray:
    """``P(quantum k learned)`` after ``D`` samples: its count, Poisson with mean ``D p_k``, reaches ``τ``.

    Returns:
        ``(*D.shape, n_tasks)`` probabilities.

    Raises:
        ValueError: ``samples_needed`` not a positive integer, ``n_samples`` negative or NaN,
            or ``alpha`` or ``n_tasks`` out of range.

    Examples:
        >>> learned_probability(5, 1.0, 2).round(4).tolist()   # means 5·(0.8, 0.2): 1 − e⁻⁴, 1 − e⁻¹
        [0.9817, 0.6321]
    """
    return poisson.sf(samples_needed - 1, _poisson_means(n_samples, alpha, n_tasks, samples_needed))


def loss_vs_data(n_samples: ArrayLike, alpha: float, n_tasks: int, samples_needed: int = 1, loss_unlearned: float = CHANCE_LOSS, loss_learned: float = 0.0) -> np.ndarray:
    """``L(D)``: expected loss after ``D`` samples (or ``S·B`` online) when ``τ`` sightings teach a quantum.

    The excess ``L − a`` keeps its relative precision near the floor (it is summed from each quantum's
    probability of being still unlearned, not from one minus the probability of being learned).

    Examples:
        >>> float(loss_vs_data(0, 0.5, 10)), round(float(loss_vs_data(1e9, 0.5, 10)), 6)
        (0.6931471805599453, 0.0)
        >>> float(loss_vs_data(1e4, 1.0, 10, loss_unlearned=1.0)) > 0   # e^{−64.5}·p₁₀: tiny, not zero
        True
    """
    _check_losses(loss_unlearned, loss_learned)
    p = zipf_frequencies(alpha, n_tasks)
    unlearned = poisson.cdf(samples_needed - 1, _poisson_means(n_samples, alpha, n_tasks, samples_needed))
    return loss_learned + (loss_unlearned - loss_learned) * (unlearned * p).sum(-1)


def local_exponent(k: ArrayLike, alpha: float, n_tasks: int) -> np.ndarray:
    """Local slope ``−d ln(L − a) / d ln k`` of the prefix loss at ``k`` (finite-``n_tasks`` correction).

    Computed between ``k`` and ``k + 1`` from the exact sums, in logarithms (so that tails below the
    smallest float still give a slope); it tends to ``α`` for ``1 ≪ k ≪ n_tasks``, grows without bound
    as ``k → n_tasks`` and is ``inf`` at ``k = n_tasks − 1``, where ``L(k + 1) = a``.

    Raises:
        ValueError: ``k`` not an integer in ``[1, n_tasks − 1]``; ``alpha`` or ``n_tasks`` out of range.

    Examples:
        >>> round(float(local_exponent(100, 1.0, 10**6)), 2), round(float(local_exponent(900, 1.0, 1000)), 2)
        (1.0, 10.05)
    """
    _check(alpha, n_tasks)
    counts = np.asarray(k, dtype=float)
    if not np.all(counts == np.round(counts)):
        raise ValueError(f"k (a number of quanta) must be an integer, got {k!s}")
    if np.any(counts < 1) or np.any(counts >= n_tasks):
        raise ValueError(f"k must be in [1, n_tasks - 1], got {k!s}")
    k = counts.astype(int)
    log_weights = -(alpha + 1.0) * np.log(np.arange(1, int(n_tasks) + 1, dtype=float))  # ln j^{−(α+1)}
    log_tail = np.concatenate([np.logaddexp.accumulate(log_weights[::-1])[::-1], [-np.inf]])  # ln Σ_{j > k}, unnormalised
    # ln(T[k] / T[k+1]) = ln(1 + w_{k+1} / T[k+1]), without the cancellation of two nearby logarithms
    return np.logaddexp(0.0, log_weights[k] - log_tail[k + 1]) / np.log1p(1.0 / k)


@dataclass(frozen=True)
class QuantaPrediction:
    """The quantization model's predictions for one ``(α, n_tasks)``.

    Attributes:
        frequencies: ``p_k``, shape ``(n_tasks,)``.
        order: predicted acquisition order (subtask indices).
        parameter_exponent, data_exponent: ``α`` and ``α/(α+1)``.
        loss_initial: mean loss with nothing learned (``b``).
        loss_floor: mean loss with every quantum learned (``a``).
        assumptions: what the model assumes.

    Examples:
        >>> pred = QuantaPrediction(1.0, 2, np.array([0.8, 0.2]), np.array([0, 1]), 1.0, 0.5, 1.0, 0.0)
        >>> pred.frequencies.tolist(), pred.loss_initial - pred.loss_floor
        ([0.8, 0.2], 1.0)
    """

    alpha: float
    n_tasks: int
    frequencies: np.ndarray
    order: np.ndarray
    parameter_exponent: float
    data_exponent: float
    loss_initial: float
    loss_floor: float
    assumptions: tuple[str, ...] = ASSUMPTIONS


def predict(alpha: float, n_tasks: int, loss_unlearned: float = CHANCE_LOSS, loss_learned: float = 0.0) -> QuantaPrediction:
    """Frequencies, acquisition order, exponents and the finite-``n_tasks`` floor.

    Examples:
        >>> pred = predict(alpha=1.0, n_tasks=2, loss_unlearned=1.0)
        >>> pred.frequencies.round(4).tolist(), pred.order.tolist(), pred.data_exponent, pred.loss_floor
        ([0.8, 0.2], [0, 1], 0.5, 0.0)
    """
    _check_losses(loss_unlearned, loss_learned)
    p = zipf_frequencies(alpha, n_tasks)
    p.setflags(write=False)
    order = acquisition_order(p)
    order.setflags(write=False)
    return QuantaPrediction(float(alpha), int(n_tasks), p, order, parameter_exponent(alpha), data_exponent(alpha), float(loss_unlearned), float(loss_learned))


__all__ = [
    "ASSUMPTIONS",
    "CHANCE_LOSS",
    "QuantaPrediction",
    "acquisition_order",
    "data_exponent",
    "expected_loss",
    "learned_probability",
    "local_exponent",
    "loss_from_learned",
    "loss_vs_data",
    "loss_vs_parameters",
    "parameter_exponent",
    "predict",
    "quanta_learned_parameters",
    "zipf_frequencies",
]
