"""The linearised dynamics of a model trained by gradient descent on the squared error (Jacot et al. 2018).

A model linear in its parameters (a network at large output scale, in its kernel
regime) follows kernel gradient descent with its tangent kernel. Gradient flow on
``loss = (1/2n) Σⱼ (f(xⱼ) − yⱼ)²`` with learning rate ``η``, with the training Gram
matrix ``K(X, X)`` of eigenvalues ``λ̂ᵢ``, moves the training residual
``r = f(X) − y`` as ``ṙ = −(η/n) K(X, X) r``: the residual along Gram eigenvector
``i`` decays as ``exp(−η λ̂ᵢ t / n)`` (spectral bias: larger eigenvalues first),
with half-time ``t½ = n ln 2 / (η λ̂ᵢ)``; gradient descent in steps gives
``(1 − η λ̂ᵢ/n)^t``. For the mean without the ½ (``(1/n) Σ (f − y)²``, the
library's ``mse`` of a scalar output) use ``2η``. Gram eigenvalues of the modes
well above eigenlearning's ``κ`` (:mod:`bridge.theory.eigenlearning`) are close to
``n·λᵢ``, and at ``t → ∞`` the function is the minimum-norm interpolant that
ridgeless eigenlearning describes.

Examples:
    >>> half_times([4.0, 1.0], lr=0.1, n=4).round(3).tolist()   # the larger eigenvalue first
    [6.931, 27.726]
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from bridge.theory.base import require_entries, require_psd


def mode_residuals(gram_eigenvalues: ArrayLike, steps: ArrayLike, lr: float, n: float, discrete: bool = True) -> np.ndarray:
    """Residual along each Gram eigenvector relative to its start, under the linearised dynamics.

    Loss ``(1/2n) Σⱼ (f(xⱼ) − yⱼ)²``; ``discrete``: gradient descent
    ``(1 − η λ̂ᵢ/n)^t``, else gradient flow ``exp(−η λ̂ᵢ t/n)``.

    Args:
        gram_eigenvalues: eigenvalues ``λ̂ᵢ`` of the training Gram matrix ``K(X, X)``, shape ``(modes,)``.
        steps: times ``t`` (optimizer steps), shape ``(times,)``.
        lr: learning rate ``η``.
        n: number of training points.

    Returns:
        ``(times, modes)`` residual fractions (1 at ``t = 0``).

    Raises:
        ValueError: ``lr`` or ``n`` out of range, an eigenvalue not finite or negative beyond rounding, or a step negative or NaN.

    Examples:
        >>> mode_residuals([4.0, 1.0], [0, 10], lr=0.1, n=4, discrete=False)[1].round(4).tolist()
        [0.3679, 0.7788]
    """
    _check_lr_n(lr, n)
    lam = _eigenvalues(gram_eigenvalues)
    t = _steps(steps)[:, None]
    with np.errstate(over="ignore"):  # a rate past the float range is inf: its mode is gone after one step
        rate = lr * lam[None, :] / n
    if discrete and np.any(rate > 1) and not np.all(t == np.round(t)):
        raise ValueError(f"discrete steps must be integers where 1 − η λ̂/n < 0, got step {t[t != np.round(t)][0]:g}")
    if discrete:
        return _descent_factor(rate, t)
    # a mode that does not move (λ̂ = 0) or a start (t = 0) keeps its residual 1: rate · t was 0 · inf, NaN,
    # for an infinite step or a rate past the float range
    still = (rate == 0) | (t == 0)
    return np.where(still, 1.0, np.exp(-np.where(still, 0.0, rate) * np.where(still, 0.0, t)))


def half_times(gram_eigenvalues: ArrayLike, lr: float, n: float, discrete: bool = False) -> np.ndarray:
    """Steps until each mode's residual halves: ``n ln 2/(η λ̂ᵢ)`` (flow) or ``ln 2/−ln(1 − η λ̂ᵢ/n)`` (descent).

    Zero eigenvalues give ``inf``; descent needs ``0 < η λ̂ᵢ/n < 1`` for a monotone decay.

    Raises:
        ValueError: ``lr`` or ``n`` out of range, an eigenvalue not finite or negative beyond rounding, or descent with ``η λ̂ᵢ/n ≥ 1``.

    Examples:
        >>> half_times([4.0, 1.0], lr=0.1, n=4).round(3).tolist()
        [6.931, 27.726]
    """
    _check_lr_n(lr, n)
    lam = _eigenvalues(gram_eigenvalues)
    rate = lr * lam / n
    with np.errstate(divide="ignore"):
        if not discrete:
            return np.where(rate > 0, np.log(2) / np.where(rate > 0, rate, 1.0), np.inf)
        if np.any(rate >= 1):
            raise ValueError("gradient descent with η λ̂/n ≥ 1 does not decay monotonically; lower the learning rate")
        return np.where(rate > 0, np.log(2) / -np.log1p(-np.where(rate > 0, rate, 0.5)), np.inf)


def kernel_descent(kernel: ArrayLike, train_index: ArrayLike, targets: ArrayLike, lr: float, steps: ArrayLike) -> np.ndarray:
    """The function on the domain under gradient descent of a model linear in its parameters, from zero.

    Loss ``(1/2n) Σⱼ (f(xⱼ) − yⱼ)²`` on the ``n`` training points (for the mean
    squared error without the ½ pass ``2η``); with the training Gram matrix
    ``K_XX = U diag(λ̂) Uᵀ``, ``f_t = K(·, X) U diag((1 − (1 − η λ̂/n)^t)/λ̂) Uᵀ y``.

    Args:
        kernel: ``K`` on the whole domain, ``(N, N)``.
        train_index: the training points' rows, ``(n,)``.
        targets: ``y``, ``(n,)``.
        lr: learning rate ``η``.
        steps: times ``t``, ``(times,)``.

    Returns:
        ``f_t`` on the domain, ``(times, N)``.

    Raises:
        ValueError: ``kernel`` not square or not finite, its training Gram matrix not positive semi-definite, bad ``train_index``, ``targets`` of another length or not finite, ``lr`` out of range, or a step negative or NaN.

    Examples:
        >>> f = kernel_descent(np.eye(3), [0], [1.0], lr=0.5, steps=[0, 1, 2])
        >>> f[:, 0].tolist(), f[:, 1].tolist()
        ([0.0, 0.5, 0.75], [0.0, 0.0, 0.0])
    """
    _check_lr(lr)
    k, idx, y, values, vectors = _training_modes(kernel, train_index, targets)
    t = _steps(steps)
    n = idx.size
    if np.any(lr * values / n >= 2):
        raise ValueError("gradient descent with η λ̂/n ≥ 2 diverges; lower the learning rate")
    fractional = t[np.isfinite(t) & (t != np.round(t))]
    if np.any(lr * values / n > 1) and fractional.size:  # a negative factor has no fractional power
        raise ValueError(f"steps must be whole numbers where 1 − η λ̂/n < 0 (it oscillates step by step), got step {fractional[0]:g}")
    gain = (1 - _descent_factor(lr * values[None, :] / n, t[:, None])) / values[None, :]  # (times, modes)
    coeff = (gain * (vectors.T @ y)[None, :]) @ vectors.T  # (times, n)
    return coeff @ k[:, idx].T


def interpolant(kernel: ArrayLike, train_index: ArrayLike, targets: ArrayLike) -> np.ndarray:
    """The minimum-norm kernel interpolant on the domain, ``f = K(·, X) K_XX⁺ y``: ridgeless kernel regression, and the
    ``t → ∞`` limit of :func:`kernel_descent` (the same modes of the training Gram matrix, at any stable rate).

    Args:
        kernel: ``K`` on the whole domain, ``(N, N)``; train_index: the training rows, ``(n,)``; targets: ``y``, ``(n,)``.

    Returns:
        ``f`` on the domain, ``(N,)``.

    Raises:
        ValueError: ``kernel`` not square or not finite, its training Gram matrix not positive semi-definite, bad ``train_index``, or ``targets`` of another length or not finite.

    Examples:
        >>> interpolant(np.eye(3) + 1, [0, 1], [1.0, -1.0]).round(12).tolist()
        [1.0, -1.0, 0.0]
    """
    k, idx, y, values, vectors = _training_modes(kernel, train_index, targets)
    return k[:, idx] @ (vectors @ ((vectors.T @ y) / values))


def _descent_factor(rate: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``(1 − rate)^t``, broadcast. Below ``rate = 1`` as ``exp(t · log1p(−rate))``: ``1 − rate`` rounded first was 1
    for a rate below 1.1e-16 (a mode that never moved, and a limit that was not the interpolant)."""
    below = rate < 1
    with np.errstate(invalid="ignore"):  # 0 · inf for a still mode at t = inf, replaced by its factor 1
        exponent = np.where(rate == 0, 0.0, t * np.log1p(-np.where(below, rate, 0.0)))
        return np.where(below, np.exp(exponent), np.power(1 - rate, t))


def _check_lr(lr: float) -> None:
    if not (np.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be finite and positive, got {lr}")


def _check_lr_n(lr: float, n: float) -> None:
    _check_lr(lr)
    if not (np.isfinite(n) and n >= 1 and float(n).is_integer()):
        raise ValueError(f"n (training points) must be an integer >= 1, got {n}")


def _eigenvalues(gram_eigenvalues: ArrayLike) -> np.ndarray:
    lam = np.asarray(gram_eigenvalues, dtype=float).ravel()
    if not np.all(np.isfinite(lam)):
        raise ValueError(f"gram_eigenvalues must be finite, got {lam[~np.isfinite(lam)][0]}")
    # a Gram matrix is positive semi-definite: a negative eigenvalue beyond rounding (the cut of require_psd) gave a
    # residual growing as e^{+η|λ̂|t/n} and an infinite half-time, silently
    require_entries("gram_eigenvalues", lam, lam >= -1e-6 * max(lam.max(initial=0.0), 0.0), "non-negative (up to rounding; a Gram matrix is positive semi-definite)")
    return lam


def _steps(steps: ArrayLike) -> np.ndarray:
    t = np.asarray(steps, dtype=float).ravel()
    if not np.all(t >= 0):  # NaN fails too; an infinite step is the limit
        raise ValueError(f"steps must be non-negative (inf for the limit), got {t[~(t >= 0)][0]}")
    return t


def _training_modes(kernel: ArrayLike, train_index: ArrayLike, targets: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(K, rows, y, λ̂, U)``: the training Gram matrix's eigenpairs above ``1e-12 · λ̂_max`` (its pseudo-inverse's cut)."""
    k = np.asarray(kernel, dtype=float)
    if k.ndim != 2 or k.shape[0] != k.shape[1]:
        raise ValueError(f"kernel must be square (N, N), got shape {k.shape}")
    if not np.all(np.isfinite(k)):
        raise ValueError("kernel must be finite")
    rows = np.asarray(train_index).ravel()
    if rows.dtype.kind not in "iuf":
        raise TypeError(f"train_index must be integer row indices, got dtype {rows.dtype}")
    if rows.size == 0:
        raise ValueError("train_index is empty")
    if not np.all(rows == np.round(rows)):
        raise ValueError(f"train_index must be integers, got {rows[rows != np.round(rows)][0]}")
    if not np.all((rows >= 0) & (rows < k.shape[0])):
        raise ValueError(f"train_index must be rows in 0..{k.shape[0] - 1} of the kernel, got {rows[(rows < 0) | (rows >= k.shape[0])][0]}")
    idx = rows.astype(int)
    y = np.asarray(targets, dtype=float).ravel()
    if y.size != idx.size:
        raise ValueError(f"targets has {y.size} entries for {idx.size} training rows")
    if not np.all(np.isfinite(y)):
        raise ValueError(f"targets must be finite, got {y[~np.isfinite(y)][0]}")
    values, vectors = np.linalg.eigh((k[np.ix_(idx, idx)] + k[np.ix_(idx, idx)].T) / 2)
    require_psd("the training Gram matrix K[train_index][:, train_index]", values)
    keep = values > values.max() * 1e-12
    return k, idx, y, values[keep], vectors[:, keep]


__all__ = ["half_times", "interpolant", "kernel_descent", "mode_residuals"]
