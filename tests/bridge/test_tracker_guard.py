"""A user's tracker inside a run: its rows are checked in its name, and a call that draws from torch's global
random generator, or changes the model or torch's global state, cannot change the weights the run trains."""

import json

import pytest
import torch
from torch import nn

import bridge
from bridge import RunConfig, ScheduleConfig, TrainConfig
from bridge.models import MLPConfig, build_model
from bridge.tasks import LinearTeacherConfig, TeacherMLPConfig, make_task
from bridge.trackers import Batched, TrackerContractError, TrackingBuffer, check_tracker, evaluating, row
from bridge.trackers.guard import TrackerError
from dropout_mlp import DropoutConfig

TASK = LinearTeacherConfig((2.0, 1.0), d_in=3, d_out=3, n_train=32)
TRAIN = TrainConfig(lr=0.05, steps=20, schedule=ScheduleConfig(n_log=5, every=5))
DROPOUT = RunConfig(TASK, DropoutConfig(d_in=3, p=0.3), TRAIN, seed=0)


class Calls:
    """A tracker doing ``act(model, step, data)`` at every call and returning one row, or ``rows(model, step)``."""

    def __init__(self, act=None, rows=None, name="mine"):
        self.name, self.act, self.rows = name, act, rows

    def __call__(self, model, step, data):
        if self.act is not None:
            self.act(model, step, data)
        return self.rows(model, step) if self.rows is not None else [row("mine/value", float(step))]


@pytest.fixture(autouse=True)
def grad_mode_back():
    yield
    torch.set_grad_enabled(True)  # after a tracker that turned it off, whether or not the run noticed


def final_weights(trackers, out):
    torch.manual_seed(7)  # the caller's generator: training draws its dropout masks from the run's seed and step, not from it
    run = bridge.train(DROPOUT, out, trackers=trackers, device="cpu", progress=False)
    return run, run.model_at(run.steps[-1]).state_dict()


def test_a_tracker_drawing_from_the_global_generator_leaves_the_weights_dropout_training_gives_without_it(tmp_path):
    _, alone = final_weights([], tmp_path / "alone")
    forward = lambda model, step, data: model(data.train.x)  # noqa: E731  a forward in train mode draws dropout masks
    for name, act in [("noise", lambda model, step, data: torch.rand(5)), ("forward", forward), ("nothing", None)]:
        run, tracked = final_weights([Calls(act, name=name)], tmp_path / name)
        rows = run.metrics[run.metrics.observable == "mine/value"]
        assert run.status == "complete" and len(rows) >= 5 and rows["value"].tolist() == rows["step"].astype(float).tolist()
        assert all(torch.equal(alone[k], tracked[k]) for k in alone), name


def set_eval(model, step, data):
    model.eval()


def freeze(model, step, data):
    model.out.bias.requires_grad_(False)


def nudge(model, step, data):
    with torch.no_grad():
        model.inp.weight[1, 2] += 1e-3


def nudge_data(model, step, data):
    model.out.weight.data[0, 0] += 1e-3  # through .data: the parameter's version counter does not move


def hook(model, step, data):
    model.inp.register_forward_hook(lambda module, args, out: out)


def replace(model, step, data):
    model.out.weight = nn.Parameter(model.out.weight.detach().clone())


def grad_off(model, step, data):
    torch.set_grad_enabled(False)


@pytest.mark.parametrize(
    ("act", "said"),
    [
        (set_eval, "left the model in eval mode"),
        (freeze, "set requires_grad of 'out.bias' to False"),
        (nudge, r"changed 'inp.weight' in place \(its sum"),
        (nudge_data, r"changed 'out.weight' in place \(its sum"),
        (hook, r"left a hook attached \(forward_hooks of inp\)"),
        (replace, "replaced the parameter 'out.weight'"),
        (grad_off, "left autograd off"),
    ],
)
def test_a_tracker_that_changes_the_model_or_the_grad_mode_fails_the_run_in_its_name(tmp_path, act, said):
    with pytest.raises(TrackerError, match=rf"tracker 'mine' broke the tracker contract: the call at step 5 {said}"):
        final_weights([Calls(lambda model, step, data: act(model, step, data) if step == 5 else None)], tmp_path / "run")
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["status"] == "failed" and "tracker 'mine'" in record["error"] and 0 <= record["last_step"] < 5


def test_a_tracker_that_puts_the_model_back_as_it_found_it_is_not_refused(tmp_path):
    def perturbed_and_back(model, step, data):  # a sharpness-like probe: move a weight, measure, restore its bits
        with torch.no_grad():
            saved = model.inp.weight.clone()
            model.inp.weight.add_(0.1)
            model.inp.weight.copy_(saved)
        handle = model.inp.register_forward_hook(lambda module, args, out: out)
        with evaluating(model):
            model(data.train.x)
        handle.remove()

    _, alone = final_weights([], tmp_path / "alone")
    run, tracked = final_weights([Calls(perturbed_and_back)], tmp_path / "run")
    assert run.status == "complete" and all(torch.equal(alone[k], tracked[k]) for k in alone)


GRAD = nn.Parameter(torch.tensor(0.25))

BAD_ROWS = [
    (lambda model, step: [{"observable": "mine/norm", "value": GRAD * 2}], r"tracker 'mine' at step 0: .*'mine/norm'.*value must be a number, got tensor\(0.5000, grad_fn"),
    (lambda model, step: [{"observable": "mine/norm", "value": 0.5, "step": 3}], r"tracker 'mine' at step 0 returned the row .*which holds 'step'"),
    (lambda model, step: {"observable": "mine/norm", "value": 0.5}, r"tracker 'mine' at step 0 returned a dict, not a list of rows"),
    (lambda model, step: None, r"tracker 'mine' at step 0 returned a NoneType, not a list of rows"),
    (lambda model, step: [row("mine/norm", 0.5, layer=1), row("mine/norm", 0.25, layer=1)], r"tracker 'mine' returned two rows for 'mine/norm' at step 0 with the index \{'layer': 1\}"),
    (lambda model, step: [row("loss/train", 0.5)], r"trackers 'loss' and 'mine' both returned a row for 'loss/train' at step 0"),
    (lambda model, step: [row("mine/norm", 0.5, mode=torch.tensor(2))], r"tracker 'mine' at step 0: .*index column 'mode' must hold an integer or a string, got tensor\(2\)"),
]


@pytest.mark.parametrize(("rows", "said"), BAD_ROWS)
def test_rows_a_run_cannot_keep_fail_it_in_the_trackers_name_before_any_is_written(tmp_path, rows, said):
    cfg = RunConfig(TASK, MLPConfig(d_in=3, d_out=3, widths=(8,)), TRAIN, seed=0)
    with pytest.raises((TypeError, ValueError), match=said):
        bridge.train(cfg, tmp_path / "run", trackers=[Calls(rows=rows)], device="cpu", progress=False)
    assert not (tmp_path / "run" / "metrics.csv").exists()
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "failed"


def test_an_analysis_with_rows_it_cannot_keep_names_the_tracker_and_appends_nothing(tmp_path):
    cfg = RunConfig(TASK, MLPConfig(d_in=3, d_out=3, widths=(8,)), TRAIN, seed=0)
    run = bridge.train(cfg, tmp_path / "run", device="cpu", progress=False)
    before = (run.path / "metrics.csv").read_bytes()
    twice = Calls(rows=lambda model, step: [row("mine/norm", 0.5)] * 2, name="twice")
    with pytest.raises(ValueError, match=r"tracker 'twice' returned two rows for 'mine/norm' at step 0"):
        bridge.analyze(run, [twice], progress=False)
    with pytest.raises(TrackerError, match=r"tracker 'eval' broke the tracker contract: the call at step 0 left the model in train mode \(it was in eval mode\)"):
        bridge.analyze(run, [Calls(lambda model, step, data: model.eval() if model.training else model.train(), name="eval")], progress=False)
    assert (run.path / "metrics.csv").read_bytes() == before


class TensorRMS(Batched):
    """Batched, and measures tensors it forgot to turn into floats."""

    name = "tensor_rms"

    def capture(self, model, step, data):
        return model.layers[0].weight.detach().clone()

    def measure(self, captures, data):
        return [[{"observable": "weights/rms", "value": c.square().mean().sqrt()}] for c in captures]


def test_a_batched_trackers_rows_are_checked_in_its_name_when_measured():
    data = make_task(TeacherMLPConfig(d_in=4, n_train=8, n_test=0), seed=0)
    buffer = TrackingBuffer([TensorRMS()], data)
    buffer.track(build_model(MLPConfig(d_in=4, d_out=1, widths=(8,)), seed=0), step=3)
    with pytest.raises(ValueError, match=r"tracker 'tensor_rms' at step 3: .*'weights/rms'.*got tensor\(0\.\d+\) \(a tensor: give float\(value\)"):
        buffer.flush()


def test_check_tracker_names_a_hook_left_attached():
    data = make_task(TeacherMLPConfig(d_in=4, n_train=8, n_test=0), seed=0)
    net = build_model(MLPConfig(d_in=4, d_out=1, widths=(8,)), seed=0)
    with pytest.raises(TrackerContractError, match=r"'model'.*the call at step 0 left a hook attached \(forward_hooks of layers.0\)"):
        check_tracker(Calls(lambda model, step, data: model.layers[0].register_forward_hook(lambda *args: None)), net, data)


def test_the_command_line_reports_a_tracker_that_changed_the_model_in_one_line(tmp_path, capsys):
    import typer

    from bridge.cli.errors import EXIT_ERROR, run_app

    cfg = RunConfig(TASK, MLPConfig(d_in=3, d_out=3, widths=(8,)), TRAIN, seed=0)
    run = bridge.train(cfg, tmp_path / "run", device="cpu", progress=False)
    app = typer.Typer()
    app.command()(lambda: bridge.analyze(run, [Calls(lambda model, step, data: model.train(), name="trains")], progress=False))
    assert run_app(app, []) == EXIT_ERROR
    err = capsys.readouterr().err
    assert err.startswith("mechbridge: error: tracker 'trains' broke the tracker contract: the call at step 0 left the model in train mode") and err.count("\n") == 1


def test_only_trackers_of_ones_own_are_guarded_in_a_run(tmp_path, monkeypatch):
    """The library's trackers are held to the contract by the suite (check_tracker on each); guarding them in every run
    cost the deep-linear preset about 8 % of its training time."""
    import bridge.trackers.base as base

    snapshots, original = [], base.Snapshot
    monkeypatch.setattr(base, "Snapshot", lambda model: snapshots.append(model) or original(model))
    config = RunConfig(TASK, MLPConfig(d_in=3, d_out=3, widths=(8,)), TRAIN, seed=0)
    bridge.train(config, tmp_path / "library", trackers=[], device="cpu", progress=False)  # the loss tracker alone
    assert snapshots == []
    bridge.train(config, tmp_path / "own", trackers=[Calls()], device="cpu", progress=False)
    assert len(snapshots) == len(load_steps(tmp_path / "own"))


def load_steps(path):
    return bridge.load_run(path).curve("mine/value")[0]
