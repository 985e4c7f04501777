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


def test_per_head_hook_points_of_a_transformer_come_with_their_head_axis_as_run_with_cache_gives_them():
    from bridge.models import TransformerConfig, build_model

    model = build_model(TransformerConfig(d_vocab=8, n_ctx=6, d_model=16, n_heads=2, d_head=8, n_layers=2, d_mlp=None), seed=0)
    tokens = torch.tensor([[1, 2, 3, 1, 2, 3]])
    _, cache = model.run_with_cache(tokens)
    for hook in ("blocks.0.attn.hook_z", "blocks.1.attn.hook_q", "blocks.1.attn.hook_v", "blocks.0.hook_resid_post"):
        got = cached_activation(model, tokens, hook)
        assert got.shape == cache[hook].shape, hook
        torch.testing.assert_close(got, cache[hook])
    assert cached_activation(model, tokens, "blocks.0.attn.hook_z").shape == (1, 6, 2, 8)


def test_a_hook_anywhere_in_the_module_tree_sends_cached_activation_through_the_forward_pass():
    """A model with run_to computes the activation directly only when no module carries a hook: a
    pre-hook on a hook point inside a module list counts, and an empty child slot is passed over."""
    from bridge.models import DeepLinearConfig, build_model

    net = build_model(DeepLinearConfig(4, 8, 3, depth=3, init_std=0.3), seed=0)
    net.register_module("nothing", None)
    x = torch.randn(5, 4, generator=torch.Generator().manual_seed(0))
    direct = net.run_to(x, "hook_out")
    assert direct.abs().max() > 0
    for register in (net.hook_hidden[1].register_forward_pre_hook, net.hook_hidden[0].register_forward_hook):
        handle = register(lambda module, args, *output: (args[0] * 0,) if not output else output[0] * 0)
        try:
            assert cached_activation(net, x, "hook_out").abs().max() == 0  # the hook path, not run_to
        finally:
            handle.remove()
    torch.testing.assert_close(cached_activation(net, x, "hook_out"), direct, rtol=0, atol=0)
