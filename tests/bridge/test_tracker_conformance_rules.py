"""Each rule of bridge.trackers.check_tracker fails on a tracker that breaks it, naming the rule, the observable
and the values that differ, and the model it was lent comes back as it was."""

import numpy as np
import pytest
import torch
from torch import nn

from bridge.models import DeepLinearConfig, build_model
from bridge.tasks import LinearTeacherConfig, make_task
from bridge.trackers import TRACKER_RULES, Batched, LossTracker, TrackerContractError, check_tracker, evaluating, row


def setup():
    return build_model(DeepLinearConfig(3, 8, 3, init_std=0.5), seed=0), make_task(LinearTeacherConfig((2.0, 1.0), d_in=3, d_out=3, n_train=16), seed=0)


class Rows:
    """A tracker returning ``make(model)``."""

    name = "rows"

    def __init__(self, make):
        self.make = make

    def __call__(self, model, step, data):
        return self.make(model)


def norm(model):
    return float(model.weights[0].detach().norm())


def broken(tracker, *, model=None, **kwargs) -> TrackerContractError:
    default, data = setup()
    with pytest.raises(TrackerContractError) as caught:
        check_tracker(tracker, default if model is None else model, data, **kwargs)
    return caught.value


@pytest.mark.parametrize(
    "make, observable, message",
    [
        (lambda m: ({"observable": "norm", "value": norm(m)},), None, "returned a tuple, not a list of rows"),
        (lambda m: [{"observable": "norm", "value": norm(m)}], "norm", "has the observable 'norm', not a 'group/name' string"),
        (lambda m: [{"observable": "weights/", "value": norm(m)}], "weights/", "not a 'group/name' string"),
        (lambda m: [{"observable": "weights/norm", "value": 3}], "weights/norm", "has the value 3 of type int, not a float (bridge.trackers.row converts)"),
        (lambda m: [{"observable": "weights/norm", "value": m.weights[0].detach().norm()}], "weights/norm", "of type Tensor, not a float"),
        (lambda m: [row("weights/norm", norm(m), layer=np.int64(0))], "weights/norm", "index column 'layer' = np.int64(0) of type int64, not an int or a str"),
        (lambda m: [row("weights/norm", norm(m), first=True)], "weights/norm", "index column 'first' = True of type bool"),
        (lambda m: [row("weights/norm", norm(m), step=0)], "weights/norm", "holds 'step', which the caller adds"),
        (lambda m: [row("weights/norm", norm(m), layer="7")], "weights/norm", "holds the string '7', which the table reads back as an integer"),
        (lambda m: [row("weights/norm", norm(m), layer=0), row("weights/norm", 1.0, layer=0)], "weights/norm", "two rows for 'weights/norm' (layer=0)"),
    ],
)
def test_the_tidy_rule_names_the_first_row_that_is_not_tidy(make, observable, message):
    error = broken(Rows(make))
    assert isinstance(error, AssertionError) and error.rule == "tidy" and error.observable == observable and error.tracker == "rows"
    assert str(error).startswith("tracker 'rows' breaks the rule 'tidy' (rows are a list of") and "the call at step 0: " in str(error)
    assert message in str(error)


def scale_first(model):
    with torch.no_grad():
        model.weights[0].mul_(1.5)
    return [row("weights/norm", norm(model))]


def replace_first(model):
    model.weights[0] = nn.Parameter(model.weights[0].detach().clone())
    return []


def freeze_first(model):
    model.weights[0].requires_grad_(False)
    return []


def evaluate(model):
    model.eval()
    return []


@pytest.mark.parametrize(
    "make, message",
    [
        (scale_first, "the call at step 0 changed 'weights.0' in place (its sum "),
        (replace_first, "the call at step 0 replaced the parameter 'weights.0' (an optimizer holds the parameter objects)"),
        (freeze_first, "the call at step 0 set requires_grad of 'weights.0' to False"),
        (evaluate, "the call at step 0 left the model in eval mode (it was in train mode): use bridge.trackers.evaluating"),
    ],
)
def test_the_model_rule_names_what_the_tracker_changed_and_the_model_comes_back_as_it_was(make, message):
    model, _ = setup()
    model.eval()  # the check runs the tracker in train mode, as training does, and puts the user's mode back
    given = [p.detach().clone() for p in model.parameters()]
    first = model.weights[0]
    error = broken(Rows(make), model=model)
    assert error.rule == "model" and error.observable is None and message in str(error)
    if make is scale_first:  # the sums it found and left, as Python floats
        before = float(given[0].sum())
        assert f"its sum {before!r} before, " in str(error)
    if make is not replace_first:
        assert model.weights[0] is first and model.weights[0].requires_grad and not model.training
        assert all(torch.equal(p, q) for p, q in zip(model.parameters(), given))


def test_the_model_rule_sees_a_changed_buffer():
    class WithBuffer(nn.Module):
        def __init__(self):
            super().__init__()
            self.weights = nn.ParameterList([nn.Parameter(torch.ones(3, 3))])
            self.register_buffer("calls", torch.zeros(()))

        def forward(self, x):
            return x @ self.weights[0].T

    def count(model):
        model.calls += 1
        return []

    model = WithBuffer()
    error = broken(Rows(count), model=model)
    assert error.rule == "model" and "changed 'calls' at (): 0.0 before, 1.0 after" in str(error)
    assert model.calls.item() == 0.0


def test_the_global_state_rule_catches_draws_from_the_global_generator_autograd_left_off_and_a_new_default_dtype():
    error = broken(Rows(lambda m: [row("weights/jitter", norm(m) + float(torch.rand(())))]))
    assert error.rule == "global_state" and "the call at step 0 drew from torch's global random generator" in str(error)
    # a model with dropout measured in train mode draws its dropout masks from the global generator
    net = nn.Sequential(nn.Linear(3, 8), nn.Dropout(0.5), nn.Linear(8, 3))
    _, data = setup()
    plain = Rows(lambda m: [row("loss/train", data.loss_fn(m(data.train.x), data.train.y).detach())])
    with pytest.raises(TrackerContractError, match="drew from torch's global random generator"):
        check_tracker(plain, net, data)

    def measured(m):
        with evaluating(m):
            return plain.make(m)

    assert len(check_tracker(Rows(measured), net, data)) == 3  # evaluating(model): dropout off, nothing drawn

    def grad_off(model):
        torch.set_grad_enabled(False)
        return []

    error = broken(Rows(grad_off))
    assert error.rule == "global_state" and "left autograd off" in str(error) and torch.is_grad_enabled()

    def float64(model):
        torch.set_default_dtype(torch.float64)
        return []

    try:
        error = broken(Rows(float64))
    finally:
        torch.set_default_dtype(torch.float32)
    assert error.rule == "global_state" and "changed the default dtype from torch.float32 to torch.float64" in str(error)


class Norms(Batched):
    """A batched tracker: the first weight matrix captured per step, its norm measured."""

    name = "norms"

    def capture(self, model, step, data):
        return model.weights[0].detach().clone()

    def measure(self, captures, data):
        return [[row("weights/norm", c.norm())] for c in captures]


class CallInDouble(Norms):
    def __call__(self, model, step, data):  # its own call, in float64: not the bits measure gives
        return [row("weights/norm", model.weights[0].detach().double().norm())]


def test_the_call_rule_compares_a_batched_trackers_call_with_measure_of_its_capture():
    assert len(check_tracker(Norms(), *setup())) == 3
    error = broken(CallInDouble())
    assert error.rule == "call" and error.observable == "weights/norm"
    model, _ = setup()
    expected = float(model.weights[0].detach().double().norm())
    assert f"at step 0, 'weights/norm' is {expected!r} from the call and " in str(error) and " from measure([capture])" in str(error)
    extra = broken(ExtraRow())
    assert extra.rule == "call" and extra.observable == "weights/count"
    assert "at step 0, 2 rows from the call and 1 from measure([capture]); the first unmatched is 'weights/count'" in str(extra)
    other = broken(OtherIndex())
    assert other.rule == "call" and "the row is 'weights/norm' from measure([capture]) where it is 'weights/norm' (layer=0) from the call" in str(other)


class ExtraRow(Norms):
    def __call__(self, model, step, data):
        return super().__call__(model, step, data) + [row("weights/count", 9.0)]


class OtherIndex(Norms):
    def __call__(self, model, step, data):
        return [{**r, "layer": 0} for r in super().__call__(model, step, data)]


class RelativeNorms(Norms):
    def measure(self, captures, data):  # each norm over the stack's mean: 1.0 alone, something else in a stack
        norms = torch.stack([c.norm() for c in captures])
        return [[row("weights/norm", n / norms.mean())] for n in norms]

    def __call__(self, model, step, data):
        return [row("weights/norm", 1.0)]


class Kept(Norms):
    def capture(self, model, step, data):
        return model.weights[0].detach()  # the model's own storage: the weights the training loop moves on


class OneList(Norms):
    def measure(self, captures, data):
        return [[row("weights/norm", c.norm()) for c in captures]]


@pytest.mark.parametrize(
    "tracker, message",
    [
        (RelativeNorms(), "the capture of step 0 in the stack of the captures of steps 0..1, 'weights/norm' is 1.0 alone and "),
        (Kept(), "the capture of step 0, measured again once the weights had moved on to step 2 (a capture keeps a copy: .detach().clone())"),
        (OneList(), "measure of the stack of the captures of steps 0..1 returned 1 lists of rows for 2 captures"),
    ],
)
def test_the_measure_rule_catches_bits_that_depend_on_the_stack_or_on_later_weights_and_a_wrong_count(tracker, message):
    error = broken(tracker)
    assert error.rule == "measure" and message in str(error)
    assert error.observable == (None if isinstance(tracker, OneList) else "weights/norm")


class Reversed(LossTracker):
    def stacked(self, forward, datas):
        return super().stacked(forward, datas)[::-1]  # the models' rows in the wrong order


class OneShort(LossTracker):
    def stacked(self, forward, datas):
        return super().stacked(forward, datas)[1:]


def test_the_stacked_rule_compares_each_models_stacked_rows_with_its_call():
    error = broken(Reversed())
    assert error.rule == "stacked" and error.observable == "loss/train"
    assert str(error).startswith("tracker 'loss' breaks the rule 'stacked'") and "model 0 (the weights of step 0), 'loss/train' is " in str(error)
    assert "from the call and " in str(error) and "from stacked()" in str(error)
    assert "stacked() of 3 models returned 2 lists of rows" in str(broken(OneShort()))
    assert len(check_tracker(LossTracker(), *setup())) == 6  # the library's own: the same rows


def test_every_rule_has_its_test_here():
    assert set(TRACKER_RULES) == {"tidy", "model", "global_state", "call", "measure", "stacked"}


def test_a_stacked_trackers_rows_cannot_depend_on_the_step():
    class Stepped(LossTracker):
        def __call__(self, model, step, data):
            return [{**r, "value": r["value"] + step} for r in super().__call__(model, step, data)]

    error = broken(Stepped(), steps=(0, 1))
    assert error.rule == "stacked" and "model 1 (the weights of step 1)" in str(error)
