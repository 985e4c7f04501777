"""bridge.compare: CKA and RSA between runs over training, as a tidy table."""

import pandas as pd
import pytest
import torch

import bridge
from bridge import RunConfig, ScheduleConfig, TrainConfig, train
from bridge.models import DeepLinearConfig
from bridge.tasks import LinearTeacherConfig
from probes.similarity import linear_cka, rsa


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("compare")
    runs = []
    for seed, width in ((0, 8), (1, 12)):
        cfg = RunConfig(task=LinearTeacherConfig((3.0, 1.5, 0.5), d_in=6, d_out=4), model=DeepLinearConfig(6, width, 4, init_std=0.05),
                        train=TrainConfig(optimizer="gd", lr=0.1, steps=40, schedule=ScheduleConfig(n_log=4, every=20)), seed=seed)
        runs.append(train(cfg, root / f"seed{seed}", progress=False))
    return runs


def test_a_run_with_itself_is_one_and_the_table_has_every_pair_and_step(two_runs):
    a, b = two_runs
    inputs = torch.randn(16, 6, generator=torch.Generator().manual_seed(0))
    table = bridge.compare({"a": a, "a again": a, "b": b}, "hook_hidden.0", inputs)
    assert list(table.columns) == ["step", "run_a", "run_b", "cka", "cka_debiased", "rsa"]
    steps = sorted(set(a.steps) & set(b.steps))
    assert len(steps) >= 4
    assert len(table) == 3 * len(steps)
    assert set(zip(table.run_a, table.run_b)) == {("a", "a again"), ("a", "b"), ("a again", "b")}
    assert sorted(table.step.unique()) == steps
    same = table[(table.run_a == "a") & (table.run_b == "a again")]
    for column in ("cka", "cka_debiased", "rsa"):
        torch.testing.assert_close(torch.tensor(same[column].to_numpy()), torch.ones(len(steps), dtype=torch.float64), rtol=0, atol=1e-9)
    # a pair of different runs equals the estimators on the hidden layer computed from the weights directly
    for step in (steps[0], steps[-1]):
        x = inputs @ a.model_at(step).weights[0].detach().T
        y = inputs @ b.model_at(step).weights[0].detach().T
        row = table[(table.step == step) & (table.run_a == "a") & (table.run_b == "b")].iloc[0]
        assert row.cka == pytest.approx(linear_cka(x, y), abs=1e-6)
        assert row.cka_debiased == pytest.approx(linear_cka(x, y, debiased=True), abs=1e-6)
        assert row.rsa == pytest.approx(rsa(x, y), abs=1e-6)
        assert row.cka < 0.999  # different seeds and teachers: not trivially identical


def test_paths_given_steps_and_bad_input(two_runs):
    a, b = two_runs
    inputs = torch.randn(8, 6, generator=torch.Generator().manual_seed(1))
    table = bridge.compare([a.path, b.path], "hook_out", inputs, steps=[a.steps[-1]])
    assert isinstance(table, pd.DataFrame) and len(table) == 1
    assert (table.run_a.iloc[0], table.run_b.iloc[0]) == ("seed0", "seed1")
    with pytest.raises(ValueError, match="no checkpoint at step"):
        bridge.compare([a, b], "hook_out", inputs, steps=[7])
    with pytest.raises(ValueError, match="at least 2 runs"):
        bridge.compare([a], "hook_out", inputs)
    with pytest.raises(ValueError, match="given twice"):
        bridge.compare([a, a], "hook_out", inputs)
    with pytest.raises(ValueError, match="at least 4 rows"):
        bridge.compare([a, b], "hook_out", inputs[:3])
    with pytest.raises(KeyError, match="hook_nowhere"):
        bridge.compare([a, b], "hook_nowhere", inputs)


@pytest.mark.parametrize("steps, named", [([20.5], r"20\.5 is not an integer"), ([20, True], "True is not an integer"), (["20"], "'20' is not an integer"), ([], "no step")])
def test_given_steps_that_are_not_integers_or_none_are_refused_by_name(two_runs, steps, named):
    # int() read 20.5 as step 20, True as step 1 and "20" as 20; no step gave an empty table
    with pytest.raises(ValueError, match=rf"steps must name checkpoint steps as integers, got .*\({named}\)"):
        bridge.compare(two_runs, "hook_out", torch.zeros(4, 6), steps=steps)


def test_runs_of_one_name_in_two_folders_are_labelled_by_path_and_only_shared_steps_are_compared(two_runs, tmp_path):
    import shutil

    a, b = two_runs
    inputs = torch.randn(8, 6, generator=torch.Generator().manual_seed(2))
    copy = shutil.copytree(a.path, tmp_path / "elsewhere" / a.path.name)  # seed0 again, in another folder
    table = bridge.compare([a.path, copy], "hook_hidden.0", inputs, steps=[a.steps[-1]])
    assert (table.run_a.iloc[0], table.run_b.iloc[0]) == (str(a.path), str(copy)) and table.cka.iloc[0] == pytest.approx(1.0)
    sparse = RunConfig(task=LinearTeacherConfig((3.0, 1.5, 0.5), d_in=6, d_out=4), model=DeepLinearConfig(6, 8, 4, init_std=0.05),
                       train=TrainConfig(optimizer="gd", lr=0.1, steps=40, schedule=ScheduleConfig(n_log=0, every=20)), seed=2)
    c = train(sparse, tmp_path / "sparse", progress=False)
    assert c.steps == [0, 20, 40] and set(c.steps) < set(a.steps)
    assert sorted(bridge.compare([a, c], "hook_hidden.0", inputs).step.unique()) == [0, 20, 40]


def test_the_rsa_settings_reach_the_estimator_and_labels_that_read_alike_are_refused(two_runs):
    a, b = two_runs
    inputs = torch.randn(10, 6, generator=torch.Generator().manual_seed(3))
    step = a.steps[-1]
    x = inputs @ a.model_at(step).weights[0].detach().T
    y = inputs @ b.model_at(step).weights[0].detach().T
    for metric in ("euclidean", "correlation"):
        for method in ("spearman", "pearson"):
            row = bridge.compare([a, b], "hook_hidden.0", inputs, steps=[step], rsa_metric=metric, rsa_method=method).iloc[0]
            assert row.rsa == pytest.approx(rsa(x, y, metric=metric, method=method), abs=1e-9), (metric, method)
    values = {(m, k): rsa(x, y, metric=m, method=k) for m in ("euclidean", "correlation") for k in ("spearman", "pearson")}
    assert len({round(v, 6) for v in values.values()}) == 4  # the four settings give four values: each is checked
    with pytest.raises(ValueError, match=r"two runs have one label once written as text \(\['0', '0', 'c'\]\)"):
        bridge.compare({0: a, "0": b, "c": b}, "hook_hidden.0", inputs)
