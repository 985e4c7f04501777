"""Sharpness tracker: the loss Hessian's top eigenpairs, trace and top-eigenvector loading.

Online (called by the training loop at tracked steps) or offline (over a run's
checkpoints in step order), the tracker warm-starts Lanczos from the previous
call's top eigenvector and orients each new top vector to agree in sign with
the previous one, so ``curvature/grad_along_top`` is comparable from step to
step (its sign flips every step when gradient descent oscillates along the top
direction at the edge of stability).

Rows (the caller adds ``step``):

* ``curvature/top_eig`` with ``rank`` (1 = largest): the top ``k`` eigenvalues.
* ``curvature/trace`` and ``curvature/trace_stderr``: Hutchinson's estimate.
* ``curvature/loading`` with ``group`` (a parameter tensor's ``state_dict`` key):
  the top eigenvector's share on each tensor (sums to 1).
* ``curvature/neuron_loading`` with ``layer, neuron`` and ``curvature/head_loading``
  with ``layer, head``: its share on each hidden unit / attention head.
* ``curvature/grad_along_top``: ``g · v₁`` (gradient component along the oriented top vector);
  ``curvature/grad_cosine``: ``g · v₁ / |g|``.
* ``curvature/hvp_count``: Hessian-vector products this call used.

:class:`CurvatureLoadingTracker` keeps only the loading and trace rows: run
offline over the checkpoints of a run whose sharpness was tracked online, it
adds where the top eigenvector lives without touching the online rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from bridge.estimators.hessian import hessian_operator, hutchinson_trace, lanczos_top
from bridge.estimators.parameter_groups import block_loading, tensor_loading
from bridge.seeding import derive_seed, generator
from bridge.tasks.base import TaskData
from bridge.tasks.rows import dense
from bridge.trackers.base import Row, row


def orient(vector: np.ndarray, reference: np.ndarray | None) -> np.ndarray:
    """``±vector`` so that it has a non-negative dot product with ``reference``
    (or, with no reference, a positive entry of largest magnitude).

    Args:
        vector: ``(n,)``.
        reference: ``(n,)`` or ``None``.

    Returns:
        ``(n,)``, ``vector`` or ``-vector``.

    Examples:
        >>> orient(np.array([1.0, -3.0]), None).tolist(), orient(np.array([1.0, 2.0]), np.array([-1.0, 0.0])).tolist()
        ([-1.0, 3.0], [-1.0, -2.0])
    """
    if reference is not None and reference.shape == vector.shape:
        return -vector if float(vector @ reference) < 0 else vector
    return -vector if vector[np.argmax(np.abs(vector))] < 0 else vector


@dataclass
class SharpnessTracker:
    """Top-``k`` Hessian eigenvalues (Lanczos), Hutchinson trace and the top eigenvector's loading.

    Args:
        k: number of top eigenvalues.
        trace_probes: Rademacher probes for the trace (0: no trace rows).
        subset: use this many training examples, a fixed seeded subset (``None``: full batch).
        tol: Lanczos relative tolerance on the eigenvalues.
        ncv: Lanczos basis size (``None``: ``max(2k + 2, 8)``; a small basis lets the
            warm start pay off, since ARPACK fills the whole basis before its first check).
        loading: emit the loading rows.
        seed: seeds the subset, the first start vector and the trace probes (per step).
        name: tracker name.

    Attributes:
        top_vector_: the last computed (oriented) top eigenvector, ``(n_params,)``,
            the next call's start vector (for ``k > 1`` the start is the sum of
            ``vectors_``, the last top-``k`` eigenvectors ``(n_params, k)``).

    Examples:
        >>> from bridge.models import MLPConfig, build_model
        >>> from bridge.tasks import LinearTeacherConfig, make_task
        >>> data = make_task(LinearTeacherConfig((2.0, 1.0), d_in=4, d_out=3, n_train=16), seed=0)
        >>> net = build_model(MLPConfig(d_in=4, d_out=3, widths=(8,), activation="tanh"), seed=0)
        >>> rows = SharpnessTracker(k=2, trace_probes=4)(net, 0, data)
        >>> eigs = [r["value"] for r in rows if r["observable"] == "curvature/top_eig"]
        >>> len(eigs), eigs[0] >= eigs[1]
        (2, True)
    """

    k: int = 1
    trace_probes: int = 8
    subset: int | None = None
    tol: float = 1e-5
    ncv: int | None = None
    loading: bool = True
    seed: int = 0
    name: str = "sharpness"
    top_vector_: np.ndarray | None = field(default=None, init=False, repr=False)
    vectors_: np.ndarray | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.k < 1:
            raise ValueError(f"SharpnessTracker.k must be >= 1, got {self.k}")
        if self.trace_probes < 0:
            raise ValueError(f"SharpnessTracker.trace_probes must be >= 0, got {self.trace_probes}")
        if self.subset is not None and self.subset < 1:
            raise ValueError(f"SharpnessTracker.subset must be positive or None, got {self.subset}")

    def batch(self, data: TaskData, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """The examples the Hessian is taken on: the full training split (compact rows decoded) or a fixed seeded subset."""
        x, y = data.train.x, data.train.y
        if self.subset is not None and self.subset < len(data.train):
            idx = torch.randperm(len(data.train), generator=generator(derive_seed(self.seed, "subset")))[: self.subset]
            x, y = x[idx], y[idx]
        return dense(x).to(device), y.to(device)

    def __call__(self, model: nn.Module, step: int, data: TaskData) -> list[Row]:
        device = next(model.parameters()).device
        x, y = self.batch(data, device)
        rows: list[Row] = []
        with hessian_operator(model, x, y, data.loss_fn) as op:
            previous = self.top_vector_ if self.top_vector_ is not None and self.top_vector_.shape[0] == op.shape[0] else None
            v0 = previous
            if previous is not None and self.vectors_ is not None and self.vectors_.shape == (op.shape[0], self.k) and self.k > 1:
                v0 = self.vectors_.sum(axis=1)  # start inside the previous top-k subspace
            start = generator(derive_seed(self.seed, "lanczos", step))
            ncv = min(op.shape[0], self.ncv or max(2 * self.k + 2, 8))
            values, vectors = lanczos_top(op, self.k, v0=v0, tol=self.tol, ncv=ncv, generator=start)
            top = orient(vectors[:, 0], previous)
            self.top_vector_, self.vectors_ = top, vectors
            rows += [row("curvature/top_eig", v, rank=r + 1) for r, v in enumerate(values)]
            grad = op.grad.detach().cpu().double().numpy()
            along = float(grad @ top)
            gnorm = float(np.linalg.norm(grad))
            rows.append(row("curvature/grad_along_top", along))
            rows.append(row("curvature/grad_cosine", along / gnorm if gnorm > 0 else 0.0))
            if self.trace_probes:
                est, err = hutchinson_trace(op, self.trace_probes, generator(derive_seed(self.seed, "hutchinson", step)))
                rows.append(row("curvature/trace", est))
                if self.trace_probes > 1:
                    rows.append(row("curvature/trace_stderr", err))
            n_hvp = op.n_hvp
        if self.loading:
            rows += [row("curvature/loading", v, group=g) for g, v in tensor_loading(model, top).items()]
            for block, share in block_loading(model, top):
                rows.append(row(f"curvature/{block.kind}_loading", share, **block.index))
        rows.append(row("curvature/hvp_count", n_hvp))
        return rows


LOADING_OBSERVABLES = ("curvature/loading", "curvature/neuron_loading", "curvature/head_loading", "curvature/trace", "curvature/trace_stderr")


@dataclass
class CurvatureLoadingTracker:
    """Where the top Hessian eigenvector lives (per tensor, per hidden neuron or head) and the Hessian trace.

    The rows of :class:`SharpnessTracker` named in :data:`LOADING_OBSERVABLES`
    and no others: :func:`bridge.analyze` replaces an observable's rows at the
    steps it analyses, so running this over the checkpoints of a run whose
    sharpness was tracked online at every step adds the loadings and leaves the
    online eigenvalues and gradient components as they were. Consecutive calls
    warm-start Lanczos from the previous top eigenvector, as the sharpness tracker does.

    Args:
        trace_probes: Rademacher probes for the trace (0: no trace rows).
        subset: use this many training examples, a fixed seeded subset (``None``: full batch).
        tol: Lanczos relative tolerance.
        ncv: Lanczos basis size (``None``: the sharpness tracker's default).
        seed: seeds the subset, the first start vector and the trace probes.
        name: tracker name.

    Examples:
        >>> from bridge.models import MLPConfig, build_model
        >>> from bridge.tasks import LinearTeacherConfig, make_task
        >>> data = make_task(LinearTeacherConfig((2.0, 1.0), d_in=4, d_out=3, n_train=16), seed=0)
        >>> net = build_model(MLPConfig(d_in=4, d_out=3, widths=(8,), activation="tanh"), seed=0)
        >>> rows = CurvatureLoadingTracker(trace_probes=4)(net, 0, data)
        >>> sorted({r["observable"] for r in rows})
        ['curvature/loading', 'curvature/neuron_loading', 'curvature/trace', 'curvature/trace_stderr']
        >>> round(sum(r["value"] for r in rows if r["observable"] == "curvature/loading"), 6)
        1.0
    """

    trace_probes: int = 16
    subset: int | None = None
    tol: float = 1e-5
    ncv: int | None = None
    seed: int = 0
    name: str = "curvature_loading"
    sharpness_: SharpnessTracker = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.sharpness_ = SharpnessTracker(k=1, trace_probes=self.trace_probes, subset=self.subset, tol=self.tol, ncv=self.ncv, loading=True, seed=self.seed)

    def __call__(self, model: nn.Module, step: int, data: TaskData) -> list[Row]:
        return [r for r in self.sharpness_(model, step, data) if r["observable"] in LOADING_OBSERVABLES]


__all__ = ["LOADING_OBSERVABLES", "CurvatureLoadingTracker", "SharpnessTracker", "orient"]
