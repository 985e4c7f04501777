"""Representational differentiation of hierarchical categories.

For hierarchy level ``k``, items are grouped into their level-``k`` categories
inside each level-``(k-1)`` parent. The *between-category variance*

    B_k = (1/n) Σ_c n_c ‖μ_c − μ_parent(c)‖²

measures how far the hidden representation separates sibling categories (it
collects exactly the level-``k`` contrasts of the representation). Its *chance*
value is its expectation when the items are randomly relabelled inside each
parent, which is exact in closed form:

    E[B_k] = (1/n) Σ_parents (b − 1) · m/(m − 1) · σ²_parent

with ``m`` items and ``b`` children per parent and ``σ²_parent`` their mean
squared distance to the parent centroid. The ratio ``B_k / E[B_k]`` is 1 at
chance (a random initialisation, or a network trained on data whose items were
shuffled), and grows as level ``k`` differentiates. The leaf level (categories
of one item) always has ratio 1: it is individuation, not differentiation.
"""

from __future__ import annotations

import functools

import numpy as np
from jaxtyping import Float, Int


def between_category_variance(h: Float[np.ndarray, "item d"], labels: Int[np.ndarray, " item"], parents: Int[np.ndarray, " item"]) -> tuple[float, float]:
    """``(B, chance)``: between-sibling-category variance and its within-parent permutation expectation.

    ``h`` is ``(item, d)``; ``labels`` and ``parents`` are ``(item,)``.

    Raises:
        ValueError: ``h`` not 2-D, empty or not finite; labels or parents of another length.

    Examples:
        >>> h = np.array([[0.0], [0.0], [2.0], [2.0]])
        >>> between_category_variance(h, np.array([0, 0, 1, 1]), np.zeros(4, int))
        (1.0, 0.3333333333333333)
    """
    h = np.asarray(h, dtype=float)
    if h.ndim != 2 or len(h) == 0:
        raise ValueError(f"h must be (item, d) representations with at least one item, got h of shape {h.shape}")
    if not np.isfinite(h).all():
        raise ValueError(f"h must be finite, got {int((~np.isfinite(h)).sum())} NaN or infinite entries")
    if len(labels) != len(h) or len(parents) != len(h):
        raise ValueError(f"labels and parents must have one entry per item ({len(h)})")
    return _between(h, _Grouping.of(np.asarray(labels), np.asarray(parents)))


class _Grouping:
    """Item → child-category and item → parent indicator matrices of one level (built once)."""

    def __init__(self, child: np.ndarray, parent: np.ndarray, children_per_parent: np.ndarray) -> None:
        self.child = np.eye(child.max() + 1)[child].T  # (categories, items)
        self.parent = np.eye(parent.max() + 1)[parent].T  # (parents, items)
        self.child_n, self.parent_n = self.child.sum(1), self.parent.sum(1)
        self.children_per_parent = children_per_parent

    @classmethod
    def of(cls, labels: np.ndarray, parents: np.ndarray) -> _Grouping:
        pairs, child = np.unique(np.stack([parents, labels]), axis=1, return_inverse=True)
        keys, parent = np.unique(parents, return_inverse=True)
        return cls(child.ravel(), parent.ravel(), np.array([(pairs[0] == k).sum() for k in keys]))


def _between(h: np.ndarray, g: _Grouping) -> tuple[float, float]:
    # Parallel-axis theorem inside each parent: Σ_c n_c‖μ_c − μ_p‖² = Σ_c n_c‖μ_c‖² − m_p‖μ_p‖².
    child_sq = ((g.child @ h) ** 2).sum(1) / g.child_n
    parent_sq = ((g.parent @ h) ** 2).sum(1) / g.parent_n
    spread = g.parent @ (h**2).sum(1) - parent_sq  # m_p · σ²_p
    m = g.parent_n
    chance = np.where(m > 1, (g.children_per_parent - 1) * spread / np.maximum(m - 1, 1), 0.0).sum()
    return float((child_sq.sum() - parent_sq.sum()) / len(h)), float(chance / len(h))


class _Tree:
    """All levels of a nested labelling at once: one indicator row per category of every level.

    Level ``k``'s between-category variance is ``E_k − E_{k−1}`` with
    ``E_k = Σ_{c at level k} n_c‖μ_c‖²``, so two products with the stacked
    indicator matrix give every level (the same numbers as :func:`_between`
    level by level, at a fraction of the cost when called at every step).
    """

    def __init__(self, levels: np.ndarray) -> None:
        rows, level_of, children = [], [], []
        for k, labels in enumerate(levels):
            for c in np.unique(labels):
                members = labels == c
                rows.append(members)
                level_of.append(k)
                children.append(len(np.unique(levels[k + 1][members])) if k + 1 < len(levels) else 0)
        self.indicator = np.array(rows, dtype=float)  # (categories of all levels, items)
        self.n = self.indicator.sum(1)
        self.n_levels = len(levels)
        self.level_of = np.eye(self.n_levels)[level_of].T  # (level, category) membership
        n_children = np.array(children)
        # Weight of a category's spread in the chance value of the level below it.
        self.as_parent = np.where(self.n > 1, np.maximum(n_children - 1, 0) / np.maximum(self.n - 1, 1), 0.0)

    @staticmethod
    def nested(levels: np.ndarray) -> bool:
        """Whether every level-``k`` category lies inside one level-``(k−1)`` category."""
        return all(len(np.unique(np.stack([levels[k - 1], levels[k]]), axis=1).T) == len(np.unique(levels[k])) for k in range(1, len(levels)))

    def measure(self, h: Float[np.ndarray, "*batch item d"]) -> tuple[Float[np.ndarray, "*batch level"], Float[np.ndarray, "*batch level"]]:
        # every product is one matrix product per map of the stack, so a map gets the same bits alone or in any stack
        sums = self.indicator @ h
        energy = (sums * sums).sum(-1) / self.n  # n_c‖μ_c‖²
        spread = ((h * h).sum(-1)[..., None, :] @ self.indicator.T)[..., 0, :] - energy  # n_c · σ²_c
        e, c = (energy[..., None, :] @ self.level_of.T)[..., 0, :], ((self.as_parent * spread)[..., None, :] @ self.level_of.T)[..., 0, :]
        between, chance = np.zeros(e.shape), np.zeros(c.shape)
        n_items = h.shape[-2]
        between[..., 1:], chance[..., 1:] = (e[..., 1:] - e[..., :-1]) / n_items, c[..., :-1] / n_items
        return between, chance


def _structure(levels: np.ndarray) -> tuple[_Tree | dict[int, _Grouping], np.ndarray]:
    """For a labelling ``(level, item)``: the tree of its levels when they nest (else each level's grouping
    inside its parents, by level), and the number of contrasts of each level."""
    structure = _Tree(levels) if _Tree.nested(levels) else {k: _Grouping.of(levels[k], levels[k - 1]) for k in range(1, len(levels))}
    contrasts = np.array([0] + [len(np.unique(levels[k - 1 : k + 1].T, axis=0)) - len(np.unique(levels[k - 1])) for k in range(1, len(levels))])  # Σ_parents (children − 1)
    return structure, contrasts


@functools.lru_cache(maxsize=16)
def _cached_structure(shape: tuple[int, ...], dtype: str, data: bytes) -> tuple[_Tree | dict[int, _Grouping], np.ndarray]:
    """:func:`_structure` of the labelling of these bytes, built once per labelling in a process
    (a tracker measures the same labelling at every checkpoint of every run)."""
    return _structure(np.frombuffer(data, dtype=dtype).reshape(shape))


@functools.lru_cache(maxsize=64)
def _ratio_sd(d: int, contrasts: tuple[int, ...]) -> np.ndarray:
    """``√(2 / (d · contrasts))`` of each level (``inf`` for a level with no contrast)."""
    dof = d * np.array(contrasts)
    return np.sqrt(np.divide(2.0, dof, out=np.full(len(dof), np.inf), where=dof > 0))


class Differentiation:
    """Measure of differentiation per hierarchy level; not a scikit-learn estimator.

    It keeps the part of scikit-learn's contract that fits a measurement:
    :meth:`fit` returns ``self``, and what it learns is held only in attributes
    ending in ``_``, set by a successful fit (a fit that raises leaves an
    earlier fit's attributes as they were). It has no hyperparameters, so no
    ``get_params``/``clone``; its labels are a ``(level, item)`` hierarchy, which
    scikit-learn's ``(X, y)`` cannot carry; and it measures, it does not predict.

    ``fit(h, level_labels)`` with ``h`` ``(item, d)`` and ``level_labels``
    ``(level, item)`` (level 0 the root) sets ``between_`` and ``chance_``
    (shape ``(level,)``, entry 0 unused and zero), ``ratio_ = between_/chance_``,
    — or, for a stack ``h`` of shape ``(batch, item, d)``, shape ``(batch, level)``;
    ``contrasts_`` (number of level-``k`` contrasts, Σ over parents of
    children − 1) and ``ratio_sd_``: the standard deviation of the ratio for an
    isotropic random representation, ``√(2 / (d · contrasts))`` (a χ² with
    ``d · contrasts`` degrees of freedom over its mean), the scale of "chance".

    Examples:
        >>> from bridge.tasks import level_labels
        >>> h = np.repeat(np.eye(2), 2, axis=0)           # items 0,1 vs 2,3 separated
        >>> bool(Differentiation().fit(h, level_labels(2, 2)).ratio_[1] > 1)
        True
    """

    def fit(self, h: np.ndarray, level_labels: np.ndarray) -> Differentiation:
        """Measure ``h`` ``(item, d)`` or ``(batch, item, d)`` against ``level_labels`` ``(level, item)``; returns ``self``.

        Raises:
            ValueError: before any work, when ``level_labels`` is not 2-D or ``h`` does not have one row per item.
        """
        levels = np.asarray(level_labels)
        h = np.asarray(h, dtype=float)
        if levels.ndim != 2 or len(levels) == 0:
            raise ValueError(f"level_labels must be (level, item) with at least one level (level 0, the root), got shape {levels.shape}")
        if h.ndim not in (2, 3) or h.shape[-2] != levels.shape[1]:
            raise ValueError(f"h must be (item, d) or (batch, item, d) with {levels.shape[1]} items, got shape {h.shape}")
        structure, contrasts = _structure(levels) if levels.dtype.hasobject else _cached_structure(levels.shape, levels.dtype.str, levels.tobytes())
        self.contrasts_ = contrasts.copy()
        if isinstance(structure, _Tree):
            self.between_, self.chance_ = structure.measure(h)
        else:
            self.between_, self.chance_ = np.zeros(h.shape[:-2] + (len(levels),)), np.zeros(h.shape[:-2] + (len(levels),))
            for index in np.ndindex(h.shape[:-2]):
                for k in range(1, len(levels)):
                    self.between_[index + (k,)], self.chance_[index + (k,)] = _between(h[index], structure[k])
        self.ratio_sd_ = _ratio_sd(h.shape[-1], tuple(contrasts.tolist())).copy()
        self.ratio_ = np.divide(self.between_, self.chance_, out=np.full(self.chance_.shape, np.nan), where=self.chance_ > 0)
        return self
