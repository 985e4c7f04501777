"""Alternating gradient flows (Kunin et al. 2025, arXiv 2506.06489) for a quadratic network on modular addition.

The network is ``f_c(a, b) = Σ_i W[c, i] (U[i, a] + V[i, b])²`` (a two-layer
MLP with quadratic activation on the concatenated one-hots of ``a`` and
``b``), trained by full-batch gradient descent with learning rate ``η`` on the
mean squared error over all ``p²`` pairs and ``p`` outputs, from a small
initialisation, towards the template target
``y_c(a, b) = Σ_k m_k cos(w_k(a + b − c))`` (``w_k = 2πk/p``).

AGF splits training into dormant phases, in which small neurons climb the
*utility* — their correlation with the residual — and active phases, in which
a neuron that has escaped fits its share of the target. For this target the
utility of a neuron separates over frequencies:
``⟨y, f_i⟩ = 2 Σ_k m_k Re(û_ik v̂_ik conj(ŵ_ik))`` where ``û_ik = Σ_a U[i, a] e^{i w_k a}``
(and likewise ``v̂``, ``ŵ``). Gradient ascent on it, while the residual is
still the target, is, in optimizer steps,

    dû/dt = κ_k conj(v̂) ŵ,   dv̂/dt = κ_k conj(û) ŵ,   dŵ/dt = κ_k û v̂,   κ_k = 2 η m_k / p²,

a cubic flow that blows up in finite time. Frequency ``k`` is acquired when
the first neuron's frequency-``k`` component escapes: at the smallest blow-up
time over neurons, which scales as ``1/m_k``. Acquiring ``k`` removes its
share ``m_k²/2`` of the loss, so the loss falls in steps, largest
coefficients first. Assumptions: small initialisation (dormant neurons do not
interact), all ``p²`` pairs in the loss, ``2k ≢ 0 (mod p)``, and frequencies
well separated in ``m_k`` relative to the spread of initial components.

Examples:
    >>> import torch
    >>> g = torch.Generator().manual_seed(0)
    >>> U, V, W = (0.01 * torch.randn(s, generator=g) for s in [(16, 7), (16, 7), (7, 16)])
    >>> preds = predict_acquisitions(U, V, W, {1: 1.0, 2: 0.5}, lr=1.0)
    >>> [p.extra["frequency"] for p in preds]
    [1, 2]
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import torch
from jaxtyping import Complex, Float
from torch import Tensor

from bridge.theory.base import Prediction, require_count, require_positive

ASSUMPTIONS = (
    "two-layer network with quadratic activation on one-hot (a, b), no biases",
    "full-batch gradient descent on the mean squared error over all p² pairs and p outputs",
    "small initialisation: neurons stay dormant and independent until they escape",
    "template target y_c = Σ m_k cos(w_k(a+b−c))",
)


def fourier_components(x: Float[Tensor, "neuron p"], k: int) -> Complex[np.ndarray, " neuron"]:
    """``x̂_i = Σ_a x[i, a] e^{2πi k a / p}`` for each row ``i``: ``(neurons, p)`` in, ``(neurons,)`` complex out.

    Raises:
        ValueError: ``x`` not 2-D with at least one column, or with a NaN or infinite entry.

    Examples:
        >>> x = torch.tensor([[1.0, 0.0, -1.0, 0.0], [1.0, 1.0, 1.0, 1.0]])   # cos(2πa/4), constant
        >>> np.abs(fourier_components(x, 1)).round(4).tolist()   # p/2 and 0
        [2.0, 0.0]
    """
    if x.ndim != 2 or x.shape[1] < 1:
        raise ValueError(f"x must be (neurons, p) with p >= 1, got shape {tuple(x.shape)}")
    if x.is_floating_point() and not bool(torch.isfinite(x).all()):
        at = tuple(int(i) for i in (~torch.isfinite(x)).nonzero()[0])
        raise ValueError(f"x must be finite, got x[{at[0]}, {at[1]}] = {x[at].item()}")
    p = x.shape[1]
    phase = np.exp(2j * math.pi * k * np.arange(p) / p)
    return x.detach().double().numpy() @ phase


def rate(p: int, magnitude: float, lr: float) -> float:
    """``κ_k = 2 η m_k / p²``: the dormant flow's speed per optimizer step.

    Raises:
        ValueError: ``p`` not a positive integer, or ``magnitude`` or ``lr`` not finite and positive.

    Examples:
        >>> rate(p=7, magnitude=1.0, lr=0.49)   # 2 · 0.49 / 49
        0.02
    """
    require_count("p", p)
    require_positive("magnitude", magnitude)
    require_positive("lr", lr)
    return 2.0 * float(lr) * float(magnitude) / float(p) ** 2  # p² of a numpy int64 p ≥ 2³² wrapped around


def blowup_times(
    u: Complex[np.ndarray, " n"], v: Complex[np.ndarray, " n"], w: Complex[np.ndarray, " n"], kappa: float, growth: float = 1e4, eps: float = 0.01
) -> Float[np.ndarray, " n"]:
    """Finite blow-up time of the dormant flow from each initial ``(û, v̂, ŵ)``, in optimizer steps.

    Integrates ``dû = κ conj(v̂) ŵ, dv̂ = κ conj(û) ŵ, dŵ = κ û v̂`` by RK4 with
    a per-trajectory step ``eps / (κ r)`` (``r`` the largest modulus) until
    ``r`` grows ``growth``-fold, then adds the aligned tail ``1 / (κ r)``.
    The flow is integrated in units of ``r₀`` and ``1/(κ r₀)`` (``r₀`` the
    starting ``r``), so the time scales exactly as ``1/(κ r₀)`` at any size of
    start: components of 1e200 overflowed ``κ r²`` (a NaN time) and of 1e-160
    underflowed it (a time 5e-6 off, and below that no blow-up at all).

    Raises:
        ValueError: ``kappa`` not finite and positive, ``growth`` not above 1, ``eps`` not positive,
            ``u``, ``v``, ``w`` of different shapes or not finite, or a trajectory starting at zero.

    Examples:
        >>> z = np.array([0.1 + 0j])
        >>> float(blowup_times(z, z, z, kappa=1.0).round(3)[0])   # aligned: r' = r², T = 1/r0
        10.0
    """
    require_positive("kappa", kappa)
    if not (growth > 1 and math.isfinite(growth)):
        raise ValueError(f"growth must be finite and above 1, got {growth}")
    require_positive("eps", eps)
    u, v, w = (np.asarray(z, complex) for z in (u, v, w))
    if not (u.ndim == 1 and u.shape == v.shape == w.shape):
        raise ValueError(f"u, v and w must be 1-D of one length, got shapes {u.shape}, {v.shape}, {w.shape}")
    if not all(np.isfinite(z).all() for z in (u, v, w)):
        raise ValueError("u, v and w must be finite")
    state = np.stack([u, v, w])
    r0 = np.abs(state).max(0)
    if np.any(r0 == 0):
        raise ValueError("a trajectory starts at zero and never escapes")
    state = state / r0  # each start at r = 1, time in units of 1/(κ r₀)
    t = np.zeros(state.shape[1])
    active = np.ones(state.shape[1], bool)

    def field(s: np.ndarray) -> np.ndarray:
        a, b, c = s
        return np.stack([np.conj(b) * c, np.conj(a) * c, a * b])

    for _ in range(200_000):
        if not active.any():
            break
        s = state[:, active]
        h = eps / np.abs(s).max(0)
        k1 = field(s)
        k2 = field(s + 0.5 * h * k1)
        k3 = field(s + 0.5 * h * k2)
        k4 = field(s + h * k3)
        state[:, active] = s + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        t[active] += h
        active &= np.abs(state).max(0) < growth
    else:
        raise RuntimeError("dormant flow did not blow up (utility never became positive)")
    return (t + 1.0 / np.abs(state).max(0)) / float(kappa) / r0


def plateau_losses(magnitudes: Mapping[int, float], order: list[int]) -> list[float]:
    """Predicted MSE before any acquisition and after each one, in ``order``: ``Σ_{k not yet} m_k²/2``.

    Raises:
        ValueError: a frequency in ``order`` not in ``magnitudes``, or listed twice, or a magnitude NaN.

    Examples:
        >>> plateau_losses({1: 2.0, 2: 1.0}, [1, 2])
        [2.5, 0.5, 0.0]
    """
    missing = [k for k in order if k not in magnitudes]
    if missing:
        raise ValueError(f"order lists frequencies {missing} that magnitudes does not have (it has {list(magnitudes)})")
    if len(set(order)) != len(order):
        raise ValueError(f"order lists a frequency twice: {list(order)}")
    bad = {k: m for k, m in magnitudes.items() if math.isnan(m)}
    if bad:  # it gave NaN plateaus up to its acquisition
        raise ValueError(f"magnitudes must be numbers, got NaN at {bad}")
    left = dict(magnitudes)
    out = [float(sum(m * m / 2 for m in left.values()))]
    for k in order:
        left.pop(k)
        out.append(float(sum(m * m / 2 for m in left.values())))
    return out


def predict_acquisitions(
    U: Float[Tensor, "neuron p"], V: Float[Tensor, "neuron p"], W: Float[Tensor, "p neuron"], magnitudes: Mapping[int, float], lr: float
) -> list[Prediction]:
    """AGF's predicted acquisition of each template frequency, from the initial weights, in time order.

    Args:
        U, V: the ``a``- and ``b``-blocks of the first layer, ``(neurons, p)``.
        W: the output layer, ``(p, neurons)``.
        magnitudes: ``{k: m_k}``, the target's Fourier magnitudes.
        lr: the gradient-descent learning rate ``η``.

    Returns:
        One :class:`Prediction` per frequency, earliest first: ``step`` the
        blow-up time of the fastest neuron, ``value`` the loss plateau after the
        acquisition; ``extra`` holds ``frequency``, ``magnitude``, ``drop``
        (``m_k²/2``), ``neuron`` and ``rank`` (order of ``m_k``).

    Raises:
        ValueError: ``U``, ``V``, ``W`` not one quadratic layer's shapes, ``lr`` not finite and positive,
            no frequency or one that is not an integer in ``1 … (p − 1)/2``, or a magnitude not finite and positive.

    Examples:
        >>> g = torch.Generator().manual_seed(0)
        >>> U, V, W = (0.01 * torch.randn(s, generator=g) for s in [(16, 7), (16, 7), (7, 16)])
        >>> preds = predict_acquisitions(U, V, W, {1: 1.0, 2: 0.5}, lr=1.0)
        >>> [(p.extra["frequency"], p.value) for p in preds]   # plateaus 0.5²/2, then 0
        [(1, 0.125), (2, 0.0)]
    """
    if U.ndim != 2 or V.shape != U.shape or W.shape != (U.shape[1], U.shape[0]):
        raise ValueError(f"shapes do not fit one quadratic layer: U {tuple(U.shape)}, V {tuple(V.shape)}, W {tuple(W.shape)}")
    p = U.shape[1]
    require_positive("lr", lr)
    # a frequency must be a whole number: 1.5 (or True) passed the range check and gave a blow-up time for a
    # "component" that is no Fourier mode of the modulus
    bad = [k for k in magnitudes if isinstance(k, (bool, np.bool_)) or not (isinstance(k, (int, float, np.integer, np.floating)) and float(k).is_integer() and 1 <= k <= (p - 1) // 2)]
    if bad or not magnitudes:
        raise ValueError(f"frequencies must be in 1..{(p - 1) // 2}, got {list(magnitudes)} (each a whole number, a key of magnitudes)")
    bad_magnitudes = {k: m for k, m in magnitudes.items() if not (m > 0 and math.isfinite(m))}
    if bad_magnitudes:
        raise ValueError(f"magnitudes must be positive and finite, got {bad_magnitudes}")
    rows = []
    for k, m in magnitudes.items():
        u, v, w = (fourier_components(x, int(k)) for x in (U, V, W.T))  # int: a float32 k rounded the phases
        times = blowup_times(u, v, w, rate(p, m, lr))
        rows.append((float(times.min()), int(times.argmin()), k, float(m)))
    rows.sort()
    by_size = sorted(magnitudes, key=lambda k: -magnitudes[k])
    plateaus = plateau_losses(magnitudes, [r[2] for r in rows])
    return [
        Prediction(
            name=f"frequency {k} acquired",
            step=t,
            value=plateaus[i + 1],
            assumptions=ASSUMPTIONS,
            theory="agf",
            extra={"frequency": k, "magnitude": m, "drop": m * m / 2, "neuron": neuron, "rank": by_size.index(k)},
        )
        for i, (t, neuron, k, m) in enumerate(rows)
    ]


def magnitude_order(magnitudes: Mapping[int, float]) -> list[int]:
    """Frequencies by decreasing target magnitude: AGF's predicted order of acquisition.

    Raises:
        ValueError: a magnitude that is NaN (it has no place in the order).

    Examples:
        >>> magnitude_order({1: 0.5, 3: 1.0, 2: 0.7})
        [3, 2, 1]
    """
    bad = {k: m for k, m in magnitudes.items() if math.isnan(m)}
    if bad:
        raise ValueError(f"magnitudes must be numbers, got NaN at {bad}")
    return sorted(magnitudes, key=lambda k: -magnitudes[k])


__all__ = ["ASSUMPTIONS", "blowup_times", "fourier_components", "magnitude_order", "plateau_losses", "predict_acquisitions", "rate"]
