"""Curvature of the loss: Hessian-vector products, top eigenpairs, trace.

The Hessian is never formed. :func:`hessian_operator` builds the gradient of
the loss once with ``create_graph=True`` and answers each Hessian-vector
product (HVP) by differentiating ``grad · v`` again (double backward), so every
model of the library (MLP, deep linear network, toy transformer) works as is.
The operator is a :class:`scipy.sparse.linalg.LinearOperator` in float64, so
:func:`lanczos_top` is scipy's ARPACK Lanczos (``eigsh``); :func:`power_iteration`
is the baseline and :func:`hutchinson_trace` estimates ``tr H`` with Rademacher
probes drawn from a generator the caller passes in.

Examples:
    >>> import torch
    >>> from bridge.models import MLPConfig, build_model
    >>> net = build_model(MLPConfig(d_in=2, d_out=1, widths=(4,), activation="tanh"), seed=0)
    >>> x, y = torch.randn(8, 2, generator=torch.Generator().manual_seed(0)), torch.zeros(8, 1)
    >>> loss = lambda out, target: ((out - target) ** 2).mean()
    >>> with hessian_operator(net, x, y, loss) as op:
    ...     values, vectors = lanczos_top(op, k=2)
    >>> bool(values[0] >= values[1]), vectors.shape
    (True, (17, 2))
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from jaxtyping import Float
from scipy.sparse.linalg import ArpackError, LinearOperator, eigsh
from torch import Tensor, nn

from bridge.estimators.reparam import model_input, scalar_loss, trainable_tensors
from bridge.models.base import eval_mode

LossFn = Callable[[Tensor, Tensor], Tensor]


class HessianOperator(LinearOperator):
    """``v ↦ H v`` for the Hessian ``H`` of a loss w.r.t. a list of parameters, float64 on the scipy side.

    Build it with :func:`hessian_operator` (a context manager that frees the
    autograd graph on exit). Counts the products it answers in ``n_hvp``.

    Attributes:
        params: the parameters, in the order of the flat vector.
        grad: the flat gradient ``(n_params,)`` (detached copy).
        n_hvp: number of Hessian-vector products computed so far.

    Examples:
        >>> net, x = torch.nn.Linear(2, 1, bias=False), torch.diag(torch.tensor([1.0, 2.0]))  # H = 2XᵀX/n = diag(1, 4)
        >>> with hessian_operator(net, x, torch.zeros(2, 1), lambda out, y: ((out - y) ** 2).mean()) as op:
        ...     op.shape, op.hvp(torch.tensor([1.0, 1.0])).tolist(), op.n_hvp
        ((2, 2), [1.0, 4.0], 1)
    """

    def __init__(self, params: Sequence[Tensor], flat_grad: Float[Tensor, " n_params"]) -> None:
        n = flat_grad.numel()
        super().__init__(dtype=np.float64, shape=(n, n))
        self.params = list(params)
        self._flat_grad: Tensor | None = flat_grad  # None once released
        self.grad = flat_grad.detach().clone()
        self.n_hvp = 0

    def hvp(self, vector: Float[Tensor, " n_params"]) -> Float[Tensor, " n_params"]:
        """``H v`` as a torch vector in the parameters' dtype and device."""
        flat_grad = self._flat_grad
        if flat_grad is None:
            raise RuntimeError("this HessianOperator's graph was freed: use it inside its `with` block")
        if vector.shape != flat_grad.shape:
            raise ValueError(f"vector has shape {tuple(vector.shape)}, expected ({self.shape[0]},)")
        v = vector.to(flat_grad)
        parts: Sequence[Tensor | None] = [None] * len(self.params)
        if flat_grad.requires_grad:  # otherwise the gradient is constant (a loss linear in the parameters): H = 0
            with torch.enable_grad():
                parts = torch.autograd.grad(flat_grad @ v, self.params, retain_graph=True, allow_unused=True)
        self.n_hvp += 1
        return torch.cat([(torch.zeros_like(p) if h is None else h).reshape(-1) for h, p in zip(parts, self.params)])

    def _matvec(self, x: np.ndarray) -> np.ndarray:
        v = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64).reshape(-1))
        out = self.hvp(v).detach().cpu().double().numpy()
        _check_product(out)
        return out

    def _adjoint(self) -> HessianOperator:
        return self  # symmetric

    def release(self) -> None:
        """Free the autograd graph; later products raise."""
        self._flat_grad = None


@contextmanager
def hessian_operator(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    loss_fn: LossFn,
    params: Sequence[Tensor] | None = None,
) -> Iterator[HessianOperator]:
    """The Hessian of ``loss_fn(model(x), y)`` as a :class:`HessianOperator`, valid inside the block.

    The model is put in eval mode with autograd enabled inside the block and
    restored after; parameter ``.grad`` fields are not touched.

    Args:
        model: any ``nn.Module`` of the library.
        x, y: the batch (full batch or a fixed subset), ``(n, ...)`` each, finite; floating-point ones are cast to
            the parameters' dtype.
        loss_fn: ``(output, target) -> scalar`` (one number; more are refused), written without ``F.mse_loss``.
        params: distinct parameter tensors of ``model`` that require grad, in the order of the flat vector
            (default: all with ``requires_grad``); anything else is refused by position.

    Yields:
        The operator, ``(n_params, n_params)``; ``op.grad`` holds the flat gradient ``(n_params,)``.

    Examples:
        >>> net, x = torch.nn.Linear(2, 1, bias=False), torch.diag(torch.tensor([1.0, 2.0]))
        >>> with hessian_operator(net, x, torch.zeros(2, 1), lambda out, y: ((out - y) ** 2).mean()) as op:
        ...     op.matvec(np.array([0.0, 1.0])).tolist()  # H = 2XᵀX/n = diag(1, 4)
        [0.0, 4.0]
    """
    params = trainable_tensors(model, params, "hessian_operator: ")
    for name, batch in (("x", x), ("y", y)):
        if not isinstance(batch, Tensor) or batch.ndim == 0:
            raise ValueError(f"hessian_operator: {name} must be a batch (n, ...), got {tuple(batch.shape) if isinstance(batch, Tensor) else type(batch).__name__}")
    if x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise ValueError(f"hessian_operator: x and y must hold the same positive number of examples, got {x.shape[0]} and {y.shape[0]}")
    x, y = model_input("x", x, model), model_input("y", y, model)
    op = None
    with eval_mode(model):
        try:
            with torch.enable_grad():
                loss = scalar_loss(loss_fn(model(x), y), "hessian_operator: ")
                if not torch.isfinite(loss):
                    raise ValueError(f"hessian_operator: the loss at the model's parameters is {loss.item()}, not a finite number")
                grads = torch.autograd.grad(loss, params, create_graph=True, allow_unused=True) if loss.requires_grad else [None] * len(params)
                flat = torch.cat([(torch.zeros_like(p) if g is None else g).reshape(-1) for g, p in zip(grads, params)])
                op = HessianOperator(params, flat)
                yield op
        finally:
            if op is not None:
                op.release()


def _check_product(w: np.ndarray, caller: str = "") -> None:
    """Refuse a product ``H v`` with a NaN or infinite entry (the read-outs would be NaN without a word);
    ``caller`` prefixes the message."""
    if not np.all(np.isfinite(w)):
        bad = int(np.flatnonzero(~np.isfinite(w))[0])
        raise ValueError(f"{caller}the operator's product H v is not finite: {w[bad]} at entry {bad}")


def _norm(w: np.ndarray) -> float:
    """``‖w‖`` without overflow: numpy's norm was inf past 1e154 per entry, and the next vector w / inf was zero."""
    top = float(np.abs(w).max(initial=0.0))
    return top * float(np.linalg.norm(w / top)) if top > 0 else 0.0


def _is_count(value: object) -> bool:
    """Whether ``value`` is an integer (Python or NumPy), not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _start_vector(n: int, v0: np.ndarray | None, generator: torch.Generator | None) -> np.ndarray:
    if v0 is not None:
        v0 = np.asarray(v0, dtype=np.float64).reshape(-1)
        if v0.shape[0] != n:
            raise ValueError(f"v0 has {v0.shape[0]} entries, the operator acts on {n}")
        if not np.all(np.isfinite(v0)):
            bad = int(np.flatnonzero(~np.isfinite(v0))[0])
            raise ValueError(f"v0 must be finite, got {v0[bad]} at entry {bad}")
        if np.linalg.norm(v0) > 0:
            return v0 / np.linalg.norm(v0)
    g = generator if generator is not None else torch.Generator().manual_seed(0)
    v = torch.randn(n, generator=g, dtype=torch.float64).numpy()
    return v / np.linalg.norm(v)


def lanczos_top(
    op: LinearOperator,
    k: int = 1,
    *,
    v0: np.ndarray | None = None,
    tol: float = 1e-6,
    maxiter: int | None = None,
    ncv: int | None = None,
    generator: torch.Generator | None = None,
) -> tuple[Float[np.ndarray, " k"], Float[np.ndarray, "n_params k"]]:
    """The ``k`` algebraically largest eigenpairs of a symmetric operator by Lanczos (ARPACK ``eigsh``).

    Args:
        op: a symmetric ``(n, n)`` operator, e.g. a :class:`HessianOperator`.
        k: number of eigenpairs (``1 <= k < n``).
        v0: a finite start vector ``(n,)``, e.g. the previous checkpoint's top eigenvector
            (warm start); if ``None`` a Gaussian vector from ``generator``
            (seed 0 when no generator is given), never numpy's global state.
        tol: ARPACK's relative tolerance on the Ritz values.
        maxiter: ARPACK restarts cap (default scipy's).
        ncv: Lanczos basis size (default ``min(n, max(2k + 1, 20))``).

    Returns:
        ``values`` ``(k,)`` in descending order and unit ``vectors`` ``(n, k)``; for the zero operator (a deep linear
        network at the origin) zeros and orthonormal vectors, the first the start vector.

    Raises:
        ValueError: ``k`` or ``tol`` out of range, a bad ``v0``, or a product ``H v`` that is not finite.

    Examples:
        >>> from scipy.sparse.linalg import aslinearoperator
        >>> values, vectors = lanczos_top(aslinearoperator(np.diag([4.0, 3.0, 2.0, 1.0])), k=2)
        >>> values.round(6).tolist(), np.abs(vectors).round(6).tolist()
        ([4.0, 3.0], [[1.0, 0.0], [0.0, 1.0], [0.0, 0.0], [0.0, 0.0]])
    """
    n = op.shape[0]
    if not _is_count(k) or not 1 <= k < n:
        raise ValueError(f"lanczos_top: k must satisfy 1 <= k < n={n} as an integer, got {k!r}")
    if not tol >= 0:  # NaN fails too
        raise ValueError(f"lanczos_top: tol must be >= 0, got {tol}")
    start = _start_vector(n, v0, generator)
    if ncv is None:
        ncv = min(n, max(2 * k + 1, 20))
    def checked(v: np.ndarray) -> np.ndarray:  # a NaN product made ARPACK raise its own ArpackError
        w = np.asarray(op.matvec(v), dtype=np.float64).reshape(-1)
        _check_product(w, "lanczos_top: ")
        return w

    checked_op = LinearOperator(op.shape, matvec=checked, dtype=np.float64)
    try:
        values, vectors = eigsh(checked_op, k=k, which="LA", v0=start, tol=tol, maxiter=maxiter, ncv=ncv)
    except ArpackError as err:  # ARPACK found no vector in the range of a zero operator (info -9) and gave up
        if not str(err).startswith("ARPACK error -9:") or _norm(checked(start)) != 0:
            raise
        vectors = np.linalg.qr(np.column_stack([start, np.eye(n)[:, : k - 1]]))[0]  # orthonormal, the first ±start
        return np.zeros(k), vectors * np.sign(vectors[:, 0] @ start)
    order = np.argsort(values)[::-1]
    return values[order], vectors[:, order]


@dataclass(frozen=True)
class PowerResult:
    """Outcome of :func:`power_iteration`: estimate, unit vector ``(n,)``, iterations, and each iteration's estimate.

    Examples:
        >>> from scipy.sparse.linalg import aslinearoperator
        >>> res = power_iteration(aslinearoperator(np.diag([3.0, 1.0])))
        >>> round(res.value, 4), res.vector.shape, len(res.history) == res.iterations
        (3.0, (2,), True)
    """

    value: float
    vector: np.ndarray
    iterations: int
    history: tuple[float, ...]


def power_iteration(
    op: LinearOperator,
    *,
    v0: np.ndarray | None = None,
    max_iter: int = 1000,
    rtol: float = 1e-6,
    stop: Callable[[float], bool] | None = None,
    generator: torch.Generator | None = None,
) -> PowerResult:
    """Power iteration for the eigenvalue of largest magnitude (the baseline for :func:`lanczos_top`).

    It converges to the top eigenvalue when that dominates the most negative one
    in magnitude (the usual case for a trained network's Hessian); the rate is
    ``|λ2/λ1|`` per product, against roughly its square root for Lanczos.

    Args:
        op: a symmetric ``(n, n)`` operator.
        v0: start vector ``(n,)`` (default Gaussian from ``generator``).
        max_iter: cap on Hessian-vector products.
        rtol: stop when successive Rayleigh quotients differ by less than ``rtol`` relative.
        stop: optional predicate on the current estimate that stops the loop when true
            (benchmarks use it to stop at a known accuracy).

    Returns:
        A :class:`PowerResult`; ``history[i]`` is the Rayleigh quotient after ``i + 1`` products.

    Examples:
        >>> from scipy.sparse.linalg import aslinearoperator
        >>> res = power_iteration(aslinearoperator(np.diag([3.0, 1.0])))
        >>> round(res.value, 4), np.abs(res.vector).round(3).tolist()
        (3.0, [1.0, 0.0])
    """
    if not _is_count(max_iter) or max_iter < 1:
        raise ValueError(f"power_iteration: max_iter must be an integer >= 1, got {max_iter!r}")
    if not rtol >= 0:  # NaN fails too (it would run every iteration up to max_iter)
        raise ValueError(f"power_iteration: rtol must be >= 0, got {rtol}")
    v = _start_vector(op.shape[0], v0, generator)
    history: list[float] = []
    value = float("nan")
    for _ in range(max_iter):
        w = op.matvec(v)
        _check_product(w)
        new = float(v @ w)
        history.append(new)
        norm = _norm(w)
        if norm == 0:
            value = 0.0
            break
        converged = abs(new - value) <= rtol * abs(new)
        value, v = new, w / norm
        if converged or (stop is not None and stop(value)):
            break
    return PowerResult(value, v, len(history), tuple(history))


def hutchinson_trace(op: LinearOperator, n_probes: int, generator: torch.Generator) -> tuple[float, float]:
    """Hutchinson's estimate of ``tr H`` with Rademacher probes: ``mean_i zᵢᵀ H zᵢ``.

    Args:
        op: a symmetric ``(n, n)`` operator.
        n_probes: number of probes (each costs one product).
        generator: the source of the probes (randomness is passed in).

    Returns:
        ``(estimate, standard_error)``; the error is ``nan`` for one probe.

    Raises:
        ValueError: ``n_probes`` not an integer >= 1. TypeError: ``generator`` not a ``torch.Generator``.

    Examples:
        >>> from scipy.sparse.linalg import aslinearoperator
        >>> hutchinson_trace(aslinearoperator(np.diag([4.0, 3.0, 2.0, 1.0])), 3, torch.Generator().manual_seed(0))  # exact when diagonal
        (10.0, 0.0)
    """
    if not _is_count(n_probes) or n_probes < 1:
        raise ValueError(f"hutchinson_trace: n_probes must be an integer >= 1, got {n_probes!r}")
    if not isinstance(generator, torch.Generator):  # None would draw from torch's global state
        raise TypeError(f"hutchinson_trace: generator must be a torch.Generator, got {type(generator).__name__}")
    n = op.shape[0]
    samples = []
    for _ in range(n_probes):
        z = (torch.randint(0, 2, (n,), generator=generator, dtype=torch.int64) * 2 - 1).double().numpy()
        w = op.matvec(z)
        _check_product(w)
        samples.append(float(z @ w))
    arr = np.array(samples)
    err = float(arr.std(ddof=1) / np.sqrt(n_probes)) if n_probes > 1 else float("nan")
    return float(arr.mean()), err


def dense_hessian(op: LinearOperator) -> Float[np.ndarray, "n_params n_params"]:
    """The full Hessian ``(n_params, n_params)`` built column by column from products (a reference for tiny models).

    Examples:
        >>> net, x = torch.nn.Linear(2, 1, bias=False), torch.diag(torch.tensor([1.0, 2.0]))
        >>> with hessian_operator(net, x, torch.zeros(2, 1), lambda out, y: ((out - y) ** 2).mean()) as op:
        ...     dense_hessian(op).tolist()  # 2XᵀX/n
        [[1.0, 0.0], [0.0, 4.0]]
    """
    n = op.shape[0]
    if n > 5000:
        raise ValueError(f"dense_hessian: {n} parameters is too many for a dense reference (max 5000)")
    if n == 0:  # np.stack of no column raised "need at least one array to stack"
        return np.zeros((0, 0))
    cols = [op.matvec(e) for e in np.eye(n)]
    h = np.stack(cols, axis=1)
    return 0.5 * (h + h.T)


__all__ = [
    "HessianOperator",
    "PowerResult",
    "dense_hessian",
    "hessian_operator",
    "hutchinson_trace",
    "lanczos_top",
    "power_iteration",
]
