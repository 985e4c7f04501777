"""Interpretable-mechanism measurements: pure functions of (model, inputs).

Linear probes (any scikit-learn estimator, also fitted at every checkpoint),
representational differentiation, head scores, patching and ablation (with
clean / corrupted input pairs), circuit graphs and their matching up to
relabelling, an induction circuit's causal checks, Fourier features and the
restricted loss, feature geometry, the mechanisms of multitask sparse parity,
representation similarity (CKA, RSA). Probes never import trackers: a tracker in
:mod:`bridge.trackers` imports the probe it measures. Each concept is its own
module; the names users call are re-exported here and load on first use.

Examples:
    >>> import probes
    >>> "head_scores" in probes.__all__
    True
"""

from typing import TYPE_CHECKING

from bridge.registry import lazy_exports

_EXPORTS = {
    "activations_over_checkpoints": "probes.activations",
    "cached_activation": "probes.activations",
    "circuit_graph": "probes.circuits",
    "graph_change": "probes.circuits",
    "read_graphs": "probes.circuits",
    "same_circuit": "probes.circuits",
    "to_node_link": "probes.circuits",
    "write_graphs": "probes.circuits",
    "Differentiation": "probes.differentiation",
    "between_category_variance": "probes.differentiation",
    "Polygon": "probes.feature_geometry",
    "feature_norms": "probes.feature_geometry",
    "n2m1_phase": "probes.feature_geometry",
    "polygon": "probes.feature_geometry",
    "represented": "probes.feature_geometry",
    "fourier_basis": "probes.fourier",
    "frequency_norms": "probes.fourier",
    "neuron_frequency_fve": "probes.fourier",
    "gini": "probes.fourier",
    "key_frequencies": "probes.fourier",
    "composition_scores": "probes.heads",
    "attention_patterns": "probes.heads",
    "copying_scores": "probes.heads",
    "head_scores": "probes.heads",
    "head_weights": "probes.heads",
    "induction_by_key_position": "probes.heads",
    "previous_token_by_position": "probes.heads",
    "previous_token_reach": "probes.heads",
    "final_causal": "probes.induction",
    "head_graph": "probes.induction",
    "previous_token_coverage": "probes.induction",
    "previous_token_demand": "probes.induction",
    "LinearProbe": "probes.linear",
    "probe_over_checkpoints": "probes.over_training",
    "grid_inputs": "probes.modular",
    "logits_and_neurons": "probes.modular",
    "residue_embedding": "probes.modular",
    "weight_norm": "probes.modular",
    "ablated": "probes.patching",
    "quanta_learned": "probes.quanta",
    "relevant_bit_share": "probes.quanta",
    "subtask_metrics": "probes.quanta",
    "unit_ablation": "probes.quanta_ablation",
    "unit_contributions": "probes.quanta",
    "unit_sharing": "probes.quanta",
    "units_needed": "probes.quanta_ablation",
    "walsh_gap": "probes.quanta",
    "ablation_effects": "probes.patching",
    "ablation_subsets": "probes.patching",
    "patch_heads": "probes.patching",
    "path_patch_keys": "probes.patching",
    "path_patch_matrix": "probes.patching",
    "PatchingPair": "probes.patching_data",
    "corrupted_pair": "probes.patching_data",
    "repeated_pairs": "probes.patching_data",
    "excluded_loss": "probes.restricted_loss",
    "restricted_loss": "probes.restricted_loss",
    "logit_fve": "probes.restricted_loss",
    "template_loss_components": "probes.restricted_loss",
    "linear_cka": "probes.similarity",
    "linear_cka_null": "probes.similarity",
    "rdm": "probes.similarity",
    "rsa": "probes.similarity",
}

if TYPE_CHECKING:  # what each lazy name is, for a type checker (a module __getattr__ would read as Any)
    from probes.activations import activations_over_checkpoints as activations_over_checkpoints
    from probes.activations import cached_activation as cached_activation
    from probes.circuits import circuit_graph as circuit_graph
    from probes.circuits import graph_change as graph_change
    from probes.circuits import read_graphs as read_graphs
    from probes.circuits import same_circuit as same_circuit
    from probes.circuits import to_node_link as to_node_link
    from probes.circuits import write_graphs as write_graphs
    from probes.differentiation import Differentiation as Differentiation
    from probes.differentiation import between_category_variance as between_category_variance
    from probes.feature_geometry import Polygon as Polygon
    from probes.feature_geometry import feature_norms as feature_norms
    from probes.feature_geometry import n2m1_phase as n2m1_phase
    from probes.feature_geometry import polygon as polygon
    from probes.feature_geometry import represented as represented
    from probes.fourier import fourier_basis as fourier_basis
    from probes.fourier import frequency_norms as frequency_norms
    from probes.fourier import gini as gini
    from probes.fourier import key_frequencies as key_frequencies
    from probes.fourier import neuron_frequency_fve as neuron_frequency_fve
    from probes.heads import attention_patterns as attention_patterns
    from probes.heads import composition_scores as composition_scores
    from probes.heads import copying_scores as copying_scores
    from probes.heads import head_scores as head_scores
    from probes.heads import head_weights as head_weights
    from probes.heads import induction_by_key_position as induction_by_key_position
    from probes.heads import previous_token_by_position as previous_token_by_position
    from probes.heads import previous_token_reach as previous_token_reach
    from probes.induction import final_causal as final_causal
    from probes.induction import head_graph as head_graph
    from probes.induction import previous_token_coverage as previous_token_coverage
    from probes.induction import previous_token_demand as previous_token_demand
    from probes.linear import LinearProbe as LinearProbe
    from probes.modular import grid_inputs as grid_inputs
    from probes.modular import logits_and_neurons as logits_and_neurons
    from probes.modular import residue_embedding as residue_embedding
    from probes.modular import weight_norm as weight_norm
    from probes.over_training import probe_over_checkpoints as probe_over_checkpoints
    from probes.patching import ablated as ablated
    from probes.patching import ablation_effects as ablation_effects
    from probes.patching import ablation_subsets as ablation_subsets
    from probes.patching import patch_heads as patch_heads
    from probes.patching import path_patch_keys as path_patch_keys
    from probes.patching import path_patch_matrix as path_patch_matrix
    from probes.patching_data import PatchingPair as PatchingPair
    from probes.patching_data import corrupted_pair as corrupted_pair
    from probes.patching_data import repeated_pairs as repeated_pairs
    from probes.quanta import quanta_learned as quanta_learned
    from probes.quanta import relevant_bit_share as relevant_bit_share
    from probes.quanta import subtask_metrics as subtask_metrics
    from probes.quanta import unit_contributions as unit_contributions
    from probes.quanta import unit_sharing as unit_sharing
    from probes.quanta import walsh_gap as walsh_gap
    from probes.quanta_ablation import unit_ablation as unit_ablation
    from probes.quanta_ablation import units_needed as units_needed
    from probes.restricted_loss import excluded_loss as excluded_loss
    from probes.restricted_loss import logit_fve as logit_fve
    from probes.restricted_loss import restricted_loss as restricted_loss
    from probes.restricted_loss import template_loss_components as template_loss_components
    from probes.similarity import linear_cka as linear_cka
    from probes.similarity import linear_cka_null as linear_cka_null
    from probes.similarity import rdm as rdm
    from probes.similarity import rsa as rsa

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
