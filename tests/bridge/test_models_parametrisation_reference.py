"""Parametrised MLPs against two independent references, layer by layer, after a few optimizer steps.

* the ``mup`` package (``MuReadout``, ``set_base_shapes``, ``MuSGD``/``MuAdam``) on the same three-layer MLP:
  its readout multiplies by ``1/r`` where ours draws the readout ``1/r`` smaller and scales its rate
  (Yang et al. 2022, Tables 3 and 8 are equivalent), so its readout weight is ours times ``r``; every
  layer's Δh must then be the same at every width (float64, relative 1e-9 for SGD, 1e-6 for Adam,
  whose ε enters differently);
* Yang & Hu 2021's abc-form (``W = n^{−a} w``, ``w ~ N(0, σ² n^{−2b})``, learning rate ``η n^{−c}`` with
  width-independent σ and η per layer), with their NTK (a = 0, ½, ½; b = 0; c = 0) and μP
  (a = −½, 0, ½; b = ½; c = 0) exponents written out here, not read from the library: a network of
  ``w = n^a · W_eff`` trained with those rates, its constants fixed once at the base width, must move
  exactly as ours at every width, and its ``w`` must have the width-independent spread its ``b`` says.

At the base width every parametrisation's Δh equals the standard one's.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.stats import chi2
from torch import nn

from bridge import TrainConfig
from bridge.models import MLP, MLPConfig
from bridge.training import make_optimizer

mup = pytest.importorskip("mup", reason="the mup package is not installed (pip install --no-deps mup)")

D_IN, D_OUT, BASE, STEPS = 5, 3, 32, 3
WIDTHS = (32, 64, 128, 256, 512)
LR = {"sgd": 0.05, "adam": 0.01}
# Yang & Hu 2021 (Tensor Programs IV), abc exponents of the input, hidden and output layers under SGD
ABC = {"ntk": ((0.0, 0.5, 0.5), (0.0, 0.0, 0.0), (0.0, 0.0, 0.0)), "mup": ((-0.5, 0.0, 0.5), (0.5, 0.5, 0.5), (0.0, 0.0, 0.0))}


def data():
    g = torch.Generator().manual_seed(0)
    return torch.randn(64, D_IN, generator=g, dtype=torch.float64), torch.randn(64, D_OUT, generator=g, dtype=torch.float64)


def ours(parametrisation, width, seed=1):
    cfg = MLPConfig(d_in=D_IN, d_out=D_OUT, widths=(width, width), parametrisation=parametrisation, base_width=None if parametrisation == "standard" else BASE)
    return MLP(cfg, seed=seed).double()


def our_pre(model, x):
    out, h = [], x
    for i in range(3):
        out.append(model.linear(i, h))
        h = F.relu(out[-1])
    return out


def train(model, optimizer, x, y, pre):
    """Each layer's RMS Δh (the output's change for the readout) after ``STEPS`` steps."""
    before = pre(x)
    for _ in range(STEPS):
        optimizer.zero_grad()
        ((model(x) - y) ** 2).mean().backward()
        optimizer.step()
    with torch.no_grad():
        return np.array([(a - b).pow(2).mean().sqrt().item() for a, b in zip(pre(x), before)])


def our_changes(parametrisation, optimizer, width):
    model = ours(parametrisation, width)
    return train(model, make_optimizer(model, TrainConfig(optimizer=optimizer, lr=LR[optimizer])), *data(), lambda x: our_pre(model, x))


class MuNet(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.fc1, self.fc2, self.readout = nn.Linear(D_IN, width), nn.Linear(width, width), mup.MuReadout(width, D_OUT)

    def forward(self, x):
        return self.pre(x)[-1]

    def pre(self, x):
        a = self.fc1(x)
        b = self.fc2(F.relu(a))
        return [a, b, self.readout(F.relu(b))]


def mup_changes(optimizer, width):
    model = ours("mup", width)
    theirs = MuNet(width).double()
    mup.set_base_shapes(theirs, MuNet(BASE), delta=MuNet(2 * BASE))
    with torch.no_grad():
        for a, b in zip(model.layers, (theirs.fc1, theirs.fc2, theirs.readout)):
            b.weight.copy_(a.weight)
            b.bias.copy_(a.bias)
        theirs.readout.weight.mul_(width / BASE)  # MuReadout divides its input by r
    x, _ = data()
    torch.testing.assert_close(theirs(x), model(x), rtol=1e-12, atol=1e-12)
    opt = (mup.MuSGD if optimizer == "sgd" else mup.MuAdam)(theirs.parameters(), lr=LR[optimizer])
    return train(theirs, opt, *data(), theirs.pre)


@pytest.mark.parametrize(("optimizer", "rtol"), [("sgd", 1e-9), ("adam", 1e-6)])
def test_mup_moves_each_layer_as_the_mup_package_does_at_every_width_and_as_sp_at_the_base_width(optimizer, rtol):
    changes = {w: our_changes("mup", optimizer, w) for w in WIDTHS}
    for w in WIDTHS:
        np.testing.assert_allclose(changes[w], mup_changes(optimizer, w), rtol=rtol, atol=0, err_msg=f"width {w}")
    np.testing.assert_allclose(changes[BASE], our_changes("standard", optimizer, BASE), rtol=1e-9, atol=0)


class AbcNet(nn.Module):
    """Yang & Hu's form: ``h_l = n^{−a_l} w_l h_{l−1} + b_l``, trained on ``w_l`` with rate ``η_l n^{−c_l}``."""

    def __init__(self, model, a, width):
        super().__init__()
        self.scale = [width ** -al for al in a]
        self.w = nn.ParameterList(nn.Parameter((m * layer.weight / s).detach().clone()) for layer, m, s in zip(model.layers, model.multipliers, self.scale))
        self.b = nn.ParameterList(nn.Parameter(layer.bias.detach().clone()) for layer in model.layers)

    def pre(self, x):
        out, h = [], x
        for i in range(3):
            out.append(self.scale[i] * h @ self.w[i].T + self.b[i])
            h = F.relu(out[-1])
        return out

    def forward(self, x):
        return self.pre(x)[-1]


def abc_changes(parametrisation, width):
    """Each layer's Δh of the abc network at ``width``: rates ``η_l n^{−c_l}`` with ``η_l`` fixed at the base width, where the
    abc network is SP (``∂/∂w = n^{−a} ∂/∂W`` and ``ΔW = n^{−a} Δw``: a rate ρ on ``w`` moves ``W`` as ``n^{−2a} ρ`` on it)."""
    a, _, c = ABC[parametrisation]
    model = ours(parametrisation, width)
    ref = AbcNet(model, a, width)
    x, y = data()
    torch.testing.assert_close(ref(x), model(x), rtol=1e-12, atol=1e-12)
    eta = [LR["sgd"] * BASE ** (2 * a[i] + c[i]) for i in range(3)]
    groups = [{"params": [ref.w[i]], "lr": eta[i] * width ** -c[i]} for i in range(3)]
    # a hidden bias is the input layer's weight on a constant input (Yang & Hu append it to x): its W moves as n^{−2a₁};
    # the readout's bias has a fixed fan-in and fan-out, and a width-independent rate
    groups += [{"params": [ref.b[i]], "lr": LR["sgd"] * (width / BASE) ** (-2 * a[0])} for i in range(2)]
    groups += [{"params": [ref.b[2]], "lr": LR["sgd"]}]
    return train(ref, torch.optim.SGD(groups), x, y, ref.pre), ref


@pytest.mark.parametrize("parametrisation", ["ntk", "mup"])
def test_sgd_moves_each_layer_as_yang_and_hus_abc_network_with_width_independent_constants(parametrisation):
    _, b, _ = ABC[parametrisation]
    spreads, sizes = [], []
    for w in WIDTHS:
        theirs, ref = abc_changes(parametrisation, w)
        np.testing.assert_allclose(our_changes(parametrisation, "sgd", w), theirs, rtol=1e-9, atol=0, err_msg=f"width {w}")
        spreads.append([(ref.w[i].detach() * w ** b[i]).pow(2).mean().item() for i in range(3)])
        sizes.append([ref.w[i].numel() for i in range(3)])
    # w ~ N(0, σ_l² n^{−2b_l}): n^{b_l}·w has one spread σ_l² at every width; the ratio of two widths' sample
    # variances lies within the product of their two-sided χ² bounds (each at probability 1e-6)
    spreads, sizes = np.array(spreads), np.array(sizes)
    for i in range(3):
        for k in range(1, len(WIDTHS)):
            lo_k, hi_k = chi2.ppf([1e-6, 1 - 1e-6], sizes[k, i]) / sizes[k, i]
            lo_0, hi_0 = chi2.ppf([1e-6, 1 - 1e-6], sizes[0, i]) / sizes[0, i]
            assert lo_k / hi_0 <= spreads[k, i] / spreads[0, i] <= hi_k / lo_0, (parametrisation, i, WIDTHS[k], spreads[:, i])
