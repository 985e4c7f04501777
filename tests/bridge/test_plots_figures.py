"""What the figure functions draw, read back from the artists: positions, colours, scales, legends, titles."""

import numpy as np
import pytest
from matplotlib.colors import to_hex, to_rgba

from bridge import plots
from bridge.plots import new_figure, quanta, save_figure
from bridge.plots import parametrisation as param

NAN = float("nan")


def _legend(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


@pytest.mark.parametrize(("y", "marked"), [([1.0], [0]), ([1.0, NAN, 0.5, 0.25, NAN, 0.1], [0, 5]), ([1.0, 0.5], [])], ids=["one point", "points between NaNs", "two joined points"])
def test_a_curve_point_without_a_finite_neighbour_is_drawn_as_a_dot(y, marked, tmp_path):
    fig, ax = new_figure()
    plots.plot_curves(ax, {"loss": (list(range(len(y))), y)}, {"loss": (list(range(len(y))), y)}, logy=True)
    save_figure(fig, tmp_path / "curves.png")
    for line in ax.lines[:2]:  # observed, its theory
        assert (line.get_marker(), line.get_markevery()) == (("o", marked) if marked else ("None", None))
    assert [t.get_text() for t in ax.texts] == []


def test_a_curve_with_no_finite_value_says_so():
    ax = plots.plot_curves(new_figure()[1], {"loss": ([0, 1], [NAN, NAN])})
    assert [t.get_text() for t in ax.texts] == ["no finite value to draw"]


def test_the_seed_timeline_puts_each_kind_at_the_seeds_mean_with_a_sample_sd_bar():
    ax = plots.plot_seed_timeline(new_figure()[1], [{"label": "mode 0", "predicted": [100, 100], "observed": [90, 100, 140], "mechanism": [None, 120]}])
    observed = ax.containers[1]
    np.testing.assert_allclose(observed.lines[0].get_xydata(), [[110.0, 0.0]])
    (bar,) = observed.lines[2]
    np.testing.assert_allclose(bar.get_segments()[0][:, 0], [110 - np.std([90, 100, 140], ddof=1), 110 + np.std([90, 100, 140], ddof=1)])
    assert _legend(ax) == ["theory", "dynamics", "mechanism"]


def test_the_estimate_series_draws_one_sd_bars_and_labels_both_axes():
    ax = plots.plot_estimate_series(new_figure()[1], [0, 10], [1.0, 2.0], [0.1, 0.3], ylabel="λ̂")
    segments = ax.containers[0].lines[2][0].get_segments()
    np.testing.assert_allclose([s[:, 1] for s in segments], [[0.9, 1.1], [1.7, 2.3]])
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("step", "λ̂")


def test_the_spectrum_stars_stand_over_their_frequency_inside_the_frame():
    ax = plots.plot_spectrum(new_figure()[1], {"end": [0.0, 1.0, 4.0, 1.0]}, key=(2,))
    (star,) = ax.texts
    assert star.get_position() == (2, pytest.approx(4.12))
    assert ax.get_ylim()[1] == pytest.approx(4.48)


def test_the_heatmap_mark_is_a_line_on_the_nearest_column():
    ax = plots.plot_head_heatmap(new_figure()[1], [0, 100, 200, 300], ["L0H0"], np.zeros((1, 4)), marks=[(240, "drop")])
    assert list(ax.lines[0].get_xdata()) == [2, 2] and ax.texts[0].get_position()[0] == 2.3


def test_the_subtask_colours_run_from_dark_for_the_most_frequent():
    losses = np.array([[0.7, 0.7, 0.7], [0.1, 0.5, 0.7]])
    ax = quanta.plot_subtask_losses(new_figure()[1], [0, 10], losses, [NAN, NAN, NAN])
    import matplotlib as mpl

    assert [to_hex(line.get_color()) for line in ax.lines] == [to_hex(mpl.colormaps["viridis"](v)) for v in (0.0, 0.5, 1.0)]


def test_hidden_progress_names_each_line_on_a_symlog_step_axis():
    fig, ax = new_figure()
    right = quanta.plot_hidden_progress(ax, [0, 10, 100, 1000], [0.7, 0.7, 0.2, 0.01], [0.1, 0.1, 0.6, 0.9], chance=0.125, onset=50.0)
    assert (ax.get_xscale(), right.get_xscale()) == ("symlog", "symlog")
    assert _legend(right) == ["subtask loss", "drop onset", "relevant-bit share", "chance share", "2× chance"]
    assert [list(line.get_ydata()) for line in right.lines[1:]] == [[0.125, 0.125], [0.25, 0.25]]


def test_the_best_learning_rate_of_each_width_is_starred():
    ax = param.plot_loss_vs_lr(new_figure()[1], [0.1, 0.2, 0.4, 0.8], {32: [1.0, 0.3, 0.5, NAN], 64: [0.9, 0.8, 0.2, 2.0]})
    stars = [line for line in ax.lines if line.get_marker() == "*"]
    assert [line.get_xydata().tolist() for line in stars] == [[[0.2, 0.3]], [[0.4, 0.2]]]
    assert [line.get_color() for line in stars] == ["C0", "C1"]


def test_the_fraction_panel_draws_each_learnability_in_its_terms_colour():
    ax = plots.plot_fraction_vs_scale(new_figure()[1], [0.1, 1.0, 10.0], {"χ_0": [0.9, 0.7, 0.5], "χ_1": [0.8, 0.6, 0.4]}, {"χ_0": 0.5, "χ_1": 0.45})
    dashed = [line for line in ax.lines if line.get_linestyle() == "--" and len(line.get_xdata())]
    assert [(line.get_color(), line.get_ydata()[0]) for line in dashed] == [("C0", 0.5), ("C1", 0.45)]


def test_the_draw_means_sit_right_of_alpha_with_two_standard_error_bars():
    ax = plots.plot_draw_means(new_figure()[1], 10.0, {"χ_0": [0.9, 1.0, 0.95]}, ["C0"])
    np.testing.assert_allclose(ax.containers[0].lines[0].get_xydata(), [[13.5, 0.95]])
    se = np.std([0.9, 1.0, 0.95], ddof=1) / np.sqrt(3)
    np.testing.assert_allclose(ax.containers[0].lines[2][0].get_segments()[0][:, 1], [0.95 - 2 * se, 0.95 + 2 * se])


def test_the_test_error_band_spans_the_departure_around_the_prediction():
    ax = plots.plot_test_vs_scale(new_figure()[1], [0.1, 1.0, 10.0], [0.2, 0.4, 0.5], 0.5, 0.1, 1.0)
    (band,) = [p for p in ax.patches if p.get_label().startswith("±")]
    ys = band.get_path().transformed(band.get_patch_transform()).vertices[:, 1]
    assert (ys.min(), ys.max()) == (pytest.approx(0.45), pytest.approx(0.55))
    assert _legend(ax) == ["cube MSE at the end", "eigenlearning (initial NTK)", "±10%", "departure"]


def test_the_alignment_rise_and_the_kernel_distance_are_on_log_log_axes_with_the_crossing_named():
    ax = plots.plot_alignment_rise(new_figure()[1], [10.0, 1.0, 0.1], [1.0, 1.5, 6.0], 1.1, {"rise": 4.0})
    assert (ax.get_xscale(), ax.get_yscale()) == ("log", "log")
    ax = plots.plot_kernel_distance(new_figure()[1], [0.1, 1.0, 10.0], [0.5, 0.05, 0.005], 0.1, 0.4)
    assert (ax.get_xscale(), ax.get_yscale(), _legend(ax)[-1], list(ax.lines[-1].get_xdata())) == ("log", "log", "crossed at α = 0.4", [0.4, 0.4])


def test_the_kernel_panels_draw_their_levels_and_marks_where_given():
    """The distance's level, the alignment's level, each marked α and the isotropic support share are drawn at their values."""
    ax = plots.plot_kernel_distance(new_figure()[1], [0.1, 1.0, 10.0], [0.5, 0.05, 0.005], 0.1, 0.4)
    (level,) = [line for line in ax.lines if line.get_label() == "crossover level 0.1"]
    assert list(level.get_ydata()) == [0.1, 0.1]
    ax = plots.plot_alignment_rise(new_figure()[1], [10.0, 1.0, 0.1], [1.0, 1.5, 6.0], 1.1, {"rise": 4.0, "test": None, "distance": 0.3})
    (level,) = [line for line in ax.lines if line.get_label() == "rise 1.1×"]
    assert list(level.get_ydata()) == [1.1, 1.1]
    marks = {line.get_label(): list(line.get_xdata()) for line in ax.lines if line.get_label().startswith(("rise:", "distance:"))}
    assert marks == {"rise: 4": [4.0, 4.0], "distance: 0.3": [0.3, 0.3]}
    ax = plots.plot_support_share(new_figure()[1], {"α = 1": ([0, 10, 100], [0.3, 0.5, 0.9])}, isotropic=0.3)
    (iso,) = [line for line in ax.lines if line.get_label() == "|S|/d (isotropic)"]
    assert list(iso.get_ydata()) == [0.3, 0.3]


def test_the_llc_panel_puts_estimates_right_of_theory_with_their_chain_std():
    ax = plots.plot_llc_vs_theory(new_figure()[1], ["a", "b"], theory=[2.0, 4.0], estimate=[2.1, 3.8], std=[0.1, 0.2])
    np.testing.assert_allclose(ax.containers[1].lines[0].get_xydata(), [[0.2, 2.1], [1.2, 3.8]])
    np.testing.assert_allclose([s[:, 1] for s in ax.containers[1].lines[2][0].get_segments()], [[2.0, 2.2], [3.6, 4.0]])


def test_chains_are_never_red_as_the_estimate_is_and_the_legend_counts_them():
    excess = np.arange(12.0).reshape(4, 3)
    ax = plots.plot_chain_traces(new_figure()[1], [0, 1, 2], excess, theory=2.0, estimate=5.0)
    chains, (theory, estimate) = ax.lines[:4], ax.lines[4:]
    assert to_rgba("C3") not in [to_rgba(line.get_color()) for line in chains] and estimate.get_color() == "C3"
    assert (theory.get_ydata()[0], estimate.get_ydata()[0]) == (2.0, 5.0)
    assert _legend(ax) == ["4 chains", "theory λ", "λ̂"]


def test_the_plateau_dot_lies_on_the_sharpness_curve_and_layers_keep_their_colours():
    t = np.array([0.0, 10.0, 20.0])
    ax = plots.plot_sharpness(new_figure()[1], {0.5: (t, [1.0, 3.0, 4.0])}, {0.5: 5.0})
    np.testing.assert_allclose(ax.lines[2].get_xydata(), [[5.0, 2.0]])
    assert ax.get_title() == "Sharpness by step size"  # no claim the curves may not bear out
    assert plots.plot_sharpness(new_figure()[1], {0.5: (t, [1.0, 3.0, 4.0])}, {}, title="Edge of stability at η=0.5").get_title() == "Edge of stability at η=0.5"
    assert plots.plot_loss_by_step_size(new_figure()[1], {0.5: (t, [1.0, 3.0, 4.0])}).get_title() == "Training loss by step size"
    ax = plots.plot_layer_loading(new_figure()[1], [0, 10], [{"b": 0.25, "a": 0.75}, {"a": 0.5, "b": 0.5}])
    assert [(t.get_text(), to_hex(np.atleast_2d(h.get_facecolor())[0])) for t, h in zip(ax.get_legend().get_texts(), ax.get_legend().legend_handles)] == [("a", to_hex("C0")), ("b", to_hex("C1"))]


@pytest.mark.parametrize(
    ("onset", "spike", "title"),
    [
        (100.0, 110.0, "Period-2 oscillation along v₁ from step 100;\nloss first rises at step 110"),
        (None, 110.0, "No oscillation onset detected;\nloss first rises at step 110"),
        (100.0, None, "Period-2 oscillation along v₁ from step 100;\nno loss rise detected"),
        (None, None, "No oscillation onset detected;\nno loss rise detected"),
    ],
    ids=["both", "loss rise only", "onset only", "neither"],
)
def test_the_onset_title_states_what_was_detected(onset, spike, title):
    t = np.arange(200.0)
    ax = plots.plot_onset(new_figure()[1], t, np.cos(t), t, np.exp(-t / 100), onset=onset, spike=spike)
    assert ax.get_title() == title


def test_the_gap_error_is_capped_at_180_degrees_and_named_above_the_panel():
    ax = plots.plot_feature_norms(new_figure()[1], [0, 1], np.array([[0.1, 0.2], [1.0, 0.9]]), gap=([0, 1], [400.0, 10.0]))
    twin = ax.figure.axes[1]
    assert list(twin.lines[0].get_ydata()) == [180.0, 10.0]
    assert _legend(ax) == ["‖W_0‖", "‖W_1‖", "largest gap error (°)"]
    assert ax.get_legend().get_bbox_to_anchor().y0 == pytest.approx(ax.get_window_extent().y1)


def test_the_close_sticky_fractions_are_labelled_at_two_heights():
    ax = plots.plot_dims_histogram(new_figure()[1], [1.0, 0.5, 0.4])
    heights = {t.get_text(): t.xy[1] / ax.get_ylim()[1] for t in ax.texts}
    assert heights["0.4"] != pytest.approx(heights["0.375"])
    assert heights["0.4"] == pytest.approx(0.95) and heights["0.375"] == pytest.approx(0.88)


def test_a_mismatch_cross_sits_on_its_cell():
    phases = np.array([["feature 1", "none", "none"], ["superposition", "none", "none"]], dtype=object)
    mismatch = np.zeros((2, 3), bool)
    mismatch[1, 2] = True  # importance index 1 (x), density index 2 (y)
    ax = plots.plot_phase_diagram(new_figure()[1], phases, [0.5, 2.0], [0.1, 0.5, 1.0], mismatch=mismatch)
    assert ax.collections[0].get_offsets().tolist() == [[1.0, 2.0]]


def test_keys_seen_exactly_min_count_times_are_drawn():
    cov = {"reach": 2, "induction_test": {"by_key": [None, 0.9, 0.8, 0.3], "count": [0, 5, 7, 4]}}
    ax = plots.plot_induction_by_key(new_figure()[1], cov, "L1H0", min_count=5)
    assert list(ax.lines[0].get_xdata()) == [1, 2]
    assert _legend(ax)[-1] == "previous-token reach (query 2)" and list(ax.lines[-1].get_xdata()) == [2.5, 2.5]


def test_the_reference_slope_passes_through_the_runs_geometric_centre():
    from bridge.theory.weight_decay import fit_power_law

    x, t = [1e-3, 4e-3], [1000.0, 100.0]
    ax = plots.plot_power_law(new_figure()[1], x + [NAN], t + [5.0], fit_power_law([1e-3, 2e-3, 4e-3], [1000.0, 400.0, 100.0]))
    reference = ax.lines[1].get_xydata()
    slope = np.diff(np.log(reference[[0, -1]]), axis=0)[0]
    assert slope[1] / slope[0] == pytest.approx(-1.0)
    assert np.interp(np.log(2e-3), np.log(reference[:, 0]), np.log(reference[:, 1])) == pytest.approx(np.log(np.sqrt(1000.0 * 100.0)))
    assert reference[0, 0] == pytest.approx(1e-3 / 1.2) and reference[-1, 0] == pytest.approx(4e-3 * 1.2)


def test_emergence_draws_every_other_frequency_in_grey_from_its_own_column():
    norms = np.array([[9.0, 1.0, 2.0, 3.0], [9.0, 1.5, 2.5, 3.5]])  # column 0, the constant, is never drawn
    ax = plots.plot_emergence(new_figure()[1], [0, 10], norms, [2])
    assert [(line.get_color(), list(line.get_ydata())) for line in ax.lines] == [("0.8", [1.0, 1.5]), ("0.8", [3.0, 3.5]), ("C0", [2.0, 2.5])]


def test_the_dims_against_sparsity_legend_names_the_dots_the_line_and_the_sticky_fractions():
    ax = plots.plot_dims_vs_sparsity(new_figure()[1], [1.0, 0.3, 0.1], [np.array([1.0]), np.array([0.5, 0.5]), np.array([0.4, 0.375, 0.4])], [1.0, 0.5, 0.39])
    # only the line was named before: the dots and the red dotted lines were left to guess
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["D_i, one dot per feature", "m / ‖W‖²_F", "sticky fractions"]
    assert len(ax.collections) == 3 and len(ax.lines) == 1 + 6


@pytest.mark.parametrize("kind", [np.array, tuple, list], ids=["numpy array", "tuple", "list"])
def test_the_seed_timeline_reads_a_row_s_steps_from_any_sequence_and_a_nan_as_no_step(kind):
    ax = plots.plot_seed_timeline(new_figure()[1], [{"label": "mode 0", "predicted": kind([100.0, 100.0]), "observed": kind([90.0, NAN, 140.0]), "mechanism": None}])
    np.testing.assert_allclose([c.lines[0].get_xydata()[0, 0] for c in ax.containers], [100.0, 115.0])
    assert _legend(ax) == ["theory", "dynamics"]
