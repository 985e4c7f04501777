"""LinearProbe follows scikit-learn's estimator contract; a probe over checkpoints with a shuffled-label control."""

import numpy as np
import pytest
from sklearn.base import clone, is_classifier, is_regressor
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from bridge import RunConfig, ScheduleConfig, TrainConfig, train
from bridge.models import DeepLinearConfig
from bridge.tasks import HierarchyConfig, level_labels
from probes import LinearProbe, probe_over_checkpoints


def _blobs(seed=0, n=60, d=5, shift=2.0):
    rng = np.random.default_rng(seed)
    x = np.r_[rng.normal(size=(n, d)) + shift, rng.normal(size=(n, d)) - shift]
    return x, np.r_[np.ones(n), np.zeros(n)]


def test_clone_and_params_round_trip():
    probe = LinearProbe(alpha=0.5, estimator=LogisticRegression(C=3.0))
    params = probe.get_params()
    assert params["alpha"] == 0.5 and params["task"] == "classification" and params["estimator__C"] == 3.0
    copy = clone(probe)
    assert copy is not probe and copy.get_params()["estimator"] is not probe.estimator
    assert copy.get_params()["estimator__C"] == 3.0 and copy.alpha == 0.5
    assert copy.set_params(alpha=2.0, estimator__C=0.25) is copy
    assert (copy.alpha, copy.estimator.C, probe.alpha, probe.estimator.C) == (2.0, 0.25, 0.5, 3.0)
    x, y = _blobs()
    fitted = probe.fit(x, y)
    assert fitted is probe and not hasattr(clone(fitted), "estimator_")  # clone drops learned state
    assert probe.estimator_ is not probe.estimator and not hasattr(probe.estimator, "coef_")  # the given one is untouched
    np.testing.assert_array_equal(probe.classes_, [0.0, 1.0])
    assert probe.n_features_in_ == 5


def test_repr_shows_only_changed_parameters():
    assert repr(LinearProbe()) == "LinearProbe()"
    assert repr(LinearProbe(task="regression", alpha=0.1)) == "LinearProbe(alpha=0.1, task='regression')"
    assert "estimator=LogisticRegression(C=2.0)" in repr(LinearProbe(estimator=LogisticRegression(C=2.0)))


def test_cross_val_score_on_separable_and_on_shuffled_labels():
    x, y = _blobs(seed=1)
    good = cross_val_score(LinearProbe(), x, y, cv=5)
    assert good.mean() >= 0.95
    rng = np.random.default_rng(2)
    x_noise = rng.normal(size=(400, 5))
    y_noise = rng.permutation(np.r_[np.ones(200), np.zeros(200)])
    shuffled = cross_val_score(LinearProbe(), x_noise, y_noise, cv=5)
    assert 0.38 <= shuffled.mean() <= 0.62, shuffled


def test_pipeline_estimator_and_regression_kind():
    x, y = _blobs(seed=3)
    pipe = LinearProbe(estimator=make_pipeline(StandardScaler(), LogisticRegression()))
    assert is_classifier(pipe) and cross_val_score(pipe, x, y, cv=4).mean() >= 0.95
    assert pipe.get_params()["estimator__logisticregression__C"] == 1.0
    assert pipe.fit(x, y).predict_proba(x[:3]).shape == (3, 2)
    w = np.array([1.0, -2.0, 0.5, 0.0, 3.0])
    reg = LinearProbe(task="regression", estimator=make_pipeline(StandardScaler(), LinearRegression()))
    assert is_regressor(reg) and not is_classifier(reg)
    assert cross_val_score(reg, x, x @ w + 1.0, cv=4).mean() == pytest.approx(1.0, abs=1e-9)
    with pytest.raises(ValueError, match="does not match task"):
        LinearProbe(estimator=LinearRegression()).fit(x, y)
    with pytest.raises(ValueError, match="task must be"):
        LinearProbe(task="ranking").fit(x, y)


def test_a_probe_over_checkpoints_decodes_a_learned_level_and_not_shuffled_labels(tmp_path):
    depth = 6
    cfg = RunConfig(
        HierarchyConfig(depth=depth),
        DeepLinearConfig(2**depth, 64, 2 ** (depth + 1) - 1, init_std=0.005),
        TrainConfig(lr=0.05, steps=300, schedule=ScheduleConfig(n_log=0, every=100)),
        seed=0,
    )
    run = train(cfg, tmp_path / "run", progress=False)
    inputs, labels = run.task_data().train.x, level_labels(depth, 2)
    frames = [probe_over_checkpoints(run, inputs, labels[1], "hook_hidden.0", seed=s) for s in (0, 1, 2)]
    frame = frames[0]
    assert list(frame.columns) == ["step", "split", "score", "control_score"]
    assert frame["step"].tolist() == [s for s in run.steps for _ in range(2)] and set(frame["split"]) == {"train", "test"}
    test = frame[frame.split == "test"].set_index("step")
    assert test.loc[0, "score"] <= 0.75  # the random start does not carry the level
    for f in frames:
        end = f[f.step == run.steps[-1]].set_index("split")
        assert end.loc["test", "score"] >= 0.95 and end.loc["train", "score"] >= 0.95
        assert end.loc["train", "control_score"] >= 0.95  # 48 items in 64 dimensions: shuffled labels are memorised
    controls = np.concatenate([f[(f.split == "test") & (f.step > 0)]["control_score"].to_numpy() for f in frames])
    assert 0.25 <= controls.mean() <= 0.75, controls  # chance is 0.5
    level3 = probe_over_checkpoints(run, inputs, labels[3], "hook_hidden.0", estimator=LogisticRegression(C=10.0), shuffled_control=False)
    end = level3[level3.step == run.steps[-1]].set_index("split")
    assert end.loc["test", "score"] >= 0.9 and np.isnan(end.loc["test", "control_score"])
    with pytest.raises(ValueError, match="not checkpoints"):
        probe_over_checkpoints(run, inputs, labels[1], "hook_hidden.0", steps=[7])


def test_default_estimators_use_alpha_as_ridge_penalty_and_inverse_logistic_c():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(30, 4))
    t = x @ np.array([1.0, -1.0, 0.5, 2.0]) + 0.3 * rng.normal(size=30)
    alpha = 5.0
    xc, tc = x - x.mean(0), t - t.mean()  # ridge with an unpenalised intercept: centre, then (XᵀX + αI)⁻¹ Xᵀt
    coef = np.linalg.solve(xc.T @ xc + alpha * np.eye(4), xc.T @ tc)
    reg = LinearProbe(task="regression", alpha=alpha).fit(x, t)
    np.testing.assert_allclose(reg.predict(x), xc @ coef + t.mean(), rtol=1e-8, atol=1e-10)
    x, y = _blobs(seed=5)
    assert LinearProbe(alpha=0.25).fit(x, y).estimator_.C == pytest.approx(4.0)


def test_bad_alpha_and_mismatched_lengths_are_named():
    x, y = _blobs()
    for alpha in (0.0, -1.0):
        with pytest.raises(ValueError, match=f"alpha must be positive, got {alpha}"):
            LinearProbe(alpha=alpha).fit(x, y)
    with pytest.raises(ValueError, match=r"activations must be \(n, d\) with n = len\(labels\); got \(120, 5\) and \(119,\)"):
        LinearProbe().fit(x, y[:-1])
    fitted = LinearProbe().fit(x, y)
    with pytest.raises(ValueError, match="n = len"):
        fitted.score(x[:10], y[:9])


def test_probe_over_checkpoints_scores_each_fit_on_the_documented_items_and_labels():
    """The split, the permutation and the labels each score is read against, rebuilt from the docstring's contract."""
    from types import SimpleNamespace

    import torch
    from sklearn.model_selection import train_test_split

    rng = np.random.default_rng(6)
    n = 40
    y = np.r_[np.zeros(28, int), np.ones(12, int)]  # unbalanced: a stratified split keeps the 7 : 3 ratio
    inputs = torch.as_tensor(rng.normal(size=(n, 3)) + 1.5 * y[:, None], dtype=torch.float32)
    nets = {0: torch.nn.Sequential(torch.nn.Identity()), 5: torch.nn.Sequential(torch.nn.Tanh())}
    run = SimpleNamespace(steps=[0, 5], model_at=lambda step: nets[step])
    frame = probe_over_checkpoints(run, inputs, y, "0", seed=3)
    train_idx, test_idx = train_test_split(np.arange(n), test_size=0.25, random_state=3, stratify=y)
    assert y[test_idx].sum() == 3
    shuffled = np.random.default_rng(3).permutation(y[train_idx])
    for step, fn in ((0, lambda v: v), (5, np.tanh)):
        h = fn(inputs.numpy().astype(float))
        fit, control = LinearProbe().fit(h[train_idx], y[train_idx]), LinearProbe().fit(h[train_idx], shuffled)
        rows = frame[frame.step == step].set_index("split")
        assert rows.loc["train", "score"] == pytest.approx(fit.score(h[train_idx], y[train_idx]), abs=1e-9)
        assert rows.loc["test", "score"] == pytest.approx(fit.score(h[test_idx], y[test_idx]), abs=1e-9)
        assert rows.loc["train", "control_score"] == pytest.approx(control.score(h[train_idx], shuffled), abs=1e-9)
        assert rows.loc["test", "control_score"] == pytest.approx(control.score(h[test_idx], y[test_idx]), abs=1e-9)
    with pytest.raises(ValueError, match="labels has 39 entries but inputs has 40"):
        probe_over_checkpoints(run, inputs, y[:-1], "0")
