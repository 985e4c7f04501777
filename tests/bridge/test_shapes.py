"""Shape annotations are checked: jaxtyping + beartype on the public array functions."""

import numpy as np
import pytest
import torch
from beartype import beartype
from jaxtyping import TypeCheckError, jaxtyped

from bridge.stages.detectors import half_rise
from bridge.theory.saxe import effective_initial_strength
from bridge.trackers.modes import mode_alignment, mode_strengths
from probes.differentiation import between_category_variance


def checked(fn):
    return jaxtyped(typechecker=beartype)(fn)


def test_mode_functions_accept_consistent_shapes_and_reject_others():
    u, v, w = torch.eye(3)[:, :2], torch.eye(4)[:, :2], torch.randn(3, 4)
    assert checked(mode_strengths)(w, u, v).shape == (2,)
    assert checked(mode_alignment)(w, u, v).shape == (2,)
    with pytest.raises(TypeCheckError):
        checked(mode_strengths)(w.T, u, v)  # d_in and d_out swapped
    with pytest.raises(TypeCheckError):
        checked(mode_strengths)(w, u, torch.eye(4)[:, :3])  # mode counts differ


def test_saxe_initial_strength_shapes():
    w1, w2 = torch.randn(8, 4), torch.randn(3, 8)
    assert checked(effective_initial_strength)(w1, w2, torch.eye(3)[:, :2], torch.eye(4)[:, :2]).shape == (2,)
    with pytest.raises(TypeCheckError):
        checked(effective_initial_strength)(w1, torch.randn(3, 7), torch.eye(3)[:, :2], torch.eye(4)[:, :2])


def test_numpy_annotations():
    assert checked(between_category_variance)(np.ones((4, 2)), np.array([0, 0, 1, 1]), np.zeros(4, dtype=np.int64))[0] == 0.0
    assert checked(half_rise)(np.arange(4.0), np.array([0.0, 0.1, 0.9, 1.0])).step == pytest.approx(1.5)
    with pytest.raises(TypeCheckError):
        checked(half_rise)(np.arange(4.0), np.ones((4, 1)))
