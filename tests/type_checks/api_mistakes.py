"""Mistakes a researcher makes with the public API, each caught by their type checker before anything runs.

Never imported or run: tests/test_types.py runs mypy over it and expects, on each line marked ``# E: CODE``,
exactly the errors of those codes, and no error on any other line.
"""

from dataclasses import dataclass

import numpy as np
from torch import nn

import bridge
from bridge import BridgeReport, RunConfig, ScheduleConfig, TrainConfig
from bridge.models import MODELS, DeepLinearConfig
from bridge.tasks import TASKS, LinearTeacherConfig, make_task
from bridge.tasks.base import TaskData
from bridge.theory import eigenlearning, saxe
from bridge.trackers import TRACKERS, Batched, Row, row
from bridge.trackers.modes import ModeTracker

config = RunConfig(LinearTeacherConfig((3.0, 2.0), d_in=4, d_out=4), DeepLinearConfig(4, 16, 4), TrainConfig(lr=0.05, steps=100))
run = bridge.load_run("runs/deep-linear")


@dataclass
class NoData:  # a tracker that forgot the data argument
    name: str = "no_data"

    def __call__(self, model: nn.Module, step: int) -> list[Row]:
        return [row("params/count", sum(p.numel() for p in model.parameters()))]


@dataclass
class OneRow:  # a tracker returning one row, not a list of rows
    name: str = "one_row"

    def __call__(self, model: nn.Module, step: int, data: TaskData) -> Row:
        return row("params/count", sum(p.numel() for p in model.parameters()))


class MeasureWithoutData(Batched):  # a batched tracker whose measure forgot the data argument
    name = "measure_without_data"

    def capture(self, model: nn.Module, step: int, data: TaskData) -> float:
        return float(sum(p.numel() for p in model.parameters()))

    def measure(self, captures: list[float]) -> list[list[Row]]:  # E: override
        return [[row("params/count", c)] for c in captures]


class MeasureFlatRows(Batched):  # measure returns one list of rows for all captures, not one list per capture
    name = "measure_flat_rows"

    def capture(self, model: nn.Module, step: int, data: TaskData) -> float:
        return 1.0

    def measure(self, captures: list[float], data: TaskData) -> list[Row]:  # E: override
        return [row("params/count", c) for c in captures]


bridge.train(config, "runs/x", trackers=[NoData()])  # E: list-item
bridge.train(config, "runs/x", trackers=[OneRow()])  # E: list-item
bridge.train(config, "runs/x", trackers=[ModeTracker(), NoData()])  # E: list-item
bridge.train(config, "runs/x", [ModeTracker()])  # E: call-arg
bridge.analyze(run, NoData())  # E: arg-type
bridge.train_seeds(config, range(4), "runs/seeds", trackers=[ModeTracker()])  # E: arg-type


@TRACKERS.register("no_data")  # E: arg-type
@dataclass
class RegisteredNoData:
    name: str = "registered_no_data"

    def __call__(self, model: nn.Module, step: int) -> list[Row]:
        return []


@MODELS.register("no_seed")  # E: arg-type
def build_without_seed(config: DeepLinearConfig) -> nn.Module:
    return nn.Linear(config.d_in, config.d_out)


@MODELS.register("no_seed_class")  # E: arg-type
class NoSeed(nn.Module):
    def __init__(self, config: DeepLinearConfig) -> None:
        super().__init__()


@MODELS.register("returns_weights")  # E: arg-type
def build_weights(config: DeepLinearConfig, seed: int) -> np.ndarray:
    return np.zeros((config.d_out, config.d_in))


@TASKS.register("returns_tensors")  # E: arg-type
def task_as_tensors(config: LinearTeacherConfig, seed: int) -> tuple[np.ndarray, np.ndarray]:
    data = make_task(config, seed)
    return data.train.x.numpy(), data.train.y.numpy()


# configs given the wrong types
TrainConfig(lr="3e-3")  # E: arg-type
TrainConfig(steps=1e4)  # E: arg-type
TrainConfig(schedule={"n_log": 10})  # E: arg-type
ScheduleConfig(every="100")  # E: arg-type
RunConfig(config.task, config.model, config.train, seed="0")  # E: arg-type
config.train.lr = 0.1  # E: misc

# a run's values misread
steps, values, index = run.curve("mode/strength", mode=0)  # E: misc
run.model_at("last")  # E: arg-type
run.report["verdict"]  # E: index
run.observable("loss/train").iloc[-1] + "!"  # E: operator

# theory given the wrong things
saxe.half_rise_step("3.0", 0.01, 0.05)  # E: arg-type
saxe.predict_modes(np.array([3.0]), np.array([0.01]), lr="0.05")  # E: arg-type
eigenlearning.predict([1.0, 0.5], [1.0, 0.0], n="100")  # E: arg-type
eigenlearning.predict([1.0, 0.5], [1.0, 0.0])  # E: call-arg
eigenlearning.predict([1.0, 0.5], [1.0, 0.0], 100).test_mse + "!"  # E: operator

# sweeps and reports
bridge.sweep(config, "sweeps/lr", grid={"train.lr": 0.05})  # E: dict-item
bridge.load_sweep("sweeps/lr").run(0)  # E: arg-type
BridgeReport("teacher-modes", "quick", seed="0")  # E: arg-type
BridgeReport("teacher-modes", "quick", 0).checks.append("loss falls")  # E: arg-type
