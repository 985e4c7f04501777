"""What long work shows on a terminal: warnings above the bar (never inside it), the report's phases named."""

from __future__ import annotations

import io
import re
import sys
import warnings

from bridge.progress import phases, progress_bar


def _segments(text: str) -> list[str]:
    """What a terminal shows line by line: each carriage return or newline starts over."""
    return [s for s in re.split(r"[\r\n]", re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text)) if s.strip()]


def _printed(message, category, filename, lineno, file=None, line=None):
    sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


def test_a_warning_raised_under_a_bar_is_printed_on_its_own_line(monkeypatch):
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = _printed  # as on the command line, not recorded by pytest
        for i in progress_bar(range(3), "analyze", progress=True, mininterval=0):
            if i == 1:
                warnings.warn("chains drift", UserWarning, stacklevel=1)
        assert getattr(warnings.showwarning, "__self__", None) is None  # the bar gives the usual printing back when it closes
    shown = [s for s in _segments(err.getvalue()) if "UserWarning: chains drift" in s]
    assert len(shown) == 1 and shown[0].startswith(__file__), shown  # not 'analyze:  33%|...|/path: UserWarning'


def test_the_phases_of_a_report_each_show_by_name_on_a_terminal(monkeypatch):
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    assert list(phases(("analyse", "figures"), "kernel-limit report", progress=True)) == ["analyse", "figures"]
    frames = [s for s in _segments(err.getvalue()) if s.startswith("kernel-limit report:")]
    assert any("0/2" in s and "now=analyse" in s for s in frames) and any("1/2" in s and "now=figures" in s for s in frames), frames


def test_the_phases_of_a_report_off_a_terminal_print_no_carriage_return(monkeypatch, capsys):
    import bridge.progress as progress

    monkeypatch.setattr(progress, "PLAIN_INTERVAL", 0.0)
    assert list(phases(("analyse", "figures"), "grokking report")) == ["analyse", "figures"]
    err = capsys.readouterr().err
    assert "\r" not in err and err.splitlines()[0].startswith("grokking report: 1/2 (50%)"), err


def test_a_case_study_run_on_a_terminal_names_its_report_phases(tmp_path, monkeypatch):
    from case_studies import run_case_study

    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    run_case_study("deep-linear", "quick", tmp_path / "dl", device="cpu", progress=True, settings=["train.steps=40"])
    shown = _segments(err.getvalue())
    assert any(s.startswith("deep-linear report:") and "now=analyse" in s for s in shown), shown[-5:]
    assert any(s.startswith("deep-linear report:") and "now=figures" in s for s in shown), shown[-5:]
    assert any(s.startswith("analyze deep-linear:") for s in shown) or not any(s.startswith("analyze") for s in shown)
