"""The tracker protocol: ``tracker(model, step, data) -> rows``.

A tracker measures observables of a model at one training step. The same
object runs online (called by :func:`bridge.train` at tracked steps) and
offline (called by :func:`bridge.analyze` on every saved checkpoint). Rows are
tidy: ``{"observable": "group/name", "value": float, **index}`` where index
columns (``mode``, ``level``, ``head``, ``layer``, ``frequency``…) are ints or
strings; the step is added by the caller.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn

from bridge.registry import Registry
from bridge.tasks.base import TaskData

Row = dict[str, Any]


@runtime_checkable
class Tracker(Protocol):
    """Anything with a ``name`` that maps ``(model, step, data)`` to tidy rows."""

    name: str

    def __call__(self, model: nn.Module, step: int, data: TaskData) -> list[Row]: ...


TRACKERS: Registry[type] = Registry("tracker")


def row(observable: str, value: float | torch.Tensor, **index: Any) -> Row:
    """One tidy row; tensors become Python floats.

    Example:
        >>> row("loss/train", torch.tensor(0.5), mode=2)
        {'observable': 'loss/train', 'value': 0.5, 'mode': 2}
    """
    return {"observable": observable, "value": float(value), **index}


_MODE_LAYERS = (nn.modules.dropout._DropoutNd, nn.modules.batchnorm._BatchNorm)
_has_mode_layers: "weakref.WeakKeyDictionary[nn.Module, bool]" = weakref.WeakKeyDictionary()


def _mode_dependent(model: nn.Module) -> bool:
    """Whether ``model`` holds layers that behave differently in eval mode (cached per model)."""
    if model not in _has_mode_layers:
        _has_mode_layers[model] = any(isinstance(m, _MODE_LAYERS) for m in model.modules())
    return _has_mode_layers[model]


@contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode and no autograd inside the block; the previous mode is restored after.

    Switching modes walks every submodule, so it is skipped for models without
    dropout or batch norm (trackers run this at every tracked step).
    """
    switch = model.training and _mode_dependent(model)
    if switch:
        model.eval()
    try:
        with torch.no_grad():
            yield model
    finally:
        if switch:
            model.train(True)


def _import_all() -> None:
    """Import every module of ``bridge.trackers`` and ``probes`` so their trackers register."""
    import importlib
    import pkgutil

    import bridge.trackers
    import probes

    for package in (bridge.trackers, probes):
        for info in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{package.__name__}.{info.name}")


def get_tracker(name: str, **kwargs: Any) -> Tracker:
    """Instantiate the tracker registered as ``name`` (used by ``mechbridge analyze --tracker``).

    Example:
        >>> get_tracker("loss").name
        'loss'
    """
    _import_all()
    return TRACKERS.get(name)(**kwargs)


def tracker_names() -> list[str]:
    """Names of every registered tracker."""
    _import_all()
    return TRACKERS.names()
