"""Figures of a researcher's own data that hold infinities, negative spreads, no step or a pandas Series: each draws
what is finite and says what it left out, or refuses the argument by name; never an error from inside matplotlib
(read from the Axes' limits, bars, lines and texts, and from a saved PNG)."""

import io
import warnings

import numpy as np
import pandas as pd
import pytest

from bridge import plots
from bridge.plots import new_figure, quanta

INF, NAN = float("inf"), float("nan")


def saved(ax):
    """The figure of ``ax`` drawn to a PNG with no warning; the limits of each of its Axes."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ax.figure.savefig(io.BytesIO(), format="png", dpi=20)
    return [a.get_xlim() + a.get_ylim() for a in ax.figure.axes]


def texts(ax):
    return [t.get_text() for t in ax.texts]


def test_a_spectrum_with_an_infinite_norm_draws_the_finite_bars_and_counts_the_other():
    ax = new_figure()[1]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plots.plot_spectrum(ax, {"diverged": np.array([0.0, 1.0, INF, 2.0]), "end": np.array([0.0, 1.0, 3.0, 2.0])}, key=(2,))
    (lo, hi), heights = ax.get_ylim(), [float(b.get_height()) for b in ax.containers[0]]
    assert np.isfinite(saved(ax)).all() and 3.0 * 1.1 < hi < 3.0 * 1.15 and lo == pytest.approx(0.0, abs=1e-9)
    assert heights[0] == 1.0 and np.isnan(heights[1]) and heights[2] == 2.0
    assert texts(ax) == ["*", "1 non-finite norm not drawn"]
    nothing = plots.plot_spectrum(new_figure()[1], {"diverged": np.full(4, NAN), "also": np.full(4, NAN)}, key=(1,))
    assert np.isfinite(saved(nothing)).all() and texts(nothing) == ["no finite value to draw"]  # no star, no squeezed panel


def test_previous_token_coverage_with_an_infinite_score_keeps_finite_limits():
    cov = {"previous_token_by_position": {"L0H0": [0.5, INF, 0.25]}, "demand": [1.0, 1.0, 0.5], "reach": 2}
    ax = plots.plot_previous_token_coverage(new_figure()[1], cov)
    assert np.isfinite(saved(ax)).all() and ax.get_ylim() == pytest.approx((-0.03, 1.05))
    with pytest.raises(ValueError, match=r"previous_token_by_position\['L0H0'\] is empty"):
        plots.plot_previous_token_coverage(new_figure()[1], {"previous_token_by_position": {"L0H0": []}, "demand": [], "reach": 2})


@pytest.mark.parametrize(
    "draw, message",
    [
        pytest.param(lambda ax: plots.plot_estimate_series(ax, [0, 10], [1.0, 2.0], [0.1, -0.2]), r"^sd must be ≥ 0 \(a spread\), got -0.2 at entry 1", id="estimate series"),
        pytest.param(lambda ax: plots.plot_llc_vs_theory(ax, ["a", "b"], theory=[1.0, 2.0], estimate=[1.0, 2.0], std=[-INF, 0.1]), r"^std must be ≥ 0 \(a spread\), got -inf at entry 0", id="llc vs theory"),
        pytest.param(lambda ax: plots.plot_loss_stages(ax, {"loss": ([0, 1], [2.0, 1.0], "C0-")}, llc=([0, 1], [1.0, 2.0], [0.1, -1.0])), r"^llc std must be ≥ 0", id="loss stages"),
    ],
)
def test_a_negative_spread_is_refused_by_name_before_anything_is_drawn(draw, message):
    fig, ax = new_figure()
    with pytest.raises(ValueError, match=message):
        draw(ax)
    assert not (ax.lines or ax.collections or ax.patches or ax.containers) and len(fig.axes) == 1


def test_a_negative_theory_value_gets_a_tolerance_band_of_its_size():
    ax = plots.plot_llc_vs_theory(new_figure()[1], ["a", "b"], theory=[-1.0, 2.0], estimate=[-0.9, 2.1], std=[0.1, 0.1])
    band = ax.containers[-1].lines[2][0].get_segments()
    assert np.concatenate([s[:, 1] for s in band]).tolist() == pytest.approx([-1.2, -0.8, 1.6, 2.4])


def test_feature_directions_with_a_diverged_column_draw_the_others_and_say_so():
    ax = plots.plot_feature_directions(new_figure()[1], np.array([[1.0, INF, 0.0], [0.0, 1.0, 2.0]]))
    (x0, x1, y0, y1), = saved(ax)
    assert (x0, x1) == pytest.approx((-2.3, 2.3)) and (y0, y1) == pytest.approx((-2.3, 2.3))
    assert len(ax.patches) == 2 and texts(ax) == ["0", "2", "1 feature not finite: not drawn"]


def test_kernel_distance_with_no_finite_alpha_draws_no_guide_and_says_so():
    ax = plots.plot_kernel_distance(new_figure()[1], [NAN, NAN], [0.1, 0.01], 0.1, None)
    assert np.isfinite(saved(ax)).all() and [line.get_label() for line in ax.lines] == ["kernel distance at the end", "crossover level 0.1"]
    shifted = plots.plot_kernel_distance(new_figure()[1], [0.1, 1.0, NAN, 10.0], [0.5, NAN, 0.01, 1e-3], 0.1, None)
    assert shifted.lines[1].get_xdata().tolist() == [10.0]  # the guide starts at the first finite point of the large half


def test_induction_by_key_takes_pandas_series_with_their_own_index():
    data = {"by_key": pd.Series([NAN, 0.9, 0.8, 0.3], index=[10, 11, 12, 13]), "count": pd.Series([0, 6, 7, 2], index=[5, 6, 7, 8])}
    ax = plots.plot_induction_by_key(new_figure()[1], {"reach": 2, "induction_test": data}, "L1H0")
    assert np.asarray(ax.lines[0].get_xdata()).tolist() == [1, 2] and np.asarray(ax.lines[0].get_ydata()).tolist() == [0.9, 0.8]


@pytest.mark.parametrize(
    "draw",
    [
        pytest.param(lambda ax: plots.plot_sharpness(ax, {0.5: ([], [])}, {0.5: 10.0}), id="sharpness: a plateau on no step"),
        pytest.param(lambda ax: quanta.plot_subtask_losses(ax, [], np.zeros((0, 2)), [10.0, NAN]), id="subtask losses: an emergence on no step"),
    ],
)
def test_a_mark_on_a_curve_of_no_step_is_left_out(draw):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ax = draw(new_figure()[1])
    saved(ax)
    assert not any(line.get_marker() == "o" and np.size(line.get_xdata()) for line in ax.lines)


def test_a_heat_map_of_no_checkpoint_says_so_and_marks_nothing():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ax = plots.plot_head_heatmap(new_figure()[1], [], ["L0H0"], np.zeros((1, 0)), marks=[(10.0, "drop")])
    saved(ax)
    assert texts(ax) == ["no checkpoint to draw"] and not ax.lines and not ax.images


def test_layer_loading_of_no_step_says_so():
    ax = plots.plot_layer_loading(new_figure()[1], [], [])
    assert texts(ax) == ["no step to draw"] and ax.get_legend() is None
