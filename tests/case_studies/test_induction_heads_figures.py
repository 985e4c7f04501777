"""Where the induction-heads figures put their legends: clear of the curves they name. Read back from the artists
(legend texts, the legend's extent against the drawn points), not from an image."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from bridge.plots import new_figure, plot_induction_by_key, plot_loss_stages
from bridge.stages.detectors import Stage

# the quick run's (seed 0) induction attention by key position: the off-position set falls to about 0.5 past key 19
TEST = [None, 0.7, 0.89, 0.89, 0.89, 0.91, 0.91, 0.89, 0.91, 0.92, 0.92, 0.92, 0.93, 0.91, 0.93, 0.91, 0.91, 0.87, 0.94, 0.83, 0.45] + [None] * 11
OFF = [None] * 10 + [0.86, 0.88, 0.88, 0.9, 0.87, 0.88, 0.88, 0.88, 0.88, 0.8, 0.5, 0.5, 0.56, 0.54, 0.59] + [None] * 7
COVERAGE = {
    "reach": 31,
    "induction_test": {"by_key": TEST, "count": [0] + [38] * 19 + [3] + [0] * 11},
    "induction_off": {"by_key": OFF, "count": [0] * 10 + [28] * 15 + [0] * 7},
}


def _points_under_legend(ax) -> int:
    """How many drawn data points of ``ax`` lie inside its legend's box on the drawn figure."""
    FigureCanvasAgg(ax.figure).draw()
    box = ax.get_legend().get_window_extent()
    points = np.concatenate([ax.transData.transform(line.get_xydata()) for line in ax.lines if len(line.get_xdata()) > 2])
    return int(sum(box.contains(x, y) for x, y in points))


def test_the_induction_by_key_legend_covers_none_of_the_points():
    """At the centre the legend hid the off-position set's fall past key 19 (keys 20-24, attention about 0.5)."""
    ax = plot_induction_by_key(new_figure(ncols=3, size=(4.2, 3.4))[1][2], COVERAGE, "L1H0")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["test (queries with one earlier copy)", "off (queries with one earlier copy)", "previous-token reach (query 31)"]
    assert len(ax.lines[1].get_xdata()) == 15
    assert _points_under_legend(ax) == 0


def test_the_loss_legend_can_sit_under_the_panel_and_names_every_line():
    fig, ax = new_figure(size=(7.5, 4.2))
    steps = np.arange(0.0, 2001.0, 50.0)
    drop = 4.1 - 3.9 / (1 + np.exp(-(steps - 1600) / 30))
    curves = {"repeated tokens (test)": (steps, drop, "C0-"), "1-layer control, repeated": (steps, np.full_like(steps, 2.9), "C3-")}
    llc = (steps[::2], np.linspace(0, 30, len(steps[::2])), np.ones(len(steps[::2])))
    stages = [Stage("plateau", 0, 1500, kind="plateau"), Stage("drop", 1500, 1700, kind="drop")]
    plot_loss_stages(ax, curves, stages=stages, reference=(math.log(64), "ln V"), llc=llc, boundary=800.0, legend="below")
    assert [a.get_legend() for a in fig.axes] == [None, None]  # neither the loss axis nor the LLC's
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == ["repeated tokens (test)", "1-layer control, repeated", "ln V", "LLC (right)"]
    with pytest.raises(ValueError, match="legend must be 'inside' or 'below', got 'left'"):
        plot_loss_stages(new_figure()[1], curves, legend="left")


def test_the_study_puts_the_loss_legend_under_its_panel(monkeypatch):
    """Inside, at the centre right, the legend covered the drop and the last LLC estimates on a quick run."""
    import case_studies.induction_heads as study

    seen: dict = {}

    class Drawn(Exception):
        pass

    def record(ax, curves, **kwargs):
        seen.update(kwargs)
        raise Drawn

    monkeypatch.setattr(study, "plot_loss_stages", record)
    monkeypatch.setattr(study, "dynamics", lambda *args, **kwargs: ([], None, None, None))
    run = SimpleNamespace(curve=lambda *args, **kwargs: (np.arange(3.0), np.ones(3)))
    report = SimpleNamespace(extra={"induction_head": (1, 0), "previous_token_head": (0, 1)})
    with pytest.raises(Drawn):
        study.InductionHeads().figures({"main": run, "one_layer": run}, report, study.PRESETS["quick"])
    assert seen["legend"] == "below"
