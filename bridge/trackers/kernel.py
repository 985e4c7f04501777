"""Trackers of the lazy and the rich regime: how far the tangent kernel moves, and where the first layer's weight goes.

:class:`KernelTracker` computes the empirical NTK (:func:`bridge.estimators.empirical_ntk`,
trace over outputs) on a fixed probe set of the task's inputs at every call and
compares it with the kernel of its first call. Rows (the caller adds ``step``):

* ``kernel/distance``: ``1 − ⟨K₀, K_t⟩_F / (‖K₀‖_F ‖K_t‖_F)`` from the first call's
  kernel ``K₀`` (Fort et al. 2020); 0 at the first call, near 0 throughout lazy training.
* ``kernel/alignment``: ``⟨K_t, Y Yᵀ⟩_F / (‖K_t‖_F ‖Y Yᵀ‖_F)`` with the probe targets
  ``Y`` (integer class labels are one-hot, so ``Y Yᵀ`` marks same-class pairs; NaN for all-zero targets).
* ``kernel/eigenvalue`` with index ``mode`` (0 = largest): the top ``k`` eigenvalues.
* ``kernel/effective_rank``: ``(Σλ)² / Σλ² = (tr K)² / ‖K‖_F²``.
* ``kernel/trace``: ``tr K_t = Σλ``.

:class:`FeatureAlignmentTracker` measures the share of the first layer's squared
weight norm on the input coordinates, or the input subspace, the target depends on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bridge.estimators.ntk import OutputFn, effective_rank, empirical_ntk, kernel_distance, kernel_target_alignment, top_eigenvalues
from bridge.models.base import evaluating
from bridge.seeding import derive_seed, generator
from bridge.tasks.base import TaskData
from bridge.tasks.rows import dense
from bridge.trackers.base import Row, row


@dataclass
class KernelTracker:
    """Kernel distance from the first call, kernel–target alignment, top eigenvalues and effective rank.

    ``K₀`` is the kernel at the first call: step 0 when the tracker runs from the
    start of training, or the first checkpoint :func:`bridge.analyze` visits. A
    run resumed from a checkpoint starts a new ``K₀`` unless :meth:`set_reference`
    is called with the initial model first.

    Args:
        n_probe: probe inputs (the whole split when it is smaller); a seeded subset, fixed across calls.
        split: ``"train"`` or ``"test"``, the split the probes are taken from.
        k: number of top eigenvalues reported.
        chunk_size: inputs per Jacobian evaluation (see :func:`bridge.estimators.empirical_ntk`).
        output: maps the model's batch output to the outputs the kernel is taken of
            (e.g. a transformer's last position); ``None``: every output.
        params: name prefixes of the parameters the kernel is taken over (``None``: all trainable).
        seed: seeds the probe subset.
        name: tracker name.

    Attributes:
        initial_kernel_: ``K₀``, ``(n_probe, n_probe)``; ``initial_step_``: the step it was taken at.

    Examples:
        >>> from bridge.models import DeepLinearConfig, build_model
        >>> from bridge.tasks import LinearTeacherConfig, make_task
        >>> data = make_task(LinearTeacherConfig((2.0, 1.0), d_in=3, d_out=3, n_train=16), seed=0)
        >>> tracker = KernelTracker(n_probe=8, k=2)
        >>> rows = tracker(build_model(DeepLinearConfig(3, 8, 3, init_std=0.5), seed=0), 0, data)
        >>> [r["observable"] for r in rows][:3], round(rows[0]["value"], 12)
        (['kernel/distance', 'kernel/alignment', 'kernel/eigenvalue'], 0.0)
    """

    n_probe: int = 128
    split: str = "train"
    k: int = 5
    chunk_size: int | None = 256
    output: OutputFn | None = None
    params: tuple[str, ...] | None = None
    seed: int = 0
    name: str = "kernel"
    initial_kernel_: Tensor | None = field(default=None, init=False, repr=False)
    initial_step_: int | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.n_probe < 2:
            raise ValueError(f"KernelTracker.n_probe must be >= 2, got {self.n_probe}")
        if self.split not in ("train", "test"):
            raise ValueError(f"KernelTracker.split must be 'train' or 'test', got {self.split!r}")
        if self.k < 1:
            raise ValueError(f"KernelTracker.k must be >= 1, got {self.k}")
        if self.chunk_size is not None and self.chunk_size < 1:
            raise ValueError(f"KernelTracker.chunk_size must be positive or None, got {self.chunk_size}")
        if isinstance(self.params, (list, str)):
            self.params = (self.params,) if isinstance(self.params, str) else tuple(self.params)

    def probes(self, data: TaskData) -> tuple[Tensor, Tensor]:
        """The probe inputs and targets: the split itself, or a seeded subset of ``n_probe`` examples in split order."""
        split = data.train if self.split == "train" else data.test
        if split is None:
            raise ValueError("KernelTracker(split='test') needs a task with a test split")
        if len(split) <= self.n_probe:
            return dense(split.x), split.y  # compact rows decoded
        idx = torch.randperm(len(split), generator=generator(derive_seed(self.seed, "probe")))[: self.n_probe].sort().values
        return split.x[idx], split.y[idx]

    def kernel(self, model: nn.Module, data: TaskData) -> Tensor:
        """The trace NTK ``(n_probe, n_probe)`` of ``model`` on the probes (eval mode)."""
        x, _ = self.probes(data)
        with evaluating(model):
            return empirical_ntk(model, x, chunk_size=self.chunk_size, output=self.output, params=self.params)

    def set_reference(self, model: nn.Module, data: TaskData, step: int = 0) -> None:
        """Take ``K₀`` from ``model`` (e.g. the run's initial checkpoint) instead of the first call."""
        self.initial_kernel_, self.initial_step_ = self.kernel(model, data).detach().clone(), step

    def reset(self) -> None:
        """Forget ``K₀``: the next call takes it again."""
        self.initial_kernel_, self.initial_step_ = None, None

    def __call__(self, model: nn.Module, step: int, data: TaskData) -> list[Row]:
        kernel = self.kernel(model, data)
        if self.initial_kernel_ is None:
            self.initial_kernel_, self.initial_step_ = kernel.detach().clone(), step
        if self.initial_kernel_.shape != kernel.shape:
            raise ValueError(f"the probe kernel has shape {tuple(kernel.shape)}, its reference {tuple(self.initial_kernel_.shape)}: call reset() for other data")
        y = _targets(self.probes(data)[1]).to(kernel.device)
        k = min(self.k, kernel.shape[0])
        alignment = kernel_target_alignment(kernel, y) if bool(y.any()) else float("nan")  # undefined for zero targets
        rows = [row("kernel/distance", kernel_distance(self.initial_kernel_.to(kernel), kernel)), row("kernel/alignment", alignment)]
        rows += [row("kernel/eigenvalue", value, mode=m) for m, value in enumerate(top_eigenvalues(kernel, k).tolist())]
        rows += [row("kernel/effective_rank", effective_rank(kernel)), row("kernel/trace", torch.trace(kernel))]
        return rows


def _targets(y: Tensor) -> Tensor:
    """Targets as numbers: floats as they are, integer class labels one-hot."""
    if y.is_floating_point():
        return y
    return F.one_hot(y.long(), int(y.max()) + 1).double()


@dataclass
class FeatureAlignmentTracker:
    """The share of the first layer's squared weight norm on the target's support coordinates (or subspace).

    For a first-layer weight ``W`` (rows: units, columns: input coordinates) and a
    support ``S``: ``share = Σ_{j∈S} ‖W[:, j]‖² / ‖W‖_F²``, which is ``|S|/d`` in
    expectation for weights drawn independently of the coordinates and 1 when the
    layer reads only the support. For a target that depends on the inputs through a
    ``k``-dimensional subspace (a multi-index target ``f(Bx)``), the same with the
    orthogonal projector ``P`` onto the span of ``B``'s rows: ``share = ‖W P‖_F² / ‖W‖_F²``,
    ``k/d`` in expectation for an isotropic ``W``; coordinates are the subspace of their
    unit vectors. Rows: ``features/support_share`` and
    ``features/support_enrichment = share · d / |S|`` (``d / k`` for a subspace; 1 at an isotropic init).

    Args:
        support: input coordinates the target depends on; ``None``: ``data.info["support"]``
            (unless ``subspace`` is given).
        subspace: instead of coordinates, a basis of the input subspace the target depends on,
            its vectors as rows, shape ``(k, d_in)`` with rank ``k`` (it need not be orthonormal).
        parameter: name of the weight (``named_parameters`` or ``state_dict`` key);
            ``None``: the model's first two-dimensional parameter (``layers.0.weight``
            of an MLP, ``weights.0`` of a deep linear network).
        input_axis: the weight's axis over input coordinates (``-1`` for ``nn.Linear``'s
            ``(out, in)`` layout; ``0`` for an embedding ``(d_vocab, d_model)``).
        name: tracker name.

    Examples:
        >>> net = torch.nn.Sequential(torch.nn.Linear(4, 2, bias=False))
        >>> with torch.no_grad():
        ...     _ = net[0].weight.copy_(torch.tensor([[3.0, 0.0, 1.0, 0.0], [0.0, 0.0, 1.0, 1.0]]))
        >>> rows = FeatureAlignmentTracker(support=(0,))(net, 0, None)
        >>> [(r["observable"], r["value"]) for r in rows]
        [('features/support_share', 0.75), ('features/support_enrichment', 3.0)]
        >>> rows = FeatureAlignmentTracker(subspace=[[1.0, 0.0, 1.0, 0.0]])(net, 0, None)  # the direction e₀ + e₂
        >>> round(rows[0]["value"], 4)  # (‖W(e₀+e₂)‖²/2) / ‖W‖² = (16 + 1)/2 / 12
        0.7083
    """

    support: tuple[int, ...] | None = None
    parameter: str | None = None
    input_axis: int = -1
    name: str = "feature_alignment"
    subspace: tuple[tuple[float, ...], ...] | None = None

    def __post_init__(self) -> None:
        if self.support is not None and self.subspace is not None:
            raise ValueError("FeatureAlignmentTracker takes support coordinates or a subspace, not both")
        if self.support is not None:
            self.support = _check_support(self.support)
        if self.subspace is not None:
            self.subspace = tuple(tuple(float(v) for v in b) for b in _subspace_basis(self.subspace).tolist())

    def weight(self, model: nn.Module) -> Tensor:
        """The first-layer weight as ``(units, d_in)``."""
        if self.parameter is None:
            found = next((p for p in model.parameters() if p.ndim == 2), None)
            if found is None:
                raise ValueError("FeatureAlignmentTracker: the model has no two-dimensional parameter; name one with `parameter`")
        else:
            named = {**dict(model.named_parameters()), **model.state_dict(keep_vars=True)}
            if self.parameter not in named:
                raise ValueError(f"FeatureAlignmentTracker: no parameter {self.parameter!r} in the model")
            found = named[self.parameter]
        if found.ndim != 2:
            raise ValueError(f"FeatureAlignmentTracker: parameter {self.parameter!r} is not a matrix (shape {tuple(found.shape)})")
        return found.detach().movedim(self.input_axis, -1)

    def __call__(self, model: nn.Module, step: int, data: TaskData | None) -> list[Row]:
        if self.subspace is not None:
            return self._subspace_rows(self.weight(model))
        support = self.support
        if support is None:
            info = {} if data is None else data.info
            if info.get("support") is None:
                raise ValueError("FeatureAlignmentTracker needs `support` or a task whose info has 'support'")
            support = _check_support(info["support"])
        w = self.weight(model)
        d_in = w.shape[-1]
        if max(support) >= d_in:
            raise ValueError(f"support coordinate {max(support)} is outside the layer's {d_in} inputs")
        column_norms = (w.double() ** 2).sum(0)
        total = column_norms.sum()
        if total == 0:
            raise ValueError("the first-layer weight is zero: its support share is undefined")
        share = column_norms[list(support)].sum() / total
        return [row("features/support_share", share), row("features/support_enrichment", share * d_in / len(support))]

    def _subspace_rows(self, w: Tensor) -> list[Row]:
        basis = torch.tensor(self.subspace, dtype=torch.float64)
        if basis.shape[1] != w.shape[-1]:
            raise ValueError(f"the subspace's vectors have {basis.shape[1]} coordinates, the layer has {w.shape[-1]} inputs")
        q, _ = torch.linalg.qr(basis.T)  # (d_in, k), orthonormal columns spanning the subspace
        w = w.double().cpu()
        total = (w**2).sum()
        if total == 0:
            raise ValueError("the first-layer weight is zero: its subspace share is undefined")
        share = ((w @ q) ** 2).sum() / total
        return [row("features/support_share", share), row("features/support_enrichment", share * w.shape[-1] / q.shape[1])]


def _check_support(support: Sequence[int] | Tensor) -> tuple[int, ...]:
    values = torch.as_tensor(support).reshape(-1).tolist()
    if not values or any(not float(v).is_integer() or v < 0 for v in values) or len(set(values)) != len(values):
        raise ValueError(f"support must be distinct non-negative coordinate indices, got {support!r}")
    return tuple(int(v) for v in values)


def _subspace_basis(subspace: Sequence[Sequence[float]] | Tensor) -> Tensor:
    basis = torch.as_tensor(subspace, dtype=torch.float64)
    if basis.ndim != 2 or not basis.numel():
        raise ValueError(f"subspace must be a (k, d_in) matrix of basis vectors as rows, got shape {tuple(basis.shape)}")
    if not torch.isfinite(basis).all():
        raise ValueError("subspace holds a non-finite value")
    k, d = basis.shape
    singular = torch.linalg.svdvals(basis)
    if k > d or singular[-1] <= 1e-10 * singular[0]:
        raise ValueError(f"subspace's {k} vectors in {d} coordinates are not linearly independent (rank {int((singular > 1e-10 * singular[0]).sum())})")
    return basis


__all__ = ["FeatureAlignmentTracker", "KernelTracker"]
