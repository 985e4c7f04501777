"""Exact learning dynamics of deep linear networks (Saxe, McClelland & Ganguli 2014, 2019).

With whitened inputs (``Σxx = I``) and loss ``½ E‖y − W x‖²``, gradient descent
with learning rate ``η`` on a depth-``L`` network from small, balanced,
decoupled initial conditions learns each singular mode of ``Σyx`` (strength
``s``) independently; the mode's strength ``u`` in the end-to-end map obeys

    du/dt = η · L · u^{2(L−1)/L} · (s − u),        t in optimizer steps.

For ``L = 2`` this has the closed form

    u(t) = s·e^{2sηt} / (e^{2sηt} − 1 + s/u₀),

a sigmoid whose half-rise time is ``ln(s/u₀ − 1) / (2sη)``: stronger modes are
learned first, in time ∝ (1/s)·ln(s/u₀).
"""

from __future__ import annotations

import numpy as np
import torch
from jaxtyping import Float
from scipy.integrate import quad, solve_ivp
from torch import Tensor

from bridge.theory.base import Prediction

ASSUMPTIONS = (
    "whitened inputs (Σxx = I)",
    "loss ½·E‖y − ŷ‖² with full-batch gradient descent, small learning rate",
    "small, balanced initial mode strengths; modes decouple",
)


def _check(s: float, u0: float, lr: float, depth: int) -> None:
    if not (s > 0 and 0 < u0 < s and lr > 0 and depth >= 2):
        raise ValueError(f"need s > u0 > 0, lr > 0, depth >= 2; got s={s}, u0={u0}, lr={lr}, depth={depth}")


def mode_trajectory(steps: np.ndarray, s: float, u0: float, lr: float, depth: int = 2) -> np.ndarray:
    """Predicted strength of a mode of singular value ``s`` at ``steps``.

    Args:
        steps: optimizer steps, shape ``(n,)`` (non-negative).
        s: the teacher mode's singular value.
        u0: the mode's initial strength (``0 < u0 < s``).
        lr: learning rate.
        depth: number of weight layers ``L``.

    Returns:
        ``(n,)`` mode strengths. Closed form for ``L = 2``, numerical ODE otherwise.

    Examples:
        >>> u = mode_trajectory(np.array([0.0, 1e4]), s=2.0, u0=1e-3, lr=0.01)
        >>> round(float(u[0]), 6), round(float(u[1]), 3)
        (0.001, 2.0)
    """
    steps = np.asarray(steps, dtype=float)
    _check(s, u0, lr, depth)
    if depth == 2:
        growth = np.exp(np.minimum(2 * s * lr * steps, 700.0))
        return s * growth / (growth - 1 + s / u0)
    return ode_trajectory(steps, s, u0, lr, depth)


def ode_trajectory(steps: np.ndarray, s: float, u0: float, lr: float, depth: int) -> np.ndarray:
    """Numerical solution of the mode ODE (any depth; :func:`mode_trajectory` uses it for ``L > 2``)."""
    steps = np.asarray(steps, dtype=float)
    _check(s, u0, lr, depth)
    power = (depth - 2) / depth

    def rhs(_t: float, logu: np.ndarray) -> np.ndarray:
        u = np.exp(logu)
        return lr * depth * u**power * (s - u)

    order = np.argsort(steps)
    sol = solve_ivp(rhs, (0.0, float(steps.max(initial=0.0))), [np.log(u0)], t_eval=steps[order], rtol=1e-9, atol=1e-12, method="LSODA")
    out = np.empty_like(steps)
    out[order] = np.exp(sol.y[0])
    return out


def half_rise_step(s: float, u0: float, lr: float, depth: int = 2) -> float:
    """Steps until the mode reaches half-way, ``(u0 + s)/2``, from ``u0``.

    Examples:
        >>> round(half_rise_step(s=2.0, u0=1e-3, lr=0.01), 2)
        190.04
    """
    _check(s, u0, lr, depth)
    if depth == 2:
        return _depth2_time(s, u0, lr, (u0 + s) / 2)
    return integrated_half_rise(s, u0, lr, depth)


def integrated_half_rise(s: float, u0: float, lr: float, depth: int) -> float:
    """Half-rise step by quadrature of the mode ODE (any depth; used for ``L > 2``)."""
    _check(s, u0, lr, depth)
    target = (u0 + s) / 2
    power = 2 * (depth - 1) / depth
    # t = ∫ du / (η L u^p (s − u)); integrate in log u for accuracy at small u0.
    integrand = lambda logu: np.exp(logu) ** (1 - power) / (lr * depth * (s - np.exp(logu)))  # noqa: E731
    value, _ = quad(integrand, np.log(u0), np.log(target), limit=200, epsabs=0, epsrel=1e-10)
    return float(value)


def _depth2_time(s: float, u0: float, lr: float, target: float) -> float:
    # invert u(t) = s·g / (g − 1 + s/u0) for g = e^{2sηt}
    g = target * (s / u0 - 1) / (s - target)
    return float(np.log(g) / (2 * s * lr))


def effective_initial_strength(
    w_in: Float[Tensor, "hidden d_in"], w_out: Float[Tensor, "d_out hidden"], u: Float[Tensor, "d_out mode"], v: Float[Tensor, "d_in mode"]
) -> Float[Tensor, " mode"]:
    """The initial strength that a depth-2 network from small *random* weights effectively starts from.

    Early on, the hidden vectors ``a = W₁v`` and ``b = W₂ᵀu`` of a mode evolve as
    ``ȧ = s b, ḃ = s a``: their balanced part ``(a + b)/2`` grows as ``e^{sηt}``
    and the rest decays, so the mode follows the balanced solution started from
    ``u₀ = ‖(a + b)/2‖²`` (silent alignment).

    Examples:
        >>> w1, w2 = torch.eye(2) * 0.1, torch.eye(2) * 0.1
        >>> effective_initial_strength(w1, w2, torch.eye(2), torch.eye(2)).tolist()
        [0.010000000707805157, 0.010000000707805157]
    """
    a = w_in @ v
    b = w_out.T @ u
    return (((a + b) / 2) ** 2).sum(0)


def predict_modes(strengths: np.ndarray, u0: np.ndarray, lr: float, depth: int = 2) -> list[Prediction]:
    """One half-rise :class:`Prediction` per mode (``step`` in optimizer steps)."""
    return [
        Prediction(
            name=f"mode {m} half-rise",
            step=half_rise_step(float(s), float(a), lr, depth),
            value=float(s),
            assumptions=ASSUMPTIONS,
            theory="saxe",
            extra={"mode": m, "s": float(s), "u0": float(a), "lr": lr, "depth": depth},
        )
        for m, (s, a) in enumerate(zip(strengths, u0))
    ]
