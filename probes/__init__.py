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

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
