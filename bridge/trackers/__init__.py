"""Trackers: observables of a model at a step, online during training or offline over checkpoints."""

from bridge.trackers.base import TRACKERS, Batched, BatchedTracker, Row, Tracker, TrackingBuffer, evaluating, get_tracker, row, tracker_names
from bridge.trackers.curvature import SharpnessTracker
from bridge.trackers.induction import HeadScoreTracker, InContextTracker
from bridge.trackers.kernel import FeatureAlignmentTracker, KernelTracker
from bridge.trackers.llc import LLCTracker
from bridge.trackers.loss import LossTracker
from bridge.trackers.modes import ModeTracker, end_to_end_map, mode_alignment, mode_strengths

__all__ = [
    "TRACKERS",
    "Batched",
    "BatchedTracker",
    "FeatureAlignmentTracker",
    "HeadScoreTracker",
    "InContextTracker",
    "KernelTracker",
    "LLCTracker",
    "LossTracker",
    "ModeTracker",
    "Row",
    "SharpnessTracker",
    "Tracker",
    "TrackingBuffer",
    "end_to_end_map",
    "evaluating",
    "get_tracker",
    "mode_alignment",
    "mode_strengths",
    "row",
    "tracker_names",
]
