"""Property tests of the width-scaling table: the predicted exponents follow from the table's own init, multiplier
and learning-rate exponents by the coordinate-size rules (derived here independently, one layer after the other),
the factors are the powers they claim and compose as powers do, ``abc`` is the same scaling in Yang & Hu's
notation, and widths that are not numbers >= 1 are refused by name."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.theory import mup

PROPERTY = settings(max_examples=100, deadline=None, database=None)
rows = st.sampled_from(sorted(mup.TABLE))
widths = st.one_of(st.integers(1, 10**6), st.floats(1.0, 1e12))


def _derived(parametrisation: str, optimizer: str, depth: int = 3) -> dict[str, tuple[float, float]]:
    """``layer -> (feature, update)`` exponents after one step, from the table's (init, multiplier, lr) exponents.

    Sizes are width exponents of typical entries. A layer's forward size is ``m + v/2`` (a width-sized sum of
    i.i.d. entries of variance ``n^{v−1}`` gives ``√n``). SGD's ``ΔW`` is the learning rate times the gradient,
    ``n^{lr + m + g}`` with ``g`` the size of the backward signal; Adam's first step is the learning rate times a
    sign, ``n^{lr}``. ``ΔW·x`` adds a factor ``n`` when ``x`` is width-sized (it is correlated with ``ΔW``).
    The weights' own response ``W·Δx`` to the change of their input has size ``m + v/2 + Δx`` when the fan-in is
    the width (``√n`` from the i.i.d. part, the same from ``W Wᵀ ≈ n^v``); for the readout of a fixed fan-out,
    ``Δx`` lies along ``Wᵀ`` and ``W Wᵀ`` adds a further ``n^{1/2}``.
    """
    t = {layer: mup.TABLE[(parametrisation, optimizer, layer)] for layer in mup.LAYERS}
    layers = ["input", "hidden", "output"] if depth == 3 else ["input", "output"]
    # backward signal reaching each layer's pre-activation (the loss derivative at the output is Θ(1))
    g = {"output": 0.0}
    below = "output"
    for layer in reversed(layers[:-1]):
        w = t[below]
        fixed_fan_out = below == "output"
        g[layer] = w.multiplier + (w.init_variance - 1) / 2 + g[below] + (0.0 if fixed_fan_out else 0.5)
        below = layer
    out: dict[str, tuple[float, float]] = {}
    previous_change = None
    for layer in layers:
        w = t[layer]
        grad_scale = 0.0 if optimizer == "adam" else w.multiplier + g[layer]
        fan_in_width = layer != "input"
        update = w.multiplier + w.learning_rate + grad_scale + (1.0 if fan_in_width else 0.0)
        if previous_change is None:
            feature = update
        else:
            response = w.multiplier + w.init_variance / 2 + previous_change + (0.5 if layer == "output" else 0.0)
            feature = max(update, response)
        out[layer] = (feature, update)
        previous_change = feature
    return out


@pytest.mark.parametrize("parametrisation", mup.PARAMETRISATIONS)
@pytest.mark.parametrize("optimizer", mup.OPTIMIZERS)
def test_predicted_exponents_follow_from_the_tables_scalings_by_the_coordinate_size_rules(parametrisation, optimizer):
    for depth in (2, 3):
        for layer, (feature, update) in _derived(parametrisation, optimizer, depth).items():
            assert mup.predicted_exponent(parametrisation, optimizer, layer, "feature", depth=depth) == feature, (layer, depth)
            assert mup.predicted_exponent(parametrisation, optimizer, layer, "update", depth=depth) == update, (layer, depth)


@PROPERTY
@given(rows, widths, widths)
def test_factors_are_the_powers_of_the_width_ratio_and_python_floats(key, width, base_width):
    row = mup.TABLE[key]
    f = mup.factors(*key, width=width, base_width=base_width)
    ratio = width / base_width
    expected = (ratio**row.init_variance, ratio**row.multiplier, ratio**row.learning_rate)
    assert f == pytest.approx(expected, rel=1e-14)
    assert all(type(x) is float for x in f)
    assert mup.factors(*key, width=width, base_width=width) == (1.0, 1.0, 1.0)


@PROPERTY
@given(rows, widths, widths, widths)
def test_factors_compose_from_one_width_to_another_and_back(key, a, b, c):
    ab, bc, ac = (mup.factors(*key, width=x, base_width=y) for x, y in ((b, a), (c, b), (c, a)))
    ba = mup.factors(*key, width=a, base_width=b)
    for i in range(3):
        assert ab[i] * bc[i] == pytest.approx(ac[i], rel=1e-13)
        assert ab[i] * ba[i] == pytest.approx(1.0, rel=1e-13)


@PROPERTY
@given(rows, st.integers(1, 60), st.integers(1, 64))
def test_abc_is_the_factors_in_yang_and_hu_notation(key, doublings, base_width):
    _, _, layer = key
    a, b, c = mup.abc(*key)
    n = base_width * 2**doublings
    var, mult, lr = mup.factors(*key, width=n, base_width=base_width)
    ratio = n / base_width
    fan_in = 1.0 if layer == "input" else ratio  # σ²/fan_in: only a width-sized fan-in scales
    assert mult == pytest.approx(ratio**-a, rel=1e-13)
    assert var / fan_in == pytest.approx(ratio ** (-2 * b), rel=1e-13)
    assert lr == pytest.approx(ratio**-c, rel=1e-13)
    assert not any(math.copysign(1.0, x) < 0 and x == 0 for x in (a, b, c))  # no −0.0


@PROPERTY
@given(rows, st.sampled_from([np.int32, np.int64, np.uint16, np.float32, np.float64]), st.integers(1, 4096), st.integers(1, 4096))
def test_numpy_widths_give_the_same_python_floats_as_python_numbers(key, kind, width, base_width):
    assert mup.factors(*key, width=kind(width), base_width=kind(base_width)) == mup.factors(*key, width=width, base_width=base_width)
    assert all(type(x) is float for x in mup.factors(*key, width=kind(width), base_width=kind(base_width)))


def test_numpy_integer_widths_give_python_floats():
    # an np.int64 width gave np.float64 factors (their repr, np.float64(0.25), differs from a float's)
    assert repr(mup.factors("mup", "sgd", "output", width=np.int64(256), base_width=np.int64(64))) == "(0.25, 1.0, 0.25)"


@pytest.mark.parametrize(
    "width, base_width, message",
    [
        (True, 64, "width must be a number >= 1 and finite, got True"),
        (256, np.bool_(True), "base_width must be a number >= 1 and finite"),
        (0, 64, "width must be a number >= 1 and finite, got 0"),
        (256, -1, "base_width must be a number >= 1 and finite, got -1"),
        (float("nan"), 64, "width must be a number >= 1 and finite, got nan"),
    ],
)
def test_a_width_that_is_not_a_number_of_at_least_one_is_refused_by_name(width, base_width, message):
    with pytest.raises(ValueError, match=message):
        mup.factors("mup", "adam", "hidden", width=width, base_width=base_width)
