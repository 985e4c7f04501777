"""Figures on edge data: what each plot function drew, and that the figure saves."""

import numpy as np
import pytest

from bridge.plots import new_figure, plot_curves, plot_kernel_distance, save_figure
from bridge.plots.parametrisation import plot_coordinate_check, plot_loss_vs_lr
from bridge.plots.quanta import plot_power_law

NAN, INF = float("nan"), float("inf")


def _notes(ax):
    return [t.get_text() for t in ax.texts]


@pytest.mark.parametrize(
    ("draw", "scales"),
    [
        pytest.param(lambda ax: plot_loss_vs_lr(ax, [0.1, 0.2, 0.4], {32: [INF, NAN, INF], 64: [NAN, INF, INF]}), ("linear", "linear"), id="every run diverged"),
        pytest.param(lambda ax: plot_coordinate_check(ax, [64, 128, 256], {k: [NAN] * 3 for k in ("input", "hidden", "output")}), ("linear", "linear"), id="coordinate check all NaN"),
        # no point has a finite y, so none puts its α on the x axis; the crossover level is a positive y
        pytest.param(lambda ax: plot_kernel_distance(ax, [0.1, 1.0, 10.0], [NAN] * 3, level=0.1, crossover=None), ("linear", "log"), id="kernel distance all NaN"),
        pytest.param(lambda ax: plot_curves(ax, {"loss": ([0, 1, 2], [0.0, NAN, -1.0])}, logy=True), ("linear", "linear"), id="curves logy, none positive"),
    ],
)
def test_a_log_axis_without_a_positive_value_stays_linear_with_a_note(draw, scales, tmp_path):
    fig, ax = new_figure()
    draw(ax)
    save_figure(fig, tmp_path / "panel.png")  # raised "Data cannot be log-scaled" before
    assert (ax.get_xscale(), ax.get_yscale()) == scales
    assert len(_notes(ax)) == 1 and _notes(ax)[0].startswith("no finite positive value")


def test_a_log_axis_with_a_positive_value_stays_log_without_a_note(tmp_path):
    fig, ax = new_figure()
    plot_loss_vs_lr(ax, [0.1, 0.2, 0.4], {32: [INF, 0.5, INF], 64: [NAN, INF, INF]})
    save_figure(fig, tmp_path / "panel.png")
    assert (ax.get_xscale(), ax.get_yscale(), _notes(ax)) == ("log", "log", [])
    assert ax.get_ylim()[0] < 0.5 < ax.get_ylim()[1]
    np.testing.assert_allclose(ax.lines[1].get_xydata(), [[0.2, 0.5]])  # the best rate's star


@pytest.mark.parametrize(
    ("draw", "note"),
    [
        pytest.param(lambda ax: plot_curves(ax, {"loss": ([0, 1, 2, 3], [1.0, 0.1, 0.0, 0.0])}, logy=True), "2 values ≤ 0 not shown (log y axis)", id="loss reaching 0"),
        pytest.param(lambda ax: plot_loss_vs_lr(ax, [0.1, 0.2, 0.4], {64: [0.4, -0.5, 0.2]}), "1 value ≤ 0 not shown (log y axis)", id="one negative loss"),
        pytest.param(lambda ax: plot_power_law(ax, [0.0, 16, 32], [0.5, 0.0, 0.1]), "1 value ≤ 0 not shown (log x axis); 1 value ≤ 0 not shown (log y axis)", id="x and y"),
    ],
)
def test_a_log_axis_that_leaves_out_values_at_or_below_zero_says_how_many(draw, note, tmp_path):
    fig, ax = new_figure()
    draw(ax)
    save_figure(fig, tmp_path / "panel.png")
    assert "log" in (ax.get_xscale(), ax.get_yscale())
    assert _notes(ax) == [note]  # the values vanished without a word before


def test_a_vertical_line_on_a_log_axis_is_not_counted_as_a_left_out_value():
    fig, ax = new_figure()
    ax.axvline(1.0)  # spans axes fraction 0 to 1 in y: no data value there
    ax.axhline(0.0, xmin=0.2)  # a data value 0 in y, left out
    plot_curves(ax, {"loss": ([0, 1, 2], [1.0, 0.5, 0.25])}, logy=True)
    assert _notes(ax) == ["1 value ≤ 0 not shown (log y axis)"]


def test_reach_draws_every_curve_in_its_own_style():
    from matplotlib.colors import to_hex

    from bridge.plots import plot_reach

    curves = {f"seed {s}": ([0, 100, 200], [1 + s, 3 + s, 7 + s]) for s in range(5)}
    ax = plot_reach(new_figure()[1], curves)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == list(curves)
    assert [ln.get_ydata()[-1] for ln in ax.lines] == [7, 8, 9, 10, 11]  # three before
    assert len({(to_hex(ln.get_color()), ln.get_linestyle()) for ln in ax.lines}) == 5


def test_the_phase_diagram_legend_names_each_phase_in_the_grid():
    from matplotlib.colors import to_hex

    from bridge.plots import plot_phase_diagram
    from bridge.plots.superposition import PHASE_COLOURS

    phases = np.array([["feature 1", "none"], ["other", "superposition"]], dtype=object)
    ax = plot_phase_diagram(new_figure()[1], phases, [0.5, 2.0], [0.1, 1.0])
    legend = ax.get_legend()
    named = {t.get_text(): to_hex(h.get_facecolor()[0]) for t, h in zip(legend.get_texts(), legend.legend_handles)}
    assert named == {n: PHASE_COLOURS[n].lower() for n in ("feature 1", "superposition", "none", "other")}  # no "feature 2": not in the grid


def test_each_emergence_dot_lies_on_its_drawn_curve_and_step_0_is_on_the_axis():
    from bridge.plots.quanta import plot_subtask_losses

    steps = np.array([0.0, 100.0, 1000.0, 10000.0])  # checkpoints spaced in log steps
    losses = np.array([[0.69, 0.69], [0.69, 0.60], [0.05, 0.30], [0.01, 0.02]])
    ax = plot_subtask_losses(new_figure()[1], steps, losses, [300.0, 3000.0])
    for curve, dot in ((ax.lines[0], ax.lines[1]), (ax.lines[2], ax.lines[3])):
        drawn = ax.transData.transform(curve.get_xydata())  # the polyline as it is drawn, in pixels
        x, y = ax.transData.transform(dot.get_xydata())[0]
        assert abs(y - np.interp(x, drawn[:, 0], drawn[:, 1])) < 1e-6 * abs(y)  # 0.16 nats off before
    assert ax.get_xlim()[0] <= 0.0


def test_a_circuit_without_heads_is_a_panel_that_says_so(tmp_path):
    import networkx as nx

    from bridge.plots import plot_circuit

    fig, ax = new_figure()
    plot_circuit(ax, nx.DiGraph(step=0))  # raised ValueError (max() of nothing) before
    save_figure(fig, tmp_path / "circuit.png")
    assert _notes(ax) == ["no heads in the graph"] and ax.get_title() == "step 0: k_comp_z ≥ 3 (colour: induction)"


def test_a_fitted_slope_with_no_point_fitted_is_named_and_not_drawn(tmp_path):
    from bridge.plots.quanta import plot_power_law

    fig, ax = new_figure()
    plot_power_law(ax, [10, 100], [1.0, 0.5], slope=-1, fitted=-1, fit_mask=[False, False])  # raised ValueError (min of nothing) before
    save_figure(fig, tmp_path / "power_law.png")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["measured", "predicted slope -1", "fitted slope -1 (no point to draw it through)"]
    assert ax.lines[2].get_xydata().size == 0
    np.testing.assert_allclose(ax.lines[1].get_xydata(), [[10.0, np.sqrt(0.5) * 10**0.5], [100.0, np.sqrt(0.5) / 10**0.5]])


def test_event_lines_and_stage_bands_take_the_stored_events_of_a_run():
    """`run.events` holds dicts (events, stages and predictions, as in events.json): the two functions draw the
    events and the stages among them (both raised AttributeError on a dict)."""
    from matplotlib.colors import to_hex

    from bridge.plots import plot_event_lines, plot_stage_bands
    from bridge.stages.detectors import Event, Stage

    stored = [
        Event("mode 0 half-rise", 50.5, 43.0, 51.0, observable="mode/strength").to_dict(),
        Stage("loss drop", 40.0, 60.0, observable="loss/train", kind="drop").to_dict(),
        {"name": "mode 0 half-rise", "theory": "saxe", "step": 46.2, "type": "prediction"},
        Event("loss crosses 0.1", 70.0, 68.0, 72.0, observable="loss/train"),
    ]
    fig, ax = new_figure()
    plot_event_lines(ax, stored, {"loss/train": "C3"})
    plot_stage_bands(ax, stored)
    assert [list(line.get_xdata()) for line in ax.lines] == [[50.5, 50.5], [70.0, 70.0]]
    assert [line.get_color() for line in ax.lines] == ["0.5", "C3"]
    assert len(ax.patches) == 1 and to_hex(ax.patches[0].get_facecolor()) == "#ff7f0e"
    band = ax.patches[0].get_path().transformed(ax.patches[0].get_patch_transform()).vertices[:, 0]
    assert (band.min(), band.max()) == (40.0, 60.0)


def test_the_timeline_takes_a_reports_matches_as_they_are():
    """A report's matches (``run.report["matches"]``, or Match rows) draw the same timeline as the label/predicted/observed/mechanism rows."""
    from dataclasses import asdict

    from bridge.match import match
    from bridge.plots import plot_timeline
    from bridge.stages.detectors import Event

    rows = [match("mode 0", 100.0, Event("rise", 110, 105, 115), Event("diff", 120, 118, 122), 0.3), match("mode 1", 200.0, None, None, 0.3)]
    plain = [{"label": "mode 0", "predicted": 100.0, "observed": 110.0, "mechanism": 120.0}, {"label": "mode 1", "predicted": 200.0, "observed": None, "mechanism": None}]
    drawn = []
    for given in (plain, rows, [asdict(r) for r in rows]):
        fig, ax = new_figure()
        plot_timeline(ax, given)
        drawn.append(([c.get_offsets().tolist() for c in ax.collections], [t.get_text() for t in ax.get_yticklabels()]))
    assert drawn[0] == ([[[100.0, 0.0], [200.0, 1.0]], [[110.0, 0.0]], [[120.0, 0.0]]], ["mode 0", "mode 1"])
    assert drawn[1] == drawn[0] and drawn[2] == drawn[0]
