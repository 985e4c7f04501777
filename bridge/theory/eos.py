"""Edge of stability (Cohen et al. 2021): gradient descent's sharpness rises to, then hovers at, 2/η.

On a quadratic ``½ λ x²`` gradient descent with step ``η`` multiplies ``x`` by
``1 − ηλ`` each step, so it converges iff ``λ < 2/η`` and, just past that
threshold, oscillates with period 2 along the curvature direction. With heavy-ball
momentum ``β`` the threshold is ``(2 + 2β)/η``. Cohen et al. observed that full-batch
gradient descent on neural networks sharpens progressively until the top
Hessian eigenvalue reaches this threshold and then stays near it while the
loss keeps falling non-monotonically.

Examples:
    >>> stability_threshold(0.1)
    20.0
    >>> round(stability_threshold(0.1, momentum=0.9), 6)
    38.0
    >>> predict_plateau(0.25).value
    8.0
"""

from __future__ import annotations

import math

import numpy as np
from jaxtyping import Float

from bridge.theory.base import Prediction, require_count, require_number, require_positive

ASSUMPTIONS = (
    "full-batch gradient descent (no minibatch noise) with a constant step size",
    "a loss whose sharpness grows during training (progressive sharpening), e.g. MSE",
    "the sharpness (top Hessian eigenvalue) is measured on the training batch",
)


def stability_threshold(lr: float, momentum: float = 0.0) -> float:
    """The largest curvature gradient descent is stable on: ``(2 + 2β)/η`` (``2/η`` without momentum).

    Raises:
        ValueError: ``lr`` not finite and positive, or ``momentum`` outside ``[0, 1)``.

    Examples:
        >>> stability_threshold(0.01), round(stability_threshold(0.01, momentum=0.5), 6)   # 2/η, 3/η
        (200.0, 300.0)
    """
    require_positive("lr", lr)
    require_number("momentum", momentum)
    if not 0 <= momentum < 1:
        raise ValueError(f"momentum must be in [0, 1), got {momentum}")
    return (2.0 + 2.0 * float(momentum)) / float(lr)  # a float32 η gave a float32 threshold


def predict_plateau(lr: float, momentum: float = 0.0) -> Prediction:
    """The predicted value of the sharpness plateau for step size ``lr`` (and heavy-ball ``momentum``).

    Examples:
        >>> p = predict_plateau(0.05)
        >>> p.name, p.value   # 2/η
        ('sharpness plateau (η=0.05)', 40.0)
    """
    value = stability_threshold(lr, momentum)  # checks lr before it is formatted into the name
    return Prediction(
        name=f"sharpness plateau (η={lr:g})",
        value=value,
        assumptions=ASSUMPTIONS,
        theory="edge of stability (Cohen et al. 2021)",
        extra={"lr": lr, "momentum": momentum},
    )


def gd_on_quadratic(curvature: float, lr: float, steps: int, x0: float = 1.0, momentum: float = 0.0) -> Float[np.ndarray, " steps_plus_one"]:
    """Iterates of (heavy-ball) gradient descent on ``½ λ x²`` from ``x0``: the theory's exact model.

    Each step is ``x ← x − ηλ x + β (x − x_prev)`` (``x_prev = x0`` at the start), ``steps + 1`` iterates.
    A step is taken on the two iterates rescaled by a power of two, so that an iterate within the float
    range comes out of it whatever the size of ``ηλ x``; an iterate beyond the range is ``±inf``, and so
    are the later ones, with the sign of the growing mode ``1 + β − ηλ`` (a diverging run is not NaN).

    Raises:
        ValueError: ``steps`` not a non-negative integer, ``lr`` not finite and positive,
            ``curvature`` or ``x0`` not finite, or ``momentum`` outside ``[0, 1)``.

    Examples:
        >>> gd_on_quadratic(3.0, 1.0, 3).tolist()   # multiplier 1 − ηλ = −2
        [1.0, -2.0, 4.0, -8.0]
    """
    require_count("steps", steps, low=0)
    require_positive("lr", lr)
    for name, value in (("curvature", curvature), ("x0", x0)):
        require_number(name, value)
        if not np.isfinite(value):
            raise ValueError(f"{name} must be finite, got {value}")
    require_number("momentum", momentum)
    if not 0 <= momentum < 1:
        raise ValueError(f"momentum must be in [0, 1), got {momentum}")
    lr_curvature, momentum = float(lr) * float(curvature), float(momentum)
    growing = math.copysign(1.0, 1.0 + momentum - lr_curvature)
    # past the float range ηλ is kept as h · 2^shift with |h| in [1/4, 1): inf · 0 was NaN for a zero iterate, and
    # inf · x was ±inf for an x small enough that ηλ · x is a float
    (lr_m, lr_e), (c_m, c_e) = math.frexp(float(lr)), math.frexp(float(curvature))
    h, shift = (lr_m * c_m, lr_e + c_e) if math.isinf(lr_curvature) else (lr_curvature, 0)
    xs = [float(x0)]
    x, prev = float(x0), float(x0)
    for _ in range(steps):
        if math.isinf(x):  # diverged: only the growing mode is left, a real root of the sign of 1 + β − ηλ
            x, prev = growing * x, x
        else:  # scaled: ηλ·x overflowed (then inf − inf) for x near the float range even where the step shrinks x
            e = max(math.frexp(x)[1], math.frexp(prev)[1])
            a, b = math.ldexp(x, -e), math.ldexp(prev, -e)
            y = a - h * a + momentum * (a - b) if shift == 0 else math.ldexp(a + momentum * (a - b), -shift) - h * a
            try:
                x, prev = math.ldexp(y, e + shift), x
            except OverflowError:
                x, prev = math.copysign(math.inf, y), x
        xs.append(x)
    return np.array(xs)


def oscillation_multiplier(lr: float, sharpness: float) -> float:
    """``1 − ηλ``: the per-step factor of the component along the top eigenvector (−1 at the edge).

    Raises:
        ValueError: ``lr`` not finite and positive, or ``sharpness`` not finite.

    Examples:
        >>> oscillation_multiplier(0.1, 20.0), oscillation_multiplier(0.1, 5.0)   # at the edge 2/η; inside it
        (-1.0, 0.5)
    """
    require_positive("lr", lr)
    require_number("sharpness", sharpness)
    if not np.isfinite(sharpness):
        raise ValueError(f"sharpness must be finite, got {sharpness}")
    return 1.0 - float(lr) * float(sharpness)


__all__ = ["ASSUMPTIONS", "gd_on_quadratic", "oscillation_multiplier", "predict_plateau", "stability_threshold"]
