"""A model of one's own that draws random numbers in its forward pass (dropout) trains reproducibly from the run's seed:
the same seed gives the same weights, a killed run resumed reaches the uninterrupted run's weights, the caller's
generator is left as it was, and train_seeds refuses such a model before any work, naming the module."""


import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import bridge
from bridge import ConfigError, RunConfig, ScheduleConfig, TrainConfig
from bridge.tasks import LinearTeacherConfig
from bridge.training.inputs import validate
from bridge.training.loop import batch_indices
from bridge.training.randomness import forward_seed, random_draw
from dropout_mlp import DropoutConfig, DropoutMLP
from helpers import Crash


def config(seed=0, steps=40, **model):
    return RunConfig(
        LinearTeacherConfig((2.0, 1.0), d_in=4, d_out=3, n_train=32),
        DropoutConfig(**model),
        TrainConfig(optimizer="adam", lr=0.01, steps=steps, batch_size=8, schedule=ScheduleConfig(n_log=4, every=10, track_every=1)),
        seed=seed,
    )


def final_weights(run):
    return run.model_at(run.steps[-1]).state_dict()


def gap(a, b):
    return max(float((a[k] - b[k]).abs().max()) for k in a)


def test_the_same_seed_gives_the_same_weights_whatever_the_callers_generator_and_another_seed_others(tmp_path):
    torch.manual_seed(1)
    first = final_weights(bridge.train(config(0), tmp_path / "a", progress=False, device="cpu"))
    torch.manual_seed(2)  # the masks come from the run's seed, not from here
    again = final_weights(bridge.train(config(0), tmp_path / "b", progress=False, device="cpu"))
    other = final_weights(bridge.train(config(1), tmp_path / "c", progress=False, device="cpu"))
    assert first.keys() == again.keys() and all(torch.equal(first[k], again[k]) for k in first)
    assert 1e-3 < gap(first, other) < 10.0  # another seed: other masks (and data and start), weights apart by more than rounding


def test_the_masks_are_those_of_the_runs_seed_and_the_step(tmp_path):
    """The first step's forward pass draws from torch's generator seeded with forward_seed(seed, 0): one step by hand agrees bit for bit."""
    run = bridge.train(config(5, steps=1), tmp_path / "one", progress=False, device="cpu")
    model, data = run.model_at(0).train(), validate(config(5))  # read back in eval mode: dropout on as in training
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    idx = batch_indices(len(data.train), 8, 0, seed=5)
    x, y = data.train.x[idx], data.train.y[idx]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(forward_seed(5, 0))
        data.loss_fn(model(x), y).backward()
    opt.step()
    trained = final_weights(run)
    assert all(torch.equal(trained[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize("at", [25, 31])
def test_a_killed_dropout_run_resumes_to_the_weights_of_an_uninterrupted_one(tmp_path, at):
    straight = bridge.train(config(), tmp_path / "straight", progress=False, device="cpu")
    with pytest.raises(KeyboardInterrupt):
        bridge.train(config(), tmp_path / "killed", trackers=[Crash(at=at)], progress=False, device="cpu")
    assert bridge.load_run(tmp_path / "killed").status == "interrupted"
    torch.manual_seed(3)  # the caller's generator has moved on since
    resumed = bridge.train(config(), tmp_path / "killed", progress=False, device="cpu", resume=True)
    assert resumed.status == "complete" and resumed.steps == straight.steps
    for step in straight.steps:
        a, b = straight.model_at(step).state_dict(), resumed.model_at(step).state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a), step
    assert torch.equal(torch.tensor(straight.curve("loss/train")[1]), torch.tensor(resumed.curve("loss/train")[1]))


@settings(max_examples=3, deadline=None)
@given(at=st.integers(1, 39))
def test_a_kill_at_any_step_resumes_to_the_same_weights(tmp_path_factory, at):
    out = tmp_path_factory.mktemp("kill")
    straight = final_weights(bridge.train(config(2), out / "straight", progress=False, device="cpu"))
    with pytest.raises(KeyboardInterrupt):
        bridge.train(config(2), out / "killed", trackers=[Crash(at=at)], progress=False, device="cpu")
    resumed = final_weights(bridge.train(config(2), out / "killed", progress=False, device="cpu", resume=True))
    assert all(torch.equal(straight[k], resumed[k]) for k in straight), at


def test_train_leaves_the_callers_generator_as_it_was(tmp_path):
    torch.manual_seed(4)
    before = torch.get_rng_state()
    bridge.train(config(), tmp_path / "run", progress=False, device="cpu")
    assert torch.equal(torch.get_rng_state(), before)
    with pytest.raises(KeyboardInterrupt):  # a failed run too
        bridge.train(config(), tmp_path / "killed", trackers=[Crash(at=15)], progress=False, device="cpu")
    assert torch.equal(torch.get_rng_state(), before)


@pytest.mark.parametrize(("model", "where"), [({}, "Dropout at 'drop'"), ({"noise": True}, "DropoutMLP at the model itself")])
def test_train_seeds_refuses_a_model_that_draws_in_its_forward_pass_before_any_work(tmp_path, model, where):
    """Stacked seeds would draw from one stream (vmap failed inside its own code, naming no module): refused, naming it."""
    torch.manual_seed(5)
    before = torch.get_rng_state()
    with pytest.raises(ConfigError, match=rf"train_seeds cannot stack a model that draws random numbers in its forward pass \({where}\).*bridge\.train"):
        bridge.train_seeds(config(**model), [0, 1], tmp_path / "sweep", progress=False, device="cpu")
    assert not (tmp_path / "sweep").exists()
    assert torch.equal(torch.get_rng_state(), before)


def test_a_model_that_draws_nothing_is_stacked_and_dropout_off_draws_nothing(tmp_path):
    assert random_draw(DropoutMLP(DropoutConfig(p=0.0), 0), torch.ones(3, 4)) is None
    assert random_draw(DropoutMLP(DropoutConfig(), 0).eval(), torch.ones(3, 4)) is None
    assert random_draw(nn.Sequential(nn.Linear(4, 4), nn.Sequential(nn.ReLU(), nn.Dropout(0.1))), torch.ones(3, 4)) == "Dropout at '1.1'"
    runs = bridge.train_seeds(config(p=0.0, steps=10), [0, 1], tmp_path / "sweep", progress=False, device="cpu")
    alone = final_weights(bridge.train(config(1, p=0.0, steps=10), tmp_path / "alone", progress=False, device="cpu"))
    stacked = final_weights(runs[1])
    assert 0.0 <= gap(alone, stacked) < 1e-5
