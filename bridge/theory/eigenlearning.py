"""Kernel regression from the kernel's spectrum: eigenlearning (Simon et al. 2023; Bordelon et al. 2020).

**Setting.** A kernel ``K(x, x') = Σᵢ λᵢ φᵢ(x) φᵢ(x')`` with eigenfunctions
``φᵢ`` orthonormal under the input distribution (``λᵢ`` are the eigenvalues of
the integral operator ``f ↦ E_x'[K(·, x') f(x')]``), a target
``f*(x) = Σᵢ vᵢ φᵢ(x)``, ``n`` training points with labels ``y = f*(x) + ε``,
``Var ε = σ²`` (``noise``), and the kernel ridge regressor

    f(x) = K(x, X) (K(X, X) + δ·I)⁻¹ y          (ridge δ on the sum of squared errors).

**Prediction.** The effective regularisation ``κ`` is the root of
``Σᵢ λᵢ/(λᵢ + κ) + δ/κ = n``; mode ``i`` is learned to the fraction
``Lᵢ = λᵢ/(λᵢ + κ)`` (its *learnability*: ``E[coefficient of f on φᵢ] = Lᵢ vᵢ``);
with the overfitting factor ``E₀ = n/(n − Σᵢ Lᵢ²)``,

    test MSE (against f*)          = E₀ (Σᵢ (1 − Lᵢ)² vᵢ² + σ²) − σ²,
    test MSE (against noisy labels) = E₀ (Σᵢ (1 − Lᵢ)² vᵢ² + σ²),
    train MSE                      = (δ/(nκ))² · test MSE against noisy labels.

These are averages over training sets, exact for Gaussian designs as ``n``
grows and accurate to a few percent at ``n`` of a few dozen. How the kernel
regressor gets there under gradient descent (each mode's half-time, the function
at every step) is :mod:`bridge.theory.linearised`. The spectra to feed it (the
Boolean cube's per degree, any finite domain's) are :mod:`bridge.theory.spectra`,
whose names are importable from here too.

Examples:
    >>> out = predict([1.0, 0.5, 0.25, 0.125], [1.0, 1.0, 0.0, 0.0], n=2)
    >>> round(float(out.learnabilities.sum()), 10)
    2.0
    >>> round(out.kappa, 4), round(out.test_mse, 4), out.train_mse
    (0.3536, 0.5505, 0.0)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import brentq

from bridge.theory.base import require_entries
from bridge.theory.spectra import cube_eigenvalues, cube_multiplicities, domain_spectrum, expected_fraction, learnability_of

ASSUMPTIONS = (
    "the kernel's eigenfunctions are orthonormal under the input distribution and the training inputs are drawn i.i.d. from it",
    "the prediction is an average over training sets (Gaussian-design universality), accurate at n of a few dozen",
    "additive label noise of variance σ² independent of the input",
)


@dataclass(frozen=True)
class EigenlearningPrediction:
    """What eigenlearning predicts for kernel ridge regression on ``n`` points.

    Attributes:
        kappa: effective regularisation ``κ``.
        learnabilities: ``Lᵢ = λᵢ/(λᵢ + κ)`` per eigenvalue given, shape ``(modes,)``.
        overfitting: ``E₀ = n/(n − Σᵢ mᵢ Lᵢ²)`` (``mᵢ`` multiplicities).
        test_mse: expected ``E_x (f(x) − f*(x))²``.
        test_mse_noisy: expected test MSE against noisy labels (``test_mse + σ²``).
        train_mse: expected mean squared training residual against the noisy labels.
        n, ridge, noise: the inputs.

    Examples:
        >>> out = predict([1.0, 1.0, 1.0], [1.0, 0.0, 0.0], n=2)   # κ = 1/2, so each L = 2/3
        >>> round(out.kappa, 6), out.learnabilities.round(4).tolist(), round(out.overfitting, 6)
        (0.5, [0.6667, 0.6667, 0.6667], 3.0)
    """

    kappa: float
    learnabilities: np.ndarray
    overfitting: float
    test_mse: float
    test_mse_noisy: float
    train_mse: float
    n: float
    ridge: float
    noise: float


def _modes(name: str, values: ArrayLike) -> np.ndarray:
    """``values`` as a float array of shape ``(modes,)``; anything not 1-D is refused by ``name`` (not flattened)."""
    out = np.asarray(values, dtype=float)
    if out.ndim != 1:
        raise ValueError(f"{name} must be 1-D, shape (modes,), got shape {out.shape}")
    return out


def _as_spectrum(eigenvalues: ArrayLike, multiplicities: ArrayLike | None) -> tuple[np.ndarray, np.ndarray]:
    lam = _modes("eigenvalues", eigenvalues)
    mult = np.ones_like(lam) if multiplicities is None else _modes("multiplicities", multiplicities)
    if lam.size == 0:
        raise ValueError("eigenvalues is empty")
    if mult.shape != lam.shape:
        raise ValueError(f"multiplicities has {mult.size} entries for {lam.size} eigenvalues")
    require_entries("eigenvalues", lam, np.isfinite(lam) & (lam >= 0), "finite and non-negative")
    require_entries("multiplicities", mult, np.isfinite(mult) & (mult >= 0), "finite and non-negative")
    return lam, mult


def effective_regularisation(eigenvalues: ArrayLike, n: float, ridge: float = 0.0, multiplicities: ArrayLike | None = None) -> float:
    """``κ > 0`` solving ``Σᵢ mᵢ λᵢ/(λᵢ + κ) + ridge/κ = n`` (root found on ``log κ``).

    Args:
        eigenvalues: operator eigenvalues ``λᵢ ≥ 0``, shape ``(modes,)`` (1-D: a matrix is refused, not flattened).
        n: number of training points (> 0).
        ridge: ``δ ≥ 0``. At ``δ = 0`` the number of nonzero eigenvalues (with
            multiplicity) must exceed ``n``.
        multiplicities: ``mᵢ``, how many eigenfunctions share ``λᵢ`` (default 1).

    Examples:
        >>> round(effective_regularisation([1.0, 1.0, 1.0], n=2), 6)
        0.5
    """
    lam, mult = _as_spectrum(eigenvalues, multiplicities)
    if not (np.isfinite(n) and n > 0):
        raise ValueError(f"n must be positive and finite, got {n}")
    if not (np.isfinite(ridge) and ridge >= 0):
        raise ValueError(f"ridge must be non-negative and finite, got {ridge}")
    positive = lam > 0
    rank = float(mult[positive].sum())
    if ridge == 0 and rank <= n:
        raise ValueError(f"at ridge 0 the kernel needs more than n = {n} nonzero eigenvalues (with multiplicity), it has {rank:g}")
    lam_p, mult_p = lam[positive], mult[positive]

    def excess(log_kappa: float) -> float:  # a mode above κ counts as 1 − κ/(λ + κ): no 1 − tiny rounded to 1
        with np.errstate(over="ignore"):  # κ or δ/κ past the float range at a bracket's end: inf, of the right sign
            kappa = np.exp(log_kappa)
            above = lam_p > kappa
            # 1/(1 + λ/κ), not κ/(λ + κ): λ + κ overflowed for eigenvalues near 1e308 (every term read 0)
            learned = float(mult_p[above].sum()) - n - float((mult_p[above] / (1 + lam_p[above] / kappa)).sum())
            return learned + float((mult_p[~above] / (1 + kappa / lam_p[~above])).sum()) + ridge / kappa

    # there the sum is < n/2, clear of rounding; in logs, as Σ mᵢλᵢ + δ overflowed near 1e308 (a bracket ending at inf)
    with np.errstate(divide="ignore"):  # a zero multiplicity is a zero term, log 0 = −inf
        log_hi = np.log(2.0) + np.logaddexp.reduce(np.r_[np.log(mult_p) + np.log(lam_p), np.log(ridge)]) - np.log(n)
    candidates = []
    if ridge > 0:
        candidates.append(np.log(ridge) - np.log(n) - np.log(2.0))  # there ridge/κ alone is 2n (n + 1 rounded to n)
    if rank > n:
        candidates.append(np.log(lam_p.min()) + np.log(0.5 * (rank - n) / rank))  # each term ≥ 1 − κ/λ_min
    root = brentq(excess, min(candidates), log_hi, xtol=1e-15, rtol=4 * np.finfo(float).eps, maxiter=500)
    return float(np.exp(root))


def predict(eigenvalues: ArrayLike, target_coefficients: ArrayLike, n: float, ridge: float = 0.0, noise: float = 0.0, multiplicities: ArrayLike | None = None) -> EigenlearningPrediction:
    """Eigenlearning's prediction for kernel ridge regression on ``n`` points.

    Args:
        eigenvalues: operator eigenvalues ``λᵢ``, shape ``(modes,)``.
        target_coefficients: ``vᵢ``, the target's coefficient on each
            eigenfunction, shape ``(modes,)``. With ``multiplicities``,
            ``vᵢ²`` is the target's total power in eigenspace ``i`` (the sum of
            its squared coefficients there), e.g. per degree on the Boolean cube.
        n: number of training points.
        ridge: ``δ`` in ``f = K(x, X)(K(X, X) + δ·I)⁻¹ y``.
        noise: label-noise variance ``σ²``.
        multiplicities: ``mᵢ`` eigenfunctions share ``λᵢ`` (default 1 each).

    Returns:
        An :class:`EigenlearningPrediction`; ``learnabilities`` has one entry per given eigenvalue.

    Examples:
        >>> out = predict([1.0, 0.1], [1.0, 1.0], n=10, multiplicities=[5, 50])
        >>> [round(float(v), 4) for v in out.learnabilities]
        [0.6163, 0.1384]
    """
    if not (np.isfinite(n) and n >= 1):
        raise ValueError(f"n (training points) must be finite and >= 1, got {n}")
    if not (np.isfinite(ridge) and ridge >= 0):
        raise ValueError(f"ridge must be finite and non-negative, got {ridge}")
    if not (np.isfinite(noise) and noise >= 0):
        raise ValueError(f"noise (a variance) must be finite and non-negative, got {noise}")
    lam, mult = _as_spectrum(eigenvalues, multiplicities)
    v = _modes("target_coefficients", target_coefficients)
    if v.shape != lam.shape:
        raise ValueError(f"target_coefficients has {v.size} entries for {lam.size} eigenvalues")
    require_entries("target_coefficients", v, np.isfinite(v), "finite")
    kappa = effective_regularisation(lam, n, ridge, mult)
    learn, unlearned = _learnabilities(lam, kappa)
    room = ridge / kappa + float((mult * learn * unlearned).sum())  # n − Σ mᵢLᵢ², with Σ mᵢLᵢ = n − δ/κ
    residual = float((unlearned**2 * v**2).sum())
    test = (n * residual + noise * float((mult * learn**2).sum())) / room  # E₀(R + σ²) − σ², not a difference of the two
    train = (ridge / (n * kappa)) ** 2 * n * (residual + noise) / room
    learn.setflags(write=False)
    return EigenlearningPrediction(kappa, learn, n / room, test, test + noise, train, float(n), float(ridge), float(noise))


def elasticity(eigenvalues: ArrayLike, target_coefficients: ArrayLike, n: float, ridge: float = 0.0, noise: float = 0.0, multiplicities: ArrayLike | None = None) -> np.ndarray:
    """How the predicted test MSE hinges on each eigenvalue: ``∂ log(test MSE) / ∂ log λⱼ``, from :func:`predict`.

    Scaling eigenvalue ``j`` (all ``mⱼ`` copies) moves ``κ`` by
    ``gⱼ = ∂ log κ/∂ log λⱼ = mⱼ aⱼ / (Σᵢ mᵢ aᵢ + δ/κ)`` with ``aᵢ = Lᵢ(1 − Lᵢ)``, and each
    learnability by ``∂Lᵢ/∂ log λⱼ = aᵢ(δᵢⱼ − gⱼ)``; the test MSE
    ``E₀ (Σᵢ (1 − Lᵢ)² vᵢ² + σ²) − σ²`` follows through ``E₀`` and the residual powers. An
    entry of ``−0.5`` means raising that eigenvalue by 1 % lowers the predicted test MSE by about
    0.5 %. At zero ridge the entries sum to zero (scaling the whole kernel changes nothing).
    A mode half learned (``Lⱼ`` near ½) on which the target has power weighs most.

    Args:
        eigenvalues, target_coefficients, n, ridge, noise, multiplicities: as in :func:`predict`.

    Returns:
        ``(modes,)``, one entry per given eigenvalue.

    Examples:
        >>> e = elasticity([1.0, 0.1, 0.01], [1.0, 1.0, 1.0], n=8, multiplicities=[1, 5, 25])
        >>> e.round(3).tolist(), abs(round(float(e.sum()), 12))   # the smallest, a sixth learned, weighs most
        ([0.014, 0.109, -0.123], 0.0)
    """
    lam, mult = _as_spectrum(eigenvalues, multiplicities)
    v2 = _modes("target_coefficients", target_coefficients) ** 2
    out = predict(lam, np.sqrt(v2), n, ridge, noise, mult)
    if out.test_mse <= 0:
        raise ValueError("the predicted test MSE is zero: its elasticity is undefined")
    learn, kappa = out.learnabilities, out.kappa
    unlearned = _learnabilities(lam, kappa)[1]
    a = learn * unlearned
    g = mult * a / ((mult * a).sum() + ridge / kappa)
    d_power = 2 * (mult * learn * a - g * (mult * learn * a).sum())  # ∂(Σ mᵢ Lᵢ²)/∂ log λⱼ
    d_residual = -2 * (unlearned * v2 * a - g * (unlearned * v2 * a).sum())  # ∂(Σ (1 − Lᵢ)² vᵢ²)/∂ log λⱼ
    e0 = out.overfitting
    d_test = e0**2 / n * d_power * (out.test_mse_noisy / e0) + e0 * d_residual
    return d_test / out.test_mse


def _learnabilities(lam: np.ndarray, kappa: float) -> tuple[np.ndarray, np.ndarray]:
    """``(L, 1 − L)`` with ``1 − L`` from κ, not from L (exact for L near 1), as ``1/(1 + κ/λ)`` and ``1/(1 + λ/κ)``:
    ``λ + κ`` overflowed for eigenvalues near 1e308."""
    with np.errstate(divide="ignore"):  # κ/0 = inf: a zero eigenvalue is not learned
        return 1 / (1 + kappa / lam), 1 / (1 + lam / kappa)


def expand(eigenvalues: ArrayLike, multiplicities: ArrayLike) -> np.ndarray:
    """Each eigenvalue repeated by its (integer) multiplicity, shape ``(Σ mᵢ,)``.

    Examples:
        >>> expand([2.0, 1.0], [1, 2]).tolist()
        [2.0, 1.0, 1.0]
    """
    lam, mult = _as_spectrum(eigenvalues, multiplicities)
    if not np.allclose(mult, np.round(mult)):
        raise ValueError("multiplicities must be integers to expand")
    return np.repeat(lam, np.round(mult).astype(int))


__all__ = [
    "ASSUMPTIONS",
    "EigenlearningPrediction",
    "cube_eigenvalues",
    "cube_multiplicities",
    "domain_spectrum",
    "expected_fraction",
    "effective_regularisation",
    "elasticity",
    "expand",
    "learnability_of",
    "predict",
]
