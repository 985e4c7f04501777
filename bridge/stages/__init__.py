"""Event detectors: generic ones (threshold crossing, settling crossing, half-rise, plateaus and drops, a sustained rise) and one
module per phenomenon (crossovers over a sweep, loss drops and the LLC's critical points, grokking phases, sharpness plateaus,
subtask drops).

Examples:
    >>> from bridge.stages import half_rise
    >>> half_rise([0, 1, 2, 3, 4], [0.0, 0.0, 0.5, 1.0, 1.0]).step
    2.0
"""

from bridge.stages.crossover import crossing, loglog_slope
from bridge.stages.detectors import Event, Stage, half_rise, plateaus_and_drops, settled_crossing, threshold_crossing
from bridge.stages.drops import abrupt_drop, drop_window, formation, llc_boundary, main_drop, rise_between, stage_end
from bridge.stages.grokking import generalised, grokking_phases, half_fall, half_move, memorised_and_grokked, noise_level, phase_ordered
from bridge.stages.quanta import SubtaskDrop, subtask_drop, value_at
from bridge.stages.rises import residual_noise, sustained_rise
from bridge.stages.sharpness import (
    alternation_fraction,
    edge_reached,
    first_increase,
    loss_climb,
    oscillation_onset,
    oscillation_share,
    plateau_drift,
    plateau_loss_trend,
    running_median,
    sharpening,
    sharpness_plateau,
)

__all__ = [
    "Event",
    "Stage",
    "SubtaskDrop",
    "abrupt_drop",
    "alternation_fraction",
    "crossing",
    "drop_window",
    "edge_reached",
    "first_increase",
    "generalised",
    "formation",
    "grokking_phases",
    "half_fall",
    "half_move",
    "half_rise",
    "llc_boundary",
    "loglog_slope",
    "loss_climb",
    "main_drop",
    "memorised_and_grokked",
    "noise_level",
    "oscillation_onset",
    "oscillation_share",
    "phase_ordered",
    "plateau_drift",
    "plateau_loss_trend",
    "plateaus_and_drops",
    "residual_noise",
    "rise_between",
    "running_median",
    "settled_crossing",
    "sharpening",
    "sharpness_plateau",
    "stage_end",
    "subtask_drop",
    "sustained_rise",
    "threshold_crossing",
    "value_at",
]
