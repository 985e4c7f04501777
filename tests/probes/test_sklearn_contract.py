"""Probes against scikit-learn's own estimator checks, and the parts of the contract each probe claims."""

import inspect

import numpy as np
import pytest
from scipy import sparse
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVR
from sklearn.utils import get_tags
from sklearn.utils.estimator_checks import parametrize_with_checks

from bridge.tasks import level_labels
from probes import Differentiation, LinearProbe

# Checks that cannot pass by design, each with its reason; strict, so a check that starts passing fails here.
EXPECTED_FAILED_CHECKS = {
    "check_fit_score_takes_y": "fit and score name their arguments activations, labels; scikit-learn's tools pass them by position",
    "check_n_features_in_after_fitting": "it calls score(X, y=y) with the keyword y; the feature count check is tested below by position",
}

PROBES = [
    LinearProbe(),
    LinearProbe(task="regression"),
    LinearProbe(estimator=make_pipeline(StandardScaler(), LogisticRegression())),
]
STRICT = {"xfail_strict": True} if "xfail_strict" in inspect.signature(parametrize_with_checks).parameters else {}  # scikit-learn >= 1.8


@parametrize_with_checks(PROBES, expected_failed_checks=lambda probe: EXPECTED_FAILED_CHECKS, **STRICT)
def test_linear_probe_passes_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


def _separable(seed, n=40, d=6, margin=1.0):
    """Two classes split by a hyperplane with a gap of ``2 * margin`` along a random unit direction."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=d)
    w /= np.linalg.norm(w)
    x = rng.normal(size=(2 * n, d))
    x -= np.outer(x @ w, w)  # project out w, then place each class on its side
    y = np.r_[np.ones(n), np.zeros(n)]
    x += np.outer(np.where(y == 1, 1.0, -1.0) * (margin + rng.uniform(0, 1, 2 * n)), w)
    return x, y


def test_fit_returns_self_and_learned_attributes_appear_only_after_fit():
    x, y = _separable(0)
    for probe, learned in ((LinearProbe(), {"estimator_", "n_features_in_", "classes_"}), (LinearProbe(task="regression"), {"estimator_", "n_features_in_"})):
        assert not {k for k in vars(probe) if k.endswith("_")}
        assert set(vars(probe)) == {"task", "alpha", "estimator"}  # the constructor stores hyperparameters only
        assert probe.fit(x, y) is probe
        assert {k for k in vars(probe) if k.endswith("_")} == learned


def test_clone_of_a_fitted_probe_is_unfitted_with_the_same_params():
    x, y = _separable(1)
    probe = LinearProbe(alpha=0.3, estimator=None).fit(x, y)
    copy = clone(probe)
    assert copy.get_params() == probe.get_params()
    assert not hasattr(copy, "estimator_") and not hasattr(copy, "n_features_in_")
    with pytest.raises(NotFittedError):
        copy.predict(x)
    np.testing.assert_array_equal(copy.fit(x, y).predict(x), probe.predict(x))


def test_set_params_then_fit_uses_the_new_params():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(30, 3))
    t = x @ np.array([1.0, -2.0, 0.5])
    probe = LinearProbe(task="regression", alpha=1e-8).fit(x, t)
    assert probe.score(x, t) == pytest.approx(1.0, abs=1e-9)
    assert probe.set_params(alpha=1e3) is probe and probe.alpha == 1e3
    xc, tc = x - x.mean(0), t - t.mean()  # ridge with an unpenalised intercept, closed form
    coef = np.linalg.solve(xc.T @ xc + 1e3 * np.eye(3), xc.T @ tc)
    np.testing.assert_allclose(probe.fit(x, t).estimator_.coef_, coef, rtol=1e-10)
    assert 0.0 < probe.score(x, t) < 0.9  # strong shrinkage now costs fit


@pytest.mark.parametrize("method", ["predict", "predict_proba", "decision_function", "score"])
def test_methods_before_fit_raise_not_fitted_error(method):
    x, y = _separable(3)
    args = (x, y) if method == "score" else (x,)
    with pytest.raises(NotFittedError, match="LinearProbe instance is not fitted yet"):
        getattr(LinearProbe(), method)(*args)


def test_separable_activations_are_decoded_exactly_and_shuffled_labels_at_chance():
    accuracies, controls = [], []
    for seed in range(8):
        x, y = _separable(seed, n=80)
        rng = np.random.default_rng(seed)
        order = rng.permutation(160)
        train, test = order[:80], order[80:]
        accuracies.append(LinearProbe().fit(x[train], y[train]).score(x[test], y[test]))
        control = LinearProbe().fit(x[train], rng.permutation(y[train]))
        controls.append(control.score(x[test], y[test]))
    assert accuracies == [1.0] * 8
    assert 0.4 <= np.mean(controls) <= 0.6, controls  # chance is 0.5; the mean of 8 x 80 test items has sd 0.02


def test_activations_of_another_size_after_fit_are_named():
    x, y = _separable(4, d=6)
    probe = LinearProbe().fit(x.reshape(-1, 2, 3), y)  # (n, 2, 3) activations flatten to 6
    np.testing.assert_array_equal(probe.predict(x), probe.predict(x.reshape(-1, 3, 2)))
    for method, args in (("predict", (x[:, :4],)), ("score", (x[:, :4], y)), ("predict_proba", (x[:, :4],))):
        with pytest.raises(ValueError, match="X has 4 features, but LinearProbe is expecting 6 features"):
            getattr(probe, method)(*args)
    with pytest.raises(ValueError, match=r"got shape \(6,\). Reshape your data"):
        probe.predict(x[0])


def test_missing_labels_and_sparse_activations_are_refused_by_name():
    x, y = _separable(5)
    with pytest.raises(ValueError, match="labels are required"):
        LinearProbe().fit(x, None)
    with pytest.raises(ValueError, match="activations must be a dense array, got a scipy sparse csr_matrix"):
        LinearProbe().fit(sparse.csr_matrix(x), y)
    fitted = LinearProbe().fit(x, y)
    with pytest.raises(ValueError, match="activations must be a dense array"):
        fitted.predict(sparse.csr_array(x))


def test_complex_activations_are_refused_rather_than_cast_to_their_real_part():
    x, y = _separable(8)
    with pytest.raises(ValueError, match="Complex data not supported: activations must be real, got complex128"):
        LinearProbe().fit(x + 1j * x, y)


def test_a_regression_probe_declares_the_multi_output_targets_it_fits():
    x, _ = _separable(9)
    targets = x @ np.array([[1.0, 0.0], [-1.0, 2.0], [0.5, 0.0], [0.0, 0.0], [0.0, 1.0], [3.0, -1.0]])  # (n, 2)
    probe = LinearProbe(task="regression", alpha=1e-8).fit(x, targets)
    assert probe.predict(x).shape == (80, 2) and probe.score(x, targets) == pytest.approx(1.0, abs=1e-9)
    assert get_tags(probe).target_tags.multi_output
    assert not get_tags(LinearProbe(task="regression", estimator=SVR())).target_tags.multi_output  # the given estimator's own tag
    assert not get_tags(LinearProbe()).target_tags.multi_output  # logistic regression: one label per item


def test_differentiation_fit_returns_self_with_learned_state_in_underscore_attributes():
    rng = np.random.default_rng(6)
    measure = Differentiation()
    assert not {k for k in vars(measure) if k.endswith("_")}
    assert measure.fit(rng.normal(size=(8, 4)), level_labels(3, 2)) is measure
    assert {k for k in vars(measure) if k.endswith("_")} == {"between_", "chance_", "ratio_", "ratio_sd_", "contrasts_"}
    assert {k for k in vars(measure) if not k.endswith("_")} <= {"_key", "_tree", "_groups", "_contrasts"}  # a cache, not state


def test_a_differentiation_fit_that_raises_leaves_the_earlier_fit_intact():
    rng = np.random.default_rng(7)
    h = rng.normal(size=(4, 3))
    measure = Differentiation().fit(h, level_labels(2, 2))
    before = {k: v.copy() for k, v in vars(measure).items() if k.endswith("_")}
    with pytest.raises(ValueError, match=r"with 8 items, got shape \(4, 3\)"):
        measure.fit(h, level_labels(3, 2))
    with pytest.raises(ValueError, match=r"level_labels must be \(level, item\) with at least one level \(level 0, the root\), got shape \(4,\)"):
        measure.fit(h, np.zeros(4, int))
    with pytest.raises(ValueError, match=r"at least one level \(level 0, the root\), got shape \(0, 4\)"):  # it raised numpy's AxisError
        measure.fit(h, np.zeros((0, 4), int))
    for k, v in before.items():
        np.testing.assert_array_equal(getattr(measure, k), v)
    fresh = Differentiation().fit(h, level_labels(2, 2))
    np.testing.assert_array_equal(measure.fit(h, level_labels(2, 2)).ratio_, fresh.ratio_)
    assert fresh.ratio_[2] == pytest.approx(1.0, abs=1e-12)  # leaves of one item each: individuation is always at chance


def test_an_estimator_that_is_not_scikit_learn_s_is_refused_naming_what_it_lacks():
    """It failed inside scikit-learn's tag lookup with an AttributeError about __sklearn_tags__."""

    class OwnFit:
        def fit(self, x, y):
            return self

        def predict(self, x):
            return np.zeros(len(x))

    with pytest.raises(ValueError, match=r"estimator must be a scikit-learn estimator \(fit, get_params and tags: a subclass of sklearn.base.BaseEstimator\), got OwnFit"):
        LinearProbe(estimator=OwnFit()).fit(np.random.default_rng(0).normal(size=(10, 3)), np.arange(10) % 2)
