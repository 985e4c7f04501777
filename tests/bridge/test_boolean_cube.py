"""Boolean-cube task: the fast Walsh–Hadamard transform against the dense matrix, exact coefficient recovery."""

import dataclasses
import re
from math import comb

import numpy as np
import pytest
import torch

from bridge.config import ConfigError, config_from_dict, config_to_dict
from bridge.tasks import BooleanCubeConfig, make_task
from bridge.tasks.boolean_cube import cube_points, degree_power, mask_degrees, subset_mask, walsh_coefficients, walsh_function, walsh_target


def dense_walsh_matrix(d):
    """H[S, x] = χ_S(x) built point by point from the definition."""
    x = cube_points(d).double()
    subsets = [[j for j in range(d) if m >> j & 1] for m in range(2**d)]
    return torch.stack([walsh_function(x, s) for s in subsets])


@pytest.mark.parametrize("d", [1, 3, 6])
def test_fast_transform_equals_the_dense_hadamard_product(d):
    values = torch.randn(4, 2, 2**d, generator=torch.Generator().manual_seed(d), dtype=torch.float64)
    dense = values @ dense_walsh_matrix(d).T / 2**d
    torch.testing.assert_close(walsh_coefficients(values), dense, rtol=1e-12, atol=1e-12)
    h = dense_walsh_matrix(d)
    torch.testing.assert_close(h @ h.T, 2**d * torch.eye(2**d, dtype=torch.float64))  # orthogonal basis


def test_task_target_coefficients_are_recovered_exactly():
    subsets = ((), (3,), (0, 5), (1, 2, 7), (0, 4, 6, 8, 9))
    coefficients = (0.3, 1.0, -0.7, 0.5, 0.25)
    data = make_task(BooleanCubeConfig(d=10, subsets=subsets, coefficients=coefficients, n_train=100, test="cube"), seed=0)
    coef = walsh_coefficients(data.info["cube_target"])
    expected = torch.zeros(2**10, dtype=torch.float64)
    for s, c in zip(subsets, coefficients):
        expected[subset_mask(s)] = c
    torch.testing.assert_close(coef, expected, rtol=0, atol=1e-12)
    # the float32 test split covers the cube in order: its coefficients too
    torch.testing.assert_close(walsh_coefficients(data.test.y[:, 0].double()), expected, rtol=0, atol=1e-6)
    power = degree_power(coef)
    torch.testing.assert_close(power, torch.tensor([0.09, 1.0, 0.49, 0.25, 0, 0.0625, 0, 0, 0, 0, 0], dtype=torch.float64))
    assert data.info["degrees"] == (0, 1, 2, 3, 5)


def test_degrees_draw_distinct_subsets_by_seed_and_the_split_is_a_partition():
    cfg = BooleanCubeConfig(d=8, degrees=(1, 2, 2, 3), coefficients=(1.0, 0.5, 0.5, 0.25), n_train=60)
    a, b, c = make_task(cfg, seed=1), make_task(cfg, seed=1), make_task(cfg, seed=2)
    assert a.info["subsets"] == b.info["subsets"] and torch.equal(a.train.x, b.train.x)
    assert a.info["subsets"] != c.info["subsets"] or not torch.equal(a.info["train_index"], c.info["train_index"])
    assert [len(s) for s in a.info["subsets"]] == [1, 2, 2, 3] and len(set(a.info["subsets"])) == 4
    coef = walsh_coefficients(a.info["cube_target"])
    assert set(torch.nonzero(coef.abs() > 1e-12).flatten().tolist()) == set(a.info["masks"])
    train, test = a.info["train_index"], a.info["test_index"]
    assert len(train) == 60 and len(test) == 2**8 - 60
    assert sorted(torch.cat([train, test]).tolist()) == list(range(2**8))
    torch.testing.assert_close(a.train.y[:, 0].double(), a.info["cube_target"][train].float().double())
    # mask degrees count binomially
    assert np.bincount(mask_degrees(8).numpy()).tolist() == [comb(8, k) for k in range(9)]
    assert config_from_dict(config_to_dict(cfg)) == cfg


def test_another_draw_of_a_seed_changes_only_the_training_set():
    cfg = BooleanCubeConfig(d=8, degrees=(1, 2, 3), coefficients=(1.0, 1.0, 1.0), n_train=60)
    own, again, other = make_task(cfg, seed=3), make_task(dataclasses.replace(cfg, draw=0), seed=3), make_task(dataclasses.replace(cfg, draw=1), seed=3)
    assert torch.equal(own.info["train_index"], again.info["train_index"])
    assert other.info["subsets"] == own.info["subsets"] and torch.equal(other.info["cube_target"], own.info["cube_target"])
    shared = len(set(own.info["train_index"].tolist()) & set(other.info["train_index"].tolist()))
    assert len(other.info["train_index"]) == 60 and shared < 30  # about 60²/256 ≈ 14 points in common by chance
    assert not torch.equal(make_task(dataclasses.replace(cfg, draw=2), seed=3).info["train_index"], other.info["train_index"])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"d": 13, "degrees": (1,), "coefficients": (1.0,)}, "d must be"),
        ({"d": 4, "coefficients": (1.0,)}, "exactly one of"),
        ({"d": 4, "subsets": ((0,),), "degrees": (1,), "coefficients": (1.0,)}, "exactly one of"),
        ({"d": 4, "degrees": (1, 2), "coefficients": (1.0,)}, "coefficients"),
        ({"d": 4, "subsets": ((0, 4),), "coefficients": (1.0,)}, "distinct indices"),
        ({"d": 4, "subsets": ((0, 1), (1, 0)), "coefficients": (1.0, 1.0)}, "distinct"),
        ({"d": 4, "degrees": (4, 4), "coefficients": (1.0, 1.0)}, "degree 4"),
        ({"d": 4, "degrees": (1,), "coefficients": (1.0,), "n_train": 16}, "n_train"),
        ({"d": 4, "degrees": (1,), "coefficients": (1.0,), "test": "half"}, "test"),
        ({"d": 4, "degrees": (1,), "coefficients": (1.0,), "draw": -1}, "draw"),
    ],
)
def test_config_errors(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        BooleanCubeConfig(**kwargs)


def test_walsh_target_needs_one_coefficient_per_subset():
    x = cube_points(2)
    with pytest.raises(ValueError, match="coefficients has 1 entries for 2 subsets"):
        walsh_target(x, ((0,), (1,)), (1.0,))
    with pytest.raises(ValueError, match="coefficients has 2 entries for 1 subsets"):
        walsh_target(x, ((0,),), (1.0, 0.5))
    assert walsh_target(x, ((0,), (0, 1)), torch.tensor([1.0, 0.5])).tolist() == [1.5, -1.5, 0.5, -0.5]


@pytest.mark.parametrize("n", [0, 3, 6])
def test_degree_power_refuses_a_length_that_is_not_a_power_of_two(n):
    with pytest.raises(ValueError, match=rf"last dimension must be 2\^d, got {n}"):
        degree_power(torch.ones(2, n))
    assert degree_power(torch.ones(2, 8)).tolist() == [[1.0, 3.0, 3.0, 1.0]] * 2


@pytest.mark.parametrize(("d", "degrees"), [(2, (1, 1)), (3, (2, 2, 2)), (4, (1, 1, 1, 1))])
def test_degrees_that_exhaust_a_level_draw_each_subset_of_it_once_for_every_seed(d, degrees):
    """As many degree-k entries as there are k-subsets of {0, …, d−1}: every seed draws each of them exactly once."""
    from itertools import combinations

    everything = sorted(combinations(range(d), degrees[0]))
    for seed in range(8):
        info = make_task(BooleanCubeConfig(d=d, degrees=degrees, coefficients=(1.0,) * len(degrees), n_train=2), seed=seed).info
        assert sorted(info["subsets"]) == everything
        assert len(set(info["masks"])) == len(degrees)


def test_walsh_fraction_rows_skip_a_term_with_a_zero_coefficient():
    """f* = x₀ + 0·x₁ and f = 0.5 x₀ + x₁: one fraction row, term 0 at 0.5; the x₁ power shows up as degree-1 residual 0.25 + 1."""
    from bridge.trackers.walsh import WalshTracker

    data = make_task(BooleanCubeConfig(d=2, subsets=((0,), (1,)), coefficients=(1.0, 0.0), n_train=2), seed=0)
    net = torch.nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        net.weight.copy_(torch.tensor([[0.5, 1.0]]))
    rows = WalshTracker()(net, 0, data)
    assert [(r["term"], r["value"]) for r in rows if r["observable"] == "walsh/fraction"] == [(0, pytest.approx(0.5, abs=1e-7))]
    assert [r["value"] for r in rows if r["observable"] == "walsh/residual"] == pytest.approx([0.0, 1.25, 0.0], abs=1e-7)


def test_walsh_rows_of_a_model_with_a_constant_and_a_negative_term_equal_a_sum_over_the_whole_cube():
    """f* = −x₀x₂ + 0.5 and f = −0.5 x₀x₂ + 0.8 + 0.3 x₁ on {±1}³: every row against a brute-force sum over the 8 points."""
    from bridge.trackers.walsh import WalshTracker

    data = make_task(BooleanCubeConfig(d=3, subsets=((0, 2), ()), coefficients=(-1.0, 0.5), n_train=4), seed=0)

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = torch.nn.Parameter(torch.tensor(1.0, dtype=torch.float64))  # the cube is evaluated in float64

        def forward(self, x):
            return (-0.5 * x[:, 0] * x[:, 2] + 0.8 + 0.3 * x[:, 1])[:, None] * self.scale

    x = cube_points(3).double()
    f = -0.5 * x[:, 0] * x[:, 2] + 0.8 + 0.3 * x[:, 1]
    target = -x[:, 0] * x[:, 2] + 0.5
    rows = WalshTracker()(Model(), 0, data)
    value = {(r["observable"], r.get("term", r.get("degree"))): r["value"] for r in rows}
    assert value[("walsh/fraction", 0)] == pytest.approx(0.5, abs=1e-12)  # −0.5 / −1: half of the term learned, sign included
    assert value[("walsh/fraction", 1)] == pytest.approx(1.6, abs=1e-12)  # 0.8 / 0.5
    assert value[("walsh/cube_mse", None)] == pytest.approx(float(((f - target) ** 2).mean()), abs=1e-12)  # 0.09 + 0.09 + 0.25
    assert [value[("walsh/residual", k)] for k in range(4)] == pytest.approx([0.09, 0.09, 0.25, 0.0], abs=1e-12)
    assert [value[("walsh/power", k)] for k in range(4)] == pytest.approx([0.64, 0.09, 0.25, 0.0], abs=1e-12)


@pytest.mark.parametrize("shape", [(), (4,), (3, 3), (4, 8), (8, 4), (4, 4, 1)])
def test_degree_eigenvalues_refuse_anything_but_a_square_kernel_over_the_whole_cube(shape):
    """A (4, 8) kernel has a power-of-two last dimension, and a 0-d one no first: each is refused naming its shape."""
    from bridge.tasks.boolean_cube import degree_eigenvalues

    with pytest.raises(ValueError, match=re.escape(f"kernel must be (2^d, 2^d) over the whole cube, got shape {shape}")):
        degree_eigenvalues(np.ones(shape))


def test_config_refuses_more_coefficients_than_walsh_functions():
    with pytest.raises(ConfigError, match=re.escape("boolean_cube.subsets=((0,),) gives 1 Walsh functions but coefficients=(1.0, 2.0) has 2 entries")):
        BooleanCubeConfig(d=3, subsets=((0,),), coefficients=(1.0, 2.0), n_train=4)
    with pytest.raises(ConfigError, match=re.escape("boolean_cube.degrees=(1, 2) gives 2 Walsh functions but coefficients=(1.0,) has 1 entries")):
        BooleanCubeConfig(d=3, degrees=(1, 2), coefficients=(1.0,), n_train=4)
