"""Linear teacher with prescribed singular values and whitened inputs."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from bridge.config import config_class, require
from bridge.seeding import derive_seed, generator
from bridge.tasks.base import TASKS, Split, TaskData
from bridge.tasks.memory import check_memory, sized


def _orthonormal(rows: int, cols: int, g: torch.Generator) -> torch.Tensor:
    """A ``(rows, cols)`` matrix with orthonormal columns (``rows >= cols``), Haar-distributed."""
    q, r = torch.linalg.qr(torch.randn(rows, cols, generator=g, dtype=torch.float64))
    return (q * torch.sign(torch.diagonal(r))).float()


@config_class("linear_teacher")
@dataclass(frozen=True)
class LinearTeacherConfig:
    """``y = W x`` with ``W = U diag(s) Vᵀ`` and inputs whose correlation ``(1/n) XᵀX`` is the identity.

    Args:
        singular_values: the teacher's singular values ``s`` (positive, one per mode;
            empty: the zero map, a rank-0 teacher). The task's tensors are float32: each ``s``
            must be at least float32's smallest normal number times ``√(d_in·d_out)``
            (about ``1.18e-38 · √(d_in·d_out)``), or its mode's targets underflow.
        d_in, d_out: input and output sizes (each ≥ number of modes).
        n_train: number of training inputs (≥ ``d_in`` so the inputs can be exactly whitened).
        n_test: number of Gaussian test inputs (0: no test split).

    Examples:
        >>> LinearTeacherConfig([3.0, 1.0], d_in=4, d_out=3).singular_values
        (3.0, 1.0)
        >>> LinearTeacherConfig((3.0,), d_in=4, d_out=3, n_train=2)
        Traceback (most recent call last):
        ...
        bridge.config.ConfigError: linear_teacher.n_train must be >= d_in=4 to whiten, got 2
    """

    singular_values: tuple[float, ...]
    d_in: int
    d_out: int
    n_train: int | None = None
    n_test: int = 256

    def __post_init__(self) -> None:
        if isinstance(self.singular_values, list):
            object.__setattr__(self, "singular_values", tuple(self.singular_values))
        r = len(self.singular_values)
        require(all(s > 0 for s in self.singular_values), f"linear_teacher.singular_values must be positive, got {self.singular_values}")
        for name in ("d_in", "d_out"):
            require(getattr(self, name) >= 1, f"linear_teacher.{name} must be positive, got {getattr(self, name)}")
        require(self.n_test >= 0, f"linear_teacher.n_test must be >= 0, got {self.n_test}")
        if self.d_in >= 1 and self.d_out >= 1:  # the teacher's entries are about s/√(d_in·d_out), in float32
            least = float(torch.finfo(torch.float32).tiny) * math.sqrt(self.d_in * self.d_out)
            for i, s in enumerate(self.singular_values):
                require(s >= least, f"linear_teacher.singular_values[{i}] = {s!r} is too small for float32, the task's dtype: its mode's targets "
                        f"underflow (s/√(d_in·d_out) below float32's smallest normal number); use at least {least:.4g}")
        require(self.d_in >= r and self.d_out >= r, f"linear_teacher needs d_in, d_out >= {r} modes, got {self.d_in}, {self.d_out}")
        require(self.n_train is None or self.n_train >= self.d_in, f"linear_teacher.n_train must be >= d_in={self.d_in} to whiten, got {self.n_train}")


@sized("linear_teacher")
def _linear_teacher_bytes(c: LinearTeacherConfig) -> tuple[dict, int]:
    """Inputs orthonormalised in float64, inputs, targets and teacher in float32."""
    n = c.n_train or c.d_in
    need = 8 * (2 * n * c.d_in + c.d_in**2) + 4 * (2 * n * c.d_in + n * c.d_out + c.n_test * (c.d_in + c.d_out) + c.d_out * c.d_in)
    return {"d_in": c.d_in, "d_out": c.d_out, "n_train": c.n_train, "n_test": c.n_test}, need


@TASKS.register("linear_teacher")
def make_linear_teacher(config: LinearTeacherConfig, seed: int) -> TaskData:
    """Inputs ``X = √n Q`` (``Q`` orthonormal columns), targets ``X Wᵀ``; info holds ``U, S, V``.

    Splits: ``x`` ``(n, d_in)``, ``y`` ``(n, d_out)``. ``info``: ``U`` ``(d_out, r)``,
    ``S`` ``(r,)``, ``V`` ``(d_in, r)``, ``teacher`` ``(d_out, d_in)``, ``mode_level``.

    Examples:
        >>> data = make_linear_teacher(LinearTeacherConfig((3.0, 1.0), d_in=4, d_out=3, n_train=8, n_test=5), seed=0)
        >>> tuple(data.train.x.shape), tuple(data.train.y.shape), tuple(data.test.x.shape)
        ((8, 4), (8, 3), (5, 4))
        >>> bool(torch.allclose(data.train.x.T @ data.train.x / 8, torch.eye(4), atol=1e-5))   # whitened
        True
    """
    check_memory(config)
    g = generator(derive_seed(seed, "linear_teacher"))
    r = len(config.singular_values)
    n = config.n_train or config.d_in
    s = torch.tensor(config.singular_values, dtype=torch.float32)
    u = _orthonormal(config.d_out, r, g)
    v = _orthonormal(config.d_in, r, g)
    teacher = u @ torch.diag(s) @ v.T
    x = _orthonormal(n, config.d_in, g) * n**0.5
    x_test = torch.randn(config.n_test, config.d_in, generator=g)
    info = {"U": u, "S": s, "V": v, "teacher": teacher, "mode_level": list(range(r))}
    test = Split(x_test, x_test @ teacher.T) if config.n_test else None
    return TaskData(Split(x, x @ teacher.T), test, "half_sse", info)
