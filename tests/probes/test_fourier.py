"""Fourier probes: basis, norms against an FFT reference, key frequencies, restricted/excluded loss against closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from probes.fourier import (
    cluster_neurons,
    fourier_basis,
    frequency_norms,
    gini,
    key_frequencies,
    neuron_frequency_fve,
    top_share,
)
from probes.restricted_loss import excluded_logits, excluded_loss, logit_fve, restricted_logits, restricted_loss, sum_directions


@pytest.mark.parametrize("p", [3, 7, 59, 113])
def test_basis_is_orthonormal(p):
    b = fourier_basis(p)
    torch.testing.assert_close(b @ b.T, torch.eye(p, dtype=b.dtype), atol=1e-10, rtol=0)
    torch.testing.assert_close(b.T @ b, torch.eye(p, dtype=b.dtype), atol=1e-10, rtol=0)


def test_basis_rejects_even_p():
    with pytest.raises(ValueError, match="odd p"):
        fourier_basis(8)


def test_frequency_norms_match_fft():
    g = torch.Generator().manual_seed(0)
    p, d = 31, 5
    x = torch.randn(p, d, generator=g, dtype=torch.float64)
    spectrum = np.fft.fft(x.numpy(), axis=0)
    expected = np.sqrt((2.0 / p) * (np.abs(spectrum[1 : (p - 1) // 2 + 1]) ** 2).sum(1))
    norms = frequency_norms(x)
    np.testing.assert_allclose(norms[1:].numpy(), expected, rtol=1e-10)
    assert norms[0].item() == pytest.approx(np.linalg.norm(spectrum[0].real) / math.sqrt(p), rel=1e-10)
    # Parseval: the per-frequency norms carry the whole squared norm.
    assert float((norms**2).sum()) == pytest.approx(float((x**2).sum()), rel=1e-10)


def test_key_frequencies_recovered_from_planted_embedding():
    g = torch.Generator().manual_seed(1)
    p, d = 59, 64
    basis = fourier_basis(p)
    planted = {14: 5.0, 6: 4.0, 23: 3.0, 2: 2.5}
    w = torch.zeros(p, d, dtype=torch.float64)
    for k, size in planted.items():
        coef = torch.randn(2, d, generator=g, dtype=torch.float64)
        coef *= size / coef.norm()
        w += basis[2 * k - 1][:, None] * coef[0] + basis[2 * k][:, None] * coef[1]
    w += 0.01 * torch.randn(p, d, generator=g, dtype=torch.float64)  # noise: < 1% of the squared norm
    norms = frequency_norms(w)
    assert sorted(key_frequencies(norms, mass=0.95)) == sorted(planted)
    assert key_frequencies(norms, mass=0.95) == sorted(planted, key=lambda k: -planted[k])
    assert top_share(norms, 4) > 0.97
    clean = np.zeros(29)
    for k, size in planted.items():
        clean[k - 1] = size
    reference = np.abs(clean[:, None] - clean[None, :]).sum() / (2 * 29 * clean.sum())
    assert gini(torch.tensor(clean)) == pytest.approx(reference, rel=1e-12)
    assert 0.6 < gini(norms[1:]) < reference  # the noise floor lowers it
    for k, size in planted.items():
        assert norms[k].item() == pytest.approx(size, rel=0.05)


def test_gini_closed_forms():
    assert gini(torch.ones(10)) == pytest.approx(0.0, abs=1e-12)
    assert gini(torch.tensor([0.0] * 9 + [3.0])) == pytest.approx(0.9)
    assert gini(torch.tensor([1.0, 2.0, 3.0])) == pytest.approx(2 / 9)
    with pytest.raises(ValueError):
        gini(torch.tensor([-1.0, 1.0]))


def test_neuron_clusters_on_planted_neurons():
    p = 13
    a, b = torch.meshgrid(torch.arange(p, dtype=torch.float64), torch.arange(p, dtype=torch.float64), indexing="ij")
    w = 2 * math.pi / p
    acts = torch.stack(
        [
            torch.cos(w * 3 * (a + b)),  # frequency 3 only
            torch.cos(w * 5 * a) + torch.sin(w * 5 * b),  # frequency 5 only
            torch.cos(w * 2 * a) + torch.cos(w * 4 * b),  # half 2, half 4
        ],
        dim=-1,
    )
    fve = neuron_frequency_fve(acts)
    torch.testing.assert_close(fve[3, 0], torch.tensor(1.0, dtype=torch.float64))
    torch.testing.assert_close(fve[5, 1], torch.tensor(1.0, dtype=torch.float64))
    torch.testing.assert_close(fve[[2, 4], 2], torch.tensor([0.5, 0.5], dtype=torch.float64))
    freq, best = cluster_neurons(fve, threshold=0.6)
    assert freq.tolist() == [3, 5, -1]


def _grid(p):
    a, b, c = torch.meshgrid(*(torch.arange(p, dtype=torch.float64),) * 3, indexing="ij")
    return a.reshape(p * p, p), b.reshape(p * p, p), c.reshape(p * p, p)


def test_restricted_and_excluded_loss_match_closed_forms():
    p = 23
    a, b, c = _grid(p)
    w = 2 * math.pi / p
    key = {4: 2.0, 9: 1.5}
    other_k, gamma = 7, 1.2
    key_table = sum(beta * torch.cos(w * k * (a + b - c)) for k, beta in key.items())
    a_only = 0.8 * torch.cos(w * 2 * a) * torch.sin(w * 5 * c)
    other = gamma * torch.cos(w * other_k * (a + b - c)) + a_only
    logits = key_table + other
    torch.testing.assert_close(restricted_logits(logits, list(key)), key_table, atol=1e-9, rtol=0)
    torch.testing.assert_close(excluded_logits(logits, list(key)), other, atol=1e-9, rtol=0)

    labels = ((a[:, 0] + b[:, 0]) % p).long()
    index = torch.arange(0, p * p, 3)
    j = torch.arange(p, dtype=torch.float64)
    # -log softmax at the right answer of Σ β_k cos(w_k(a+b-c)) is the same for every pair:
    closed = math.log(float(torch.exp(sum(beta * torch.cos(w * k * j) for k, beta in key.items())).sum())) - sum(key.values())
    assert restricted_loss(logits, labels, index, list(key)) == pytest.approx(closed, rel=1e-9)
    direct = F.cross_entropy(other[index], labels[index]).item()
    assert excluded_loss(logits, labels, index, list(key)) == pytest.approx(direct, rel=1e-9)
    # Fraction of variance: energies β²/2 per cos(a+b-c) term, δ²/4 for the a-only term.
    total = sum(beta**2 / 2 for beta in key.values()) + gamma**2 / 2 + 0.8**2 / 4
    assert logit_fve(logits, list(key)) == pytest.approx(sum(beta**2 / 2 for beta in key.values()) / total, rel=1e-9)


def test_subtraction_directions_and_bad_input():
    q = sum_directions(11, [1, 2, 5], op="-")
    torch.testing.assert_close(q.T @ q, torch.eye(6, dtype=q.dtype), atol=1e-10, rtol=0)
    with pytest.raises(ValueError, match="op"):
        sum_directions(11, [1], op="*")
    with pytest.raises(ValueError, match="frequencies"):
        sum_directions(11, [6])
    with pytest.raises(ValueError, match="p\\*p rows"):
        restricted_logits(torch.zeros(10, 3), [1])


def test_template_loss_components_add_up_to_the_mse():
    from probes.restricted_loss import template_loss_components

    p = 11
    a, b, c = _grid(p)
    w = 2 * math.pi / p
    template = {3: 1.0, 1: 0.5}
    target = sum(m * torch.cos(w * k * (a + b - c)) for k, m in template.items())
    g = torch.Generator().manual_seed(0)
    outputs = 0.7 * target + 0.1 * torch.randn(p * p, p, generator=g, dtype=torch.float64)
    parts = template_loss_components(outputs, template)
    in_span = sum(
        (outputs * f).sum() / (f * f).sum() * f for k in template for f in (torch.cos(w * k * (a + b - c)), torch.sin(w * k * (a + b - c)))
    )
    rest = float(((outputs - in_span) ** 2).mean())
    assert sum(parts.values()) + rest == pytest.approx(float(((outputs - target) ** 2).mean()), rel=1e-10)
    assert parts[3] == pytest.approx(0.5 * 0.3**2, abs=2e-3) and parts[1] == pytest.approx(0.5 * 0.15**2, abs=2e-3)


@pytest.mark.parametrize("op", ["+", "-"])
def test_logit_frequency_norms_split_a_table_of_a_plus_minus_b_by_parseval(op):
    # A table that depends on (a ± b) mod p only lies in the span of the (a, b)-mean and the
    # (a ± b) directions of every frequency, which are orthogonal: the squared norms add up to ‖L‖².
    from probes.restricted_loss import logit_frequency_norms

    p, out = 11, 4
    a, b, _ = _grid(p)
    s = ((a[:, 0] + b[:, 0]) if op == "+" else (a[:, 0] - b[:, 0])) % p
    f = torch.randn(p, out, generator=torch.Generator().manual_seed(3), dtype=torch.float64) + 2.0
    logits = f[s.long()]
    norms = logit_frequency_norms(logits, op)
    assert float((norms**2).sum()) == pytest.approx(float((logits**2).sum()), rel=1e-10)
    # entry 0: the (a, b)-mean part, one row per pair, so its norm is p · ‖mean over pairs‖
    assert float(norms[0]) == pytest.approx(p * float(f.mean(0).norm()), rel=1e-10)


def test_key_frequencies_stop_when_the_mass_is_reached_exactly():
    norms = torch.tensor([5.0, 3.0, 4.0, 0.0, 0.0], dtype=torch.float64)  # squared shares 16/25 and 9/25
    assert key_frequencies(norms, mass=1.0) == [2, 1]  # frequencies with no norm are never key
    assert key_frequencies(norms, mass=0.64) == [2]  # 16/25 = 0.64 is enough on its own


def test_a_neuron_exactly_at_the_threshold_joins_its_frequency():
    fve = torch.tensor([[0.0, 0.0], [0.5, 0.25], [0.25, 0.375]], dtype=torch.float64)
    freq, best = cluster_neurons(fve, threshold=0.5)
    assert freq.tolist() == [1, -1]
    assert best.tolist() == [0.5, 0.375]


def test_neuron_fve_ignores_a_neuron_s_constant_offset():
    # A ReLU neuron is never centred: its mean over (a, b) is the const-const term, which is no frequency's share.
    p = 11
    a, b = torch.meshgrid(torch.arange(p, dtype=torch.float64), torch.arange(p, dtype=torch.float64), indexing="ij")
    w = 2 * math.pi / p
    acts = torch.stack([4.0 + torch.cos(w * 3 * (a + b)), 2.0 + 2.0 * torch.cos(w * 2 * a) + torch.cos(w * 4 * b)], dim=-1)
    fve = neuron_frequency_fve(acts)
    expected = torch.zeros(6, 2, dtype=torch.float64)
    expected[3, 0], expected[2, 1], expected[4, 1] = 1.0, 0.8, 0.2  # shares of the variance: 2² and 1² out of 5
    torch.testing.assert_close(fve, expected, atol=1e-12, rtol=0)


def test_key_frequencies_refuse_a_mass_outside_the_unit_interval():
    norms = torch.tensor([1.0, 3.0, 4.0])
    for mass in (0.0, -0.5, 1.5):
        with pytest.raises(ValueError, match=rf"mass must be in \(0, 1\], got {mass}"):
            key_frequencies(norms, mass=mass)


def test_logit_fve_ignores_a_constant_per_pair():
    # Softmax over c ignores anything that depends on (a, b) alone; so does the variance explained.
    p = 11
    a, b, c = _grid(p)
    w = 2 * math.pi / p
    table = 2.0 * torch.cos(w * 3 * (a + b - c)) + torch.cos(w * 5 * (a + b - c))
    shifted = table + 3.0 * torch.cos(w * 2 * a) + 1.5
    assert logit_fve(table, [3]) == pytest.approx(0.8, rel=1e-9)  # 2² / (2² + 1²)
    assert logit_fve(shifted, [3]) == pytest.approx(0.8, rel=1e-9)


def test_restricted_loss_probes_refuse_repeated_frequencies_and_tables_of_the_wrong_width():
    from probes.restricted_loss import template_loss_components

    p = 7
    a, b, c = _grid(p)
    table = torch.cos(2 * math.pi * (a + b - c) / p)
    for call in (lambda: sum_directions(p, [2, 2]), lambda: restricted_logits(table, [1, 1]), lambda: logit_fve(table, [3, 3])):
        with pytest.raises(ValueError, match=r"distinct integers in 1\.\.3, got \[\d, \d\]"):
            call()
    with pytest.raises(ValueError, match=r"one output per residue \(7\), got 8"):
        logit_fve(torch.zeros(p * p, p + 1), [1])
    with pytest.raises(ValueError, match=r"one output per residue \(7\), got 8"):
        template_loss_components(torch.zeros(p * p, p + 1), {1: 1.0})


@pytest.mark.parametrize("template", [{0: 1.0}, {4: 1.0}, {1: 1.0, 8: 0.5}])
def test_template_loss_components_refuse_frequencies_that_are_not_one_of_the_basis(template):
    # p = 7: frequency 4 is frequency 3 seen from the other side (cos(2π·4x/7) = cos(2π·3x/7)),
    # and 8 is 1 again; 0 is the constant. Each used to give a number without complaint.
    from probes.restricted_loss import template_loss_components

    p = 7
    a, b, c = _grid(p)
    outputs = torch.cos(2 * math.pi * (a + b - c) / p)
    with pytest.raises(ValueError, match=r"frequencies must be distinct integers in 1\.\.3"):
        template_loss_components(outputs, template)


def test_restricted_and_excluded_loss_refuse_an_empty_or_out_of_range_index_and_labels_of_another_length():
    p = 5
    a, b, c = _grid(p)
    table = 10 * torch.cos(2 * math.pi * (a + b - c) / p)
    labels = ((a[:, 0] + b[:, 0]) % p).long()
    for loss in (restricted_loss, excluded_loss):
        with pytest.raises(ValueError, match=r"index must be a non-empty 1-D integer tensor of rows in \[0, 25\)"):
            loss(table, labels, torch.tensor([], dtype=torch.long), [1])  # used to return nan
        with pytest.raises(ValueError, match=r"rows in \[0, 25\), got \[3, 25\]"):
            loss(table, labels, torch.tensor([3, 25]), [1])
        with pytest.raises(ValueError, match=r"labels must have one entry per pair \(25\), got shape \(5,\)"):
            loss(table, labels[:5], torch.arange(5), [1])
        assert loss(table, labels, torch.arange(25), [1]) == pytest.approx(loss(table, labels, torch.arange(25).flip(0), [1]), rel=1e-12)


@pytest.mark.parametrize("n", [3, 7, 12, 20])
def test_key_frequencies_at_the_top_share_of_n_are_the_n_largest(n):
    # The cumulative share and top_share add the squares in different orders; the last bits must not add a frequency.
    norms = torch.rand(30, generator=torch.Generator().manual_seed(15), dtype=torch.float64)
    keys = key_frequencies(norms, mass=top_share(norms, n))
    assert keys == (torch.argsort(norms[1:], descending=True)[:n] + 1).tolist()


def test_norm_summaries_refuse_non_finite_norms():
    # They used to answer anyway: every frequency key, a top share of 0, a Gini of nan.
    nan = float("nan")
    for norms in (torch.tensor([1.0, nan, 2.0, 0.5]), torch.tensor([1.0, 3.0, float("inf")])):
        with pytest.raises(ValueError, match="norms must be finite"):
            key_frequencies(norms)
        with pytest.raises(ValueError, match="norms must be finite"):
            top_share(norms, 1)
        with pytest.raises(ValueError, match="finite non-negative"):
            gini(norms[1:])
    assert key_frequencies(torch.tensor([nan, 3.0, 4.0]), mass=0.5) == [2]  # the constant entry is not read


def test_norm_summaries_refuse_a_table_of_norms_and_a_negative_count():
    # A 2-D table (an embedding passed for its norms) used to fail on an index; n = −1 gave the share of all but the smallest.
    norms = torch.tensor([5.0, 3.0, 4.0, 0.0])
    with pytest.raises(ValueError, match=r"norms must be 1-D.*got shape \(3, 4\)"):
        key_frequencies(torch.ones(3, 4))
    with pytest.raises(ValueError, match=r"norms must be 1-D.*got shape \(3, 4\)"):
        top_share(torch.ones(3, 4), 1)
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match=rf"n must be a non-negative integer, got {bad!r}"):
            top_share(norms, bad)
    assert (top_share(norms, 0), top_share(norms, 1), top_share(norms, 2), top_share(norms, 9)) == (0.0, 0.64, 1.0, 1.0)


def test_neuron_clusters_refuse_activations_without_a_neuron_axis():
    with pytest.raises(ValueError, match=r"acts must be \(p, p, neurons\), got shape \(5, 5\)"):
        neuron_frequency_fve(torch.zeros(5, 5))
