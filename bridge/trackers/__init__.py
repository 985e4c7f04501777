"""Trackers: observables of a model at a step, online during training or offline over checkpoints.

Every built-in tracker is one line of :data:`TRACKERS` (name → ``module:class``)
and of the public names below; both import on first use. A plugin registers its
own with ``@TRACKERS.register("name")``.

Examples:
    >>> from bridge.trackers import get_tracker, tracker_names
    >>> "loss" in tracker_names()
    True
    >>> get_tracker("loss").name
    'loss'
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bridge.registry import Registry, lazy_exports

TRACKERS: Registry[type[Tracker]] = Registry(
    "tracker",
    {
        "coordinates": "bridge.trackers.coordinates:CoordinatesTracker",
        "curvature_loading": "bridge.trackers.curvature:CurvatureLoadingTracker",
        "differentiation": "bridge.trackers.differentiation:DifferentiationTracker",
        "feature_geometry": "bridge.trackers.feature_geometry:FeatureGeometryTracker",
        "feature_alignment": "bridge.trackers.kernel:FeatureAlignmentTracker",
        "fourier": "bridge.trackers.fourier:FourierTracker",
        "heads": "bridge.trackers.induction:HeadScoreTracker",
        "hidden_progress": "bridge.trackers.quanta:HiddenProgressTracker",
        "icl": "bridge.trackers.induction:InContextTracker",
        "kernel": "bridge.trackers.kernel:KernelTracker",
        "llc": "bridge.trackers.llc:LLCTracker",
        "loss": "bridge.trackers.loss:LossTracker",
        "modes": "bridge.trackers.modes:ModeTracker",
        "sharpness": "bridge.trackers.curvature:SharpnessTracker",
        "subtask_loss": "bridge.trackers.quanta:SubtaskLossTracker",
        "template_loss": "bridge.trackers.fourier:TemplateLossTracker",
        "walsh": "bridge.trackers.walsh:WalshTracker",
        "weight_norm": "bridge.trackers.fourier:WeightNormTracker",
    },
)


def get_tracker(name: str, **kwargs: Any) -> Tracker:
    """Instantiate the tracker registered as ``name`` (what ``mechbridge analyze --tracker NAME`` runs).

    Examples:
        >>> get_tracker("sharpness", k=2)
        SharpnessTracker(k=2, trace_probes=8, subset=None, tol=1e-05, ncv=None, loading=True, seed=0, name='sharpness')
    """
    return TRACKERS.get(name)(**kwargs)


def tracker_names() -> list[str]:
    """Names of every registered tracker (imports none of them).

    Examples:
        >>> tracker_names()[:3]
        ['coordinates', 'curvature_loading', 'differentiation']
    """
    return TRACKERS.names()


_EXPORTS = {
    "Batched": "bridge.trackers.base",
    "BatchedTracker": "bridge.trackers.base",
    "StackedTracker": "bridge.trackers.base",
    "Row": "bridge.trackers.base",
    "Tracker": "bridge.trackers.base",
    "TrackingBuffer": "bridge.trackers.base",
    "row": "bridge.trackers.base",
    "TRACKER_RULES": "bridge.trackers.conformance",
    "TrackerContractError": "bridge.trackers.conformance",
    "check_tracker": "bridge.trackers.conformance",
    "evaluating": "bridge.models.base",
    "CoordinatesTracker": "bridge.trackers.coordinates",
    "layer_coordinates": "bridge.trackers.coordinates",
    "CurvatureLoadingTracker": "bridge.trackers.curvature",
    "SharpnessTracker": "bridge.trackers.curvature",
    "DifferentiationTracker": "bridge.trackers.differentiation",
    "FeatureGeometryTracker": "bridge.trackers.feature_geometry",
    "FourierTracker": "bridge.trackers.fourier",
    "TemplateLossTracker": "bridge.trackers.fourier",
    "WeightNormTracker": "bridge.trackers.fourier",
    "HeadScoreTracker": "bridge.trackers.induction",
    "InContextTracker": "bridge.trackers.induction",
    "FeatureAlignmentTracker": "bridge.trackers.kernel",
    "KernelTracker": "bridge.trackers.kernel",
    "LLCTracker": "bridge.trackers.llc",
    "LossTracker": "bridge.trackers.loss",
    "ModeTracker": "bridge.trackers.modes",
    "HiddenProgressTracker": "bridge.trackers.quanta",
    "SubtaskLossTracker": "bridge.trackers.quanta",
    "end_to_end_map": "bridge.trackers.modes",
    "mode_alignment": "bridge.trackers.modes",
    "mode_strengths": "bridge.trackers.modes",
    "WalshTracker": "bridge.trackers.walsh",
    "learned_coefficients": "bridge.trackers.walsh",
    "target_coefficients": "bridge.trackers.walsh",
}

if TYPE_CHECKING:  # what each lazy name is, for a type checker (a module __getattr__ would read as Any)
    from bridge.models.base import evaluating as evaluating
    from bridge.trackers.base import Batched as Batched
    from bridge.trackers.base import BatchedTracker as BatchedTracker
    from bridge.trackers.base import Row as Row
    from bridge.trackers.base import StackedTracker as StackedTracker
    from bridge.trackers.base import Tracker as Tracker
    from bridge.trackers.base import TrackingBuffer as TrackingBuffer
    from bridge.trackers.base import row as row
    from bridge.trackers.conformance import TRACKER_RULES as TRACKER_RULES
    from bridge.trackers.conformance import TrackerContractError as TrackerContractError
    from bridge.trackers.conformance import check_tracker as check_tracker
    from bridge.trackers.coordinates import CoordinatesTracker as CoordinatesTracker
    from bridge.trackers.coordinates import layer_coordinates as layer_coordinates
    from bridge.trackers.curvature import CurvatureLoadingTracker as CurvatureLoadingTracker
    from bridge.trackers.curvature import SharpnessTracker as SharpnessTracker
    from bridge.trackers.differentiation import DifferentiationTracker as DifferentiationTracker
    from bridge.trackers.feature_geometry import FeatureGeometryTracker as FeatureGeometryTracker
    from bridge.trackers.fourier import FourierTracker as FourierTracker
    from bridge.trackers.fourier import TemplateLossTracker as TemplateLossTracker
    from bridge.trackers.fourier import WeightNormTracker as WeightNormTracker
    from bridge.trackers.induction import HeadScoreTracker as HeadScoreTracker
    from bridge.trackers.induction import InContextTracker as InContextTracker
    from bridge.trackers.kernel import FeatureAlignmentTracker as FeatureAlignmentTracker
    from bridge.trackers.kernel import KernelTracker as KernelTracker
    from bridge.trackers.llc import LLCTracker as LLCTracker
    from bridge.trackers.loss import LossTracker as LossTracker
    from bridge.trackers.modes import ModeTracker as ModeTracker
    from bridge.trackers.modes import end_to_end_map as end_to_end_map
    from bridge.trackers.modes import mode_alignment as mode_alignment
    from bridge.trackers.modes import mode_strengths as mode_strengths
    from bridge.trackers.quanta import HiddenProgressTracker as HiddenProgressTracker
    from bridge.trackers.quanta import SubtaskLossTracker as SubtaskLossTracker
    from bridge.trackers.walsh import WalshTracker as WalshTracker
    from bridge.trackers.walsh import learned_coefficients as learned_coefficients
    from bridge.trackers.walsh import target_coefficients as target_coefficients

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted([*_EXPORTS, "TRACKERS", "get_tracker", "tracker_names"])
