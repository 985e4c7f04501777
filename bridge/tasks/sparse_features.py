"""Sparse features of given importance (Elhage et al. 2022, "Toy models of superposition").

Each feature is 0 with probability ``sparsity`` and uniform on [0, 1]
otherwise, independently; the target is the input itself; the loss weights
each feature's squared error by its importance.

Examples:
    >>> from bridge.tasks import make_task
    >>> data = make_task(SparseFeaturesConfig(n_features=5, sparsity=0.9, n_train=1000), seed=0)
    >>> tuple(data.train.x.shape), round(float((data.train.x == 0).float().mean()), 1)
    ((1000, 5), 0.9)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from jaxtyping import Float
from torch import Tensor

from bridge.config import config_class, require
from bridge.seeding import derive_seed, generator
from bridge.tasks.base import TASKS, Split, TaskData
from bridge.tasks.memory import check_memory, sized


def sample_sparse_features(
    batch: int, density: Float[Tensor, "*inst"] | float, n_features: int, g: torch.Generator
) -> Float[Tensor, "batch *inst n_features"]:
    """``batch`` draws of ``n_features`` features, each nonzero (uniform on [0, 1]) with probability ``density``.

    ``density`` may be a tensor of per-instance densities (shape ``(*inst,)``); the
    result then has shape ``(batch, *inst, n_features)``.

    Examples:
        >>> x = sample_sparse_features(4, torch.tensor([1.0, 0.0]), 3, torch.Generator().manual_seed(0))
        >>> tuple(x.shape), bool((x[:, 1] == 0).all()), bool((x[:, 0] > 0).all())
        ((4, 2, 3), True, True)
    """
    density = torch.as_tensor(density, dtype=torch.float32)
    shape = (batch, *density.shape, n_features)
    values = torch.rand(shape, generator=g)
    keep = torch.rand(shape, generator=g) < density[..., None]
    return values * keep


@dataclass
class ImportanceWeightedMSE:
    """``mean over batch of Σ_i I_i (x_i − x̂_i)²``, summed over model instances.

    Output ``(batch, n)`` or ``(batch, instances, n)``; target ``(batch, n)`` or
    the same shape as the output; ``importance`` ``(n,)`` or ``(instances, n)``.

    Examples:
        >>> loss = ImportanceWeightedMSE(torch.tensor([1.0, 0.5]))
        >>> loss(torch.tensor([[1.0, 1.0], [0.0, 0.0]]), torch.zeros(2, 2)).item()   # (1 + 0.5 + 0) / 2
        0.75
        >>> loss(torch.zeros(2, 1), torch.zeros(2, 2))   # an output of one feature, not broadcast against two
        Traceback (most recent call last):
        ...
        ValueError: ImportanceWeightedMSE needs output and target of one shape ending in the 2 features of its importance, got output (2, 1) and target (2, 2)
    """

    importance: Tensor

    def __call__(self, output: Tensor, target: Tensor) -> Tensor:
        self._check(output, target)
        if output.dim() == 3 and target.dim() == 2:
            target = target[:, None, :]
        return (self.importance * (output - target) ** 2).sum(-1).mean(0).sum()

    def _check(self, output: Tensor, target: Tensor) -> None:
        """Refuse an output and target that differ in shape (but for the output's instance axis, ``-2``, which a target
        may lack) or whose last axis is not the ``n`` features of ``importance``: the squared error would broadcast them
        to a wrong loss."""
        n = self.importance.shape[-1]
        shared = output.shape if output.dim() == target.dim() else output.shape[:-2] + output.shape[-1:]
        if target.shape != shared or output.shape[-1] != n:
            raise ValueError(f"ImportanceWeightedMSE needs output and target of one shape ending in the {n} features of its importance, "
                             f"got output {tuple(output.shape)} and target {tuple(target.shape)}")

    def stacked(self, output: Tensor, target: Tensor) -> Tensor:
        """The loss of many models at once: every argument of :meth:`__call__` with a leading seed axis -> ``(seed,)``."""
        self._check(output, target)
        if output.dim() == 4 and target.dim() == 3:
            target = target[:, :, None, :]
        per_batch = (self.importance * (output - target) ** 2).sum(-1).mean(1)
        return per_batch.sum(-1) if per_batch.dim() == 2 else per_batch

    def to(self, device: torch.device | str) -> ImportanceWeightedMSE:
        """The same loss with ``importance`` ``(n,)`` or ``(instances, n)`` on ``device`` (where the outputs it scores live).

        Examples:
            >>> ImportanceWeightedMSE(torch.tensor([1.0, 0.5])).to("cpu").importance.tolist()
            [1.0, 0.5]
        """
        return ImportanceWeightedMSE(self.importance.to(device))


def importance_vector(n_features: int, decay: float) -> Float[Tensor, " n_features"]:
    """``decay ** i`` for feature ``i`` (1 for uniform importance); shape ``(n_features,)``.

    Examples:
        >>> importance_vector(3, 0.5).tolist()
        [1.0, 0.5, 0.25]
    """
    return decay ** torch.arange(n_features, dtype=torch.float32)


@config_class("sparse_features")
@dataclass(frozen=True)
class SparseFeaturesConfig:
    """A fixed data set of sparse features.

    Args:
        n_features: number of features ``n``.
        sparsity: probability ``S`` that a feature is zero (density ``1 − S``).
        importance_decay: feature ``i`` has importance ``importance_decay ** i``.
        n_train, n_test: examples in each split.

    Examples:
        >>> SparseFeaturesConfig(n_features=5, importance_decay=0.5).n_train
        4096
        >>> SparseFeaturesConfig(n_features=5, sparsity=1.0)
        Traceback (most recent call last):
        ...
        bridge.config.ConfigError: sparse_features.sparsity must be in [0, 1), got 1.0
    """

    n_features: int
    sparsity: float = 0.9
    importance_decay: float = 1.0
    n_train: int = 4096
    n_test: int = 4096

    def __post_init__(self) -> None:
        require(self.n_features >= 1, f"sparse_features.n_features must be positive, got {self.n_features}")
        require(0.0 <= self.sparsity < 1.0, f"sparse_features.sparsity must be in [0, 1), got {self.sparsity}")
        require(0.0 < self.importance_decay <= 1.0, f"sparse_features.importance_decay must be in (0, 1], got {self.importance_decay}")
        require(self.n_train >= 2 and self.n_test >= 1, f"sparse_features needs n_train >= 2 and n_test >= 1, got {self.n_train}, {self.n_test}")


@sized("sparse_features")
def _sparse_features_bytes(c: SparseFeaturesConfig) -> tuple[dict, int]:
    """Per entry of either split: the values, the mask and the draws they come from, and the targets' copy."""
    return {"n_features": c.n_features, "n_train": c.n_train, "n_test": c.n_test}, 17 * c.n_features * (c.n_train + c.n_test)


@TASKS.register("sparse_features")
def make_sparse_features(config: SparseFeaturesConfig, seed: int) -> TaskData:
    """Train and test splits with ``y = x`` (``(n, n_features)``); info holds ``importance`` and ``sparsity``.

    Examples:
        >>> data = make_sparse_features(SparseFeaturesConfig(n_features=3, importance_decay=0.5, n_train=8, n_test=4), seed=0)
        >>> tuple(data.train.x.shape), tuple(data.test.x.shape), bool(torch.equal(data.train.x, data.train.y))
        ((8, 3), (4, 3), True)
        >>> data.info["importance"].tolist(), data.loss(data.train.x, data.train.y).item()
        ([1.0, 0.5, 0.25], 0.0)
    """
    check_memory(config)
    g = generator(derive_seed(seed, "sparse_features"))
    density = 1.0 - config.sparsity
    x = sample_sparse_features(config.n_train, density, config.n_features, g)
    x_test = sample_sparse_features(config.n_test, density, config.n_features, g)
    importance = importance_vector(config.n_features, config.importance_decay)
    info = {"importance": importance, "sparsity": config.sparsity}
    return TaskData(Split(x, x.clone()), Split(x_test, x_test.clone()), ImportanceWeightedMSE(importance), info)


__all__ = ["ImportanceWeightedMSE", "SparseFeaturesConfig", "importance_vector", "make_sparse_features", "sample_sparse_features"]
