"""Join predictions, dynamics events and mechanism events into :class:`Match` rows; named :class:`Check` rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bridge.stages.detectors import Event



@dataclass(frozen=True)
class Match:
    """One row joining a prediction, a dynamics event and a mechanism event.

    ``relative_error`` is the largest of |observed − predicted|/predicted and
    |mechanism − observed|/observed (each when both sides exist); ``passed``
    when it is within ``tolerance`` and every required side was detected.
    """

    prediction: str
    predicted_step: float | None
    dynamics_event: str
    observed_step: float | None
    mechanism: str | None
    mechanism_step: float | None
    relative_error: float | None
    tolerance: float
    passed: bool
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Check:
    """A named quantitative check: ``value`` against a ``target`` described in words."""

    name: str
    value: float | str | None
    target: str
    passed: bool


def relative_error(observed: float, reference: float) -> float:
    """``|observed − reference| / |reference|``.

    Examples:
        >>> relative_error(110.0, 100.0)
        0.1
    """
    if reference == 0:
        raise ValueError("relative error against a zero reference")
    return abs(observed - reference) / abs(reference)


def match(
    prediction: str,
    predicted_step: float | None,
    dynamics: Event | None,
    mechanism: Event | None,
    tolerance: float,
    *,
    require_mechanism: bool = True,
    detail: dict[str, Any] | None = None,
) -> Match:
    """One match: does the dynamics event fall where theory predicts, and the mechanism with it?

    Args:
        prediction: name of the prediction.
        predicted_step: its predicted step (``None`` when the theory predicts no time).
        dynamics: the event detected on a dynamics observable (``None``: not detected).
        mechanism: the event detected on a mechanism observable (``None``: not detected).
        tolerance: the largest relative error that passes.
        require_mechanism: fail when no mechanism event was detected.

    Examples:
        >>> from bridge.stages import Event
        >>> m = match("mode 0", 100.0, Event("rise", 108, 105, 110), Event("diff", 112, 110, 115), 0.15)
        >>> m.passed, round(m.relative_error, 3)
        (True, 0.08)
    """
    observed = None if dynamics is None else float(dynamics.step)
    mech = None if mechanism is None else float(mechanism.step)
    errors = []
    if observed is not None and predicted_step is not None:
        errors.append(relative_error(observed, predicted_step))
    if observed is not None and mech is not None:
        errors.append(relative_error(mech, observed))
    detected = observed is not None and (mech is not None or not require_mechanism)
    error = max(errors) if errors else None
    passed = bool(detected and error is not None and error <= tolerance)
    return Match(
        prediction=prediction,
        predicted_step=None if predicted_step is None else float(predicted_step),
        dynamics_event=dynamics.name if dynamics is not None else "not detected",
        observed_step=observed,
        mechanism=(mechanism.name if mechanism is not None else ("not detected" if require_mechanism else None)),
        mechanism_step=mech,
        relative_error=error,
        tolerance=tolerance,
        passed=passed,
        detail=detail or {},
    )


def check(name: str, value: Any, target: str, passed: bool) -> Check:
    """A quantitative check row (``value`` is made JSON-friendly).

    Examples:
        >>> check("modes in order", 1.0, "== 1", True).passed
        True
    """
    if hasattr(value, "item"):
        value = value.item()
    return Check(name, value, target, bool(passed))
