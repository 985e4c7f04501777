"""Edge-of-stability quantities against PyTorch's own SGD (heavy-ball momentum) on ``½ λ x²``, in float64."""

import numpy as np
import pytest
import torch

from bridge.theory import eos


def _torch_sgd(curvature, lr, steps, x0=1.0, momentum=0.0):
    x = torch.tensor([x0], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([x], lr=lr, momentum=momentum)
    out = [x0]
    for _ in range(steps):
        opt.zero_grad()
        (0.5 * curvature * x**2).sum().backward()
        opt.step()
        out.append(float(x.detach()[0]))
    return np.array(out)


@pytest.mark.parametrize("curvature,lr,momentum", [(3.0, 0.5, 0.0), (19.0, 0.1, 0.0), (30.0, 0.1, 0.6), (5.0, 0.05, 0.9)])
def test_the_quadratic_model_is_pytorchs_sgd_step_for_step(curvature, lr, momentum):
    ours, theirs = eos.gd_on_quadratic(curvature, lr, 60, momentum=momentum), _torch_sgd(curvature, lr, 60, momentum=momentum)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-300)
    if momentum == 0:  # the per-step factor along the curvature direction
        np.testing.assert_allclose(theirs[1:] / theirs[:-1], eos.oscillation_multiplier(lr, curvature), rtol=1e-12)


@pytest.mark.parametrize("lr,momentum", [(0.1, 0.0), (0.02, 0.5), (0.3, 0.9)])
def test_pytorchs_sgd_converges_just_below_the_threshold_and_diverges_just_above(lr, momentum):
    edge = eos.stability_threshold(lr, momentum)
    # at λ = edge·(1 ∓ 2 %) the largest root of z² − (1 + β − ηλ) z + β leaves the unit circle by at least ~1 %
    # (inward below, outward above): 3000 steps take |x| far below 1e-6 or far above 1e6
    below = _torch_sgd(edge * 0.98, lr, 3000, momentum=momentum)
    above = _torch_sgd(edge * 1.02, lr, 3000, momentum=momentum)
    assert np.abs(below[-100:]).max() < 1e-6
    assert np.abs(above[-100:]).max() > 1e6
