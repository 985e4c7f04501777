"""Long work outside a training loop shows progress on a terminal and stays quiet off one: a sweep's bar names the
point under way (with the point's own bars under it), the superposition study's fresh-sample training and LLC
chains have bars of their own; none of them changes a number."""

from __future__ import annotations

import io
import re
import sys
import warnings

import pytest
import torch

from bridge import RunConfig, ScheduleConfig, TrainConfig
from bridge.models import MLPConfig
from bridge.progress import phases
from bridge.tasks import LinearTeacherConfig


def _segments(text: str) -> list[str]:
    """What a terminal shows line by line: each carriage return or newline starts over."""
    return [s for s in re.split(r"[\r\n]", re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text)) if s.strip()]


def _printed(message, category, filename, lineno, file=None, line=None):
    sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


class Terminal(io.StringIO):
    """A stream that says it is a terminal, as stderr does under a pseudo-terminal."""

    def isatty(self) -> bool:
        return True


def _tiny(steps: int = 30) -> RunConfig:
    return RunConfig(
        task=LinearTeacherConfig((2.0, 1.0), d_in=4, d_out=3, n_train=32),
        model=MLPConfig(d_in=4, d_out=3, widths=(8,), activation="tanh"),
        train=TrainConfig(optimizer="adam", lr=0.01, steps=steps, batch_size=8, schedule=ScheduleConfig(n_log=3, every=10)),
        name="point",
    )


class Warns:
    name = "warns"

    def __call__(self, model, step, data):
        if step == 10:
            warnings.warn("a tracker's warning", UserWarning, stacklevel=1)
        return []


def test_a_sweep_on_a_terminal_names_the_point_under_way_and_shows_its_training(tmp_path, monkeypatch):
    import bridge

    err = Terminal()
    monkeypatch.setattr(sys, "stderr", err)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = _printed  # as on the command line
        bridge.sweep(_tiny(), tmp_path / "sw", grid={"train.lr": [0.01, 0.02]}, trackers=lambda: [Warns()])
    shown = _segments(err.getvalue())
    sweep = [s for s in shown if s.startswith("sweep:")]
    assert any("0/2" in s and "now=train.lr=0.01" in s for s in sweep) and any("1/2" in s and "now=train.lr=0.02" in s for s in sweep), sweep
    assert any(s.startswith("point:") and "/30" in s for s in shown), shown  # the point's own training moves under the sweep's bar
    warned = [s for s in shown if "UserWarning: a tracker's warning" in s]
    assert len(warned) == 2 and all(s.startswith(__file__) for s in warned), warned  # on its own line, never inside a bar


@pytest.mark.parametrize("progress", [None, False])
def test_a_sweep_off_a_terminal_prints_plain_lines_or_nothing(tmp_path, monkeypatch, progress):
    import bridge

    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    bridge.sweep(_tiny(), tmp_path / "sw", grid={"train.lr": [0.01, 0.02]}, progress=progress)
    text = err.getvalue()
    assert "\r" not in text and "\x1b" not in text, text
    expected = ["sweep: 1/2 points", "sweep: 2/2 points"] if progress is None else []
    assert [line[: len("sweep: 1/2 points")] for line in text.splitlines()] == expected, text


def test_the_superposition_sweeps_train_under_a_bar_that_follows_the_reports_setting(monkeypatch):
    from bridge.models.toy_superposition import ToySuperpositionConfig
    from case_studies.superposition.sweeps import DimsSweep, PhaseSweep, dims_sweep, trained_n2m1_phases

    small, dims = PhaseSweep(importance=2, density=2, seeds=1, steps=40, batch_size=32), DimsSweep(model=ToySuperpositionConfig(4, 2, n_instances=2), steps=30, batch_size=32)
    outputs = {}
    for progress in (True, False):
        err = Terminal()
        monkeypatch.setattr(sys, "stderr", err)
        for _ in phases(["analyse"], "superposition report", progress):
            outputs[progress] = trained_n2m1_phases(small, seed=0), dims_sweep(dims, seed=0)
        outputs[progress, "text"] = _segments(err.getvalue())
    shown = outputs[True, "text"]
    assert any(s.startswith("phase diagram (n=2, m=1):") and "/40 " in s for s in shown), shown
    assert any(s.startswith("dimensions per feature:") and "/30 " in s for s in shown), shown
    assert outputs[False, "text"] == []  # --quiet: the report's own bar and the training's stay off
    (phases_on, weights_on), dims_on = outputs[True]
    (phases_off, weights_off), dims_off = outputs[False]
    assert (phases_on == phases_off).all() and (weights_on == weights_off).all() and dims_on == dims_off  # bit for bit


def test_llc_chains_show_a_bar_on_a_terminal_by_default_and_the_estimate_does_not_move(monkeypatch):
    from bridge.estimators.llc import SGLDConfig, estimate_llc
    from bridge.tasks import Split

    g = torch.Generator().manual_seed(0)
    net, x = torch.nn.Linear(3, 2), torch.randn(40, 3, generator=g)
    split, sgld = Split(x, net(x).detach() + 0.1 * torch.randn(40, 2, generator=g)), SGLDConfig(n_chains=3, n_draws=20, n_burnin=5, step_size=1e-3, gamma=1.0)
    results = {}
    for progress, vectorize in [(None, None), (False, None), (None, False), (False, False)]:
        err = Terminal()
        monkeypatch.setattr(sys, "stderr", err)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            results[progress, vectorize] = estimate_llc(net, "half_sse", split, sgld, seed=3, vectorize=vectorize, progress=progress)
        shown = _segments(err.getvalue())
        if progress is None:
            assert any(s.startswith("llc: 3 chains:") and "/25 " in s for s in shown), shown
        else:
            assert shown == []
    for vectorize in (None, False):
        on, off = results[None, vectorize], results[False, vectorize]
        assert on.mean == off.mean and (on.trace == off.trace).all() and (on.burnin_trace == off.burnin_trace).all(), vectorize
    with pytest.raises(ValueError, match="progress must be True, False or None, got 'yes'"):
        estimate_llc(net, "half_sse", split, sgld, progress="yes")


def test_the_llc_tracker_stays_quiet_under_the_bar_it_runs_in(monkeypatch):
    from bridge.estimators.llc import SGLDConfig
    from bridge.models import DeepLinearConfig, build_model
    from bridge.tasks import make_task
    from bridge.trackers.llc import LLCTracker

    err = Terminal()
    monkeypatch.setattr(sys, "stderr", err)
    data = make_task(LinearTeacherConfig((2.0,), d_in=3, d_out=3, n_train=32), seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows = LLCTracker(SGLDConfig(n_chains=2, n_draws=6, n_burnin=0, step_size=1e-4))(build_model(DeepLinearConfig(3, 4, 3), seed=0), 0, data)
    assert rows and _segments(err.getvalue()) == []
