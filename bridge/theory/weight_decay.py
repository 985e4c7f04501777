"""Weight decay sets the grokking time scale.

Under AdamW the decoupled decay multiplies every weight by ``1 − η·λ`` per
step, so once the training loss is fitted and its gradient is small the
parameter norm decays as ``‖θ(t)‖ ≈ ‖θ(t₀)‖·exp(−η·λ·(t − t₀))``: the only time
scale the optimiser supplies is ``τ = 1/(η·λ)``. If the memorising solution
has to shrink by a fixed factor before the generalising one takes over, the
grokking step scales as ``(η·λ)^(−α)`` with ``α = 1``. This module gives the
prediction and fits ``α`` (with its standard error and confidence interval)
to grokking steps measured over a sweep of learning rates and weight decays.

Examples:
    >>> import numpy as np
    >>> x = np.array([1e-3, 2e-3, 4e-3, 8e-3])
    >>> fit = fit_power_law(x, 3.0 / x)
    >>> round(fit.exponent, 6), round(fit.prefactor, 6)
    (-1.0, 3.0)
"""

from __future__ import annotations

import math
import sys
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from jaxtyping import Float
from scipy import stats

from bridge.theory.base import Prediction

ASSUMPTIONS = (
    "AdamW with decoupled weight decay λ and learning rate η",
    "after memorisation the loss gradient is small against the decay term",
    "the generalising solution takes over once the norm has shrunk by a fixed factor",
)


def time_scale(lr: float, weight_decay: float) -> float:
    """``τ = 1/(η·λ)``: the e-folding time, in steps, of the weight norm under pure decoupled decay.

    Raises:
        ValueError: ``lr`` or ``weight_decay`` not finite and positive.

    Examples:
        >>> round(time_scale(3e-3, 2.0), 3)
        166.667
    """
    if not (0 < lr < math.inf and 0 < weight_decay < math.inf):  # NaN fails too
        raise ValueError(f"lr and weight_decay must be positive and finite, got {lr}, {weight_decay}")
    # in Python floats, one factor at a time: η·λ underflowed to 0 (a division by zero) for η = λ = 1e-200
    return 1.0 / float(lr) / float(weight_decay)


def decayed_norm(norm0: float, lr: float, weight_decay: float, steps: Float[np.ndarray, " n"]) -> Float[np.ndarray, " n"]:
    """``‖θ₀‖·(1 − η·λ)^t``: the norm after ``t`` steps of decay alone, ``(n,)`` steps to ``(n,)`` norms.

    Computed as ``‖θ₀‖·exp(t·log1p(−η·λ))`` in float64: ``1 − η·λ`` rounded first loses the digits of a
    small ``η·λ`` (a relative error of about ``t·2⁻⁵³``, all of the decay once ``η·λ < 2⁻⁵³``).

    Raises:
        ValueError: ``lr``, ``weight_decay`` negative or ``lr * weight_decay >= 1``; ``norm0`` or a step negative or not finite.

    Examples:
        >>> decayed_norm(10.0, 0.1, 1.0, np.array([0, 1, 2])).round(4).tolist()   # × 0.9 per step
        [10.0, 9.0, 8.1]
    """
    if not (lr >= 0 and weight_decay >= 0 and lr * weight_decay < 1):
        raise ValueError(f"lr and weight_decay must be non-negative with lr * weight_decay < 1, got lr={lr}, weight_decay={weight_decay}")
    if not 0 <= norm0 < math.inf:
        raise ValueError(f"norm0 must be finite and non-negative, got {norm0}")
    steps = np.asarray(steps, float)
    if not np.all((steps >= 0) & (steps < math.inf)):
        raise ValueError(f"steps must be finite and non-negative, got {steps[~((steps >= 0) & (steps < math.inf))][:3].tolist()} among them")
    return float(norm0) * np.exp(steps * math.log1p(-float(lr) * float(weight_decay)))


def decay_prediction(t_start: float, norm_start: float, norm_target: float, lr: float, weight_decay: float) -> Prediction:
    """Step at which pure decay would shrink ``norm_start`` (at ``t_start``) to ``norm_target``.

    Raises:
        ValueError: not ``norm_start > norm_target > 0`` (finite), ``t_start`` not finite, or ``lr``, ``weight_decay`` out of range.

    Examples:
        >>> round(decay_prediction(100, 20.0, 10.0, 1e-2, 1.0).step, 1)
        169.0
    """
    if not math.inf > norm_start > norm_target > 0:
        raise ValueError(f"need finite norm_start > norm_target > 0, got {norm_start}, {norm_target}")
    if not math.isfinite(t_start):
        raise ValueError(f"t_start must be finite, got {t_start}")
    if not (lr > 0 and weight_decay > 0 and lr * weight_decay < 1):
        raise ValueError(f"lr and weight_decay must be positive with lr * weight_decay < 1, got lr={lr}, weight_decay={weight_decay}")
    ratio = norm_target / norm_start  # below the normal range it has lost digits (or is 0): a difference of logs
    shrink = math.log(ratio) if ratio >= sys.float_info.min else math.log(norm_target) - math.log(norm_start)
    # log1p: log(1 − η·λ) rounded 1 − η·λ first and was 0 (a division by zero) for η·λ below 2⁻⁵³
    decay = float(lr) * float(weight_decay)
    # below 1e-17 log1p(−η·λ) is −η·λ to the last digit; η·λ underflowed to 0 (a division by zero) for η = λ = 1e-200
    steps = shrink / math.log1p(-decay) if decay > 1e-17 else -shrink / float(lr) / float(weight_decay)
    return Prediction("norm decays to its final value", step=t_start + steps, value=norm_target, assumptions=ASSUMPTIONS, theory="weight_decay", extra={"tau": time_scale(lr, weight_decay)})


@dataclass(frozen=True)
class PowerLawFit:
    """``t = prefactor · x^exponent`` fitted by least squares on logs.

    Attributes:
        exponent, stderr: slope of ``log t`` on ``log x`` and its standard error.
        ci_low, ci_high: the 95% confidence interval of the exponent (Student t).
        prefactor: ``exp(intercept)``.
        r2: coefficient of determination of the log–log fit (1 when ``t`` is constant: the fit is exact).
        n: number of points.

    Examples:
        >>> PowerLawFit(exponent=-1.0, stderr=0.0, ci_low=-1.0, ci_high=-1.0, prefactor=16.0, r2=1.0, n=4).predict(8.0)
        2.0
    """

    exponent: float
    stderr: float
    ci_low: float
    ci_high: float
    prefactor: float
    r2: float
    n: int

    def predict(self, x: float) -> float:
        return self.prefactor * x**self.exponent

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def fit_power_law(x: Float[np.ndarray, " n"], t: Float[np.ndarray, " n"]) -> PowerLawFit:
    """Fit ``t ∝ x^α`` (``x = η·λ``, ``t`` the grokking step); needs ≥ 3 positive points with 2 distinct ``x``.

    Args:
        x, t: ``(n,)`` finite positive values.

    Raises:
        ValueError: fewer than 3 points or 2 distinct ``x`` (``log x``), a value not finite or not positive, or a
            fitted prefactor beyond the float range (``exp(intercept)`` above about ``1.8e308``).

    Examples:
        >>> fit = fit_power_law([1e-3, 2e-3, 4e-3, 8e-3], [1000.0, 550.0, 240.0, 130.0])
        >>> round(fit.exponent, 3), round(fit.ci_low, 3), round(fit.ci_high, 3), fit.n
        (-1.003, -1.2, -0.806, 4)
    """
    x, t = np.asarray(x, float), np.asarray(t, float)
    if x.shape != t.shape or x.ndim != 1:
        raise ValueError(f"x and t must be 1-D of one length, got {x.shape}, {t.shape}")
    if not (np.isfinite(x).all() and np.isfinite(t).all()):  # NaN passes `<= 0` and would give a NaN fit
        raise ValueError(f"a power-law fit needs finite x and t, got x={x.tolist()}, t={t.tolist()}")
    if len(x) < 3 or np.any(x <= 0) or np.any(t <= 0):
        raise ValueError("a power-law fit needs at least 3 positive points at 2 or more distinct x")
    lx, lt = np.log(x), np.log(t)
    if np.ptp(lx) == 0:  # distinct x can share a log (two neighbouring floats near 1e300)
        raise ValueError(f"a power-law fit needs at least 3 positive points at 2 or more distinct x, got x={x.tolist()}")
    # least squares on centred logs; a constant t is an exact fit (exponent 0, error 0, r² 1), where the
    # correlation is 0/0 and a library regression gave NaN for the error, the interval and r²
    dx, dt = lx - lx.mean(), (lt - lt.mean()) * (np.ptp(lt) > 0)  # the mean of equal logs can differ from them by an ulp
    sxx, stt = float(dx @ dx), float(dt @ dt)
    slope = float(dx @ dt) / sxx
    residual = float((dt - slope * dx) @ (dt - slope * dx))
    stderr = math.sqrt(residual / (len(x) - 2) / sxx)
    q = stats.t.ppf(0.975, len(x) - 2)
    r2 = 1.0 - residual / stt if stt > 0 else 1.0
    log_prefactor = float(lt.mean()) - slope * float(lx.mean())
    try:
        prefactor = math.exp(log_prefactor)
    except OverflowError:  # it escaped as a bare OverflowError (x near 1e100 with t near 1e300)
        raise ValueError(f"the fitted prefactor exp({log_prefactor:.6g}) of t = prefactor * x^exponent is beyond the float range for x={x.tolist()}, t={t.tolist()}; rescale x or t") from None
    return PowerLawFit(slope, stderr, float(slope - q * stderr), float(slope + q * stderr), prefactor, r2, len(x))


__all__ = ["ASSUMPTIONS", "PowerLawFit", "decay_prediction", "decayed_norm", "fit_power_law", "time_scale"]
