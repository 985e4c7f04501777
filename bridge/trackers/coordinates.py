"""Coordinate sizes of every layer over training: the quantities of a μP coordinate check."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, cast

from jaxtyping import Float
from torch import Tensor, nn

from bridge.models.base import evaluating
from bridge.tasks.base import TaskData
from bridge.theory.base import require_count
from bridge.trackers.base import Row, row


class _Layered(Protocol):
    """What :func:`layer_coordinates` calls of an MLP (:class:`~bridge.models.mlp.MLP`): layer ``i`` on its input, and the activation."""

    def linear(self, i: int, h: Float[Tensor, "batch fan_in"]) -> Float[Tensor, "batch fan_out"]: ...

    def activation(self, h: Tensor) -> Tensor: ...


def layer_coordinates(model: nn.Module, x: Float[Tensor, "batch d_in"]) -> tuple[list[Tensor], list[Tensor], list[Tensor]]:
    """Per weight layer of an MLP: its input, its output (pre-activation; the readout's output) and effective weight.

    The effective weight is the layer's multiplier times its weight (``model.multipliers``,
    1 when the model has none), so ``output = input · W_effᵀ + b``.

    Examples:
        >>> from bridge.models import MLP, MLPConfig
        >>> net = MLP(MLPConfig(d_in=3, d_out=1, widths=(8, 8)), seed=0)
        >>> inputs, outputs, weights = layer_coordinates(net, torch.zeros(2, 3))
        >>> [tuple(o.shape) for o in outputs]
        [(2, 8), (2, 8), (2, 1)]
    """
    layers = getattr(model, "layers", None)
    # hasattr, not isinstance(model, _Layered): from Python 3.12 a protocol check does not see an activation held as a submodule
    if layers is None or not callable(getattr(model, "linear", None)) or not callable(getattr(model, "activation", None)):
        raise ValueError(f"the coordinates tracker needs an MLP with .layers, .linear and .activation, got {type(model).__name__}")
    mlp = cast(_Layered, model)
    multipliers = getattr(model, "multipliers", (1.0,) * len(layers))
    inputs, outputs, h = [], [], x
    for i in range(len(layers)):
        inputs.append(h)
        outputs.append(mlp.linear(i, h))
        h = mlp.activation(outputs[-1]) if i < len(layers) - 1 else outputs[-1]
    weights = [m * layer.weight for m, layer in zip(multipliers, layers)]
    return inputs, outputs, weights


def _rms(t: Tensor) -> Tensor:
    """RMS of ``t``'s entries, summed in float64; squared in place in the float64 copy (no second tensor of that size:
    for a width-8192 weight, 0.5 GB). ``x * x`` is what ``pow(2)`` computes, value for value.

    Examples:
        >>> x = torch.tensor([3.0, 4.0, 0.0, 0.0], dtype=torch.float64)
        >>> _rms(x.float()).item(), _rms(x).item(), x.tolist()   # the float64 input unchanged
        (2.5, 2.5, [3.0, 4.0, 0.0, 0.0])
    """
    d = t.double()
    return (d * d if d is t else d.mul_(d)).mean().sqrt()  # a float64 input is not squared where it lies


@dataclass
class CoordinatesTracker:
    """Rows ``coordinates/act``, ``/delta``, ``/update`` and ``/weight_delta`` per weight layer (index ``layer``).

    On the first ``max_examples`` training inputs, for layer ``l`` with input ``x_l``,
    output ``h_l`` (pre-activation; the network's output for the last layer) and
    effective weight ``W_l`` (multiplier × weight):

    - ``act``: RMS of ``h_l(t)`` over examples and coordinates;
    - ``delta``: RMS of ``h_l(t) − h_l(0)``, the change of the layer's output since step 0;
    - ``update``: RMS of ``(W_l(t) − W_l(0)) x_l(t)``, the layer's own weight change
      applied to its current input;
    - ``weight_delta``: RMS of the entries of ``W_l(t) − W_l(0)``.

    The tracker keeps step 0's outputs and weights, so it must first see step 0
    (a fresh training run, or :func:`bridge.analyze` over a run's checkpoints).

    Examples:
        >>> from bridge.models import MLP, MLPConfig
        >>> from bridge.tasks import TeacherMLPConfig, make_task
        >>> data = make_task(TeacherMLPConfig(d_in=3, n_train=8, n_test=0), seed=0)
        >>> rows = CoordinatesTracker()(MLP(MLPConfig(d_in=3, d_out=1, widths=(8,)), seed=0), 0, data)
        >>> [(r["observable"], r["layer"], r["value"]) for r in rows if r["observable"] in ("coordinates/delta", "coordinates/update")]
        [('coordinates/delta', 0, 0.0), ('coordinates/update', 0, 0.0), ('coordinates/delta', 1, 0.0), ('coordinates/update', 1, 0.0)]
    """

    max_examples: int = 256
    name: str = "coordinates"
    _start: tuple[list[Tensor], list[Tensor]] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        require_count("CoordinatesTracker.max_examples", self.max_examples)

    def __call__(self, model: nn.Module, step: int, data: TaskData) -> list[Row]:
        x = data.train.x[: self.max_examples]
        with evaluating(model):
            inputs, outputs, weights = layer_coordinates(model, x)
            if step == 0:  # the weights are layer_coordinates' own products (multiplier × weight): kept without a copy
                self._start = ([o.clone() for o in outputs], weights)
            if self._start is None:
                raise ValueError(f"the coordinates tracker must see step 0 before step {step} (it measures changes from initialisation)")
            outputs0, weights0 = self._start
            rows = []
            for i, (x_l, h, h0, w, w0) in enumerate(zip(inputs, outputs, outputs0, weights, weights0)):
                change = w - w0  # once for both rows that use it
                rows.append(row("coordinates/act", _rms(h), layer=i))
                rows.append(row("coordinates/delta", _rms(h - h0), layer=i))
                rows.append(row("coordinates/update", _rms(x_l @ change.T), layer=i))
                rows.append(row("coordinates/weight_delta", _rms(change), layer=i))
        return rows


__all__ = ["CoordinatesTracker", "layer_coordinates"]
