"""Every figure function, by subject. Each is a pure function of data that takes an ``ax`` and returns it.

Example:
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from bridge.plots import new_figure, plot_curves
    >>> fig, ax = new_figure()
    >>> len(plot_curves(ax, {"a": ([0, 1], [0.0, 1.0])}).lines)
    1
"""

from bridge.plots.base import new_figure, plot_curves, plot_stage_bands, plot_timeline, save_figure
from bridge.plots.fourier import plot_emergence, plot_phase_bands, plot_power_law, plot_spectrum
from bridge.plots.heads import plot_attention, plot_head_heatmap
from bridge.plots.induction import plot_circuit, plot_induction_by_key, plot_losses, plot_previous_token_coverage, plot_reach
from bridge.plots.superposition import plot_dims_histogram, plot_dims_vs_sparsity, plot_feature_directions, plot_phase_diagram

__all__ = [
    "new_figure",
    "plot_attention",
    "plot_circuit",
    "plot_curves",
    "plot_dims_histogram",
    "plot_dims_vs_sparsity",
    "plot_emergence",
    "plot_feature_directions",
    "plot_head_heatmap",
    "plot_induction_by_key",
    "plot_losses",
    "plot_phase_bands",
    "plot_phase_diagram",
    "plot_power_law",
    "plot_previous_token_coverage",
    "plot_reach",
    "plot_spectrum",
    "plot_stage_bands",
    "plot_timeline",
    "save_figure",
]
