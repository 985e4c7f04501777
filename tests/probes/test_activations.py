"""Activations of any nn.Module by submodule name, equal to the forward pass computed by hand."""

import pytest
import torch
from torch import nn

from probes.activations import cached_activation


def test_a_plain_module_gives_its_submodule_output_by_name_and_keeps_no_hook():
    g = torch.Generator().manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 2))
    net.train()
    x = torch.randn(11, 5, generator=g)
    got = cached_activation(net, x, "1")
    torch.testing.assert_close(got, torch.relu(x @ net[0].weight.T + net[0].bias), rtol=1e-6, atol=1e-6)
    assert net.training and not any(m._forward_hooks for m in net.modules())  # mode and hooks restored
    with pytest.raises(KeyError, match="neither a hook point nor a submodule name"):
        cached_activation(net, x, "hidden")
    with pytest.raises(KeyError, match="neither a hook point nor a submodule name"):
        cached_activation(net, x, "")  # the empty name is the model itself, not a hook point
