"""Property tests of the restricted and excluded loss against explicit references: with every frequency kept the
restricted logits are the average over the pairs of one residue class ``(a ± b) mod p`` (a plain loop), nothing
restricted leaves the full cross-entropy, restricted and excluded parts add back to the logits, per-frequency logit
norms add up to the class-averaged logits' norm, the logit FVE equals a least-squares fit on ``cos(w_k(a ± b − c))``,
and the template loss components add up to the mean squared error of a loop over the grid."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from probes.restricted_loss import (
    excluded_logits,
    excluded_loss,
    key_part,
    logit_frequency_norms,
    logit_fve,
    restricted_logits,
    restricted_loss,
    template_loss_components,
)

PROPERTY = settings(max_examples=30, deadline=None, database=None)
ODD_P = st.sampled_from([3, 5, 7])
OPS = st.sampled_from(["+", "-"])
SIGN = {"+": 1, "-": -1}


@st.composite
def tables(draw, outputs: int | None = None):
    """A random logit table ``(p², outputs)`` (float64), its ``p``, the op and a random non-empty training index."""
    p, op = draw(ODD_P), draw(OPS)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    logits = rng.normal(size=(p * p, p if outputs is None else outputs)) * draw(st.floats(0.1, 5.0))
    index = np.sort(rng.choice(p * p, size=draw(st.integers(1, p * p)), replace=False))
    return torch.as_tensor(logits), p, op, torch.as_tensor(index)


def class_average(logits: np.ndarray, p: int, op: str) -> np.ndarray:
    """Each row replaced by the mean of the rows ``(a', b')`` with ``(a' ± b') ≡ (a ± b) mod p``: a loop over pairs."""
    s = SIGN[op]
    out = np.zeros_like(logits)
    for a in range(p):
        for b in range(p):
            rows = [a2 * p + b2 for a2 in range(p) for b2 in range(p) if (a2 + s * b2 - a - s * b) % p == 0]
            out[a * p + b] = logits[rows].mean(0)
    return out


def labels_of(p: int, op: str) -> torch.Tensor:
    return torch.tensor([(a + SIGN[op] * b) % p for a in range(p) for b in range(p)])


@PROPERTY
@given(tables())
def test_keeping_every_frequency_averages_the_logits_over_each_residue_class(case):
    logits, p, op, _ = case
    every = list(range(1, (p - 1) // 2 + 1))
    np.testing.assert_allclose(restricted_logits(logits, every, op).numpy(), class_average(logits.numpy(), p, op), rtol=1e-9, atol=1e-10)
    # the key part is a projection: applying it twice changes nothing, and what it removes has no key part left
    freqs = every[: len(every) // 2 + 1]
    once = key_part(logits, freqs, op)
    np.testing.assert_allclose(key_part(once, freqs, op).numpy(), once.numpy(), rtol=1e-9, atol=1e-10)
    assert float(key_part(excluded_logits(logits, freqs, op), freqs, op).abs().max()) < 1e-10
    np.testing.assert_allclose((restricted_logits(logits, freqs, op) + excluded_logits(logits, freqs, op)).numpy(), (logits + logits.mean(0)).numpy(), rtol=1e-9, atol=1e-10)


@PROPERTY
@given(tables())
def test_nothing_restricted_gives_the_full_loss_and_a_function_of_the_class_keeps_it_under_every_frequency(case):
    logits, p, op, index = case
    labels = labels_of(p, op)
    full = float(F.cross_entropy(logits[index], labels[index]))
    assert excluded_loss(logits, labels, index, [], op) == pytest.approx(full, rel=1e-12)
    # nothing kept: only the (a, b)-mean is left, the same row for every pair
    mean_only = float(F.cross_entropy(logits.mean(0, keepdim=True).expand(len(index), -1), labels[index]))
    assert restricted_loss(logits, labels, index, [], op) == pytest.approx(mean_only, rel=1e-12)
    # logits that depend on the pair only through its class lose nothing when every frequency is kept
    by_class = torch.as_tensor(class_average(logits.numpy(), p, op))
    every = list(range(1, (p - 1) // 2 + 1))
    expected = float(F.cross_entropy(by_class[index], labels[index]))
    assert restricted_loss(by_class, labels, index, every, op) == pytest.approx(expected, rel=1e-9)
    assert excluded_loss(by_class, labels, index, every, op) == pytest.approx(mean_only, rel=1e-9)


@PROPERTY
@given(tables(outputs=None))
def test_logit_frequency_norms_are_the_norms_of_single_frequency_parts_and_add_up_to_the_class_average(case):
    logits, p, op, _ = case
    norms = logit_frequency_norms(logits, op).numpy()
    assert norms.shape == ((p - 1) // 2 + 1,)
    assert norms[0] == pytest.approx(np.linalg.norm(np.broadcast_to(logits.numpy().mean(0), logits.shape)), rel=1e-9)
    for k in range(1, len(norms)):
        assert norms[k] == pytest.approx(float(key_part(logits, [k], op).norm()), rel=1e-9, abs=1e-12)
    assert (norms**2).sum() == pytest.approx((class_average(logits.numpy(), p, op) ** 2).sum(), rel=1e-9)


def grid_cos(p: int, op: str, k: int) -> np.ndarray:
    """``cos(2πk(a ± b − c)/p)`` over the grid, rows ``a·p + b``, by a loop."""
    s = SIGN[op]
    return np.array([[math.cos(2 * math.pi * k * (a + s * b - c) / p) for c in range(p)] for a in range(p) for b in range(p)])


def grid_sin(p: int, op: str, k: int) -> np.ndarray:
    s = SIGN[op]
    return np.array([[math.sin(2 * math.pi * k * (a + s * b - c) / p) for c in range(p)] for a in range(p) for b in range(p)])


@PROPERTY
@given(tables(), st.data())
def test_logit_fve_equals_a_least_squares_fit_on_the_cosine_terms_and_lies_in_the_unit_interval(case, data):
    logits, p, op, _ = case
    freqs = data.draw(st.lists(st.integers(1, (p - 1) // 2), unique=True, max_size=(p - 1) // 2))
    lg = logits.numpy() - logits.numpy().mean(1, keepdims=True)
    if freqs:
        design = np.stack([grid_cos(p, op, k).ravel() for k in freqs], 1)
        coef, *_ = np.linalg.lstsq(design, lg.ravel(), rcond=None)
        reference = 1 - ((lg.ravel() - design @ coef) ** 2).sum() / (lg**2).sum()
    else:
        reference = 0.0
    fve = logit_fve(logits, freqs, op)
    assert fve == pytest.approx(reference, rel=1e-9, abs=1e-12)
    assert -1e-12 <= fve <= 1 + 1e-12
    # a table made of the cosine terms alone, with a per-pair offset, is explained in full
    pure = sum((k + 1.0) * grid_cos(p, op, k) for k in freqs) + np.arange(p * p)[:, None] if freqs else None
    if pure is not None:
        assert logit_fve(torch.as_tensor(pure), freqs, op) == pytest.approx(1.0, rel=1e-9)


@PROPERTY
@given(ODD_P, OPS, st.integers(0, 2**32 - 1), st.data())
def test_template_loss_components_add_up_to_the_mean_squared_error_of_a_loop_over_the_grid(p, op, seed, data):
    rng = np.random.default_rng(seed)
    template = {k: float(rng.normal()) for k in data.draw(st.lists(st.integers(1, (p - 1) // 2), unique=True, min_size=1))}
    # outputs in the span of the template's frequencies: the error is carried by them alone
    outputs = sum(rng.normal() * grid_cos(p, op, k) + rng.normal() * grid_sin(p, op, k) for k in template)
    target = sum(m * grid_cos(p, op, k) for k, m in template.items())
    mse = sum((outputs[r, c] - target[r, c]) ** 2 for r in range(p * p) for c in range(p)) / p**3
    parts = template_loss_components(torch.as_tensor(outputs), template, op)
    assert sorted(parts) == sorted(template) and all(v >= 0 for v in parts.values())
    assert sum(parts.values()) == pytest.approx(mse, rel=1e-9, abs=1e-12)
    # each part on its own: the same outputs with only that frequency wrong
    for k in template:
        one = outputs - sum(grid_cos(p, op, j) * (np.sum(outputs * grid_cos(p, op, j)) / (p**3 / 2) - m) + grid_sin(p, op, j) * np.sum(outputs * grid_sin(p, op, j)) / (p**3 / 2) for j, m in template.items() if j != k)
        alone = sum((one[r, c] - target[r, c]) ** 2 for r in range(p * p) for c in range(p)) / p**3
        assert parts[k] == pytest.approx(alone, rel=1e-9, abs=1e-12)
