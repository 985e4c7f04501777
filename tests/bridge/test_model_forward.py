"""Model outputs against forward passes written out by hand, and the wrapper configs refused."""

import math

import pytest
import torch

from bridge.config import ConfigError
from bridge.models import MLP, LazyConfig, MLPConfig, ToySuperposition, ToySuperpositionConfig, build_model

# each activation from its definition (not from the functions the model uses)
ACTIVATIONS = {
    "relu": lambda z: torch.where(z > 0, z, torch.zeros_like(z)),
    "tanh": lambda z: (torch.exp(z) - torch.exp(-z)) / (torch.exp(z) + torch.exp(-z)),
    "gelu": lambda z: z * 0.5 * (1.0 + torch.erf(z / math.sqrt(2.0))),  # z Φ(z)
    "quadratic": lambda z: z * z,
    "linear": lambda z: z,
}


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_mlp_output_is_the_layers_written_out_with_its_activation(activation):
    net = MLP(MLPConfig(d_in=3, d_out=2, widths=(5, 4), activation=activation), seed=0)
    with torch.no_grad():
        for layer in net.layers:
            layer.bias.copy_(torch.linspace(-0.5, 0.5, layer.bias.shape[0]))
    x = torch.randn(7, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    w = [layer.weight.detach().double() for layer in net.layers]
    b = [layer.bias.detach().double() for layer in net.layers]
    f = ACTIVATIONS[activation]
    expected = f(f(x @ w[0].T + b[0]) @ w[1].T + b[1]) @ w[2].T + b[2]
    torch.testing.assert_close(net.double()(x), expected, atol=1e-12, rtol=1e-12)


def test_toy_superposition_output_is_relu_of_w_transpose_w_x_plus_b_per_instance():
    net = ToySuperposition(ToySuperpositionConfig(n_features=4, n_hidden=2, n_instances=3), seed=0)
    with torch.no_grad():
        net.b.copy_(torch.linspace(-0.3, 0.3, 12).reshape(3, 4))
    x = torch.rand(5, 3, 4, generator=torch.Generator().manual_seed(2))
    expected = torch.stack([torch.relu(x[:, k] @ net.W[k].T @ net.W[k] + net.b[k]) for k in range(3)], dim=1)
    torch.testing.assert_close(net(x), expected, atol=1e-6, rtol=1e-6)
    shared = net(x[:, 0])  # one (batch, n) input is read by every instance
    torch.testing.assert_close(shared, torch.stack([torch.relu(x[:, 0] @ net.W[k].T @ net.W[k] + net.b[k]) for k in range(3)], dim=1), atol=1e-6, rtol=1e-6)


def test_a_lazy_model_of_a_lazy_model_is_refused():
    inner = LazyConfig(MLPConfig(d_in=3, d_out=1, widths=(4,)), alpha=2.0)
    with pytest.raises(ConfigError, match="lazy.model must be a registered, non-lazy model config"):
        LazyConfig(inner, alpha=2.0)


def test_the_lazy_output_is_alpha_times_the_change_of_the_wrapped_output():
    net = build_model(LazyConfig(MLPConfig(d_in=3, d_out=2, widths=(6,), activation="tanh"), alpha=4.0), seed=0)
    x = torch.randn(5, 3, generator=torch.Generator().manual_seed(3))
    before = net.model(x).detach()
    with torch.no_grad():
        net.model.layers[0].weight.add_(0.1)
    torch.testing.assert_close(net(x), 4.0 * (net.model(x) - before), atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"importance": torch.ones(3, 4)}, r"need importance of shape \(2, 4\) and density of shape \(2,\), got \(3, 4\) and \(2,\)"),
        ({"density": torch.ones(4)}, r"got \(2, 4\) and \(4,\)"),
        ({"steps": 0}, "steps and batch_size must be positive, got 0, 8"),
        ({"batch_size": 0}, "steps and batch_size must be positive, got 3, 0"),
    ],
)
def test_fit_fresh_samples_refuses_shapes_and_counts_that_do_not_fit_before_any_step(kwargs, message):
    from bridge.models.toy_superposition import fit_fresh_samples

    net = ToySuperposition(ToySuperpositionConfig(n_features=4, n_hidden=2, n_instances=2), seed=0)
    start = net.W.detach().clone()
    settings = {"importance": torch.ones(2, 4), "density": torch.full((2,), 0.5), "steps": 3, "batch_size": 8, **kwargs}
    with pytest.raises(ValueError, match=message):
        fit_fresh_samples(net, settings.pop("importance"), settings.pop("density"), **settings)
    assert torch.equal(net.W, start)


def test_a_transformer_with_its_own_output_vocabulary_has_that_many_logits():
    from bridge.models import TransformerConfig

    model = build_model(TransformerConfig(d_vocab=7, n_ctx=3, d_model=16, n_heads=2, d_head=8, d_mlp=None, d_vocab_out=5), seed=0)
    assert tuple(model(torch.zeros(2, 3, dtype=torch.long)).shape) == (2, 3, 5)
