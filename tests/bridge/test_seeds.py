"""Seed sweeps: many seeds stacked in one vmapped loop equal the same seeds trained one by one."""

import dataclasses
import json

import pandas as pd
import pytest
import torch

from bridge import ConfigError, RunConfig, RunError, ScheduleConfig, TrainConfig, load_run, train
from bridge.models import DeepLinearConfig, MLPConfig, TransformerConfig
from bridge.runs.checkpoints import checkpoint_path
from bridge.tasks import HierarchyConfig, LinearTeacherConfig
from bridge.tasks.repeated_tokens import RepeatedTokensConfig
from bridge.trackers import ModeTracker
from bridge.training.seeds import train_seeds
from helpers import Crash


def mlp_config():
    return RunConfig(
        task=LinearTeacherConfig((2.0, 1.0, 0.5), d_in=6, d_out=5, n_train=32),
        model=MLPConfig(d_in=6, d_out=5, widths=(16,), activation="tanh"),
        train=TrainConfig(optimizer="adam", lr=0.01, steps=60, batch_size=8, schedule=ScheduleConfig(n_log=5, every=10, track_every=5)),
        seed=0,
    )


def hierarchy_config():
    return RunConfig(
        task=HierarchyConfig(depth=3, branching=2),
        model=DeepLinearConfig(d_in=8, d_hidden=32, d_out=15, init_std=0.05),
        train=TrainConfig(optimizer="gd", lr=0.2, steps=80, schedule=ScheduleConfig(n_log=5, every=10)),
        seed=0,
    )


def transformer_config():
    return RunConfig(
        task=RepeatedTokensConfig(d_vocab=16, n_ctx=12, n_train=64, n_test=16, n_off=16, prefix=(0, 2), block=(3, 5), off_prefix=(3, 4), off_block=(3, 4)),
        model=TransformerConfig(d_vocab=16, n_ctx=12, d_model=16, n_heads=2, d_head=8, n_layers=2, d_mlp=None),
        train=TrainConfig(optimizer="adamw", lr=1e-3, steps=20, batch_size=8, schedule=ScheduleConfig(n_log=3, every=10)),
        seed=0,
    )


def final_weights(run):
    return run.model_at(run.steps[-1]).state_dict()


@pytest.mark.parametrize("make_config,trackers", [(mlp_config, None), (hierarchy_config, lambda: [ModeTracker()]), (transformer_config, None)])
def test_a_sweep_equals_its_seeds_trained_one_by_one(tmp_path, make_config, trackers):
    cfg, seeds = make_config(), [0, 1, 2]
    runs = train_seeds(cfg, seeds, tmp_path / "sweep", trackers=trackers, device="cpu", progress=False)
    assert [r.path.name for r in runs] == ["seed_0", "seed_1", "seed_2"]
    for seed, run in zip(seeds, runs):
        alone = train(dataclasses.replace(cfg, seed=seed), tmp_path / f"alone_{seed}", trackers=trackers() if trackers else (), device="cpu", progress=False)
        assert run.status == "complete" and run.config.seed == seed and run.steps == alone.steps
        a, b = final_weights(run), final_weights(alone)
        for name in b:
            torch.testing.assert_close(a[name], b[name], rtol=1e-5, atol=1e-6)
        keys = ["step", "observable"]
        pd.testing.assert_frame_equal(run.metrics[keys], alone.metrics[keys])
        torch.testing.assert_close(torch.tensor(run.metrics.value.values), torch.tensor(alone.metrics.value.values), rtol=1e-5, atol=1e-6)
    distinct = [final_weights(r)[next(iter(final_weights(r)))] for r in runs]
    assert not torch.equal(distinct[0], distinct[1])  # the seeds really differ


def test_a_killed_sweep_resumes_to_the_uninterrupted_one_bitwise(tmp_path):
    cfg, seeds = mlp_config(), [3, 5]
    whole = train_seeds(cfg, seeds, tmp_path / "whole", trackers=lambda: [Crash(at=-1)], device="cpu", progress=False)
    with pytest.raises(KeyboardInterrupt):
        train_seeds(cfg, seeds, tmp_path / "cut", trackers=lambda: [Crash(at=35)], device="cpu", progress=False)
    assert {load_run(tmp_path / "cut" / f"seed_{s}").status for s in seeds} == {"interrupted"}
    resumed = train_seeds(cfg, seeds, tmp_path / "cut", trackers=lambda: [Crash(at=-1)], device="cpu", progress=False, resume=True)
    for a, b in zip(whole, resumed):
        assert b.status == "complete" and a.steps == b.steps
        for name, tensor in final_weights(a).items():
            assert torch.equal(tensor, final_weights(b)[name]), name
        pd.testing.assert_frame_equal(a.metrics, b.metrics)


def test_one_seed_of_a_killed_sweep_resumes_alone_with_train(tmp_path):
    cfg = mlp_config()
    whole = train_seeds(cfg, [0, 1], tmp_path / "whole", device="cpu", progress=False)
    with pytest.raises(KeyboardInterrupt):
        train_seeds(cfg, [0, 1], tmp_path / "cut", trackers=lambda: [Crash(at=35)], device="cpu", progress=False)
    # the kept optimizer state of a seed is its own slice of the stacked state
    alone = train(dataclasses.replace(cfg, seed=1), tmp_path / "cut" / "seed_1", device="cpu", progress=False, resume=True)
    for name, tensor in final_weights(whole[1]).items():
        torch.testing.assert_close(final_weights(alone)[name], tensor, rtol=1e-5, atol=1e-6)
    info = json.loads((tmp_path / "cut" / "seed_1" / "run.json").read_text())
    assert info["status"] == "complete" and info["sweep"] == {"seeds": [0, 1]}


def test_a_failed_checkpoint_write_stops_the_later_ones_and_the_record_names_only_what_landed(tmp_path, monkeypatch):
    """A write fails in the background writer (a full disk, say): the sweep raises it within two checkpoints, nothing after it
    is written, each seed's run.json records only checkpoints whose files are on disk, and the resumed
    sweep ends as an uninterrupted one."""
    from bridge.runs import storage

    class StepsSeen:
        name, steps = "seen", []

        def __call__(self, model, step, data):
            self.steps.append(step)
            return []

    cfg, seeds, steps_seen = mlp_config(), [0, 1], StepsSeen()
    whole = train_seeds(cfg, seeds, tmp_path / "whole", device="cpu", progress=False)
    failing = checkpoint_path(tmp_path / "cut" / "seed_1", 20)
    write = storage.atomic_write_bytes

    def disk_full(path, data):
        if str(path) == str(failing):
            raise OSError(28, "No space left on device")
        write(path, data)

    monkeypatch.setattr(storage, "atomic_write_bytes", disk_full)
    with pytest.raises(OSError, match="No space left"):
        train_seeds(cfg, seeds, tmp_path / "cut", trackers=lambda: [steps_seen], device="cpu", progress=False)
    monkeypatch.setattr(storage, "atomic_write_bytes", write)
    assert max(steps_seen.steps) <= 40  # raised within two checkpoints (the queue's limit), not at the end of training
    for s in seeds:
        run = tmp_path / "cut" / f"seed_{s}"
        info = json.loads((run / "run.json").read_text())
        assert info["status"] == "failed" and "No space left" in info["error"]
        on_record = [info["last_step"], *map(int, info["metrics_bytes"])]
        assert all(checkpoint_path(run, step).exists() for step in on_record)
        assert max(on_record) <= 20 if s == 0 else max(on_record) < 20  # seed 0's checkpoint 20 was written before the failure
        assert not any(checkpoint_path(run, step).exists() for step in whole[0].steps if step > 20)
        assert (run / "metrics.csv").stat().st_size >= max(info["metrics_bytes"].values())
    resumed = train_seeds(cfg, seeds, tmp_path / "cut", device="cpu", progress=False, resume=True)
    for a, b in zip(whole, resumed):
        assert b.status == "complete" and a.steps == b.steps
        for name, tensor in final_weights(a).items():
            assert torch.equal(tensor, final_weights(b)[name]), name
        assert (a.path / "metrics.csv").read_bytes() == (b.path / "metrics.csv").read_bytes()


def test_sweep_input_errors_come_before_any_work(tmp_path):
    cfg = mlp_config()
    with pytest.raises(ConfigError, match=r"train_seeds' seeds must be distinct, got seed 1 twice in \[1, 1\]"):
        train_seeds(cfg, [1, 1], tmp_path / "dup", progress=False)
    with pytest.raises(ConfigError, match="train_seeds' seeds: the list names no seed"):
        train_seeds(cfg, [], tmp_path / "none", progress=False)
    with pytest.raises(ConfigError, match="must be non-negative integers, got 1.5"):
        train_seeds(cfg, [0, 1.5], tmp_path / "float", progress=False)
    too_big = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, batch_size=1000))  # only validate() sees this
    with pytest.raises(ConfigError, match="batch_size 1000 exceeds"):
        train_seeds(too_big, [0, 1], tmp_path / "bad", progress=False)
    assert not (tmp_path / "dup").exists() and not (tmp_path / "bad").exists()
    train_seeds(cfg, [0], tmp_path / "sweep", device="cpu", progress=False)
    before = checkpoint_path(tmp_path / "sweep" / "seed_0", 60).read_bytes()
    with pytest.raises(FileExistsError, match="seed_0"):
        train_seeds(cfg, [0, 1], tmp_path / "sweep", progress=False)
    assert checkpoint_path(tmp_path / "sweep" / "seed_0", 60).read_bytes() == before
    assert not (tmp_path / "sweep" / "seed_1").exists()
    with pytest.raises(RunError, match="seed_1 is missing"):
        train_seeds(cfg, [0, 1], tmp_path / "sweep", progress=False, resume=True)


@pytest.mark.parametrize("kind", ["deep_linear", "superposition", "superposition_instances"])
def test_a_models_stacked_forward_is_the_vmapped_forward_bit_for_bit(kind):
    """train_seeds steps with a model's own forward_stacked when it has one; it must compute what vmap of forward does."""
    from torch.func import vmap

    from bridge.estimators.reparam import ParameterSlots
    from bridge.models.deep_linear import DeepLinearConfig, DeepLinearNetwork
    from bridge.models.toy_superposition import ToySuperposition, ToySuperpositionConfig

    gen = torch.Generator().manual_seed(0)
    make, x = {
        "deep_linear": (lambda s: DeepLinearNetwork(DeepLinearConfig(d_in=16, d_hidden=32, d_out=7, depth=3), seed=s), torch.randn(4, 10, 16, generator=gen)),
        "superposition": (lambda s: ToySuperposition(ToySuperpositionConfig(n_features=5, n_hidden=2), seed=s), torch.rand(4, 10, 5, generator=gen)),
        "superposition_instances": (lambda s: ToySuperposition(ToySuperpositionConfig(n_features=5, n_hidden=2, n_instances=3), seed=s), torch.rand(4, 10, 3, 5, generator=gen)),
    }[kind]
    models, base = [make(s) for s in range(4)], make(9)
    slots = ParameterSlots(base)
    params = {name: torch.stack([dict(m.named_parameters())[name].detach() for m in models]) for name in slots.names}

    def one(p, xs):
        with slots.swapped(p):
            return base(xs)

    stacked = base.forward_stacked(params, x)
    assert torch.equal(stacked, vmap(one)(params, x))
    torch.testing.assert_close(stacked, torch.stack([m(x[k]) for k, m in enumerate(models)]), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("kind", ["half_sse", "mse", "importance", "importance_instances"])
def test_a_losses_stacked_form_is_the_vmapped_loss_bit_for_bit(kind):
    """train_seeds reduces a loss with its ``stacked`` form when it has one; it must compute what vmap of the loss does."""
    from torch.func import vmap

    from bridge.losses import get_loss, per_seed
    from bridge.tasks.sparse_features import ImportanceWeightedMSE

    gen = torch.Generator().manual_seed(0)
    loss, out, target = {
        "half_sse": (get_loss("half_sse"), torch.randn(4, 10, 7, generator=gen), torch.randn(4, 10, 7, generator=gen)),
        "mse": (get_loss("mse"), torch.randn(4, 10, 7, generator=gen), torch.randn(4, 10, 7, generator=gen)),
        "importance": (ImportanceWeightedMSE(torch.rand(5, generator=gen)), torch.rand(4, 10, 5, generator=gen), torch.rand(4, 10, 5, generator=gen)),
        "importance_instances": (ImportanceWeightedMSE(torch.rand(3, 5, generator=gen)), torch.rand(4, 10, 3, 5, generator=gen), torch.rand(4, 10, 5, generator=gen)),
    }[kind]
    assert hasattr(loss, "stacked")
    stacked = per_seed(loss)(out, target)
    assert stacked.shape == (4,)
    assert torch.equal(stacked, vmap(loss)(out, target))
    torch.testing.assert_close(stacked, torch.stack([loss(out[k], target[k]) for k in range(4)]), rtol=1e-6, atol=1e-7)


def test_the_loss_trackers_stacked_rows_are_each_models_rows():
    """train_seeds measures every seed's loss rows with one stacked forward per split; they are the tracker's own rows."""
    from bridge.estimators.reparam import ParameterSlots
    from bridge.models.deep_linear import DeepLinearNetwork
    from bridge.tasks import make_task
    from bridge.tasks.modular import ModularConfig
    from bridge.trackers.loss import LossTracker

    cfg = hierarchy_config()
    datas = [make_task(dataclasses.replace(cfg.task), seed=s) for s in range(3)]
    models = [DeepLinearNetwork(cfg.model, seed=s) for s in range(3)]
    slots = ParameterSlots(models[0])
    params = {name: torch.stack([dict(m.named_parameters())[name].detach() for m in models]) for name in slots.names}
    for tracker in (LossTracker(), LossTracker(max_examples=5)):
        stacked = tracker.stacked(lambda x: models[0].forward_stacked(params, x), datas)
        alone = [tracker(m, 7, d) for m, d in zip(models, datas)]
        assert [[r["observable"] for r in rows] for rows in stacked] == [[r["observable"] for r in rows] for rows in alone]
        for rows, reference in zip(stacked, alone):
            assert [r["value"] for r in rows] == pytest.approx([r["value"] for r in reference], rel=1e-6)
    classification = [make_task(ModularConfig(p=7), seed=s) for s in range(2)]
    assert LossTracker().stacked(lambda x: x, classification) is None  # accuracy rows: each model on its own


@pytest.mark.parametrize("d_in, width, d_out", [(4, 8, 3), (3, 8, 3), (6, 16, 5)])
def test_the_deep_linear_stacked_forward_is_the_vmapped_forward_bit_for_bit_and_each_networks_forward_to_rounding(d_in, width, d_out):
    from torch.func import functional_call, vmap

    from bridge.models import DeepLinearConfig, build_model

    models = [build_model(DeepLinearConfig(d_in, width, d_out, init_std=0.5), seed=s) for s in range(4)]
    params = {name: torch.stack([dict(m.named_parameters())[name].detach() for m in models]) for name, _ in models[0].named_parameters()}
    x = torch.randn(4, 16, d_in, generator=torch.Generator().manual_seed(0))
    stacked = models[0].forward_stacked(params, x)
    assert torch.equal(stacked, vmap(lambda p, xs: functional_call(models[0], p, (xs,)))(params, x))
    torch.testing.assert_close(stacked, torch.stack([m(x[k]) for k, m in enumerate(models)]), rtol=4 * torch.finfo(torch.float32).eps, atol=1e-6)


def test_a_deep_linear_sweep_writes_the_checkpoints_of_its_seeds_trained_one_by_one_byte_for_byte(tmp_path):
    cfg = hierarchy_config()
    runs = train_seeds(cfg, [0, 1], tmp_path / "sweep", device="cpu", progress=False)
    for seed, run in zip([0, 1], runs):
        alone = train(dataclasses.replace(cfg, seed=seed), tmp_path / f"alone_{seed}", device="cpu", progress=False)
        assert run.steps == alone.steps
        for step in run.steps:
            assert checkpoint_path(run.path, step).read_bytes() == checkpoint_path(alone.path, step).read_bytes(), step


class Steps:
    """A tracker that keeps the steps it measured at."""

    name = "steps"

    def __init__(self):
        self.seen = []

    def __call__(self, model, step, data):
        self.seen.append(step)
        return []


def test_a_sweep_whose_seed_lost_its_last_checkpoint_resumes_every_seed_at_the_latest_common_one(tmp_path):
    cfg, seeds = mlp_config(), [0, 1]  # resume points 8, 20, 30, 40, 50, 60; tracked every 5 steps
    whole = train_seeds(cfg, seeds, tmp_path / "whole", device="cpu", progress=False)
    with pytest.raises(KeyboardInterrupt):
        train_seeds(cfg, seeds, tmp_path / "cut", trackers=lambda: [Crash(at=55)], device="cpu", progress=False)
    last = checkpoint_path(tmp_path / "cut" / "seed_1", 50)
    last.write_bytes(last.read_bytes()[:100])  # seed 1 falls back to 40
    trackers = {}
    with pytest.warns(UserWarning, match="falling back"):
        resumed = train_seeds(cfg, seeds, tmp_path / "cut", trackers=lambda s: trackers.setdefault(s, [Steps()]), device="cpu", progress=False, resume=True)
    assert [trackers[s][0].seen for s in seeds] == [[45, 50, 55, 60]] * 2  # both from 40, not further back
    for a, b in zip(whole, resumed):
        for name, tensor in final_weights(a).items():
            assert torch.equal(tensor, final_weights(b)[name]), name


def test_seeds_whose_stacked_trackers_differ_in_settings_are_each_measured_with_their_own(tmp_path):
    from bridge.trackers import LossTracker

    cfg = hierarchy_config()  # a deep linear network: equal loss trackers measure the seeds at once
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, steps=20))
    examples = {0: 3, 1: None}  # seed 0 on its first 3 examples of each split, seed 1 on all
    runs = train_seeds(cfg, [0, 1], tmp_path / "sweep", trackers=lambda s: [LossTracker(max_examples=examples[s])], device="cpu", progress=False)
    for seed, run in zip([0, 1], runs):
        alone = train(dataclasses.replace(cfg, seed=seed), tmp_path / f"alone_{seed}", trackers=[LossTracker(max_examples=examples[seed])], device="cpu", progress=False)
        assert run.metrics[["step", "observable"]].equals(alone.metrics[["step", "observable"]])
        torch.testing.assert_close(torch.tensor(run.metrics.value.values), torch.tensor(alone.metrics.value.values), rtol=1e-5, atol=1e-6)


def test_a_diverging_seed_is_named_by_its_seed_not_its_place_in_the_sweep(tmp_path):
    from bridge.runs.errors import Diverged

    cfg = RunConfig(LinearTeacherConfig((3.0, 1.0), d_in=4, d_out=3, n_train=6), DeepLinearConfig(4, 6, 3, init_std=0.3),
                    TrainConfig(optimizer="gd", lr=0.55, steps=60, schedule=ScheduleConfig(n_log=0, every=60)), seed=0)
    with pytest.raises(Diverged, match="training loss of seed 4 became"):  # seed 0 converges at this rate, seed 4 does not
        train_seeds(cfg, [0, 4], tmp_path / "sweep", device="cpu", progress=False)
    assert {load_run(tmp_path / "sweep" / f"seed_{s}").status for s in (0, 4)} == {"failed"}
