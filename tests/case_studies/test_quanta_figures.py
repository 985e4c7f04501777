"""The quanta study's figures as drawn from synthetic observables: what each panel holds and where its legend is."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from case_studies.quanta import Targets
from case_studies.quanta.analysis import judge
from test_quanta import _synthetic


def _drawn(tmp_path, monkeypatch) -> dict:
    import case_studies.quanta.analysis as analysis

    obs = _synthetic()
    drawn: dict = {}
    monkeypatch.setattr(analysis, "observables", lambda runs: obs)
    monkeypatch.setattr(analysis, "save_figure", lambda fig, path: drawn.setdefault(path.name, fig) and path)
    main = SimpleNamespace(figures_dir=tmp_path / "figures", path=tmp_path, config=SimpleNamespace(seed=0))
    analysis.figures({"main": main}, judge(obs, Targets()))
    return drawn


def test_the_hidden_progress_panels_share_one_legend_under_them(tmp_path, monkeypatch):
    """A legend inside each panel sat over the drop the panel is drawn to show (the loss falling through it, the
    share rising behind it) on a quick run; the figure names its five lines once, below the four panels."""
    fig = _drawn(tmp_path, monkeypatch)["hidden_progress.png"]
    lefts = [ax for ax in fig.axes if ax.get_ylabel() == "subtask loss"]
    assert len(lefts) == 4 and len(fig.axes) == 8  # four panels, each with its right axis
    assert [ax for ax in fig.axes if ax.get_legend() is not None] == []
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == ["subtask loss", "drop onset", "relevant-bit share", "chance share", "2× chance"]
    assert [ax.get_title() for ax in lefts] == ["subtask 0 (rank 1)", "subtask 3 (rank 4)", "subtask 7 (rank 8)", "subtask 11 (rank 12)"]


def test_the_fitted_exponents_drawn_are_read_from_their_rows_and_a_row_holding_text_is_refused_by_name():
    from bridge.match import check
    from bridge.report import BridgeReport
    from case_studies.quanta.analysis import _measured

    report = BridgeReport("quanta", "custom", 0)
    report.checks += [check("exponent of final mean loss vs parameters (95% CI 0.1 to 0.3)", 0.25, "reported", True), check("exponent of mean loss vs steps, widest model", None, "reported", False)]
    assert _measured(report, "exponent of final mean loss") == 0.25
    assert _measured(report, "exponent of mean loss vs steps") is None and _measured(report, "no such row") is None
    report.checks.append(check("exponent of the tail", "0.1 to 0.2", "reported", True))
    with pytest.raises(TypeError, match="the check row 'exponent of the tail' must hold a number, got the text '0.1 to 0.2'"):
        _measured(report, "exponent of the tail")
