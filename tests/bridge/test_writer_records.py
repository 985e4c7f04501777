"""What run.json records of a run after a resume, an extension or a kill: its last step, schedule and files."""

import json
import warnings
from pathlib import Path

import pytest

from bridge import RunConfig, ScheduleConfig, TrainConfig, load_run, train
from bridge.models import DeepLinearConfig
from bridge.tasks import LinearTeacherConfig
from helpers import Crash


def config(steps: int = 100, **schedule) -> RunConfig:
    return RunConfig(
        LinearTeacherConfig((2.0, 1.0), d_in=4, d_out=4),
        DeepLinearConfig(4, 16, 4, init_std=0.01),
        TrainConfig(lr=0.1, steps=steps, schedule=ScheduleConfig(**({"n_log": 0, "every": 10} | schedule))),
    )


def info(out: Path) -> dict:
    return json.loads((out / "run.json").read_text())


def killed(out: Path, at: int, resume: bool = False, cfg: RunConfig | None = None) -> None:
    with pytest.raises(KeyboardInterrupt), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a damaged checkpoint is reported and skipped
        train(cfg or config(), out, trackers=[Crash(at)], device="cpu", progress=False, resume=resume)


def test_a_run_resumed_from_an_earlier_checkpoint_and_killed_records_that_checkpoint_as_its_last_step(tmp_path):
    out = tmp_path / "run"
    killed(out, 100)  # on record up to step 90
    assert info(out)["status"] == "interrupted" and info(out)["last_step"] == 90
    (out / "checkpoints" / "optim_00000090.safetensors").write_bytes(b"not a checkpoint")
    killed(out, 90, resume=True)  # falls back to 80, killed before 90 is written again
    record, run = info(out), load_run(out)
    assert record["status"] == "interrupted"
    assert record["last_step"] == 80 == run.steps[-1] == int(run.metrics["step"].max())
    assert sorted(map(int, record["metrics_bytes"])) == [10, 20, 30, 40, 50, 60, 70, 80]


def test_a_run_started_over_and_killed_at_once_records_step_0(tmp_path):
    out = tmp_path / "run"
    killed(out, 100)
    for step in (70, 80, 90):  # the three optimizer states kept: none reads back
        (out / "checkpoints" / f"optim_{step:08d}.safetensors").write_bytes(b"not a checkpoint")
    killed(out, 0, resume=True)
    record = info(out)
    assert record["status"] == "interrupted" and record["last_step"] == 0 and record["metrics_bytes"] == {}
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == []


def test_a_sweep_extended_after_one_seed_fell_back_records_its_extension_once(tmp_path):
    from bridge.runs.storage import load_tensors
    from bridge.training import train_seeds

    train_seeds(config(100), [0, 1], tmp_path / "kept", device="cpu", progress=False)
    train_seeds(config(100), [0, 1], tmp_path / "damaged", device="cpu", progress=False)
    (tmp_path / "damaged" / "seed_1" / "checkpoints" / "optim_00000100.safetensors").write_bytes(b"not a checkpoint")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in ("kept", "damaged"):  # the damaged sweep resumes every seed from step 90, opening them twice
            train_seeds(config(200), [0, 1], tmp_path / name, device="cpu", progress=False, resume=True)
    for seed in (0, 1):
        kept, damaged = info(tmp_path / "kept" / f"seed_{seed}"), info(tmp_path / "damaged" / f"seed_{seed}")
        assert damaged["extended"] == kept["extended"] == [{"from": 100, "to": 200}]
        assert damaged["schedule"]["tracked_steps"] == kept["schedule"]["tracked_steps"] == 21
        assert damaged["schedule"]["checkpoints"] == kept["schedule"]["checkpoints"] == list(range(0, 201, 10))
        last = lambda name, seed=seed: load_tensors(tmp_path / name / f"seed_{seed}" / "checkpoints" / "step_00000200.safetensors")  # noqa: E731
        assert all(bool((last("kept")[k] == last("damaged")[k]).all()) for k in last("kept"))


def test_an_optimizer_state_of_another_model_is_skipped_with_a_warning_naming_it(tmp_path):
    import dataclasses

    out, other = tmp_path / "run", tmp_path / "other"
    killed(out, 100)  # on record up to step 90
    deeper = dataclasses.replace(config(), model=DeepLinearConfig(4, 16, 4, depth=3, init_std=0.01))
    train(deeper, other, device="cpu", progress=False)
    name = "optim_00000090.safetensors"
    (out / "checkpoints" / name).write_bytes((other / "checkpoints" / name).read_bytes())
    with pytest.warns(UserWarning, match=rf"{name} holds no optimizer state of this run .*; falling back to an earlier checkpoint"):
        run = train(config(), out, device="cpu", progress=False, resume=True)
    straight = train(config(), tmp_path / "straight", device="cpu", progress=False)
    assert run.status == "complete" and run.steps == straight.steps
    assert run.metrics["value"].tolist() == pytest.approx(straight.metrics["value"].tolist(), rel=1e-6, abs=0)


def test_a_run_killed_with_only_step_0_on_record_starts_over_and_writes_step_0_once(tmp_path):
    cfg = config(50, every=0)  # checkpoints 0 and 50: step 0 is a resume point
    out = tmp_path / "run"
    killed(out, 50, cfg=cfg)
    assert sorted(info(out)["metrics_bytes"]) == ["0"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = train(cfg, out, device="cpu", progress=False, resume=True)
    assert [str(w.message) for w in caught] == []  # step 0 read back: nothing to report
    straight = train(cfg, tmp_path / "straight", device="cpu", progress=False)
    assert run.steps == straight.steps == [0, 50]
    assert not run.metrics.duplicated(["step", "observable"]).any()
    assert run.metrics[["step", "observable"]].values.tolist() == straight.metrics[["step", "observable"]].values.tolist()
    assert run.metrics["value"].tolist() == pytest.approx(straight.metrics["value"].tolist(), rel=1e-6, abs=0)


class Clock:
    """``time`` for the training loop whose ``perf_counter`` advances one second per reading."""

    def __init__(self):
        self.now = 0.0

    def perf_counter(self):
        self.now += 1.0
        return self.now


def test_wall_time_adds_the_time_between_checkpoints_across_a_kill_and_resume(tmp_path, monkeypatch):
    monkeypatch.setattr("bridge.training.loop.time", Clock())  # one second from each checkpoint to the next
    straight = train(config(), tmp_path / "straight", device="cpu", progress=False)
    assert straight.info["wall_time"] == 10.0  # ten checkpoints after step 0, one second each
    out = tmp_path / "run"
    killed(out, 100)
    assert info(out)["wall_time"] == 9.0  # on record: up to step 90
    monkeypatch.setattr("bridge.training.loop.time", Clock())
    assert train(config(), out, device="cpu", progress=False, resume=True).info["wall_time"] == 10.0


def test_a_resume_removes_the_temporary_files_a_killed_writer_left_and_nothing_else(tmp_path):
    out = tmp_path / "run"
    killed(out, 100)
    left = [out / ".run.json.tmp-12345", out / "checkpoints" / ".step_00000100.safetensors.tmp-12345", out / ".metrics.csv.tmp-1"]
    kept = [out / "notes.tmp-1", out / "checkpoints" / "tmp-2"]  # not an atomic write's name
    for path in left + kept:
        path.write_bytes(b"partial")
    run = train(config(), out, device="cpu", progress=False, resume=True)
    assert run.status == "complete" and [p.exists() for p in left + kept] == [False] * len(left) + [True] * len(kept)


class Raises:
    name = "raises"

    def __init__(self, error):
        self.error = error

    def __call__(self, model, step, data):
        if step == 50:
            raise self.error
        return []


@pytest.mark.parametrize(
    ("error", "status", "recorded"),
    [
        (KeyboardInterrupt("simulated kill"), "interrupted", "KeyboardInterrupt: simulated kill"),
        (SystemExit(143), "interrupted", "SystemExit: 143"),  # a termination signal turned into an exit
        (ValueError("boom"), "failed", "ValueError: boom (raised by tracker 'raises' in the call at step 50)"),  # named: the run's trackers are the user's
    ],
)
def test_a_run_ended_by_a_signal_is_interrupted_and_one_that_raised_is_failed_with_its_error(tmp_path, error, status, recorded):
    with pytest.raises(type(error)):
        train(config(), tmp_path / "run", trackers=[Raises(error)], device="cpu", progress=False)
    record = info(tmp_path / "run")
    assert (record["status"], record["error"], record["last_step"]) == (status, recorded, 40)
    resumed = train(config(), tmp_path / "run", device="cpu", progress=False, resume=True)
    assert resumed.status == "complete" and "error" not in resumed.info


def test_a_resumed_run_records_the_device_it_finished_on(tmp_path):
    out = tmp_path / "run"
    killed(out, 100)
    record = info(out)
    (out / "run.json").write_text(json.dumps({**record, "device": "cuda:0"}))  # killed on another machine
    assert train(config(), out, device="cpu", progress=False, resume=True).info["device"] == "cpu"


def test_a_run_extended_twice_records_both_extensions_and_the_schedule_of_each_part(tmp_path):
    out = tmp_path / "run"
    for steps in (100, 160, 200):
        run = train(config(steps, n_log=3, every=50, track_every=40), out, device="cpu", progress=False, resume=steps > 100)
    # checkpoints: [0, 1, 10, 50, 100] at 100 steps, then 150, 160 of the 160-step schedule, then 200
    assert run.steps == run.info["schedule"]["checkpoints"] == [0, 1, 10, 50, 100, 150, 160, 200]
    assert run.info["extended"] == [{"from": 100, "to": 160}, {"from": 160, "to": 200}]
    # tracked: the checkpoints and every 40th step of each part: 0 1 10 40 50 80 100 | 120 150 160 | 200
    assert run.info["schedule"]["tracked_steps"] == 11
    assert sorted(run.observable("loss/train").index) == [0, 1, 10, 40, 50, 80, 100, 120, 150, 160, 200]
