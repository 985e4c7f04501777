"""mechbridge core: tasks, models, training, runs, trackers, stages, estimators, theory, match, report.

Public names load on first use, so ``import bridge`` (and the command line's
``--help`` and ``list``) imports neither torch nor TransformerLens.

Examples:
    >>> import bridge
    >>> sorted(n for n in bridge.__all__ if n[0].islower())[:3]
    ['analyze', 'compare', 'load_run']
"""

from typing import TYPE_CHECKING

from bridge.registry import lazy_exports

_EXPORTS = {
    "BridgeReport": "bridge.report",
    "Check": "bridge.match",
    "ConfigError": "bridge.config",
    "Event": "bridge.stages.detectors",
    "Match": "bridge.match",
    "Run": "bridge.runs.run",
    "RunConfig": "bridge.config",
    "RunError": "bridge.runs.errors",
    "RunWriter": "bridge.training.writer",
    "ScheduleConfig": "bridge.config",
    "Stage": "bridge.stages.detectors",
    "Sweep": "bridge.sweep.runner",
    "TrainConfig": "bridge.config",
    "analyze": "bridge.training.analyze",
    "compare": "bridge.training.compare",
    "load_run": "bridge.runs.run",
    "load_sweep": "bridge.sweep.runner",
    "sweep": "bridge.sweep",
    "train": "bridge.training.loop",
    "train_seeds": "bridge.training.seeds",
}

if TYPE_CHECKING:  # what each lazy name is, for a type checker (a module __getattr__ would read as Any)
    from bridge.config import ConfigError as ConfigError
    from bridge.config import RunConfig as RunConfig
    from bridge.config import ScheduleConfig as ScheduleConfig
    from bridge.config import TrainConfig as TrainConfig
    from bridge.match import Check as Check
    from bridge.match import Match as Match
    from bridge.report import BridgeReport as BridgeReport
    from bridge.runs.errors import RunError as RunError
    from bridge.runs.run import Run as Run
    from bridge.runs.run import load_run as load_run
    from bridge.stages.detectors import Event as Event
    from bridge.stages.detectors import Stage as Stage
    from bridge.sweep.runner import Sweep as Sweep
    from bridge.sweep.runner import load_sweep as load_sweep
    from bridge.sweep.runner import run_sweep as sweep  # noqa: F401  (the bridge.sweep package is called as this function)
    from bridge.training.analyze import analyze as analyze
    from bridge.training.compare import compare as compare
    from bridge.training.loop import train as train
    from bridge.training.seeds import train_seeds as train_seeds
    from bridge.training.writer import RunWriter as RunWriter

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
