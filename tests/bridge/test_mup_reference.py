"""Our coordinate check against the ``mup`` package's own, on the same MLP, data and optimizer.

``mup``'s ``get_coord_data`` trains its μP network (``MuReadout``, ``set_base_shapes``,
``MuAdam``; its readout rescaled as ``set_base_shapes`` does, biases at zero as ours) and records each module's output at every step through its hooks; ours trains
:class:`bridge.models.MLP` with ``parametrisation="mup"`` and measures the same layers with
the ``coordinates`` tracker. The fitted width slopes of Δh (and of the activations' size)
per layer must agree within ``Targets.reference``.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from bridge import TrainConfig
from bridge.models import MLP, MLPConfig
from bridge.tasks.base import Split, TaskData
from bridge.trackers import CoordinatesTracker
from bridge.training import make_optimizer
from case_studies.mup import Targets
from case_studies.mup.analysis import slope

mup = pytest.importorskip("mup", reason="the mup package is not installed (pip install --no-deps mup)")
from mup.coord_check import get_coord_data  # noqa: E402

WIDTHS = (64, 128, 256, 512, 1024, 2048)
BASE, D_IN, CLASSES, STEPS, LR = 64, 8, 4, 3, 0.01
MODULES = ("fc1", "fc2", "readout")  # input, hidden and output layers
INIT_SCALE = 3**-0.5  # PyTorch's default nn.Linear init (uniform, variance 1/(3·fan_in)), which mup's network keeps


class MuNet(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.fc1, self.fc2, self.readout = nn.Linear(D_IN, width), nn.Linear(width, width), mup.MuReadout(width, CLASSES)

    def forward(self, x):
        return self.readout(F.relu(self.fc2(F.relu(self.fc1(x)))))


def mu_model(width):
    def build():
        model = MuNet(width)
        mup.set_base_shapes(model, MuNet(BASE), delta=MuNet(2 * BASE))
        with torch.no_grad():  # our MLP starts its biases at zero
            for layer in (model.fc1, model.fc2, model.readout):
                layer.bias.zero_()
        return model

    return build


def batch():
    g = torch.Generator().manual_seed(0)
    return torch.randn(256, D_IN, generator=g), torch.randint(0, CLASSES, (256,), generator=g)


def reference_sizes():
    """``mup``'s coordinate check: ``(width, step, layer)`` RMS Δh after 1..STEPS updates, and the outputs' RMS."""
    stored = []

    def keep(out):
        stored.append(out.detach().clone())
        return torch.tensor(len(stored) - 1)

    with torch.random.fork_rng():
        table = get_coord_data({w: mu_model(w) for w in WIDTHS}, [batch()], optimizer="adam", lr=LR, nsteps=STEPS + 1, lossfn="mse", cuda=False, show_progress=False, output_fdict={"ref": keep})
    delta, act = np.zeros((len(WIDTHS), STEPS, 3)), np.zeros((len(WIDTHS), STEPS, 3))
    for i, w in enumerate(WIDTHS):
        for j, module in enumerate(MODULES):
            rows = table[(table.width == w) & (table.module == module)].sort_values("t")
            outs = [stored[int(k)] for k in rows.ref]  # t = 1 is the forward before any update
            for s in range(1, STEPS + 1):
                delta[i, s - 1, j] = (outs[s] - outs[0]).pow(2).mean().sqrt().item()
                act[i, s - 1, j] = outs[s].pow(2).mean().sqrt().item()
    return delta, act


def our_sizes():
    x, labels = batch()
    y = F.one_hot(labels, CLASSES).float()
    data = TaskData(Split(x, y), None, "mse", {})
    delta, act = np.zeros((len(WIDTHS), STEPS, 3)), np.zeros((len(WIDTHS), STEPS, 3))
    for i, w in enumerate(WIDTHS):
        model = MLP(MLPConfig(d_in=D_IN, d_out=CLASSES, widths=(w, w), parametrisation="mup", base_width=BASE, init_scale=INIT_SCALE), seed=0)
        tracker, opt = CoordinatesTracker(max_examples=256), make_optimizer(model, TrainConfig(optimizer="adam", lr=LR))
        tracker(model, 0, data)
        for s in range(1, STEPS + 1):
            opt.zero_grad()
            ((model(x) - y) ** 2).mean().backward()
            opt.step()
            for r in tracker(model, s, data):
                target = {"coordinates/delta": delta, "coordinates/act": act}.get(r["observable"])
                if target is not None:
                    target[i, s - 1, r["layer"]] = r["value"]
    return delta, act


def test_coordinate_check_slopes_agree_with_mup():
    tolerance = Targets().reference
    theirs, ours = reference_sizes(), our_sizes()
    for name, a, b in zip(("Δh", "activation"), theirs, ours):
        for s in range(STEPS):
            for j, module in enumerate(MODULES):
                s_ref, s_ours = slope(WIDTHS, a[:, s, j]), slope(WIDTHS, b[:, s, j])
                assert abs(s_ref - s_ours) <= tolerance, f"{name} of {module} after {s + 1} steps: mup {s_ref:+.3f}, ours {s_ours:+.3f}"
    # both are μP: Δh is width-independent (the case study's own target), in mup's implementation too
    assert max(abs(slope(WIDTHS, theirs[0][:, -1, j])) for j in range(3)) <= Targets().mup_slope


@pytest.mark.parametrize(("optimizer", "reference"), [("adamw", "MuAdamW"), ("adam", "MuAdam"), ("sgd", "MuSGD")])
@pytest.mark.parametrize("width", [32, 128, 512])
def test_learning_rates_and_weight_decays_equal_mups_optimizers(optimizer, reference, width):
    """Each layer's weight and bias: the same ``lr`` and ``weight_decay`` as ``mup``'s optimizer gives, and ``lr × wd``
    fixed over width. The readout's weight only shares ``lr × wd``: ``MuReadout`` multiplies its output by
    ``1/r`` where ours draws it smaller (Yang et al. 2022's equivalent Tables 3 and 8), so its rate differs."""
    ours = MLP(MLPConfig(d_in=D_IN, d_out=CLASSES, widths=(width, width), parametrisation="mup", base_width=32), seed=0)
    theirs = MuNet(width)
    mup.set_base_shapes(theirs, MuNet(32), delta=MuNet(64))
    lr, wd = 0.1, 0.5
    opt = make_optimizer(ours, TrainConfig(optimizer=optimizer, lr=lr, weight_decay=wd))
    ref = getattr(mup, reference)(theirs.parameters(), lr=lr, weight_decay=wd)
    by_param = lambda o: {id(p): (g["lr"], g["weight_decay"]) for g in o.param_groups for p in g["params"]}  # noqa: E731
    got, want = by_param(opt), by_param(ref)
    for our_layer, their_layer in zip(ours.layers, (theirs.fc1, theirs.fc2, theirs.readout)):
        for kind in ("weight", "bias"):
            (lr_ours, wd_ours), (lr_mup, wd_mup) = got[id(getattr(our_layer, kind))], want[id(getattr(their_layer, kind))]
            assert lr_ours * wd_ours == pytest.approx(lr_mup * wd_mup, rel=1e-12), kind
            if not (our_layer is ours.layers[-1] and kind == "weight"):
                assert (lr_ours, wd_ours) == pytest.approx((lr_mup, wd_mup), rel=1e-12), kind
    assert {round(a * b, 12) for a, b in got.values()} == {lr * wd}
