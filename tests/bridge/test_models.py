"""Models: hook/cache API on every model, the toy-transformer factory, seeded initialisation."""

import dataclasses

import numpy as np
import pytest
import torch

from bridge.config import ConfigError
from bridge.models import MLP, DeepLinearConfig, MLPConfig, ToySuperpositionConfig, TransformerConfig, build_model, move_to
from probes import cached_activation


def test_deep_linear_cache_and_end_to_end_map():
    net = build_model(DeepLinearConfig(4, 8, 3, depth=3, init_std=0.3), seed=0)
    x = torch.randn(5, 4, generator=torch.Generator().manual_seed(0))
    out, cache = net.run_with_cache(x)
    torch.testing.assert_close(cache["hook_hidden.0"], x @ net.weights[0].T)
    torch.testing.assert_close(cache["hook_hidden.1"], x @ net.weights[0].T @ net.weights[1].T)
    torch.testing.assert_close(out, x @ net.end_to_end().T)
    assert net.weights[0].std().item() == pytest.approx(0.3, rel=0.3)


def test_mlp_activations_and_cache():
    for activation, fn in [("relu", torch.relu), ("tanh", torch.tanh), ("quadratic", lambda z: z * z)]:
        net = MLP(MLPConfig(d_in=3, d_out=2, widths=(6,), activation=activation), seed=1)
        x = torch.randn(4, 3, generator=torch.Generator().manual_seed(1))
        out, cache = net.run_with_cache(x)
        pre = x @ net.layers[0].weight.T + net.layers[0].bias
        torch.testing.assert_close(cache["hook_pre.0"], pre)
        torch.testing.assert_close(cache["hook_post.0"], fn(pre))
        torch.testing.assert_close(out, fn(pre) @ net.layers[1].weight.T + net.layers[1].bias)


@pytest.mark.parametrize("config", [DeepLinearConfig(4, 8, 3, depth=3, init_std=0.3), MLPConfig(d_in=4, d_out=3, widths=(6, 5), activation="tanh")])
def test_run_to_equals_the_cached_activation_and_hooks_are_honoured(config):
    net = build_model(config, seed=2)
    x = torch.randn(5, 4, generator=torch.Generator().manual_seed(2))
    _, cache = net.run_with_cache(x)
    for name in net.hook_dict:
        torch.testing.assert_close(net.run_to(x, name), cache[name], rtol=0, atol=0)
        torch.testing.assert_close(cached_activation(net, x, name), cache[name], rtol=0, atol=0)
    with pytest.raises(KeyError, match="hook_nowhere"):
        net.run_to(x, "hook_nowhere")
    first = list(net.hook_dict)[1]
    net.hook_dict[first].add_hook(lambda act, hook: act * 0)  # an ablation in place
    try:
        assert cached_activation(net, x, "hook_out").abs().max() == 0  # the hook path, not run_to
    finally:
        net.reset_hooks()
    assert not any(m._forward_hooks for m in net.modules())


def test_the_lazy_wrappers_hooks_are_the_wrapped_networks_under_model():
    """``LazyModel`` is a plain module: ``model.hook_post.0`` is the wrapped MLP's activation, ``hook_post.0`` is not a hook."""
    from bridge.models import LazyConfig

    net = build_model(LazyConfig(MLPConfig(d_in=3, d_out=1, widths=(8,)), alpha=10.0), seed=0)
    x = torch.randn(4, 3, generator=torch.Generator().manual_seed(0))
    plain = build_model(MLPConfig(d_in=3, d_out=1, widths=(8,)), seed=0)
    torch.testing.assert_close(cached_activation(net, x, "model.hook_post.0"), plain.run_to(x, "hook_post.0"), rtol=0, atol=0)
    assert not hasattr(net, "run_with_cache")
    with pytest.raises(KeyError, match="hook 'hook_post.0' not found in LazyModel"):
        cached_activation(net, x, "hook_post.0")


@pytest.mark.parametrize("alpha", [float("inf"), float("nan"), -1.0, 0.0])
def test_the_lazy_output_scale_must_be_a_finite_positive_number(alpha):
    from bridge.models import LazyConfig

    with pytest.raises(ConfigError, match=f"lazy.alpha must be a (finite|positive) number, got {alpha}"):
        LazyConfig(MLPConfig(d_in=3, d_out=1), alpha=alpha)


def test_same_seed_same_weights_different_seed_different_weights():
    a = build_model(MLPConfig(3, 2, (8,)), seed=4).state_dict()
    b = build_model(MLPConfig(3, 2, (8,)), seed=4).state_dict()
    c = build_model(MLPConfig(3, 2, (8,)), seed=5).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["layers.0.weight"], c["layers.0.weight"])


@pytest.mark.parametrize("seed", [1.5, True, "3", 2**64, -(2**63) - 1])
@pytest.mark.parametrize("config", [MLPConfig(3, 2, (8,)), DeepLinearConfig(3, 4, 2), ToySuperpositionConfig(n_features=4, n_hidden=2)], ids=["mlp", "deep_linear", "toy"])
def test_a_seed_that_is_not_an_integer_in_torchs_range_is_refused_by_name(config, seed):
    """int() read 1.5 and True as seed 1 and "3" as 3: the weights of another seed, without a word."""
    with pytest.raises(ValueError, match=r"seed must be an integer in \[-2\*\*63, 2\*\*64\), got"):
        build_model(config, seed=seed)
    a, b = build_model(config, seed=np.int64(3)).state_dict(), build_model(config, seed=3).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in b)  # a NumPy integer is a seed


def test_toy_transformer_forward_cache_and_one_training_step():
    cfg = TransformerConfig(d_vocab=11, n_ctx=5, d_model=16, n_heads=2, d_head=8, n_layers=2, d_mlp=32)
    model = build_model(cfg, seed=0)
    tokens = torch.randint(0, 11, (3, 5), generator=torch.Generator().manual_seed(0))
    logits, cache = model.run_with_cache(tokens)
    assert logits.shape == (3, 5, 11)
    pattern = cache["blocks.1.attn.hook_pattern"]
    assert pattern.shape == (3, 2, 5, 5)
    torch.testing.assert_close(pattern.sum(-1), torch.ones(3, 2, 5))
    assert torch.all(pattern.triu(1) == 0)  # causal
    # no LayerNorm: the residual stream is the sum of its parts
    resid = cache["blocks.1.hook_resid_pre"]
    torch.testing.assert_close(resid, cache["hook_embed"] + cache["hook_pos_embed"] + cache["blocks.0.hook_attn_out"] + cache["blocks.0.hook_mlp_out"], atol=1e-5, rtol=1e-5)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    loss0 = torch.nn.functional.cross_entropy(model(tokens)[:, -1], tokens[:, 0])
    loss0.backward()
    opt.step()
    loss1 = torch.nn.functional.cross_entropy(model(tokens)[:, -1], tokens[:, 0])
    assert loss1.item() < loss0.item()


def test_transformer_seed_and_state_dict_round_trip():
    cfg = TransformerConfig(d_vocab=7, n_ctx=3, d_model=16, n_heads=2, d_head=8, d_mlp=None)
    a, b = build_model(cfg, seed=3), build_model(cfg, seed=3)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    c = build_model(cfg, seed=4)
    c.load_state_dict(a.state_dict())
    tokens = torch.tensor([[1, 2, 3]])
    torch.testing.assert_close(c(tokens), a(tokens))


def test_moving_a_transformer_prints_nothing(capsys):
    cfg = TransformerConfig(d_vocab=7, n_ctx=3, d_model=16, n_heads=2, d_head=8, d_mlp=None)
    model = build_model(cfg, seed=0)
    capsys.readouterr()
    assert move_to(model, "cpu") is model
    net = build_model(DeepLinearConfig(d_in=2, d_hidden=3, d_out=2), seed=0)
    assert move_to(net, torch.device("cpu")) is net and {p.device.type for p in net.parameters()} == {"cpu"}
    assert capsys.readouterr().out == ""
    model.to("cpu")  # the bare call prints; if it stops printing, move_to can go
    assert "Moving model" in capsys.readouterr().out


def test_invalid_model_configs():
    with pytest.raises(ConfigError, match="activation"):
        MLPConfig(3, 2, activation="swishy")
    with pytest.raises(ConfigError, match="d_mlp"):
        TransformerConfig(d_vocab=5, n_ctx=3, d_mlp=0)


@pytest.mark.parametrize(("normalization", "n_params", "mean", "rms"), [(None, 0, None, None), ("LN", 6, 0.0, 1.0), ("LNPre", 0, 0.0, 1.0), ("RMS", 3, None, 1.0), ("RMSPre", 0, None, 1.0)])
def test_each_normalization_builds_its_norm(normalization, n_params, mean, rms):
    """Norm parameters of a 1-layer model (ln1, ln2, ln_out) and ln1's output per position: centred for LN, unit RMS for all four."""
    model = build_model(TransformerConfig(d_vocab=7, n_ctx=3, d_model=16, n_heads=2, d_head=8, d_mlp=32, normalization=normalization), seed=0)
    assert sum(p.numel() // 16 for n, p in model.named_parameters() if ".ln" in n or n.startswith("ln")) == n_params
    _, cache = model.run_with_cache(torch.tensor([[1, 2, 3]]), names_filter=lambda name: name in ("blocks.0.ln1.hook_in", "blocks.0.ln1.hook_out"))
    x, y = cache["blocks.0.ln1.hook_in"], cache["blocks.0.ln1.hook_out"]
    if rms is None:
        torch.testing.assert_close(y, x, rtol=0, atol=0)
    else:
        torch.testing.assert_close(y.pow(2).mean(-1).sqrt(), torch.full((1, 3), rms), rtol=1e-4, atol=0)
    if mean is not None:
        torch.testing.assert_close(y.mean(-1), torch.zeros(1, 3), rtol=0, atol=1e-6)


@pytest.mark.parametrize("normalization", ["RMSNorm", "rmsnorm", "none", "None", "LN-typo", "ln"])
def test_an_unknown_normalization_is_refused(normalization):
    with pytest.raises(ConfigError, match=r"transformer.normalization must be one of \(None, 'LN', 'LNPre', 'RMS', 'RMSPre'\), got"):
        TransformerConfig(d_vocab=5, n_ctx=3, normalization=normalization)


def _score_offsets(model, tokens, max_offset):
    """``log(pattern[q, q - d] / pattern[q, q])`` = score(q, q - d) − score(q, q): ``(max_offset, head, n_ctx - max_offset)``."""
    _, cache = model.run_with_cache(tokens, names_filter=lambda name: name == "blocks.0.attn.hook_pattern")
    log_p = cache["blocks.0.attn.hook_pattern"][0].log()  # (head, query, key)
    n = tokens.shape[1]
    q = torch.arange(max_offset, n)
    return torch.stack([log_p[:, q, q - d] - log_p[:, q, q] for d in range(1, max_offset + 1)])


def test_rotary_attention_depends_on_positions_only_through_their_difference():
    cfg = TransformerConfig(d_vocab=8, n_ctx=10, d_model=16, n_heads=2, d_head=8, n_layers=1, d_mlp=None, positional_embedding="rotary")
    model = build_model(cfg, seed=0)
    assert not any("pos_embed" in name for name in model.state_dict())
    tokens = torch.full((1, 10), 3)  # one token everywhere: only positions differ
    with torch.no_grad():
        rotary = _score_offsets(model, tokens, 4)
        standard = _score_offsets(build_model(dataclasses.replace(cfg, positional_embedding="standard"), seed=0), tokens, 4)
    torch.testing.assert_close(rotary, rotary[..., :1].expand_as(rotary), rtol=1e-4, atol=1e-4)  # the same at every query
    assert standard.std(dim=-1).min() > 1e-3  # absolute positions: the score of an offset changes with the query


def test_unknown_positional_embedding_is_refused():
    with pytest.raises(ConfigError, match="positional_embedding"):
        TransformerConfig(d_vocab=8, n_ctx=4, positional_embedding="alibi")
    with pytest.raises(ConfigError, match="even d_head"):
        TransformerConfig(d_vocab=8, n_ctx=4, d_head=7, positional_embedding="rotary")


def test_gaussian_init_is_the_default_and_unchanged():
    """``init="gaussian"`` draws every layer from the seed exactly as before the option existed."""
    from bridge.seeding import generator

    cfg = DeepLinearConfig(d_in=5, d_hidden=7, d_out=3, depth=3, init_std=0.02)
    net = build_model(cfg, seed=4)
    g = generator(4)
    expected = [torch.randn(7, 5, generator=g) * 0.02, torch.randn(7, 7, generator=g) * 0.02, torch.randn(3, 7, generator=g) * 0.02]
    assert cfg.init == "gaussian"
    for w, e in zip(net.weights, expected):
        assert torch.equal(w.detach(), e)


@pytest.mark.parametrize("depth", [2, 3, 4])
def test_balanced_init_is_aligned_balanced_and_at_the_given_strength(depth):
    from bridge.models.deep_linear import balanced_init

    g = torch.Generator().manual_seed(1)
    u, v = (torch.linalg.qr(torch.randn(n, 3, generator=g, dtype=torch.float64))[0] for n in (5, 6))  # exactly orthonormal
    net = build_model(DeepLinearConfig(6, 8, 5, depth=depth, init="balanced", init_strength=0.004), seed=0).double()
    assert all(torch.count_nonzero(w) == 0 for w in net.weights)  # nothing until the teacher's modes are given
    net.init_from_task({"U": u, "V": v})
    w = net.end_to_end().detach()
    torch.testing.assert_close(w, 0.004 * u @ v.T, rtol=0, atol=1e-15)
    for lower, upper in zip(net.weights[:-1], net.weights[1:]):  # balanced: W_{l+1}ᵀ W_{l+1} = W_l W_lᵀ
        torch.testing.assert_close(upper.T @ upper, lower @ lower.T, rtol=0, atol=1e-15)
    with pytest.raises(ValueError, match="d_hidden"):
        balanced_init(build_model(DeepLinearConfig(6, 2, 5, depth=depth), seed=0), u, v, 0.01)


def test_the_lazy_wrapper_applies_the_balanced_init_and_keeps_a_zero_output():
    """A lazy deep linear net starts where the unwrapped one does (``0.004·U Vᵀ``, not the all-zero saddle), output 0."""
    from bridge.config import RunConfig, TrainConfig
    from bridge.models import LazyConfig
    from bridge.tasks import LinearTeacherConfig
    from bridge.training.inputs import build_for_task, validate

    inner = DeepLinearConfig(3, 8, 3, init="balanced", init_strength=0.004)
    plain_cfg = RunConfig(LinearTeacherConfig((2.0, 1.0), d_in=3, d_out=3), inner, TrainConfig(dtype="float64"))
    lazy_cfg = dataclasses.replace(plain_cfg, model=LazyConfig(inner, alpha=2.0))
    data = validate(lazy_cfg)
    plain, lazy = build_for_task(plain_cfg, data), build_for_task(lazy_cfg, data)
    u, v = data.info["U"].double(), data.info["V"].double()
    torch.testing.assert_close(lazy.model.end_to_end().detach(), 0.004 * u @ v.T, rtol=0, atol=1e-15)
    for w, w_plain, ref in zip(lazy.model.weights, plain.weights, lazy.reference.weights):
        assert torch.equal(w, w_plain) and torch.equal(ref, w_plain)
    x = data.train.x[:8]
    assert lazy(x).abs().max().item() == 0.0
    (lazy(x) - data.train.y[:8]).pow(2).sum().backward()
    assert min(w.grad.norm().item() for w in lazy.model.weights) > 1e-3  # away from the saddle every layer has a gradient


def test_balanced_init_needs_the_teachers_modes_and_valid_settings():
    from bridge.config import RunConfig, TrainConfig
    from bridge.tasks import SparseFeaturesConfig
    from bridge.training.inputs import validate

    with pytest.raises(ConfigError, match="deep_linear.init must be one of"):
        DeepLinearConfig(4, 4, 4, init="orthogonal")
    with pytest.raises(ConfigError, match="init_strength must be positive"):
        DeepLinearConfig(4, 4, 4, init="balanced", init_strength=0.0)
    task = SparseFeaturesConfig(n_features=4)
    with pytest.raises(ConfigError, match="needs a task whose info has the teacher's U and V"):
        validate(RunConfig(task, DeepLinearConfig(4, 4, 4, init="balanced"), TrainConfig(steps=1)))


def test_a_runs_model_is_not_drawn_from_its_tasks_stream():
    """A student built for a teacher task of the same shape starts uncorrelated with the teacher."""
    from bridge.config import RunConfig, TrainConfig
    from bridge.tasks import TeacherMLPConfig
    from bridge.training.inputs import build_for_task, validate

    cfg = RunConfig(TeacherMLPConfig(d_in=8, n_train=64, n_test=16, width=64, scale=4.0), MLPConfig(d_in=8, d_out=1, widths=(64,)), TrainConfig(), seed=3)
    data = validate(cfg)
    student, teacher = build_for_task(cfg, data).layers[0].weight.detach(), data.info["W1"]
    cos = torch.nn.functional.cosine_similarity(student, teacher, dim=1)
    assert cos.abs().max() < 0.95  # 64 pairs of independent 8-d directions: |cos| of the largest ≈ 0.7
    assert cos.abs().mean() < 0.5  # independent: ≈ 0.27; drawn from the task's stream, every pair is 1


def test_an_eval_block_left_by_an_error_or_entered_without_autograd_restores_autograd_and_each_modules_mode():
    from bridge.models.base import evaluating

    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Dropout(0.5))
    net.train()
    with pytest.raises(RuntimeError, match="inside the block"), evaluating(net) as m:
        assert m is net and not torch.is_grad_enabled() and not any(mod.training for mod in net.modules())
        raise RuntimeError("inside the block")
    assert torch.is_grad_enabled() and [mod.training for mod in net.modules()] == [True, True, True]
    with torch.no_grad():
        with evaluating(net):
            assert not torch.is_grad_enabled() and not net.training
        assert not torch.is_grad_enabled() and net.training  # autograd stays off as it was
    assert torch.is_grad_enabled()
    plain = torch.nn.Linear(2, 2)  # no dropout: its mode is left alone, autograd still switched off
    with evaluating(plain):
        assert not torch.is_grad_enabled() and plain.training
    assert torch.is_grad_enabled()


def test_eval_blocks_restore_each_modules_own_mode():
    import warnings

    from bridge.estimators.hessian import hessian_operator
    from bridge.estimators.llc import SGLDConfig, estimate_llc
    from bridge.losses import cross_entropy_last
    from bridge.models.base import evaluating
    from probes.heads import attention_patterns

    g = torch.Generator().manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Dropout(0.5), torch.nn.Linear(4, 1))
    x, y = torch.randn(8, 3, generator=g), torch.randn(8, 1, generator=g)
    without_dropout = net[2](net[0](x))

    def run_hessian():
        with hessian_operator(net, x, y, lambda o, t: ((o - t) ** 2).mean()):
            pass

    def run_llc():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            estimate_llc(net, "mse", (x, y), SGLDConfig(n_chains=1, n_draws=2, n_burnin=0))

    def run_evaluating():
        with evaluating(net) as m:
            assert not any(mod.training for mod in m.modules())

    for block in (run_hessian, run_llc, run_evaluating):
        net.train()
        net[1].eval()  # the user keeps dropout off in a training model
        block()
        assert [m.training for m in net.modules()] == [True, True, False, True]  # model.train(was) gave the dropout True
        torch.testing.assert_close(net(x), without_dropout)  # dropout still off: the same numbers
    model = build_model(TransformerConfig(d_vocab=5, n_ctx=3, d_model=8, n_heads=2, d_head=4, n_layers=1, d_mlp=8), seed=0)
    model.train()
    model.blocks[0].mlp.eval()
    before = {id(m): m.training for m in model.modules()}
    tokens = torch.randint(0, 5, (4, 3), generator=g)
    attention_patterns(model, tokens)
    with hessian_operator(model, tokens, tokens[:, -1], cross_entropy_last):
        pass
    from bridge.models.base import eval_mode

    with eval_mode(model):
        assert not any(m.training for m in model.modules()) and not model.original_model.training
    assert {id(m): m.training for m in model.modules()} == before and model.original_model.training
    assert not model.blocks[0].mlp.training


def test_balanced_factorisations_refuse_more_modes_than_hidden_units_and_a_non_positive_strength():
    from bridge.models.deep_linear import balanced_init, set_balanced

    net = build_model(DeepLinearConfig(d_in=4, d_hidden=2, d_out=3), seed=0)
    u, v = torch.eye(3)[:, :3], torch.eye(4)[:, :3]
    with pytest.raises(ValueError, match="d_hidden >= 3 modes"):
        set_balanced(net, u, torch.ones(3), v)
    set_balanced(net, u[:, :2], torch.tensor([4.0, 1.0]), v[:, :2])  # as many modes as hidden units
    torch.testing.assert_close(net.end_to_end().detach(), u[:, :2] @ torch.diag(torch.tensor([4.0, 1.0])) @ v[:, :2].T)
    for strength in (0.0, -0.01):
        with pytest.raises(ValueError, match="strength > 0"):
            balanced_init(net, u[:, :2], v[:, :2], strength)


def test_toy_superposition_weights_are_the_seeds_draws_at_the_xavier_scale():
    """W = N(0, 1) draws of the seed times init_scale·√(2/(m + n)); b starts at zero."""
    from bridge.models import ToySuperpositionConfig
    from bridge.seeding import generator

    net = build_model(ToySuperpositionConfig(n_features=6, n_hidden=2, n_instances=3, init_scale=0.5), seed=7)
    draws = torch.randn(3, 2, 6, generator=generator(7))
    torch.testing.assert_close(net.W.detach(), draws * 0.5 * (2.0 / 8) ** 0.5, rtol=1e-6, atol=0)
    assert torch.count_nonzero(net.b) == 0


@pytest.mark.parametrize(
    "u_cols, s, v_cols, message",
    [
        (1, torch.tensor([-4.0]), 1, r"singular values s must be finite and >= 0, got \[-4.0\]"),
        (1, torch.tensor([float("nan")]), 1, r"singular values s must be finite and >= 0, got \[nan\]"),
        (2, torch.tensor([4.0]), 1, r"U \(3, 2\) and V \(4, 1\) must be \(3, 1\) and \(4, 1\) for 1 singular values"),
        (1, torch.tensor([4.0]), 2, r"U \(3, 1\) and V \(4, 2\) must be \(3, 1\) and \(4, 1\)"),
        (1, torch.tensor([[4.0]]), 1, r"s of shape \(1, 1\)"),
    ],
)
def test_set_balanced_refuses_a_negative_singular_value_or_shapes_that_do_not_fit_and_leaves_the_weights(u_cols, s, v_cols, message):
    from bridge.models.deep_linear import set_balanced

    net = build_model(DeepLinearConfig(d_in=4, d_hidden=2, d_out=3, init_std=0.5), seed=0)
    before = [w.detach().clone() for w in net.weights]
    with pytest.raises(ValueError, match=message):
        set_balanced(net, torch.eye(3)[:, :u_cols], s, torch.eye(4)[:, :v_cols])
    assert all(torch.equal(w, b) for w, b in zip(net.weights, before))


def test_balanced_init_refuses_an_infinite_strength_before_writing_a_weight():
    from bridge.models.deep_linear import balanced_init

    net = build_model(DeepLinearConfig(d_in=4, d_hidden=2, d_out=3, depth=3, init_std=0.5), seed=0)
    before = [w.detach().clone() for w in net.weights]
    with pytest.raises(ValueError, match="a finite strength > 0, got r=1, strength=inf"):
        balanced_init(net, torch.eye(3)[:, :1], torch.eye(4)[:, :1], float("inf"))
    assert all(torch.equal(w, b) for w, b in zip(net.weights, before))
