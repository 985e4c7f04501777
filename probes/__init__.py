"""Interpretable-mechanism measurements: probes, representational measures, head scores, patching,
circuit graphs, Fourier features and feature geometry.

Each concept is its own module; the names users call are re-exported here.
"""

from probes.activations import activations_over_checkpoints, cached_activation
from probes.circuits import circuit_graph, graph_change, read_graphs, to_node_link, write_graphs
from probes.differentiation import Differentiation, DifferentiationTracker, between_category_variance
from probes.feature_geometry import FeatureGeometryTracker, feature_norms, polygon, represented
from probes.fourier import fourier_basis, frequency_norms, gini, key_frequencies
from probes.fourier_tracker import FourierTracker
from probes.heads import composition_scores, copying_scores, head_scores, induction_by_key_position, previous_token_by_position, previous_token_reach
from probes.linear import LinearProbe
from probes.patching import ablated, ablation_effects, ablation_subsets, patch_heads, path_patch_keys
from probes.registry import PROBES
from probes.restricted_loss import excluded_loss, restricted_loss

__all__ = [
    "PROBES",
    "Differentiation",
    "DifferentiationTracker",
    "FeatureGeometryTracker",
    "FourierTracker",
    "LinearProbe",
    "ablated",
    "ablation_effects",
    "ablation_subsets",
    "activations_over_checkpoints",
    "between_category_variance",
    "cached_activation",
    "circuit_graph",
    "composition_scores",
    "copying_scores",
    "excluded_loss",
    "feature_norms",
    "fourier_basis",
    "frequency_norms",
    "gini",
    "graph_change",
    "head_scores",
    "induction_by_key_position",
    "key_frequencies",
    "patch_heads",
    "path_patch_keys",
    "polygon",
    "previous_token_by_position",
    "previous_token_reach",
    "read_graphs",
    "represented",
    "restricted_loss",
    "to_node_link",
    "write_graphs",
]
