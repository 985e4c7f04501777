"""Feature geometry of the superposition toy model against arrangements whose angles and norms are known."""

import math

import pytest
import torch

from probes.feature_geometry import feature_norms, n2m1_phase, polygon, represented


def _at(degrees, norms=None):
    """``(2, n)`` feature directions at the given angles (degrees), of the given norms (default 1)."""
    a = torch.tensor(degrees, dtype=torch.float64) * math.pi / 180
    r = torch.ones_like(a) if norms is None else torch.tensor(norms, dtype=torch.float64)
    return torch.stack([r * a.cos(), r * a.sin()])


def test_an_irregular_triangle_reports_its_gaps_their_largest_error_and_its_norm_spread():
    p = polygon(_at([100.0, -20.0, 190.0], norms=[0.8, 2.0, 1.5]))
    assert p.k == 3
    assert p.angles == pytest.approx((100.0, 190.0, 340.0))
    assert p.gaps == pytest.approx((90.0, 150.0, 120.0))
    assert p.max_gap_error == pytest.approx(30.0)  # |90 − 120|, the largest (the mean would be 20)
    assert p.norm_spread == pytest.approx(1.5)  # 2 / 0.8 − 1
    assert not p.is_regular(3) and p.is_regular(3, angle_tol=30.01, norm_tol=1.51)


def test_a_feature_exactly_at_the_threshold_is_not_represented():
    W = torch.tensor([[0.5, 0.3, 0.0], [0.0, 0.4, 0.6]])  # norms 0.5, 0.5, 0.6
    assert feature_norms(W).tolist() == pytest.approx([0.5, 0.5, 0.6])
    assert represented(W, threshold=0.5).tolist() == [False, False, True]
    assert polygon(W, threshold=0.5).k == 1


def test_no_represented_feature_is_an_empty_polygon_and_phases_need_a_one_by_two_matrix():
    empty = polygon(torch.zeros(2, 3))
    assert (empty.k, empty.angles, empty.max_gap_error) == (0, (), math.inf)
    assert n2m1_phase(torch.tensor([1.0, -1.0])) == "superposition"
    with pytest.raises(ValueError, match=r"n2m1_phase needs W of shape \(1, 2\), got \(2, 1\)"):
        n2m1_phase(torch.tensor([[1.0], [-1.0]]))


def test_a_direction_a_hair_below_the_axis_is_at_angle_zero_not_360():
    p = polygon(torch.tensor([[1.0, 0.0, -1.0, 0.0], [-1e-20, 1.0, 0.0, -1.0]]))  # arctan2 gives −6e−19°, which % 360 rounds to 360
    assert p.angles == (0.0, 90.0, 180.0, 270.0)
    assert p.gaps == (90.0, 90.0, 90.0, 90.0) and p.is_regular(4, angle_tol=1e-9, norm_tol=1e-6)


def test_a_polygon_refuses_weights_that_are_not_a_2_by_n_matrix():
    # A (2, 3, 1) stack of weights used to come out as a polygon of no represented feature.
    with pytest.raises(ValueError, match=r"polygon needs W of shape \(2, n\).*got W of shape \(2, 3, 1\)"):
        polygon(torch.ones(2, 3, 1))
    with pytest.raises(ValueError, match=r"got W of shape \(2,\)"):
        polygon(torch.tensor([1.0, 0.0]))
    with pytest.raises(ValueError, match=r"got W of shape \(3, 4\)"):
        polygon(torch.ones(3, 4))


def test_a_square_of_uneven_norms_is_not_a_regular_square():
    p = polygon(_at([0.0, 90.0, 180.0, 270.0], norms=[1.0, 1.0, 1.0, 1.5]))
    assert p.max_gap_error == pytest.approx(0.0, abs=1e-9) and p.norm_spread == pytest.approx(0.5)
    assert not p.is_regular(4) and p.is_regular(4, norm_tol=0.5 + 1e-9)
