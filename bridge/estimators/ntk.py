"""The empirical neural tangent kernel and the numbers read off it.

For a model ``f_θ`` with ``O`` outputs per example, the empirical NTK on inputs
``x, x'`` is ``Θ(x, x') = J(x) J(x')ᵀ`` with ``J(x) = ∂f_θ(x)/∂θ`` of shape
``(O, P)`` (Jacot et al. 2018). :func:`empirical_ntk` returns either the full
``(O, O)`` block for each pair of inputs or its trace over outputs.

Per-example Jacobians come from ``torch.func``: ``vmap(jacrev(f))`` over a chunk
of inputs, with the parameters swapped into the model's own slots
(:class:`bridge.estimators.reparam.ParameterSlots`, a functional call that leaves a
``TransformerBridge`` intact; no model is copied). The kernel is assembled block by
block, so memory stays at two chunks of Jacobians (``2 · chunk_size · O · P``
numbers) plus the kernel itself: the ``4096 × 4096`` kernel of a 10k-parameter
MLP needs ~64 MB for the kernel and ~20 MB of Jacobians at a time. The block
products dominate the cost (``n1 · n2 · O · P`` multiply-adds for the trace);
recomputing a chunk's Jacobians for each block adds a fraction ``~3/chunk_size``
for an MLP.

Read-outs of a kernel ``K`` (a symmetric ``(n, n)`` matrix, or an ``(n, n, O, O)``
block kernel flattened to ``(n·O, n·O)`` by :func:`kernel_matrix`):

* :func:`ntk_eigendecomposition`: eigenvalues in decreasing order and eigenvectors.
* :func:`effective_rank`: the participation ratio ``(Σλ)² / Σλ² = (tr K)² / ‖K‖_F²``,
  between 1 (one eigenvalue carries everything) and ``n`` (a flat spectrum).
* :func:`kernel_distance`: ``1 − ⟨K₀, K_t⟩_F / (‖K₀‖_F ‖K_t‖_F)`` (Fort et al. 2020),
  0 for kernels equal up to scale.
* :func:`kernel_target_alignment`: ``⟨K, Y Yᵀ⟩_F / (‖K‖_F ‖Y Yᵀ‖_F)``
  (Cristianini et al. 2001), which for one output is ``yᵀ K y / (‖K‖_F ‖y‖²)``.

:func:`jacobian_ntk` is the dense reference: the whole Jacobian ``(n, O, P)`` at once,
for checking and timing :func:`empirical_ntk` on small models.

Examples:
    >>> from bridge.models import MLPConfig, build_model
    >>> net = build_model(MLPConfig(d_in=3, d_out=1, widths=(16,)), seed=0)
    >>> x = torch.randn(10, 3, generator=torch.Generator().manual_seed(0))
    >>> k = empirical_ntk(net, x, chunk_size=4)
    >>> tuple(k.shape), bool(torch.allclose(k, k.T))
    ((10, 10), True)
    >>> float(kernel_distance(k, 2 * k)) < 1e-6
    True
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence

import torch
from jaxtyping import Float
from torch import Tensor, nn
from torch.func import jacrev, vmap

from bridge.estimators.llc import select_params
from bridge.estimators.reparam import ParameterSlots, model_input, require_finite
from bridge.models.base import eval_mode

OUTPUT_REDUCTIONS = ("trace", "full")
OutputFn = Callable[[Tensor], Tensor]


def empirical_ntk(
    model: nn.Module,
    x1: Tensor,
    x2: Tensor | None = None,
    *,
    chunk_size: int | None = 256,
    output_reduction: str = "trace",
    output: OutputFn | None = None,
    params: str | Sequence[str] | Callable[[str], bool] | None = None,
) -> Tensor:
    """The empirical NTK ``J(x1) J(x2)ᵀ`` of ``model`` at its current parameters.

    Args:
        model: any module whose forward maps a batch ``(b, ...)`` to outputs ``(b, ...)``,
            each example's output independent of the others in its batch; taken in eval mode (no dropout,
            batch norm on its running statistics), each module's flag restored after.
        x1: inputs ``(n1, ...)`` (floats, cast to the parameters' dtype, or token ids for a transformer).
        x2: inputs ``(n2, ...)`` with the same trailing shape; ``None``: ``x1``
            (then only the upper blocks are computed and the result is exactly symmetric).
        chunk_size: inputs per Jacobian evaluation; ``None``: all inputs at once.
        output_reduction: ``"trace"`` sums over outputs: ``(n1, n2)``; ``"full"``
            keeps every pair of outputs: ``(n1, n2, O, O)``.
        output: maps the model's output on a batch ``(b, ...)`` to the outputs the
            kernel is taken of (e.g. ``lambda logits: logits[:, -1]``, the last
            position of a transformer); each example's result is flattened to ``O``.
        params: the parameters to differentiate: ``None`` (every parameter that
            requires grad), name prefixes, or a predicate on names (as in
            :func:`bridge.estimators.llc.select_params`); the others are held fixed.

    Returns:
        The kernel in the parameters' dtype, detached: ``(n1, n2)`` or ``(n1, n2, O, O)``.

    Examples:
        >>> net = torch.nn.Linear(3, 2, bias=False)
        >>> x = torch.eye(3)
        >>> empirical_ntk(net, x, output_reduction="full")[0, 1].tolist()   # x₀·x₁ · I₂
        [[0.0, 0.0], [0.0, 0.0]]
        >>> empirical_ntk(net, x).tolist()   # trace: O · x·x'
        [[2.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 2.0]]
    """
    if output_reduction not in OUTPUT_REDUCTIONS:
        raise ValueError(f"output_reduction must be one of {OUTPUT_REDUCTIONS}, got {output_reduction!r}")
    if chunk_size is not None and (not isinstance(chunk_size, numbers.Integral) or isinstance(chunk_size, bool) or chunk_size < 1):
        raise ValueError(f"chunk_size must be a positive integer or None, got {chunk_size!r}")
    x1 = model_input("x1", x1, model)
    if x2 is not None and (not isinstance(x2, Tensor) or x2.ndim < 1 or x2.shape[0] == 0 or x2.shape[1:] != x1.shape[1:]):
        got = f"shape {tuple(x2.shape)}" if isinstance(x2, Tensor) else f"a {type(x2).__name__}"
        raise ValueError(f"x2 must hold examples shaped like x1's {tuple(x1.shape[1:])}, got {got}")
    inputs2 = x1 if x2 is None else model_input("x2", x2, model)
    jacobian = _chunk_jacobian_fn(model, output, params)
    with eval_mode(model):  # dropout drew masks (an error under vmap), batch norm updated its running statistics
        return _assemble(jacobian, x1, inputs2, x2 is None, int(chunk_size or 0), output_reduction)


def _assemble(jacobian: Callable[[Tensor], Tensor], x1: Tensor, x2: Tensor, symmetric: bool, chunk_size: int, output_reduction: str) -> Tensor:
    """The kernel block by block from the chunks' Jacobians (``chunk_size`` 0: all inputs at once)."""
    size1 = chunk_size or x1.shape[0]
    size2 = chunk_size or x2.shape[0]
    starts1, starts2 = range(0, x1.shape[0], size1), range(0, x2.shape[0], size2)
    kernel: Tensor | None = None
    for i in starts1:
        j1 = jacobian(x1[i : i + size1])  # (c1, O, P)
        if kernel is None:
            n_out = j1.shape[1]
            shape = (x1.shape[0], x2.shape[0]) + ((n_out, n_out) if output_reduction == "full" else ())
            kernel = j1.new_zeros(shape)
        for j in starts2:
            if symmetric and j < i:
                continue
            j2 = j1 if symmetric and j == i else jacobian(x2[j : j + size2])
            block = _contract(j1, j2, output_reduction)
            if symmetric and j == i:
                block = (block + _swap(block)) / 2  # a product A Aᵀ is symmetric only up to rounding
            kernel[i : i + size1, j : j + size2] = block
            if symmetric and j > i:
                kernel[j : j + size2, i : i + size1] = _swap(block)
    assert kernel is not None
    return kernel


def jacobian_ntk(model: nn.Module, x: Tensor, *, output_reduction: str = "trace", output: OutputFn | None = None, vectorize: bool = False) -> Tensor:
    """The NTK ``J Jᵀ`` from the whole Jacobian of the batched forward, by ``torch.autograd.functional.jacobian``.

    The dense reference for :func:`empirical_ntk`: it holds all ``n · O · P`` Jacobian
    entries at once and differentiates the batch as one function, so it suits small
    models and checks, not large kernels.

    Args:
        model: as for :func:`empirical_ntk`; the parameters that require grad are differentiated, the others held fixed.
        x: inputs ``(n, ...)``.
        output_reduction: ``"trace"``: ``(n, n)``; ``"full"``: ``(n, n, O, O)``.
        output: maps the model's output on the batch to the outputs the kernel is taken of.
        vectorize: ``jacobian``'s vmap-ed backward passes instead of one per output row.

    Returns:
        The kernel in the parameters' dtype, detached.

    Examples:
        >>> net = torch.nn.Linear(3, 2, bias=False)
        >>> jacobian_ntk(net, torch.eye(3)).tolist()
        [[2.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 2.0]]
    """
    if output_reduction not in OUTPUT_REDUCTIONS:
        raise ValueError(f"output_reduction must be one of {OUTPUT_REDUCTIONS}, got {output_reduction!r}")
    x = model_input("x", x, model)
    slots = ParameterSlots(model)
    current = slots.parameters()
    names = select_params(model, None, slots)  # frozen parameters were differentiated too
    fixed = {n: t.detach() for n, t in current.items() if n not in names}
    shapes = {name: current[name].shape for name in names}
    flat = torch.cat([current[name].detach().reshape(-1) for name in names])

    def forward(vector: Tensor) -> Tensor:
        tensors, offset = {}, 0
        for name, shape in shapes.items():
            size = math.prod(shape)
            tensors[name] = vector[offset : offset + size].reshape(shape)
            offset += size
        with slots.swapped({**fixed, **tensors}) as net:
            out = net(x)
            return (out if output is None else output(out)).reshape(x.shape[0], -1)

    with eval_mode(model):  # as empirical_ntk: no dropout mask, no update of batch norm's running statistics
        jac = torch.autograd.functional.jacobian(forward, flat, vectorize=vectorize).detach()  # (n, O, P)
    return torch.einsum("iop,jop->ij", jac, jac) if output_reduction == "trace" else torch.einsum("iap,jbp->ijab", jac, jac)


def _chunk_jacobian_fn(model: nn.Module, output: OutputFn | None, params: object) -> Callable[[Tensor], Float[Tensor, "chunk out n_params"]]:
    """``x ↦ J(x)``: the per-example Jacobians ``(c, O, P)`` of a chunk, with parameters in ``named_parameters`` order."""
    slots = ParameterSlots(model)
    names = select_params(model, params, slots)  # type: ignore[arg-type]
    current = slots.parameters()
    chosen = {n: current[n].detach() for n in names}
    fixed = {n: t.detach() for n, t in current.items() if n not in chosen}

    def per_example(p: dict[str, Tensor], x: Tensor) -> Tensor:
        with slots.swapped({**fixed, **p}) as net:
            out = net(x.unsqueeze(0))
            if output is not None:
                out = output(out)
            return out.reshape(-1)

    batched = vmap(jacrev(per_example), in_dims=(None, 0))

    def jacobian(x: Tensor) -> Tensor:
        parts = batched(chosen, x)
        c, n_out = x.shape[0], parts[names[0]].shape[1]
        return torch.cat([parts[n].reshape(c, n_out, -1) for n in names], dim=2)

    return jacobian


def _contract(j1: Tensor, j2: Tensor, output_reduction: str) -> Tensor:
    """One kernel block from two chunks of Jacobians ``(c1, O, P)``, ``(c2, O, P)``."""
    c1, n_out, _ = j1.shape
    c2 = j2.shape[0]
    if output_reduction == "trace":
        return j1.reshape(c1, -1) @ j2.reshape(c2, -1).T
    flat = j1.reshape(c1 * n_out, -1) @ j2.reshape(c2 * n_out, -1).T
    return flat.reshape(c1, n_out, c2, n_out).permute(0, 2, 1, 3)


def _swap(block: Tensor) -> Tensor:
    """The block of the swapped inputs: ``Θ(x', x)_ba = Θ(x, x')_ab``."""
    return block.permute(1, 0, 3, 2) if block.ndim == 4 else block.T


def kernel_matrix(kernel: Float[Tensor, "n1 n2 *out_pair"]) -> Float[Tensor, "rows cols"]:
    """A kernel as a matrix: ``(n1, n2)`` as is; ``(n1, n2, O, O)`` as ``(n1·O, n2·O)``, row ``i·O + a``.

    Examples:
        >>> k = torch.arange(16.0).reshape(2, 2, 2, 2)
        >>> kernel_matrix(k)[1, 2].item() == k[0, 1, 1, 0].item()
        True
    """
    if kernel.ndim == 2:
        return kernel
    if kernel.ndim == 4 and kernel.shape[2] == kernel.shape[3]:
        n1, n2, o, _ = kernel.shape
        return kernel.permute(0, 2, 1, 3).reshape(n1 * o, n2 * o)
    raise ValueError(f"a kernel is (n1, n2) or (n1, n2, O, O), got shape {tuple(kernel.shape)}")


def _unit_scale(values: Tensor) -> Tensor:
    """``values / max |values|`` in float64 (kept when all zero): the read-outs are scale free, and squares of entries
    near the float range overflowed to inf (NaN read-outs) or underflowed to 0 (a "zero kernel")."""
    v = values.double()
    top = v.abs().max() if v.numel() else v.new_zeros(())
    return v / top if top > 0 else v


def _square(kernel: Tensor, name: str = "kernel") -> Tensor:
    m = kernel_matrix(kernel)
    if m.shape[0] != m.shape[1]:
        raise ValueError(f"need a square kernel (one set of inputs), got shape {tuple(kernel.shape)}")
    if m.shape[0] == 0:
        raise ValueError(f"{name} must hold at least one example, got shape {tuple(kernel.shape)}")
    require_finite(name, kernel)
    return m


def _check_k(k: object, size: int) -> None:
    """Refuse a ``k`` that is not an integer between 1 and ``size`` (a bool is not a count)."""
    if not isinstance(k, numbers.Integral) or isinstance(k, bool) or not 1 <= int(k) <= size:
        raise ValueError(f"k must be an integer between 1 and the kernel's size {size}, got {k!r}")


def ntk_eigendecomposition(kernel: Float[Tensor, "n n *out_pair"], k: int | None = None) -> tuple[Float[Tensor, " k"], Float[Tensor, "n k"]]:
    """The top ``k`` eigenpairs of a symmetric kernel (all when ``k`` is ``None``), largest first.

    The kernel is symmetrised (``(K + Kᵀ)/2``) before ``torch.linalg.eigh``.

    Examples:
        >>> values, vectors = ntk_eigendecomposition(torch.diag(torch.tensor([1.0, 3.0, 2.0])), k=2)
        >>> values.tolist(), vectors.abs().argmax(0).tolist()
        ([3.0, 2.0], [1, 2])
    """
    m = _square(kernel)
    if k is not None:
        _check_k(k, m.shape[0])
    values, vectors = torch.linalg.eigh((m + m.T) / 2)
    values, vectors = values.flip(0), vectors.flip(1)
    return (values, vectors) if k is None else (values[:k], vectors[:, :k])


def top_eigenvalues(kernel: Float[Tensor, "n n *out_pair"], k: int) -> Float[Tensor, " k"]:
    """The ``k`` largest eigenvalues of a symmetric kernel, in decreasing order.

    Examples:
        >>> top_eigenvalues(torch.diag(torch.tensor([1.0, 3.0, 2.0])), 2).tolist()
        [3.0, 2.0]
    """
    m = _square(kernel)
    _check_k(k, m.shape[0])
    return torch.linalg.eigvalsh((m + m.T) / 2).flip(0)[:k]


def effective_rank(kernel: Float[Tensor, "n n *out_pair"]) -> Float[Tensor, ""]:
    """The participation ratio of the spectrum: ``(Σλ)² / Σλ² = (tr K)² / ‖K‖_F²``.

    For a symmetric positive semi-definite kernel it lies in ``[1, n]``: 1 when one
    eigenvalue carries all the weight, ``r`` for ``r`` equal non-zero eigenvalues. Float64.

    Examples:
        >>> float(effective_rank(torch.diag(torch.tensor([1.0, 1.0, 0.0, 0.0]))))
        2.0
    """
    m = _unit_scale(_square(kernel))
    squares = (m * m).sum()
    if squares == 0:
        raise ValueError("the effective rank of a zero kernel is undefined")
    return torch.trace(m) ** 2 / squares


def kernel_distance(k0: Float[Tensor, "n1 n2 *out_pair"], kt: Float[Tensor, "n1 n2 *out_pair"]) -> Float[Tensor, ""]:
    """``1 − ⟨K₀, K_t⟩_F / (‖K₀‖_F ‖K_t‖_F)`` (Fort et al. 2020): 0 for kernels equal up to a positive scale.

    Computed in float64 (a lazily trained network moves its kernel by ~1e-4) and
    clamped at 0 against rounding; at most 1 for positive semi-definite kernels.

    Examples:
        >>> float(kernel_distance(torch.eye(2), 3 * torch.eye(2))), float(kernel_distance(torch.eye(2), torch.ones(2, 2) - torch.eye(2)))
        (0.0, 1.0)
    """
    if k0.shape != kt.shape:
        raise ValueError(f"kernels of different shapes: {tuple(k0.shape)} vs {tuple(kt.shape)}")
    for name, k in (("k0", k0), ("kt", kt)):
        kernel_matrix(k)
        require_finite(name, k)
    a, b = _unit_scale(k0.reshape(-1)), _unit_scale(kt.reshape(-1))
    norms = torch.sqrt((a @ a) * (b @ b))  # one rounding of a square root: equal kernels are at distance 0
    if norms == 0:
        raise ValueError("the distance to a zero kernel is undefined")
    return (1 - (a @ b) / norms).clamp(min=0.0)


def kernel_target_alignment(kernel: Float[Tensor, "n n *out_pair"], y: Float[Tensor, " n *out"]) -> Float[Tensor, ""]:
    """``⟨K, Y Yᵀ⟩_F / (‖K‖_F ‖Y Yᵀ‖_F)``; for a single output ``yᵀ K y / (‖K‖_F ‖y‖²)``.

    ``y`` is ``(n,)`` or ``(n, ...)`` (flattened to ``(n, O)``). A trace kernel
    ``(n, n)`` is compared with ``Y Yᵀ`` over examples; a full kernel
    ``(n, n, O, O)`` with ``vec(Y) vec(Y)ᵀ``. 1 when ``K ∝ Y Yᵀ``. Float64.

    Examples:
        >>> y = torch.tensor([1.0, -2.0, 0.5])
        >>> round(float(kernel_target_alignment(torch.outer(y, y), y)), 6), round(float(kernel_target_alignment(torch.eye(3), y)), 4)
        (1.0, 0.5774)
    """
    m = _unit_scale(_square(kernel))
    if y.ndim == 0 or y.shape[0] != kernel.shape[0]:
        raise ValueError(f"y must be (n, ...) with the kernel's n = {kernel.shape[0]} examples, got shape {tuple(y.shape)}")
    require_finite("y", y)
    t = _unit_scale(y.reshape(y.shape[0], -1))
    if kernel.ndim == 4:
        if t.shape[1] != kernel.shape[2]:
            raise ValueError(f"y has {t.shape[1]} outputs per example, the kernel {kernel.shape[2]}")
        t = t.reshape(-1, 1)
    gram = t.T @ t  # ‖Y Yᵀ‖_F = ‖Yᵀ Y‖_F
    norms = torch.linalg.matrix_norm(m) * torch.linalg.matrix_norm(gram)
    if norms == 0:
        raise ValueError("the alignment of a zero kernel or a zero target is undefined")
    return torch.einsum("io,ij,jo->", t, m, t) / norms


__all__ = [
    "OUTPUT_REDUCTIONS",
    "effective_rank",
    "empirical_ntk",
    "jacobian_ntk",
    "kernel_distance",
    "kernel_matrix",
    "kernel_target_alignment",
    "ntk_eigendecomposition",
    "top_eigenvalues",
]
