"""How the Ray and submitit backends hand out jobs, read against stand-ins for the two packages that run
each job in this process: CPUs per task, jobs at once, parameters, failures, and a sweep on the Ray stand-in."""

import sys
import types
import warnings

import pytest

import bridge
from bridge import ConfigError, RunConfig, ScheduleConfig, TrainConfig
from bridge.models import MLPConfig
from bridge.sweep import backends
from bridge.sweep.backends import Job, RayBackend, SubmititBackend
from bridge.sweep.family import family_jobs, train_family
from bridge.tasks import LinearTeacherConfig


def tiny(steps=4):
    return RunConfig(
        task=LinearTeacherConfig((2.0, 1.0), d_in=4, d_out=3, n_train=16),
        model=MLPConfig(d_in=4, d_out=3, widths=(8,), activation="tanh"),
        train=TrainConfig(optimizer="adam", lr=0.01, steps=steps, batch_size=8, schedule=ScheduleConfig(n_log=0, every=2)),
    )


def outcome(key, status="done"):
    return {"key": key, "status": status}


def boom(key):
    raise RuntimeError("first line\n  detail\nValueError: the last line")


class Ref:
    def __init__(self, fn, args):
        self.fn, self.args = fn, args


class FakeRay(types.ModuleType):
    """``ray`` as the Ray backend uses it; a task runs when its result is asked for, the last submitted first."""

    def __init__(self):
        super().__init__("ray")
        self.init_args, self.options, self.lost = None, [], False

    def is_initialized(self):
        return self.init_args is not None

    def init(self, **kwargs):
        self.init_args = kwargs

    def remote(self, fn):
        ray = self

        class Remote:
            def options(self, **kwargs):
                ray.options.append((fn, kwargs))
                return self

            def remote(self, *args):
                return Ref(fn, args)

        return Remote()

    def wait(self, refs, num_returns=1):
        return refs[-num_returns:], refs[:-num_returns]

    def get(self, ref):
        if self.lost:
            raise RuntimeError("the worker died\nwhile running the task")
        return ref.fn(*ref.args)


class FakeSubmitit(types.ModuleType):
    """``submitit`` as the submitit backend uses it; a job is done at its second poll."""

    def __init__(self):
        super().__init__("submitit")
        self.executors, self.in_flight, self.most_at_once = [], 0, 0
        module = self

        class Handle:
            def __init__(self, fn, args):
                self.fn, self.args, self.polls = fn, args, 0

            def done(self):
                self.polls += 1
                return self.polls > 1

            def result(self):
                module.in_flight -= 1
                return self.fn(*self.args)

        class AutoExecutor:
            def __init__(self, folder, cluster=None):
                self.folder, self.cluster, self.parameters = folder, cluster, {}
                module.executors.append(self)

            def update_parameters(self, **kwargs):
                self.parameters.update(kwargs)

            def submit(self, fn, *args):
                module.in_flight += 1
                module.most_at_once = max(module.most_at_once, module.in_flight)
                return Handle(fn, args)

        self.AutoExecutor = AutoExecutor


@pytest.fixture
def ray(monkeypatch):
    fake = FakeRay()
    monkeypatch.setitem(sys.modules, "ray", fake)
    return fake


@pytest.fixture
def submitit(monkeypatch):
    fake = FakeSubmitit()
    monkeypatch.setitem(sys.modules, "submitit", fake)
    monkeypatch.setattr(backends, "POLL_SECONDS", 0.0)
    return fake


def test_ray_tasks_reserve_their_threads_and_report_in_the_order_they_finish(ray):
    done = []
    jobs = [Job(outcome, ("a",), "a", threads=1), Job(outcome, ("b",), "b", threads=3), Job(boom, ("c",), "c", threads=2)]
    RayBackend(workers=3).run(jobs, done.append)
    assert ray.init_args["num_cpus"] == 3
    assert [kwargs for _, kwargs in ray.options] == [{"num_cpus": 1, "max_retries": 0}, {"num_cpus": 3, "max_retries": 0}, {"num_cpus": 2, "max_retries": 0}]
    assert done == [{"key": "c", "status": "failed", "error": "RuntimeError: first line"}, outcome("b"), outcome("a")]


def test_submitit_runs_at_most_workers_jobs_at_once_with_the_largest_thread_count(submitit):
    done = []
    jobs = [Job(outcome, (k,), k, threads=t) for k, t in (("a", 1), ("b", 3), ("c", 2), ("d", 1), ("e", 1))] + [Job(boom, ("f",), "f")]
    SubmititBackend("jobs", cluster="debug", workers=2, parameters=(("timeout_min", 60), ("slurm_partition", "gpu"))).run(jobs, done.append)
    (executor,) = submitit.executors
    assert (executor.folder, executor.cluster) == ("jobs", "debug")
    assert executor.parameters == {"timeout_min": 60, "cpus_per_task": 3, "slurm_partition": "gpu"}  # given parameters win
    assert submitit.most_at_once == 2
    assert sorted(o["key"] for o in done) == list("abcdef")
    assert [o for o in done if o["status"] == "failed"] == [{"key": "f", "status": "failed", "error": "RuntimeError: ValueError: the last line"}]
    SubmititBackend("more").run([Job(outcome, ("a",), "a")], [].append)
    assert submitit.executors[-1].parameters == {"timeout_min": 24 * 60, "cpus_per_task": 1}


def test_a_study_family_keeps_its_submitit_files_under_runs_and_names_a_failed_runs_first_error_line(tmp_path, submitit):
    def train_one(*args):
        if args[-2] == "lr_1":
            raise RuntimeError("the run diverged\nTraceback follows")

    jobs = family_jobs(train_one, ("study", "quick"), ["main", "lr_1"], tmp_path, {"main": 2})
    with pytest.warns(RuntimeWarning, match=r"run 'lr_1' failed on the submitit backend \(RuntimeError: the run diverged\); resuming it"):
        outcomes = train_family("submitit", jobs, tmp_path, cluster="debug")
    assert submitit.executors[0].folder == str(tmp_path / "runs" / ".submitit")
    assert submitit.executors[0].parameters["cpus_per_task"] == 2
    assert sorted((o["key"], o["status"]) for o in outcomes) == [("lr_1", "failed"), ("main", "done")]


def test_a_sweep_on_ray_may_reserve_every_cpu_of_the_ray_it_starts(tmp_path, ray):
    swept = bridge.sweep(tiny(), tmp_path / "sw", grid={"train.lr": [1e-3, 1e-2]}, backend="ray", workers=1, threads=1, progress=False)
    assert swept.table["status"].tolist() == ["done", "done"]
    assert ray.init_args["num_cpus"] == 1 and [kwargs["num_cpus"] for _, kwargs in ray.options] == [1, 1]
    with pytest.raises(ConfigError, match="threads=2 exceeds the 1 CPUs"):
        bridge.sweep(tiny(), tmp_path / "big", grid={"train.lr": [1e-3]}, backend="ray", workers=1, threads=2, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert bridge.sweep(tiny(), tmp_path / "sw", grid={"train.lr": [1e-3, 1e-2]}, backend="ray", workers=1, threads=1, progress=False).trained == ()


def test_a_stack_whose_ray_worker_dies_fails_each_of_its_points(tmp_path, ray):
    ray.lost = True
    swept = bridge.sweep(tiny(), tmp_path / "sw", grid={"train.lr": [1e-2]}, seeds=[0, 1], backend="ray", workers=1, progress=False)
    assert len(ray.options) == 1  # the two seeds: one stacked task
    status = swept.status().set_index("key")
    assert status["status"].to_dict() == {"train.lr=0.01__seed=0": "failed", "train.lr=0.01__seed=1": "failed"}
    assert set(status["error"]) == {"RuntimeError: the worker died"}
    assert swept.table["status"].tolist() == ["failed", "failed"]
