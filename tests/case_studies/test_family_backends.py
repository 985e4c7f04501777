"""A case study's own runs on a sweep backend: the same runs and the same report as in one process."""

import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

import bridge
from bridge import RunConfig, ScheduleConfig, TrainConfig
from bridge.cli import main
from bridge.config import ConfigError
from bridge.match import check
from bridge.models import MLPConfig
from bridge.report import BridgeReport
from bridge.tasks import LinearTeacherConfig
from case_studies import run_case_study
from case_studies.base import CaseStudy, register, run_dir

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class TinyPreset:
    lrs: tuple[float, ...] = (0.01, 0.03, 0.1)
    steps: int = 40


def tiny_config(lr, seed, steps):
    return RunConfig(
        task=LinearTeacherConfig((2.0, 1.0, 0.5), d_in=6, d_out=4, n_train=64),
        model=MLPConfig(d_in=6, d_out=4, widths=(16,), activation="tanh"),
        train=TrainConfig(optimizer="adam", lr=lr, steps=steps, batch_size=8, schedule=ScheduleConfig(n_log=3, every=10)),
        seed=seed,
    )


@register("tiny-family")
class TinyFamily(CaseStudy):
    """A learning-rate family of three small MLP runs; the claim: every rate lowers the training loss."""

    presets = {"quick": TinyPreset()}

    def runs(self, preset, seed):
        return {("main" if i == 0 else f"lr_{lr:g}"): tiny_config(lr, seed, preset.steps) for i, lr in enumerate(preset.lrs)}

    def analyse(self, runs, preset):
        losses = {key: run.observable("loss/train") for key, run in runs.items()}
        worst = max(float(loss.iloc[-1] / loss.iloc[0]) for loss in losses.values())
        row = check("largest final / initial training loss", worst, "< 1", worst < 1, claim="every step size lowers the loss")
        return BridgeReport(self.name, "quick", 0, checks=[row], extra={"final": {k: float(v.iloc[-1]) for k, v in losses.items()}})

    def figures(self, runs, report, preset):
        return []


def weights(run):
    return run.model_at(run.steps[-1]).state_dict()


def same_outputs(a: Path, b: Path, keys):
    assert json.loads((a / "report.json").read_text()) == json.loads((b / "report.json").read_text())
    for key in keys:
        wa, wb = weights(bridge.load_run(run_dir(a, key))), weights(bridge.load_run(run_dir(b, key)))
        assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


@dataclass(frozen=True)
class Flaky:
    """A backend that loses the job of run ``lose`` (a dead worker) and runs the others here."""

    lose: str
    name: str = "flaky"

    def run(self, jobs, on_done):
        for job in jobs:
            if job.key == self.lose:
                on_done({"key": job.key, "status": "failed", "error": "WorkerCrashedError: the worker died"})
            else:
                on_done(job.fn(*job.args))


@pytest.fixture
def trained_here(monkeypatch):
    """The run directories :func:`bridge.train` trains or resumes in this process, in call order.

    Returns ``(calls, recorder)``; each call is ``(folder, inside)``, ``inside`` being true while a
    backend that sets ``recorder.inside`` (:class:`Counted`) runs its jobs. A backend's worker in
    another process trains nothing here.
    """
    import case_studies.base.runner as runner
    from bridge.training import loop

    real, calls = loop.train, []

    def recording(config, out, **kwargs):
        calls.append((Path(out), recording.inside))
        return real(config, out, **kwargs)

    recording.inside = False
    monkeypatch.setattr(loop, "train", recording)
    if hasattr(runner, "train"):  # should the runner import it at module level
        monkeypatch.setattr(runner, "train", recording)
    return calls, recording


def test_a_lost_job_is_resumed_in_the_driver_and_the_report_is_the_local_one(tmp_path):
    local = run_case_study("tiny-family", "quick", tmp_path / "local", device="cpu", progress=False)
    with pytest.warns(RuntimeWarning, match=r"run 'lr_0.03' failed on the flaky backend \(WorkerCrashedError: the worker died\)"):
        remote = run_case_study("tiny-family", "quick", tmp_path / "flaky", device="cpu", progress=False, backend=Flaky("lr_0.03"))
    assert remote.verdict == local.verdict == "pass"
    same_outputs(tmp_path / "local", tmp_path / "flaky", ["main", "lr_0.03", "lr_0.1"])
    # the main run trained after a run of its family had made out/runs: it was staged and moved in whole
    assert not (tmp_path / "flaky" / ".main").exists() and bridge.load_run(tmp_path / "flaky").status == "complete"


@dataclass(frozen=True)
class Counted(Flaky):
    """:class:`Flaky`, telling :func:`trained_here` while its jobs run."""

    recorder: object = None

    def run(self, jobs, on_done):
        self.recorder.inside = True
        try:
            super().run(jobs, on_done)
        finally:
            self.recorder.inside = False


def test_every_job_on_the_backend_leaves_nothing_for_the_driver(tmp_path, trained_here):
    """Every run is trained once, by its job on the backend; the driver only reads them (it trains or resumes a
    run it finds unfinished, so a backend that ran nothing would still end with every run complete)."""
    calls, recorder = trained_here
    out = tmp_path / "out"
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        run_case_study("tiny-family", "quick", out, device="cpu", progress=False, backend=Counted("none", recorder=recorder))
    by_driver = [folder for folder, inside in calls if not inside]
    assert not by_driver, f"the driver trained {by_driver} after the backend"
    assert sorted(folder.relative_to(out).as_posix() for folder, _ in calls) == [".main", "runs/lr_0.03", "runs/lr_0.1"]  # main: staged, then moved in
    for key in ("main", "lr_0.03", "lr_0.1"):
        assert bridge.load_run(run_dir(out, key)).status == "complete"


def test_an_unknown_backend_or_option_is_refused_before_any_work(tmp_path, capsys):
    with pytest.raises(ConfigError, match="unknown backend 'dask'"):
        run_case_study("tiny-family", "quick", tmp_path / "a", backend="dask")
    with pytest.raises(ConfigError, match="sweep backend 'ray'"):
        run_case_study("tiny-family", "quick", tmp_path / "b", backend="ray", backend_options={"cores": 2})
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    assert main(["run", "tiny-family", "--out", str(tmp_path / "c"), "--workers", "2"]) == 2
    assert "--address, --workers and --cluster apply to the ray and submitit backends" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()


@pytest.fixture
def workers_import_this_tree(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


@pytest.mark.slow
def test_the_edge_of_stability_step_sizes_on_ray_and_submitit_give_the_local_report(tmp_path, workers_import_this_tree, trained_here):
    """The study's three step sizes as three jobs: identical report.json and weights on every backend, every run
    trained by its job in a worker (the driver trains or resumes whatever it finds unfinished, with the same result)."""
    ray = pytest.importorskip("ray")
    pytest.importorskip("submitit")
    settings = ["train.steps=30"]
    kwargs = dict(device="cpu", progress=False, settings=settings)
    calls, _ = trained_here
    run_case_study("edge-of-stability", "quick", tmp_path / "local", **kwargs)
    keys = ["main", *(p.name for p in sorted((tmp_path / "local" / "runs").iterdir()))]
    assert len(keys) == 3 and len(calls) == 3  # the recorder sees this process train
    calls.clear()
    try:
        run_case_study("edge-of-stability", "quick", tmp_path / "ray", backend="ray", backend_options={"workers": 2}, **kwargs)
    finally:
        ray.shutdown()
    assert not calls, f"the driver trained {[str(f) for f, _ in calls]} after Ray"
    run_case_study("edge-of-stability", "quick", tmp_path / "submitit", backend="submitit", backend_options={"cluster": "local", "workers": 2}, **kwargs)
    assert not calls, f"the driver trained {[str(f) for f, _ in calls]} after submitit"
    for other in ("ray", "submitit"):
        same_outputs(tmp_path / "local", tmp_path / other, keys)
    logs = list((tmp_path / "submitit" / "runs" / ".submitit").glob("*_log.out"))
    assert len(logs) == 3  # each run was a job of its own
