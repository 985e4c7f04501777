"""Spectra to feed :mod:`bridge.theory.eigenlearning`: the Boolean cube's per-degree ones, any finite domain's, and learned fractions read back on that domain.

A permutation-invariant kernel on the uniform Boolean cube ``{±1}^d`` is diagonal in
the Walsh basis (:func:`cube_eigenvalues`, :func:`cube_multiplicities`); any kernel on a
finite domain of equally likely points has the spectrum of :func:`domain_spectrum`. With a
prediction from :func:`bridge.theory.eigenlearning.predict` on that spectrum,
:func:`learnability_of` and :func:`expected_fraction` read off how much of one target term
is learned. Every name here is also importable from :mod:`bridge.theory.eigenlearning`.

Examples:
    >>> cube_multiplicities(2).tolist(), [round(float(v), 6) for v in cube_eigenvalues([2.0, 0.0, -2.0])]
    ([1.0, 2.0, 1.0], [0.0, 1.0, 0.0])
"""

from __future__ import annotations

import sys
from math import comb
from typing import Protocol

import numpy as np
from numpy.typing import ArrayLike

from bridge.theory.base import require_count, require_entries, require_psd


class Learnabilities(Protocol):
    """What the read-outs below need of a prediction: its learnabilities, one per eigenfunction
    (:class:`~bridge.theory.eigenlearning.EigenlearningPrediction` is one), shape ``(modes,)``.

    Examples:
        >>> from types import SimpleNamespace
        >>> half = SimpleNamespace(learnabilities=np.array([1.0, 0.5]))  # mode 0 learned, mode 1 half learned
        >>> learnability_of(half, np.array([[1.0, 1.0], [1.0, -1.0]]), np.array([0.0, 1.0]))
        0.75
    """

    @property
    def learnabilities(self) -> np.ndarray: ...  # read-only: a frozen dataclass's field or a plain attribute both fit


MAX_CUBE_DIMENSION = 1029  # C(1029, 514) ≈ 1.4e308 is the last middle binomial below the float range
assert float(comb(MAX_CUBE_DIMENSION, MAX_CUBE_DIMENSION // 2)) < sys.float_info.max < comb(MAX_CUBE_DIMENSION + 1, (MAX_CUBE_DIMENSION + 1) // 2)

def cube_multiplicities(d: int) -> np.ndarray:
    """``C(d, k)`` Walsh functions of degree ``k = 0 … d`` on ``{±1}^d``, shape ``(d + 1,)``.

    Raises:
        ValueError: ``d`` not a non-negative integer, or past :data:`MAX_CUBE_DIMENSION` (1029), where
            ``C(d, d/2)`` leaves the float range.

    Examples:
        >>> cube_multiplicities(3).tolist()
        [1.0, 3.0, 3.0, 1.0]
    """
    require_count("d (the cube's dimension)", d, low=0)
    if d > MAX_CUBE_DIMENSION:
        raise ValueError(f"d (the cube's dimension) must be at most {MAX_CUBE_DIMENSION} (C(d, d/2) past it exceeds the float range), got {d!r}")
    return np.array([comb(d, k) for k in range(d + 1)], dtype=float)


def cube_eigenvalues(kernel_by_distance: ArrayLike) -> np.ndarray:
    """Per-degree eigenvalues of a permutation-invariant kernel on the uniform Boolean cube.

    A kernel that depends on ``x, x'`` only through their Hamming distance
    ``h`` (any dot-product kernel: ``x·x' = d − 2h``) is diagonal in the Walsh
    basis; the eigenvalue of the Walsh function ``χ_S``, ``|S| = k``, is
    ``λ_k = E_z[K(h(z)) χ_S(z)] = 2^{−d} Σ_h K(h) · c_k(h)``, where
    ``c_k(h) = Σ_j (−1)^j C(k, j) C(d − k, h − j)`` sums ``χ_S`` over the points
    at distance ``h`` from the all-ones point (a Krawtchouk polynomial in ``k``).

    Args:
        kernel_by_distance: ``K(h)`` for ``h = 0 … d``, shape ``(d + 1,)``.

    Returns:
        ``λ_k`` for ``k = 0 … d``, shape ``(d + 1,)`` (each with multiplicity ``C(d, k)``).

    Raises:
        ValueError: ``kernel_by_distance`` not 1-D with at least two values, or not finite.

    Examples:
        >>> [round(float(v), 6) for v in cube_eigenvalues([2.0, 0.0, -2.0])]  # K = x·x' on {±1}²
        [0.0, 1.0, 0.0]
    """
    values = np.asarray(kernel_by_distance, dtype=float)
    if values.ndim != 1 or values.size < 2:
        raise ValueError(f"kernel_by_distance must be 1-D, K(h) for h = 0 … d with d ≥ 1, got shape {values.shape}")
    require_entries("kernel_by_distance", values, np.isfinite(values), "finite")
    d = values.size - 1
    signed_counts = np.array([[sum((-1) ** j * comb(k, j) * comb(d - k, h - j) for j in range(min(k, h) + 1)) for h in range(d + 1)] for k in range(d + 1)], dtype=float)
    return signed_counts @ values / 2.0**d


def domain_spectrum(kernel: ArrayLike, target: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The kernel's operator spectrum on a finite domain of ``N`` equally likely points.

    The integral operator ``f ↦ (1/N) Σ_x' K(·, x') f(x')`` has eigenvalues
    ``eig(K)/N`` and eigenfunctions ``φᵢ = √N uᵢ`` (orthonormal under the uniform
    measure); the target's coefficients are ``vᵢ = uᵢᵀ f* / √N``. Feeding these to
    :func:`predict` gives eigenlearning for the kernel as it is (no symmetry assumed),
    e.g. a finite-width network's tangent kernel on the whole Boolean cube.

    Args:
        kernel: ``K`` on every point of the domain, shape ``(N, N)``, symmetric positive semi-definite.
        target: ``f*`` on the domain, shape ``(N,)``.

    Returns:
        ``(eigenvalues (N,), coefficients (N,), eigenfunctions (N, N))``, largest
        eigenvalue first; column ``i`` of the last is ``φᵢ`` on the domain.

    Raises:
        ValueError: ``kernel`` not ``(N, N)`` for a ``target`` of ``N`` values, either not finite, or ``kernel`` not positive semi-definite.

    Examples:
        >>> lam, v, phi = domain_spectrum(np.diag([2.0, 0.0]), np.array([1.0, 1.0]))
        >>> lam.tolist(), np.abs(v).round(4).tolist()
        ([1.0, 0.0], [0.7071, 0.7071])
    """
    k = np.asarray(kernel, dtype=float)
    f = np.asarray(target, dtype=float).ravel()
    if k.ndim != 2 or k.shape[0] != k.shape[1] or k.shape[0] != f.size or f.size == 0:
        raise ValueError(f"kernel must be (N, N) and target (N,) with N >= 1, got {k.shape} and {f.shape}")
    require_entries("kernel", k, np.isfinite(k), "finite")
    require_entries("target", f, np.isfinite(f), "finite")
    values, vectors = np.linalg.eigh((k + k.T) / 2)
    require_psd("kernel", values)
    values, vectors = np.clip(values[::-1], 0.0, None), vectors[:, ::-1]
    size = f.size
    return values / size, vectors.T @ f / np.sqrt(size), vectors * np.sqrt(size)


def learnability_of(prediction: Learnabilities, eigenfunctions: ArrayLike, function: ArrayLike) -> float:
    """Expected learned fraction of ``function``: ``Σᵢ Lᵢ ⟨g, φᵢ⟩² / ⟨g, g⟩`` (inner products under the uniform measure).

    For a target term ``g`` the expected coefficient of the learned function on ``g``
    is this fraction of the target's (exact when the target is ``g`` alone).

    Args:
        prediction: from :func:`predict` on the spectrum of :func:`domain_spectrum`.
        eigenfunctions: ``(N, N)``, from :func:`domain_spectrum`.
        function: ``g`` on the domain, ``(N,)``.

    Raises:
        ValueError: shapes that do not fit, ``function`` not finite, or a zero ``function``.

    Examples:
        >>> from bridge.theory.eigenlearning import predict
        >>> lam, v, phi = domain_spectrum(np.diag([4.0, 2.0, 1.0, 0.5]), np.ones(4))
        >>> out = predict(lam, v, n=2)
        >>> round(learnability_of(out, phi, np.array([0.0, 0.0, 0.0, 2.0])), 6) == round(float(out.learnabilities[-1]), 6)
        True
    """
    g = np.asarray(function, dtype=float).ravel()
    phi = np.asarray(eigenfunctions, dtype=float)
    if phi.ndim != 2 or phi.shape[0] != g.size:
        raise ValueError(f"eigenfunctions must be (N, modes) for a function on N = {g.size} points, got shape {phi.shape}")
    if phi.shape[1] != prediction.learnabilities.size:
        raise ValueError(f"prediction has {prediction.learnabilities.size} learnabilities for {phi.shape[1]} eigenfunctions")
    require_entries("function", g, np.isfinite(g), "finite")
    require_entries("eigenfunctions", phi, np.isfinite(phi), "finite")
    overlap = phi.T @ g / g.size
    norm = float(g @ g) / g.size
    if norm == 0:
        raise ValueError("the learnability of a zero function is undefined")
    return float((prediction.learnabilities * overlap**2).sum() / norm)


def expected_fraction(prediction: Learnabilities, eigenfunctions: ArrayLike, target_coefficients: ArrayLike, function: ArrayLike) -> float:
    """Expected coefficient of the learned function on ``g``, as a fraction of the target's: ``Σᵢ Lᵢ ⟨g, φᵢ⟩ vᵢ / Σᵢ ⟨g, φᵢ⟩ vᵢ``.

    Eigenlearning's mean learned function is ``Σᵢ Lᵢ vᵢ φᵢ`` for the target ``f* = Σᵢ vᵢ φᵢ``. When
    ``g`` is one term of a target with several and the kernel's eigenfunctions mix the terms, the
    other terms leak into ``g``'s coefficient; :func:`learnability_of` leaves that out (it is
    this fraction when the target is ``g`` alone, and when the eigenfunctions do not mix ``g``
    with the other terms).

    Args:
        prediction: from :func:`predict` on the spectrum of :func:`domain_spectrum`.
        eigenfunctions: ``(N, N)``, from :func:`domain_spectrum`.
        target_coefficients: ``vᵢ = ⟨φᵢ, f*⟩``, ``(N,)``, from :func:`domain_spectrum`.
        function: ``g`` on the domain, ``(N,)``, with ``⟨g, f*⟩ ≠ 0``.

    Raises:
        ValueError: shapes that do not fit, an input not finite, or ``g`` orthogonal to the target.

    Examples:
        >>> from bridge.theory.eigenlearning import predict
        >>> phi = np.array([[1.0, 1.0], [1.0, -1.0]])         # φ₀, φ₁ on two points
        >>> out = predict([1.0, 1e-9], [0.75, 0.25], n=1)     # L₀ ≈ 1, L₁ ≈ 0
        >>> g1, g2 = np.array([1.0, 0.0]), np.array([0.0, 1.0])   # f* = g1 + g2/2 = 0.75 φ₀ + 0.25 φ₁
        >>> [round(expected_fraction(out, phi, [0.75, 0.25], g), 3) for g in (g1, g2)], round(learnability_of(out, phi, g1), 3)
        ([0.75, 1.5], 0.5)
    """
    g = np.asarray(function, dtype=float).ravel()
    phi = np.asarray(eigenfunctions, dtype=float)
    v = np.asarray(target_coefficients, dtype=float).ravel()
    if phi.ndim != 2 or phi.shape[0] != g.size:
        raise ValueError(f"eigenfunctions must be (N, modes) for a function on N = {g.size} points, got shape {phi.shape}")
    if not phi.shape[1] == v.size == prediction.learnabilities.size:
        raise ValueError(f"need one target coefficient and one learnability per eigenfunction: {phi.shape[1]} eigenfunctions, "
                         f"{v.size} coefficients, {prediction.learnabilities.size} learnabilities")
    for name, a in (("function", g), ("eigenfunctions", phi), ("target_coefficients", v)):
        require_entries(name, a, np.isfinite(a), "finite")
    overlap = phi.T @ g / g.size
    share = float(overlap @ v)
    if abs(share) <= 1e-12 * np.linalg.norm(overlap) * np.linalg.norm(v):
        raise ValueError("the function is orthogonal to the target: no fraction of the target's coefficient to learn")
    return float((prediction.learnabilities * overlap * v).sum() / share)


__all__ = [
    "MAX_CUBE_DIMENSION",
    "cube_eigenvalues",
    "cube_multiplicities",
    "domain_spectrum",
    "expected_fraction",
    "learnability_of",
]
