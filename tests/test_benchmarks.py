"""The benchmark scripts import on the current code, and the case-study benchmark's two timed parts run on a
20-step preset and differ only in what the case study adds to the training."""

import dataclasses
import importlib.util
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load(name: str):
    """The benchmark script ``benchmarks/<name>.py`` as a module (its ``main`` not run)."""
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", sorted(p.stem for p in BENCHMARKS.glob("*.py")))
def test_every_benchmark_script_imports_and_has_a_main(name):
    assert callable(load(name).main)


def test_the_case_study_benchmark_baseline_trains_the_same_runs_at_the_same_checkpoints_without_the_sharpness(tmp_path):
    from bridge.runs.run import load_run
    from case_studies.edge_of_stability import PRESETS

    bench = load("bench_case_study")
    quick = PRESETS["quick"]
    short = dataclasses.replace(quick, train=dataclasses.replace(quick.train, steps=20), other_steps=())
    assert bench.bare_training(short, tmp_path / "bare") > 0
    assert bench.end_to_end(short, tmp_path / "whole", check=False) > 0
    whole = {"main": tmp_path / "whole"} | {p.name: p for p in (tmp_path / "whole" / "runs").iterdir()}
    assert sorted(p.name for p in (tmp_path / "bare").iterdir()) == sorted(whole) == ["eta_0.14", "eta_0.25", "main"]
    for key, folder in whole.items():
        bare, study = load_run(tmp_path / "bare" / key), load_run(folder)
        assert bare.config.train.lr == study.config.train.lr and bare.steps == study.steps
        assert set(bare.metrics["observable"]) == {"loss/train", "loss/test"}
        assert list(bare.observable("loss/train").index) == bare.steps  # the loss at the checkpoints only
        sharpness = study.metrics[study.metrics["observable"] == "curvature/top_eig"]
        np.testing.assert_array_equal(np.unique(sharpness["step"]), np.arange(21))  # the case study's sharpness at every step
