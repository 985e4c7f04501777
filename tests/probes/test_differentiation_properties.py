"""Property tests of the between-category variance on random, unbalanced groupings: the value against a loop over
categories, its chance value against the exact average over every relabelling of the items within their parents
(enumerated, not sampled), and the all-levels computation of :class:`Differentiation` against both."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from probes.differentiation import Differentiation, between_category_variance

PROPERTY = settings(max_examples=30, deadline=None, database=None)


@st.composite
def groupings(draw):
    """Up to 6 items in parents of random sizes, each parent split into children of random sizes; a random representation."""
    parents, labels, next_label = [], [], 0
    for parent in range(draw(st.integers(1, 3))):
        if len(parents) == 6:
            break
        size = draw(st.integers(1, 6 - len(parents)))
        cuts = sorted(draw(st.lists(st.integers(1, size - 1), unique=True, max_size=size - 1))) if size > 1 else []
        bounds = [0, *cuts, size]
        for child, (lo, hi) in enumerate(zip(bounds, bounds[1:])):
            labels += [next_label + child] * (hi - lo)
        parents += [parent] * size
        next_label += len(bounds) - 1
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    h = rng.normal(size=(len(parents), draw(st.integers(1, 3)))) * draw(st.floats(0.1, 3.0))
    return h, np.array(labels), np.array(parents)


def loop_between(h: np.ndarray, labels: np.ndarray, parents: np.ndarray) -> float:
    """``(1/n) Σ_c n_c ‖μ_c − μ_parent(c)‖²`` by a loop over categories."""
    total = 0.0
    for c in np.unique(labels):
        members = labels == c
        parent = parents[members][0]
        total += members.sum() * ((h[members].mean(0) - h[parents == parent].mean(0)) ** 2).sum()
    return total / len(h)


def exact_chance(h: np.ndarray, labels: np.ndarray, parents: np.ndarray) -> float:
    """The average of :func:`loop_between` over every permutation of the items within each parent."""
    groups = [np.flatnonzero(parents == p) for p in np.unique(parents)]
    values = []
    for perms in itertools.product(*(itertools.permutations(g) for g in groups)):
        order = np.arange(len(h))
        for g, perm in zip(groups, perms):
            order[g] = perm
        values.append(loop_between(h[order], labels, parents))
    return float(np.mean(values))


@PROPERTY
@given(groupings())
def test_between_variance_equals_a_loop_and_its_chance_the_exact_average_over_relabellings(case):
    h, labels, parents = case
    between, chance = between_category_variance(h, labels, parents)
    assert between == pytest.approx(loop_between(h, labels, parents), rel=1e-9, abs=1e-12)
    assert chance == pytest.approx(exact_chance(h, labels, parents), rel=1e-9, abs=1e-12)
    assert between >= -1e-12 and chance >= -1e-12


@PROPERTY
@given(groupings())
def test_the_all_levels_fit_of_a_two_level_hierarchy_equals_the_single_level_values(case):
    h, labels, parents = case
    levels = np.stack([np.zeros(len(h), int), parents, labels])
    fit = Differentiation().fit(h, levels)
    root = np.zeros(len(h), int)
    for k, (child, parent) in enumerate(((parents, root), (labels, parents)), start=1):
        b, c = between_category_variance(h, child, parent)
        assert fit.between_[k] == pytest.approx(b, rel=1e-9, abs=1e-12)
        assert fit.chance_[k] == pytest.approx(c, rel=1e-9, abs=1e-12)
        if c > 1e-12:
            assert fit.ratio_[k] == pytest.approx(b / c, rel=1e-8)
    # contrasts: Σ over parents of (children − 1)
    expected = [0, len(np.unique(parents)) - 1, len(np.unique(labels)) - len(np.unique(parents))]
    assert fit.contrasts_.tolist() == expected
