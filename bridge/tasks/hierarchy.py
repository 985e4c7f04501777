"""Hierarchically structured items (Saxe, McClelland & Ganguli 2019).

Items are the leaves of a complete tree; each tree node is an output feature
that is on for the items below it. With one-hot inputs scaled to be whitened,
the input–output correlation ``Σyx`` has right singular vectors that are the
tree's Haar-like contrasts: one group of modes per level of the hierarchy,
coarse levels strongest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from bridge.config import ConfigError, config_class, require
from bridge.seeding import derive_seed, generator
from bridge.tasks.base import TASKS, Split, TaskData


@config_class("hierarchy")
@dataclass(frozen=True)
class HierarchyConfig:
    """A complete ``branching``-ary tree of ``depth`` levels below the root.

    Args:
        depth: levels below the root (items = ``branching ** depth``).
        branching: children per node.
        feature_scale: multiplies every target (and so every singular value). The task's tensors are
            float32: the scale must keep its smallest singular value, ``feature_scale/√items``, at or above
            float32's smallest normal number (about ``1.18e-38 · √items``), or its targets underflow.
        shuffle_labels: control: targets are those of a random permutation of the
            items, so the tree used for analysis no longer describes the data.

    Examples:
        >>> cfg = HierarchyConfig(depth=2, branching=3)
        >>> cfg.branching**cfg.depth   # items
        9
        >>> HierarchyConfig(branching=1)
        Traceback (most recent call last):
        ...
        bridge.config.ConfigError: hierarchy.branching must be >= 2, got 1
    """

    depth: int = 3
    branching: int = 2
    feature_scale: float = 1.0
    shuffle_labels: bool = False

    def __post_init__(self) -> None:
        require(self.depth >= 1, f"hierarchy.depth must be >= 1, got {self.depth}")
        require(self.branching >= 2, f"hierarchy.branching must be >= 2, got {self.branching}")
        require(self.feature_scale > 0, f"hierarchy.feature_scale must be positive, got {self.feature_scale}")
        items = self.branching**self.depth if self.depth * self.branching.bit_length() <= 64 else None  # else far more than 4096: not counted
        if items is None or items > 4096:
            raise ConfigError(f"hierarchy.branching**depth = {items if items is not None else f'{self.branching}**{self.depth}'} items, more than 4096")
        least = float(np.finfo(np.float32).tiny) * math.sqrt(items)  # the finest level's singular values are feature_scale/√items
        require(self.feature_scale >= least, f"hierarchy.feature_scale = {self.feature_scale!r} is too small for float32, the task's dtype: "
                f"its targets underflow (feature_scale/√items below float32's smallest normal number); use at least {least:.4g} for {items} items")


def level_labels(depth: int, branching: int) -> np.ndarray:
    """``labels[k, i]``: the index of item ``i``'s ancestor at level ``k`` (level 0 is the root).

    Examples:
        >>> level_labels(2, 2).tolist()
        [[0, 0, 0, 0], [0, 0, 1, 1], [0, 1, 2, 3]]
    """
    items = np.arange(branching**depth)
    return np.stack([items // branching ** (depth - k) for k in range(depth + 1)])


def feature_matrix(depth: int, branching: int) -> np.ndarray:
    """``Y[f, i] = 1`` when item ``i`` lies below tree node ``f`` (nodes listed level by level).

    Returns:
        ``(nodes, items)`` float64, ``nodes = Σ_{k ≤ depth} branching^k``.

    Examples:
        >>> feature_matrix(2, 2).astype(int).tolist()   # root, 2 subtrees, 4 leaves
        [[1, 1, 1, 1], [1, 1, 0, 0], [0, 0, 1, 1], [1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]
    """
    labels = level_labels(depth, branching)
    rows = [labels[k] == node for k in range(depth + 1) for node in range(branching**k)]
    return np.stack(rows).astype(np.float64)


def haar_modes(depth: int, branching: int) -> tuple[np.ndarray, np.ndarray]:
    """Orthonormal item-space contrasts, one block per level, and each vector's level.

    Returns:
        ``V`` of shape ``(items, items)`` (columns are modes) and ``level`` of shape ``(items,)``.

    Examples:
        >>> v, level = haar_modes(2, 2)
        >>> level.tolist(), bool(np.allclose(v.T @ v, np.eye(4)))
        ([0, 1, 2, 2], True)
        >>> (2 * v[:, 1]).round(4).tolist()   # level 1: one subtree against the other
        [-1.0, -1.0, 1.0, 1.0]
    """
    labels = level_labels(depth, branching)
    n_items = branching**depth
    columns, levels = [np.full(n_items, n_items**-0.5)], [0]
    for k in range(1, depth + 1):
        for parent in range(branching ** (k - 1)):
            below = labels[k - 1] == parent
            children = [(labels[k] == c) & below for c in range(parent * branching, (parent + 1) * branching)]
            block = np.stack(children, axis=1).astype(np.float64)
            block -= block.mean(axis=1, keepdims=True) * below[:, None]
            q, _ = np.linalg.qr(block)
            rank = branching - 1
            columns.extend(q[:, :rank].T)
            levels.extend([k] * rank)
    return np.stack(columns, axis=1), np.array(levels)


@TASKS.register("hierarchy")
def make_hierarchy(config: HierarchyConfig, seed: int) -> TaskData:
    """Whitened one-hot items → tree features; info holds the SVD of ``Σyx`` and the levels.

    The training split is ``x`` ``(items, items)`` (``√items · I``) and ``y`` ``(items, nodes)``;
    there is no test split. ``info``: ``U`` ``(nodes, items)``, ``S`` ``(items,)``,
    ``V`` ``(items, items)``, ``teacher`` ``(nodes, items)``, ``mode_level``, ``level_labels``.

    Examples:
        >>> data = make_hierarchy(HierarchyConfig(depth=2, branching=2), seed=0)
        >>> tuple(data.train.x.shape), tuple(data.train.y.shape), data.test, data.info["mode_level"]
        ((4, 4), (4, 7), None, [0, 1, 2, 2])
        >>> [round(float(s) ** 2, 4) for s in data.info["S"]]   # 7/4, 3/4, 1/4, 1/4: coarse levels strongest
        [1.75, 0.75, 0.25, 0.25]
    """
    n_items = config.branching**config.depth
    y = feature_matrix(config.depth, config.branching) * config.feature_scale
    x = np.eye(n_items) * np.sqrt(n_items)
    if config.shuffle_labels:
        perm = torch.randperm(n_items, generator=generator(derive_seed(seed, "hierarchy"))).numpy()
        y = y[:, perm]
    sigma_yx = y @ x.T / n_items
    v, level = haar_modes(config.depth, config.branching)
    if config.shuffle_labels:
        v = v[perm]  # the data's modes are the permuted tree's contrasts
    proj = sigma_yx @ v
    s = np.linalg.norm(proj, axis=0)
    u = proj / s
    labels = level_labels(config.depth, config.branching)
    info = {
        "U": torch.tensor(u, dtype=torch.float32),
        "S": torch.tensor(s, dtype=torch.float32),
        "V": torch.tensor(v, dtype=torch.float32),
        "teacher": torch.tensor(sigma_yx, dtype=torch.float32),
        "mode_level": level.tolist(),
        "level_labels": labels,  # always the unshuffled tree: what analysis compares against
    }
    xt = torch.tensor(x, dtype=torch.float32)
    return TaskData(Split(xt, torch.tensor(y.T, dtype=torch.float32)), None, "half_sse", info)
