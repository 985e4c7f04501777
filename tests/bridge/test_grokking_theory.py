"""Modular task, AGF and weight-decay theory, and grokking phases: each against an exact or simulated reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bridge.config import ConfigError
from bridge.models import MLPConfig, build_model
from bridge.stages.grokking import grokking_phases, half_fall, phase_ordered
from bridge.tasks import make_task
from bridge.tasks.modular import ModularConfig, modular_table
from bridge.theory import agf
from bridge.theory.weight_decay import decay_prediction, decayed_norm, fit_power_law, time_scale
from probes.fourier import frequency_norms


@pytest.mark.parametrize("op", ["+", "-", "*"])
def test_modular_task_labels_and_split(op):
    data = make_task(ModularConfig(p=13, op=op, train_fraction=0.3), seed=3)
    a, b = data.train.x[:, 0], data.train.x[:, 1]
    expected = {"+": a + b, "-": a - b, "*": a * b}[op] % 13
    assert torch.equal(data.train.y, expected)
    assert len(data.train) == round(0.3 * 169) and len(data.train) + len(data.test) == 169
    assert not set(data.info["train_index"].tolist()) & set(data.info["test_index"].tolist())
    assert torch.equal(data.train.x[:, 2], torch.full_like(a, 13))
    again = make_task(ModularConfig(p=13, op=op, train_fraction=0.3), seed=3)
    assert torch.equal(again.info["train_index"], data.info["train_index"])
    other = make_task(ModularConfig(p=13, op=op, train_fraction=0.3), seed=4)
    assert not torch.equal(other.info["train_index"], data.info["train_index"])


def test_modular_config_errors():
    with pytest.raises(ConfigError, match="prime"):
        ModularConfig(p=15)
    with pytest.raises(ConfigError, match="op"):
        ModularConfig(p=7, op="/")
    with pytest.raises(ConfigError, match="template"):
        ModularConfig(p=7, template_frequencies=(1, 4), template_magnitudes=(1.0, 1.0))


def test_template_target_has_the_requested_fourier_magnitudes():
    p = 17
    data = make_task(ModularConfig(p=p, train_fraction=1.0, encoding="onehot", template_frequencies=(3, 1), template_magnitudes=(1.0, 0.4)), seed=0)
    y = data.train.y.double()  # rows: pairs in order a·p + b (train_fraction 1 keeps all, sorted)
    assert tuple(data.train.x.shape) == (p * p, 2 * p)
    # y(a, b) depends on a + b only; as a function of c it is Σ m_k cos(w_k(a+b-c)).
    norms = frequency_norms(y[:p].T)  # row 0..p-1: a = 0, b = 0..p-1; axis 0 indexes c
    expected = np.zeros(p // 2 + 1)
    expected[3] = 1.0 * math.sqrt(p / 2) * math.sqrt(p)
    expected[1] = 0.4 * math.sqrt(p / 2) * math.sqrt(p)
    np.testing.assert_allclose(norms.numpy(), expected, atol=1e-4)
    assert float((y**2).mean()) == pytest.approx((1.0 + 0.16) / 2, rel=1e-5)
    assert modular_table(5, "+")[4, 3].item() == 2


def test_blowup_time_closed_form():
    # Aligned, balanced start: r' = κ r², blow-up at 1/(κ r0).
    z = np.array([0.2 + 0j, 0.05 + 0j])
    np.testing.assert_allclose(agf.blowup_times(z, z, z, kappa=0.5), 1 / (0.5 * np.abs(z)), rtol=1e-4)
    # Common phase rotation that keeps the utility: û = v̂ = r e^{iθ}, ŵ = r e^{2iθ}.
    u = np.array([0.1 * np.exp(0.7j)])
    np.testing.assert_allclose(agf.blowup_times(u, u, 0.1 * np.exp(1.4j) * np.ones(1), kappa=2.0), [5.0], rtol=1e-4)


def test_dormant_flow_matches_gradient_descent_on_the_network():
    """Early gradient descent on the quadratic net follows AGF's dormant flow for each Fourier component."""
    p, k, lr, steps = 11, 2, 0.5, 400
    mags = {k: 1.0, 4: 0.6}
    cfg = ModularConfig(p=p, train_fraction=1.0, encoding="onehot", template_frequencies=tuple(mags), template_magnitudes=tuple(mags.values()))
    data = make_task(cfg, seed=0)
    net = build_model(MLPConfig(d_in=2 * p, d_out=p, widths=(4,), activation="quadratic", bias=False, init_scale=0.05), seed=0)
    w1, w2 = net.layers[0].weight.detach().clone(), net.layers[1].weight.detach().clone()
    state = np.stack([agf.fourier_components(w1[:, :p], k), agf.fourier_components(w1[:, p:], k), agf.fourier_components(w2.T, k)])
    kappa = agf.rate(p, mags[k], lr)
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        data.loss_fn(net(data.train.x), data.train.y).backward()
        opt.step()
        u, v, w = state
        state = state + kappa * np.stack([np.conj(v) * w, np.conj(u) * w, u * v])
    w1, w2 = net.layers[0].weight.detach(), net.layers[1].weight.detach()
    simulated = np.stack([agf.fourier_components(w1[:, :p], k), agf.fourier_components(w1[:, p:], k), agf.fourier_components(w2.T, k)])
    np.testing.assert_allclose(simulated, state, rtol=0, atol=2e-3 * np.abs(state).max())
    assert np.abs(state).max() > 1.5 * np.abs(np.stack([agf.fourier_components(net.layers[0].weight.detach()[:, :p], k)])).min()


def test_agf_predicts_order_timing_and_plateaus_of_a_small_network():
    p, lr = 13, 2.0
    mags = {2: 1.0, 5: 0.7, 1: 0.45}
    cfg = ModularConfig(p=p, train_fraction=1.0, encoding="onehot", template_frequencies=tuple(mags), template_magnitudes=tuple(mags.values()))
    data = make_task(cfg, seed=0)
    net = build_model(MLPConfig(d_in=2 * p, d_out=p, widths=(32,), activation="quadratic", bias=False, init_scale=0.1), seed=1)
    w1 = net.layers[0].weight.detach()
    preds = agf.predict_acquisitions(w1[:, :p], w1[:, p:], net.layers[1].weight.detach(), mags, lr)
    assert [pr.extra["frequency"] for pr in preds] == [2, 5, 1]
    assert [pr.value for pr in preds] == pytest.approx([0.7**2 / 2 + 0.45**2 / 2, 0.45**2 / 2, 0.0])
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    horizon = int(1.4 * preds[-1].step)
    norms, losses = [], []
    for _ in range(horizon):
        opt.zero_grad()
        loss = data.loss_fn(net(data.train.x), data.train.y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        norms.append(frequency_norms(net.layers[0].weight.detach()[:, :p].T).numpy())
    norms = np.array(norms)
    for pr in preds:
        k = pr.extra["frequency"]
        curve = norms[:, k]
        half = np.argmax(curve >= 0.5 * (curve[0] + curve.max()))
        assert half == pytest.approx(pr.step, rel=0.2), f"frequency {k}"
    assert losses[0] == pytest.approx(sum(m * m / 2 for m in mags.values()), rel=1e-3)
    # Just before the last acquisition the loss sits on the plateau left by the others.
    assert losses[int(0.9 * preds[-1].step)] == pytest.approx(preds[-2].value, rel=0.25)
    assert losses[-1] < preds[-2].value / 5


def test_power_law_fit_recovers_exponent_with_calibrated_interval():
    rng = np.random.default_rng(0)
    x = np.repeat(np.geomspace(1e-3, 2e-2, 6), 3)
    covered = 0
    for _ in range(200):
        t = 5.0 * x**-0.8 * np.exp(0.2 * rng.standard_normal(len(x)))
        fit = fit_power_law(x, t)
        covered += fit.ci_low <= -0.8 <= fit.ci_high
    assert 0.9 <= covered / 200 <= 0.99
    with pytest.raises(ValueError, match="at least 3"):
        fit_power_law(np.array([1.0, 2.0]), np.array([1.0, 2.0]))


@pytest.mark.parametrize(("x", "t"), [([1.0, 2.0, 4.0], [1.0, float("nan"), 0.25]), ([1.0, float("inf"), 4.0], [1.0, 0.5, 0.25])])
def test_power_law_fit_refuses_a_value_that_is_not_finite(x, t):
    """A NaN (a sweep point that never grokked) or an infinity is refused by name (a NaN gave a fit whose
    exponent, interval and r² were all NaN, with no error)."""
    with pytest.raises(ValueError) as refused:
        fit_power_law(x, t)
    assert str(refused.value) == f"a power-law fit needs finite x and t, got x={x}, t={t}"


def test_adamw_norm_decay_matches_prediction_when_gradient_vanishes():
    w = torch.nn.Parameter(torch.full((10,), 2.0))
    opt = torch.optim.AdamW([w], lr=0.01, weight_decay=3.0)
    for _ in range(50):
        opt.zero_grad()
        (0.0 * w).sum().backward()
        opt.step()
    expected = decayed_norm(float(torch.full((10,), 2.0).norm()), 0.01, 3.0, np.array([50]))[0]
    assert float(w.detach().norm()) == pytest.approx(expected, rel=1e-5)
    pred = decay_prediction(0, float(torch.full((10,), 2.0).norm()), expected, 0.01, 3.0)
    assert pred.step == pytest.approx(50, rel=1e-9)


def test_grokking_phases_with_uncertainties():
    t = np.arange(0, 2000, 20.0)
    acc = np.clip(t / 200, 0, 1)
    test_loss = np.interp(t, [0, 100, 800, 1000, 2000], [4.0, 6.0, 5.0, 0.05, 0.01])
    test_acc = np.interp(t, [0, 800, 1000], [0.02, 0.02, 1.0])
    stages = grokking_phases(t, acc, test_loss, test_acc)
    assert phase_ordered(stages)
    assert [round(s.start) for s in stages] == [0, 198, 800]
    assert stages[2].end == pytest.approx(1000, abs=20)
    assert stages[0].end_uncertainty == 20 and stages[2].start_uncertainty == 20
    ev = half_fall(t, test_loss, 198, "drop", "loss/test")
    peak = 6.0 - 100 / 700  # the sampled maximum after step 198 (at step 200)
    low = 0.05 - 0.04 * 980 / 1000  # the last sample (step 1980)
    assert ev.step == pytest.approx(800 + 200 * (5.0 - (peak + low) / 2) / 4.95, abs=1e-6)
    assert grokking_phases(t, np.full_like(t, 0.5), test_loss, test_acc) == []  # never memorised
    assert grokking_phases(t, acc, test_loss, np.full_like(t, 0.04)) == []  # never generalised


@pytest.mark.parametrize(("lr", "weight_decay"), [(1.0, 2.0), (0.5, 2.0), (-0.1, 1.0), (0.1, -1.0), (-0.1, -1.0), (np.nan, 1.0)])
def test_decay_needs_a_per_step_factor_in_0_1(lr, weight_decay):
    """1 − η·λ must lie in (0, 1]: η·λ ≥ 1 gave negative norms (decayed_norm) and a math domain error (decay_prediction)."""
    with pytest.raises(ValueError, match=rf"lr and weight_decay must be non-negative with lr \* weight_decay < 1, got lr={lr}, weight_decay={weight_decay}"):
        decayed_norm(1.0, lr, weight_decay, np.array([1]))
    with pytest.raises(ValueError, match=rf"lr and weight_decay must be positive with lr \* weight_decay < 1, got lr={lr}, weight_decay={weight_decay}"):
        decay_prediction(0, 2.0, 1.0, lr, weight_decay)


def test_decay_without_decay_keeps_the_norm_and_predicts_nothing():
    assert decayed_norm(3.0, 0.0, 1.0, np.array([0, 5])).tolist() == [3.0, 3.0]
    with pytest.raises(ValueError, match="must be positive"):
        decay_prediction(0, 2.0, 1.0, 0.0, 1.0)


@pytest.mark.parametrize("growth", [3.0, 10.0])
def test_blowup_time_of_an_aligned_start_is_exact_when_the_tail_starts_early(growth):
    """û = v̂ = ŵ = r₀ follows r' = κ r², blowing up at 1/(κ r₀), whatever growth hands the rest to the aligned tail 1/(κ r)."""
    z = np.array([0.2 + 0j, 0.05 + 0j])
    np.testing.assert_allclose(agf.blowup_times(z, z, z, kappa=0.5, growth=growth), 1 / (0.5 * np.abs(z)), rtol=1e-6)


def test_acquisition_reports_the_neuron_that_escapes_first():
    """A neuron with three times the others' initial weights escapes first at every frequency; step is its blow-up time."""
    g = torch.Generator().manual_seed(3)
    U, V, W = (0.01 * torch.randn(s, generator=g) for s in [(12, 7), (12, 7), (7, 12)])
    U[5], V[5], W[:, 5] = 3 * U[5], 3 * V[5], 3 * W[:, 5]
    preds = agf.predict_acquisitions(U, V, W, {1: 1.0, 3: 0.6}, lr=1.0)
    assert [p.extra["frequency"] for p in preds] == [1, 3]
    for p in preds:
        k = p.extra["frequency"]
        times = agf.blowup_times(agf.fourier_components(U, k), agf.fourier_components(V, k), agf.fourier_components(W.T, k), agf.rate(7, p.extra["magnitude"], 1.0))
        assert p.extra["neuron"] == int(np.argmin(times)) == 5
        assert p.step == pytest.approx(float(times.min()), rel=1e-12)


@pytest.mark.parametrize("p", [0, 1, 4, 9, 25])
def test_moduli_that_are_not_prime_are_refused(p):
    with pytest.raises(ConfigError, match="must be a prime"):
        ModularConfig(p=p)


def test_the_token_template_target_is_fitted_at_the_last_position_only():
    data = make_task(ModularConfig(p=5, train_fraction=0.6, template_frequencies=(1,), template_magnitudes=(1.0,)), seed=0)
    y = data.train.y
    logits = torch.randn(len(y), 3, 5, generator=torch.Generator().manual_seed(0))
    logits[:, -1] = y
    assert data.loss_fn(logits, y).item() == 0.0  # the first two positions are not read
    logits[:, -1] = y + 0.5
    assert data.loss_fn(logits, y).item() == pytest.approx(0.25)


def _small_layer(p: int = 7):
    g = torch.Generator().manual_seed(0)
    return [0.01 * torch.randn(s, generator=g) for s in [(16, p), (16, p), (p, 16)]]


Z = np.array([0.1 + 0j])


@pytest.mark.parametrize(("call", "message"), [
    (lambda: agf.rate(p=7, magnitude=-1.0, lr=0.49), "magnitude must be positive and finite, got -1.0"), (lambda: agf.rate(p=0, magnitude=1.0, lr=0.49), "p must be a positive integer, got 0"),
    (lambda: agf.rate(p=7, magnitude=1.0, lr=float("nan")), "lr must be positive and finite, got nan"),
    (lambda: agf.plateau_losses({1: 2.0}, [1, 2]), r"order lists frequencies \[2\] that magnitudes does not have \(it has \[1\]\)"),
    (lambda: agf.plateau_losses({1: 2.0, 2: 1.0}, [1, 1]), r"order lists a frequency twice: \[1, 1\]"),
    (lambda: agf.fourier_components(torch.ones(4), 1), r"x must be \(neurons, p\) with p >= 1, got shape \(4,\)"),
    (lambda: agf.blowup_times(Z, Z, Z, kappa=float("nan")), "kappa must be positive and finite, got nan"),
    (lambda: agf.blowup_times(Z, Z, np.array([0.1, 0.2]), kappa=1.0), r"u, v and w must be 1-D of one length, got shapes \(1,\), \(1,\), \(2,\)"),
    (lambda: agf.blowup_times(Z, Z, Z, kappa=1.0, growth=1.0), "growth must be finite and above 1, got 1.0"),
    (lambda: agf.blowup_times(Z, np.array([complex("nan")]), Z, kappa=1.0), "u, v and w must be finite"),
    (lambda: agf.predict_acquisitions(*_small_layer(), {1: -1.0}, lr=1.0), r"magnitudes must be positive and finite, got \{1: -1.0\}"),
    (lambda: agf.predict_acquisitions(*_small_layer(), {1: 1.0}, lr=float("nan")), "lr must be positive and finite, got nan"),
    (lambda: agf.predict_acquisitions(torch.ones(7), torch.ones(7), torch.ones(7, 1), {1: 1.0}, lr=1.0), r"shapes do not fit one quadratic layer: U \(7,\)"),
    (lambda: agf.magnitude_order({1: float("nan"), 2: 1.0}), r"magnitudes must be numbers, got NaN at \{1: nan\}"),
    (lambda: time_scale(float("nan"), 1.0), "lr and weight_decay must be positive and finite, got nan, 1.0"),
    (lambda: time_scale(1e-3, float("inf")), "lr and weight_decay must be positive and finite, got 0.001, inf"),
    (lambda: decayed_norm(10.0, 0.1, 1.0, np.array([2, -1])), r"steps must be finite and non-negative, got \[-1.0\] among them"),
    (lambda: decayed_norm(-1.0, 0.1, 1.0, np.array([1])), "norm0 must be finite and non-negative, got -1.0"),
    (lambda: decay_prediction(float("nan"), 20.0, 10.0, 1e-2, 1.0), "t_start must be finite, got nan"),
    (lambda: decay_prediction(0, float("inf"), 10.0, 1e-2, 1.0), "need finite norm_start > norm_target > 0, got inf, 10.0"),
])
def test_agf_and_weight_decay_refuse_input_outside_their_domain_by_name(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_rank_is_the_order_of_magnitude_even_when_a_weaker_frequency_escapes_first():
    """Frequency 2 (m = 0.9) starts 500 times larger than frequency 1 (m = 1): it escapes first but keeps rank 1."""
    p, a = 7, torch.arange(7.0)
    wave = lambda k, size: size * torch.cos(2 * math.pi * k * a / p)  # noqa: E731
    row = wave(2, 0.05) + wave(1, 1e-4)
    U = V = row.repeat(3, 1)
    W = row.repeat(3, 1).T.contiguous()
    preds = agf.predict_acquisitions(U, V, W, {1: 1.0, 2: 0.9}, lr=1.0)
    assert [(q.extra["frequency"], q.extra["rank"]) for q in preds] == [(2, 1), (1, 0)]


def test_a_frequency_of_half_an_even_modulus_is_refused():
    g = torch.Generator().manual_seed(0)
    U, V, W = (0.01 * torch.randn(s, generator=g) for s in [(4, 8), (4, 8), (8, 4)])
    with pytest.raises(ValueError, match=r"frequencies must be in 1..3, got \[4\]"):
        agf.predict_acquisitions(U, V, W, {4: 1.0}, lr=1.0)
