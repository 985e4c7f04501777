"""The SGLD learning-coefficient estimator and Aoyagi's closed form."""

from __future__ import annotations

import itertools
import warnings
from fractions import Fraction

import numpy as np
import pytest
import torch

from bridge.estimators.llc import LLCWarning, SGLDConfig, default_nbeta, estimate_llc, select_params
from bridge.estimators.llc_reference import devinterp_available, devinterp_llc
from bridge.models import DeepLinearConfig, MLPConfig, TransformerConfig, build_model
from bridge.models.deep_linear import set_balanced
from bridge.seeding import derive_seed
from bridge.tasks import LinearTeacherConfig, Split, make_task
from bridge.theory.aoyagi import BRANCHES, rrr_branch, rrr_learning_coefficient, rrr_learning_coefficient_exact
from bridge.trackers import TRACKERS, get_tracker
from bridge.trackers.llc import LLCTracker

torch.set_num_threads(1)


def _regression(n: int, d_in: int, d_out: int, seed: int = 0) -> tuple[torch.nn.Linear, Split]:
    g = torch.Generator().manual_seed(seed)
    net = torch.nn.Linear(d_in, d_out)
    with torch.no_grad():
        net.weight.copy_(torch.randn(d_out, d_in, generator=g))
        net.bias.copy_(torch.randn(d_out, generator=g))
    x = torch.randn(n, d_in, generator=g)
    return net, Split(x, net(x).detach())


# ---------------------------------------------------------------- estimator


def test_no_noise_sgld_is_gradient_descent_on_the_localised_tempered_objective():
    net = build_model(MLPConfig(d_in=3, d_out=2, widths=(6,), activation="tanh"), seed=1)
    g = torch.Generator().manual_seed(2)
    x = torch.randn(50, 3, generator=g)
    split = Split(x, torch.randn(50, 2, generator=g))
    eps, gamma, nbeta, steps = 1e-2, 3.0, 7.0, 25
    res = estimate_llc(net, "half_sse", split, SGLDConfig(n_chains=2, n_draws=steps, n_burnin=0, step_size=eps, gamma=gamma, nbeta=nbeta, noise_level=0.0), seed=0)

    w_star = [p.detach().clone() for p in net.parameters()]
    ref = build_model(MLPConfig(d_in=3, d_out=2, widths=(6,), activation="tanh"), seed=1)
    opt = torch.optim.SGD(ref.parameters(), lr=eps / 2)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = 0.5 * ((ref(x) - split.y) ** 2).sum(-1).mean()
        losses.append(loss.item())
        objective = nbeta * loss + 0.5 * gamma * sum(((p - p0) ** 2).sum() for p, p0 in zip(ref.parameters(), w_star))
        objective.backward()
        opt.step()
    expected = np.array(losses)
    for chain in range(2):
        np.testing.assert_allclose(res.trace[chain], expected, rtol=2e-5, atol=1e-7)
    assert expected[-1] < expected[0] * 0.9  # the descent really moved
    torch.testing.assert_close(list(net.parameters())[0], w_star[0])  # the model is untouched


@pytest.mark.parametrize("vectorize", [True, False])
def test_a_float64_models_losses_are_kept_in_float64(vectorize):
    """A large irreducible loss times a large nβ: the trace must not be rounded to float32."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2000, 3, generator=g, dtype=torch.float64)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]], dtype=torch.float64) + 100.0 + 0.1 * torch.randn(2000, 1, generator=g, dtype=torch.float64)
    net = torch.nn.Linear(3, 1, bias=False).double()
    with torch.no_grad():
        net.weight.copy_(torch.linalg.lstsq(x, y).solution.T)  # the minimum; its loss is about 5000
    cfg = SGLDConfig(n_chains=2, n_draws=5, n_burnin=0, step_size=1e-14, gamma=100.0, nbeta=2e4, noise_level=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LLCWarning)
        res = estimate_llc(net, "half_sse", Split(x, y), cfg, seed=0, vectorize=vectorize)
    assert res.init_loss > 4000 and res.trace.dtype == np.float64
    np.testing.assert_allclose(res.trace, res.init_loss, rtol=1e-14)  # a step of 1e-14 moves the loss by far less than float32's 5e-4
    assert abs(res.mean) < 1e-6


def test_regular_model_gives_half_the_dimension():
    net, split = _regression(2000, d_in=4, d_out=3)
    d = sum(p.numel() for p in net.parameters())  # 15
    res = estimate_llc(net, "half_sse", split, SGLDConfig(n_chains=6, n_draws=2000, n_burnin=300, step_size=2e-4, gamma=1.0), seed=0)
    assert res.warnings == []
    assert res.mean == pytest.approx(d / 2, rel=0.08)
    assert res.std < 0.15 * d / 2


def test_parameter_subset_counts_only_its_own_dimensions():
    net, split = _regression(2000, d_in=4, d_out=3)
    res = estimate_llc(net, "half_sse", split, SGLDConfig(n_chains=6, n_draws=1500, n_burnin=300, step_size=2e-4, gamma=1.0), params=["bias"], seed=1)
    assert res.n_params == 3
    assert res.mean == pytest.approx(1.5, rel=0.1)


def test_frozen_parameters_are_not_sampled_by_default():
    net, split = _regression(2000, d_in=4, d_out=3)
    net.weight.requires_grad_(False)  # only the bias (d = 3) is trainable
    sgld = SGLDConfig(n_chains=6, n_draws=1500, n_burnin=300, step_size=2e-4, gamma=1.0)
    res = estimate_llc(net, "half_sse", split, sgld, seed=1)
    assert res.n_params == 3
    assert res.mean == pytest.approx(1.5, rel=0.1)  # sampling the frozen weight too gave n_params 15, λ̂ ≈ 7.5
    np.testing.assert_array_equal(res.per_chain, estimate_llc(net, "half_sse", split, sgld, params=["bias"], seed=1).per_chain)
    assert select_params(net, "weight") == ["weight"]  # still selectable by name
    net.bias.requires_grad_(False)
    with pytest.raises(ValueError, match="no parameter that requires grad"):
        select_params(net)


def test_vmap_and_loop_give_the_same_chains():
    net = build_model(DeepLinearConfig(3, 4, 2, init_std=0.3), seed=0)
    data = make_task(LinearTeacherConfig((1.0,), d_in=3, d_out=2, n_train=40), seed=0)
    sgld = SGLDConfig(n_chains=3, n_draws=30, n_burnin=5, step_size=1e-3, gamma=10.0)
    a = estimate_llc(net, "half_sse", data.train, sgld, vectorize=True, seed=5)
    b = estimate_llc(net, "half_sse", data.train, sgld, vectorize=False, seed=5)
    assert a.vectorized and not b.vectorized
    np.testing.assert_allclose(a.trace, b.trace, rtol=1e-4, atol=1e-6)


def test_transformer_bridge_runs_vectorised_and_is_left_untouched():
    model = build_model(TransformerConfig(d_vocab=8, n_ctx=6, d_model=16, n_heads=2, d_head=8, n_layers=2, d_mlp=None), seed=0)
    tokens = torch.randint(0, 8, (32, 6), generator=torch.Generator().manual_seed(0))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    sgld = SGLDConfig(n_chains=2, n_draws=8, n_burnin=2, step_size=1e-5, gamma=100.0)
    a = estimate_llc(model, "cross_entropy_next", Split(tokens, tokens), sgld, params=["blocks.1.attn"], seed=0)
    b = estimate_llc(model, "cross_entropy_next", Split(tokens, tokens), sgld, params=["blocks.1.attn"], vectorize=False, seed=0)
    assert a.vectorized
    assert a.n_params == 4 * (16 * 16 + 16)  # q, k, v, o weights and biases of layer 1
    np.testing.assert_allclose(a.trace, b.trace, rtol=1e-4, atol=1e-6)
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, before[k])
    logits = model(tokens)  # still a working model after the functional calls
    assert torch.isfinite(logits).all()


def test_divergence_is_flagged_and_warned():
    net, split = _regression(200, d_in=3, d_out=2)
    with pytest.warns(LLCWarning, match="diverged"):
        res = estimate_llc(net, "half_sse", split, SGLDConfig(n_chains=3, n_draws=50, n_burnin=0, step_size=0.5, gamma=1.0), seed=0)
    assert res.any_diverged and res.diverged.all()
    assert any("diverged" in w for w in res.warnings)
    assert any("step_size·nbeta" in w for w in res.warnings)


def test_out_of_range_settings_warn_and_bad_settings_raise():
    net, split = _regression(200, d_in=3, d_out=2)
    with pytest.warns(LLCWarning, match="localisation term overshoots"):
        estimate_llc(net, "half_sse", split, SGLDConfig(n_chains=1, n_draws=5, n_burnin=0, step_size=1e-3, gamma=5000.0), seed=0)
    for bad in (dict(step_size=0.0), dict(n_chains=0), dict(gamma=-1.0), dict(nbeta=-2.0), dict(n_draws=0)):
        with pytest.raises(ValueError):
            estimate_llc(net, "half_sse", split, SGLDConfig(**bad))
    with pytest.raises(ValueError, match="matches no parameter"):
        estimate_llc(net, "half_sse", split, params=["nope"])


def test_negative_estimate_warns_when_not_at_a_minimum():
    net, split = _regression(500, d_in=3, d_out=2)
    with torch.no_grad():
        net.weight.add_(1.0)  # far from the minimum: chains descend
    with pytest.warns(LLCWarning, match="not a local minimum"):
        res = estimate_llc(net, "half_sse", split, SGLDConfig(n_chains=2, n_draws=100, n_burnin=0, step_size=1e-3, gamma=1.0), seed=0)
    assert res.mean < 0


def test_default_nbeta_and_selection():
    assert default_nbeta(100) == pytest.approx(100 / np.log(100))
    with pytest.raises(ValueError):
        default_nbeta(1)
    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 1))
    assert select_params(net, lambda n: n.endswith("bias")) == ["0.bias", "1.bias"]
    assert select_params(net, "0") == ["0.weight", "0.bias"]


def test_tracker_is_registered_reproducible_and_restrictable():
    assert "llc" in TRACKERS
    data = make_task(LinearTeacherConfig((1.0,), d_in=3, d_out=3, n_train=64), seed=0)
    model = build_model(DeepLinearConfig(3, 4, 3, init_std=0.3), seed=0)
    tracker = get_tracker("llc", sgld=SGLDConfig(n_chains=2, n_draws=20, n_burnin=5, step_size=1e-4), per_chain=True)
    rows = tracker(model, 7, data)
    again = LLCTracker(SGLDConfig(n_chains=2, n_draws=20, n_burnin=5, step_size=1e-4), per_chain=True)(model, 7, data)
    assert [r["observable"] for r in rows] == ["llc/mean", "llc/std", "llc/diverged", "llc/chain", "llc/chain"]
    assert rows[0]["value"] == pytest.approx(again[0]["value"], rel=1e-6)
    assert rows[0]["value"] == pytest.approx(np.mean([r["value"] for r in rows[3:]]), rel=1e-6)
    assert tracker.last_result.trace.shape == (2, 20)
    sub = LLCTracker(SGLDConfig(n_chains=2, n_draws=5, n_burnin=0, step_size=1e-4), params=("weights.1",))
    sub(model, 0, data)
    assert sub.last_result.n_params == 12
    one = LLCTracker(SGLDConfig(n_chains=2, n_draws=5, n_burnin=0, step_size=1e-4), params="weights.1")  # a string is one prefix
    assert one.params == ("weights.1",)
    np.testing.assert_array_equal(one(model, 0, data)[0]["value"], sub(model, 0, data)[0]["value"])
    assert one.last_result.n_params == 12  # not its characters' prefixes, which matched all 24 parameters


def test_tracker_trace_rows_are_the_tempered_loss_excess_of_every_kept_draw():
    data = make_task(LinearTeacherConfig((1.0,), d_in=3, d_out=3, n_train=64), seed=0)
    model = build_model(DeepLinearConfig(3, 4, 3, init_std=0.3), seed=0)
    sgld = SGLDConfig(n_chains=2, n_draws=10, n_burnin=3, step_size=1e-4)
    every = LLCTracker(sgld, per_chain=True, trace_every=1)
    rows = every(model, 4, data)
    res = every.last_result
    trace = [r for r in rows if r["observable"] == "llc/trace"]
    assert [(r["chain"], r["draw"]) for r in trace] == [(c, d) for c in range(2) for d in range(10)]
    values = np.array([r["value"] for r in trace]).reshape(2, 10)
    np.testing.assert_allclose(values, res.nbeta * (res.trace - res.init_loss), rtol=1e-12)
    np.testing.assert_allclose(values.mean(axis=1), [r["value"] for r in rows if r["observable"] == "llc/chain"], rtol=1e-9)
    thinned = [r for r in LLCTracker(sgld, trace_every=4)(model, 4, data) if r["observable"] == "llc/trace"]
    assert [(r["chain"], r["draw"]) for r in thinned] == [(c, d) for c in range(2) for d in (0, 4, 8)]
    np.testing.assert_allclose([r["value"] for r in thinned], values[:, ::4].ravel(), rtol=1e-12)  # same seed, same chains
    assert not [r for r in LLCTracker(sgld)(model, 4, data) if r["observable"] == "llc/trace"]
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="trace_every"):
            LLCTracker(sgld, trace_every=bad)
def test_llc_tracker_on_the_first_examples_equals_the_estimator_on_that_subset():
    data = make_task(LinearTeacherConfig((2.0, 1.0), d_in=3, d_out=3, n_train=64), seed=0)
    model = build_model(DeepLinearConfig(3, 4, 3, init_std=0.3), seed=0)
    sgld = SGLDConfig(n_chains=2, n_draws=20, n_burnin=5, step_size=1e-4, nbeta=500.0)  # nβ > n = 16: a warning
    with pytest.warns(LLCWarning, match="^step 5: .*exceeds n = 16"):  # the tracker's warning names the checkpoint
        rows = LLCTracker(sgld, seed=3, max_examples=16)(model, 5, data)
    direct = estimate_llc(model, data.loss_fn, Split(data.train.x[:16], data.train.y[:16]), sgld, seed=derive_seed(3, "llc", 5))
    assert rows[0]["value"] == pytest.approx(direct.mean, rel=1e-9) and rows[1]["value"] == pytest.approx(direct.std, rel=1e-9)
    whole = LLCTracker(sgld, seed=3)(model, 5, data)[0]["value"]
    assert abs(whole - direct.mean) > 1e-6  # the whole training split gives another estimate
    quiet = LLCTracker(sgld, seed=3, max_examples=16, warn=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert quiet(model, 5, data)[0]["value"] == pytest.approx(direct.mean, rel=1e-9)
    assert any("exceeds n = 16" in m for m in quiet.last_result.warnings)
    with pytest.raises(ValueError, match="max_examples must be at least 2"):
        LLCTracker(sgld, max_examples=1)


# ---------------------------------------------------------------- Aoyagi


def _lam(m, n, h, r):
    return rrr_learning_coefficient(M=m, N=n, H=h, r=r)


def _exact(m, n, h, r):
    return rrr_learning_coefficient_exact(M=m, N=n, H=h, r=r)


def _branch(m, n, h, r):
    return rrr_branch(M=m, N=n, H=h, r=r)


SHAPES = list(itertools.product(range(1, 6), range(1, 6), range(1, 7), range(0, 6)))
VALID = [(m, n, h, r) for m, n, h, r in SHAPES if r <= min(h, m, n)]


def test_aoyagi_regular_when_teacher_rank_equals_width():
    for m, n, h, r in VALID:
        if r == h:
            assert _lam(m, n, h, r) == pytest.approx((h * (m + n) - h * h) / 2), (m, n, h, r)


def test_aoyagi_saturates_at_all_matrices_for_wide_hidden_layers():
    for m, n in itertools.product(range(1, 5), repeat=2):
        for h in range(m + n + 1, m + n + 4):
            for r in range(0, min(m, n) + 1):
                assert _lam(m, n, h, r) == m * n / 2


def test_aoyagi_symmetry_bounds_and_monotonicity():
    for m, n, h, r in VALID:
        lam = _exact(m, n, h, r)
        assert lam == _exact(n, m, h, r)  # transposing the problem
        assert 0 <= lam <= h * (m + n) / 2  # never above the regular d/2
        assert lam <= m * n / 2 + 1e-12
        if r < min(h, m, n):
            assert _exact(m, n, h, r + 1) >= lam  # a richer teacher is less degenerate
        if h + 1 <= 6:
            assert _exact(m, n, h + 1, r) >= lam


def test_aoyagi_branches_are_covered_and_continuous_across_boundaries():
    seen = {_branch(*s) for s in VALID}
    assert seen == set(BRANCHES)
    # on each boundary of the central region the sum M+H+N+r is even and the
    # central formula meets the neighbouring branch's formula
    hits = 0
    for m, n, h, r in VALID:
        central = _exact(m, n, h, r)
        if m + h == n + r:
            assert central == Fraction(h * m - h * r + n * r, 2)
            hits += 1
        if n + h == m + r:
            assert central == Fraction(h * n - h * r + m * r, 2)
            hits += 1
        if m + n == h + r:
            assert central == Fraction(m * n, 2)
            hits += 1
    assert hits > 20


def test_aoyagi_known_values():
    # hand-computed from the formula's branches
    assert _lam(4, 4, 3, 1) == 6.0  # central, M+H+N+r even: (2·4·8 − 0 − 16)/8
    assert _lam(4, 4, 2, 1) == 5.0  # central, odd: (48 − 9 + 1)/8
    assert _lam(2, 6, 2, 1) == 4.0  # M+H<N+r: (4 − 2 + 6)/2
    assert _lam(6, 2, 2, 1) == 4.0  # N+H<M+r
    assert _lam(2, 2, 4, 1) == 2.0  # M+N<H+r: MN/2
    assert _lam(3, 3, 3, 0) == 3.5  # central odd, zero teacher
    assert _lam(1, 1, 1, 0) == 0.5  # y = b·a·x at the origin: λ = 1/2
    with pytest.raises(ValueError):
        _lam(3, 3, 2, 3)  # teacher rank above the width
    with pytest.raises(ValueError):
        _lam(0, 3, 2, 0)


# ---------------------------------------------------------------- devinterp


@pytest.mark.slow
@pytest.mark.skipif(not devinterp_available(), reason="devinterp (the 'reference' extra) is not installed")
def test_agrees_with_devinterp_within_the_spread_of_the_chains():
    data = make_task(LinearTeacherConfig((1.0,), d_in=4, d_out=4, n_train=1000), seed=0)
    net = build_model(DeepLinearConfig(4, 3, 4), seed=0)
    set_balanced(net, data.info["U"], data.info["S"], data.info["V"])
    kw = dict(n_chains=8, n_draws=1000, step_size=5e-4, gamma=5.0, nbeta=default_nbeta(1000))
    ours = estimate_llc(net, "half_sse", data.train, SGLDConfig(n_burnin=0, **kw), seed=0)
    ref = devinterp_llc(net, "half_sse", data.train, seed=0, **kw)
    spread = max(ours.std, ref.std)
    assert abs(ours.mean - ref.mean) <= spread, (ours.mean, ours.std, ref.mean, ref.std)


def test_aoyagi_sizes_are_passed_by_name_so_the_published_order_cannot_swap_them():
    # Aoyagi & Watanabe write (M, H, N, r); a positional call in that order would read H as N
    assert rrr_learning_coefficient(M=2, H=4, N=6, r=1) == rrr_learning_coefficient(M=2, N=6, H=4, r=1) == 5.0  # M+H<N+r
    assert rrr_learning_coefficient(M=2, N=4, H=6, r=1) == 4.0  # the swapped shape is a different model
    for fn in (rrr_learning_coefficient, rrr_learning_coefficient_exact, rrr_branch):
        with pytest.raises(TypeError, match="positional"):
            fn(2, 4, 6, 1)


def test_reported_std_is_the_sample_std_over_chains():
    """``LLCResult.std`` is the sample standard deviation (ddof=1) of the per-chain
    estimates, not the population one (smaller by √((c-1)/c): 0.82 at 3 chains)."""
    import statistics

    net, split = _regression(200, d_in=3, d_out=2)
    res = estimate_llc(net, "half_sse", split, SGLDConfig(n_chains=3, n_draws=40, n_burnin=10, step_size=1e-3, gamma=10.0), seed=0)
    per_chain = [float(v) for v in res.per_chain]
    assert len(per_chain) == 3 and len(set(per_chain)) == 3
    assert res.std == pytest.approx(statistics.stdev(per_chain), rel=1e-9)
    assert res.std > 1.2 * statistics.pstdev(per_chain)  # √(3/2) = 1.22 above the population std


def test_a_finite_chain_whose_late_loss_sits_far_above_the_start_is_flagged():
    """The rule: a chain diverged when non-finite or when the mean of the second half of its
    trace exceeds L_n(w*) by more than 2·d/nβ (plus a 1e-6 relative allowance)."""
    from bridge.estimators.llc import _chain_divergence

    d, nbeta, init = 15, 40.0, 0.7
    unit = d / nbeta  # 0.375
    early = np.full(10, init)  # the first half is ignored
    trace = np.stack([
        np.concatenate([early, np.full(10, init + 3.0 * unit)]),  # excess 3·d/nβ > 2·d/nβ: diverged
        np.concatenate([early, np.full(10, init + 0.5 * unit)]),  # excess d/(2nβ): the expected size, kept
        np.concatenate([np.full(10, init + 100.0), np.full(10, init + 1.9 * unit)]),  # hot start only: kept
        np.concatenate([early, np.full(10, init + 2.1 * unit)]),  # just above the limit: diverged
        np.concatenate([early, np.full(9, init), [np.nan]]),  # non-finite: diverged
    ])
    np.testing.assert_array_equal(_chain_divergence(trace, init, nbeta, d), [True, False, False, True, True])

    # and estimate_llc flags a finite chain that is too hot: noise_level 3 samples at 9× the
    # temperature, an excess near 9·d/(2nβ) = 7.2 against a limit 2·d/nβ = 3.2; noise_level 1 sits near 0.8
    net, split = _regression(200, d_in=3, d_out=2)
    results = {}
    for level in (1.0, 3.0):
        cfg = SGLDConfig(n_chains=2, n_draws=40, n_burnin=0, step_size=0.05, gamma=0.0, nbeta=5.0, noise_level=level)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LLCWarning)
            results[level] = estimate_llc(net, "half_sse", split, cfg, seed=0)
    cold, hot = results[1.0], results[3.0]
    assert np.isfinite(hot.trace).all() and hot.n_params == 8
    hot_excess = hot.trace[:, 20:].mean(axis=1) - hot.init_loss
    assert ((hot_excess > 4.0) & (hot_excess < 12.0)).all(), hot_excess
    assert hot.diverged.all() and any("2 of 2 chains diverged" in w for w in hot.warnings)
    assert not cold.diverged.any() and not any("diverged" in w for w in cold.warnings)


@pytest.mark.parametrize(("call", "message"), [
    (lambda: rrr_learning_coefficient(M=True, N=4, H=2, r=1), "M must be a positive integer, got True"),
    (lambda: rrr_branch(M=4, N=4, H=2, r=False), r"teacher rank r must be an integer in \[0, min\(H, M, N\)\] = \[0, 2\], got False"),
])
def test_aoyagi_refuses_a_bool_for_a_size(call, message):
    with pytest.raises(ValueError, match=message):
        call()
