"""Exact learning dynamics of deep linear networks (Saxe, McClelland & Ganguli 2014, 2019).

With whitened inputs (``Σxx = I``) and loss ``½ E‖y − W x‖²``, gradient descent
with learning rate ``η`` on a depth-``L`` network from small, balanced,
decoupled initial conditions learns each singular mode of ``Σyx`` (strength
``s``) independently; the mode's strength ``u`` in the end-to-end map obeys

    du/dt = η · L · u^{2(L−1)/L} · (s − u),        t in optimizer steps.

For ``L = 2`` this has the closed form

    u(t) = s·e^{2sηt} / (e^{2sηt} − 1 + s/u₀),

a sigmoid that reaches half-way, ``(u₀ + s)/2``, at ``ln(s/u₀ + 1) / (2sη)``: stronger
modes are learned first, in time ∝ (1/s)·ln(s/u₀).

From small *random* weights the theory's initial condition is not given but
emerges. At depth 2 it follows from the initial weights
(:func:`effective_initial_strength`). At depth ``L ≥ 3`` the early dynamics
are not linear and no such formula exists, so the initial strength is measured
on the run's first checkpoints (:func:`measured_initial_strength`): the mode's
measured strength ``u(t_a)`` at an early *anchor* checkpoint ``t_a`` is carried
back along the ODE to the ``u₀`` at step 0 that reaches it at ``t_a``; the
prediction is that ODE's half-rise. :func:`predict_run` picks the right path
for a deep linear run.

At depth 2 the whole network, not only each mode's strength, has an exact solution
from any balanced start, aligned with the modes or not: :func:`~bridge.theory.balanced_flow.balanced_flow`
(Fukumizu 1998; Braun et al. 2022) gives ``W₁ᵀW₁`` and ``W₂W₁`` over training from a
run's actual initial weights.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING

import numpy as np
from jaxtyping import Float
from scipy.integrate import quad
from scipy.optimize import brentq
from torch import Tensor

from bridge.theory.base import Prediction

if TYPE_CHECKING:
    from bridge.runs.run import Run

ANCHOR_FRACTION = 0.02  # default anchor level of measured_initial_strength, as a fraction of s

ASSUMPTIONS = (
    "whitened inputs (Σxx = I)",
    "loss ½·E‖y − ŷ‖² with full-batch gradient descent, small learning rate",
    "small, balanced initial mode strengths; modes decouple",
)


def _check(s: float, u0: float, lr: float, depth: int, steps: np.ndarray | None = None) -> None:
    if not (0 < u0 < s < np.inf and 0 < lr < np.inf and depth >= 2 and float(depth).is_integer()):  # NaN fails each comparison
        raise ValueError(f"need finite s > u0 > 0, finite lr > 0 and an integer depth >= 2; got s={s}, u0={u0}, lr={lr}, depth={depth}")
    if steps is not None and not (np.isfinite(steps).all() and (steps >= 0).all()):
        raise ValueError(f"steps must be finite and non-negative, got {steps[~(np.isfinite(steps) & (steps >= 0))][:3].tolist()} among them")


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
    _check(s, u0, lr, depth, steps)
    if depth == 2:
        with np.errstate(over="ignore", invalid="ignore"):
            term = (s / u0 - 1) * np.exp(-2 * s * lr * steps)
            u = s / (1 + term)  # s·g/(g − 1 + s/u0) divided through by g: no overflow
        off = ~np.isfinite(term)
        if np.any(off):  # s/u0 or 2sη past the float range (inf · 0 was NaN): u = s / (1 + e^x) in logs
            (ms, es), (ml, el), (mt, et) = math.frexp(s), math.frexp(lr), np.frexp(steps)
            with np.errstate(over="ignore"):
                rise = np.ldexp(ms * ml * mt, es + el + et + 1)  # 2sηt from mantissas and exponents: 0 at t = 0
            x = np.log(s - u0) - np.log(u0) - rise
            u = np.where(off, np.where(steps == 0, u0, np.exp(np.log(s) - np.logaddexp(0.0, x))), u)
        return u
    return ode_trajectory(steps, s, u0, lr, depth)


def ode_trajectory(steps: np.ndarray, s: float, u0: float, lr: float, depth: int) -> np.ndarray:
    """Numerical solution of the mode ODE (any depth; :func:`mode_trajectory` uses it for ``L > 2``): ``(n,)`` steps to ``(n,)`` strengths.

    The time the ODE takes between two strengths is a quadrature (:func:`ode_time`); the strength at
    each step is found by inverting it from the strength at the step before, so a long plateau
    from a tiny ``u0`` costs no accuracy (a stepping solver drifts along it).

    Examples:
        >>> ode_trajectory(np.array([0.0, 100.0, 300.0]), 2.0, 1e-3, lr=0.01, depth=2).round(4).tolist()   # = the closed form
        [0.001, 0.0532, 1.9757]
        >>> t = half_rise_step(0.1, 1e-12, lr=1.0, depth=5)
        >>> round(float(ode_trajectory(np.array([t]), 0.1, 1e-12, lr=1.0, depth=5)[0]), 9)   # half-way, (u0 + s) / 2
        0.05
    """
    steps = np.asarray(steps, dtype=float)
    _check(s, u0, lr, depth, steps)
    times, where = np.unique(steps, return_inverse=True)  # sorted, each once (checkpoints may repeat)
    values = np.empty(times.shape)
    u, at = float(u0), 0.0
    for k, t in enumerate(times):
        if t > at and u < s:
            u, at = _advance(s, u, t - at, lr, depth), t
        values[k] = u
    return values[where].reshape(steps.shape)


def _advance(s: float, u: float, dt: float, lr: float, depth: int) -> float:
    """The strength ``dt > 0`` steps after strength ``u`` (``0 < u < s``); ``s`` once it is within rounding of it."""
    gap = lambda logv: _integrated_time(s, u, float(np.exp(logv)), lr, depth) - dt  # noqa: E731
    low, halvings = np.log(u), 1
    while True:  # bracket the root in log strength: halve the distance to s (where the ODE's time diverges)
        v = s - (s - u) * 0.5**halvings
        if v >= s * (1 - 4 * np.finfo(float).eps):
            return float(s)
        if gap(np.log(v)) >= 0:
            break
        low, halvings = np.log(v), halvings + 1
    return float(np.exp(brentq(gap, low, np.log(v), xtol=1e-15, rtol=4 * np.finfo(float).eps)))


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
    """Half-rise step by quadrature of the mode ODE (any depth; used for ``L > 2``).

    Examples:
        >>> round(integrated_half_rise(2.0, 1e-3, 0.01, depth=2), 2), round(integrated_half_rise(2.0, 1e-3, 0.01, depth=3), 2)
        (190.04, 466.15)
    """
    _check(s, u0, lr, depth)
    return _integrated_time(s, u0, (u0 + s) / 2, lr, depth)


def _integrated_time(s: float, u_from: float, u_to: float, lr: float, depth: int) -> float:
    # t = ∫ du / (η L u^p (s − u)): below s/2 in log u (accurate at small u); above it in z = log(s − u),
    # dt = −dz / (η L u^p), which has no singularity at s (s − u is exact there: Sterbenz)
    power, middle = 2 * (depth - 1) / depth, s / 2
    below = lambda logu: np.exp(logu) ** (1 - power) / (lr * depth * (s - np.exp(logu)))  # noqa: E731
    above = lambda z: 1 / (lr * depth * (s - np.exp(z)) ** power)  # noqa: E731
    sign, (u_from, u_to) = (1.0, (u_from, u_to)) if u_from <= u_to else (-1.0, (u_to, u_from))
    value = 0.0
    if u_from < middle:
        value += quad(below, np.log(u_from), np.log(min(u_to, middle)), limit=200, epsabs=0, epsrel=1e-10)[0]
    if u_to > middle:
        value += quad(above, np.log(s - u_to), np.log(s - max(u_from, middle)), limit=200, epsabs=0, epsrel=1e-10)[0]
    return sign * float(value)


def ode_time(s: float, u_from: float, u_to: float, lr: float, depth: int) -> float:
    """Steps the mode ODE takes from strength ``u_from`` to ``u_to`` (both in ``(0, s)``; negative if ``u_to < u_from``).

    Examples:
        >>> t = ode_time(2.0, 1e-3, 1.0, lr=0.01, depth=3)
        >>> bool(np.isclose(t, half_rise_step(2.0, 1e-3, 0.01, depth=3) - ode_time(2.0, 1.0, 1.0005, 0.01, 3)))
        True
    """
    _check(s, min(u_from, u_to), lr, depth)
    if not max(u_from, u_to) < s:
        raise ValueError(f"need u_from and u_to in (0, s), got u_from={u_from}, u_to={u_to}, s={s}")
    if depth == 2:
        return _depth2_time(s, u_from, lr, u_to)
    return _integrated_time(s, u_from, u_to, lr, depth)


def strength_before(s: float, u_at: float, steps: float, lr: float, depth: int) -> float:
    """The ``u₀`` at step 0 from which the mode ODE reaches ``u_at`` after ``steps`` steps.

    Raises:
        ValueError: ``steps`` negative or not finite, or ``s``, ``u_at``, ``lr``, ``depth`` out of range.

    Examples:
        >>> u = float(mode_trajectory(np.array([300.0]), s=2.0, u0=1e-3, lr=0.01, depth=3)[0])
        >>> round(strength_before(2.0, u, 300.0, lr=0.01, depth=3), 8)
        0.001
    """
    _check(s, u_at, lr, depth, np.asarray(steps, dtype=float))
    if steps == 0:
        return float(u_at)
    # ode_time(u0 → u_at) falls from +∞ (u0 → 0) to 0 (u0 = u_at): one root in log u0
    gap = lambda logu0: ode_time(s, float(np.exp(logu0)), u_at, lr, depth) - steps  # noqa: E731
    low = np.log(u_at)
    while gap(low) < 0:
        low -= 5.0
        if low < -700:
            raise ValueError(f"no initial strength reaches {u_at} in {steps} steps")
    return float(np.exp(brentq(gap, low, np.log(u_at), xtol=1e-12, rtol=1e-12)))


def measured_initial_strength(steps: np.ndarray, values: np.ndarray, s: float, lr: float, depth: int, fraction: float = ANCHOR_FRACTION) -> tuple[float, float, float]:
    """The effective initial strength of one mode, measured on its early curve (any depth, meant for ``L ≥ 3``).

    Rule: the *anchor* is the last checkpoint at which the mode's measured
    strength is at most ``fraction · s``: after it the mode stays above that
    level (a random start that begins above it and falls back does not count). Its strength ``u_a`` at step ``t_a`` must be positive: a mode
    still at or below zero there (a random start of the wrong sign, or
    checkpoints too sparse to catch the rise) gets no prediction and raises.
    The initial strength is :func:`strength_before` ``(s, u_a, t_a)``, so
    the balanced ODE from it passes through the measurement. Between the
    random start and the anchor the mode aligns and balances; the smaller
    ``fraction``, the earlier the anchor and the more of the rise is predicted.

    Args:
        steps, values: the mode's measured strength curve, shape ``(n,)`` (``mode/strength``).
        s: the teacher's singular value of the mode.
        lr: learning rate; depth: number of weight layers.
        fraction: anchor level as a fraction of ``s`` (in ``(0, 0.5)``).

    Returns:
        ``(u0, t_a, u_a)``.

    Raises:
        ValueError: ``steps`` and ``values`` not 1-D of one length or not finite, ``fraction`` outside ``(0, 0.5)``, or no checkpoint with a positive strength at or before the anchor.

    Examples:
        >>> t = np.array([0.0, 100.0, 200.0, 300.0, 400.0])
        >>> u = mode_trajectory(t, s=2.0, u0=1e-3, lr=0.01, depth=3)
        >>> round(measured_initial_strength(t, u, 2.0, 0.01, 3)[0], 8)
        0.001
    """
    steps, values = np.asarray(steps, dtype=float), np.asarray(values, dtype=float)
    if steps.ndim != 1 or steps.shape != values.shape or steps.size == 0:
        raise ValueError(f"steps and values must be 1-D of one non-zero length, got shapes {steps.shape} and {values.shape}")
    if not 0 < fraction < 0.5:
        raise ValueError(f"fraction must be in (0, 0.5), got {fraction}")
    if not (np.isfinite(steps).all() and np.isfinite(values).all()):
        raise ValueError("steps and values must be finite, got step {:g} with value {:g}".format(*np.stack([steps, values])[:, ~(np.isfinite(steps) & np.isfinite(values))][:, 0]))
    order = np.argsort(steps)
    steps, values = steps[order], values[order]
    below = np.flatnonzero(values <= fraction * s)
    a = int(below[-1]) if len(below) else -1
    if a < 0 or not values[a] > 0:
        where = "at step 0" if a < 0 else f"at step {steps[a]:g} ({values[a]:.3g})"
        raise ValueError(f"mode of strength s={s}: no positive measured strength before it passes {fraction}·s ({where}); checkpoint it more densely early on")
    return strength_before(s, float(values[a]), float(steps[a]), lr, depth), float(steps[a]), float(values[a])


def _depth2_time(s: float, u0: float, lr: float, target: float) -> float:  # invert u(t) = s·g / (g − 1 + s/u0) for g = e^{2sηt}
    with np.errstate(over="ignore"):
        g = target * (s / u0 - 1) / (s - target)
    # past the float range (s/u0 or 2sη overflowed, inf / inf was NaN) the logarithms are summed and divided one factor at a time
    log_g = math.log(g) if 0 < g < np.inf else math.log(target) + math.log(s - u0) - math.log(u0) - math.log(s - target)
    rate = 2 * s * lr
    return float(log_g / rate) if rate < np.inf else float(log_g / 2 / s / lr)


def effective_initial_strength(
    w_in: Float[Tensor, "hidden d_in"], w_out: Float[Tensor, "d_out hidden"], u: Float[Tensor, "d_out mode"], v: Float[Tensor, "d_in mode"]
) -> Float[Tensor, " mode"]:
    """The initial strength that a depth-2 network from small *random* weights effectively starts from.

    Early on, the hidden vectors ``a = W₁v`` and ``b = W₂ᵀu`` of a mode evolve as
    ``ȧ = s b, ḃ = s a``: their balanced part ``(a + b)/2`` grows as ``e^{sηt}``
    and the rest decays, so the mode follows the balanced solution started from
    ``u₀ = ‖(a + b)/2‖²`` (silent alignment).

    Raises:
        ValueError: shapes that do not fit ``W₁ (hidden, d_in)``, ``W₂ (d_out, hidden)``, ``u (d_out, modes)`` and ``v (d_in, modes)``.

    Examples:
        >>> w1, w2 = torch.eye(2) * 0.1, torch.eye(2) * 0.1
        >>> effective_initial_strength(w1, w2, torch.eye(2), torch.eye(2)).tolist()
        [0.010000000707805157, 0.010000000707805157]
    """
    if not (w_in.ndim == w_out.ndim == u.ndim == v.ndim == 2 and w_out.shape[1] == w_in.shape[0] and u.shape[0] == w_out.shape[0] and v.shape[0] == w_in.shape[1] and u.shape[1] == v.shape[1]):
        raise ValueError(f"shapes do not fit w_in (hidden, d_in), w_out (d_out, hidden), u (d_out, modes), v (d_in, modes): got {tuple(w_in.shape)}, {tuple(w_out.shape)}, {tuple(u.shape)}, {tuple(v.shape)}")
    a = w_in @ v
    b = w_out.T @ u
    return (((a + b) / 2) ** 2).sum(0)


def predict_modes(strengths: np.ndarray, u0: np.ndarray, lr: float, depth: int = 2) -> list[Prediction]:
    """One half-rise :class:`Prediction` per mode (``step`` in optimizer steps); ``strengths`` and ``u0`` are ``(modes,)``.

    Raises:
        ValueError: ``strengths`` and ``u0`` not 1-D of one length, or a mode outside the theory's range.

    Examples:
        >>> [round(p.step, 2) for p in predict_modes(np.array([2.0, 1.0]), np.array([1e-3, 1e-3]), lr=0.01)]   # stronger first
        [190.04, 345.44]
    """
    if np.ndim(strengths) != 1 or np.shape(strengths) != np.shape(u0):
        raise ValueError(f"strengths and u0 must be 1-D of one length (one per mode), got shapes {np.shape(strengths)} and {np.shape(u0)}")
    return [Prediction(name=f"mode {m} half-rise", step=half_rise_step(float(s), float(a), lr, depth), value=float(s), assumptions=ASSUMPTIONS, theory="saxe",
                       extra={"mode": m, "s": float(s), "u0": float(a), "lr": lr, "depth": depth}) for m, (s, a) in enumerate(zip(strengths, u0))]


def predict_modes_from_curves(steps: np.ndarray, values: np.ndarray, strengths: np.ndarray, lr: float, depth: int, fraction: float = ANCHOR_FRACTION) -> list[Prediction]:
    """Half-rise predictions with each mode's initial strength measured on its early curve.

    Args:
        steps: checkpoint steps, shape ``(n,)``.
        values: measured mode strengths, shape ``(n, modes)``.
        strengths: the teacher's singular values, shape ``(modes,)``.
        lr, depth: learning rate and number of weight layers.
        fraction: anchor level (see :func:`measured_initial_strength`).

    Returns:
        One :class:`Prediction` per mode; ``extra`` holds ``u0``, the anchor's
        ``anchor_step`` and ``anchor_value``. A mode without a positive anchor
        raises (see :func:`measured_initial_strength`).

    Raises:
        ValueError: ``values`` not ``(n, modes)`` for ``n`` steps and ``modes`` strengths.

    Examples:
        >>> t = np.arange(0.0, 401.0, 50.0)
        >>> curves = np.stack([mode_trajectory(t, s, 1e-3, 0.01, depth=3) for s in (2.0, 1.0)], axis=1)
        >>> [(round(p.extra["u0"], 8), round(p.step, 2)) for p in predict_modes_from_curves(t, curves, np.array([2.0, 1.0]), 0.01, 3)]
        [(0.001, 466.15), (0.001, 914.56)]
    """
    values, strengths = np.asarray(values, dtype=float), np.asarray(strengths, dtype=float)
    if strengths.ndim != 1 or values.shape != (np.size(steps), strengths.size):
        raise ValueError(f"values must be (n steps, modes) = ({np.size(steps)}, {strengths.size}) for these steps and strengths {strengths.shape}, got shape {values.shape}")
    preds = []
    for m, s in enumerate(strengths):
        try:
            u0, t_a, u_a = measured_initial_strength(steps, values[:, m], float(s), lr, depth, fraction)
        except ValueError as e:
            raise ValueError(f"mode {m}: {e}") from None
        (pred,) = predict_modes(np.array([s]), np.array([u0]), lr, depth)
        extra = {**pred.extra, "mode": m, "anchor_step": t_a, "anchor_value": u_a, "u0_source": "measured"}
        preds.append(dataclasses.replace(pred, name=f"mode {m} half-rise", extra=extra))
    return preds


def predict_run(run: Run, fraction: float = ANCHOR_FRACTION) -> list[Prediction]:
    """Half-rise predictions for a deep linear run trained by gradient descent (``run``: a :class:`~bridge.runs.run.Run`).

    A balanced start (``init="balanced"``) uses its ``init_strength``; a random
    start of depth 2 uses :func:`effective_initial_strength` on the step-0
    weights; a random start of depth ``≥ 3`` uses
    :func:`predict_modes_from_curves` on the run's ``mode/strength`` rows
    (record them with :class:`~bridge.trackers.modes.ModeTracker`).

    The theory is gradient flow sampled at the run's steps: a run trained with
    another optimizer, momentum, weight decay, a warm-up, a decay or clipping is
    refused (:class:`~bridge.config.ConfigError` naming the settings).

    Examples:
        >>> preds = predict_run(bridge.load_run("runs/deep3"))   # doctest: +SKIP
    """
    run.config.train.require_gradient_descent("saxe.predict_run")
    data, model_cfg, lr = run.task_data(), run.config.model, run.config.train.lr
    s, depth = data.info["S"].double().numpy(), model_cfg.depth
    if getattr(model_cfg, "init", "gaussian") == "balanced":
        return predict_modes(s, np.full(len(s), model_cfg.init_strength), lr, depth)
    if depth == 2:
        from bridge.models.deep_linear import DeepLinearNetwork

        net = run.model_at(0)
        if not isinstance(net, DeepLinearNetwork):
            raise ValueError(f"saxe.predict_run reads the modes of a DeepLinearNetwork's two weights, got a {type(net).__name__}")
        u0 = effective_initial_strength(net.weights[0].detach(), net.weights[1].detach(), data.info["U"].to(net.weights[0]), data.info["V"].to(net.weights[0]))
        return predict_modes(s, u0.double().numpy(), lr, depth)
    curves = [run.curve("mode/strength", mode=m) for m in range(len(s))]
    return predict_modes_from_curves(curves[0][0], np.stack([c[1] for c in curves], axis=1), s, lr, depth, fraction)
