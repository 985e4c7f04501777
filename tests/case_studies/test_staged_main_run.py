"""A main run trained after its study's other runs is trained in ``OUT/.main`` and moved into ``OUT`` once complete;
a process killed during that move leaves a study that a resume finishes, with the run of an uninterrupted study."""

import json
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

import bridge
from bridge import RunConfig, ScheduleConfig, TrainConfig
from bridge.cli import main
from bridge.match import check
from bridge.models import MLPConfig
from bridge.report import BridgeReport
from bridge.runs.errors import CorruptFileError
from bridge.tasks import LinearTeacherConfig
from case_studies import run_case_study
from case_studies.base import CaseStudy, register


@dataclass(frozen=True)
class Preset:
    steps: int = 20
    main_lr: float = 0.1


def _config(lr, seed, steps):
    return RunConfig(
        task=LinearTeacherConfig((2.0, 1.0), d_in=4, d_out=3, n_train=32),
        model=MLPConfig(d_in=4, d_out=3, widths=(8,), activation="tanh"),
        train=TrainConfig(lr=lr, steps=steps, schedule=ScheduleConfig(n_log=3, every=10)),
        seed=seed,
    )


@register("main-trained-last")
class MainTrainedLast(CaseStudy):
    """Two runs, the auxiliary one first: the main run finds ``OUT/runs`` made and is staged."""

    presets = {"quick": Preset()}

    def runs(self, preset, seed):
        return {"aux": _config(0.05, seed, preset.steps), "main": _config(preset.main_lr, seed, preset.steps)}

    def analyse(self, runs, preset):
        loss = runs["main"].observable("loss/train")
        return BridgeReport(self.name, "quick", 0, checks=[check("final training loss", float(loss.iloc[-1]), "< initial", bool(loss.iloc[-1] < loss.iloc[0]))])

    def figures(self, runs, report, preset):
        return []


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "study"
    run_case_study("main-trained-last", "quick", out, device="cpu", progress=False)
    return out


def _killed_moving_in(monkeypatch, moved):
    """Make the move of ``OUT/.main`` into ``OUT`` raise KeyboardInterrupt after ``moved`` files (never for ``None``);
    returns the list of the files moved."""
    replace, done = Path.replace, []

    def killed_after(self, target):
        if self.parent.name == ".main":
            if len(done) == moved:
                raise KeyboardInterrupt
            done.append(self.name)
        return replace(self, target)

    monkeypatch.setattr(Path, "replace", killed_after)
    return done


@pytest.mark.parametrize("moved", [0, 1, 2])
def test_a_kill_while_the_staged_main_run_is_moved_in_is_finished_by_a_resume(reference, tmp_path, monkeypatch, capsys, moved):
    out, replace, done = tmp_path / "study", Path.replace, _killed_moving_in(monkeypatch, moved)
    with pytest.raises(KeyboardInterrupt):
        run_case_study("main-trained-last", "quick", out, device="cpu", progress=False)
    monkeypatch.setattr(Path, "replace", replace)
    assert len(done) == moved and (out / ".main" / "run.json").is_file() and not (out / "run.json").exists()
    assert main(["report", str(out)]) == 2
    assert capsys.readouterr().err == (f"mechbridge: error: {out} has no report: its main run, trained after the study's other runs, is not finished "
                                       f"(it is in {out / '.main'} until it is): it was interrupted; finish it with `mechbridge run main-trained-last --preset quick --seed 0 --out {out} --resume`\n")
    with pytest.raises(bridge.RunError, match=r"is not a run directory \(no run.json\)$"):  # not the staged run, which is no run of its own yet
        bridge.load_run(out)
    report = run_case_study("main-trained-last", "quick", out, device="cpu", progress=False, resume=True)
    assert report.to_dict() == json.loads((reference / "report.json").read_text())
    assert not (out / ".main").exists() and sorted(p.name for p in out.iterdir()) == sorted(p.name for p in reference.iterdir())
    run, ref = bridge.load_run(out), bridge.load_run(reference)
    assert run.status == "complete" and run.steps == ref.steps and run.metrics.equals(ref.metrics)
    a, b = run.model_at(run.steps[-1]).state_dict(), ref.model_at(ref.steps[-1]).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("moved", [None, 1])
def test_a_staged_main_run_that_diverges_is_moved_in_with_its_report_and_resumes_to_the_same_one(tmp_path, monkeypatch, moved):
    """Its failed run.json records the invalid report in OUT, as for a main run trained first (the report
    was left in a folder without run.json, beside the run in OUT/.main); a kill while it is moved in is
    finished by the resume."""
    out, replace = tmp_path / "study", Path.replace
    _killed_moving_in(monkeypatch, moved)
    try:
        first = run_case_study("main-trained-last", "quick", out, device="cpu", progress=False, settings=["main_lr=1e6"])
    except KeyboardInterrupt:
        assert moved is not None and (out / ".main" / "run.json").is_file() and not (out / "report.json").exists()
        first = None
    monkeypatch.setattr(Path, "replace", replace)
    again = run_case_study("main-trained-last", "quick", out, device="cpu", progress=False, settings=["main_lr=1e6"], resume=True)
    assert again.verdict == "invalid" and again.extra["diverged"]["run"] == "main" and again.extra["diverged"]["step"] > 0
    assert first is None or first.to_dict() == again.to_dict()
    assert not (out / ".main").exists() and json.loads((out / "report.json").read_text()) == again.to_dict()
    run = bridge.load_run(out)
    assert run.status == "failed" and {"report.json", "report.md"} <= set(run.info["files"])
    assert bridge.load_run(out / "runs" / "aux").status == "complete"


class _Broken:
    """A tracker that fails at step 10: the staged main run fails without diverging."""

    name = "broken"

    def __call__(self, model, step, data):
        if step >= 10:
            raise RuntimeError("a tracker bug")
        return []


def test_a_staged_main_run_that_failed_otherwise_stays_staged_until_it_is_complete(reference, tmp_path, monkeypatch, capsys):
    """Only a diverged main run is moved in unfinished (its report records the divergence): one that failed for
    another reason is resumed where it was staged, and moved in once complete."""
    import case_studies.base.runner as runner

    out = tmp_path / "study"
    monkeypatch.setattr(runner, "online_trackers", lambda study, preset, key, seed: [_Broken()] if key == "main" else [])
    for resume in (False, True):  # failing twice: the resume does not move it in either
        with pytest.raises(RuntimeError, match="a tracker bug"):
            run_case_study("main-trained-last", "quick", out, device="cpu", progress=False, resume=resume)
        assert json.loads((out / ".main" / "run.json").read_text())["status"] == "failed" and not (out / "run.json").exists()
    assert main(["report", str(out)]) == 2 and "is not finished" in capsys.readouterr().err
    monkeypatch.undo()
    report = run_case_study("main-trained-last", "quick", out, device="cpu", progress=False, resume=True)
    assert report.to_dict() == json.loads((reference / "report.json").read_text()) and not (out / ".main").exists()


def test_a_staged_main_run_interrupted_while_it_trains_names_the_command_that_finishes_it(reference, tmp_path, monkeypatch, capsys):
    """Its run.json in OUT/.main holds the study's stamp from its creation (it was written once training ended, so the
    report of a study interrupted meanwhile said ``mechbridge run CASE --out OUT --resume``)."""
    from bridge.training.writer import RunWriter

    out, checkpoint = tmp_path / "study", RunWriter.checkpoint

    def interrupted(self, step, *args, **kwargs):
        checkpoint(self, step, *args, **kwargs)
        if self.out.name == ".main" and step == 10:
            raise KeyboardInterrupt

    monkeypatch.setattr(RunWriter, "checkpoint", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_case_study("main-trained-last", "quick", out, seed=0, settings=["main_lr=0.1"], device="cpu", progress=False)
    monkeypatch.undo()
    staged = json.loads((out / ".main" / "run.json").read_text())
    assert staged["status"] == "interrupted" and 0 < staged["last_step"] <= 10 and not (out / "run.json").exists()
    assert {k: staged[k] for k in ("case_study", "preset", "case_seed", "settings")} == {"case_study": "main-trained-last", "preset": "quick", "case_seed": 0, "settings": ["main_lr=0.1"]}
    command = f"mechbridge run main-trained-last --preset quick --seed 0 --set main_lr=0.1 --out {shlex.quote(str(out))} --resume"
    assert main(["report", str(out)]) == 2
    assert capsys.readouterr().err == (f"mechbridge: error: {out} has no report: its main run, trained after the study's other runs, is not finished "
                                       f"(it is in {out / '.main'} until it is): it was interrupted; finish it with `{command}`\n")
    assert main([*shlex.split(command)[1:], "--quiet"]) == 0
    run, ref = bridge.load_run(out), bridge.load_run(reference)
    assert not (out / ".main").exists() and run.status == "complete" and run.info["settings"] == ["main_lr=0.1"] and run.info["case_seed"] == 0
    assert run.steps == ref.steps and run.metrics.equals(ref.metrics)


@pytest.mark.parametrize(("text", "fault"), [("{nope", "is not valid JSON"), ("[1, 2]", "is not a run record")])
def test_a_resumed_study_whose_run_json_does_not_read_is_refused_before_its_other_runs_train(tmp_path, text, fault):
    out = tmp_path / "study"
    out.mkdir()
    (out / "run.json").write_text(text)
    with pytest.raises(CorruptFileError, match=f"^{out / 'run.json'} {fault}"):
        run_case_study("main-trained-last", "quick", out, device="cpu", progress=False, resume=True)
    assert sorted(p.name for p in out.iterdir()) == ["run.json"]  # the auxiliary run was not trained first
