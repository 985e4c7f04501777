"""Event detectors: generic ones (threshold crossing, settling crossing, half-rise, plateaus and drops) and one
module per phenomenon (loss drops and the LLC's critical points, grokking phases, sharpness plateaus).

Examples:
    >>> from bridge.stages import half_rise
    >>> half_rise([0, 1, 2, 3, 4], [0.0, 0.0, 0.5, 1.0, 1.0]).step
    2.0
"""

from bridge.stages.detectors import Event, Stage, half_rise, plateaus_and_drops, settled_crossing, threshold_crossing
from bridge.stages.grokking import grokking_phases, half_fall, memorised_and_grokked, phase_ordered
from bridge.stages.sharpness import alternation_fraction, first_increase, oscillation_onset, plateau_loss_trend, running_median, sharpening, sharpness_plateau
from bridge.stages.drops import abrupt_drop, drop_window, formation, llc_boundary, main_drop, noise_level, rise_between, stage_end

__all__ = [
    "Event",
    "Stage",
    "abrupt_drop",
    "alternation_fraction",
    "drop_window",
    "first_increase",
    "formation",
    "grokking_phases",
    "half_fall",
    "half_rise",
    "llc_boundary",
    "main_drop",
    "memorised_and_grokked",
    "noise_level",
    "oscillation_onset",
    "phase_ordered",
    "plateau_loss_trend",
    "plateaus_and_drops",
    "rise_between",
    "running_median",
    "settled_crossing",
    "sharpening",
    "sharpness_plateau",
    "stage_end",
    "threshold_crossing",
]
