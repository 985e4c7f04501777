"""The Walsh tracker's evaluation of a model on the whole cube: any chunk size reads every point, in float64."""

import pytest
import torch

from bridge.tasks.boolean_cube import cube_points, walsh_coefficients
from bridge.trackers.walsh import learned_coefficients

torch.set_num_threads(1)


def _net() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))


@pytest.mark.parametrize("chunk_size", [1, 3, 7, 8, 4096])
def test_learned_coefficients_read_every_cube_point_whatever_the_chunk_size(chunk_size):
    net = _net().double()  # float64: a float32 forward rounds differently by batch size
    with torch.no_grad():
        reference = walsh_coefficients(net(cube_points(3).double())[:, 0])
    torch.testing.assert_close(learned_coefficients(net, 3, chunk_size=chunk_size), reference, rtol=0, atol=1e-12)


def test_learned_coefficients_of_a_float32_model_are_transformed_in_float64():
    """The transform of float32 outputs in float64 is exact to rounding of 1e-16; in float32 it would be off by ~1e-8."""
    net = _net()
    coef = learned_coefficients(net, 3)
    with torch.no_grad():
        values = net(cube_points(3))[:, 0]
    assert values.dtype == torch.float32 and coef.dtype == torch.float64
    exact = [sum(float(v) * float(torch.prod(x[[j for j in range(3) if m >> j & 1]])) for v, x in zip(values, cube_points(3).double())) / 8 for m in range(8)]
    torch.testing.assert_close(coef, torch.tensor(exact, dtype=torch.float64), rtol=0, atol=1e-15)


def test_a_task_without_the_cubes_dimension_or_masks_is_refused_naming_what_is_needed():
    from bridge.tasks.base import Split, TaskData
    from bridge.trackers.walsh import WalshTracker, target_coefficients

    split = Split(torch.ones(2, 3), torch.ones(2, 1))
    for info in ({"masks": (1,), "coefficients": (1.0,)}, {"d": 3, "coefficients": (1.0,)}):
        with pytest.raises(ValueError, match=r"WalshTracker needs a Boolean-cube task \(its info has 'd' and 'masks'\)"):
            target_coefficients(TaskData(split, None, "mse", info))
        with pytest.raises(ValueError, match="needs a Boolean-cube task"):
            WalshTracker()(_net(), 0, TaskData(split, None, "mse", info))
