"""Figures of degenerate data say so in the panel: a curve with no finite value (a diverged run) gets a note, a
lone finite point a dot, and nothing to name no empty legend box (read from the Axes' texts, lines and legend)."""

import numpy as np
import pytest

from bridge import plots
from bridge.plots import new_figure

NAN = float("nan")
T = np.arange(6.0)


def texts(ax):
    return [t.get_text() for t in ax.texts]


def dots(line):
    return (line.get_marker(), line.get_markevery())


@pytest.mark.parametrize("values", [np.full(6, NAN), np.array([NAN, np.inf, NAN, NAN, -np.inf, NAN])])
def test_a_loss_curve_with_no_finite_value_is_noted_in_the_loss_panel(values):
    ax = plots.plot_loss_stages(new_figure()[1], {"loss": (T, values, "C0-")}, reference=(4.16, "ln V"))
    assert texts(ax) == ["no finite value to draw"]
    finite = plots.plot_loss_stages(new_figure()[1], {"loss": (T, values, "C0-"), "test": (T, np.linspace(4.0, 0.5, 6), "C1-")})
    assert texts(finite) == [] and dots(finite.lines[0]) == ("None", None)  # one finite curve: the panel shows it


def test_a_lone_point_of_a_loss_curve_is_a_dot():
    ax = plots.plot_loss_stages(new_figure()[1], {"loss": (T, [NAN, NAN, 2.0, NAN, 1.0, 0.5], "C0-")})
    assert dots(ax.lines[0]) == ("o", [2]) and texts(ax) == []


def test_an_onset_panel_with_no_finite_value_in_its_window_is_noted():
    t = np.arange(100.0)
    ax = plots.plot_onset(new_figure()[1], t, np.full(100, NAN), t, np.full(100, NAN), onset=None, spike=None, window=10)
    assert texts(ax) == ["no finite value to draw"]
    diverged_late = np.where(t < 80, np.exp(-t / 50), NAN)
    kept = plots.plot_onset(new_figure()[1], t, np.full(100, NAN), t, diverged_late, onset=None, spike=None, window=10)  # the loss still shows
    assert texts(kept) == []
    lone = plots.plot_onset(new_figure()[1], t, np.full(100, NAN), t, np.where(t == 50, 0.5, NAN), onset=50.0, spike=None, window=10)
    (loss,) = lone.figure.axes[1].lines
    assert texts(lone) == [] and dots(loss) == ("o", [10])  # step 50 is the window's 11th


@pytest.mark.parametrize("values,lone", [([NAN, NAN, 3.0, NAN, NAN, NAN], [2]), ([5.0, NAN, NAN, NAN, NAN, NAN], [0]), ([1.0, 2.0, NAN, 3.0, NAN, 4.0], [3, 5])])
def test_a_sharpness_curve_with_a_lone_finite_point_marks_it(values, lone):
    ax = plots.plot_sharpness(new_figure()[1], {0.5: (T, values), 0.25: (T, np.linspace(1.0, 8.0, 6))}, {0.5: None, 0.25: None})
    by_label = {line.get_label(): line for line in ax.lines}
    assert dots(by_label["η=0.5"]) == ("o", lone) and dots(by_label["η=0.25"]) == ("None", None)


def test_no_neuron_draws_a_note_and_no_legend_box():
    ax = plots.plot_neuron_loading(new_figure()[1], {})
    assert ax.get_legend() is None and texts(ax) == ["no neuron to draw"] and len(ax.patches) == 0
    ax = plots.plot_neuron_loading(new_figure()[1], {(1, 0): 0.25, (0, 3): 0.75})
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["hidden layer 0", "hidden layer 1"] and texts(ax) == []


def test_no_step_size_or_layer_draws_no_legend_box():
    assert plots.plot_loss_by_step_size(new_figure()[1], {}).get_legend() is None
    assert plots.plot_layer_loading(new_figure()[1], [], []).get_legend() is None
