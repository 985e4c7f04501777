"""A sweep model of the superposition study that diverges fails a precondition naming it, as a case study's diverged
run does, instead of raising inside the analysis; a learning rate whose Adam step overflows float32 is a divergence
at step 1 naming the rate, in the sweeps and in any run's training, instead of torch's overflow RuntimeError."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import case_studies.superposition.sweeps as sup
from bridge import RunConfig, ScheduleConfig, TrainConfig, train
from bridge.models.toy_superposition import ToySuperpositionConfig
from bridge.plots import new_figure
from bridge.plots.superposition import plot_phase_diagram
from bridge.runs.errors import Diverged
from case_studies.superposition import PRESETS, DimsSweep, PhaseSweep, dims_sweep, phase_grid, trained_n2m1_phases
from case_studies.superposition.verdict import Targets, diverged_rows, sweep_checks

SMALL_PHASES = dict(importance=2, density=2, seeds=2, steps=30, batch_size=64)
SMALL_DIMS = dict(model=ToySuperpositionConfig(n_features=4, n_hidden=2, n_instances=3), steps=30, batch_size=64)


@pytest.mark.parametrize("lr", [1e30, 3e38])  # weights that become NaN; a first Adam step beyond float32's largest number
def test_a_phase_sweep_whose_every_instance_diverges_gives_diverged_cells_and_a_failed_precondition(lr):
    """n2m1_phase raised on NaN weights (ValueError) and the optimizer on the overflow (RuntimeError)."""
    sweep = PhaseSweep(**SMALL_PHASES, lr=lr)
    phases, weights = trained_n2m1_phases(sweep, seed=0)
    assert phases.tolist() == [["diverged"] * 2] * 2 and weights.shape == (2, 2, 2) and np.isnan(weights).all()
    rows = diverged_rows(phase_grid(sweep), phases, [], lr, 1e-2)
    assert [(r.name, r.role, r.value, r.passed) for r in rows] == [("n=2, m=1 phase sweep trained without diverging", "precondition", 4, False)]
    assert rows[0].reason.startswith("every seed diverged in 4 of 4 cells (importance 0.1, density 0.01)") and f"lower phases.lr ({lr:g})" in rows[0].reason
    ax = plot_phase_diagram(new_figure()[1], phases, *phase_grid(sweep))  # the figure draws it in its own colour
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["diverged"]


def test_a_cell_keeps_its_best_seed_that_did_not_diverge(monkeypatch):
    """A NaN loss was the argmin of its cell: the cell's phase was read from the diverged seed's weights."""
    real = sup.fit_fresh_samples

    def fit_then_break(model, *args, **kwargs):  # instances are (seed cell): seed 0 of cell 1, both seeds of cell 3 diverge
        real(model, *args, **kwargs)
        with torch.no_grad():
            model.W[[1, 3, 7]] = math.nan
            model.b[7] = math.inf

    monkeypatch.setattr(sup, "fit_fresh_samples", fit_then_break)
    sweep = PhaseSweep(**SMALL_PHASES, lr=1e-2)
    phases, weights = trained_n2m1_phases(sweep, seed=0)
    monkeypatch.setattr(sup, "fit_fresh_samples", real)
    clean, clean_weights = trained_n2m1_phases(sweep, seed=0)
    assert phases[1, 1] == "diverged" and np.isnan(weights[1, 1]).all()
    assert np.isfinite(weights[0, 1]).all() and phases[0, 1] != "diverged"  # cell 1: its seed 1
    assert [phases[0, 0], phases[1, 0]] == [clean[0, 0], clean[1, 0]] and np.array_equal(weights[0, 0], clean_weights[0, 0])
    rows = diverged_rows(phase_grid(sweep), phases, [], 1e-2, 1e-2)
    assert [(r.value, r.passed) for r in rows] == [(1, False)] and "(importance 10, density 1)" in rows[0].reason


@pytest.mark.parametrize("lr", [1e30, 3e38])
def test_a_dims_sweep_model_that_diverges_fails_a_precondition_and_the_sticky_row(lr):
    """dimensions_per_feature raised on the NaN weights (ValueError), the optimizer on the overflow (RuntimeError)."""
    sweep = dims_sweep(DimsSweep(**SMALL_DIMS, lr=lr), seed=0)
    assert [(math.isnan(s["dims_per_feature"]), s["D"], s["represented"]) for s in sweep] == [(True, [], 0)] * 3
    rows = diverged_rows(phase_grid(PhaseSweep(importance=1, density=1)), np.array([["none"]], dtype=object), sweep, 1e-2, lr)
    assert [(r.name, r.role, r.value, r.passed) for r in rows] == [("dimensions-per-feature sweep trained without diverging", "precondition", 3, False)]
    assert rows[0].reason == f"diverged: 3 of 3 models (density {sweep[0]['density']:.3g}, density {sweep[1]['density']:.3g}, density {sweep[2]['density']:.3g}); lower dims.lr ({lr:g})"
    sticky = sweep_checks(np.array([["none"]], dtype=object), np.array([["none"]], dtype=object), sweep, Targets())[1]
    assert not sticky.passed and "3 of 3 models have m/‖W‖² that is not a finite number" in sticky.reason


def test_sweeps_that_train_add_no_divergence_row():
    phases, _ = trained_n2m1_phases(PhaseSweep(**SMALL_PHASES, lr=1e-2), seed=0)
    sweep = dims_sweep(DimsSweep(**SMALL_DIMS, lr=1e-2), seed=0)
    assert "diverged" not in phases and all(math.isfinite(s["dims_per_feature"]) for s in sweep)
    assert diverged_rows(phase_grid(PhaseSweep(**SMALL_PHASES)), phases, sweep, 1e-2, 1e-2) == []


def test_an_adam_rate_whose_step_overflows_float32_is_a_divergence_at_step_1_naming_it(tmp_path):
    """train.lr=3e38 with Adam raised torch's `value cannot be converted to type float without overflow`."""
    quick = PRESETS["quick"]
    cfg = RunConfig(quick.task, quick.model, TrainConfig(optimizer="adam", lr=3e38, steps=5, schedule=ScheduleConfig(n_log=2)), seed=0)
    with pytest.raises(Diverged, match=r"^weights \(the optimizer's step at lr 3e\+38 overflows float32\) became non-finite at step 1; lower train\.lr$") as caught:
        train(cfg, tmp_path / "run", progress=False)
    assert caught.value.step == 1 and caught.value.loss == math.inf
