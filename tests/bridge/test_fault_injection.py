"""Fault injection: a training process killed (a real SIGKILL) at random steps and at every phase
boundary of its writes, then resumed, ends with the same bytes as a run never interrupted.

Each fault runs in a forked child process that kills itself with SIGKILL at the exact point named
by the fault (patches installed in the child only); the next child resumes the same directory. A
chain of faults per config (the directory made, kills mid-checkpoint, between weights and optimizer
state, mid-metrics write, before and during the ``run.json`` update, after training, and at 20
random steps) ends with one resume whose checkpoints, ``metrics.csv`` and the rest of ``run.json``
are compared with an uninterrupted run's, trained in the test's own process. Forking from it skips
a fresh interpreter's imports and first-call costs in each of the ~30 processes per config.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
from dataclasses import dataclass
from pathlib import Path

import pytest

from bridge import RunConfig, ScheduleConfig, TrainConfig, load_run, train
from bridge.models import DeepLinearConfig, TransformerConfig
from bridge.tasks import HierarchyConfig, ModularConfig
from bridge.trackers import DifferentiationTracker, ModeTracker, WeightNormTracker
from helpers import SMALL_DEEP_LINEAR

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="forks child processes")

PHASES = ("directory made", "weights written, not renamed", "optimizer state written, not renamed", "metrics half written", "before run.json update", "run.json written, not renamed", "after training")


@dataclass(frozen=True)
class Fault:
    """Where a child kills itself: ``phase`` (one of :data:`PHASES`, or ``"step"``) at checkpoint or step ``at``."""

    phase: str
    at: int = 0


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _install(fault: Fault) -> None:
    """Patch the child's own modules so that it kills itself at ``fault``."""
    import bridge.runs.storage as storage
    import bridge.training.loop as loop
    import bridge.training.writer as writer

    at = fault.at
    if fault.phase == "step":  # after `at` optimizer steps, before the next one
        bar = loop.step_bar

        class Killing:
            def __init__(self, inner):
                self.inner = inner

            def __iter__(self):
                for step in self.inner:
                    if step == at:
                        _die()
                    yield step

            def __getattr__(self, name):
                return getattr(self.inner, name)

        loop.step_bar = lambda *a, **k: Killing(bar(*a, **k))
    elif fault.phase == "directory made":
        create = writer.create_run_dir
        writer.create_run_dir = lambda *a, **k: (create(*a, **k), _die())
    elif fault.phase in ("weights written, not renamed", "optimizer state written, not renamed", "run.json written, not renamed"):
        replace = storage._replace
        target = {"weights": f"step_{at:08d}.safetensors", "optimizer": f"optim_{at:08d}.safetensors"}.get(fault.phase.split()[0], "run.json")

        def killing_replace(tmp: str, path: str) -> None:
            if Path(path).name == target and (target != "run.json" or json.loads(Path(tmp).read_text()).get("last_step") == at):
                _die()
            replace(tmp, path)

        storage._replace = killing_replace
    elif fault.phase == "metrics half written":
        append = storage.append_bytes

        def killing_append(path: Path, data: bytes) -> None:
            if Path(path).name == "metrics.csv" and data.decode().splitlines()[-1].startswith(f"{at},"):
                append(path, data[: len(data) // 2])
                _die()
            append(path, data)

        storage.append_bytes = killing_append
    elif fault.phase == "before run.json update":
        write = storage.atomic_write_bytes

        def killing_write(path: Path, data: bytes) -> None:
            if Path(path).name == "run.json" and (obj := json.loads(data)).get("last_step") == at and obj.get("status") == "running":
                _die()
            write(path, data)

        storage.atomic_write_bytes = killing_write
    elif fault.phase == "after training":
        writer.RunWriter.complete = lambda self: _die()
    else:
        raise ValueError(f"unknown phase {fault.phase!r}")


def _child(config: RunConfig, out: Path, trackers, fault: Fault | None) -> None:
    if fault is not None:
        _install(fault)
    train(config, out, trackers=trackers(), device="cpu", progress=False, resume=(out / "run.json").exists())
    os._exit(0)


def run_child(config: RunConfig, out: Path, trackers, fault: Fault | None) -> int:
    """Train (or resume) ``out`` in a forked child that dies at ``fault``; return its exit code."""
    proc = multiprocessing.get_context("fork").Process(target=_child, args=(config, out, trackers, fault))
    proc.start()
    proc.join()
    return proc.exitcode


def deep_linear():
    cfg = RunConfig(
        task=HierarchyConfig(depth=3, branching=2),
        model=DeepLinearConfig(d_in=8, d_hidden=16, d_out=15, init_std=0.05),
        train=TrainConfig(optimizer="gd", lr=0.2, steps=120, schedule=ScheduleConfig(n_log=8, every=20, track_every=4)),
        seed=1,
    )
    return cfg, lambda: [ModeTracker(), DifferentiationTracker()]


def grokking():
    cfg = RunConfig(
        task=ModularConfig(p=11, train_fraction=0.4),
        model=TransformerConfig(d_vocab=12, n_ctx=3, d_model=16, n_heads=2, d_head=8, n_layers=1, d_mlp=32, d_vocab_out=11, act_fn="relu"),
        train=TrainConfig(optimizer="adamw", lr=3e-3, steps=120, weight_decay=2.0, betas=(0.9, 0.98), schedule=ScheduleConfig(n_log=6, every=20, track_every=5)),
        seed=0,
    )
    return cfg, lambda: [WeightNormTracker()]


ON_RECORD = ("optimizer state written, not renamed", "metrics half written", "before run.json update", "run.json written, not renamed")  # only resume points have these


def phase_faults(steps: int, checkpoints: list[int], rng: random.Random) -> list[Fault]:
    """One fault per write phase at a random middle checkpoint (a middle resume point where the phase only happens there)."""
    from bridge.training.schedule import resume_points

    middle = [c for c in checkpoints if 0 < c < steps]
    points = [c for c in resume_points(checkpoints, steps) if 0 < c < steps]
    return [Fault(p, rng.choice(points if p in ON_RECORD else middle)) for p in PHASES[1:-1]]


def fault_chain(steps: int, checkpoints: list[int], seed: int) -> list[Fault]:
    """The directory made first, then the phase faults at middle checkpoints and 20 random steps in
    ascending order (each fault lies at or after the point the previous resume starts from), and
    a kill after training last."""
    rng = random.Random(seed)
    phases = phase_faults(steps, checkpoints, rng)
    kills = [Fault("step", s) for s in rng.sample(range(steps), 20)]
    return [Fault("directory made"), *sorted(phases + kills, key=lambda f: f.at), Fault("after training")]


def _run_json(path: Path) -> dict:
    info = json.loads((path / "run.json").read_text())
    return {k: v for k, v in info.items() if k not in ("wall_time", "versions")}


@pytest.mark.slow
@pytest.mark.parametrize("make", [deep_linear, grokking], ids=["deep-linear", "grokking"])
def test_kills_at_random_steps_and_every_phase_boundary_resume_to_the_same_bytes(tmp_path, make):
    config, trackers = make()
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    train(config, whole, trackers=trackers(), device="cpu", progress=False)  # in this process: the children inherit its warm imports
    chain = fault_chain(config.train.steps, load_run(whole).steps, seed=13)
    assert len(chain) == 20 + len(PHASES)
    for fault in chain:
        assert run_child(config, cut, trackers, fault) == -signal.SIGKILL, f"the child did not reach {fault}"
        assert load_run(cut).status == "interrupted", fault
    assert run_child(config, cut, trackers, None) == 0
    assert load_run(cut).status == "complete"
    names = sorted(p.name for p in (whole / "checkpoints").iterdir())
    assert sorted(p.name for p in (cut / "checkpoints").iterdir()) == names
    for name in names:
        assert (cut / "checkpoints" / name).read_bytes() == (whole / "checkpoints" / name).read_bytes(), name
    assert (cut / "metrics.csv").read_bytes() == (whole / "metrics.csv").read_bytes()
    assert _run_json(cut) == _run_json(whole)
    assert sorted(p.name for p in cut.iterdir()) == sorted(p.name for p in whole.iterdir())  # no temporary file left


SMALL = SMALL_DEEP_LINEAR


def _study_child(out: Path, phase: str, at: int) -> None:
    import case_studies.base.runner as base
    from bridge.report import BridgeReport
    from case_studies import run_case_study

    if phase == "step":
        _install(Fault("step", at))
    elif phase == "before the report":
        base._report = lambda *a, **k: _die()
    elif phase == "between report files":

        def killing_write(self, run_dir):
            from bridge.runs.storage import atomic_write_json

            atomic_write_json(Path(run_dir) / "report.json", self.to_dict())
            _die()

        BridgeReport.write = killing_write
    run_case_study("deep-linear", "quick", out, device="cpu", progress=False, settings=SMALL, resume=out.exists())
    os._exit(0)


@pytest.mark.slow
def test_a_case_study_killed_in_training_and_in_its_report_resumes_to_the_same_report(tmp_path, capsys):
    from bridge.cli import main

    whole, cut = tmp_path / "whole", tmp_path / "cut"
    fork = multiprocessing.get_context("fork")
    args = ["run", "deep-linear", "--preset", "quick", "--device", "cpu", "--quiet", *[a for s in SMALL for a in ("--set", s)]]
    code = main([*args, "--out", str(whole)])
    for phase, at in [("step", 5), ("step", 60), ("before the report", 0), ("between report files", 0)]:
        proc = fork.Process(target=_study_child, args=(cut, phase, at))
        proc.start()
        proc.join()
        assert proc.exitcode == -signal.SIGKILL, f"the child did not reach {phase} {at}"
    assert not (cut / "report.md").exists()
    steps = sorted(p.name for p in (cut / "checkpoints").iterdir())
    assert main([*args, "--out", str(cut), "--resume"]) == code
    assert sorted(p.name for p in (cut / "checkpoints").iterdir()) == steps  # finished without retraining
    for name in ("metrics.csv", "events.json", "report.json", "report.md"):
        assert (cut / name).read_bytes() == (whole / name).read_bytes(), name
    for name in sorted(p.name for p in (whole / "checkpoints").iterdir()):
        assert (cut / "checkpoints" / name).read_bytes() == (whole / "checkpoints" / name).read_bytes(), name
    assert main(["report", str(cut)]) == code


def _sweep_child(config: RunConfig, out: Path, seeds: list[int], trackers, fault: Fault | None) -> None:
    import bridge.training.seeds as seeds_module
    from bridge.training.seeds import train_seeds

    if fault is not None:
        _install(fault)
        seeds_module.step_bar = __import__("bridge.training.loop", fromlist=["step_bar"]).step_bar  # the step fault reaches the stacked loop too
    resume = all((out / f"seed_{s}" / "run.json").exists() for s in seeds)
    train_seeds(config, seeds, out, trackers=lambda seed: trackers(), device="cpu", progress=False, resume=resume)
    os._exit(0)


@pytest.mark.slow
def test_a_stacked_sweep_killed_while_its_checkpoints_are_written_resumes_to_the_same_bytes(tmp_path):
    """train_seeds writes checkpoints from a background thread: kills inside those writes (and between steps)
    leave every seed resumable, and the resumed sweep ends byte for byte as an uninterrupted one."""
    from bridge.training.seeds import train_seeds

    config, trackers = deep_linear()
    seeds = [0, 1, 2]
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    train_seeds(config, seeds, whole, trackers=lambda seed: trackers(), device="cpu", progress=False)
    checkpoints = load_run(whole / "seed_0").steps
    rng = random.Random(7)
    faults = phase_faults(config.train.steps, checkpoints, rng) + [Fault("step", s) for s in rng.sample(range(1, config.train.steps), 5)]
    for fault in [Fault("step", 1), *sorted(faults, key=lambda f: f.at)]:
        proc = multiprocessing.get_context("fork").Process(target=_sweep_child, args=(config, cut, seeds, trackers, fault))
        proc.start()
        proc.join()
        assert proc.exitcode == -signal.SIGKILL, f"the child did not reach {fault}"
    proc = multiprocessing.get_context("fork").Process(target=_sweep_child, args=(config, cut, seeds, trackers, None))
    proc.start()
    proc.join()
    assert proc.exitcode == 0
    for s in seeds:
        a, b = whole / f"seed_{s}", cut / f"seed_{s}"
        assert load_run(b).status == "complete"
        names = sorted(p.name for p in (a / "checkpoints").iterdir())
        assert sorted(p.name for p in (b / "checkpoints").iterdir()) == names
        for name in names:
            assert (b / "checkpoints" / name).read_bytes() == (a / "checkpoints" / name).read_bytes(), (s, name)
        assert (b / "metrics.csv").read_bytes() == (a / "metrics.csv").read_bytes()
        assert _run_json(b) == _run_json(a)
        assert sorted(p.name for p in b.iterdir()) == sorted(p.name for p in a.iterdir())
