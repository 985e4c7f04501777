"""The tracker protocol: ``tracker(model, step, data) -> rows``.

A tracker measures observables of a model at one training step. The same
object runs online (called by :func:`bridge.train` at tracked steps) and
offline (called by :func:`bridge.analyze` on every saved checkpoint). Rows are
tidy: ``{"observable": "group/name", "value": float, **index}`` where index
columns (``mode``, ``level``, ``head``, ``layer``, ``frequency``…) are ints or
strings; the step is added by the caller.

A *batched* tracker splits its work in two: ``capture(model, step, data)``
takes the few tensors it needs at a step (cheap, inside the training loop) and
``measure(captures, data)`` turns many captures into rows at once (one call
instead of one per step). :class:`TrackingBuffer` holds the captures until
the rows are written; results equal those of calling the tracker step by step,
to the bit: how many captures a measurement gets depends on the schedule and on
when rows are written, and must not change a row (a broadcast matrix product
folded into one, a batched product of small matrices or a batched SVD can move the
last bits with the batch's size).

A *stacked* tracker can also measure many models of one shape at once:
``stacked(forward, datas)`` gets a forward over inputs with a leading model axis
and each model's data, and returns one list of rows per model (or ``None`` when it
cannot, and is then called on each model). :func:`bridge.train_seeds` uses it for
the seeds of a model that has ``forward_stacked``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from bridge.runs.metrics import key_part, validate_rows
from bridge.tasks.base import TaskData
from bridge.trackers.guard import Snapshot, TrackerError, guarded

Row = dict[str, Any]


@runtime_checkable
class Tracker(Protocol):
    """Anything with a ``name`` that maps ``(model, step, data)`` to tidy rows.

    Examples:
        >>> class Width:
        ...     name = "width"
        ...     def __call__(self, model, step, data): return [row("model/width", model.out_features)]
        >>> isinstance(Width(), Tracker), Width()(torch.nn.Linear(3, 2), 0, None)
        (True, [{'observable': 'model/width', 'value': 2.0}])
    """

    name: str

    def __call__(self, model: nn.Module, step: int, data: TaskData) -> list[Row]: ...


@runtime_checkable
class BatchedTracker(Tracker, Protocol):
    """A tracker whose rows are computed for many steps at once from cheap per-step captures.

    ``capture`` returns anything; ``measure`` maps ``k`` captures to ``k`` lists of rows, each
    the rows ``measure`` gives that capture alone.

    Examples:
        >>> from bridge.trackers import LossTracker, ModeTracker
        >>> isinstance(ModeTracker(), BatchedTracker), isinstance(LossTracker(), BatchedTracker)
        (True, False)
    """

    def capture(self, model: nn.Module, step: int, data: TaskData) -> Any: ...

    def measure(self, captures: Sequence[Any], data: TaskData) -> list[list[Row]]: ...


@runtime_checkable
class StackedTracker(Tracker, Protocol):
    """A tracker that can also measure many models of one shape at once (see the module docstring).

    Examples:
        >>> from bridge.trackers import LossTracker, ModeTracker
        >>> isinstance(LossTracker(), StackedTracker), isinstance(ModeTracker(), StackedTracker)
        (True, False)
    """

    def stacked(self, forward: Callable[[torch.Tensor], torch.Tensor], datas: Sequence[TaskData]) -> list[list[Row]] | None: ...


class Batched:
    """Mixin: ``tracker(model, step, data)`` as ``measure([capture(model, step, data)], data)[0]``.

    Examples:
        >>> class Count(Batched):  # parameter count: captured per step, measured in one go
        ...     name = "count"
        ...     def capture(self, model, step, data): return sum(p.numel() for p in model.parameters())
        ...     def measure(self, captures, data): return [[row("params/count", c)] for c in captures]
        >>> isinstance(Count(), BatchedTracker), Count()(torch.nn.Linear(3, 2), 0, None)  # 3·2 weights + 2 biases
        (True, [{'observable': 'params/count', 'value': 8.0}])
    """

    if TYPE_CHECKING:  # what a subclass defines: a type checker holds its methods to these signatures

        def capture(self, model: nn.Module, step: int, data: TaskData) -> Any: ...

        def measure(self, captures: list[Any], data: TaskData) -> list[list[Row]]: ...

    def __call__(self, model: nn.Module, step: int, data: TaskData) -> list[Row]:
        return self.measure([self.capture(model, step, data)], data)[0]


_shared: dict[tuple, Tensor] | None = None  # the outputs computed inside shared_outputs()


@contextmanager
def shared_outputs() -> Iterator[None]:
    """Inside the block, :func:`model_output` runs each model on each input once; outside, every time.

    :meth:`TrackingBuffer.track` opens it around the trackers of one step, so two trackers
    evaluating the same model on the same examples (the loss and in-context trackers on the
    test split) share one forward pass. Nested blocks share the outer one's outputs.

    Examples:
        >>> calls = []; net = torch.nn.Linear(2, 1); _ = net.register_forward_hook(lambda *args: calls.append(1))
        >>> x = torch.ones(4, 2)  # (examples, features)
        >>> with shared_outputs(), torch.no_grad():
        ...     a, b = model_output(net, x), model_output(net, x)
        >>> len(calls), torch.equal(a, b)  # one forward pass inside the block
        (1, True)
        >>> _ = model_output(net, x); len(calls)  # and one per call outside it
        2
    """
    global _shared
    if _shared is not None:
        yield
        return
    _shared = {}
    try:
        yield
    finally:
        _shared = None


def model_output(model: nn.Module, x: Tensor) -> Tensor:
    """``model(x)``; without autograd and inside :func:`shared_outputs`, computed once per model, input and weights.

    The output is reused only for the same input tensor (storage, offset, shape, strides),
    the same model in the same mode, and parameters at the same addresses and versions (an
    in-place change of a weight bumps its version), so it is the tensor ``model(x)`` would return.

    Examples:
        >>> net = torch.nn.Linear(2, 1)
        >>> x = torch.ones(3, 2)
        >>> with shared_outputs(), torch.no_grad():
        ...     first = model_output(net, x)
        ...     same = model_output(net, x) is first
        ...     _ = net.weight.mul_(2.0)
        ...     after = model_output(net, x) is first
        >>> same, after
        (True, False)
    """
    if _shared is None or torch.is_grad_enabled():
        return model(x)
    key = (id(model), model.training, x.untyped_storage().data_ptr(), x.storage_offset(), tuple(x.shape), x.stride(), x.dtype, x.device,
           tuple((p.data_ptr(), p._version) for p in model.parameters()))
    if key not in _shared:
        _shared[key] = model(x)
    return _shared[key]


class TrackingBuffer:
    """Rows of several tracked steps; batched trackers are measured together at :meth:`flush`.

    ``track(model, step)`` calls each plain tracker at once and takes a capture
    for each batched one; ``flush()`` measures every batched tracker over all
    its captures and returns the rows in step order, tracker by tracker: the same
    rows, in the same order, as calling every tracker at every step.

    Examples:
        >>> from bridge.models import DeepLinearConfig, build_model
        >>> from bridge.tasks import LinearTeacherConfig, make_task
        >>> from bridge.trackers import ModeTracker
        >>> data = make_task(LinearTeacherConfig((2.0, 1.0), d_in=3, d_out=3), seed=0)
        >>> buffer = TrackingBuffer([ModeTracker()], data)
        >>> buffer.track(build_model(DeepLinearConfig(3, 8, 3), seed=0), step=0)
        >>> buffer.pending, len(buffer.flush()), buffer.pending
        (1, 4, 0)
    """

    def __init__(self, trackers: Sequence[Tracker], data: TaskData) -> None:
        self.trackers, self.data = list(trackers), data
        self._batched = [isinstance(t, BatchedTracker) for t in self.trackers]
        # the library's own trackers are held to the contract by the test suite (bridge.trackers.check_tracker on
        # each): a run checks the calls of the others, one's own, and the rows of a step when any is among them
        self._own = [not type(t).__module__.startswith(LIBRARY_TRACKERS) for t in self.trackers]
        self._steps: list[int] = []
        self._results: list[list[Any]] = []  # per step: rows (plain) or a capture (batched), per tracker

    @property
    def pending(self) -> int:
        """Number of captures not yet measured (0 when no tracker is batched)."""
        return len(self._steps) * sum(self._batched)

    def track(self, model: nn.Module, step: int, given: Mapping[int, list[Row]] | None = None) -> None:
        """Run the plain trackers and capture for the batched ones at ``step``; ``given`` holds rows
        already measured for some plain trackers, by their index (those are not called).

        Each call of a tracker of one's own (not the library's) is guarded (:func:`bridge.trackers.guard.guarded`):
        torch's global random generators are put back after it, and a call that changes the model raises. A plain
        tracker's rows are checked here, a batched tracker's at :meth:`flush`; an error names the tracker, the step
        and the row.
        """
        given = given or {}
        calls = [i for i in range(len(self.trackers)) if i not in given]
        results, before = [], Snapshot(model) if any(self._own[i] for i in calls) else None  # one for the step's guarded calls
        with shared_outputs():
            for i, (t, b) in enumerate(zip(self.trackers, self._batched)):
                if i in given:
                    results.append(tidy_rows(t, given[i], step))
                    continue
                what = f"the {'capture' if b else 'call'} at step {step}"
                with _named(t, what):
                    call = lambda t=t, b=b: t.capture(model, step, self.data) if b else t(model, step, self.data)  # noqa: E731
                    got = guarded(t.name, what, model, call, before) if self._own[i] else call()
                results.append(got if b else tidy_rows(t, got, step))
        self._steps.append(step)
        self._results.append(results)

    def flush(self, through: int | None = None) -> list[Row]:
        """All rows since the last flush (or those of the steps up to ``through``), each with its
        ``step``; the buffer keeps only the later steps.

        Raises:
            ValueError: a batched tracker's row is not tidy, or two rows of one step have one observable and
                index (of one tracker, or of two: a name taken by another tracker), naming both trackers.
        """
        n = len(self._steps) if through is None else sum(step <= through for step in self._steps)
        steps, results = self._steps[:n], self._results[:n]
        for i, tracker in enumerate(self.trackers):
            if self._batched[i] and steps:
                what = f"the measure of the captures of steps {steps[0]}..{steps[-1]}"
                with _named(tracker, what):
                    measure = lambda tracker=tracker, i=i: tracker.measure([r[i] for r in results], self.data)  # noqa: E731
                    measured = guarded(tracker.name, what, None, measure) if self._own[i] else measure()
                if not isinstance(measured, (list, tuple)) or len(measured) != len(steps):
                    raise RuntimeError(f"tracker {tracker.name!r} measured {len(measured) if isinstance(measured, (list, tuple)) else type(measured).__name__} of {len(steps)} captures")
                for r, rows, step in zip(results, measured, steps):
                    r[i] = tidy_rows(tracker, rows, step)
        rows = []
        for step, per_tracker in zip(steps, results):
            if any(self._own):  # the library's trackers write names of their own, each once a step
                _refuse_clashes(self.trackers, per_tracker, step)
            rows += [{"step": step, **row} for tracker_rows in per_tracker for row in tracker_rows]
        self._steps, self._results = self._steps[n:], self._results[n:]
        return rows


LIBRARY_TRACKERS = ("bridge.trackers.",)  # the modules of the trackers a run does not guard (the library's own)


class _named:
    """Adds a note naming the tracker and its call to an exception raised inside the block (its type kept)."""

    __slots__ = ("text",)

    def __init__(self, tracker: Any, what: str) -> None:
        self.text = f"raised by tracker {getattr(tracker, 'name', tracker)!r} in {what}"

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, error: BaseException | None, tb: Any) -> None:
        if isinstance(error, Exception) and not isinstance(error, TrackerError) and self.text not in getattr(error, "__notes__", ()):
            error.add_note(self.text)


def tidy_rows(tracker: Any, rows: Any, step: int) -> list[Row]:
    """``rows``, one call's rows of ``tracker`` at ``step``, as a list once checked as the metrics table
    checks them (:func:`bridge.runs.metrics.validate_rows`), without a ``step`` of their own.

    Raises:
        TypeError: ``rows`` is not a list of dicts. ValueError: a row is not tidy; both name the tracker and the step.

    Examples:
        >>> class Grad:
        ...     name = "grad_norm"
        >>> tidy_rows(Grad(), [row("grad/norm", 0.5)], 3)
        [{'observable': 'grad/norm', 'value': 0.5}]
        >>> tidy_rows(Grad(), [{"observable": "grad/norm", "value": torch.ones(()).requires_grad_()}], 3)
        Traceback (most recent call last):
        ...
        ValueError: tracker 'grad_norm' at step 3: metric row ...: value must be a number, got tensor(1., requires_grad=True) (a tensor: give float(value), or build rows with bridge.trackers.row)
    """
    name = getattr(tracker, "name", tracker)
    if not isinstance(rows, (list, tuple)):
        raise TypeError(f"tracker {name!r} at step {step} returned a {type(rows).__name__}, not a list of rows {{'observable': 'group/name', 'value': float, ...}}")
    for r in rows:
        if not isinstance(r, dict):
            raise TypeError(f"tracker {name!r} at step {step} returned a row that is a {type(r).__name__}, not a dict: {r!r:.120}")
        if "step" in r:
            raise ValueError(f"tracker {name!r} at step {step} returned the row {r!r:.200}, which holds 'step': the run adds the step")
    try:
        validate_rows([{"step": step, **r} for r in rows])
    except ValueError as e:
        hint = " (a tensor: give float(value), or build rows with bridge.trackers.row)" if any(isinstance(v, Tensor) for r in rows for v in r.values()) else ""
        raise ValueError(f"tracker {name!r} at step {step}: {e}{hint}") from None
    return list(rows)


def _refuse_clashes(trackers: Sequence[Any], per_tracker: Sequence[list[Row]], step: int) -> None:
    """Raise ``ValueError`` when two rows of one step share an observable and index values (read back as one key)."""
    owner: dict[Any, int] = {}
    for i, rows in enumerate(per_tracker):
        for r in rows:
            if len(r) > 2:  # key_part once a column: NaN and None are one "absent", 2.0 is 2
                parts = ((k, key_part(v)) for k, v in r.items() if k != "observable" and k != "value")
                key = (r["observable"], *sorted(p for p in parts if p[1] is not None))
            else:
                key = r["observable"]
            if key in owner:
                first, second = trackers[owner[key]].name, trackers[i].name
                who = f"tracker {first!r} returned two rows" if owner[key] == i else f"trackers {first!r} and {second!r} both returned a row"
                raise ValueError(f"{who} for {r['observable']!r} at step {step}{' with the index ' + repr(dict(key[1:])) if isinstance(key, tuple) else ''}: a run keeps one value per observable, step and index (rename one, or add an index column)")
            owner[key] = i


def check_trackers(trackers: Any) -> list[Tracker]:
    """``trackers`` as a list, or ``TypeError`` naming what is not a list of tracker objects.

    Examples:
        >>> from bridge.trackers import LossTracker
        >>> len(check_trackers([LossTracker()]))
        1
        >>> check_trackers(["loss"])
        Traceback (most recent call last):
        ...
        TypeError: trackers must be tracker objects, got the name 'loss': use bridge.trackers.get_tracker('loss')
        >>> check_trackers([LossTracker])
        Traceback (most recent call last):
        ...
        TypeError: trackers must be tracker objects, got the class LossTracker: pass an instance, LossTracker()
    """
    if isinstance(trackers, (str, bytes)) or not isinstance(trackers, (list, tuple)):
        raise TypeError(f"trackers must be a list of tracker objects, got {type(trackers).__name__} {trackers!r:.80}")
    for t in trackers:
        if isinstance(t, str):
            raise TypeError(f"trackers must be tracker objects, got the name {t!r}: use bridge.trackers.get_tracker({t!r})")
        if isinstance(t, type):  # a class is callable too, and calling it builds a tracker from (model, step, data)
            raise TypeError(f"trackers must be tracker objects, got the class {t.__name__}: pass an instance, {t.__name__}()")
        if not callable(t):
            raise TypeError(f"a tracker must be callable as tracker(model, step, data), got {type(t).__name__} {t!r:.80}")
    return list(trackers)


def row(observable: str, value: float | torch.Tensor, **index: Any) -> Row:
    """One tidy row; tensors become Python floats.

    Examples:
        >>> row("loss/train", torch.tensor(0.5), mode=2)
        {'observable': 'loss/train', 'value': 0.5, 'mode': 2}
    """
    return {"observable": observable, "value": float(value), **index}
