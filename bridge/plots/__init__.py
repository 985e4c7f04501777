"""Every figure function, by subject. Each is a pure function of data that takes an ``ax`` and returns it.

Examples:
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from bridge.plots import new_figure, plot_curves
    >>> fig, ax = new_figure()
    >>> len(plot_curves(ax, {"a": ([0, 1], [0.0, 1.0])}).lines)
    1
"""

from bridge.plots.base import new_figure, plot_curves, plot_estimate_series, plot_event_lines, plot_seed_timeline, plot_stage_bands, plot_timeline, save_figure, set_log_scale
from bridge.plots.fourier import plot_emergence, plot_phase_bands, plot_power_law, plot_spectrum
from bridge.plots.heads import plot_attention, plot_head_heatmap
from bridge.plots.induction import plot_circuit, plot_induction_by_key, plot_loss_stages, plot_previous_token_coverage, plot_reach
from bridge.plots.kernel import plot_alignment_rise, plot_draw_means, plot_fraction_vs_scale, plot_kernel_distance, plot_support_share, plot_test_vs_scale
from bridge.plots.llc import plot_chain_traces, plot_llc_vs_theory
from bridge.plots.sharpness import plot_layer_loading, plot_loss_by_step_size, plot_neuron_loading, plot_onset, plot_sharpness
from bridge.plots.superposition import plot_dims_histogram, plot_dims_vs_sparsity, plot_feature_directions, plot_feature_norms, plot_phase_diagram

__all__ = [
    "new_figure",
    "plot_alignment_rise",
    "plot_attention",
    "plot_chain_traces",
    "plot_circuit",
    "plot_curves",
    "plot_dims_histogram",
    "plot_dims_vs_sparsity",
    "plot_draw_means",
    "plot_emergence",
    "plot_estimate_series",
    "plot_event_lines",
    "plot_feature_directions",
    "plot_feature_norms",
    "plot_fraction_vs_scale",
    "plot_head_heatmap",
    "plot_induction_by_key",
    "plot_kernel_distance",
    "plot_layer_loading",
    "plot_llc_vs_theory",
    "plot_loss_by_step_size",
    "plot_loss_stages",
    "plot_neuron_loading",
    "plot_onset",
    "plot_phase_bands",
    "plot_phase_diagram",
    "plot_power_law",
    "plot_previous_token_coverage",
    "plot_reach",
    "plot_sharpness",
    "plot_spectrum",
    "plot_stage_bands",
    "plot_seed_timeline",
    "plot_support_share",
    "plot_test_vs_scale",
    "plot_timeline",
    "save_figure",
    "set_log_scale",
]
