"""Training: the loop, the optimizer and its schedule, the run writer (atomic, resumable), schedules, stacked seeds and offline analysis.

Examples:
    >>> from bridge.training import checkpoint_steps
    >>> from bridge.config import ScheduleConfig
    >>> checkpoint_steps(100, ScheduleConfig(n_log=3, every=50))
    [0, 1, 10, 50, 100]
"""

from bridge.training.analyze import analyze, check_run_config
from bridge.training.inputs import resolve_device, validate
from bridge.training.loop import batch_indices, torch_threads, train, with_train
from bridge.training.optim import make_optimizer
from bridge.training.schedule import checkpoint_steps, relative_grid, tracked_steps
from bridge.training.seeds import train_seeds
from bridge.training.writer import RunWriter

__all__ = [
    "RunWriter",
    "analyze",
    "batch_indices",
    "check_run_config",
    "checkpoint_steps",
    "make_optimizer",
    "relative_grid",
    "resolve_device",
    "torch_threads",
    "tracked_steps",
    "train",
    "train_seeds",
    "validate",
    "with_train",
]
