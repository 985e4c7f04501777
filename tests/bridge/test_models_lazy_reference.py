"""The lazy wrapper ``α · (f_θ − f_θ₀)`` against independently built networks, transformers included.

θ₀ is checked against a fresh network of the same seed, the trained network against a copy loaded
through ``state_dict`` (never ``copy.deepcopy``: copies of a ``TransformerBridge`` share its capture
hooks); the frozen copy shares no storage with the trained weights, stays put under an optimizer and
survives a save and load through the run store's safetensors files.
"""

import pytest
import torch

from bridge import TrainConfig
from bridge.config import ConfigError
from bridge.models import LazyConfig, MLPConfig, ToySuperpositionConfig, TransformerConfig, build_model
from bridge.runs.storage import load_tensors, save_tensors
from bridge.runs.weights import load_weights
from bridge.tasks import TeacherMLPConfig

ALPHA = 3.0
CONFIGS = {
    "mlp": MLPConfig(d_in=4, d_out=3, widths=(16, 16), activation="tanh"),
    "mlp_mup": MLPConfig(d_in=4, d_out=3, widths=(64,), parametrisation="mup", base_width=16),
    "transformer": TransformerConfig(d_vocab=7, n_ctx=3, d_model=16, n_heads=2, d_head=8, d_mlp=32),
    "transformer_mup": TransformerConfig(d_vocab=7, n_ctx=3, d_model=32, n_heads=2, d_head=8, d_mlp=32, normalization="LN", parametrisation="mup", base_width=16),
}


def inputs(config, seed=0):
    g = torch.Generator().manual_seed(seed)
    if isinstance(config, TransformerConfig):
        return torch.randint(0, config.d_vocab, (5, config.n_ctx), generator=g)
    return torch.randn(5, config.d_in, generator=g)


def independent_lazy_output(lazy, config, seed, x):
    """α · (f_θ − f_θ₀) from two separately built networks: θ₀ a fresh draw of ``seed``, θ the trained weights via ``state_dict``."""
    trained = build_model(config, seed=seed + 1000)
    trained.load_state_dict(lazy.model.state_dict())
    return ALPHA * (trained(x) - build_model(config, seed=seed)(x))


@pytest.mark.parametrize("name", list(CONFIGS))
def test_zero_at_init_gradient_alpha_times_the_networks_and_a_frozen_unshared_initial_copy(name):
    config, seed = CONFIGS[name], 5
    lazy, plain = build_model(LazyConfig(config, alpha=ALPHA), seed=seed), build_model(config, seed=seed)
    x = inputs(config)
    out = lazy(x)
    assert torch.equal(out, torch.zeros_like(out)) and out.shape == plain(x).shape
    probe = torch.randn(out.shape, generator=torch.Generator().manual_seed(1))
    ours = torch.autograd.grad((lazy(x) * probe).sum(), list(lazy.parameters()))
    theirs = torch.autograd.grad((plain(x) * probe).sum(), list(plain.parameters()))
    assert len(ours) == len(theirs) > 0
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, ALPHA * b, rtol=1e-5, atol=1e-5)  # float32: f − f₀ rounds at the level of f
    trained = {p.data_ptr() for p in lazy.parameters()}
    assert not any(b.data_ptr() in trained for b in lazy.reference.buffers()), "θ₀ shares storage with θ"
    assert list(lazy.reference.parameters()) == []
    # three optimizer steps move θ only; θ₀ is still the seed's fresh draw
    opt = torch.optim.Adam(lazy.parameters(), lr=0.05)
    for _ in range(3):
        opt.zero_grad()
        ((lazy(x) - probe) ** 2).mean().backward()
        opt.step()
    fresh = build_model(config, seed=seed)
    torch.testing.assert_close(lazy.reference(x), fresh(x), rtol=0, atol=0)
    moved = lazy(x)
    assert moved.abs().max() > 1e-3
    torch.testing.assert_close(moved, independent_lazy_output(lazy, config, seed, x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_a_trained_lazy_model_round_trips_through_safetensors_into_a_model_of_another_seed(name, tmp_path):
    config, seed = CONFIGS[name], 2
    lazy = build_model(LazyConfig(config, alpha=ALPHA), seed=seed)
    x = inputs(config)
    opt = torch.optim.SGD(lazy.parameters(), lr=0.1)
    for _ in range(2):
        opt.zero_grad()
        (lazy(x) - 1.0).pow(2).mean().backward()
        opt.step()
    file = tmp_path / "step.safetensors"
    save_tensors(file, lazy.state_dict())
    other = build_model(LazyConfig(config, alpha=ALPHA), seed=seed + 7)
    assert not torch.equal(other.reference(x), lazy.reference(x))  # another seed: another θ₀ until loaded
    load_weights(other, load_tensors(file), str(file))
    for key, value in lazy.state_dict().items():
        assert torch.equal(other.state_dict()[key], value), key
    torch.testing.assert_close(other(x), lazy(x), rtol=0, atol=0)
    torch.testing.assert_close(other.reference(x), build_model(config, seed=seed)(x), rtol=0, atol=0)
    trained = {p.data_ptr() for p in other.parameters()}
    assert not any(b.data_ptr() in trained for b in other.reference.buffers())
    before = {k: v.clone() for k, v in other.reference.state_dict().items()}
    opt = torch.optim.SGD(other.parameters(), lr=0.1)
    (other(x) - 1.0).pow(2).mean().backward()
    opt.step()
    assert all(torch.equal(other.reference.state_dict()[k], v) for k, v in before.items())


@pytest.mark.parametrize(
    "model",
    [
        MLPConfig,  # the class, not a config: it has a kind too
        TrainConfig(),
        TeacherMLPConfig(d_in=3, n_train=4, n_test=0, width=4),
        {"kind": "mlp", "d_in": 3, "d_out": 1},
        LazyConfig(MLPConfig(d_in=3, d_out=1)),
    ],
    ids=["config_class", "train_config", "task_config", "dict", "lazy"],
)
def test_anything_but_a_model_config_is_refused_at_construction_naming_lazy_model(model):
    with pytest.raises(ConfigError, match=r"^lazy\.model must be a registered, non-lazy model config, got "):
        LazyConfig(model, alpha=2.0)


def test_every_built_in_model_config_is_accepted():
    for config in (*CONFIGS.values(), ToySuperpositionConfig(n_features=3, n_hidden=2)):
        assert LazyConfig(config, alpha=2.0).model is config
