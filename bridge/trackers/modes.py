"""Trackers of a linear map's learning of a teacher's singular modes.

For a (deep) linear network the end-to-end map ``W`` is read off by a forward
pass on the identity; the strength of teacher mode ``α`` is ``u_αᵀ W v_α`` and
the alignment compares ``W``'s own singular vectors with the teacher's (through
the shared subspace of teacher modes with equal singular values).
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch
from jaxtyping import Float
from torch import Tensor, nn

from bridge.models.base import evaluating
from bridge.tasks.base import TaskData
from bridge.trackers.base import Batched, Row


@runtime_checkable
class _EndToEnd(Protocol):
    """A network that gives its own end-to-end matrix (:class:`~bridge.models.deep_linear.DeepLinearNetwork`)."""

    def end_to_end(self) -> Float[Tensor, "d_out d_in"]: ...


def end_to_end_map(model: nn.Module, d_in: int) -> Float[Tensor, "d_out d_in"]:
    """The matrix of a linear ``model``: its ``end_to_end()`` when it has one, else ``model(I)ᵀ``
    (exact for bias-free linear networks).

    Raises:
        ValueError: ``model`` has no ``end_to_end()`` and is not linear (``model(0) ≠ 0`` or
            ``model(−I) ≠ −model(I)``: a bias or a nonlinearity), so it has no matrix to read.

    Examples:
        >>> from bridge.models import DeepLinearConfig, build_model
        >>> net = build_model(DeepLinearConfig(3, 5, 2, init_std=0.3), seed=0)
        >>> torch.allclose(end_to_end_map(net, 3), net.end_to_end(), atol=1e-6)
        True
    """
    with evaluating(model):
        if isinstance(model, _EndToEnd):
            return model.end_to_end()
        param = next(model.parameters())
        eye = torch.eye(d_in, device=param.device, dtype=param.dtype)  # a float64 model reads its matrix in float64
        out = model(torch.cat([eye, -eye, eye.new_zeros(1, d_in)]))
        w, minus, zero = out[:d_in], out[d_in : 2 * d_in], out[2 * d_in :]
        tol = 1e-4 * float(w.abs().max()) + 1e-6
        if float((w + minus).abs().max()) > tol or float(zero.abs().max()) > tol:
            raise ValueError(f"the modes tracker reads the matrix of a linear network, and {type(model).__name__} is not linear (model(0) is not 0 or model(-x) is not -model(x): a bias or a nonlinearity)")
        return w.T


def mode_strengths(w: Float[Tensor, "*batch d_out d_in"], u: Float[Tensor, "d_out mode"], v: Float[Tensor, "d_in mode"]) -> Float[Tensor, "*batch mode"]:
    """``diag(Uᵀ W V)``: the strength of each teacher mode in ``w`` (or in each of a stack of maps).

    Examples:
        >>> u, v = torch.eye(3)[:, :2], torch.eye(4)[:, :2]
        >>> mode_strengths(u @ torch.diag(torch.tensor([2.0, 1.0])) @ v.T, u, v).tolist()
        [2.0, 1.0]
    """
    return _strengths(w.reshape(-1, *w.shape[-2:]), u, v).reshape(*w.shape[:-2], -1)


def _strengths(flat: Float[Tensor, "map d_out d_in"], u: Float[Tensor, "d_out mode"], v: Float[Tensor, "d_in mode"]) -> Float[Tensor, "map mode"]:
    ut = u.T
    return (torch.stack([ut @ m for m in flat]) * v.T).sum(-1)  # one product per map: see _group_scores


def degenerate_groups(s: Float[Tensor, " mode"], rtol: float = 1e-5) -> list[list[int]]:
    """Indices of modes that share a singular value (to ``rtol`` of the largest), each group in index order.

    Examples:
        >>> degenerate_groups(torch.tensor([2.0, 1.0, 2.0, 0.5]))
        [[0, 2], [1], [3]]
    """
    values = [float(x) for x in s]
    scale = max((abs(x) for x in values), default=0.0)
    order = sorted(range(len(values)), key=lambda i: -values[i])
    groups: list[list[int]] = []
    for i in order:
        if groups and abs(values[groups[-1][-1]] - values[i]) <= rtol * scale:
            groups[-1].append(i)
        else:
            groups.append([i])
    return sorted((sorted(g) for g in groups), key=lambda g: g[0])


def mode_alignment(
    w: Float[Tensor, "*batch d_out d_in"], u: Float[Tensor, "d_out mode"], v: Float[Tensor, "d_in mode"], s: Float[Tensor, " mode"] | None = None
) -> Float[Tensor, "*batch mode"]:
    """How well ``w``'s own singular pairs ``(û_j, v̂_j)`` line up with each teacher mode, in ``[0, 1]``.

    A mode of its own scores ``max_j |u_αᵀ û_j| · |v_αᵀ v̂_j|``. Teacher modes that
    share a singular value (``s`` given) have no preferred basis inside their
    subspace, so a group ``G`` of ``g`` such modes is compared through the subspace:
    each learned pair scores ``‖U_Gᵀ û_j‖ · ‖V_Gᵀ v̂_j‖``, and every mode of the group
    gets the mean of the ``g`` best scores (the single-mode formula when ``g = 1``).
    1 when ``w``'s singular pairs span the teacher's (the teacher itself, in any basis);
    about ``g/d`` for a random map. A map gets the same bits alone or in any stack (one
    matrix product per map, and a decomposition that does not depend on the stack); a map with a
    non-finite entry (a diverging run) has no singular vectors and gets NaN.

    Args:
        w: the learned maps.
        u, v: the teacher's left and right singular vectors, one column per mode.
        s: the teacher's singular values; without them every mode is its own group.

    Examples:
        >>> u, v = torch.eye(3)[:, :2], torch.eye(4)[:, :2]
        >>> mode_alignment(u @ torch.diag(torch.tensor([2.0, 1.0])) @ v.T, u, v).tolist()
        [1.0, 1.0]

        A repeated singular value: the teacher written in another basis of its
        degenerate subspace is still perfectly aligned.

        >>> u, v, s = torch.eye(3), torch.eye(3), torch.tensor([2.0, 2.0, 1.0])
        >>> c, t = 0.6, 0.8
        >>> w = torch.tensor([[c, -t, 0.0], [t, c, 0.0], [0.0, 0.0, 1.0]]) @ torch.diag(s) @ torch.tensor([[c, -t, 0.0], [t, c, 0.0], [0.0, 0.0, 1.0]]).T
        >>> [round(x, 4) for x in mode_alignment(w, u, v, s).tolist()]
        [1.0, 1.0, 1.0]
    """
    modes = u.shape[1]
    if not bool(torch.isfinite(w).all()):
        finite = torch.isfinite(w).flatten(-2).all(-1)
        out = torch.full((*w.shape[:-2], modes), float("nan"), dtype=w.dtype, device=w.device)
        if finite.any():
            out[finite] = mode_alignment(w[finite], u, v, s)
        return out
    grouping = _grouping(tuple(s.tolist()) if s is not None else modes, min(w.shape[-2:]), w.dtype, w.device)
    flat = w.reshape(-1, *w.shape[-2:])
    return _group_scores(flat, u, v, grouping)[:, grouping[1]].reshape(*w.shape[:-2], -1)


def _group_scores(flat: Float[Tensor, "map d_out d_in"], u: Float[Tensor, "d_out mode"], v: Float[Tensor, "d_in mode"], grouping: tuple) -> Float[Tensor, "map group"]:
    """The alignment of each group of teacher modes (``grouping`` from :func:`_grouping`) with each finite map."""
    member, _, keep, kept, _ = grouping
    uh, vh = _singular_vectors(flat)
    # each group's projection norm on every learned pair, all groups at once: (maps, group, learned pair).
    # One matrix product per map: a batched product of a stack moves last bits with the stack's size (9×9
    # products do), and a broadcast one is folded into one large product, which does too.
    ut, vt = u.T, v.T
    on_u = torch.stack([member @ (ut @ m).square() for m in uh]).sqrt()
    on_v = torch.stack([member @ (vt @ m.T).square() for m in vh]).sqrt()
    pair = on_u * on_v
    return (pair.sort(dim=-1, descending=True).values * keep).sum(-1) / kept  # a group of g modes: the mean of its g best pairs


def _singular_vectors(flat: Float[Tensor, "map m n"]) -> tuple[Float[Tensor, "map m k"], Float[Tensor, "map k n"]]:
    """Each map's left and right singular vectors (``k = min(m, n)``), one decomposition per map: the same
    bits for a map alone or in any stack (a batched SVD moves last bits with the stack, e.g. for 7×8 maps)."""
    decomposed = [torch.linalg.svd(one, full_matrices=False) for one in flat]
    return torch.stack([d[0] for d in decomposed]), torch.stack([d[2] for d in decomposed])


@functools.lru_cache(maxsize=64)
def _grouping(values: tuple[float, ...] | int, pairs: int, dtype: torch.dtype, device: torch.device) -> tuple[Tensor, Tensor, Tensor, Tensor, tuple[int, ...]]:
    """For teacher singular values ``values`` (or a number of modes, each its own group) and maps of
    ``pairs`` singular pairs: the ``(group, mode)`` membership matrix, each mode's group, which of
    the ``pairs`` best pairs each group takes ``(group, pair)`` (as many as its modes, or all there
    are), how many, and each mode's group again as ints."""
    groups = degenerate_groups(torch.tensor(values, dtype=torch.float64)) if isinstance(values, tuple) else [[m] for m in range(values)]
    group_of = [0] * sum(map(len, groups))
    for g, group in enumerate(groups):
        for m in group:
            group_of[m] = g
    index = torch.tensor(group_of, device=device)
    member = (torch.arange(len(groups), device=device)[:, None] == index).to(dtype)
    keep = torch.arange(pairs, device=device) < member.sum(-1)[:, None]
    return member, index, keep, keep.sum(-1), tuple(group_of)


@dataclass
class ModeTracker(Batched):
    """Rows ``mode/strength`` and ``mode/alignment`` (index ``mode``) against the task's teacher SVD.

    Needs ``data.info`` with ``U`` ``(d_out, mode)``, ``S`` ``(mode,)``, ``V`` ``(d_in, mode)``.
    Batched: a step's capture is the end-to-end map; many maps are measured at once.

    Examples:
        >>> from bridge.tasks import LinearTeacherConfig, make_task
        >>> data = make_task(LinearTeacherConfig((2.0, 1.0), d_in=3, d_out=3), seed=0)
        >>> net = torch.nn.Linear(3, 3, bias=False); _ = net.weight.data.copy_(data.info["teacher"])  # the teacher itself
        >>> [(r["observable"], r["mode"], round(r["value"], 4)) for r in ModeTracker()(net, 0, data)]
        [('mode/strength', 0, 2.0), ('mode/alignment', 0, 1.0), ('mode/strength', 1, 1.0), ('mode/alignment', 1, 1.0)]
    """

    name: str = "modes"
    version = 2  # 0270e47: teacher modes sharing a singular value are compared through their shared subspace

    def capture(self, model: nn.Module, step: int, data: TaskData) -> Float[Tensor, "d_out d_in"]:
        if data.info.get("U") is None or data.info.get("V") is None:
            raise ValueError("ModeTracker needs a task whose info has the teacher's U and V")
        return end_to_end_map(model, data.info["V"].shape[0]).detach().clone()

    def measure(self, captures: Sequence[Tensor], data: TaskData) -> list[list[Row]]:
        w = torch.stack(list(captures))
        u, v, s = data.info["U"].to(w), data.info["V"].to(w), data.info.get("S")
        with torch.no_grad():
            strengths = _strengths(w, u, v).tolist()  # (step, mode), as mode_strengths(w, u, v)
            # a non-finite entry makes every strength of its map non-finite: finite strengths need no check of the maps
            if all(map(math.isfinite, itertools.chain.from_iterable(strengths))):
                grouping = _grouping(tuple(s.tolist()) if s is not None else u.shape[1], min(w.shape[-2:]), w.dtype, w.device)
                alignments = [[scores[g] for g in grouping[4]] for scores in _group_scores(w, u, v, grouping).tolist()]  # as mode_alignment(w, u, v, s)
            else:
                alignments = mode_alignment(w, u, v, s).tolist()
        named_strength, named_alignment = _OBSERVABLES
        out = []
        for strength, alignment in zip(strengths, alignments):
            rows: list[Row] = []
            for m, s, a in zip(range(len(strength)), strength, alignment):
                rows += ({"observable": named_strength, "value": s, "mode": m}, {"observable": named_alignment, "value": a, "mode": m})
            out.append(rows)
        return out


_OBSERVABLES = ("mode/strength", "mode/alignment")
