"""The learned function's Walsh coefficients on the whole Boolean cube, against the target's.

For a model of a :mod:`bridge.tasks.boolean_cube` task (``d ≤ 12``), the model is
evaluated on all ``2^d`` points and its Walsh coefficients ``f̂(S)`` computed
exactly (:func:`bridge.tasks.boolean_cube.walsh_coefficients`). Rows (the caller adds ``step``):

* ``walsh/fraction`` with index ``term``: ``f̂(S_i) / c_i`` for the target's ``i``-th
  Walsh function ``S_i`` (1: learned; 0: not at all);
* ``walsh/residual`` with index ``degree``: ``Σ_{|S| = k} (f̂(S) − f̂*(S))²``, the
  residual power of degree ``k`` (Parseval: they sum to the cube MSE);
* ``walsh/power`` with index ``degree``: ``Σ_{|S| = k} f̂(S)²``, the learned function's power;
* ``walsh/cube_mse``: ``E_x (f(x) − f*(x))²`` over the uniform cube.

Examples:
    >>> from bridge.models import MLPConfig, build_model
    >>> from bridge.tasks import BooleanCubeConfig, make_task
    >>> data = make_task(BooleanCubeConfig(d=4, subsets=((0,), (1, 2)), coefficients=(1.0, 0.5), n_train=8), seed=0)
    >>> rows = WalshTracker()(build_model(MLPConfig(d_in=4, d_out=1), seed=0), 0, data)
    >>> [r["observable"] for r in rows][:3], rows[0]["term"]
    (['walsh/fraction', 'walsh/fraction', 'walsh/residual'], 0)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from bridge.models.base import evaluating
from bridge.tasks.base import TaskData
from bridge.tasks.boolean_cube import cube_points, degree_power, walsh_coefficients
from bridge.trackers.base import Row, row


def learned_coefficients(model: nn.Module, d: int, chunk_size: int = 4096) -> Tensor:
    """Walsh coefficients ``(2^d,)`` (float64, by subset mask) of a scalar-output ``model`` on ``{±1}^d``.

    Examples:
        >>> net = torch.nn.Linear(2, 1, bias=False)
        >>> with torch.no_grad():
        ...     _ = net.weight.copy_(torch.tensor([[3.0, -1.0]]))
        >>> learned_coefficients(net, 2).tolist()
        [0.0, 3.0, -1.0, 0.0]
    """
    param = next(model.parameters())
    points = cube_points(d).to(device=param.device, dtype=param.dtype)
    with evaluating(model):
        values = torch.cat([model(points[i : i + chunk_size]) for i in range(0, len(points), chunk_size)])
    if values.reshape(len(points), -1).shape[1] != 1:
        raise ValueError(f"the Walsh coefficients need one output per input, got shape {tuple(values.shape)}")
    return walsh_coefficients(values.reshape(-1).double().cpu())


def target_coefficients(data: TaskData) -> Tensor:
    """The target's Walsh coefficients ``(2^d,)`` (float64) from a Boolean-cube task's ``info``.

    Entry ``m`` belongs to the subset whose bit mask is ``m`` (``{1, 2}`` is ``0b110 = 6``).

    Examples:
        >>> from bridge.tasks import BooleanCubeConfig, make_task
        >>> coef = target_coefficients(make_task(BooleanCubeConfig(d=4, subsets=((0,), (1, 2)), coefficients=(1.0, 0.5), n_train=8), seed=0))
        >>> coef.shape, coef.nonzero().flatten().tolist(), coef[coef != 0].tolist()
        (torch.Size([16]), [1, 6], [1.0, 0.5])
    """
    info = data.info
    if "masks" not in info or "d" not in info:
        raise ValueError("WalshTracker needs a Boolean-cube task (its info has 'd' and 'masks')")
    out = torch.zeros(2 ** info["d"], dtype=torch.float64)
    for mask, c in zip(info["masks"], info["coefficients"]):
        out[mask] = c
    return out


@dataclass
class WalshTracker:
    """Per-term learned fractions and per-degree residual power of the learned function on the whole cube.

    Args:
        name: tracker name.

    Examples:
        >>> from bridge.tasks import BooleanCubeConfig, make_task
        >>> data = make_task(BooleanCubeConfig(d=3, subsets=((0,), (2,)), coefficients=(1.0, 0.5), n_train=4), seed=0)
        >>> net = torch.nn.Linear(3, 1, bias=False); _ = net.weight.data.copy_(torch.tensor([[1.0, 0.0, 0.0]]))  # f = x₀
        >>> [(r["observable"], r["value"]) for r in WalshTracker()(net, 0, data) if r["observable"] != "walsh/power"][:4]  # x₂ missed: 0.5²
        [('walsh/fraction', 1.0), ('walsh/fraction', 0.0), ('walsh/residual', 0.0), ('walsh/residual', 0.25)]
    """

    name: str = "walsh"

    def __call__(self, model: nn.Module, step: int, data: TaskData) -> list[Row]:
        target = target_coefficients(data)
        coef = learned_coefficients(model, int(data.info["d"]))
        rows = [row("walsh/fraction", coef[m] / c, term=i) for i, (m, c) in enumerate(zip(data.info["masks"], data.info["coefficients"])) if c != 0]
        residual = degree_power(coef - target)
        rows += [row("walsh/residual", v, degree=k) for k, v in enumerate(residual.tolist())]
        rows += [row("walsh/power", v, degree=k) for k, v in enumerate(degree_power(coef).tolist())]
        rows.append(row("walsh/cube_mse", residual.sum()))
        return rows


__all__ = ["WalshTracker", "learned_coefficients", "target_coefficients"]
