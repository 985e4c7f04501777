"""Reading modular-arithmetic networks: the parameter norm, and logits and neurons on every pair against the model's forward."""

import math

import torch
from torch import nn

from bridge.models import MLPConfig, build_model
from bridge.tasks import ModularConfig, make_task
from probes.modular import grid_inputs, logits_and_neurons, weight_norm


def test_weight_norm_counts_every_parameter_biases_included():
    layer = nn.Linear(2, 2)
    with torch.no_grad():
        layer.weight.fill_(1.0)
        layer.bias.copy_(torch.tensor([3.0, 4.0]))
    assert weight_norm(layer) == math.sqrt(4 * 1.0 + 9.0 + 16.0)


def test_logits_and_neurons_of_a_one_hot_mlp_are_its_forward_on_every_pair():
    data = make_task(ModularConfig(p=5, encoding="onehot"), seed=0)
    net = build_model(MLPConfig(d_in=10, d_out=5, widths=(6,)), seed=1)
    logits, acts = logits_and_neurons(net, data)
    x = grid_inputs(data)
    assert x[2 * 5 + 3].nonzero().flatten().tolist() == [2, 5 + 3]  # row a·p + b: one-hot a, then one-hot b
    with torch.no_grad():
        torch.testing.assert_close(logits, net(x))
        hidden = net.activation(net.linear(0, x))
    torch.testing.assert_close(acts[2, 3], hidden[2 * 5 + 3])
    assert tuple(acts.shape) == (5, 5, 6)


def test_logits_and_neurons_of_a_transformer_are_read_at_the_last_position():
    from bridge.models import TransformerConfig

    p = 5
    data = make_task(ModularConfig(p=p), seed=0)
    model = build_model(TransformerConfig(d_vocab=p + 1, n_ctx=3, d_model=16, n_heads=2, d_head=8, n_layers=1, d_mlp=12), seed=0)
    logits, acts = logits_and_neurons(model, data)
    x = grid_inputs(data)
    assert x[2 * p + 3].tolist() == [2, 3, p]
    with torch.no_grad():
        out, cache = model.run_with_cache(x)
    torch.testing.assert_close(logits, out[:, -1, :])  # the logits after "=", not at a or b
    torch.testing.assert_close(acts[2, 3], cache["blocks.0.mlp.hook_post"][2 * p + 3, -1])
    assert tuple(acts.shape) == (p, p, 12) and not torch.allclose(out[:, -1], out[:, -2])
