"""Sweeps: grids of ordinary runs over dotted config fields, on this machine, on Ray or through SLURM.

``bridge.sweep(base, out, grid=..., seeds=...)`` (the same as
:func:`run_sweep`) trains every point into ``out/points/<key>``, writes
``sweep.json`` and ``results.csv``, and resumes whatever a killed sweep left;
:func:`load_sweep` reads a sweep back. Nothing heavy is imported until a sweep runs.

Examples:
    >>> import bridge
    >>> callable(bridge.sweep), bridge.sweep.grid_points({"train.lr": [0.1, 0.2]})[1].key
    (True, 'train.lr=0.2')
"""

import sys
import types
from typing import TYPE_CHECKING, Any

from bridge.registry import lazy_exports
from bridge.sweep.grid import Point, grid_points, parse_grid_option, parse_seeds

if TYPE_CHECKING:
    from bridge.sweep.runner import Sweep

_EXPORTS = {
    "BACKENDS": "bridge.sweep.backends",
    "LocalBackend": "bridge.sweep.backends",
    "RayBackend": "bridge.sweep.backends",
    "SubmititBackend": "bridge.sweep.backends",
    "Sweep": "bridge.sweep.runner",
    "Target": "bridge.sweep.point",
    "get_backend": "bridge.sweep.backends",
    "load_sweep": "bridge.sweep.runner",
    "run_point": "bridge.sweep.point",
    "run_sweep": "bridge.sweep.runner",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = ["Point", "grid_points", "parse_grid_option", "parse_seeds"]  # imported above, listed as names a linter reads
__all__ = sorted([*_EXPORTS, *__all__])


class _CallableModule(types.ModuleType):
    """``bridge.sweep(...)`` runs a sweep: the package is also the function."""

    def __call__(self, *args: Any, **kwargs: Any) -> "Sweep":
        from bridge.sweep.runner import run_sweep

        return run_sweep(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
