"""The coordinates tracker against a dense hand computation of a parametrised MLP's layers."""

import pytest
import torch

from bridge import TrainConfig
from bridge.models import MLP, MLPConfig
from bridge.tasks import TeacherMLPConfig, make_task
from bridge.trackers import CoordinatesTracker, get_tracker
from bridge.training import make_optimizer


def by_hand(weights, biases, mults, x):
    """Inputs and outputs of each layer: out = m · x Wᵀ + b, relu between layers."""
    inputs, outputs, h = [], [], x
    for i, (w, b, m) in enumerate(zip(weights, biases, mults)):
        inputs.append(h)
        outputs.append(m * (h @ w.T) + b)
        h = torch.relu(outputs[-1]) if i < len(weights) - 1 else outputs[-1]
    return inputs, outputs


@pytest.mark.parametrize("parametrisation", ["standard", "mup", "ntk"])
def test_rows_equal_a_dense_computation(parametrisation):
    data = make_task(TeacherMLPConfig(d_in=6, n_train=40, n_test=0, width=16), seed=1)
    cfg = MLPConfig(d_in=6, d_out=1, widths=(48, 48), parametrisation=parametrisation, base_width=None if parametrisation == "standard" else 12)
    model = MLP(cfg, seed=2)
    tracker = get_tracker("coordinates", max_examples=32)
    x = data.train.x[:32]
    w0 = [l.weight.detach().clone() for l in model.layers]
    b0 = [l.bias.detach().clone() for l in model.layers]
    rows0 = tracker(model, 0, data)
    opt = make_optimizer(model, TrainConfig(optimizer="adam", lr=0.01))
    for _ in range(3):
        opt.zero_grad()
        ((model(data.train.x) - data.train.y) ** 2).mean().backward()
        opt.step()
    rows = tracker(model, 3, data)
    mults = model.multipliers
    _, out0 = by_hand(w0, b0, mults, x)
    w1 = [l.weight.detach() for l in model.layers]
    inputs, out1 = by_hand(w1, [l.bias.detach() for l in model.layers], mults, x)
    got = {(r["observable"], r["layer"]): r["value"] for r in rows}
    for i in range(3):
        expect = {
            "act": out1[i].pow(2).mean().sqrt(),
            "delta": (out1[i] - out0[i]).pow(2).mean().sqrt(),
            "update": (mults[i] * inputs[i] @ (w1[i] - w0[i]).T).pow(2).mean().sqrt(),
            "weight_delta": (mults[i] * (w1[i] - w0[i])).pow(2).mean().sqrt(),
        }
        for name, value in expect.items():
            assert got[(f"coordinates/{name}", i)] == pytest.approx(value.item(), rel=1e-4), (name, i)
        assert got[("coordinates/delta", i)] > 1e-4  # the step moved every layer
    assert {r["value"] for r in rows0 if r["observable"] != "coordinates/act"} == {0.0}
    # the readout's act at step 0 is the initial output's RMS
    assert [r["value"] for r in rows0 if r["observable"] == "coordinates/act" and r["layer"] == 2][0] == pytest.approx(out0[2].pow(2).mean().sqrt().item(), rel=1e-5)


def test_needs_step_zero_first():
    data = make_task(TeacherMLPConfig(d_in=3, n_train=8, n_test=0), seed=0)
    with pytest.raises(ValueError, match="must see step 0"):
        CoordinatesTracker()(MLP(MLPConfig(d_in=3, d_out=1), seed=0), 5, data)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_rows_equal_the_float64_formula_exactly_and_leave_the_model_unchanged(dtype):
    """Every row is bit for bit ``t.double().pow(2).mean().sqrt()`` of its quantity (the numbers a μP report is built on)."""
    from bridge.trackers.coordinates import layer_coordinates

    data = make_task(TeacherMLPConfig(d_in=5, n_train=24, n_test=0, width=16), seed=3)
    data.train.x, data.train.y = data.train.x.to(dtype), data.train.y.to(dtype)
    model = MLP(MLPConfig(d_in=5, d_out=1, widths=(40, 40), parametrisation="mup", base_width=10), seed=4).to(dtype)
    tracker = CoordinatesTracker(max_examples=16)
    x = data.train.x[:16]
    with torch.no_grad():
        _, outputs0, weights0 = layer_coordinates(model, x)
    tracker(model, 0, data)
    opt = make_optimizer(model, TrainConfig(optimizer="adam", lr=0.01))
    for _ in range(2):
        opt.zero_grad()
        ((model(data.train.x) - data.train.y) ** 2).mean().backward()
        opt.step()
    with torch.no_grad():
        inputs, outputs, weights = layer_coordinates(model, x)
    before = [p.detach().clone() for p in model.parameters()]
    got = [(r["observable"], r["layer"], r["value"]) for r in tracker(model, 2, data)]

    def rms(t):
        return t.double().pow(2).mean().sqrt().item()

    expected = []
    for i, (x_l, h, h0, w, w0) in enumerate(zip(inputs, outputs, outputs0, weights, weights0)):
        expected += [("coordinates/act", i, rms(h)), ("coordinates/delta", i, rms(h - h0)), ("coordinates/update", i, rms(x_l @ (w - w0).T)), ("coordinates/weight_delta", i, rms(w - w0))]
    assert got == expected and all(v > 0 for _, _, v in got)
    assert all(torch.equal(a, b.detach()) for a, b in zip(before, model.parameters()))


@pytest.mark.parametrize("max_examples", [0, -6, 2.5, True])
def test_a_count_of_examples_that_is_not_a_positive_integer_is_refused(max_examples):
    """0 would give NaN rows and a negative count would drop the last examples (``x[:-6]``)."""
    with pytest.raises(ValueError, match=rf"max_examples must be a positive integer, got {max_examples!r}"):
        CoordinatesTracker(max_examples=max_examples)


def test_the_rows_are_measured_on_the_first_max_examples_inputs():
    data = make_task(TeacherMLPConfig(d_in=3, n_train=8, n_test=0), seed=0)
    net = MLP(MLPConfig(d_in=3, d_out=1, widths=(8,)), seed=0)
    act = [r["value"] for r in CoordinatesTracker(max_examples=2)(net, 0, data) if r["observable"] == "coordinates/act"]
    with torch.no_grad():
        pre = net.layers[0](data.train.x[:2])
        out = net(data.train.x[:2])
    assert act == pytest.approx([pre.double().pow(2).mean().sqrt().item(), out.double().pow(2).mean().sqrt().item()], rel=1e-6)
