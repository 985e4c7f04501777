"""Universality rows at their edges: grokking judged at the very step it memorises, the predicted trajectory refused
beyond depth 2, and the measured curve read against the other run's last checkpoint."""

import dataclasses
import types

import numpy as np
import pytest

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
