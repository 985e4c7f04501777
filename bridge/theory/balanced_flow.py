"""The exact depth-2 flow of a whole linear network from any balanced start (Fukumizu 1998; Braun et al. 2022).

:mod:`bridge.theory.saxe` follows each mode's strength from a decoupled start; this
follows the whole network, ``W₁ᵀW₁``, ``W₂W₁`` and ``W₂W₂ᵀ``, from its actual initial
weights, aligned with the modes or not.
"""

from __future__ import annotations

import numpy as np


def balanced_flow(steps: np.ndarray, teacher: np.ndarray, w_in: np.ndarray, w_out: np.ndarray, lr: float) -> np.ndarray:
    """``P = QQᵀ`` with ``Q = [W₁ᵀ; W₂]`` of a depth-2 network over training, from its actual initial weights.

    On whitened inputs with ``½ E‖y − W₂W₁x‖²``, balanced weights (``W₁W₁ᵀ = W₂ᵀW₂``)
    follow ``dP/dτ = FP + PF − P²`` with ``τ = ηt`` and ``F = [[0, Σyxᵀ], [Σyx, 0]]``,
    whose exact solution (Fukumizu 1998; Braun et al. 2022) is
    ``P(τ) = e^{Fτ} Q₀ (I + Q₀ᵀ ∫₀^τ e^{2Fσ}dσ Q₀)⁻¹ Q₀ᵀ e^{Fτ}``. Unlike the
    mode-by-mode solution it needs no decoupled start: the alignment of random hidden
    vectors with the modes is part of it. From small random weights the imbalance is of
    the order of the initial weights and fades from the learned modes. The solution is
    carried from one step to the next, ``P ← E (I + P M)⁻¹ P E``, so nothing overflows.

    Args:
        steps: ``(t,)`` increasing optimizer steps, from 0.
        teacher: ``Σyx``, ``(d_out, d_in)``.
        w_in, w_out: ``W₁`` ``(hidden, d_in)`` and ``W₂`` ``(d_out, hidden)`` at step 0.
        lr: learning rate ``η``.

    Returns:
        ``(t, d_in + d_out, d_in + d_out)``: blocks ``W₁ᵀW₁`` (the hidden layer's Gram on
        the inputs), ``(W₂W₁)ᵀ`` and ``W₂W₂ᵀ``.

    Raises:
        ValueError: ``steps`` not 1-D, finite, non-negative and non-decreasing; shapes that do not fit; ``lr`` not finite and positive; ``teacher``, ``w_in`` or ``w_out`` not finite.

    Examples:
        >>> p = balanced_flow(np.array([0.0, 1e4]), np.array([[2.0]]), np.array([[0.03]]), np.array([[0.03]]), 0.01)
        >>> round(float(p[1, 1, 0]), 4), round(float(p[1, 0, 0]), 4)   # the map learns s = 2; W₁ᵀW₁ = √(s·s)
        (2.0, 2.0)
    """
    steps, teacher, w_in, w_out = (np.asarray(a, dtype=float) for a in (steps, teacher, w_in, w_out))
    if steps.ndim != 1 or not np.all(np.isfinite(steps)) or np.any(steps < 0) or np.any(np.diff(steps) < 0):
        raise ValueError(f"steps must be 1-D, finite, non-negative and non-decreasing, got {steps.tolist()}")
    if not (teacher.ndim == w_in.ndim == w_out.ndim == 2 and w_in.shape[1] == teacher.shape[1] and w_out.shape == (teacher.shape[0], w_in.shape[0])):
        raise ValueError(f"shapes do not fit teacher (d_out, d_in), w_in (hidden, d_in), w_out (d_out, hidden): got {teacher.shape}, {w_in.shape}, {w_out.shape}")
    if not 0 < lr < np.inf:
        raise ValueError(f"lr must be finite and positive, got {lr}")
    if not all(np.isfinite(a).all() for a in (teacher, w_in, w_out)):
        raise ValueError(f"{' and '.join(n for n, a in zip(('teacher', 'w_in', 'w_out'), (teacher, w_in, w_out)) if not np.isfinite(a).all())} must be finite, got a NaN or inf entry")
    d_out, d_in = teacher.shape
    if steps.size == 0:  # np.stack of no step raised "need at least one array to stack"
        return np.zeros((0, d_in + d_out, d_in + d_out))
    f = np.zeros((d_in + d_out, d_in + d_out))
    f[:d_in, d_in:], f[d_in:, :d_in] = teacher.T, teacher
    lam, basis = np.linalg.eigh(f)
    q = np.concatenate([w_in.T, w_out])
    p, now, out = q @ q.T, 0.0, []
    for t in steps:
        pieces = max(1, int(np.ceil(lr * (t - now) * np.abs(lam).max(initial=0.0) / 4)))  # e^{2λτ} ≤ e⁸ per piece
        tau = lr * (t - now) / pieces
        e = (basis * np.exp(lam * tau)) @ basis.T
        m = (basis * np.where(lam == 0, tau, np.expm1(2 * lam * tau) / np.where(lam == 0, 1.0, 2 * lam))) @ basis.T
        for _ in range(pieces):
            p = e @ np.linalg.solve(np.eye(len(p)) + p @ m, p) @ e
            p = (p + p.T) / 2
        out.append(p)
        now = t
    return np.stack(out)
