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

if TYPE_CHECKING:  # what each lazy name is, for a type checker (a module __getattr__ would read as Any)
    from bridge.sweep.backends import BACKENDS as BACKENDS
    from bridge.sweep.backends import LocalBackend as LocalBackend
    from bridge.sweep.backends import RayBackend as RayBackend
    from bridge.sweep.backends import SubmititBackend as SubmititBackend
    from bridge.sweep.backends import get_backend as get_backend
    from bridge.sweep.point import Target as Target
    from bridge.sweep.point import run_point as run_point
    from bridge.sweep.runner import Sweep as Sweep
    from bridge.sweep.runner import load_sweep as load_sweep
    from bridge.sweep.runner import run_sweep as run_sweep

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = ["Point", "grid_points", "parse_grid_option", "parse_seeds"]  # imported above, listed as names a linter reads
__all__ = sorted([*_EXPORTS, *__all__])


class _CallableModule(types.ModuleType):
    """``bridge.sweep(...)`` runs a sweep: the package is also the function."""

    def __call__(self, *args: Any, **kwargs: Any) -> "Sweep":
        from bridge.sweep.runner import run_sweep

        return run_sweep(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
