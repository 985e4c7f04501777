"""The quanta study's figures as drawn from synthetic observables: what each panel holds and where its legend is."""

from __future__ import annotations

from types import SimpleNamespace

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
