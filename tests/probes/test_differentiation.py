"""Representational differentiation: analytic chance value, the shuffled-label control, a real run."""

import numpy as np
import pytest
import torch

from bridge import RunConfig, ScheduleConfig, TrainConfig, train
from bridge.models import DeepLinearConfig
from bridge.tasks import HierarchyConfig, haar_modes, level_labels, make_task
from bridge.trackers import DifferentiationTracker
from probes import Differentiation, LinearProbe, between_category_variance


def test_chance_value_equals_permutation_average():
    rng = np.random.default_rng(0)
    labels = level_labels(3, 2)
    h = rng.normal(size=(8, 5)) + np.repeat(rng.normal(size=(2, 5)) * 3, 4, axis=0)
    for k in (1, 2):
        _, chance = between_category_variance(h, labels[k], labels[k - 1])
        values = []
        for _ in range(4000):
            perm = np.concatenate([rng.permutation(np.flatnonzero(labels[k - 1] == p)) for p in np.unique(labels[k - 1])])
            order = np.empty(8, int)
            order[np.concatenate([np.flatnonzero(labels[k - 1] == p) for p in np.unique(labels[k - 1])])] = perm
            values.append(between_category_variance(h[order], labels[k], labels[k - 1])[0])
        assert np.mean(values) == pytest.approx(chance, rel=0.03)


def test_between_variance_collects_exactly_the_level_contrasts():
    depth = 3
    v, level = haar_modes(depth, 2)
    rng = np.random.default_rng(1)
    coeff = rng.normal(size=(len(level), 4))
    h = v @ coeff  # item representation = Σ modes v_α c_αᵀ
    fit = Differentiation().fit(h, level_labels(depth, 2))
    for k in range(1, depth + 1):
        assert fit.between_[k] == pytest.approx((coeff[level == k] ** 2).sum() / 8, rel=1e-10)


def test_haar_modes_are_the_singular_vectors_of_the_hierarchy():
    data = make_task(HierarchyConfig(depth=3), seed=0)
    s = data.info["S"].numpy()
    assert np.allclose(np.linalg.svd(data.info["teacher"].numpy(), compute_uv=False), np.sort(s)[::-1], atol=1e-6)
    # level k (k >= 1) of a depth-D binary tree: s² = (2^(D-k+1) - 1) / items
    for k in (1, 2, 3):
        assert s[np.array(data.info["mode_level"]) == k] == pytest.approx(np.sqrt((2 ** (3 - k + 1) - 1) / 8), rel=1e-6)


def _train(tmp_path, shuffle):
    cfg = RunConfig(
        HierarchyConfig(depth=4, shuffle_labels=shuffle),
        DeepLinearConfig(16, 128, 31, init_std=0.005),
        TrainConfig(lr=0.05, steps=500, schedule=ScheduleConfig(n_log=0, every=500, track_every=50)),
        seed=2,
    )
    run = train(cfg, tmp_path / ("shuffled" if shuffle else "real"), trackers=[DifferentiationTracker()], progress=False)
    return {k: run.observable("differentiation/ratio", level=k).to_numpy() for k in (1, 2, 3)}


def test_differentiation_rises_on_hierarchy_and_stays_at_chance_on_shuffled_control(tmp_path):
    real, control = _train(tmp_path, False), _train(tmp_path, True)
    for k in (1, 2, 3):
        assert abs(real[k][0] - 1) < 0.25 and abs(control[k][0] - 1) < 0.25
        assert real[k][-1] > 1.3
        assert abs(control[k][-1] - 1) < 0.35, (k, control[k][-1])


def test_linear_probe_contract():
    x = np.r_[np.random.default_rng(0).normal(size=(20, 3)) + 2, np.random.default_rng(1).normal(size=(20, 3)) - 2]
    y = np.r_[np.ones(20), np.zeros(20)]
    probe = LinearProbe(alpha=1.0)
    assert probe.fit(x, y) is probe and hasattr(probe, "estimator_")
    assert probe.score(x, y) == 1.0
    with pytest.raises(ValueError, match="activations"):
        probe.fit(x[:5], y)
    reg = LinearProbe(task="regression", alpha=1e-6).fit(x, x @ np.array([1.0, -2.0, 0.5]))
    assert reg.score(x, x @ np.array([1.0, -2.0, 0.5])) == pytest.approx(1.0, abs=1e-8)
    _ = torch  # probes work on numpy arrays of cached activations


def test_all_levels_at_once_equal_the_level_by_level_computation():
    rng = np.random.default_rng(3)
    for depth, branching in [(3, 2), (2, 3), (4, 2), (8, 2)]:  # 256 items too
        levels = level_labels(depth, branching)
        h = rng.normal(size=(branching**depth, 7))
        fast = Differentiation().fit(h, levels)
        for k in range(1, depth + 1):
            between, chance = between_category_variance(h, levels[k], levels[k - 1])
            assert fast.between_[k] == pytest.approx(between, rel=1e-10, abs=1e-12)
            assert fast.chance_[k] == pytest.approx(chance, rel=1e-10, abs=1e-12)


def test_a_stack_of_representations_equals_one_fit_each():
    rng = np.random.default_rng(5)
    nested = level_labels(3, 2)
    crossed = np.array([np.zeros(8, int), [0, 0, 0, 0, 1, 1, 1, 1], [0, 1, 0, 1, 0, 1, 0, 1]])  # level 2 crosses level 1
    for levels in (nested, crossed):
        h = rng.normal(size=(3, levels.shape[1], 5))
        stacked = Differentiation().fit(h, levels)
        assert stacked.between_.shape == (3, len(levels))
        for i in range(3):
            one = Differentiation().fit(h[i], levels)
            np.testing.assert_allclose(stacked.between_[i], one.between_, rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(stacked.chance_[i], one.chance_, rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(stacked.ratio_[i], one.ratio_, rtol=1e-12, atol=1e-14)
    with pytest.raises(ValueError, match="8 items"):
        Differentiation().fit(rng.normal(size=(7, 5)), nested)


def test_a_map_gets_the_same_bits_alone_and_in_a_stack_of_any_size():
    """Batched trackers write the rows of a checkpoint from stacks whose size depends on the schedule
    (and on when rows are written): a stack must not move a value even in its last bit."""
    h = np.random.default_rng(6).normal(size=(17, 8, 16)).astype(np.float32)
    levels = level_labels(3, 2)
    alone = [Differentiation().fit(h[i], levels) for i in range(17)]
    for size in (2, 5, 17):
        stacked = Differentiation().fit(h[:size], levels)
        for i in range(size):
            assert stacked.between_[i].tolist() == alone[i].between_.tolist()
            assert stacked.chance_[i].tolist() == alone[i].chance_.tolist()


def test_labels_numbered_within_their_parent_give_the_same_contrasts_as_global_labels():
    h = np.random.default_rng(0).normal(size=(4, 3))
    global_labels = np.array([[0, 0, 0, 0], [0, 0, 1, 1], [0, 1, 2, 3]])
    local_labels = np.array([[0, 0, 0, 0], [0, 0, 1, 1], [0, 1, 0, 1]])
    a, b = Differentiation().fit(h, global_labels), Differentiation().fit(h, local_labels)
    assert a.contrasts_.tolist() == b.contrasts_.tolist() == [0, 1, 2]
    np.testing.assert_allclose(b.between_, a.between_, rtol=1e-12)
    np.testing.assert_allclose(b.ratio_sd_[1:], a.ratio_sd_[1:], rtol=1e-12)


def test_ratio_sd_is_the_spread_of_the_ratio_over_random_representations_where_parents_are_large():
    # 64 items, d = 4: levels 1..3 have parents of 64, 32 and 16 items, where the chance value is nearly exact.
    levels = level_labels(6, 2)
    h = np.random.default_rng(0).normal(size=(1500, 64, 4))
    fit = Differentiation().fit(h, levels)
    np.testing.assert_allclose(fit.ratio_sd_[1:], np.sqrt(2.0 / (4 * fit.contrasts_[1:])), rtol=1e-12)
    np.testing.assert_allclose(fit.ratio_[:, 1:4].mean(0), 1.0, atol=0.05)
    np.testing.assert_allclose(fit.ratio_[:, 1:4].std(0), fit.ratio_sd_[1:4], rtol=0.1)


def test_refitting_with_other_labels_measures_the_new_hierarchy():
    rng = np.random.default_rng(2)
    h = rng.normal(size=(8, 3))
    binary, crossed = level_labels(3, 2), np.array([np.zeros(8, int), [0, 1] * 4, [0, 1, 2, 3] * 2])
    probe = Differentiation().fit(h, binary)
    for levels in (crossed, level_labels(1, 8), binary):
        probe.fit(h, levels)
        fresh = Differentiation().fit(h, levels)
        assert probe.contrasts_.tolist() == fresh.contrasts_.tolist()
        np.testing.assert_allclose(probe.between_, fresh.between_, rtol=1e-12)
        np.testing.assert_allclose(probe.chance_, fresh.chance_, rtol=1e-12)


def test_between_category_variance_refuses_labels_of_another_length():
    with pytest.raises(ValueError, match=r"labels and parents must have one entry per item \(4\)"):
        between_category_variance(np.zeros((4, 2)), np.array([0, 0, 1]), np.zeros(4, int))
    with pytest.raises(ValueError, match=r"one entry per item \(4\)"):
        between_category_variance(np.zeros((4, 2)), np.array([0, 0, 1, 1]), np.zeros(5, int))


def test_a_labelling_changed_in_place_is_measured_as_changed_and_a_fit_s_contrasts_are_its_own():
    """A labelling's structure is shared by every fit of it in a process: a labelling edited in place
    between fits is a new one, and changing a fit's ``contrasts_`` changes no later fit."""
    h = np.random.default_rng(4).normal(size=(8, 3))
    levels = level_labels(3, 2)
    first = Differentiation().fit(h, levels)
    first.contrasts_[:] = 99
    assert Differentiation().fit(h, levels).contrasts_.tolist() == [0, 1, 2, 4]
    levels[2] = [0, 1, 0, 1, 0, 1, 0, 1]  # now crossed with level 1
    changed = Differentiation().fit(h, levels)
    assert changed.contrasts_.tolist() == [0, 1, 2, 6]  # the leaves: 8 items in 2 parents
    for k in (1, 2):
        between, chance = between_category_variance(h, levels[k], levels[k - 1])
        assert changed.between_[k] == pytest.approx(between, rel=1e-12)
        assert changed.chance_[k] == pytest.approx(chance, rel=1e-12)
