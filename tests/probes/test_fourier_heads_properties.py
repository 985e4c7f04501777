"""Property tests of the Fourier and attention-pattern probes against slow explicit references: per-frequency norms
against a plain DFT loop (and unchanged by a cyclic shift of the residues), key frequencies as the smallest covering
set, the Gini coefficient against its sorted-sum formula, neuron FVEs against a loop over 2-D basis products, and
previous-token, duplicate-token and induction scores against loops over (sequence, query, key) on random causal
patterns; bad inputs are refused by name."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from probes.fourier import cluster_neurons, frequency_norms, gini, key_frequencies, neuron_frequency_fve, top_share
from probes.heads import pattern_scores, previous_token_by_position

PROPERTY = settings(max_examples=50, deadline=None, database=None)
ODD_P = st.sampled_from([3, 5, 7, 11, 13])


def rng_of(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def dft_norms(x: np.ndarray) -> np.ndarray:
    """Per-frequency norms from a plain DFT loop: entry 0 ``|Σ x|/√p``, entry k ``√(2/p) (Σ_cols |Σ_x x e^{−2πikx/p}|²)^½``."""
    p = x.shape[0]
    cols = x.reshape(p, -1)
    out = []
    for k in range((p - 1) // 2 + 1):
        total = 0.0
        for col in cols.T:
            re = sum(col[t] * math.cos(2 * math.pi * k * t / p) for t in range(p))
            im = sum(col[t] * math.sin(2 * math.pi * k * t / p) for t in range(p))
            total += re * re + im * im
        out.append(math.sqrt(total / p) if k == 0 else math.sqrt(2 * total / p))
    return np.array(out)


@PROPERTY
@given(ODD_P, st.integers(1, 3), st.integers(0, 2**32 - 1), st.integers(0, 12))
def test_frequency_norms_equal_a_plain_dft_loop_and_ignore_a_cyclic_shift_of_the_residues(p, d, seed, shift):
    x = rng_of(seed).normal(size=(p, d))
    norms = frequency_norms(torch.as_tensor(x))
    np.testing.assert_allclose(norms.numpy(), dft_norms(x), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(frequency_norms(torch.as_tensor(np.roll(x, shift, axis=0))).numpy(), norms.numpy(), rtol=1e-9, atol=1e-12)
    assert float((norms**2).sum()) == pytest.approx(float((x**2).sum()), rel=1e-10)


@PROPERTY
@given(st.lists(st.floats(0, 10), min_size=2, max_size=10), st.floats(0.05, 1.0))
def test_key_frequencies_are_the_smallest_set_covering_the_mass_in_decreasing_order(values, mass):
    norms = torch.tensor(values, dtype=torch.float64)
    keys = key_frequencies(norms, mass)
    sq = np.array(values[1:]) ** 2
    if sq.sum() == 0:
        assert keys == []
        return
    share = lambda ks: sq[[k - 1 for k in ks]].sum() / sq.sum()  # noqa: E731
    assert len(set(keys)) == len(keys) and all(1 <= k < len(values) for k in keys)
    assert share(keys) >= mass - 1e-9
    # no smaller set covers the mass: the best set of one fewer is the largest len(keys) − 1 frequencies
    assert np.sort(sq)[::-1][: len(keys) - 1].sum() / sq.sum() < mass + 1e-9
    assert [sq[k - 1] for k in keys] == sorted((sq[k - 1] for k in keys), reverse=True)
    assert top_share(norms, len(keys)) == pytest.approx(share(keys), rel=1e-12, abs=1e-15)


@PROPERTY
@given(st.lists(st.floats(0, 1e6), min_size=1, max_size=12), st.floats(1e-3, 1e3), st.randoms(use_true_random=False))
def test_gini_equals_the_sorted_sum_formula_lies_in_its_range_and_ignores_order_and_scale(values, scale, rnd):
    v = np.array(values)
    n = v.size
    g = gini(torch.as_tensor(v))
    if v.sum() == 0:
        assert g == 0.0
        return
    s = np.sort(v)
    reference = sum((2 * (i + 1) - n - 1) * s[i] for i in range(n)) / (n * v.sum())
    assert g == pytest.approx(reference, rel=1e-9, abs=1e-12)
    assert -1e-12 <= g <= 1 - 1 / n + 1e-12
    shuffled = list(values)
    rnd.shuffle(shuffled)
    assert gini(torch.as_tensor(np.array(shuffled) * scale)) == pytest.approx(g, rel=1e-9, abs=1e-12)


@PROPERTY
@given(st.lists(st.floats(0, 1), min_size=1, max_size=5), st.integers(0, 4), st.sampled_from([-1.0, np.nan, np.inf]))
def test_gini_refuses_negative_or_non_finite_values(values, i, bad):
    v = np.array(values)
    v[i % v.size] = bad
    with pytest.raises(ValueError, match="gini needs a non-empty vector of finite non-negative values"):
        gini(torch.as_tensor(v))


def loop_fve(acts: np.ndarray) -> np.ndarray:
    """FVE by frequency from explicit 2-D coefficients ``Σ_ab B[i, a] B[j, b] acts[a, b]`` (``B`` from cos/sin formulas)."""
    p = acts.shape[0]
    basis = [[1 / math.sqrt(p)] * p]
    for k in range(1, (p - 1) // 2 + 1):
        basis.append([math.sqrt(2 / p) * math.cos(2 * math.pi * k * t / p) for t in range(p)])
        basis.append([math.sqrt(2 / p) * math.sin(2 * math.pi * k * t / p) for t in range(p)])
    coef = np.zeros((p, p, acts.shape[2]))
    for i in range(p):
        for j in range(p):
            for a in range(p):
                for b in range(p):
                    coef[i, j] += basis[i][a] * basis[j][b] * acts[a, b]
    sq = coef**2
    total = sq.sum((0, 1)) - sq[0, 0]
    out = np.zeros(((p - 1) // 2 + 1, acts.shape[2]))
    for k in range(1, (p - 1) // 2 + 1):
        rows = [0, 2 * k - 1, 2 * k]
        out[k] = sum(sq[i, j] for i in rows for j in rows) - sq[0, 0]
    return out / total


@PROPERTY
@given(st.sampled_from([3, 5, 7]), st.integers(1, 3), st.integers(0, 2**32 - 1))
def test_neuron_fve_equals_a_loop_over_basis_products_and_its_shares_add_up_to_at_most_one(p, neurons, seed):
    rng = rng_of(seed)
    acts = rng.normal(size=(p, p, neurons)) + rng.normal(size=neurons)
    fve = neuron_frequency_fve(torch.as_tensor(acts)).numpy()
    np.testing.assert_allclose(fve, loop_fve(acts), rtol=1e-9, atol=1e-12)
    assert (fve >= 0).all() and (fve.sum(0) <= 1 + 1e-12).all() and (fve[0] == 0).all()
    # a function of (a + b) mod p has no cross-frequency terms: its shares add up to one
    table = rng.normal(size=(p, neurons))
    a, b = np.meshgrid(np.arange(p), np.arange(p), indexing="ij")
    np.testing.assert_allclose(neuron_frequency_fve(torch.as_tensor(table[(a + b) % p])).numpy().sum(0), 1.0, atol=1e-10)


@PROPERTY
@given(ODD_P, st.integers(1, 3), st.sampled_from([float("nan"), float("inf"), -float("inf")]), st.data())
def test_frequency_norms_neuron_fve_and_clusters_refuse_non_finite_input_by_name(p, width, bad, data):
    x = torch.zeros(p, width, dtype=torch.float64)
    x[data.draw(st.integers(0, p - 1)), data.draw(st.integers(0, width - 1))] = bad
    with pytest.raises(ValueError, match=r"x must be finite, got 1 NaN or infinite entries"):
        frequency_norms(x)
    acts = torch.ones(p, p, width)
    acts[data.draw(st.integers(0, p - 1)), data.draw(st.integers(0, p - 1)), data.draw(st.integers(0, width - 1))] = bad
    with pytest.raises(ValueError, match=r"acts must be finite, got 1 NaN or infinite entries"):
        neuron_frequency_fve(acts)
    fve = torch.zeros((p - 1) // 2 + 1, width, dtype=torch.float64)
    fve[data.draw(st.integers(1, (p - 1) // 2)), data.draw(st.integers(0, width - 1))] = bad
    with pytest.raises(ValueError, match=r"fve must be finite"):
        cluster_neurons(fve)


@PROPERTY
@given(st.sampled_from([3, 5, 7]), st.integers(1, 4), st.floats(0.05, 0.95), st.integers(0, 2**32 - 1))
def test_cluster_neurons_pick_each_neurons_largest_share_and_mark_those_below_the_threshold(p, neurons, threshold, seed):
    rng = rng_of(seed)
    fve = rng.dirichlet(np.ones((p - 1) // 2 + 1), size=neurons).T
    fve[0] = np.nan  # row 0 (the constant) is not read
    freq, best = cluster_neurons(torch.as_tensor(fve), threshold)
    for n in range(neurons):
        shares = fve[1:, n]
        assert best[n].item() == shares.max()
        assert freq[n].item() == (int(shares.argmax()) + 1 if shares.max() >= threshold else -1)


@st.composite
def patterns(draw):
    """Random causal attention patterns ``(batch, head, n, n)`` with tokens from a small vocabulary (many repeats)."""
    batch, heads, n = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 8))
    rng = rng_of(draw(st.integers(0, 2**32 - 1)))
    logits = rng.normal(size=(batch, heads, n, n)) * draw(st.floats(0, 5))
    logits[..., np.triu_indices(n, 1)[0], np.triu_indices(n, 1)[1]] = -np.inf
    pattern = np.exp(logits - logits.max(-1, keepdims=True))
    pattern /= pattern.sum(-1, keepdims=True)
    tokens = rng.integers(0, draw(st.integers(1, 4)), size=(batch, n))
    return torch.as_tensor(pattern, dtype=torch.float32), torch.as_tensor(tokens)


def loop_scores(pattern: torch.Tensor, tokens: torch.Tensor) -> dict[str, np.ndarray]:
    p, t = pattern.double().numpy(), tokens.numpy()
    batch, heads, n, _ = p.shape
    out = {}
    for name in ("previous_token", "duplicate_token", "induction"):
        mass, count = np.zeros(heads), 0
        for s in range(batch):
            for q in range(n):
                earlier = [k for k in range(q) if t[s, k] == t[s, q]]
                if name == "previous_token":
                    if q == 0:
                        continue
                    keys = [q - 1]
                elif not earlier:
                    continue
                else:
                    keys = earlier if name == "duplicate_token" else [k + 1 for k in earlier]
                mass += p[s, :, q, keys].sum(0) if keys else 0.0
                count += 1
        out[name] = mass / max(count, 1)
    return out


@PROPERTY
@given(patterns())
def test_pattern_scores_equal_loops_over_sequences_queries_and_keys_and_are_fractions(case):
    pattern, tokens = case
    scores = pattern_scores(pattern, tokens)
    for name, reference in loop_scores(pattern, tokens).items():
        np.testing.assert_allclose(scores[name].numpy(), reference, rtol=1e-5, atol=1e-6, err_msg=name)
        assert ((scores[name] >= -1e-6) & (scores[name] <= 1 + 1e-6)).all(), name
    if tokens.shape[1] > 1:
        by_position = previous_token_by_position(pattern)
        torch.testing.assert_close(by_position[:, 1:].mean(1), scores["previous_token"], rtol=1e-5, atol=1e-6)


@PROPERTY
@given(st.integers(2, 8), st.integers(1, 3), st.integers(1, 3))
def test_a_hand_built_previous_token_head_scores_one_and_an_attend_to_self_head_zero(n, batch, block):
    tokens = torch.arange(n).remainder(block).expand(batch, n)  # blocks repeated: earlier copies exist from q = block on
    previous = torch.eye(n).roll(-1, dims=1).tril()
    previous[0, 0] = 1.0
    pattern = torch.stack([previous, torch.eye(n)])[None].expand(batch, 2, n, n)
    scores = pattern_scores(pattern, tokens)
    assert scores["previous_token"].tolist() == [1.0, 0.0]
    copies = n > block  # some query has an earlier copy; without one both scores are 0
    assert scores["duplicate_token"].tolist() == ([1.0, 0.0] if copies and block == 1 else [0.0, 0.0])
    # the keys after the earlier copies of query q are q − block + 1 and, for block 1, every key from 1 to q: the
    # previous key q − 1 is among them for block 2, and for block 1 at every query but q = 1; the query itself for block 1
    expected = {1: [(n - 2) / (n - 1), 1.0], 2: [1.0, 0.0], 3: [0.0, 0.0]}[block] if copies else [0.0, 0.0]
    assert scores["induction"].tolist() == pytest.approx(expected, rel=1e-6, abs=0)


@PROPERTY
@given(patterns(), st.data())
def test_a_head_whose_pattern_is_nan_gets_nan_scores_and_the_other_heads_keep_theirs(case, data):
    """A diverging run's trackers still read its patterns: the scores say NaN rather than refuse."""
    pattern, tokens = case
    h = pattern.shape[1]
    head = data.draw(st.integers(0, h - 1))
    nan = pattern.clone()
    nan[:, head] = float("nan")
    clean, scores = pattern_scores(pattern, tokens), pattern_scores(nan, tokens)
    zeros, ones = pattern_scores(torch.zeros_like(pattern), tokens), pattern_scores(torch.ones_like(pattern), tokens)
    for name, values in scores.items():
        unread = bool(zeros[name][head] == ones[name][head])  # a score no entry enters (no position to read)
        assert torch.isnan(values[head]) or (unread and values[head] == zeros[name][head]), name
        others = [i for i in range(h) if i != head]
        assert torch.equal(values[others], clean[name][others]), name


def test_pattern_scores_refuse_tokens_without_a_batch_axis_and_a_pattern_of_another_length():
    with pytest.raises(ValueError, match=r"tokens must be \(batch, pos\), got shape \(4,\)"):
        pattern_scores(torch.zeros(1, 1, 4, 4), torch.arange(4))
    with pytest.raises(ValueError, match=r"pattern must be \(batch, head, 4, 4\) for tokens \(1, 4\), got \(1, 1, 3, 3\)"):
        pattern_scores(torch.zeros(1, 1, 3, 3), torch.arange(4)[None])
