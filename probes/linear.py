"""A linear probe with scikit-learn's estimator contract, over cached activations.

:class:`LinearProbe` is a scikit-learn estimator: the constructor stores
hyperparameters only, :meth:`~LinearProbe.fit` returns ``self`` and the learned
state ends in ``_``, so ``sklearn.base.clone``, ``get_params``/``set_params``,
``cross_val_score`` and grid searches work on it. Any scikit-learn estimator or
``Pipeline`` can stand in for the default logistic regression / ridge.

It passes ``sklearn.utils.estimator_checks.check_estimator`` except the two
checks that call ``fit``/``score`` with the keywords ``X``/``y``: its arguments
are named ``activations`` and ``labels`` (scikit-learn's own tools pass them by
position).

Examples:
    >>> import numpy as np
    >>> from sklearn.model_selection import cross_val_score
    >>> rng = np.random.default_rng(0)
    >>> x = np.r_[rng.normal(size=(20, 3)) + 2, rng.normal(size=(20, 3)) - 2]
    >>> y = np.r_[np.ones(20), np.zeros(20)]
    >>> float(cross_val_score(LinearProbe(), x, y, cv=4).mean())
    1.0
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin, clone, is_classifier, is_regressor
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

if TYPE_CHECKING:
    from sklearn.utils import Tags

TASKS = ("classification", "regression")


def _fitted_has(name: str) -> Callable[[LinearProbe], bool]:
    """``available_if`` check: the wrapped estimator (fitted, else as given) has method ``name``."""

    def check(probe: LinearProbe) -> bool:
        inner = getattr(probe, "estimator_", None) or probe.estimator or probe._default_estimator()
        return hasattr(inner, name)

    return check


class LinearProbe(ClassifierMixin, BaseEstimator):
    """Decode a label (classification) or a target (regression) linearly from activations.

    Activations of any shape ``(n, ...)`` are flattened to ``(n, d)``. The probe
    delegates to ``estimator`` (cloned at each fit, so the one passed in is
    never modified); its scikit-learn type (classifier / regressor) follows
    ``task``, so ``cross_val_score`` stratifies folds for classification only.

    Args:
        task: ``"classification"`` (default estimator: logistic regression) or
            ``"regression"`` (default estimator: ridge). Default ``"classification"``.
        alpha: regularisation strength of the default estimator (ridge α, or
            1/C for logistic regression); unused when ``estimator`` is given.
            Default ``1e-2``.
        estimator: any scikit-learn estimator or ``Pipeline`` whose kind matches
            ``task``; ``None`` (default) for the logistic / ridge default.

    Attributes:
        estimator_: the fitted clone of the estimator.
        classes_: the class labels seen in :meth:`fit` (classification only).
        n_features_in_: ``d``, the flattened activation size seen in :meth:`fit`.

    Raises:
        ValueError: at :meth:`fit`, for an unknown ``task``, a negative ``alpha``,
            an ``estimator`` of the other kind, no labels, sparse activations, or
            activations whose length differs from the labels'; after it, for
            activations of another flattened size than the fit's.
        sklearn.exceptions.NotFittedError: from ``predict``, ``score`` and the
            like before :meth:`fit`.

    Examples:
        >>> x = np.r_[np.zeros((5, 2)), np.ones((5, 2))]
        >>> LinearProbe().fit(x, np.r_[np.zeros(5), np.ones(5)]).score(x, np.r_[np.zeros(5), np.ones(5)])
        1.0
        >>> LinearProbe(alpha=0.1)
        LinearProbe(alpha=0.1)
    """

    def __init__(self, task: str = "classification", alpha: float = 1e-2, estimator: Any = None) -> None:
        self.task = task
        self.alpha = alpha
        self.estimator = estimator

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        if self.task == "regression":
            from sklearn.utils import RegressorTags, get_tags

            tags.estimator_type = "regressor"
            tags.classifier_tags = None
            tags.regressor_tags = RegressorTags()
            # ridge fits (n, k) targets; a given estimator says for itself
            tags.target_tags.multi_output = True if self.estimator is None else get_tags(self.estimator).target_tags.multi_output
        return tags

    def _default_estimator(self) -> Any:
        from sklearn.linear_model import LogisticRegression, Ridge

        if self.task == "regression":
            return Ridge(alpha=self.alpha)
        return LogisticRegression(C=1.0 / self.alpha, max_iter=2000)

    def _validate(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task must be 'classification' or 'regression', got {self.task!r}")
        if self.estimator is None:
            if not float(self.alpha) > 0:
                raise ValueError(f"alpha must be positive, got {self.alpha!r}")
            return
        if not all(hasattr(self.estimator, a) for a in ("fit", "get_params", "__sklearn_tags__")):  # what clone and the tags read
            raise ValueError(f"estimator must be a scikit-learn estimator (fit, get_params and tags: a subclass of sklearn.base.BaseEstimator), got {type(self.estimator).__name__}")
        wrong = is_regressor(self.estimator) if self.task == "classification" else is_classifier(self.estimator)
        if wrong:
            raise ValueError(f"estimator {type(self.estimator).__name__} does not match task={self.task!r}")

    def fit(self, activations: np.ndarray, labels: np.ndarray) -> LinearProbe:
        """Fit on ``activations`` ``(n, ...)`` and ``labels`` ``(n,)`` or ``(n, k)``; returns ``self``."""
        self._validate()
        x, y = self._check(activations, labels)
        inner = self._default_estimator() if self.estimator is None else clone(self.estimator)
        self.estimator_ = inner.fit(x, y)
        self.n_features_in_ = x.shape[1]
        if self.task == "classification":
            self.classes_ = getattr(self.estimator_, "classes_", np.unique(y))
        return self

    def predict(self, activations: np.ndarray) -> np.ndarray:
        """Predicted labels (or targets) ``(n,)`` for activations ``(n, ...)``."""
        x = self._features(activations)  # checks the fit before estimator_ is read
        return self.estimator_.predict(x)

    @available_if(_fitted_has("predict_proba"))
    def predict_proba(self, activations: np.ndarray) -> np.ndarray:
        """Class probabilities ``(n, n_classes)`` (when the estimator has them)."""
        x = self._features(activations)  # checks the fit before estimator_ is read
        return self.estimator_.predict_proba(x)

    @available_if(_fitted_has("decision_function"))
    def decision_function(self, activations: np.ndarray) -> np.ndarray:
        """Decision values (when the estimator has them)."""
        x = self._features(activations)  # checks the fit before estimator_ is read
        return self.estimator_.decision_function(x)

    def score(self, activations: np.ndarray, labels: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
        """The estimator's own score: accuracy (classification) or R² (regression) by default."""
        check_is_fitted(self)
        x, y = self._check(activations, labels)
        x = self._match(x)
        if sample_weight is None:
            return float(self.estimator_.score(x, y))
        return float(self.estimator_.score(x, y, sample_weight=sample_weight))

    def _features(self, activations: np.ndarray) -> np.ndarray:
        check_is_fitted(self)
        x = _dense(activations)
        if x.ndim < 2:
            raise ValueError(f"activations must be (n, ...) with one row per item, got shape {x.shape}. Reshape your data: activations[None] for one item")
        return self._match(x.reshape(len(x), -1))

    def _match(self, x: np.ndarray) -> np.ndarray:
        if x.shape[1] != self.n_features_in_:
            name, d, fitted = type(self).__name__, x.shape[1], self.n_features_in_
            raise ValueError(f"X has {d} features, but {name} is expecting {fitted} features as input (activations flatten to {d} values per item; fit saw {fitted})")
        return x

    @staticmethod
    def _check(activations: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if labels is None:
            raise ValueError("labels are required, one per item: LinearProbe requires y to be passed, but the target y is None")
        x = _dense(activations)
        y = np.asarray(labels)
        if x.ndim < 2 or y.ndim == 0 or len(x) != len(y):
            raise ValueError(f"activations must be (n, d) with n = len(labels); got {x.shape} and {y.shape}")
        return x.reshape(len(x), -1), y


def _dense(activations: Any) -> np.ndarray:
    """``activations`` as a float array; sparse or complex ones are refused by name rather than cast."""
    if sparse.issparse(activations):
        raise ValueError(f"activations must be a dense array, got a scipy sparse {type(activations).__name__}; call .toarray() first")
    x = np.asarray(activations)
    if np.iscomplexobj(x):
        raise ValueError(f"Complex data not supported: activations must be real, got {x.dtype}; stack the real and imaginary parts")
    return np.asarray(x, dtype=float)
