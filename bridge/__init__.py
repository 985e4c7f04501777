"""mechbridge core: tasks, models, training, runs, trackers, stages, estimators, theory, match, report.

Public names load on first use, so ``import bridge`` (and the command line's
``--help`` and ``list``) imports neither torch nor TransformerLens.

Examples:
    >>> import bridge
    >>> sorted(n for n in bridge.__all__ if n[0].islower())[:3]
    ['analyze', 'compare', 'load_run']
"""

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

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
