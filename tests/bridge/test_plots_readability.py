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
