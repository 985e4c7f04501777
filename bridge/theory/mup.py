"""Width scaling of parametrisations: standard (SP), NTK and maximal update (μP).

**abc-parametrisations** (Yang & Hu 2021, "Tensor Programs IV", their definition): a layer's
weights are ``W = n^{−a} w`` with ``w ~ N(0, n^{−2b})`` and learning rate
``η n^{−c}``, ``n`` the width. Here every scale is written relative to the
standard parametrisation (PyTorch's default: init variance ``σ²/fan_in``,
multiplier 1, one learning rate) as a power of ``width / base_width``:

    init variance = σ²/fan_in · (width/base_width)^{init_variance}
    multiplier    = (width/base_width)^{multiplier}
    learning rate = η · (width/base_width)^{learning_rate}

so all three parametrisations coincide at ``width == base_width``. Layer kinds:
``input`` (fixed fan-in, width fan-out; also every bias), ``hidden``
(width × width) and ``output`` (width fan-in, fixed fan-out).

* **standard**: every exponent 0.
* **mup**: Yang et al. 2022 ("Tensor Programs V"), Table 3: output init
  variance ``1/fan_in²`` (exponent −1); SGD learning rates ``η·fan_out``
  (input, +1), ``η`` (hidden), ``η/fan_in`` (output, −1); Adam learning rates
  ``η`` (input), ``η/fan_in`` (hidden and output, −1). Tables 8–9 there are
  equivalent through the symmetry ``multiplier·n^θ, init std·n^{−θ}``, SGD
  learning rate ``·n^{−2θ}``, Adam learning rate ``·n^{−θ}``.
* **ntk**: Jacot et al. 2018, as an abc-parametrisation in Yang & Hu 2021 (``a = ½, b = 0`` for
  hidden and output layers, one learning rate): ``w`` of width-independent
  variance times ``1/√fan_in`` (init variance +1, multiplier −½); with SGD
  the learning rate is width-independent. The Adam version is derived here:
  per-layer learning rates (−½, −1, −½) that give every layer's first update
  the NTK–SGD scaling; Yang & Hu define the NTK parametrisation for SGD only.

**Predicted exponents** (``feature``): the width exponent of the RMS change
``Δh`` of a layer's pre-activation (the output's change for ``output``) after
one optimizer step of an MLP with input, one hidden and output layer,
elementwise nonlinearity, a Θ(1) loss derivative and a width-independent
``η``; ``update`` is the exponent of ``ΔW·x`` (the layer's own weight update
applied to its input before the step). They follow from the coordinate-size
rules behind Yang et al. 2022's section "The defects of SP and how μP fixes
them" (an outer-product update ``ΔW`` multiplies a correlated vector to
Θ(fan_in) times its entries; an i.i.d. matrix, Θ(√fan_in)) and are checked
numerically in the tests:

================  =====================  ======================
parametrisation   SGD (in, hid, out)     Adam (in, hid, out)
================  =====================  ======================
mup               0, 0, 0                0, 0, 0
standard          −½, +½, +1             0, +1, +3/2 (update +1)
ntk               −½, −½, 0              −½, −½, 0
================  =====================  ======================

Under SP with Adam the readout moves ∝ width^{3/2}: its update moves it ∝
width, and the hidden features it reads moved ∝ width along its own weights;
with no hidden layer (``depth=2``) the readout moves ∝ width. μP and NTK are
stable, so their exponents hold after any fixed number of steps; under SP at a
width-independent learning rate the first step already blows up (SGD: the
output grows ∝ width, which is why SP's stable learning rate must shrink ∝
1/width; Yang & Hu 2021) and later steps compound it. Under μP the output at
initialisation shrinks ∝ width^{−½}; at small widths its size still enters
the loss derivative and tilts measured slopes slightly (a zero-initialised
readout removes this).

Examples:
    >>> predicted_exponent("mup", "adam", "hidden"), predicted_exponent("standard", "adam", "hidden")
    (0.0, 1.0)
    >>> factors("mup", "sgd", "output", width=256, base_width=64)
    (0.25, 1.0, 0.25)
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np

PARAMETRISATIONS = ("standard", "ntk", "mup")
OPTIMIZERS = ("sgd", "adam")
LAYERS = ("input", "hidden", "output")
QUANTITIES = ("feature", "update")


@dataclass(frozen=True)
class LayerScaling:
    """Width exponents of one layer kind under one parametrisation and optimizer.

    Attributes:
        init_variance: exponent of the init-variance factor over ``σ²/fan_in``.
        multiplier: exponent of the forward multiplier.
        learning_rate: exponent of the learning-rate factor over ``η``.
        feature: predicted exponent of the layer's ``Δh`` after one step.
        update: predicted exponent of ``ΔW·x`` after one step.

    Examples:
        >>> row = LayerScaling(init_variance=-1.0, multiplier=0.0, learning_rate=-1.0, feature=0.0, update=0.0)
        >>> row.factors(width=256, base_width=64)   # 4⁻¹, 4⁰, 4⁻¹
        (0.25, 1.0, 0.25)
    """

    init_variance: float
    multiplier: float
    learning_rate: float
    feature: float
    update: float

    def factors(self, width: int, base_width: int) -> tuple[float, float, float]:
        """``(init-variance factor, multiplier, learning-rate factor)`` at ``width``; all 1 at ``base_width``.

        Python floats whatever the type of the widths (NumPy integers included).

        Raises:
            ValueError: ``width`` or ``base_width`` below 1, past the float range, a bool or a string.
        """
        for name, value in (("width", width), ("base_width", base_width)):
            # NaN fails too; an int past the float range (10**400 < inf) raised OverflowError from float(), a string TypeError
            if isinstance(value, (bool, np.bool_, str, bytes)) or not (1 <= value <= sys.float_info.max):
                raise ValueError(f"{name} must be a number >= 1 and finite, got {value!r}")
        r = float(width) / float(base_width)
        return (r**self.init_variance, r**self.multiplier, r**self.learning_rate)


def _table() -> dict[tuple[str, str, str], LayerScaling]:
    rows: dict[tuple[str, str], list[tuple[float, float, float, float, float]]] = {
        # (init variance, multiplier, learning rate, feature, update) for input, hidden, output
        ("standard", "sgd"): [(0, 0, 0, -0.5, -0.5), (0, 0, 0, 0.5, 0.5), (0, 0, 0, 1.0, 1.0)],
        ("standard", "adam"): [(0, 0, 0, 0.0, 0.0), (0, 0, 0, 1.0, 1.0), (0, 0, 0, 1.5, 1.0)],
        ("ntk", "sgd"): [(0, 0, 0, -0.5, -0.5), (1, -0.5, 0, -0.5, -0.5), (1, -0.5, 0, 0.0, 0.0)],
        ("ntk", "adam"): [(0, 0, -0.5, -0.5, -0.5), (1, -0.5, -1, -0.5, -0.5), (1, -0.5, -0.5, 0.0, 0.0)],
        ("mup", "sgd"): [(0, 0, 1, 0.0, 0.0), (0, 0, 0, 0.0, 0.0), (-1, 0, -1, 0.0, 0.0)],
        ("mup", "adam"): [(0, 0, 0, 0.0, 0.0), (0, 0, -1, 0.0, 0.0), (-1, 0, -1, 0.0, 0.0)],
    }
    return {(p, o, layer): LayerScaling(*map(float, row)) for (p, o), layers in rows.items() for layer, row in zip(LAYERS, layers)}


TABLE: dict[tuple[str, str, str], LayerScaling] = _table()
"""``(parametrisation, optimizer, layer) -> LayerScaling``."""


def scaling(parametrisation: str, optimizer: str, layer: str) -> LayerScaling:
    """The table's row for one layer kind; ``ValueError`` naming the choices otherwise.

    ``optimizer`` ``"adamw"`` reads as ``"adam"`` (decoupled weight decay leaves the update's scale).

    Examples:
        >>> scaling("mup", "adamw", "hidden")
        LayerScaling(init_variance=0.0, multiplier=0.0, learning_rate=-1.0, feature=0.0, update=0.0)
    """
    optimizer = "adam" if optimizer == "adamw" else optimizer
    for value, choices, name in ((parametrisation, PARAMETRISATIONS, "parametrisation"), (optimizer, OPTIMIZERS, "optimizer"), (layer, LAYERS, "layer")):
        if value not in choices:
            raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return TABLE[(parametrisation, optimizer, layer)]


def factors(parametrisation: str, optimizer: str, layer: str, width: int, base_width: int) -> tuple[float, float, float]:
    """``(init-variance factor over σ²/fan_in, multiplier, learning-rate factor)`` at ``width``.

    Examples:
        >>> factors("ntk", "sgd", "hidden", width=400, base_width=100)
        (4.0, 0.5, 1.0)
    """
    return scaling(parametrisation, optimizer, layer).factors(width, base_width)


def abc(parametrisation: str, optimizer: str, layer: str) -> tuple[float, float, float]:
    """Yang & Hu's ``(a, b, c)``: ``W = n^{−a} w``, ``w ~ N(0, n^{−2b})``, learning rate ``∝ n^{−c}``.

    Examples:
        >>> abc("mup", "sgd", "output"), abc("ntk", "sgd", "hidden")
        ((0.0, 1.0, 1.0), (0.5, 0.0, 0.0))
    """
    row = scaling(parametrisation, optimizer, layer)
    fan_in_exponent = 0.0 if layer == "input" else -1.0  # σ²/fan_in contributes n^{-1} when fan_in is the width
    return (0.0 - row.multiplier, 0.0 - (fan_in_exponent + row.init_variance) / 2, 0.0 - row.learning_rate)


def predicted_exponent(parametrisation: str, optimizer: str, layer: str, quantity: str = "feature", depth: int = 3) -> float:
    """Predicted width exponent of a layer's change after one step.

    Args:
        parametrisation: ``"standard"``, ``"ntk"`` or ``"mup"``.
        optimizer: ``"sgd"`` or ``"adam"`` (``"adamw"`` alike).
        layer: ``"input"``, ``"hidden"`` (the first width × width layer) or ``"output"``.
        quantity: ``"feature"`` (``Δh`` of the layer's pre-activation) or
            ``"update"`` (``ΔW·x``, the layer's own update on its input).
        depth: number of weight layers (≥ 2). The table is for ``depth=3``;
            it holds for any depth except under SP with Adam, where ``depth=2``
            gives the readout ``+1`` and deeper networks compound (not tabulated).

    Raises:
        ValueError: a name not in its choices, ``depth`` not an integer >= 2, or a layer the depth lacks.

    Examples:
        >>> predicted_exponent("standard", "adam", "output"), predicted_exponent("standard", "adam", "output", depth=2)
        (1.5, 1.0)
    """
    if quantity not in QUANTITIES:
        raise ValueError(f"quantity must be one of {QUANTITIES}, got {quantity!r}")
    if not (2 <= depth < float("inf") and float(depth).is_integer()):  # NaN fails too
        raise ValueError(f"depth (weight layers) must be an integer >= 2, got {depth}")
    if depth == 2 and layer == "hidden":
        raise ValueError("a depth-2 network has no hidden width × width layer")
    row = scaling(parametrisation, optimizer, layer)
    if quantity == "update":
        return row.update
    sp_adam = parametrisation == "standard" and optimizer in ("adam", "adamw")
    if sp_adam and depth == 2 and layer == "output":
        return 1.0
    if sp_adam and depth > 3 and layer != "input":
        raise ValueError("under SP with Adam the changes of deeper layers compound with depth; only depth 2 and 3 are tabulated")
    return row.feature


__all__ = ["LAYERS", "OPTIMIZERS", "PARAMETRISATIONS", "QUANTITIES", "TABLE", "LayerScaling", "abc", "factors", "predicted_exponent", "scaling"]
