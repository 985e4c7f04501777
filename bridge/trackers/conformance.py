"""A check that a tracker keeps the tracker contract, for a researcher's own tests: :func:`check_tracker`.

The contract (:mod:`bridge.trackers.base`) has rules that a run can check only in
part while it trains (:mod:`bridge.trackers.guard`: the model and torch's global state
after each call, the rows' types); a batched tracker whose captures change with their
stack, or a stacked tracker that disagrees with its call, writes wrong rows without an error. :func:`check_tracker` runs a tracker the ways the
library does, on a few perturbed copies of a model's weights, and names the
first rule broken (the keys of :data:`TRACKER_RULES`):

* ``tidy``: every call returns a list of rows ``{"observable": "group/name", "value": float, **index}``,
  index columns ints or strings (no ``step``: the caller adds it), one row per observable and index;
* ``model``: a call (or ``capture``, ``measure``, ``stacked``) leaves the model as it found it: its
  parameters (the same objects, bit for bit), buffers, each module's train/eval flag, hooks and ``requires_grad``
  (not the gradients: the training loop sets them to ``None`` before every step);
* ``global_state``: it leaves torch's global random generators (CPU, and CUDA once initialised), the
  grad mode and the default dtype as it found them (the training loop draws from the first);
* ``call`` (batched trackers): ``tracker(model, step, data)`` gives, to the bit, the rows of
  ``measure([capture(model, step, data)], data)[0]``;
* ``measure`` (batched trackers): ``measure`` returns one list of rows per capture, and gives a
  capture the same bits alone, in any stack of captures, and after the model's weights have moved on
  (a run measures its captures when it writes rows, at times that depend on the schedule);
* ``stacked`` (stacked trackers): ``stacked(forward, datas)`` gives each model the rows of the
  tracker's call on that model, to 8 units in the last place of the model's dtype by default.
  ``stacked`` is told no step, so those rows cannot depend on the step either.

The ``stacked`` rule has a tolerance because a model's stacked forward need not round as its
own forward does: PyTorch multiplies a stack of small matrices (fewer than 400 multiply-adds
per product) with a kernel of its own, so the deep linear network's ``forward_stacked`` and
``forward`` differ in the last bit for narrow layers. Over 1728 loss rows of float32 deep
linear networks (widths 2 to 16, depth 2 and 3, 8 to 64 examples), 253 differed, by at most
2.6e-7 relative (about 2 units in the last place); on the toy superposition model they are equal.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from functools import partial
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import functional_call

from bridge.models.base import _modules, eval_mode
from bridge.runs.metrics import validate_rows
from bridge.tasks.base import TaskData
from bridge.trackers.base import BatchedTracker, Row, StackedTracker, check_trackers, shared_outputs
from bridge.trackers.guard import Snapshot

TRACKER_RULES: dict[str, str] = {
    "tidy": "rows are a list of {'observable': 'group/name', 'value': float, index columns int or str}, one per observable and index",
    "model": "a tracker leaves the model's parameters, buffers, train/eval flags, hooks and requires_grad as it found them",
    "global_state": "a tracker leaves torch's global random generators, the grad mode and the default dtype as it found them",
    "call": "a batched tracker's call gives the rows of measure([capture]), to the bit",
    "measure": "measure gives one list of rows per capture, the same bits alone, in any stack and after the weights moved on",
    "stacked": "stacked() gives each model the rows the tracker's call gives it (to stacked_rtol)",
}


class TrackerContractError(AssertionError):
    """A tracker breaks a rule of the contract: ``rule`` (a key of :data:`TRACKER_RULES`), the ``observable``
    the first difference is in (``None`` when the rule is not about one row) and the ``tracker``'s name.

    An ``AssertionError``, so a failed check reads as a failed test under pytest.

    Examples:
        >>> e = TrackerContractError("jitter", "global_state", "the call at step 0 drew from torch's global random generator")
        >>> e.tracker, e.rule, e.observable, isinstance(e, AssertionError)
        ('jitter', 'global_state', None, True)
    """

    def __init__(self, tracker: str, rule: str, detail: str, observable: str | None = None) -> None:
        self.tracker, self.rule, self.observable = tracker, rule, observable
        super().__init__(f"tracker {tracker!r} breaks the rule {rule!r} ({TRACKER_RULES[rule]}): {detail}")


def check_tracker(
    tracker: Any, model: nn.Module, data: TaskData, steps: Sequence[int] = (0, 1, 2), *, scale: float = 0.01, seed: int = 0, stacked_rtol: float | None = None
) -> list[Row]:
    """Run ``tracker`` as training and analysis do and raise :class:`TrackerContractError` at the first rule it breaks.

    The model at ``steps[i]`` has the weights of ``model`` plus ``i · scale`` times a
    random tensor of each parameter's RMS size (seeded by ``seed``; ``steps[0]`` keeps
    ``model``'s own weights). The tracker is called at every step in order, as
    :func:`bridge.train` calls it (the model in train mode, autograd on); a batched
    tracker then captures at every step, and every capture is measured alone and in
    every run of consecutive captures; a stacked tracker measures all the models at
    once, through the model's ``forward_stacked`` (what :func:`bridge.train_seeds` passes)
    or, for a model without one, ``torch.func.functional_call`` on each model's weights.

    The model is lent, not copied: the perturbed weights are copied into its parameters
    and its own weights, buffers and flags are put back, bit for bit, before this
    returns or raises. A stateful tracker (a reference taken at its first call) keeps the
    state of these calls.

    Args:
        tracker: the tracker (an object with ``name`` and ``__call__``; ``capture`` and
            ``measure`` for a batched one, ``stacked`` for a stacked one).
        model: a model the tracker measures.
        data: the task data the tracker is called with.
        steps: at least two distinct increasing steps (a tracker that needs step 0 first gets it by default).
        scale: relative size of the perturbation between consecutive steps.
        seed: seeds the perturbations.
        stacked_rtol: relative tolerance of the ``stacked`` rule; ``None``: 8 machine epsilons of the
            model's least precise floating-point dtype (9.5e-7 for float32); 0: the same bits.

    Returns:
        The rows of the calls, each with its ``step``, in step order (as a run writes them).

    Raises:
        TrackerContractError: the first rule broken, with the observable and the values that differ.
        ValueError: ``steps``, ``scale`` or ``stacked_rtol`` out of range. TypeError: not a tracker,
            not an ``nn.Module``, not a ``TaskData``.

    Examples:
        >>> from bridge.models import DeepLinearConfig, build_model
        >>> from bridge.tasks import LinearTeacherConfig, make_task
        >>> from bridge.trackers import row
        >>> class FirstLayerNorm:
        ...     name = "first_layer_norm"
        ...     def __call__(self, model, step, data):
        ...         return [row("weights/first_norm", model.weights[0].detach().norm())]
        >>> data = make_task(LinearTeacherConfig((2.0, 1.0), d_in=3, d_out=3), seed=0)
        >>> model = build_model(DeepLinearConfig(3, 8, 3), seed=0)
        >>> [(r["step"], r["observable"]) for r in check_tracker(FirstLayerNorm(), model, data)]
        [(0, 'weights/first_norm'), (1, 'weights/first_norm'), (2, 'weights/first_norm')]
        >>> class Jitter:  # draws from the generator the training loop draws its dropout from
        ...     name = "jitter"
        ...     def __call__(self, model, step, data):
        ...         return [row("weights/jitter", model.weights[0].detach().norm() + torch.rand(()))]
        >>> check_tracker(Jitter(), model, data)
        Traceback (most recent call last):
        ...
        bridge.trackers.conformance.TrackerContractError: tracker 'jitter' breaks the rule 'global_state' (...): the call at step 0 drew from torch's global random generator ...
    """
    (tracker,) = check_trackers([tracker])
    name = getattr(tracker, "name", None)
    if not isinstance(name, str) or not name:
        raise TypeError(f"a tracker needs a non-empty string `name`, got {name!r}")
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if not isinstance(data, TaskData):
        raise TypeError(f"data must be a TaskData (bridge.tasks.make_task), got {type(data).__name__}")
    steps = _check_steps(steps)
    if not (isinstance(scale, (int, float)) and math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a positive finite number, got {scale!r}")
    if stacked_rtol is None:
        stacked_rtol = 8 * max((torch.finfo(p.dtype).eps for p in model.parameters() if p.is_floating_point()), default=torch.finfo(torch.float32).eps)
    if not (isinstance(stacked_rtol, (int, float)) and 0 <= stacked_rtol < 1):
        raise ValueError(f"stacked_rtol must be None or in [0, 1), got {stacked_rtol!r}")
    weights = _perturbed(model, len(steps), float(scale), seed)
    saved = _Saved(model)
    try:
        model.train()  # as bridge.train calls its trackers
        return _Checker(tracker, name, model, data).run(steps, weights, float(stacked_rtol))
    finally:
        saved.restore()


def _check_steps(steps: Sequence[int]) -> list[int]:
    if isinstance(steps, (str, bytes)) or not isinstance(steps, Sequence) or len(steps) < 2:
        raise ValueError(f"steps must be a sequence of at least two steps, got {steps!r}")
    if any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in steps) or list(steps) != sorted(set(steps)):
        raise ValueError(f"steps must be distinct non-negative integers in increasing order, got {steps!r}")
    return list(steps)


def _perturbed(model: nn.Module, n: int, scale: float, seed: int) -> list[dict[str, Tensor]]:
    """``n`` copies of the model's parameters by name; copy ``i`` moved by ``i · scale`` RMS-sized noise."""
    g = torch.Generator().manual_seed(seed)
    base = {name: p.detach().clone() for name, p in model.named_parameters()}
    sizes = {name: float(p.double().square().mean().sqrt()) or 1.0 for name, p in base.items() if p.is_floating_point() and p.numel()}
    return [base] + [
        {name: (p.double() + (i * scale * sizes[name]) * torch.randn(p.shape, generator=g, dtype=torch.float64).to(p.device)).to(p.dtype) if name in sizes else p for name, p in base.items()}
        for i in range(1, n)
    ]


class _Saved:
    """A model's weights, buffers, flags and requires_grad, put back by :meth:`restore`."""

    def __init__(self, model: nn.Module) -> None:
        self.model, self.state = model, {k: v.detach().clone() for k, v in model.state_dict().items()}
        self.flags = [(m, m.training) for m in _modules(model)]
        self.grads = [(p, p.requires_grad) for p in model.parameters()]

    def restore(self) -> None:
        self.model.load_state_dict(self.state)
        for m, flag in self.flags:
            m.training = flag
        for p, flag in self.grads:
            p.requires_grad_(flag)


class _Checker:
    def __init__(self, tracker: Any, name: str, model: nn.Module, data: TaskData) -> None:
        self.tracker, self.name, self.model, self.data = tracker, name, model, data

    def fail(self, rule: str, detail: str, observable: str | None = None) -> TrackerContractError:
        return TrackerContractError(self.name, rule, detail, observable)

    def load(self, weights: dict[str, Tensor]) -> None:
        with torch.no_grad():
            for name, p in self.model.named_parameters():
                p.copy_(weights[name])

    def guarded(self, what: str, fn: Callable[[], Any], shared: bool = False) -> Any:
        """``fn()`` (inside :func:`shared_outputs` when ``shared``, as TrackingBuffer.track calls), then the
        ``global_state`` and ``model`` rules; ``what`` names the call in the error."""
        before = Snapshot(self.model)
        with torch.enable_grad(), shared_outputs() if shared else nullcontext():
            out = fn()
            problem = before.global_change(grad_enabled=True)
        for rule, found in (("global_state", problem), ("model", problem or before.model_change(self.model))):
            if found:
                raise self.fail(rule, f"{what} {found}")
        return out

    def tidy(self, rows: Any, what: str) -> list[Row]:
        problem = _untidy(rows)
        if problem:
            raise self.fail("tidy", f"{what}: {problem[0]}", problem[1])
        return rows

    def same(self, rule: str, expected: list[Row], got: list[Row], sides: tuple[str, str], where: str, rtol: float = 0.0) -> None:
        found = _first_difference(expected, got, sides, rtol)
        if found:
            raise self.fail(rule, f"{where}, {found[0]}", found[1])

    def run(self, steps: list[int], weights: list[dict[str, Tensor]], stacked_rtol: float) -> list[Row]:
        calls = []
        for step, w in zip(steps, weights):
            self.load(w)
            what = f"the call at step {step}"
            calls.append(self.tidy(self.guarded(what, partial(self.tracker, self.model, step, self.data), shared=True), what))
        if isinstance(self.tracker, BatchedTracker):
            self.batched(steps, weights, calls)
        if isinstance(self.tracker, StackedTracker):
            self.stacked(steps, weights, calls, stacked_rtol)
        return [{"step": step, **r} for step, rows in zip(steps, calls) for r in rows]

    def measure(self, captures: list[Any], what: str) -> list[list[Row]]:
        out = self.guarded(what, lambda: self.tracker.measure(captures, self.data))
        if not isinstance(out, list) or len(out) != len(captures):
            got = f"{len(out)} lists of rows" if isinstance(out, list) else f"a {type(out).__name__}"
            raise self.fail("measure", f"{what} returned {got} for {len(captures)} captures")
        return [self.tidy(rows, f"{what}, capture {i}") for i, rows in enumerate(out)]

    def batched(self, steps: list[int], weights: list[dict[str, Tensor]], calls: list[list[Row]]) -> None:
        captures, alone = [], []
        for step, w, rows in zip(steps, weights, calls):
            self.load(w)
            captures.append(self.guarded(f"capture at step {step}", partial(self.tracker.capture, self.model, step, self.data), shared=True))
            alone.append(self.measure(captures[-1:], f"measure of the capture of step {step}")[0])
            self.same("call", rows, alone[-1], ("from the call", "from measure([capture])"), f"at step {step}")
        for i, step in enumerate(steps[:-1]):
            later = self.measure([captures[i]], f"measure of the capture of step {step} at step {steps[-1]}")[0]
            where = f"the capture of step {step}, measured again once the weights had moved on to step {steps[-1]} (a capture keeps a copy: .detach().clone())"
            self.same("measure", alone[i], later, ("when first measured", "when measured again"), where)
        for a in range(len(steps)):
            for b in range(a + 2, len(steps) + 1):
                stack = f"the stack of the captures of steps {steps[a]}..{steps[b - 1]}"
                for i, rows in enumerate(self.measure(captures[a:b], f"measure of {stack}"), start=a):
                    self.same("measure", alone[i], rows, ("alone", "in the stack"), f"the capture of step {steps[i]} in {stack}")

    def stacked(self, steps: list[int], weights: list[dict[str, Tensor]], calls: list[list[Row]], rtol: float) -> None:
        own = getattr(self.model, "forward_stacked", None)
        params = {name: torch.stack([w[name] for w in weights]) for name in weights[0]}
        buffers = dict(self.model.named_buffers())

        def forward(x: Tensor) -> Tensor:
            if own is not None:
                return own(params, x)
            with eval_mode(self.model):
                return torch.stack([functional_call(self.model, {**w, **buffers}, (x[k],)) for k, w in enumerate(weights)])

        found = self.guarded("stacked()", lambda: self.tracker.stacked(forward, [self.data] * len(weights)))
        if found is None:  # the tracker declines these models; train_seeds then calls it on each
            return
        if not isinstance(found, list) or len(found) != len(weights):
            raise self.fail("stacked", f"stacked() of {len(weights)} models returned {len(found) if isinstance(found, list) else type(found).__name__} lists of rows")
        for k, (step, rows) in enumerate(zip(steps, calls)):
            got = self.tidy(found[k], f"stacked(), model {k}")
            self.same("stacked", rows, got, ("from the call", "from stacked()"), f"model {k} (the weights of step {step})", rtol)


def _label(r: Row) -> str:
    index = ", ".join(f"{k}={v!r}" for k, v in r.items() if k not in ("observable", "value"))
    return f"{r.get('observable')!r}" + (f" ({index})" if index else "")


def _key(r: Row) -> tuple:
    return (r.get("observable"), tuple(sorted((k, type(v).__name__, v) for k, v in r.items() if k not in ("observable", "value"))))


def _same_value(a: float, b: float, rtol: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if rtol == 0:
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    return a == b or math.isclose(a, b, rel_tol=rtol, abs_tol=0.0)


def _first_difference(expected: list[Row], got: list[Row], sides: tuple[str, str], rtol: float) -> tuple[str, str | None] | None:
    """The first row where ``got`` differs from ``expected`` (its index, or its value beyond ``rtol``), described."""
    for a, b in zip(expected, got):
        if _key(a) != _key(b):
            return f"the row is {_label(b)} {sides[1]} where it is {_label(a)} {sides[0]}", a.get("observable")
        if not _same_value(a["value"], b["value"], rtol):
            return f"{_label(a)} is {a['value']!r} {sides[0]} and {b['value']!r} {sides[1]}", a.get("observable")
    if len(expected) != len(got):
        first = (expected if len(expected) > len(got) else got)[min(len(expected), len(got))]
        return f"{len(expected)} rows {sides[0]} and {len(got)} {sides[1]}; the first unmatched is {_label(first)}", first.get("observable")
    return None


def _untidy(rows: Any) -> tuple[str, str | None] | None:
    """What is not tidy in ``rows`` (and the observable it is in), or ``None``."""
    if not isinstance(rows, list):
        return f"returned a {type(rows).__name__}, not a list of rows", None
    seen = set()
    for i, r in enumerate(rows):
        if not isinstance(r, dict):
            return f"row {i} is a {type(r).__name__}, not a dict", None
        observable = r.get("observable")
        parts = observable.split("/") if isinstance(observable, str) else []
        if len(parts) < 2 or any(not p or p.strip() != p for p in parts):
            return f"row {i} has the observable {observable!r}, not a 'group/name' string", observable if isinstance(observable, str) else None
        value = r.get("value")
        if not isinstance(value, float):
            return f"row {_label(r)} has the value {value!r} of type {type(value).__name__}, not a float (bridge.trackers.row converts)", observable
        for k, v in r.items():
            if k == "step":
                return f"row {_label(r)} holds 'step', which the caller adds", observable
            if k not in ("observable", "value") and (not isinstance(k, str) or isinstance(v, bool) or not isinstance(v, (int, str))):
                return f"row {_label(r)} has the index column {k!r} = {v!r} of type {type(v).__name__}, not an int or a str", observable
        try:
            validate_rows([{"step": 0, **r}])  # what the run's writer refuses: strings it would read back as integers
        except ValueError as e:
            return str(e), observable
        if _key(r) in seen:
            return f"two rows for {_label(r)}", observable
        seen.add(_key(r))
    return None


__all__ = ["TRACKER_RULES", "TrackerContractError", "check_tracker"]
