"""A researcher's code over the public API, with the type each value must have for their type checker.

Never imported or run: tests/test_types.py runs mypy over it and expects nothing. Each ``assert_type`` holds
only when mypy infers exactly that type, so an API name that reads as ``Any`` (a lazily loaded name without its
annotation, an ``-> Any`` return) fails here. pandas's tables are read through its stubs (pandas-stubs, in the dev
extra), so a table pinned as ``pd.DataFrame`` fails if it reads as a Series, a union or ``Any``.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any, assert_type

import numpy as np
import pandas as pd
import torch
from torch import nn

import bridge
import probes
from bridge import BridgeReport, Check, Event, Match, Run, RunConfig, ScheduleConfig, Sweep, TrainConfig
from bridge.config import config_class
from bridge.estimators import LLCResult, SGLDConfig, empirical_ntk, estimate_llc
from bridge.match import check, match
from bridge.models import MODELS, DeepLinearConfig, DeepLinearNetwork, MLPConfig, build_model
from bridge.report import ReportJSON
from bridge.stages.rises import sustained_rise
from bridge.tasks import TASKS, LinearTeacherConfig, make_task
from bridge.tasks.base import Split, TaskData
from bridge.theory import eigenlearning, saxe
from bridge.theory.base import Prediction
from bridge.theory.eigenlearning import EigenlearningPrediction
from bridge.trackers import TRACKERS, Batched, Row, Tracker, check_tracker, evaluating, get_tracker, row
from bridge.trackers.modes import ModeTracker
from case_studies.base import CaseStudy, get_case_study, register, target_domains
from case_studies.generality import SeedReport, load_robustness, load_seed_report

# a run read back
run = bridge.load_run("runs/deep-linear")
assert_type(run, Run)
assert_type(run.config, RunConfig)
assert_type(run.config.train, TrainConfig)
assert_type(run.config.train.lr, float)
assert_type(run.config.seed, int)
assert_type(run.steps, list[int])
assert_type(run.status, str)
assert_type(run.path, Path)
assert_type(run.metrics, pd.DataFrame)
assert_type(run.observable("mode/strength", mode=0), "pd.Series[float]")
assert_type(run.observable("loss/train").iloc[-1], float)
assert_type(run.observable("loss/train").to_numpy(), np.ndarray[tuple[int], np.dtype[np.floating[Any]]])
assert_type(run.table("mode/strength", "mode"), pd.DataFrame)
assert_type(run.curve("loss/train"), tuple[np.ndarray, np.ndarray])
steps, values = run.curve("mode/strength", mode=0)
assert_type(steps, np.ndarray)
assert_type(run.model_at(run.steps[-1]), nn.Module)
assert_type(run.model_at(0, "cpu", train=True), nn.Module)
data = run.task_data()
assert_type(data, TaskData)
assert_type(data.train, Split)
assert_type(data.train.x, torch.Tensor)
assert_type(data.test, Split | None)
assert_type(data.info, dict[str, Any])
assert_type(run.report, ReportJSON | None)  # a dict a notebook shows as the report's tables
assert_type(run.events, list[dict[str, Any]])
assert_type(run.figures_dir, Path)


# training, analysing, comparing
@dataclass
class LayerNorms:
    name: str = "layer_norms"

    def __call__(self, model: nn.Module, step: int, data: TaskData) -> list[Row]:
        with evaluating(model):
            return [row("weights/norm", float(p.norm()), group=key) for key, p in model.named_parameters()]


class TopSingular(Batched):
    name = "top_singular"

    def capture(self, model: nn.Module, step: int, data: TaskData) -> torch.Tensor:
        return torch.cat([p.detach().flatten() for p in model.parameters()])

    def measure(self, captures: list[torch.Tensor], data: TaskData) -> list[list[Row]]:
        return [[row("params/norm", c.norm())] for c in captures]


config = RunConfig(LinearTeacherConfig((3.0, 2.0), d_in=4, d_out=4), DeepLinearConfig(4, 16, 4), TrainConfig(lr=0.05, steps=100, schedule=ScheduleConfig(n_log=10)), seed=0)
assert_type(config, RunConfig)
assert_type(config.train.schedule, ScheduleConfig)
assert_type(bridge.train(config, "runs/x", trackers=[LayerNorms(), TopSingular(), ModeTracker()], progress=False), Run)
assert_type(bridge.train_seeds(config, range(4), "runs/seeds", trackers=lambda: [ModeTracker()]), list[Run])
assert_type(bridge.analyze(run, [LayerNorms()], progress=False), Run)
assert_type(bridge.analyze("runs/x", [TopSingular()], steps=[0, 100]), Run)
assert_type(bridge.compare({"a": run, "b": "runs/x"}, "hook_hidden.0", data.train.x), pd.DataFrame)
assert_type(row("loss/train", 0.5, split="train"), Row)
assert_type(check_tracker(LayerNorms(), build_model(MLPConfig(d_in=4, d_out=1, widths=(8,)), seed=0), data), list[Row])
assert_type(get_tracker("sharpness", k=2), Tracker)

# sweeps
sweep = bridge.sweep(config, "sweeps/lr", grid={"train.lr": [0.02, 0.05]}, seeds=range(2), progress=False)
assert_type(sweep, Sweep)
assert_type(bridge.load_sweep("sweeps/lr"), Sweep)
assert_type(sweep.keys, list[str])
assert_type(sweep.run("train.lr=0.05__seed=0"), Run)
assert_type(sweep.runs, dict[str, Run])
assert_type(sweep.table, pd.DataFrame)
assert_type(sweep.status(), pd.DataFrame)


# registries: a config kind, a model and a task of one's own keep their types
@config_class("two_layer")
@dataclass(frozen=True)
class TwoLayerConfig:
    d_in: int = 6
    width: int = 32


@MODELS.register("two_layer")
class TwoLayer(nn.Module):
    def __init__(self, config: TwoLayerConfig, seed: int) -> None:
        super().__init__()
        self.inp = nn.Linear(config.d_in, config.width)


@MODELS.register("two_layer_fn")
def two_layer(config: TwoLayerConfig, seed: int) -> nn.Module:
    return TwoLayer(config, seed)


@TASKS.register("two_layer_task")
def two_layer_task(config: TwoLayerConfig, seed: int) -> TaskData:
    return make_task(LinearTeacherConfig((1.0,), d_in=config.d_in, d_out=1), seed)


@TRACKERS.register("layer_norms")
@dataclass
class RegisteredNorms(LayerNorms):
    name: str = "registered_norms"


assert_type(TwoLayerConfig(d_in=3), TwoLayerConfig)
assert_type(TwoLayer(TwoLayerConfig(), 0), TwoLayer)
assert_type(RegisteredNorms(), RegisteredNorms)
assert_type(build_model(DeepLinearConfig(2, 4, 2), 0), nn.Module)
assert_type(make_task(LinearTeacherConfig((2.0,), d_in=2, d_out=2), 0), TaskData)
assert_type(MODELS.names(), list[str])
assert_type(TRACKERS.get("layer_norms"), type[Tracker])

# the class decorators give back the class they decorate (a checker that applies a class decorator's return type,
# as pyright does, would otherwise see a bare ``type`` and lose the class's fields and constructor)
@dataclass(frozen=True)
class WidthConfig:
    width: int = 32


@dataclass(frozen=True)
class StudyTargets:
    tol: float = 0.1


class MyStudy(CaseStudy):
    presets = {"quick": None}

    def runs(self, preset: Any, seed: int) -> dict[str, RunConfig]:
        return {"main": config}

    def analyse(self, runs: Any, preset: Any) -> BridgeReport:
        return BridgeReport("my-study", "quick", 0)


assert_type(config_class("width")(WidthConfig), type[WidthConfig])
assert_type(target_domains(tol="positive")(StudyTargets), type[StudyTargets])
assert_type(register("my-study")(MyStudy), type[MyStudy])

# theory, matching, reports
prediction = eigenlearning.predict([1.0, 0.5, 0.1], [1.0, 0.3, 0.0], n=20)
assert_type(prediction, EigenlearningPrediction)
assert_type(prediction.test_mse, float)
assert_type(eigenlearning.effective_regularisation(np.array([1.0, 0.1]), 10), float)
assert_type(eigenlearning.elasticity([1.0, 0.1], [1.0, 1.0], 10), np.ndarray)
net = run.model_at(0)
assert isinstance(net, DeepLinearNetwork)
u0 = saxe.effective_initial_strength(net.weights[0].detach(), net.weights[1].detach(), data.info["U"], data.info["V"])
assert_type(u0, torch.Tensor)
predictions = saxe.predict_modes(np.array([3.0, 2.0]), u0.numpy(), lr=0.05)
assert_type(predictions, list[Prediction])
assert_type(predictions[0].step, float | None)
assert_type(saxe.half_rise_step(3.0, 0.01, 0.05), float)
assert_type(saxe.mode_trajectory(steps, 3.0, 0.01, 0.05), np.ndarray)
rise = sustained_rise(steps, values, name="mode 0 half-rise", observable="mode/strength", top=3.0)
assert_type(rise, Event | None)
assert_type(match("mode 0", predictions[0].step, rise, None, 0.15, require_mechanism=False), Match)
assert_type(check("loss falls", 0.01, "<= 0.05", True, role="precondition"), Check)
report = BridgeReport("teacher-modes", "quick", seed=0)
report.checks.append(check("loss falls", 0.01, "<= 0.05", True))
assert_type(report.verdict, str)
assert_type(report.failed_claims, list[str])
assert_type(report.to_dict(), dict[str, Any])
assert_type(report.write("runs/x"), Path)
assert_type(get_case_study("deep-linear"), CaseStudy)
assert_type(load_seed_report("runs/deep-linear-seeds"), SeedReport)
assert_type(load_robustness("runs/robust").run("train.lr=0.1", 0), Run)

# estimators and probes
kernel = empirical_ntk(net, data.train.x)
assert_type(kernel, torch.Tensor)
llc = estimate_llc(net, data.loss, data.train, SGLDConfig(n_chains=2, n_draws=100), seed=0)
assert_type(llc, LLCResult)
assert_type(llc.mean, float)
assert_type(probes.cached_activation(net, data.train.x, "hook_hidden.0"), torch.Tensor)
assert_type(probes.linear_cka(data.train.x, data.train.x, debiased=True), float)
assert_type(probes.probe_over_checkpoints(run, data.train.x, (data.train.y[:, 0] > 0).long(), hook="hook_hidden.0"), pd.DataFrame)
