"""The training loop: where it ends on divergence, what a resume may change, and what it records."""

import dataclasses
import json
import os

import pytest
import torch

from bridge import RunConfig, ScheduleConfig, TrainConfig, load_run, train
from bridge.config import ConfigError
from bridge.models import DeepLinearConfig
from bridge.runs.errors import Diverged
from bridge.tasks import LinearTeacherConfig
from bridge.training.inputs import build_for_task, validate
from bridge.training.optim import make_optimizer
from helpers import Crash, ThreadCount


def config(lr: float = 0.1, steps: int = 100, **train_fields) -> RunConfig:
    return RunConfig(
        LinearTeacherConfig((2.0, 1.0), d_in=4, d_out=4),
        DeepLinearConfig(4, 16, 4, init_std=0.3),
        TrainConfig(lr=lr, steps=steps, schedule=ScheduleConfig(n_log=0, every=10), **train_fields),
    )


def first_non_finite_loss(cfg: RunConfig) -> int:
    """The step whose loss is first not finite, by plain gradient descent written out."""
    data = validate(cfg)
    model = build_for_task(cfg, data)
    optimizer = make_optimizer(model, cfg.train)
    for step in range(cfg.train.steps):
        optimizer.zero_grad()
        loss = data.loss_fn(model(data.train.x), data.train.y)
        if not torch.isfinite(loss):
            return step
        loss.backward()
        optimizer.step()
    raise AssertionError("the loss stayed finite")


def test_a_diverging_run_ends_at_the_first_non_finite_loss_and_is_recorded_failed(tmp_path):
    cfg = dataclasses.replace(config(lr=0.65), train=dataclasses.replace(config(lr=0.65).train, schedule=ScheduleConfig(n_log=0, every=3)))
    at = first_non_finite_loss(cfg)
    assert 3 < at < 100 and at % 3  # between checkpoints: what was checkpointed before it stays
    with pytest.raises(Diverged, match=rf"training loss became (inf|nan) at step {at}; lower train.lr") as e:
        train(cfg, tmp_path / "run", device="cpu", progress=False)
    assert e.value.step == at
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["status"] == "failed" and info["error"].startswith("Diverged: training loss became") and info["last_step"] == at // 3 * 3
    assert load_run(tmp_path / "run").steps == list(range(0, at, 3))


def test_weights_that_overflow_in_one_step_end_the_run_before_a_tracker_or_checkpoint_reads_them(tmp_path):
    cfg = dataclasses.replace(config(lr=3e38), train=dataclasses.replace(config(lr=3e38).train, schedule=ScheduleConfig(n_log=3, every=10)))
    with pytest.raises(Diverged, match=r"weights became non-finite at step 1; lower train.lr"):
        train(cfg, tmp_path / "run", device="cpu", progress=False)
    run = load_run(tmp_path / "run")
    assert run.steps == [0] and sorted(run.metrics["step"].unique()) == [0]



@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
def test_the_weight_check_agrees_with_isfinite_on_every_entry(dtype):
    """The divergence check reads each weight through its smallest and largest entry: a NaN or an infinity anywhere
    (any position, any size) is found exactly as ``isfinite(w).all()`` finds it, and empty weights are finite."""
    from bridge.models.base import weights_finite

    g = torch.Generator().manual_seed(0)
    net = torch.nn.ModuleList([torch.nn.Linear(1, 1), torch.nn.Linear(1, 1)]).to(dtype)
    for trial in range(300):
        size = int(torch.randint(1, 3000, (1,), generator=g))
        w = torch.randn(size, generator=g).to(dtype)
        for _ in range(int(torch.randint(0, 3, (1,), generator=g))):
            w[int(torch.randint(0, size, (1,), generator=g))] = [float("nan"), float("inf"), -float("inf")][trial % 3]
        net[0].weight = torch.nn.Parameter(w.reshape(size, 1))
        net[1].weight = torch.nn.Parameter(torch.zeros(0, 1, dtype=dtype))
        assert weights_finite(net) == bool(torch.isfinite(w).all()), (trial, size)
    assert weights_finite(torch.nn.Module())

@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs two CPUs")
def test_a_run_resumes_on_another_number_of_threads_to_the_same_weights(tmp_path):
    straight = train(config(), tmp_path / "straight", device="cpu", progress=False)
    with pytest.raises(KeyboardInterrupt):
        train(config(), tmp_path / "run", trackers=[Crash(50)], device="cpu", progress=False)
    resumed = train(config(threads=2), tmp_path / "run", device="cpu", progress=False, resume=True)
    assert resumed.status == "complete" and resumed.config.train.threads == 1  # the record keeps the config it was started with
    for name, w in straight.model_at(100).state_dict().items():
        torch.testing.assert_close(resumed.model_at(100).state_dict()[name], w, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("decay", ["linear", "cosine"])
def test_a_run_whose_learning_rate_decays_is_not_extended(tmp_path, decay):
    train(config(decay=decay), tmp_path / "run", device="cpu", progress=False)
    with pytest.raises(ConfigError, match=rf"cannot extend .*: its learning rate decays \({decay}\) to zero at its last step"):
        train(config(steps=200, decay=decay), tmp_path / "run", device="cpu", progress=False, resume=True)
    assert load_run(tmp_path / "run").steps[-1] == 100


class Silent:
    name = "silent"

    def __call__(self, model, step, data):
        return []


def test_the_loss_tracker_comes_first_in_the_record_and_one_given_is_not_doubled(tmp_path):
    from bridge.trackers import LossTracker

    run = train(config(steps=10), tmp_path / "a", trackers=[Silent()], device="cpu", progress=False)
    assert run.info["trackers"] == ["loss", "silent"]
    run = train(config(steps=10), tmp_path / "b", trackers=[Silent(), LossTracker(max_examples=8)], device="cpu", progress=False)
    assert run.info["trackers"] == ["silent", "loss"]


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs two CPUs")
def test_training_runs_on_the_configs_thread_count_and_gives_the_callers_back(tmp_path):
    torch.set_num_threads(1)
    seen = ThreadCount()
    train(config(steps=20, threads=2), tmp_path / "run", trackers=[seen], device="cpu", progress=False)
    assert seen.seen == [2] * 3 and torch.get_num_threads() == 1  # tracked at 0, 10 and 20


@pytest.mark.parametrize("made", [False, True])
def test_resume_of_a_folder_that_is_missing_or_empty_trains_a_new_run(tmp_path, made):
    if made:
        (tmp_path / "run").mkdir()
    run = train(config(steps=20), tmp_path / "run", device="cpu", progress=False, resume=True)
    straight = train(config(steps=20), tmp_path / "straight", device="cpu", progress=False)
    assert run.status == "complete" and run.steps == straight.steps == [0, 10, 20]
    assert run.metrics["value"].tolist() == straight.metrics["value"].tolist()


def test_a_batch_of_every_training_example_is_allowed_and_one_more_is_refused(tmp_path):
    cfg = RunConfig(LinearTeacherConfig((2.0,), d_in=2, d_out=2, n_train=16), DeepLinearConfig(2, 4, 2), TrainConfig(optimizer="sgd", lr=0.1, steps=2, batch_size=16))
    assert len(validate(cfg).train) == 16
    with pytest.raises(ConfigError, match=r"train.batch_size 17 exceeds the 16 training examples"):
        validate(dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, batch_size=17)))


def test_a_folder_holding_files_is_not_trained_into_without_resume(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match=r"run directory .*run already exists; choose another --out or resume it"):
        train(config(steps=10), tmp_path / "run", device="cpu", progress=False)
    assert [p.name for p in (tmp_path / "run").iterdir()] == ["notes.txt"]


class ReadsRecord:
    """A tracker that keeps what run.json holds each time it is called (the first call is at step 0, before the first checkpoint)."""

    name = "reads_record"

    def __init__(self, out):
        self.out, self.seen = out, {}

    def __call__(self, model, step, data):
        self.seen[step] = json.loads((self.out / "run.json").read_text())
        return []


def test_info_is_in_run_json_from_its_creation_and_a_resume_replaces_it_field_by_field(tmp_path):
    """``train(info=...)`` puts fields of one's own into run.json as it is created (a case study's stamp was
    written only once training ended, so a run killed meanwhile did not name its study); a resume keeps them,
    or replaces those it is given again, once each."""
    out, stamp = tmp_path / "run", {"case_study": "toy", "preset": "quick", "case_seed": 3, "settings": ["train.lr=0.1"]}
    reader = ReadsRecord(out)
    with pytest.raises(KeyboardInterrupt):
        train(config(steps=40), out, trackers=[reader, Crash(at=30)], device="cpu", progress=False, info=stamp)
    assert {k: reader.seen[0][k] for k in stamp} == stamp and reader.seen[0]["status"] == "running" and reader.seen[0]["last_step"] == 0
    killed = json.loads((out / "run.json").read_text())
    assert killed["status"] == "interrupted" and 0 < killed["last_step"] < 30 and {k: killed[k] for k in stamp} == stamp
    resumed = train(config(steps=40), out, trackers=[reader], device="cpu", progress=False, resume=True)  # no info: the record's are kept
    assert resumed.status == "complete" and {k: resumed.info[k] for k in stamp} == stamp
    again = train(config(steps=60), out, trackers=[reader], device="cpu", progress=False, resume=True, info={"preset": "full", "settings": []})
    assert again.steps[-1] == 60 and {k: again.info[k] for k in stamp} == {**stamp, "preset": "full", "settings": []}
    assert reader.seen[60]["preset"] == "full" and (out / "run.json").read_text().count('"case_study"') == 1


@pytest.mark.parametrize(
    ("info", "message"),
    [
        ({"status": "done"}, "info field 'status' is one run.json's writer keeps"),
        ({"seed": 1}, "info field 'seed' is one run.json's writer keeps"),
        ({"when": object()}, "info field 'when' must be a JSON value"),
        ({"loss": float("nan")}, "info field 'loss' must be a JSON value"),
        ({3: "x"}, "info field names must be non-empty strings, got 3"),
        (["case_study"], r"info must be a mapping of field names to JSON values, got \['case_study'\]"),
    ],
)
def test_info_that_run_json_cannot_hold_is_refused_before_any_work(tmp_path, info, message):
    with pytest.raises(ConfigError, match=message):
        train(config(steps=10), tmp_path / "run", device="cpu", progress=False, info=info)
    assert not (tmp_path / "run").exists()


def test_every_field_training_extension_and_analysis_write_into_run_json_is_one_info_may_not_take(tmp_path):
    """``WRITER_FIELDS`` is a list of its own: a field the writer, an extension or an analysis adds and the
    list misses would let a caller's ``info`` overwrite it."""
    from bridge import analyze
    from bridge.trackers import ModeTracker
    from bridge.training.inputs import WRITER_FIELDS

    out = tmp_path / "run"
    train(config(steps=20), out, trackers=[ModeTracker()], device="cpu", progress=False)
    run = train(config(steps=30), out, trackers=[ModeTracker()], device="cpu", progress=False, resume=True)
    analyze(run, [ModeTracker(name="later_modes")], progress=False)
    fields = set(json.loads((out / "run.json").read_text()))
    assert {"config", "status", "extended", "tracker_versions", "files"} <= fields
    assert fields <= WRITER_FIELDS, sorted(fields - WRITER_FIELDS)
