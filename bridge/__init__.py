"""mechbridge core: tasks, models, training, runs, trackers, stages, theory, match, report.

Example:
    >>> import bridge
    >>> sorted(n for n in bridge.__all__ if n[0].islower())[:3]
    ['analyze', 'load_run', 'train']
"""

from bridge.analyze import analyze
from bridge.config import ConfigError, RunConfig, ScheduleConfig, TrainConfig
from bridge.report import BridgeReport, Check, Match
from bridge.runs import Run, RunError, load_run
from bridge.stages import Event, Stage
from bridge.seeds import train_seeds
from bridge.train import train

__all__ = [
    "BridgeReport",
    "Check",
    "ConfigError",
    "Event",
    "Match",
    "Run",
    "RunConfig",
    "RunError",
    "ScheduleConfig",
    "Stage",
    "TrainConfig",
    "analyze",
    "load_run",
    "train",
    "train_seeds",
]
