"""Tracker of a toy-superposition model's feature geometry (the probes in :mod:`probes.feature_geometry`)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from torch import Tensor, nn

from bridge.tasks.base import TaskData
from bridge.theory.superposition import REPRESENTED_NORM, dimensions_per_feature
from bridge.trackers.base import Row, row
from probes.feature_geometry import feature_norms, polygon, represented


@dataclass
class FeatureGeometryTracker:
    """Rows per feature of a :class:`~bridge.models.toy_superposition.ToySuperposition` (instance ``instance``).

    ``features/norm`` and ``features/dims`` (index ``feature``), ``features/represented``
    (count), and for a 2-D hidden space ``features/polygon_gap_error`` (degrees).
    Reads the model's ``W`` ``(instances, m, n)``; ``data`` is unused.
    A ``W`` with a NaN or infinite weight is refused (ValueError): training ends a run whose weights are not
    finite before any tracker reads them, so only a model handed to the tracker directly can have one.

    Examples:
        >>> from bridge.models import ToySuperposition, ToySuperpositionConfig
        >>> model = ToySuperposition(ToySuperpositionConfig(n_features=4, n_hidden=2))
        >>> _ = model.W.data.copy_(torch.tensor([[[1.0, 0.0, -1.0, 0.0], [0.0, 1.0, 0.0, -1.0]]]))  # a square
        >>> {r["observable"]: round(r["value"], 4) for r in FeatureGeometryTracker()(model, 0, None)}  # every feature alike
        {'features/norm': 1.0, 'features/dims': 0.5, 'features/represented': 4.0, 'features/polygon_gap_error': 0.0}
    """

    instance: int = 0
    threshold: float = REPRESENTED_NORM
    name: str = "feature_geometry"

    def __call__(self, model: nn.Module, step: int, data: TaskData) -> list[Row]:
        weights = getattr(model, "W", None)
        if not isinstance(weights, Tensor):
            raise ValueError("feature_geometry needs a toy-superposition model with a weight W of shape (instances, m, n)")
        if not 0 <= self.instance < weights.shape[0]:
            raise ValueError(f"feature_geometry.instance must be in 0..{weights.shape[0] - 1} (the model's instances), got {self.instance}")
        W = weights[self.instance].detach()
        norms, dims = feature_norms(W), dimensions_per_feature(W)
        rows = [row("features/norm", v, feature=i) for i, v in enumerate(norms)]
        rows += [row("features/dims", v, feature=i) for i, v in enumerate(dims)]
        rows.append(row("features/represented", float(represented(W, self.threshold).sum())))
        if W.shape[0] == 2:
            gap = polygon(W, self.threshold).max_gap_error
            rows.append(row("features/polygon_gap_error", gap if math.isfinite(gap) else 360.0))
        return rows
