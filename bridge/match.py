"""Join predictions, dynamics events and mechanism events into :class:`Match` rows; named :class:`Check` rows.

Every row has a ``role``:

- ``"claim"``: a falsifiable test of a stated claim (``claim``) with its ``source`` (paper and
  figure or equation, or the theory module that predicts it). Claims are *counted*: the verdict
  is computed from them alone.
- ``"precondition"``: something that must hold for the claims to be judged at all (training
  converged, the phenomenon appeared). A failed precondition makes the verdict ``"invalid"``.
- ``"info"``: a measurement reported for the reader, never judged.

``depends_on`` names the preset choices a row's outcome is known to depend on (for example
``("rotary positions", "SGD")``); seed and robustness reports state its pass fraction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bridge.stages.detectors import Event

ROLES = ("claim", "precondition", "info")


class _Judged:
    """What every row shares: its ``role`` is checked, and only claims are ``counted``."""

    role: str

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, got {self.role!r}")

    @property
    def counted(self) -> bool:
        """Whether the row counts toward the verdict (only claims do)."""
        return self.role == "claim"

    @property
    def row_key(self) -> str:
        """What a row is the same row by across seeds and configurations: its ``key``, else its name."""
        return self.key or self.name  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Match(_Judged):
    """One row joining a prediction, a dynamics event and a mechanism event.

    ``relative_error`` is the largest of |observed − predicted|/predicted and
    |mechanism − observed|/observed (each when both sides exist); ``passed``
    when it is within ``tolerance`` and every required side was detected.
    Usually built by :func:`match`.

    Examples:
        >>> m = Match("mode 0", 100.0, "rise", 110.0, None, None, 0.1, 0.15, True)
        >>> m.name, m.counted, m.row_key
        ('mode 0', True, 'mode 0')
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
    role: str = "claim"
    claim: str = ""
    source: str = ""
    depends_on: tuple[str, ...] = ()
    reason: str = ""
    key: str = ""

    @property
    def name(self) -> str:
        return self.prediction


@dataclass(frozen=True)
class Check(_Judged):
    """A named quantitative check: ``value`` against a ``target`` described in words.

    Usually built by :func:`check`; a ``"precondition"`` or ``"info"`` row is not counted.

    Examples:
        >>> c = Check("final loss", 0.01, "<= 0.05", True, role="precondition", key="loss")
        >>> c.counted, c.row_key
        (False, 'loss')
    """

    name: str
    value: float | str | None
    target: str
    passed: bool
    role: str = "claim"
    claim: str = ""
    source: str = ""
    depends_on: tuple[str, ...] = ()
    reason: str = ""
    key: str = ""


ROUNDING = 1e-9  # how far a measurement may leave its range by float rounding alone


def outside(values: Any, lo: float, hi: float) -> list[float]:
    """The entries of ``values`` (any shape) beyond ``[lo, hi]`` by more than float rounding (:data:`ROUNDING`), in
    order: a CKA of 1.2 or an accuracy of 1.5 is a broken measurement, which a judge must not read as a large one.
    NaN is not outside (the detectors leave it out).

    Examples:
        >>> outside([0.5, 1.0 + 1e-12, 1.5, -0.2, float("nan")], 0.0, 1.0)
        [1.5, -0.2]
    """
    flat = np.asarray(values, dtype=float).ravel()
    return flat[(flat < lo - ROUNDING) | (flat > hi + ROUNDING)].tolist()


def order_text(a: float, b: float) -> str:
    """``"a < b"`` with the fewest decimals (at least one) that tell the two numbers apart, for a row judging their order.

    Equal numbers keep one decimal; numbers no fixed-point text separates (below 1e-17 apart) are written exactly.

    Examples:
        >>> order_text(95.3, 95.35), order_text(1200.04, 1800.0), order_text(7.0, 7.0)
        ('95.30 < 95.35', '1200.0 < 1800.0', '7.0 < 7.0')
    """
    a, b = float(a), float(b)
    for digits in range(1, 18):
        left, right = f"{a:.{digits}f}", f"{b:.{digits}f}"
        if left != right or a == b:
            return f"{left} < {right}"
    return f"{a!r} < {b!r}"


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
    role: str = "claim",
    claim: str = "",
    source: str = "",
    depends_on: tuple[str, ...] = (),
    key: str = "",
) -> Match:
    """One match: does the dynamics event fall where theory predicts, and the mechanism with it?

    Args:
        prediction: name of the prediction.
        predicted_step: its predicted step (``None`` when the theory predicts no time).
        dynamics: the event detected on a dynamics observable (``None``: not detected).
        mechanism: the event detected on a mechanism observable (``None``: not detected).
        tolerance: the largest relative error that passes.
        require_mechanism: fail when no mechanism event was detected.
        detail: extra JSON-friendly fields for the report.
        role: ``"claim"`` (counted), ``"precondition"`` or ``"info"`` (see the module docstring).
        claim: the claim the row tests, in words.
        source: where the claim comes from (paper and figure or equation, or a theory module).
        depends_on: preset choices the outcome is known to depend on.
        key: the row's identity across seeds and configurations, when its name holds something
            that differs between them (a measured strength); default: the name.

    A row whose dynamics or mechanism event is absent fails, and ``reason`` says which; so does a row whose dynamics
    event is at step 0 while a mechanism event is required (its relative error would divide by 0).

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
    at_zero = observed == 0 and mech is not None  # the mechanism's relative error divides by the observed step
    if observed is not None and mech is not None and not at_zero:
        errors.append(relative_error(mech, observed))
    detected = observed is not None and (mech is not None or not require_mechanism)
    error = (math.nan if any(math.isnan(e) for e in errors) else max(errors)) if errors else None
    passed = bool(detected and error is not None and error <= tolerance and not at_zero)
    steps = {"predicted": predicted_step, "observed": observed, "mechanism": mech}
    reason = ""
    if observed is None:
        reason = "dynamics event absent"
    elif require_mechanism and mech is None:
        reason = "mechanism event absent"
    elif at_zero:
        reason = "dynamics event at step 0: the mechanism's relative error to it is not defined"
    elif error is not None and math.isnan(error):
        reason = "not a number: " + ", ".join(f"{k} step" for k, v in steps.items() if v is not None and math.isnan(v))
    elif error is None:
        reason = "no prediction to compare with"
    elif not passed:
        reason = f"relative error {error:.3g} > tolerance {tolerance:g}"
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
        role=role,
        claim=claim,
        source=source,
        depends_on=tuple(depends_on),
        reason=reason,
        key=key,
    )


def check(
    name: str,
    value: Any,
    target: str,
    passed: bool,
    *,
    role: str = "claim",
    claim: str = "",
    source: str = "",
    depends_on: tuple[str, ...] = (),
    reason: str = "",
    key: str = "",
) -> Check:
    """A quantitative check row (``value`` is made JSON-friendly).

    Args:
        name: short name of the row.
        value: the measured value (a number, a string, or ``None`` when it could not be measured).
        target: the target in words, e.g. ``"<= 0.15"``.
        passed: whether ``value`` meets ``target``.
        role: ``"claim"`` (counted), ``"precondition"`` or ``"info"`` (see the module docstring).
        claim: the claim the row tests, in words.
        source: where the claim comes from.
        depends_on: preset choices the outcome is known to depend on.
        reason: why it failed, when that is not plain from value and target (e.g. an absent event).
        key: the row's identity across seeds and configurations, when its name holds something
            that differs between them (the head it judges); seed reports and robustness tables
            gather rows by it (default: the name).

    A number that is not finite (NaN or ±∞) never passes, whatever ``passed`` says: a measurement that broke
    is not evidence for a claim, though ``∞ > 0.85`` and ``−∞ < 0.3`` hold; its ``reason`` names the value.

    Examples:
        >>> check("modes in order", 1.0, "== 1", True).passed
        True
        >>> check("every mode learned", 0.0, "== 1", False, role="precondition").counted
        False
        >>> row = check("final score", float("inf"), "> 0.85", True)
        >>> row.passed, row.reason
        (False, 'the value is inf, not a finite number')
    """
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value) and passed:
        passed, reason = False, "; ".join(filter(None, [f"the value is {value}, not a finite number", reason]))
    return Check(name, value, target, bool(passed), role, claim, source, tuple(depends_on), reason, key)
