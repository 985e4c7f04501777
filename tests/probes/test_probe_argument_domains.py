"""Arguments outside a probe's meaning are refused by name before any work (a table given to gini, a 1-D FVE or a
threshold that is no share given to cluster_neurons, float token ids given to pattern_scores, a vector given to
composition_score); float64 attention patterns are scored in float64; a composition score does not change with
the scale of its matrices and is NaN only for a zero matrix."""

import math

import pytest
import torch

from probes.fourier import cluster_neurons, gini
from probes.heads import composition_score, pattern_scores

FVE = torch.tensor([[0.0, 0.0, 0.0], [0.9, 0.2, 1.0], [0.05, 0.3, 0.0]], dtype=torch.float64)


def test_gini_refuses_a_table_and_reads_the_vector():
    with pytest.raises(ValueError, match=r"gini needs a 1-D vector x, got x of shape \(2, 2\)"):
        gini(torch.tensor([[1.0, 0.0], [0.0, 0.0]]))
    with pytest.raises(ValueError, match=r"got x of shape \(\)"):
        gini(torch.tensor(3.0))
    assert gini(torch.tensor([1.0, 0.0, 0.0, 0.0])) == pytest.approx(0.75, abs=1e-15)
    assert gini(torch.tensor([1.0, 3.0])) == pytest.approx(0.25, abs=1e-15)  # |1 − 3| · 2 / (2 · 2 · 4)


@pytest.mark.parametrize("fve", [torch.tensor([0.0, 0.9, 0.05]), torch.zeros(1, 3), torch.zeros(2, 2, 2)])
def test_cluster_neurons_refuses_an_fve_that_is_not_a_frequency_by_neuron_table(fve):
    with pytest.raises(ValueError, match=rf"fve must be \(n_frequencies \+ 1, neurons\) with at least one frequency row, got fve of shape {re_shape(fve)}"):
        cluster_neurons(fve)


def re_shape(t: torch.Tensor) -> str:
    return str(tuple(t.shape)).replace("(", r"\(").replace(")", r"\)")


@pytest.mark.parametrize("threshold", [1.5, 1.0000001, -0.1, math.nan, math.inf, True, "0.5"])
def test_cluster_neurons_refuses_a_threshold_that_is_no_share(threshold):
    with pytest.raises(ValueError, match=r"threshold must be a number in \[0, 1\] \(a share of variance\), got"):
        cluster_neurons(FVE, threshold=threshold)


def test_cluster_neurons_at_the_ends_of_the_threshold_range():
    assert cluster_neurons(FVE, threshold=0.0)[0].tolist() == [1, 2, 1]  # every neuron to its best frequency
    assert cluster_neurons(FVE, threshold=1.0)[0].tolist() == [-1, -1, 1]  # only the neuron explained in full
    assert cluster_neurons(FVE, threshold=0.9)[0].tolist() == [1, -1, 1]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bool])
def test_pattern_scores_refuse_tokens_that_are_not_integer_ids(dtype):
    pattern = torch.zeros(1, 1, 4, 4)
    with pytest.raises(ValueError, match=rf"tokens must be integer token ids, got dtype {dtype}"):
        pattern_scores(pattern, torch.tensor([[5.2, 6.0, 5.0, 6.0]]).to(dtype))


def test_a_float64_pattern_is_scored_in_float64_against_an_explicit_loop():
    g = torch.Generator().manual_seed(0)
    b, h, n = 3, 2, 40
    logits = torch.randn(b, h, n, n, generator=g, dtype=torch.float64) * 3
    pattern = logits.masked_fill(~torch.ones(n, n, dtype=torch.bool).tril(), -math.inf).softmax(-1)
    tokens = torch.randint(0, 6, (b, n), generator=g)
    scores = pattern_scores(pattern, tokens)
    assert all(v.dtype == torch.float64 for v in scores.values())
    for head in range(h):
        prev, dup, ind, copies = [], [], [], 0
        for s in range(b):
            for q in range(n):
                if q:
                    prev.append(float(pattern[s, head, q, q - 1]))
                earlier = [k for k in range(q) if tokens[s, k] == tokens[s, q]]
                if earlier:
                    copies += 1
                    dup.append(sum(float(pattern[s, head, q, k]) for k in earlier))
                    ind.append(sum(float(pattern[s, head, q, k + 1]) for k in earlier))
        assert copies > 10
        for name, values in (("previous_token", prev), ("duplicate_token", dup), ("induction", ind)):
            assert float(scores[name][head]) == pytest.approx(math.fsum(values) / len(values), rel=1e-13, abs=1e-15)


def test_a_float32_pattern_keeps_float32_scores():
    pattern = torch.eye(4).roll(-1, dims=1).tril()[None, None]
    pattern[..., 0, 0] = 1.0
    scores = pattern_scores(pattern, torch.tensor([[1, 2, 3, 4]]))
    assert scores["previous_token"].dtype == torch.float32 and float(scores["previous_token"][0]) == 1.0


@pytest.mark.parametrize(("dtype", "exponent"), [(torch.float32, -25), (torch.float32, 25), (torch.float32, -40), (torch.float64, -170), (torch.float64, 160)])
def test_a_composition_score_does_not_change_with_the_scale_of_its_matrices(dtype, exponent):
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(2, 4, 4, generator=g, dtype=torch.float64), torch.randn(4, 4, generator=g, dtype=torch.float64)
    expected = torch.linalg.matrix_norm(a @ b) / (torch.linalg.matrix_norm(a) * torch.linalg.matrix_norm(b))
    assert bool(((expected > 0.2) & (expected < 1.0)).all())
    scale = 10.0**exponent
    for left, right in (((a * scale).to(dtype), b.to(dtype)), (a.to(dtype), (b * scale).to(dtype)), ((a * scale).to(dtype), (b * scale).to(dtype))):
        torch.testing.assert_close(composition_score(left, right).double(), expected, rtol=1e-5 if dtype == torch.float32 else 1e-12, atol=0)


def test_a_composition_score_with_a_zero_matrix_is_nan_and_the_others_keep_theirs():
    a = torch.stack([torch.zeros(2, 2), torch.eye(2)])
    score = composition_score(a, torch.eye(2))
    assert math.isnan(score[0]) and float(score[1]) == pytest.approx(1 / math.sqrt(2), rel=1e-6)
    assert math.isnan(composition_score(torch.eye(2), torch.zeros(2, 2)))


@pytest.mark.parametrize(("a", "b"), [(torch.ones(2), torch.ones(2, 2)), (torch.ones(2, 2), torch.ones(3)), (torch.ones(2, 3), torch.ones(2, 3))])
def test_composition_score_refuses_what_is_not_a_pair_of_matrices_that_multiply(a, b):
    with pytest.raises(ValueError, match=rf"composition_score needs matrices a \(\.\.\., d, k\) and b \(\.\.\., k, e\), got a of shape {re_shape(a)} and b of shape {re_shape(b)}"):
        composition_score(a, b)
