"""Functions on the Boolean cube ``{±1}^d``: sums of Walsh (parity) functions.

Inputs are uniform on the cube; the target is ``f(x) = Σ_S c_S χ_S(x)`` with
``χ_S(x) = Π_{j ∈ S} x_j``. With ``d ≤ 12`` the whole cube is enumerable, so
a learned function's Walsh coefficients are measured exactly
(:func:`walsh_coefficients`), and every permutation-invariant kernel is
diagonal in the Walsh basis with one eigenvalue per degree ``|S|``.

The cube is indexed by integers ``0 … 2^d − 1``: bit ``j`` of the index set
means ``x_j = −1`` (:func:`cube_points`); a subset ``S`` is indexed by its
mask ``Σ_{j ∈ S} 2^j``, the order in which :func:`walsh_coefficients` returns
coefficients.

Examples:
    >>> from bridge.tasks import make_task
    >>> data = make_task(BooleanCubeConfig(d=4, subsets=((0,), (1, 2)), coefficients=(1.0, 0.5), n_train=10), seed=0)
    >>> tuple(data.train.x.shape), len(data.test), data.loss
    ((10, 4), 6, 'mse')
    >>> x = data.train.x
    >>> bool(torch.allclose(data.train.y[:, 0], x[:, 0] + 0.5 * x[:, 1] * x[:, 2]))
    True
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from math import comb
from typing import TypeVar

import numpy as np
import torch
from jaxtyping import Float
from torch import Tensor

from bridge.config import config_class, require
from bridge.seeding import derive_seed, generator
from bridge.tasks.base import TASKS, Split, TaskData

MAX_D = 12
TESTS = ("rest", "cube")


@config_class("boolean_cube")
@dataclass(frozen=True)
class BooleanCubeConfig:
    """A sum of Walsh functions on ``{±1}^d`` (MSE regression, output ``(n, 1)``).

    Args:
        d: dimension, ``1 ≤ d ≤ 12``.
        subsets: the Walsh functions' subsets of ``{0, …, d−1}``, given explicitly, or
        degrees: one subset per entry of this size, drawn by the seed (distinct).
            Give exactly one of ``subsets`` and ``degrees``.
        coefficients: ``c_S``, one per subset (or degree entry).
        n_train: training points, drawn from the cube without replacement.
        test: ``"rest"`` (the points not trained on) or ``"cube"`` (all ``2^d`` points).
        draw: which training set of the seed: ``0`` is the seed's own; ``k > 0`` draws another
            one while the seed keeps everything else (the subsets, and the model's initialisation),
            so runs differing only in ``draw`` average a theory over training sets at one kernel.

    Examples:
        >>> BooleanCubeConfig(d=3, subsets=[[0, 2]], coefficients=[1.0], n_train=4).subsets
        ((0, 2),)
        >>> BooleanCubeConfig(d=3, subsets=((0,),), degrees=(1,), coefficients=(1.0,))
        Traceback (most recent call last):
        ...
        bridge.config.ConfigError: boolean_cube needs exactly one of subsets and degrees
    """

    d: int = 10
    subsets: tuple[tuple[int, ...], ...] = ()
    degrees: tuple[int, ...] = ()
    coefficients: tuple[float, ...] = ()
    n_train: int = 256
    test: str = "rest"
    draw: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "subsets", tuple(tuple(int(j) for j in s) for s in self.subsets))
        for name in ("degrees", "coefficients"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        require(isinstance(self.d, int) and 1 <= self.d <= MAX_D, f"boolean_cube.d must be an integer in 1..{MAX_D} (the cube is enumerated), got {self.d!r}")
        require(bool(self.subsets) != bool(self.degrees), "boolean_cube needs exactly one of subsets and degrees")
        terms = len(self.subsets) or len(self.degrees)
        given = "subsets" if self.subsets else "degrees"
        require(
            len(self.coefficients) == terms,
            f"boolean_cube.{given}={getattr(self, given)} gives {terms} Walsh functions but coefficients={self.coefficients} has {len(self.coefficients)} entries: give one coefficient per Walsh function",
        )
        for s in self.subsets:
            require(all(0 <= j < self.d for j in s) and len(set(s)) == len(s), f"boolean_cube.subsets: {s} is not a set of distinct indices in 0..{self.d - 1}")
        require(len({frozenset(s) for s in self.subsets}) == len(self.subsets), f"boolean_cube.subsets must be distinct, got {self.subsets}")
        for k in set(self.degrees):
            require(0 <= k <= self.d, f"boolean_cube.degrees must be in 0..{self.d}, got {k}")
            require(self.degrees.count(k) <= comb(self.d, k), f"boolean_cube.degrees {self.degrees} asks for {self.degrees.count(k)} distinct subsets of degree {k}, which do not exist for d = {self.d}")
        require(isinstance(self.draw, int) and self.draw >= 0, f"boolean_cube.draw must be a non-negative integer, got {self.draw!r}")
        require(self.test in TESTS, f"boolean_cube.test must be one of {TESTS}, got {self.test!r}")
        top = 2**self.d - (self.test == "rest")
        require(isinstance(self.n_train, int) and 1 <= self.n_train <= top, f"boolean_cube.n_train must be in 1..{top} for d = {self.d} and test={self.test!r}, got {self.n_train}")


def cube_points(d: int) -> Float[Tensor, "points d"]:
    """All ``2^d`` points of ``{±1}^d``; row ``i`` has ``x_j = −1`` where bit ``j`` of ``i`` is set.

    Examples:
        >>> cube_points(2).tolist()
        [[1.0, 1.0], [-1.0, 1.0], [1.0, -1.0], [-1.0, -1.0]]
    """
    bits = (torch.arange(2**d)[:, None] >> torch.arange(d)[None, :]) & 1
    return 1.0 - 2.0 * bits.to(torch.float32)


def subset_mask(subset: Iterable[int]) -> int:
    """The index ``Σ_{j ∈ S} 2^j`` of a subset: where its Walsh coefficient sits in :func:`walsh_coefficients`.

    Examples:
        >>> subset_mask((0, 2)), subset_mask(()), mask_degrees(3)[subset_mask((0, 2))].item()
        (5, 0, 2)
    """
    return sum(1 << int(j) for j in subset)


def mask_degrees(d: int) -> Tensor:
    """Degree ``|S|`` of every subset mask ``0 … 2^d − 1``, shape ``(2^d,)``.

    Examples:
        >>> mask_degrees(3).tolist()
        [0, 1, 1, 2, 1, 2, 2, 3]
    """
    return ((torch.arange(2**d)[:, None] >> torch.arange(d)[None, :]) & 1).sum(-1)


def walsh_function(x: Float[Tensor, "n d"], subset: Collection[int]) -> Float[Tensor, " n"]:
    """``χ_S(x) = Π_{j ∈ S} x_j`` (1 for the empty set) at the rows of ``x`` ``(n, d)``; shape ``(n,)``.

    Examples:
        >>> walsh_function(cube_points(2), (0, 1)).tolist()
        [1.0, -1.0, -1.0, 1.0]
    """
    return x[:, list(subset)].prod(-1) if len(subset) else torch.ones(x.shape[0], dtype=x.dtype)


def walsh_target(x: Float[Tensor, "n d"], subsets: Iterable[Collection[int]], coefficients: Iterable[float]) -> Float[Tensor, " n"]:
    """``Σ_S c_S χ_S(x)`` at the rows of ``x`` ``(n, d)``, shape ``(n,)``, in ``x``'s dtype.

    Examples:
        >>> walsh_target(cube_points(2), ((0,), (0, 1)), (1.0, 0.5)).tolist()   # x₀ + 0.5 x₀x₁
        [1.5, -1.5, 0.5, -0.5]
    """
    subsets, coefficients = list(subsets), list(coefficients)
    if len(subsets) != len(coefficients):
        raise ValueError(f"coefficients has {len(coefficients)} entries for {len(subsets)} subsets")
    out = torch.zeros(x.shape[0], dtype=x.dtype)
    for s, c in zip(subsets, coefficients):
        out = out + float(c) * walsh_function(x, s)
    return out


def _cube_dimension(n: int) -> int:
    """``d`` for ``n = 2^d`` values over the cube; a ValueError for any other ``n``."""
    d = n.bit_length() - 1
    if n != 2**d:
        raise ValueError(f"the last dimension must be 2^d, got {n}")
    return d


def walsh_coefficients(values: Float[Tensor, "*batch points"]) -> Float[Tensor, "*batch points"]:
    """Walsh coefficients ``f̂(S) = 2^{−d} Σ_x f(x) χ_S(x)`` by the fast Walsh–Hadamard transform.

    Args:
        values: ``f`` at every cube point in :func:`cube_points` order, last dimension ``2^d``.

    Returns:
        Coefficients indexed by subset mask, same shape (``O(d·2^d)`` work).

    Examples:
        >>> x = cube_points(3)
        >>> coef = walsh_coefficients(2 * x[:, 0] * x[:, 2] - x[:, 1])
        >>> {i: round(float(c), 6) for i, c in enumerate(coef) if abs(c) > 1e-9}
        {2: -1.0, 5: 2.0}
    """
    n = values.shape[-1]
    _cube_dimension(n)
    batch = values.shape[:-1]
    out = values
    half = 1
    while half < n:
        blocks = out.reshape(*batch, n // (2 * half), 2, half)
        a, b = blocks[..., 0, :], blocks[..., 1, :]
        out = torch.stack((a + b, a - b), dim=-2).reshape(*batch, n)
        half *= 2
    return out / n


def degree_power(coefficients: Float[Tensor, "*batch points"]) -> Float[Tensor, "*batch degree"]:
    """Per-degree power ``Σ_{|S| = k} f̂(S)²`` for ``k = 0 … d``, shape ``(*batch, d + 1)``.

    Examples:
        >>> degree_power(torch.tensor([0.0, 1.0, 2.0, 0.5])).tolist()
        [0.0, 5.0, 0.25]
    """
    d = _cube_dimension(coefficients.shape[-1])
    deg = mask_degrees(d).to(coefficients.device)
    out = torch.zeros(*coefficients.shape[:-1], d + 1, dtype=coefficients.dtype, device=coefficients.device)
    return out.index_add_(-1, deg, coefficients**2)


_KernelT = TypeVar("_KernelT", Tensor, np.ndarray)


def degree_eigenvalues(kernel: Float[_KernelT, "points points"]) -> Float[_KernelT, " degree"]:
    """Per-degree eigenvalues of a kernel on the whole cube: the mean over ``|S| = k`` of ``E_{x,x'}[χ_S(x) K(x, x') χ_S(x')]``.

    For a permutation-invariant kernel these are its exact eigenvalues (each of
    multiplicity ``C(d, k)``); for any other (a finite-width network's tangent
    kernel) they are those of its average over coordinate permutations.

    Args:
        kernel: ``K`` at every pair of cube points in :func:`cube_points` order, ``(2^d, 2^d)``.

    Returns:
        ``(d + 1,)`` eigenvalues, degree 0 first, in ``kernel``'s dtype (a NumPy array gives one back).

    Examples:
        >>> x = cube_points(3).double()
        >>> degree_eigenvalues(x @ x.T).tolist()   # K = x·x': only degree 1, eigenvalue 1
        [0.0, 1.0, 0.0, 0.0]
    """
    if not isinstance(kernel, Tensor):
        return degree_eigenvalues(torch.as_tensor(kernel)).numpy()
    k = kernel
    d = k.shape[0].bit_length() - 1 if k.ndim else 0
    if k.ndim != 2 or k.shape != (2**d, 2**d):
        raise ValueError(f"kernel must be (2^d, 2^d) over the whole cube, got shape {tuple(k.shape)}")
    diag = torch.diagonal(walsh_coefficients(walsh_coefficients(k).T))
    deg = mask_degrees(d).to(k.device)
    out = torch.zeros(d + 1, dtype=k.dtype, device=k.device).index_add_(0, deg, diag) / torch.bincount(deg).to(k.dtype)
    return out


def _draw_subsets(d: int, degrees: tuple[int, ...], seed: int) -> tuple[tuple[int, ...], ...]:
    g = generator(derive_seed(seed, "boolean_cube", "subsets"))
    chosen: list[tuple[int, ...]] = []
    for k in degrees:
        while True:
            s = tuple(sorted(torch.randperm(d, generator=g)[:k].tolist()))
            if s not in chosen:
                chosen.append(s)
                break
    return tuple(chosen)


@TASKS.register("boolean_cube")
def make_boolean_cube(config: BooleanCubeConfig, seed: int) -> TaskData:
    """Train on ``n_train`` cube points drawn by the seed; info holds the target's Walsh expansion.

    ``info``: ``d``, ``subsets``, ``masks``, ``coefficients``, ``degrees``,
    ``train_index`` / ``test_index`` (cube rows), ``cube_target`` (float64, all ``2^d`` points).
    Splits: ``x`` ``(n, d)`` in ``{±1}``, ``y`` ``(n, 1)``.

    Examples:
        >>> data = make_boolean_cube(BooleanCubeConfig(d=3, subsets=((0, 1),), coefficients=(2.0,), n_train=6), seed=0)
        >>> tuple(data.train.x.shape), tuple(data.train.y.shape), tuple(data.test.x.shape), data.info["masks"]
        ((6, 3), (6, 1), (2, 3), (3,))
        >>> bool(torch.equal(data.train.y[:, 0], 2 * data.train.x[:, 0] * data.train.x[:, 1]))
        True
    """
    d = config.d
    subsets = config.subsets or _draw_subsets(d, config.degrees, seed)
    cube = cube_points(d)
    target = walsh_target(cube.double(), subsets, config.coefficients)
    tags = ("split",) if config.draw == 0 else ("split", config.draw)
    perm = torch.randperm(2**d, generator=generator(derive_seed(seed, "boolean_cube", *tags)))
    train_index = perm[: config.n_train].sort().values
    test_index = perm[config.n_train :].sort().values if config.test == "rest" else torch.arange(2**d)
    y = target.float()[:, None]
    info = {
        "d": d,
        "subsets": subsets,
        "masks": tuple(subset_mask(s) for s in subsets),
        "coefficients": tuple(float(c) for c in config.coefficients),
        "degrees": tuple(len(s) for s in subsets),
        "train_index": train_index,
        "test_index": test_index,
        "cube_target": target,
    }
    test = Split(cube[test_index], y[test_index]) if len(test_index) else None
    return TaskData(Split(cube[train_index], y[train_index]), test, "mse", info)


__all__ = [
    "BooleanCubeConfig",
    "cube_points",
    "degree_eigenvalues",
    "degree_power",
    "make_boolean_cube",
    "mask_degrees",
    "subset_mask",
    "walsh_coefficients",
    "walsh_function",
    "walsh_target",
]
