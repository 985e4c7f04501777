"""Property tests of the linear probe on data with a known answer: hand-built linearly separable classes are decoded
perfectly on held-out items whatever their layout, labels drawn independently of the features are decoded at chance,
and a linear target is recovered by the regression probe with an R² near one."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from probes import LinearProbe

PROPERTY = settings(max_examples=15, deadline=None, database=None)


@PROPERTY
@given(st.integers(2, 4), st.integers(0, 3), st.integers(0, 2**32 - 1), st.floats(0.5, 5.0))
def test_linearly_separable_classes_are_decoded_perfectly_on_held_out_items(n_classes, extra, seed, margin):
    """Class c sits at ``4·margin`` along axis c with noise of at most ``margin`` per axis, plus noise-only axes:
    the linear rule "largest of the first n_classes coordinates" separates the classes with a gap of ``2·margin``."""
    rng = np.random.default_rng(seed)
    n = 30 * n_classes
    labels = rng.permutation(np.arange(n) % n_classes)
    x = rng.uniform(-margin, margin, size=(n, n_classes + extra))
    x[np.arange(n), labels] += 4 * margin
    rotation = np.linalg.qr(rng.normal(size=(n_classes + extra,) * 2))[0]
    x = x @ rotation  # rotated: no single axis carries a class
    np.testing.assert_array_equal(np.argmax((x @ rotation.T)[:, :n_classes], 1), labels)  # the hand-built linear rule
    train, test = np.arange(n) < 2 * n // 3, np.arange(n) >= 2 * n // 3
    probe = LinearProbe(alpha=1e-4).fit(x[train], labels[train])
    assert probe.score(x[test], labels[test]) == 1.0
    assert probe.score(x[train], labels[train]) == 1.0
    np.testing.assert_array_equal(probe.predict(x[test]), labels[test])
    np.testing.assert_allclose(probe.predict_proba(x[test]).sum(1), 1.0, rtol=1e-9)


@PROPERTY
@given(st.integers(2, 3), st.integers(0, 2**32 - 1))
def test_labels_independent_of_the_features_are_decoded_at_chance_on_held_out_items(n_classes, seed):
    rng = np.random.default_rng(seed)
    n_train, n_test = 200, 3000
    x = rng.normal(size=(n_train + n_test, 5))
    labels = rng.integers(0, n_classes, size=n_train + n_test)
    probe = LinearProbe(alpha=1.0).fit(x[:n_train], labels[:n_train])
    score = probe.score(x[n_train:], labels[n_train:])
    sd = np.sqrt((1 / n_classes) * (1 - 1 / n_classes) / n_test)
    assert abs(score - 1 / n_classes) < 5 * sd + 0.03  # chance, up to sampling noise and a slightly unlucky fit


@PROPERTY
@given(st.integers(1, 6), st.integers(0, 2**32 - 1))
def test_the_regression_probe_recovers_a_linear_target(d, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(120, d))
    w = rng.normal(size=d) + np.sign(rng.normal(size=d))
    y = x @ w + 0.5
    probe = LinearProbe(task="regression", alpha=1e-6).fit(x[:80], y[:80])
    assert probe.score(x[80:], y[80:]) == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(probe.estimator_.coef_, w, rtol=1e-4, atol=1e-5)
    # activations of any shape are flattened: (n, d, 1) gives the same fit
    again = LinearProbe(task="regression", alpha=1e-6).fit(x[:80, :, None], y[:80])
    np.testing.assert_allclose(again.predict(x[80:, :, None]), probe.predict(x[80:]), rtol=1e-10, atol=1e-10)
