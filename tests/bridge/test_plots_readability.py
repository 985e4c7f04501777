"""Figures read as they are meant to: marks that can sit side by side are told apart by their style, and legends
name each kind of line drawn. Read back from the artists (styles, labels, scales), not from pixels."""

from bridge import plots
from bridge.plots import new_figure


def test_the_four_crossovers_of_the_alignment_panel_each_have_their_own_line_style():
    """kernel-limit marks four crossovers; two of them can fall within 5 % of each other in α (9.73 and 10.2 on a
    quick run), so each needs a style of its own: the first and the fourth were both solid."""
    marks = {"alignment rise": 10.2, "test MSE leaves K₀ descent": 8.45, "distance reaches 0.1": 0.301, "moved eigenlearning departs": 9.73}
    ax = plots.plot_alignment_rise(new_figure()[1], [50.0, 10.0, 1.0, 0.1], [1.0, 1.1, 2.0, 10.0], 1.1, marks)
    styles = {line.get_label().split(":")[0]: line.get_linestyle() for line in ax.lines if line.get_label().split(":")[0] in marks}
    assert sorted(styles) == sorted(marks)
    assert len(set(styles.values())) == 4, styles


def _shown_tick_labels(axis):
    """The tick labels drawn on ``axis`` (within its view, with text): ``(text, window extent)``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = axis.axes.figure
    FigureCanvasAgg(fig).draw()
    lo, hi = sorted(axis.get_view_interval())
    renderer = fig.canvas.get_renderer()
    ticks = axis.get_major_ticks() + axis.get_minor_ticks()
    return [(t.label1.get_text(), t.label1.get_window_extent(renderer)) for t in ticks if t.label1.get_visible() and t.label1.get_text() and lo <= t.get_loc() <= hi]


def test_the_sweep_fit_labels_its_short_log_axes_in_plain_numbers_that_do_not_overlap():
    """The grokking sweep of a quick run spans lr·wd 0.0015-0.012, about one decade: matplotlib labelled the minor
    ticks 2×10⁻³, 3×10⁻³, 4×10⁻³ and 6×10⁻³, and the middle two ran into each other."""
    from bridge.theory.weight_decay import fit_power_law

    x, t = [0.0015, 0.003, 0.006, 0.012, 0.0015, 0.006], [976.4, 594.2, 431.6, 466.2, 1071.9, 381.1]
    ax = plots.plot_power_law(new_figure(size=(5.5, 4.0))[1], x, t, fit_power_law(x, t), labels=[f"run {i}" for i in range(6)])
    assert (ax.get_xscale(), ax.get_yscale()) == ("log", "log")
    shown = _shown_tick_labels(ax.xaxis)
    assert [text for text, _ in shown] == ["0.002", "0.005", "0.01"]
    assert not any(a.overlaps(b) for i, (_, a) in enumerate(shown) for _, b in shown[i + 1 :])
    assert [text for text, _ in _shown_tick_labels(ax.yaxis)] == ["200", "500", "1000", "2000"]  # the slope −1 guide reaches past 1000


def test_more_curves_than_the_colour_cycle_get_a_colour_each_and_their_legend_stands_beside_the_panel():
    """The cycle has 10 colours: seeds 0, 10, 20 and 30 of 40 were drawn alike, under a legend covering half the panel."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import to_hex

    x = list(range(50))
    fig, ax = new_figure()
    plots.plot_curves(ax, {f"seed {i}": (x, [v * (1 + i / 40) for v in x]) for i in range(40)})
    assert len({to_hex(line.get_color()) for line in ax.lines}) == 40
    FigureCanvasAgg(fig).draw()
    legend, panel = ax.get_legend().get_window_extent(), ax.get_window_extent()
    assert legend.x0 >= panel.x1 and len(ax.get_legend().get_texts()) == 40
    fig, ax = new_figure()  # within the cycle: its colours in order, the legend inside the panel
    plots.plot_curves(ax, {f"seed {i}": (x, x) for i in range(10)})
    assert [line.get_color() for line in ax.lines] == [f"C{i}" for i in range(10)]
    FigureCanvasAgg(fig).draw()
    assert ax.get_legend().get_window_extent().x1 <= ax.get_window_extent().x1
