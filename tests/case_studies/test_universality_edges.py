"""Universality rows at their edges: grokking judged at the very step it memorises, the predicted trajectory refused
beyond depth 2, the measured curve read against the other run's last checkpoint, arguments outside their meaning
refused by name, and a CKA or an accuracy outside its range not judged."""

import dataclasses
import math
import types

import numpy as np
import pytest
import torch

import case_studies.generality.universality as univ
from case_studies.grokking import Targets


def test_a_run_that_generalises_at_the_step_it_memorises_has_grokked_as_the_study_s_precondition_says():
    steps = np.arange(0.0, 1001.0, 100.0)
    accuracy = np.clip((steps - 300) / 100, 0, 1)  # both curves cross 99 % at step 399
    targets = dataclasses.replace(Targets(), grokked=Targets().memorised)
    run = types.SimpleNamespace(curve=lambda name: (steps, accuracy))
    assert univ.grokked(run, targets)
    late = types.SimpleNamespace(curve=lambda name: (steps, accuracy if name == "accuracy/train" else np.append(accuracy[1:], 1.0)))  # test accuracy a checkpoint earlier
    assert not univ.grokked(late, targets)


def test_the_predicted_trajectory_is_refused_for_a_network_that_is_not_depth_2():
    run = types.SimpleNamespace(config=types.SimpleNamespace(model=types.SimpleNamespace(depth=3)), task_data=lambda: pytest.fail("read before the depth was checked"))
    with pytest.raises(ValueError, match="predicted for depth-2 networks, got depth 3"):
        univ._predicted(run, np.array([0.0, 100.0]))


def test_the_measured_curve_compares_each_checkpoint_of_one_run_with_the_last_of_the_other(tmp_path):
    import bridge
    from bridge.config import RunConfig, ScheduleConfig, TrainConfig
    from bridge.models import DeepLinearConfig
    from bridge.tasks import HierarchyConfig
    from probes.activations import cached_activation
    from probes.similarity import linear_cka

    train = TrainConfig(optimizer="gd", lr=0.05, steps=150, schedule=ScheduleConfig(n_log=4, every=50))  # still learning at the end
    runs = []
    for seed in (0, 1):
        cfg = RunConfig(HierarchyConfig(depth=4), DeepLinearConfig(d_in=16, d_hidden=32, d_out=31, depth=2, init_std=0.005), train, seed=seed, name="deep-linear")
        runs.append(bridge.train(cfg, tmp_path / f"s{seed}", progress=False))
    a, b = (bridge.load_run(tmp_path / f"s{seed}") for seed in (0, 1))
    steps, measured, predicted = univ.differentiation_curves(a, b)
    x = a.task_data().train.x
    final_b = cached_activation(b.model_at(b.steps[-1]), x, univ.HOOK)
    expected = [linear_cka(cached_activation(a.model_at(step), x, univ.HOOK), final_b, debiased=True) for step in a.steps]
    assert list(steps) == [float(s) for s in a.steps] and len(a.steps) >= 3
    np.testing.assert_allclose(measured, expected, rtol=0, atol=1e-9)
    assert measured[-2] < measured[-1] - 0.01 and predicted.shape == measured.shape  # the curve still rises: a wrong checkpoint of b shows


@pytest.mark.parametrize("threshold", [math.nan, -1.0, 0.0, 1.5, "0.9", True])
def test_a_threshold_outside_its_meaning_is_refused_by_name_before_a_run_is_read(threshold, tmp_path):
    """NaN failed every pair and −1 passed every pair whatever was measured."""
    with pytest.raises(ValueError, match=r"^threshold must be a number in \(0, 1\] \(the smallest debiased CKA"):
        univ.universality({0: tmp_path / "a", 1: tmp_path / "b"}, threshold=threshold)


@pytest.mark.parametrize("tolerance", [math.nan, -1.0, 1.0, 2.0, "0.1"])
def test_a_tracking_tolerance_outside_its_meaning_is_refused_by_name_before_a_run_is_read(tolerance, tmp_path):
    with pytest.raises(ValueError, match=r"^tolerance must be a number in \[0, 1\) \(the largest CKA gap"):
        univ.differentiation_tracking({0: tmp_path / "a", 1: tmp_path / "b"}, tolerance=tolerance)


def _stored(monkeypatch, ckas):
    """Two-width runs whose pairs have the debiased CKAs ``ckas`` (the first pair the weakest)."""
    import pandas as pd

    import bridge.runs.run as run_module
    import bridge.training.compare as compare_module

    run = types.SimpleNamespace(steps=[0, 100], config=types.SimpleNamespace(model=types.SimpleNamespace(d_hidden=8)), task_data=lambda: types.SimpleNamespace(train=types.SimpleNamespace(x=None)))
    monkeypatch.setattr(run_module, "load_run", lambda path: run)
    table = pd.DataFrame({"run_a": ["a", "a", "b"], "run_b": ["b", "c", "c"], "cka_debiased": ckas})
    monkeypatch.setattr(compare_module, "compare", lambda runs, hook, x, steps: table)


@pytest.mark.parametrize(("ckas", "passes", "reason"), [([0.97, 0.99, 1.0 + 1e-12], True, ""), ([0.97, 0.99, 1.0 + 1e-6], False, "a debiased CKA outside [−1, 1]: [1.000001]"),
                                                         ([0.97, 1.5, 1.2], False, "a debiased CKA outside [−1, 1]: [1.5, 1.2]")])
def test_a_debiased_cka_above_1_beyond_rounding_fails_the_universality_row_with_a_reason(monkeypatch, ckas, passes, reason):
    _stored(monkeypatch, ckas)
    row = univ.universality({"a": "a", "b": "b", "c": "c"})
    assert row.value == pytest.approx(0.97, abs=1e-12) and row.passed is passes and row.reason == reason


@pytest.mark.parametrize(("curve", "values", "message"), [("accuracy/test", [1.0], "accuracy/test has 1 sample; whether it grokked needs at least 2"),
                                                          ("accuracy/train", [0.5, 1.5], r"accuracy/train has accuracies outside \[0, 1\]: \[1.5\]"),
                                                          ("accuracy/test", [-0.1, 1.0], r"accuracy/test has accuracies outside \[0, 1\]: \[-0.1\]")])
def test_grokked_refuses_a_short_or_out_of_range_accuracy_curve_naming_the_run_and_the_curve(curve, values, message):
    """A curve of one sample raised a bare 'need at least 2 samples to detect an event'; an accuracy of 1.5 crossed the thresholds."""
    steps = np.arange(0.0, 1001.0, 100.0)
    accuracy = {"accuracy/train": np.minimum(1.0, steps / 200), "accuracy/test": (steps >= 700).astype(float)}
    accuracy[curve] = np.asarray(values)
    run = types.SimpleNamespace(curve=lambda name: (steps[: len(accuracy[name])], accuracy[name]))
    with pytest.raises(ValueError, match=rf"^seed 4: {message}"):
        univ.grokked(run, Targets(), label="seed 4")


def test_universality_json_is_standard_json_when_a_cka_is_not_a_number(monkeypatch, tmp_path):
    """The row's NaN value was written as the token ``NaN``, which jq and JavaScript refuse."""
    import json

    import case_studies.generality.seeds as seeds_module
    from bridge.match import check

    monkeypatch.setattr(seeds_module, "run_seeds", lambda *args, **kwargs: types.SimpleNamespace(verdict="fail"))
    monkeypatch.setattr(univ, "universality", lambda outs: check("universality", math.nan, ">= 0.9", False, reason="CKA not a number"))
    (tmp_path / "widths").mkdir()  # run_seeds makes it
    univ.run_widths(tmp_path / "widths", seeds=[0, 1], factors=(1.0,))

    def refuse(token):
        raise ValueError(f"universality.json holds {token}")

    saved = json.loads((tmp_path / "widths" / "universality.json").read_text(), parse_constant=refuse)
    assert saved["universality"]["value"] is None and saved["universality"]["passed"] is False and list(saved["widths"].values()) == ["fail"]


def test_the_predicted_trajectory_names_a_depth_2_model_that_is_not_a_deep_linear_network():
    """A depth-2 config whose model is another module (a plugin's) is refused naming its type, not an AttributeError on ``weights``."""
    run = types.SimpleNamespace(config=types.SimpleNamespace(model=types.SimpleNamespace(depth=2)), task_data=lambda: None, model_at=lambda step: torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="DeepLinearNetwork's two weights, got a Linear"):
        univ._predicted(run, np.array([0.0, 100.0]))
