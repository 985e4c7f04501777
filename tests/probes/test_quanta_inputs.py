"""The multitask sparse parity probes refuse, by the argument's name and value and before the model runs, inputs
and labels the network cannot read (rows of another width, dtype or rank; labels of another length, not integer,
or outside the logits) and a network without the two logits they read (d_out = 1 gave an IndexError or, in
units_needed, "no set of units undoes the subtask" for every subtask; d_out = 3 read logits 0 and 1 only). Other
hidden widths, activations and float64 networks give the values of a loop written out by hand."""

import math

import pytest
import torch
import torch.nn.functional as F

from bridge.models import MLPConfig, build_model
from probes import subtask_metrics, unit_ablation, unit_contributions, units_needed, walsh_gap

X = torch.rand(6, 4, generator=torch.Generator().manual_seed(0))
Y, TASK = torch.tensor([0, 1, 1, 0, 1, 0]), torch.tensor([0, 1, 0, 1, 0, 1])
BITS = torch.tensor([[2, 3], [2, 3]])
CALLS = {
    "subtask_metrics": lambda net, x, y: subtask_metrics(net, x, y, TASK, 2),
    "unit_ablation": lambda net, x, y: unit_ablation(net, x, y, TASK, 2),
    "units_needed": lambda net, x, y: units_needed(net, x, y, TASK, 2),
    "unit_contributions": lambda net, x, y: unit_contributions(net, x, TASK, 2),
    "walsh_gap": lambda net, x, y: walsh_gap(net, x, TASK, BITS),
}
BAD_X = {
    "float64 rows": (X.double(), r"x must have the model's dtype torch.float32 on its device cpu, got torch.float64 on cpu"),
    "wider rows": (torch.rand(6, 5), r"x must be \(n, d_in=4\) rows, got shape \(6, 5\)"),
    "1-D": (X[:, 0], r"x must be \(n, d_in=4\) rows, got shape \(6,\)"),
    "integer rows": (X.long(), r"x must have the model's dtype torch.float32 on its device cpu, got torch.int64 on cpu"),
}
BAD_Y = {
    "longer": (torch.tensor([0, 1] * 4), r"y must be one label per row of x \(6\), got shape \(8,\)"),
    "shorter": (Y[:4], r"y must be one label per row of x \(6\), got shape \(4,\)"),
    "float": (Y.float(), r"y must be integer labels, got dtype torch.float32"),
    "outside the logits": (Y + 1, r"y must be labels in \[0, d_out=2\), got labels in \[1, 2\]"),
    "negative": (Y - 1, r"y must be labels in \[0, d_out=2\), got labels in \[-1, 0\]"),
}


def _net(**kw):
    return build_model(MLPConfig(d_in=4, d_out=kw.pop("d_out", 2), widths=kw.pop("widths", (3,)), **kw), seed=0)


def _refused(net, call, x, y, message):
    forwards = []
    handle = net.register_forward_pre_hook(lambda *_: forwards.append(1))
    try:
        with pytest.raises(ValueError, match=message):
            call(net, x, y)
    finally:
        handle.remove()
    assert forwards == [] and not net._forward_hooks and not net._forward_pre_hooks


@pytest.mark.parametrize("bad", sorted(BAD_X))
@pytest.mark.parametrize("probe", sorted(CALLS))
def test_rows_the_network_cannot_read_are_refused_by_name(probe, bad):
    x, message = BAD_X[bad]
    _refused(_net(), CALLS[probe], x, Y, message)


@pytest.mark.parametrize("bad", sorted(BAD_Y))
@pytest.mark.parametrize("probe", ["subtask_metrics", "unit_ablation", "units_needed"])
def test_labels_that_are_not_one_class_per_row_are_refused_by_name(probe, bad):
    y, message = BAD_Y[bad]
    _refused(_net(), CALLS[probe], X, y, message)


@pytest.mark.parametrize("d_out", [1, 3])
@pytest.mark.parametrize("probe", ["unit_ablation", "units_needed", "unit_contributions", "walsh_gap"])
def test_a_network_without_two_logits_is_refused(probe, d_out):
    _refused(_net(d_out=d_out), CALLS[probe], X, Y % d_out, rf"the quanta probes read the two logits of a parity, got a readout of d_out={d_out}")


@pytest.mark.parametrize(("kw", "dtype"), [({"widths": (1,)}, torch.float32), ({"widths": (7,), "activation": "tanh"}, torch.float64), ({"widths": (5,), "activation": "quadratic", "bias": False}, torch.float64)])
def test_other_widths_activations_and_float64_give_the_values_of_a_hand_written_loop(kw, dtype):
    net = _net(**kw).to(dtype)
    x = X.to(dtype)
    act = {"relu": torch.relu, "tanh": torch.tanh, "quadratic": lambda v: v * v}[kw.get("activation", "relu")]
    loss, acc = subtask_metrics(net, x, Y, TASK, 2)
    effect = unit_ablation(net, x, Y, TASK, 2)
    contrib = unit_contributions(net, x, TASK, 2)
    width = kw["widths"][0]
    torch.set_grad_enabled(False)
    try:
        _compare(net, x, dtype, act, width, loss, acc, effect, contrib)
    finally:
        torch.set_grad_enabled(True)
    assert effect.dtype == contrib.dtype == dtype and not math.isnan(float(loss.sum()))


def _compare(net, x, dtype, act, width, loss, acc, effect, contrib):
    first, last = net.layers
    for k in range(2):
        rows = [i for i in range(6) if TASK[i] == k]
        ref_loss, ref_acc, ref_effect, ref_contrib = 0.0, 0.0, [0.0] * width, [0.0] * width
        for i in rows:
            h = act(x[i] @ first.weight.T + (first.bias if first.bias is not None else 0))
            logits = h @ last.weight.T + (last.bias if last.bias is not None else 0)
            clean = float(F.cross_entropy(logits[None].double(), Y[i : i + 1]))
            ref_loss += clean / len(rows)
            ref_acc += float(int(logits.argmax()) == int(Y[i])) / len(rows)
            for u in range(width):
                ablated = logits - h[u] * last.weight[:, u]
                ref_effect[u] += (float(F.cross_entropy(ablated[None].double(), Y[i : i + 1])) - clean) / len(rows)
                ref_contrib[u] += abs(float(h[u] * (last.weight[1, u] - last.weight[0, u]))) / len(rows)
        tol = 1e-12 if dtype == torch.float64 else 1e-5
        assert float(loss[k]) == pytest.approx(ref_loss, rel=tol, abs=tol) and float(acc[k]) == pytest.approx(ref_acc, abs=1e-7)
        assert effect[k].tolist() == pytest.approx(ref_effect, rel=tol, abs=tol)
        assert contrib[k].tolist() == pytest.approx(ref_contrib, rel=tol, abs=tol)
