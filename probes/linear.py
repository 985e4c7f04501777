"""A linear probe with scikit-learn's contract, over cached activations."""

from __future__ import annotations

import numpy as np



class LinearProbe:
    """Decode a label (classification) or a target (regression) linearly from activations.

    Args:
        task: ``"classification"`` (logistic regression) or ``"regression"`` (ridge).
        alpha: regularisation strength (ridge α, or 1/C for logistic regression).

    Attributes:
        estimator_: the fitted scikit-learn estimator.

    Examples:
        >>> x = np.r_[np.zeros((5, 2)), np.ones((5, 2))]
        >>> LinearProbe().fit(x, np.r_[np.zeros(5), np.ones(5)]).score(x, np.r_[np.zeros(5), np.ones(5)])
        1.0
    """

    def __init__(self, task: str = "classification", alpha: float = 1e-2) -> None:
        self.task = task
        self.alpha = alpha

    def fit(self, activations: np.ndarray, labels: np.ndarray) -> "LinearProbe":
        """Fit on ``activations`` ``(n, d)`` and ``labels`` ``(n,)`` or ``(n, k)``; returns ``self``."""
        from sklearn.linear_model import LogisticRegression, Ridge  # heavy: imported on first fit

        x, y = self._check(activations, labels)
        if self.task == "classification":
            self.estimator_ = LogisticRegression(C=1.0 / self.alpha, max_iter=2000).fit(x, y)
        elif self.task == "regression":
            self.estimator_ = Ridge(alpha=self.alpha).fit(x, y)
        else:
            raise ValueError(f"task must be 'classification' or 'regression', got {self.task!r}")
        return self

    def predict(self, activations: np.ndarray) -> np.ndarray:
        return self.estimator_.predict(np.asarray(activations, dtype=float).reshape(len(activations), -1))

    def score(self, activations: np.ndarray, labels: np.ndarray) -> float:
        """Accuracy (classification) or R² (regression)."""
        x, y = self._check(activations, labels)
        return float(self.estimator_.score(x, y))

    @staticmethod
    def _check(activations: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(activations, dtype=float)
        y = np.asarray(labels)
        if x.ndim < 2 or len(x) != len(y):
            raise ValueError(f"activations must be (n, d) with n = len(labels); got {x.shape} and {y.shape}")
        return x.reshape(len(x), -1), y
