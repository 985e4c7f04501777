"""Figures given an infinity, a NaN or nothing draw what is finite with no warning and say in the panel what they
left out (bridge.plots.marks.note_left_out): bars, error bars and notes read from the Axes, and a saved PNG."""

import io
import warnings

import numpy as np
import pytest

from bridge import plots
from bridge.plots import new_figure

INF, NAN = float("inf"), float("nan")


def drawn(draw):
    """A new panel drawn by ``draw(ax)`` and saved to a PNG, a warning raised as an error throughout."""
    ax = new_figure()[1]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        draw(ax)
        ax.figure.savefig(io.BytesIO(), format="png", dpi=20)
    return ax


def texts(ax):
    return [t.get_text() for t in ax.texts]


def bar_ends(container):
    """``low, high`` of each error bar drawn in an errorbar container, one after the other (a bar not drawn is an empty segment)."""
    return [float(v) for segment in container[2][0].get_segments() if len(segment) for v in segment[:, 1]]


def test_neuron_loading_ranks_the_finite_shares_and_counts_the_others():
    """An infinite share emitted "invalid value" warnings and its bar was dropped without a word."""
    ax = drawn(lambda ax: plots.plot_neuron_loading(ax, {(0, 0): 0.1, (0, 1): INF, (1, 0): 0.4, (1, 1): NAN}))
    assert [float(p.get_height()) for p in ax.patches] == [0.4, 0.1]
    assert texts(ax) == ["2 non-finite shares not drawn"] and [t.get_text() for t in ax.get_legend().get_texts()] == ["hidden layer 0", "hidden layer 1"]
    assert 0.4 < ax.get_ylim()[1] < 0.5
    assert texts(drawn(lambda ax: plots.plot_neuron_loading(ax, {(0, 0): INF}))) == ["no finite value to draw"]


def test_llc_theory_bars_leave_an_infinite_value_out_and_say_so():
    ax = drawn(lambda ax: plots.plot_llc_vs_theory(ax, ["a", "b"], theory=[2.0, INF], estimate=[2.1, 3.8], std=[0.1, 0.2]))
    heights = [float(p.get_height()) for p in ax.patches]
    assert heights[0] == 2.0 and np.isnan(heights[1]) and texts(ax) == ["1 non-finite theory value not drawn"]
    assert bar_ends(ax.containers[1]) == pytest.approx([2.0, 2.2, 3.6, 4.0], abs=1e-12)  # the estimates' bars
    assert bar_ends(ax.containers[2]) == pytest.approx([1.6, 2.4], abs=1e-12)  # ±20 % of the one finite theory value
    assert 3.9 < ax.get_ylim()[1] < 4.5
    rest = drawn(lambda ax: plots.plot_llc_vs_theory(ax, ["a", "b"], theory=[2.0, 4.0], estimate=[2.1, INF], std=[0.1, INF], regular=[3.0, INF]))
    assert texts(rest) == ["1 non-finite estimate, 1 non-finite spread, 1 non-finite regular value not drawn"]
    assert bar_ends(rest.containers[1]) == pytest.approx([2.0, 2.2], abs=1e-12) and 4.7 < rest.get_ylim()[1] < 5.2


def test_an_estimate_series_with_an_infinite_estimate_and_spread_draws_the_finite_bars():
    """inf ± inf warned "invalid value encountered in add" from numpy."""
    ax = drawn(lambda ax: plots.plot_estimate_series(ax, [0, 10, 20], [1.0, INF, 3.0], [0.1, INF, 0.2]))
    assert bar_ends(ax.containers[0]) == pytest.approx([0.9, 1.1, 2.8, 3.2], abs=1e-12)
    assert texts(ax) == ["1 non-finite estimate, 1 non-finite spread not drawn"]
    assert 3.2 < ax.get_ylim()[1] < 3.5
    plain = drawn(lambda ax: plots.plot_estimate_series(ax, [0, 10], [1.0, 2.0], [0.1, NAN]))  # NaN: no bar, as before
    assert bar_ends(plain.containers[0]) == pytest.approx([0.9, 1.1], abs=1e-12) and texts(plain) == []


def test_loss_stages_with_an_infinite_llc_draw_its_finite_bars_and_say_so():
    curves = {"loss": ([0, 50, 100], [4.1, 4.0, 0.3], "C0-")}
    ax = drawn(lambda ax: plots.plot_loss_stages(ax, curves, llc=([0, 50, 100], [1.0, INF, 30.0], [0.5, INF, 2.0])))
    twin = ax.figure.axes[1]
    assert bar_ends(twin.containers[0]) == pytest.approx([0.5, 1.5, 28.0, 32.0], abs=1e-12)
    assert texts(ax) == ["1 non-finite LLC, 1 non-finite LLC spread not drawn"]


def test_draw_means_leave_an_infinite_value_out_of_the_mean():
    """An infinite draw made the mean infinite and its spread inf − inf ("invalid value encountered in subtract")."""
    ax = drawn(lambda ax: plots.plot_draw_means(ax, 50.0, {"χ_0": [0.9, INF, 1.0]}, ["C0"]))
    (point,) = ax.containers
    assert point[0].get_xydata().tolist() == [[50.0 * 1.35, pytest.approx(0.95, abs=1e-12)]]
    assert bar_ends(point) == pytest.approx([0.85, 1.05], abs=1e-12)  # ±2 s.e., s.e. = 0.05
    assert point.get_label() == "mean over 2 training sets (±2 s.e.)" and texts(ax) == ["1 non-finite value left out of the mean"]


def test_an_empty_attention_pattern_is_a_panel_that_says_so():
    """imshow of a (0, 0) pattern warned "identical low and high xlims" and "ylims"."""
    ax = drawn(lambda ax: plots.plot_attention(ax, np.zeros((0, 0))))
    assert len(ax.images) == 0 and texts(ax) == ["no position to draw"] and len(ax.figure.axes) == 1  # no colour bar of nothing


def test_a_dims_histogram_counts_what_is_not_finite():
    """All-NaN dimensionalities warned "All-NaN slice encountered"."""
    ax = drawn(lambda ax: plots.plot_dims_histogram(ax, [NAN, NAN]))
    assert sum(float(p.get_height()) for p in ax.patches) == 0.0 and texts(ax)[-1] == "no finite value to draw"
    some = drawn(lambda ax: plots.plot_dims_histogram(ax, [0.5, NAN, 1.0, INF]))
    assert sum(float(p.get_height()) for p in some.patches) == 2.0 and texts(some)[-1] == "2 non-finite dimensions not drawn"
