"""Every documented hook point of each model appears in ``run_with_cache`` with the shape its docstring gives,
and holds the activation a plain forward computes."""

import pytest
import torch

from bridge.models import DeepLinearConfig, LazyConfig, MLPConfig, ToySuperpositionConfig, build_model


def test_mlp_hooks_have_the_documented_names_and_shapes():
    net = build_model(MLPConfig(d_in=3, d_out=2, widths=(5, 7), activation="tanh"), seed=0)
    x = torch.randn(4, 3, generator=torch.Generator().manual_seed(0))
    out, cache = net.run_with_cache(x)
    assert {k: tuple(v.shape) for k, v in cache.items()} == {"hook_in": (4, 3), "hook_pre.0": (4, 5), "hook_post.0": (4, 5), "hook_pre.1": (4, 7), "hook_post.1": (4, 7), "hook_out": (4, 2)}
    pre0 = x @ net.layers[0].weight.T + net.layers[0].bias
    torch.testing.assert_close(cache["hook_pre.0"], pre0, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(cache["hook_post.0"], torch.tanh(pre0), rtol=1e-6, atol=1e-6)
    assert torch.equal(cache["hook_in"], x) and torch.equal(cache["hook_out"], out)


@pytest.mark.parametrize("depth", [2, 4])
def test_deep_linear_hooks_have_the_documented_names_and_shapes(depth):
    net = build_model(DeepLinearConfig(d_in=3, d_hidden=5, d_out=2, depth=depth, init_std=0.5), seed=0)
    x = torch.randn(4, 3, generator=torch.Generator().manual_seed(0))
    out, cache = net.run_with_cache(x)
    hidden = {f"hook_hidden.{layer}": (4, 5) for layer in range(depth - 1)}  # after layer l < depth − 1
    assert {k: tuple(v.shape) for k, v in cache.items()} == {"hook_in": (4, 3), **hidden, "hook_out": (4, 2)}
    h = x
    for layer in range(depth - 1):
        h = h @ net.weights[layer].T
        torch.testing.assert_close(cache[f"hook_hidden.{layer}"], h, rtol=1e-6, atol=1e-6)
    assert torch.equal(cache["hook_out"], out)


@pytest.mark.parametrize(("instances", "x_shape", "out_shape"), [(1, (4, 5), (4, 5)), (3, (4, 5), (4, 3, 5)), (3, (4, 3, 5), (4, 3, 5))])
def test_toy_superposition_hooks_keep_the_instance_axis(instances, x_shape, out_shape):
    net = build_model(ToySuperpositionConfig(n_features=5, n_hidden=2, n_instances=instances), seed=0)
    x = torch.rand(x_shape, generator=torch.Generator().manual_seed(0))
    out, cache = net.run_with_cache(x)
    assert tuple(out.shape) == out_shape
    assert {k: tuple(v.shape) for k, v in cache.items()} == {"hook_hidden": (4, instances, 2), "hook_out": (4, instances, 5)}
    xi = x.unsqueeze(1).expand(-1, instances, -1) if x.dim() == 2 else x
    hidden = torch.einsum("imn,bin->bim", net.W, xi)
    torch.testing.assert_close(cache["hook_hidden"], hidden, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(cache["hook_out"].reshape(out.shape), out, rtol=0, atol=0)


def test_the_lazy_wrapper_names_the_wrapped_networks_hooks_under_model():
    lazy = build_model(LazyConfig(MLPConfig(d_in=3, d_out=2, widths=(5,)), alpha=2.0), seed=0)
    names = {n for n, m in lazy.named_modules() if type(m).__name__ == "HookPoint" and n.startswith("model.")}
    assert names == {"model.hook_in", "model.hook_pre.0", "model.hook_post.0", "model.hook_out"}
