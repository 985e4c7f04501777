"""Interpretable-mechanism measurements: probes, representational measures, head scores, patching, circuits."""

from probes.activations import activations_over_checkpoints, cached_activation
from probes.differentiation import Differentiation, DifferentiationTracker, between_category_variance
from probes.linear import LinearProbe
from probes.registry import PROBES

__all__ = [
    "PROBES",
    "Differentiation",
    "DifferentiationTracker",
    "LinearProbe",
    "activations_over_checkpoints",
    "between_category_variance",
    "cached_activation",
]
