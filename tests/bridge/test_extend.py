"""A finished run resumed with more steps trains on to the new total, as if trained there in one go."""

import dataclasses
import json

import pytest
import torch

from bridge import RunConfig, ScheduleConfig, TrainConfig, load_run, train
from bridge.config import ConfigError
from bridge.models import DeepLinearConfig
from bridge.runs.storage import load_tensors
from bridge.tasks import LinearTeacherConfig
from bridge.training.schedule import checkpoint_steps


def config(steps: int, optimizer: str = "adam") -> RunConfig:
    return RunConfig(
        LinearTeacherConfig((2.0, 1.0), d_in=4, d_out=4, n_train=64),
        DeepLinearConfig(4, 8, 4, init_std=0.1),
        TrainConfig(optimizer=optimizer, lr=0.01, steps=steps, batch_size=16, schedule=ScheduleConfig(n_log=5, every=40)),
        seed=3,
    )


def final_weights(run) -> dict[str, torch.Tensor]:
    return load_tensors(run.path / "checkpoints" / f"step_{run.steps[-1]:08d}.safetensors")


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_an_extended_run_ends_bitwise_equal_to_one_trained_to_the_new_total(tmp_path, optimizer):
    straight = train(config(200, optimizer), tmp_path / "straight", progress=False)
    train(config(120, optimizer), tmp_path / "extended", progress=False)
    extended = train(config(200, optimizer), tmp_path / "extended", progress=False, resume=True)

    assert extended.status == "complete" and extended.info["last_step"] == 200
    assert extended.steps[-1] == 200 and final_weights(extended).keys() == final_weights(straight).keys()
    for name, w in final_weights(straight).items():
        assert torch.equal(w, final_weights(extended)[name]), name
    # the checkpoints so far keep the first schedule; past step 120 they follow the new one
    first, second = checkpoint_steps(120, ScheduleConfig(n_log=5, every=40)), checkpoint_steps(200, ScheduleConfig(n_log=5, every=40))
    assert extended.steps == first + [s for s in second if s > 120]
    assert extended.info["extended"] == [{"from": 120, "to": 200}]
    assert extended.info["schedule"]["checkpoints"] == extended.steps
    assert extended.config.train.steps == 200
    steps = extended.observable("loss/train").index
    assert steps.is_monotonic_increasing and steps[-1] == 200 and not steps.duplicated().any()


def test_an_interrupted_extension_resumes_with_the_same_command(tmp_path):
    train(config(120), tmp_path / "run", progress=False)
    train(config(200), tmp_path / "run", progress=False, resume=True)
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    again = train(config(200), tmp_path / "run", progress=False, resume=True)  # nothing left to do: the same run
    assert again.info["extended"] == info["extended"] and again.steps[-1] == 200


def test_a_run_is_not_shortened_and_no_other_field_changes_on_resume(tmp_path):
    train(config(120), tmp_path / "run", progress=False)
    before = sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir())
    with pytest.raises(ConfigError, match=r"extended, not shortened \(to finish it, resume with train.steps=120: --steps 120 at the command line\)"):
        train(config(80), tmp_path / "run", progress=False, resume=True)
    other = dataclasses.replace(config(200), train=dataclasses.replace(config(200).train, lr=0.02))
    with pytest.raises(ConfigError, match="only train.steps may change"):
        train(other, tmp_path / "run", progress=False, resume=True)
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == before
    assert load_run(tmp_path / "run").status == "complete"


def test_a_run_written_before_a_config_field_existed_resumes_and_extends(tmp_path):
    """A run.json without a field added since (here train.warmup and train.clip_grad_norm) reads as their defaults."""
    train(config(120), tmp_path / "run", progress=False)
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    for field in ("warmup", "clip_grad_norm"):
        del info["config"]["train"][field]
    (tmp_path / "run" / "run.json").write_text(json.dumps(info))
    assert train(config(120), tmp_path / "run", progress=False, resume=True).info["last_step"] == 120  # the same run: nothing to do
    extended = train(config(200), tmp_path / "run", progress=False, resume=True)
    assert extended.info["extended"] == [{"from": 120, "to": 200}] and extended.steps[-1] == 200
    lr = dataclasses.replace(config(200), train=dataclasses.replace(config(200).train, clip_grad_norm=1.0))
    with pytest.raises(ConfigError, match="only train.steps may change"):
        train(lr, tmp_path / "run", progress=False, resume=True)


SMALL = ["model.d_hidden=32", "train.schedule.n_log=12"]  # the deep-linear study, small


def test_a_finished_case_study_continues_with_steps_and_resume(tmp_path, capsys):
    from bridge.cli import main
    from case_studies import run_case_study

    out = tmp_path / "study"
    run_case_study("deep-linear", "quick", tmp_path / "straight", device="cpu", progress=False, settings=[*SMALL, "train.steps=200"])
    args = ["run", "deep-linear", "--out", str(out), "--device", "cpu", "--quiet", *[a for s in SMALL for a in ("--set", s)]]
    main([*args, "--steps", "120"])
    capsys.readouterr()
    assert main([*args, "--steps", "80", "--resume"]) == 2  # shortening is refused in one line, before any work
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not shortened" in err[0] and load_run(out).config.train.steps == 120
    main([*args, "--steps", "200", "--resume"])

    extended, straight = load_run(out), load_run(tmp_path / "straight")
    assert extended.info["extended"] == [{"from": 120, "to": 200}] and extended.info["offline_done"]
    for name, w in final_weights(straight).items():
        assert torch.equal(w, final_weights(extended)[name]), name
    assert extended.info["settings"][-1] == "train.steps=200"
    verdicts = [json.loads((folder / "report.json").read_text())["verdict"] for folder in (out, tmp_path / "straight")]
    assert verdicts[0] == verdicts[1], verdicts


def test_stacked_seeds_extend_together_as_if_trained_to_the_new_total(tmp_path):
    from bridge.training.seeds import train_seeds

    straight = train_seeds(config(200), [0, 1], tmp_path / "straight", device="cpu", progress=False)
    train_seeds(config(120), [0, 1], tmp_path / "extended", device="cpu", progress=False)
    extended = train_seeds(config(200), [0, 1], tmp_path / "extended", device="cpu", progress=False, resume=True)
    for a, b in zip(straight, extended):
        assert b.info["extended"] == [{"from": 120, "to": 200}] and b.status == "complete"
        for name, w in final_weights(a).items():
            assert torch.equal(w, final_weights(b)[name]), name


class FailsAt:
    """A tracker whose call at step ``at`` raises (a run that fails there, and is resumed)."""

    name = "fails"

    def __init__(self, at: int = -1):
        self.at = at

    def __call__(self, model, step, data):
        if step == self.at:
            raise RuntimeError(f"tracker failed at step {step}")
        return [{"observable": "fails/step", "value": float(step)}]


@pytest.mark.parametrize(("stacked", "totals", "fails_at"), [(False, [84, 168], 92), (False, [84, 168, 300], 181), (True, [84, 168], 92)], ids=["train", "train-extended-twice", "train_seeds"])
def test_an_extension_that_fails_and_is_resumed_writes_what_the_extension_in_one_go_writes(tmp_path, stacked, totals, fails_at):
    """The resumed extension keeps the schedule of the steps before it: its resume points past the old total are
    those of the extension in one go (92, not 107, after 84 with this schedule), so the same files are written."""
    from bridge.training.schedule import resume_points, staged_steps
    from bridge.training.seeds import train_seeds

    schedule = ScheduleConfig(n_log=35)

    def run(steps: int, out, fails_at: int = -1):
        cfg = dataclasses.replace(config(steps), train=dataclasses.replace(config(steps).train, schedule=schedule))
        resume = steps != totals[0]
        if stacked:
            return train_seeds(cfg, [0, 1], out, trackers=lambda: [FailsAt(fails_at)], device="cpu", progress=False, resume=resume)
        return train(cfg, out, trackers=[FailsAt(fails_at)], device="cpu", progress=False, resume=resume)

    for name in ("whole", "failed"):
        for steps in totals[:-1]:
            run(steps, tmp_path / name)
    with pytest.raises(RuntimeError, match=f"tracker failed at step {fails_at}"):
        run(totals[-1], tmp_path / "failed", fails_at=fails_at)
    for name in ("whole", "failed"):
        run(totals[-1], tmp_path / name)
    expected = [p for p in resume_points(staged_steps(checkpoint_steps, totals, schedule), totals[-1]) if p > totals[-2]]
    for folder in ("seed_0", "seed_1") if stacked else (".",):
        whole, failed = tmp_path / "whole" / folder, tmp_path / "failed" / folder
        records = [{k: v for k, v in json.loads((d / "run.json").read_text()).items() if k != "wall_time"} for d in (whole, failed)]
        assert [p for p in sorted(map(int, records[0]["metrics_bytes"])) if p > totals[-2]] == expected
        assert records[0]["extended"] == [{"from": a, "to": b} for a, b in zip(totals, totals[1:])]
        assert records[0]["schedule"]["checkpoints"] == staged_steps(checkpoint_steps, totals, schedule)
        assert records[1] == records[0]
        assert (failed / "metrics.csv").read_bytes() == (whole / "metrics.csv").read_bytes()
        assert sorted(p.name for p in (failed / "checkpoints").iterdir()) == sorted(p.name for p in (whole / "checkpoints").iterdir())
