"""Tracker of representational differentiation by hierarchy level (the probe :class:`probes.Differentiation`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from jaxtyping import Float
from torch import nn

from bridge.tasks.base import TaskData
from bridge.trackers.base import Batched, Row
from probes.activations import cached_activation
from probes.differentiation import Differentiation


@dataclass
class DifferentiationTracker(Batched):
    """Rows ``differentiation/between``, ``/chance``, ``/ratio`` and ``/ratio_sd`` (index ``level``).

    The hidden representation is the activation at ``hook`` for each item (the
    task's training inputs, one per item); the levels come from
    ``data.info["level_labels"]`` (always the *unshuffled* tree). Batched: a
    step's capture is that activation; many are measured at once.

    Examples:
        >>> from bridge.models import DeepLinearConfig, build_model
        >>> from bridge.tasks import HierarchyConfig, make_task
        >>> data = make_task(HierarchyConfig(depth=2, branching=2), seed=0)  # 4 items, levels 1 and 2
        >>> rows = DifferentiationTracker()(build_model(DeepLinearConfig(4, 8, 7), seed=0), 0, data)
        >>> [round(r["value"], 4) for r in rows if r["observable"] == "differentiation/ratio"]  # leaves: always 1
        [1.6102, 1.0]
    """

    hook: str = "hook_hidden.0"
    name: str = "differentiation"
    version = 2  # 4bc3aa1: ratio_sd counts each parent's children, so labels numbered within their parent count

    def __post_init__(self) -> None:
        self._measure = Differentiation()

    def capture(self, model: nn.Module, step: int, data: TaskData) -> Float[torch.Tensor, "item d"]:
        if data.info.get("level_labels") is None:
            raise ValueError("DifferentiationTracker needs a hierarchical task (info['level_labels'])")
        return cached_activation(model, data.train.x, self.hook)

    def measure(self, captures: Sequence[torch.Tensor], data: TaskData) -> list[list[Row]]:
        labels = data.info["level_labels"]
        fit = self._measure.fit(torch.stack(list(captures)).cpu().numpy(), labels)
        sd, levels = fit.ratio_sd_.tolist(), range(1, len(labels))
        return [
            [{"observable": name, "value": value, "level": k} for k in levels for name, value in zip(_OBSERVABLES, (between[k], chance[k], ratio[k], sd[k]))]
            for between, chance, ratio in zip(fit.between_.tolist(), fit.chance_.tolist(), fit.ratio_.tolist())
        ]


_OBSERVABLES = ("differentiation/between", "differentiation/chance", "differentiation/ratio", "differentiation/ratio_sd")
