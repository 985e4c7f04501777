"""Trackers: observables of a model at a step, online during training or offline over checkpoints."""

from bridge.trackers.base import TRACKERS, Row, Tracker, evaluating, get_tracker, row, tracker_names
from bridge.trackers.loss import LossTracker
from bridge.trackers.modes import ModeTracker, end_to_end_map, mode_alignment, mode_strengths

__all__ = [
    "TRACKERS",
    "LossTracker",
    "ModeTracker",
    "Row",
    "Tracker",
    "end_to_end_map",
    "evaluating",
    "get_tracker",
    "mode_alignment",
    "mode_strengths",
    "row",
    "tracker_names",
]
