"""kernel-limit's figures draw the numbers the report judged: each plot receives the values read off the
observations (eigenlearning moved by each α's kernel, the alignment's rise, the residuals of the linearised dynamics,
the means over training sets, the isotropic support share)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from test_kernel_limit_judge import _observations


def _recorded(monkeypatch) -> dict:
    """Wrap the plots the study draws with so each call's arguments are kept (the figure is still drawn)."""
    import bridge.plots as plots

    calls: dict = {}
    for name in ("plot_test_vs_scale", "plot_alignment_rise", "plot_curves", "plot_support_share", "plot_draw_means", "plot_fraction_vs_scale"):
        real = getattr(plots, name)

        def wrapper(*args, _real=real, _name=name, **kwargs):
            calls.setdefault(_name, []).append((args, kwargs))
            return _real(*args, **kwargs)

        monkeypatch.setattr(plots, name, wrapper)
    return calls


def test_the_figures_receive_the_judged_numbers(monkeypatch, tmp_path):
    from case_studies.kernel_limit import judge
    from case_studies.kernel_limit.figures import figures

    obs = _observations()
    report = judge(obs)
    steps = np.array([0.0, 10.0, 20.0])
    share = {a: (steps, np.array([0.3, 0.4, 0.3 + 0.1 / a])) for a in obs["sweep"]["alphas"]}
    ordered = []
    for a in obs["sweep"]["alphas"]:
        path = tmp_path if a == 50.0 else tmp_path / "runs" / f"alpha_{a:g}"
        (path / "figures").mkdir(parents=True)
        ordered.append((a, SimpleNamespace(path=Path(path), figures_dir=path / "figures", config=SimpleNamespace(task=SimpleNamespace(d=10)), curve=lambda name, _a=a: share[_a])))
    calls = _recorded(monkeypatch)
    labels = ["χ_0", "χ_01", "χ_012"]
    paths = figures(ordered, obs, labels, SimpleNamespace(crossover_departure=0.1, crossover_distance=0.1), report)
    assert paths == ["figures/learned_vs_alpha.png", "figures/kernel_distance.png", "figures/residuals.png", "figures/support_share.png"]
    pred = obs["theory"]["prediction"].test_mse
    (args, kwargs), = calls["plot_test_vs_scale"]
    moved = args[6]
    assert moved == pytest.approx(pred * np.array([1.02, 1.01, 1.0, 0.95, 0.6, 0.2, 0.02]), rel=1e-9)  # eigenlearning moved as the synthetic test MSE is
    assert args[3] == pytest.approx(pred) and args[2] == pytest.approx([r["cube_mse"] for r in obs["sweep"]["rows"]])
    (args, _), = calls["plot_alignment_rise"]
    assert args[2] == pytest.approx([1.0] * 4 + [10.0] * 3) and args[3] == pytest.approx(1.1)
    (args, kwargs), = calls["plot_curves"]
    theory = args[2]
    for i, label in enumerate(labels):
        t, residual = theory[label]
        assert t.tolist() == obs["theory"]["steps"][1:].tolist()
        assert residual == pytest.approx(1 - obs["theory"]["fractions"][i][1:], rel=1e-12)
        assert args[1][label][1] == pytest.approx(1 - obs["curves"][i][1][1:], rel=1e-12)
    (args, _), = calls["plot_support_share"]
    assert args[2] == pytest.approx(3 / 10) and list(args[1]) == [f"α={a:g}" for a in obs["sweep"]["alphas"]]
    fractions, mse = calls["plot_draw_means"]
    np.testing.assert_allclose(np.array(list(fractions[0][2].values())), obs["draws"]["fractions"].T, rtol=1e-12)
    assert mse[0][2]["cube MSE"].tolist() == pytest.approx(obs["draws"]["cube_mse"].tolist()) and fractions[0][1] == mse[0][1] == 50.0
    (args, _), = calls["plot_fraction_vs_scale"]
    assert args[2] == {lab: [r["fractions"][i] for r in obs["sweep"]["rows"]] for i, lab in enumerate(labels)} and args[3] == dict(zip(labels, [0.95, 0.8, 0.4]))
