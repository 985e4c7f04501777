"""The parametrisation table: consistency, and its predicted exponents against one simulated step."""

import numpy as np
import pytest
import torch

from bridge.theory import mup

WIDTHS = [64, 128, 256, 512, 1024, 2048]


def one_step_changes(parametrisation, optimizer, width, depth, seed, linear, base_width=4, d_in=4, batch=32):
    """Mean squares of each layer's Δh and ΔW·x after one step of an MLP built from the table's factors.

    The data (a linear teacher) depend on the seed only, so every width sees the same
    inputs and targets. The input dimension is small because under SP with Adam the
    readout's change has a subleading term ∝ d_in·√width beside the leading ∝ width.
    """
    data = torch.Generator().manual_seed(10_000 + seed)
    x = torch.randn(batch, d_in, generator=data)
    y = x @ torch.randn(d_in, 1, generator=data) / d_in**0.5
    g = torch.Generator().manual_seed(seed)
    kinds = ["input"] + ["hidden"] * (depth - 2) + ["output"]
    dims = [d_in] + [width] * (depth - 1) + [1]
    weights, mults, groups = [], [], []
    lr = 0.01 if optimizer == "sgd" else 0.001
    for kind, fan_in, fan_out in zip(kinds, dims[:-1], dims[1:]):
        var, mult, lr_factor = mup.factors(parametrisation, optimizer, kind, width, base_width)
        w = (torch.randn(fan_out, fan_in, generator=g) * (var / fan_in) ** 0.5).requires_grad_(True)
        weights.append(w)
        mults.append(mult)
        groups.append({"params": [w], "lr": lr * lr_factor})

    def forward():
        pre, inputs, h = [], [], x
        for i, (w, m) in enumerate(zip(weights, mults)):
            inputs.append(h)
            pre.append(m * h @ w.T)
            h = pre[-1] if linear or i == depth - 1 else torch.relu(pre[-1])
        return pre, inputs

    pre0, inputs0 = forward()
    before = [w.detach().clone() for w in weights]
    opt = torch.optim.SGD(groups) if optimizer == "sgd" else torch.optim.Adam(groups)
    ((pre0[-1] - y) ** 2).mean().backward()
    opt.step()
    with torch.no_grad():
        pre1, _ = forward()
        feature = [(a - b).pow(2).mean().item() for a, b in zip(pre1, pre0)]
        update = [(m * h @ (w - w0).T).pow(2).mean().item() for m, h, w, w0 in zip(mults, inputs0, weights, before)]
    return np.array(feature), np.array(update)


def fitted_slopes(parametrisation, optimizer, depth, linear, seeds=16):
    """Log-log slope against width of the seed-averaged RMS change, per layer: (feature, update)."""
    ms = np.array([[one_step_changes(parametrisation, optimizer, w, depth, s, linear) for w in WIDTHS] for s in range(seeds)])
    rms = np.sqrt(ms.mean(0))  # (width, quantity, layer)
    slope = lambda v: np.polyfit(np.log(WIDTHS), np.log(v), 1)[0]
    return [[slope(rms[:, q, layer]) for layer in range(depth)] for q in range(2)]


def tolerance(parametrisation):
    """Slopes over widths 64…2048 keep finite-width corrections; SP's are the largest (its updates are the least balanced)."""
    return 0.15 if parametrisation == "standard" else 0.1


def test_mup_exponents_are_zero_and_all_parametrisations_agree_at_base_width():
    for (param, opt, layer), row in mup.TABLE.items():
        assert row.factors(96, 96) == (1.0, 1.0, 1.0)
        if param == "mup":
            assert (row.feature, row.update) == (0.0, 0.0)
            assert mup.predicted_exponent(param, opt, layer) == 0.0
        if param == "standard":
            assert (row.init_variance, row.multiplier, row.learning_rate) == (0.0, 0.0, 0.0)
    assert mup.factors("mup", "adam", "hidden", width=1024, base_width=64) == (1.0, 1.0, 1 / 16)
    assert mup.factors("mup", "sgd", "input", width=1024, base_width=64) == (1.0, 1.0, 16.0)


def test_abc_exponents_match_yang_and_hu_up_to_their_symmetry():
    # Yang & Hu's μP with one SGD learning rate: (a, b) = (−½, ½), (0, ½), (½, ½), c = 0; the symmetry
    # a → a + θ, b → b − θ, c → c − 2θ (SGD) maps it to the per-layer learning rates of the table.
    for layer, (a, b, c) in zip(mup.LAYERS, [(-0.5, 0.5, 0.0), (0.0, 0.5, 0.0), (0.5, 0.5, 0.0)]):
        ta, tb, tc = mup.abc("mup", "sgd", layer)
        theta = ta - a
        assert (tb, tc) == pytest.approx((b - theta, c - 2 * theta))
    assert mup.abc("ntk", "sgd", "hidden") == (0.5, 0.0, 0.0)
    assert mup.abc("standard", "sgd", "hidden") == (0.0, 0.5, 0.0)


def test_lookup_errors_name_the_problem():
    with pytest.raises(ValueError, match="parametrisation"):
        mup.predicted_exponent("mu", "sgd", "hidden")
    with pytest.raises(ValueError, match="optimizer"):
        mup.predicted_exponent("mup", "lion", "hidden")
    with pytest.raises(ValueError, match="layer"):
        mup.predicted_exponent("mup", "sgd", "embedding")
    with pytest.raises(ValueError, match="no hidden"):
        mup.predicted_exponent("mup", "sgd", "hidden", depth=2)
    with pytest.raises(ValueError, match="compound"):
        mup.predicted_exponent("standard", "adam", "output", depth=4)
    assert mup.predicted_exponent("standard", "adamw", "hidden") == 1.0


@pytest.mark.parametrize("parametrisation", mup.PARAMETRISATIONS)
@pytest.mark.parametrize("optimizer", mup.OPTIMIZERS)
def test_two_layer_linear_net_moves_as_predicted(parametrisation, optimizer):
    (feature, update) = fitted_slopes(parametrisation, optimizer, depth=2, linear=True)
    for layer, f, u in zip(["input", "output"], feature, update):
        assert f == pytest.approx(mup.predicted_exponent(parametrisation, optimizer, layer, depth=2), abs=tolerance(parametrisation)), (layer, f)
        assert u == pytest.approx(mup.predicted_exponent(parametrisation, optimizer, layer, "update", depth=2), abs=tolerance(parametrisation)), (layer, u)


@pytest.mark.slow
@pytest.mark.parametrize("parametrisation", mup.PARAMETRISATIONS)
@pytest.mark.parametrize("optimizer", mup.OPTIMIZERS)
def test_three_layer_relu_mlp_moves_as_the_table_predicts(parametrisation, optimizer):
    (feature, update) = fitted_slopes(parametrisation, optimizer, depth=3, linear=False)
    for layer, f, u in zip(mup.LAYERS, feature, update):
        assert f == pytest.approx(mup.predicted_exponent(parametrisation, optimizer, layer), abs=tolerance(parametrisation)), (layer, f)
        assert u == pytest.approx(mup.predicted_exponent(parametrisation, optimizer, layer, "update"), abs=tolerance(parametrisation)), (layer, u)


@pytest.mark.parametrize(("call", "message"), [
    (lambda: mup.factors("mup", "sgd", "output", width=float("nan"), base_width=64), "width must be a number >= 1 and finite, got nan"),
    (lambda: mup.factors("mup", "sgd", "output", width=256, base_width=float("inf")), "base_width must be a number >= 1 and finite, got inf"),
    (lambda: mup.factors("mup", "sgd", "output", width=0.5, base_width=64), "width must be a number >= 1 and finite, got 0.5"),
    # an integer past the float range raised OverflowError from float(); a string raised TypeError from the comparison
    (lambda: mup.factors("mup", "adam", "hidden", width=10**400, base_width=1), "width must be a number >= 1 and finite, got 1000"),
    (lambda: mup.factors("mup", "adam", "hidden", width=64, base_width="8"), "base_width must be a number >= 1 and finite, got '8'"),
    (lambda: mup.predicted_exponent("mup", "sgd", "output", depth=float("nan")), r"depth \(weight layers\) must be an integer >= 2, got nan"),
    (lambda: mup.predicted_exponent("mup", "sgd", "output", depth=float("inf")), r"depth \(weight layers\) must be an integer >= 2, got inf"),
])
def test_width_and_depth_outside_their_domain_are_refused_by_name(call, message):
    with pytest.raises(ValueError, match=message):
        call()
