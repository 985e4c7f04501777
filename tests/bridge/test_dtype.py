"""``train.dtype``: float64 training is exact gradient descent in float64; float32 stays as it was."""

import pytest
import torch

from bridge.config import ConfigError, RunConfig, ScheduleConfig, TrainConfig, config_from_dict, config_to_dict
from bridge.losses import half_sse
from bridge.models import DeepLinearConfig, build_model
from bridge.runs.checkpoints import checkpoint_path
from bridge.runs.run import load_run
from bridge.runs.storage import load_tensors
from bridge.tasks import LinearTeacherConfig, ModularConfig, make_task
from bridge.training.inputs import in_dtype
from bridge.training.loop import train
from bridge.training.seeds import train_seeds

STEPS = 60


def _config(dtype=None, depth=3):
    settings = dict(optimizer="gd", lr=0.05, steps=STEPS, schedule=ScheduleConfig(n_log=3, every=20))
    train_cfg = TrainConfig(**settings) if dtype is None else TrainConfig(**settings, dtype=dtype)
    return RunConfig(LinearTeacherConfig((3.0, 1.0), d_in=5, d_out=4), DeepLinearConfig(5, 12, 4, depth=depth, init_std=0.2), train_cfg, seed=3)


def _reference(config, dtype, steps):
    """Gradient descent by hand on the loss ½‖y − W_L⋯W_1 x‖²/n from the seed's initial weights, in ``dtype``."""
    data = make_task(config.task, config.seed)
    x, y = data.train.x.to(dtype), data.train.y.to(dtype)
    ws = [w.detach().to(dtype).clone().requires_grad_(True) for w in build_model(config.model, config.seed).weights]
    for _ in range(steps):
        out = x
        for w in ws:
            out = out @ w.T
        loss = half_sse(out, y)
        grads = torch.autograd.grad(loss, ws)
        with torch.no_grad():
            for w, g in zip(ws, grads):
                w -= config.train.lr * g
    return [w.detach() for w in ws]


def test_float64_training_is_float64_gradient_descent(tmp_path):
    config = _config("float64")
    run = train(config, tmp_path / "run", progress=False)
    model = load_run(run.path).model_at(STEPS)
    assert all(w.dtype == torch.float64 for w in model.weights)
    for w, ref in zip(model.weights, _reference(config, torch.float64, STEPS)):
        torch.testing.assert_close(w.detach(), ref, rtol=0, atol=1e-12)
    stored = load_tensors(checkpoint_path(run.path, STEPS), "cpu")
    assert stored and all(t.dtype == torch.float64 for t in stored.values())
    # float32 from the same weights differs by far more than float64 rounding: the option matters
    far = max((w.detach() - r.double()).abs().max().item() for w, r in zip(model.weights, _reference(config, torch.float32, STEPS)))
    assert far > 1e-9


def test_float32_default_is_bitwise_the_training_of_before(tmp_path):
    old = _config(None)
    assert old.train.dtype == "float32"
    run = train(old, tmp_path / "run", progress=False)
    model = build_model(old.model, old.seed)  # what training did before the option: float32 weights, SGD
    data = make_task(old.task, old.seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=old.train.lr)
    for _ in range(STEPS):
        optimizer.zero_grad()
        half_sse(model(data.train.x), data.train.y).backward()
        optimizer.step()
    loaded = run.model_at(STEPS)
    for w, ref in zip(loaded.weights, model.weights):
        assert w.dtype == torch.float32
        assert torch.equal(w, ref)


def test_a_config_written_before_dtype_existed_loads_with_float32():
    stored = config_to_dict(_config(None))
    del stored["train"]["dtype"]
    assert config_from_dict(stored) == _config("float32")


def test_dtype_is_validated_and_integer_targets_stay_integers():
    with pytest.raises(ConfigError, match="train.dtype must be one of"):
        TrainConfig(dtype="float16")
    with pytest.raises(ConfigError, match="train.dtype"):
        TrainConfig(dtype=64)
    data = in_dtype(make_task(ModularConfig(p=7), seed=0), torch.float64)
    assert not data.train.y.is_floating_point() and not data.train.x.is_floating_point()
    lin = in_dtype(make_task(LinearTeacherConfig((1.0,), d_in=2, d_out=2), seed=0), torch.float64)
    assert lin.train.x.dtype == lin.train.y.dtype == lin.test.x.dtype == torch.float64


def test_train_seeds_trains_in_float64_like_train(tmp_path):
    config = _config("float64")
    runs = train_seeds(config, [3, 4], tmp_path / "sweep", progress=False)
    single = _reference(config, torch.float64, STEPS)
    for w, ref in zip(runs[0].model_at(STEPS).weights, single):
        assert w.dtype == torch.float64
        torch.testing.assert_close(w.detach(), ref, rtol=0, atol=1e-12)


def test_offline_analysis_of_a_float64_run_sees_float64_data(tmp_path):
    from bridge.trackers.modes import ModeTracker
    from bridge.training.analyze import analyze

    run = train(_config("float64"), tmp_path / "run", progress=False)
    data = run.task_data()
    assert data.train.x.dtype == data.train.y.dtype == torch.float64
    analyze(run, [ModeTracker()], progress=False)
    steps, values = run.curve("mode/strength", mode=0)
    assert len(steps) == len(run.steps) and values[-1] > values[0]


def test_cross_entropies_of_float64_logits_are_float64():
    from bridge.losses import at_least_float32, cross_entropy_last, cross_entropy_next
    from bridge.tasks import modular, sparse_parity
    from bridge.tasks.repeated_tokens import next_token_losses
    from probes.quanta import subtask_metrics

    g = torch.Generator().manual_seed(0)
    logits = 3 * torch.randn(6, 5, 7, generator=g, dtype=torch.float64)
    tokens = torch.randint(0, 7, (6, 5), generator=g)

    def reference(z, target):  # per row, in float64: log Σ exp z − z[target]
        return torch.logsumexp(z, -1) - z.gather(-1, target[..., None])[..., 0]

    last, nxt = reference(logits[:, -1], tokens[:, 0]), reference(logits[:, :-1], tokens[:, 1:])
    per_target = next_token_losses(logits, tokens)
    values = [
        (cross_entropy_last(logits, tokens[:, 0]), last.mean()),
        (cross_entropy_next(logits, tokens), nxt.mean()),
        (per_target[:, 1:], nxt),
        (modular._cross_entropy(logits[:, -1], tokens[:, 0]), last.mean()),
        (sparse_parity._cross_entropy(logits[:, -1], tokens[:, 0]), last.mean()),
    ]
    for got, want in values:  # .float() rounded these to float32: errors near 1e-7
        assert got.dtype == torch.float64
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    net = torch.nn.Identity()
    loss, _ = subtask_metrics(net, logits[:, -1], tokens[:, 0], torch.zeros(6, dtype=torch.long), 1)
    assert loss.dtype == torch.float64 and abs(loss.item() - last.mean().item()) < 1e-12
    assert at_least_float32(logits.to(torch.bfloat16)).dtype == torch.float32  # below float32 still upcast
    assert cross_entropy_last(logits.to(torch.float16), tokens[:, 0]).dtype == torch.float32


def test_task_data_casts_a_split_of_no_examples_to_the_runs_dtype_too(tmp_path, monkeypatch):
    import bridge.tasks
    from bridge.tasks import Split, TaskData

    run = train(_config("float64"), tmp_path / "run", progress=False)
    data = make_task(run.config.task, run.config.seed)
    empty = Split(data.train.x[:0], data.train.y[:0])  # a split of no examples is falsy (len 0)
    monkeypatch.setattr(bridge.tasks, "make_task", lambda task, seed: TaskData(data.train, empty, data.loss, data.info))
    regenerated = run.task_data()
    assert regenerated.train.x.dtype == regenerated.test.x.dtype == regenerated.test.y.dtype == torch.float64
    assert tuple(regenerated.test.x.shape) == (0, 5)
