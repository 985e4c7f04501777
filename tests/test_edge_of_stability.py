"""Edge of stability: the theory against simulation, the detectors on known curves, the case study end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from bridge.stages.sharpness import alternation_fraction, first_increase, oscillation_onset, running_median, sharpening, sharpness_plateau
from bridge.theory.eos import gd_on_quadratic, oscillation_multiplier, predict_plateau, stability_threshold

torch.set_num_threads(1)


@pytest.mark.parametrize("momentum", [0.0, 0.5, 0.9])
def test_stability_threshold_separates_convergence_from_divergence_on_a_quadratic(momentum):
    lr = 0.1
    edge = stability_threshold(lr, momentum)
    assert edge == pytest.approx((2 + 2 * momentum) / lr, rel=1e-12)
    below = gd_on_quadratic(0.98 * edge, lr, 3000, momentum=momentum)
    above = gd_on_quadratic(1.02 * edge, lr, 3000, momentum=momentum)
    assert abs(below[-1]) < 1e-3 < 1e3 < abs(above[-1])


def test_gd_on_quadratic_oscillates_with_period_two_past_one_over_eta():
    lr, curvature = 0.2, 9.0  # 1/η < λ < 2/η: multiplier −0.8
    xs = gd_on_quadratic(curvature, lr, 40)
    np.testing.assert_allclose(xs[1:] / xs[:-1], oscillation_multiplier(lr, curvature), rtol=1e-12)
    steps = np.arange(len(xs), dtype=float)
    assert alternation_fraction(steps, xs) == 1.0
    assert predict_plateau(lr).value == pytest.approx(10.0)


def test_plateau_and_sharpening_on_a_known_curve():
    t = np.arange(600.0)
    level = 12.0
    s = np.where(t < 300, 3 + (level - 3) * t / 300, level + 0.3 * np.sin(t / 7))
    stage = sharpness_plateau(t, s)
    assert stage.change == pytest.approx(level, rel=0.02)
    # the running median reaches 95 % of the tail median where the ramp passes 0.95·12
    assert stage.start == pytest.approx((0.95 * level - 3) / (level - 3) * 300, abs=6)
    rise = sharpening(t, s, stage)
    assert rise.step == pytest.approx((level / 2 + 1.5 - 3) / (level - 3) * 300, abs=2)
    flat = np.full(50, 4.0)
    assert sharpening(np.arange(50.0), flat, sharpness_plateau(np.arange(50.0), flat)) is None


def test_running_median_removes_isolated_spikes_and_keeps_a_ramp():
    ramp = np.arange(101.0)
    np.testing.assert_allclose(running_median(ramp, 9)[4:-4], ramp[4:-4])
    y = np.full(101, 3.0)
    y[[20, 50, 51, 80]] += 1000.0  # spikes up to 2 samples wide
    np.testing.assert_allclose(running_median(y, 9), 3.0)
    with pytest.raises(ValueError, match="odd"):
        running_median(y, 4)


def test_first_increase_and_oscillation_onset():
    t = np.arange(200.0)
    loss = np.exp(-t / 100)
    loss[150:] *= 1 + 0.3 * (t[150:] % 2)
    assert first_increase(t, loss).step == 151
    amp = np.where(t < 100, 1e-4 * 1.2 ** np.minimum(t, 100), 1.0)
    cos = np.clip(amp * 1e2, 0, 0.99) * (-1.0) ** t
    onset = oscillation_onset(t, cos, level=0.5)
    expected = int(np.nonzero(np.abs(cos) >= 0.5)[0][0])
    assert onset.step == expected
    assert oscillation_onset(t, np.abs(cos)) is None  # no sign flips, no oscillation
    with pytest.raises(ValueError, match="every step"):
        oscillation_onset(t[::2], cos[::2])


@pytest.mark.slow
def test_edge_of_stability_quick_preset_end_to_end(tmp_path):
    from case_studies.base import get_case_study, run_case_study

    study = get_case_study("edge-of-stability")
    preset = study.presets["quick"]
    # its cost is a benchmark, not an assertion: benchmarks/bench_case_study.py (end to end vs bare training)
    report = run_case_study("edge-of-stability", "quick", tmp_path / "out", seed=0, device="cpu", progress=False)
    data = json.loads((tmp_path / "out" / "report.json").read_text())
    assert data["verdict"] == report.verdict == "pass"
    for key in ("case_study", "preset", "seed", "matches", "checks", "verdict"):
        assert key in data
    plateau = [c for c in data["checks"] if "median sharpness over the plateau" in c["name"]]
    assert len(plateau) == len(preset.lrs) == 3
    for c, lr in zip(plateau, preset.lrs):
        assert c["value"] == pytest.approx(2 / lr, rel=0.10)
    for lr in preset.lrs[1:]:
        assert (tmp_path / "out" / "runs" / f"eta_{lr:g}" / "run.json").exists()
    for fig in data["figures"]:
        assert (tmp_path / "out" / fig).stat().st_size > 10_000
    # the report rebuilds from the finished runs alone (``mechbridge report``)
    from bridge.runs.run import load_run

    (tmp_path / "out" / "report.json").unlink()
    again = study.analyse(load_run(tmp_path / "out"), preset, "quick")
    assert again.verdict == "pass"
    assert [c.value for c in again.checks] == pytest.approx([c.value for c in report.checks], rel=1e-9)
